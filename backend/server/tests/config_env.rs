//! The test configuration never reads the environment: a developer who exported the production
//! overlay's variables (or any other) sees the same API tests as everyone else.
//!
//! Setting variables inside a test process would race every other test, so the test re-runs its
//! own binary with the environment it needs and compares what the two children report.

use clap::Parser;
use humor_server::config::Settings;
use humor_server::{Cli, Config};
use std::process::Command;

/// Set in the children: report the configuration instead of spawning.
const CHILD_MARKER: &str = "HMG_CONFIG_ENV_CHILD";
const TEST_NAME: &str = "the_test_configuration_ignores_the_environment";
const SQLITE_PATH: &str = "game.sqlite";

/// Variables that would change the configuration if anything read them; a weak JWT_SECRET with
/// REQUIRE_STRONG_SECRETS would even refuse to start.
const HOSTILE_ENV: &[(&str, &str)] = &[
    ("REQUIRE_STRONG_SECRETS", "true"),
    ("JWT_SECRET", "short"),
    ("RATE_LIMIT_MAX_REQUESTS", "1"),
    ("DB_HOST", "db.example"),
    ("REDIS_URL", "redis://cache.example:6379"),
    ("PORT", "4000"),
    ("LOG_LEVEL", "trace"),
    ("DEPENDENCY_TIMEOUT_MS", "1"),
    ("NODE_ENV", "production"),
];

/// Runs this test in a child process with exactly `env` (plus PATH) and returns its report lines.
fn child_report(env: &[(&str, &str)]) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut command = Command::new(exe);
    command
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env_clear()
        .env(CHILD_MARKER, "1")
        .envs(env.iter().copied());
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    let output = command.output().expect("run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        // The harness prints "test <name> ... " without a newline before the test's own output.
        .filter_map(|l| {
            l.split_once("REPORT ")
                .map(|(_, report)| report.to_string())
        })
        .collect()
}

/// What a child reports: the rate limit an ordinary start-up would read (proof the variables
/// arrived), then the test configuration.
fn report() {
    let parsed = match Cli::try_parse_from(["humor-memory-game"]) {
        Ok(cli) => cli.settings.limits.rate_limit_max_requests.to_string(),
        Err(e) => format!("error {e}"),
    };
    println!("REPORT parsed rate limit: {parsed}");
    println!("REPORT config: {:?}", Config::for_sqlite(SQLITE_PATH));
}

#[test]
fn the_test_configuration_ignores_the_environment() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        report();
        return;
    }
    let clean = child_report(&[]);
    let hostile = child_report(HOSTILE_ENV);
    assert_eq!(clean.len(), 2, "{clean:?}");
    assert_eq!(hostile.len(), 2, "{hostile:?}");

    // The variables reached the child: an ordinary start-up would have read them.
    assert_eq!(clean[0], "parsed rate limit: 300");
    assert_eq!(hostile[0], "parsed rate limit: 1");

    // The test configuration did not: it is the defaults, byte for byte.
    assert_eq!(hostile[1], clean[1]);
    let config = &hostile[1];
    for expected in [
        "port: 3000",
        "rate_limit_max: 300",
        "jwt_secret: None",
        "weak_secrets: []",
        "url: None",
        "environment: \"development\"",
        "log_level: \"info\"",
        "dependency_timeout: 1s",
        "Sqlite { path: \"game.sqlite\" }",
    ] {
        assert!(config.contains(expected), "{expected} not in {config}");
    }
}

#[test]
fn the_defaults_are_the_documented_ones() {
    let settings = Settings::defaults();
    assert_eq!(settings.server.port, 3000);
    assert_eq!(settings.limits.rate_limit_max_requests, 300);
    assert!(!settings.security.require_strong_secrets);
    assert_eq!(
        settings.database.sqlite_path,
        "data/humor_memory_game.sqlite"
    );
    assert_eq!(settings.redis.redis_key_prefix, "hmg:");
}
