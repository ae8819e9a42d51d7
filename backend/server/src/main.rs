//! `humor-memory-game`: reads the configuration, then serves, migrates, checks or prints the contract.

use clap::Parser;
use humor_server::clock::SystemClock;
use humor_server::{contract, healthcheck, startup, telemetry, Cli, Command};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.clone().unwrap_or(Command::Serve);
    if command == Command::Contract {
        match serde_json::to_string_pretty(&contract::contract()) {
            Ok(json) => {
                println!("{json}");
                return ExitCode::SUCCESS;
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let config = match cli.settings.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Healthcheck { path, timeout_ms } => {
                match healthcheck::check(
                    config.server.host,
                    config.server.port,
                    &path,
                    Duration::from_millis(timeout_ms),
                )
                .await
                {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("unhealthy: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Migrate => {
                let _telemetry = telemetry::init(&config);
                let result = async {
                    let state = startup::build(config, Arc::new(SystemClock))?;
                    startup::migrate_only(&state).await
                }
                .await;
                match result {
                    Ok(()) => {
                        tracing::info!("migrations applied");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "migrations failed");
                        ExitCode::FAILURE
                    }
                }
            }
            Command::Serve | Command::Contract => {
                let telemetry = telemetry::init(&config);
                let addr = SocketAddr::new(config.server.host, config.server.port);
                let listener = match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(%addr, error = %e, "cannot listen (is PORT in use?)");
                        return ExitCode::FAILURE;
                    }
                };
                let state = match startup::build(config, Arc::new(SystemClock)) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!(error = %e, "invalid configuration");
                        return ExitCode::from(2);
                    }
                };
                if state.assets.is_empty() {
                    tracing::info!("built without the web game: serving the API only");
                } else if addr.ip().is_loopback() {
                    tracing::info!("🎮 the game is at http://localhost:{}", addr.port());
                }
                let code =
                    match startup::run_until(state, listener, startup::shutdown_signal()).await {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => {
                            tracing::error!(error = %e, "server failed");
                            ExitCode::FAILURE
                        }
                    };
                telemetry.shutdown();
                code
            }
        }
    })
}
