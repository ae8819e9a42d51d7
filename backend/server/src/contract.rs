//! `humor-memory-game contract`: the operational contract every manifest is checked against,
//! generated from the same definitions the server uses.

use crate::config::Cli;
use crate::metrics::CATALOGUE;
use clap::CommandFactory;
use serde_json::{json, Value};

/// Variables a production deployment must set (PostgreSQL, Redis and a fixed signing key).
pub const PRODUCTION_REQUIRED: [&str; 5] = [
    "DB_HOST",
    "DB_PASSWORD",
    "REDIS_HOST",
    "REDIS_PASSWORD",
    "JWT_SECRET",
];

pub fn contract() -> Value {
    let cmd = Cli::command();
    let env: Vec<Value> = cmd
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_string_lossy().into_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|v| v.to_string_lossy().into_owned());
            Some(json!({
                "name": name,
                "required": false,
                "secret": arg.is_hide_env_values_set(),
                "default": default,
                "group": arg.get_help_heading(),
                "description": arg.get_help().map(|h| h.to_string()),
            }))
        })
        .collect();
    let default = |name: &str| -> String {
        cmd.get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == name))
            .and_then(|a| {
                a.get_default_values()
                    .first()
                    .map(|v| v.to_string_lossy().into_owned())
            })
            .unwrap_or_default()
    };
    let seconds = |name: &str| default(name).parse::<u64>().unwrap_or(0);
    json!({
        "service": "humor-memory-game",
        "binary": "humor-memory-game",
        "version": env!("CARGO_PKG_VERSION"),
        "listen": {
            "port": { "env": "PORT", "default": default("PORT").parse::<u16>().unwrap_or(3000), "container": 3001 },
            "host": { "env": "HOST", "default": default("HOST"), "container": "0.0.0.0" }
        },
        "probes": {
            "liveness": "/health/live",
            "readiness": "/health/ready",
            "startup": "/health/live",
            "health": ["/health", "/api/health"],
            "metrics": "/metrics"
        },
        "shutdown": {
            "drain_delay_env": "DRAIN_DELAY_SECONDS",
            "drain_delay_seconds": seconds("DRAIN_DELAY_SECONDS"),
            "shutdown_timeout_env": "SHUTDOWN_TIMEOUT_SECONDS",
            "shutdown_timeout_seconds": seconds("SHUTDOWN_TIMEOUT_SECONDS"),
            "http_idle_timeout_env": "HTTP_IDLE_TIMEOUT_SECONDS",
            "http_idle_timeout_seconds": seconds("HTTP_IDLE_TIMEOUT_SECONDS")
        },
        "subcommands": cmd.get_subcommands().map(|s| s.get_name().to_string()).collect::<Vec<_>>(),
        // `required_for_readiness`: start-up (and so readiness) waits until it answers. Redis does
        // not hold readiness back: without it the game API answers 503 and /health says why.
        "dependencies": [
            { "name": "postgres", "port": 5432, "required_for_readiness": true,
              "env": ["DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD"] },
            { "name": "redis", "port": 6379, "required_for_readiness": false,
              "env": ["REDIS_URL", "REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB"] }
        ],
        "env": env,
        "production_required_env": PRODUCTION_REQUIRED,
        "metrics": CATALOGUE.iter().map(|m| json!({
            "name": m.name,
            "type": m.kind.as_str(),
            "labels": m.labels,
            "help": m.help,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_production_variable_is_one_the_binary_reads() {
        let c = contract();
        let names: Vec<&str> = c["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str())
            .collect();
        for v in PRODUCTION_REQUIRED {
            assert!(names.contains(&v), "{v}");
        }
        assert!(names.contains(&"PORT") && names.contains(&"NODE_ENV"));
        assert_eq!(c["listen"]["port"]["default"], 3000);
        assert_eq!(c["shutdown"]["drain_delay_seconds"], 5);
    }

    #[test]
    fn secrets_are_marked() {
        let c = contract();
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap_or_default();
            let secret = e["secret"].as_bool().unwrap_or(false);
            let expected = matches!(
                name,
                "DATABASE_URL" | "DB_PASSWORD" | "REDIS_URL" | "REDIS_PASSWORD" | "JWT_SECRET"
            );
            assert_eq!(secret, expected, "{name}");
        }
    }
}
