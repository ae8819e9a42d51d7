//! Building and running the server: lazy connections, start-up that retries until the database
//! answers (serving `/health/live` meanwhile; Redis is not awaited), background tasks, and graceful
//! shutdown (not ready → drain delay with `Connection: close` → stop accepting → finish in-flight
//! requests → close pools, all before the deadline).

use crate::clock::Clock;
use crate::config::{Config, DatabaseLocation};
use crate::health::Health;
use crate::live::{LiveState, MemoryState, RedisState};
use crate::service::{OsRandom, RandomSource};
use crate::state::{AppState, Parts};
use crate::static_files::Assets;
use crate::tokens::TokenKeys;
use crate::{http, metrics};
use anyhow::Context;
use axum::extract::ConnectInfo;
use humor_store::{PoolOptions, Store};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use rand::RngCore;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Opens (lazily) the store and live state the configuration names.
pub fn build(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    build_with(config, clock, Arc::new(OsRandom))
}

/// Like [`build`], with the randomness of the game path given (a seeded source deals the same
/// games for the same calls).
pub fn build_with(
    config: Config,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
) -> anyhow::Result<AppState> {
    let url = match &config.database.location {
        DatabaseLocation::Postgres { url } => url.expose().to_string(),
        DatabaseLocation::Sqlite { path } => format!("sqlite://{path}"),
    };
    let pool = PoolOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: config.operations.dependency_timeout,
        statement_timeout: Duration::from_secs(5).max(config.operations.dependency_timeout * 3),
    };
    let store: Arc<dyn Store> =
        humor_store::connect(&url, &pool).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (live, memory, redis_address): (Arc<dyn LiveState>, Option<Arc<MemoryState>>, _) =
        match &config.redis.url {
            Some(url) => {
                let redis = RedisState::new(
                    url.expose(),
                    &config.redis.key_prefix,
                    config.operations.dependency_timeout,
                )
                .map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))?;
                let address = redis.address();
                (Arc::new(redis), None, Some(address))
            }
            None => {
                let m = Arc::new(MemoryState::new());
                (m.clone(), Some(m), None)
            }
        };
    let assets = Assets::load(config.server.frontend_dir.as_deref())
        .map_err(|e| anyhow::anyhow!("FRONTEND_DIR: {e}"))?;
    let health = Health::new(redis_address, config.operations.readiness_grace);
    Ok(AppState::new(Parts {
        store,
        live,
        memory,
        clock,
        health,
        random,
        metrics: metrics::install(),
        assets,
        config,
    }))
}

/// Applies migrations and reads or generates the token key (what correctness needs); retried with
/// backoff until it succeeds. Until then readiness reports "starting" and the API answers 503. An
/// error retrying cannot fix (a migration history that does not match this binary) is returned.
/// Redis is not awaited: without it the replica is ready, the game API answers fast 503s, and the
/// monitor reports and logs why until Redis answers (then it is used, no restart needed).
pub async fn initialize(state: &AppState) -> anyhow::Result<()> {
    for variable in &state.config.security.weak_secrets {
        tracing::warn!(
            variable,
            "a weak or demo secret is in use; set a strong one before going to production"
        );
        ::metrics::gauge!("config_weak_secret", "variable" => *variable).set(1.0);
    }
    let mut delay = Duration::from_millis(200);
    loop {
        match try_initialize(state).await {
            Ok(()) => break,
            Err(e) if is_permanent(&e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "start-up failed and retrying cannot fix it"
                );
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = delay.as_millis() as u64,
                    "start-up: a dependency is not ready yet"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    state.monitor.probe_dependencies().await;
    state.health.mark_started();
    state.monitor.publish_readiness();
    tracing::info!(
        database = state.config.database.engine(),
        live_games = state.live.kind(),
        "ready to serve"
    );
    Ok(())
}

fn is_permanent(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<humor_store::StoreError>()
            .is_some_and(|s| s.is_permanent())
    })
}

async fn try_initialize(state: &AppState) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(120), state.store.migrate())
        .await
        .context("migrations timed out")?
        .map_err(anyhow::Error::new)
        .context("applying migrations")?;
    if !state.tokens.is_known() {
        let secret = match &state.config.security.jwt_secret {
            Some(s) => s.expose().as_bytes().to_vec(),
            None => {
                // Generated once and kept in the database, so players keep their names across restarts.
                let mut bytes = [0u8; 32];
                rand::rng().fill_bytes(&mut bytes);
                let fresh: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                tokio::time::timeout(
                    state.config.operations.dependency_timeout * 3,
                    state.store.setting_get_or_init("player_token_key", &fresh),
                )
                .await
                .context("reading the token key timed out")??
                .into_bytes()
            }
        };
        state.tokens.set(TokenKeys::new(&secret));
    }
    Ok(())
}

/// Background work: dependency probes every second, the expiry sweep every second, and every
/// minute the expiry of games whose live state was lost.
fn spawn_background(state: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    let probe = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                state.monitor.probe_dependencies().await;
                state.metrics.run_upkeep();
                if let Some(m) = &state.memory {
                    m.purge();
                }
            }
        })
    };
    let sweep = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                if state.health.is_started() {
                    if let Err(e) = state.games.sweep_once().await {
                        tracing::debug!(error = %e, "expiry sweep skipped");
                    }
                    if n.is_multiple_of(60) {
                        match state.games.expire_lost_games().await {
                            Ok(0) => {}
                            Ok(count) => {
                                tracing::warn!(count, "expired games whose live state was lost")
                            }
                            Err(e) => tracing::debug!(error = %e, "lost-game sweep skipped"),
                        }
                    }
                    n += 1;
                }
            }
        })
    };
    vec![probe, sweep]
}

/// Serves until `stop` resolves, then drains and shuts down gracefully.
pub async fn run_until(
    state: AppState,
    listener: TcpListener,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listener.local_addr().context("listener address")?;
    tracing::info!(address = %local, "listening");
    let mut init = {
        let state = state.clone();
        tokio::spawn(async move { initialize(&state).await })
    };
    let mut init_done = false;
    let mut failure: Option<anyhow::Error> = None;
    let background = spawn_background(&state);
    let router = http::router(state.clone());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // Also bounds the idle time of a keep-alive connection between requests.
        .header_read_timeout(state.config.server.http_idle_timeout)
        .keep_alive(true);

    let drain_delay = state.config.operations.drain_delay;
    let draining_state = state.clone();
    let stop = async move {
        stop.await;
        draining_state.health.start_draining();
        ::metrics::gauge!("app_ready").set(0.0);
        tracing::info!(
            drain_delay_ms = drain_delay.as_millis() as u64,
            "shutdown requested: not ready, draining"
        );
        tokio::time::sleep(drain_delay).await;
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let service = tower::service_fn(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                    router.clone().oneshot(req.map(axum::body::Body::new))
                });
                let connection = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                let watched = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = watched.await;
                });
            }
            () = &mut stop => break,
            joined = &mut init, if !init_done => {
                init_done = true;
                match joined {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        failure = Some(e);
                        break;
                    }
                    Err(e) => {
                        failure = Some(anyhow::anyhow!("start-up task failed: {e}"));
                        break;
                    }
                }
            }
        }
    }
    drop(listener);
    tracing::info!("no longer accepting; finishing in-flight requests");
    if tokio::time::timeout(
        state.config.operations.shutdown_timeout,
        graceful.shutdown(),
    )
    .await
    .is_err()
    {
        tracing::warn!("shutdown deadline reached with requests still in flight");
    }
    init.abort();
    for task in background {
        task.abort();
    }
    state.store.close().await;
    tracing::info!("stopped");
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// `migrate`: applies migrations, retrying for up to a minute while the database comes up.
pub async fn migrate_only(state: &AppState) -> anyhow::Result<()> {
    let mut last = None;
    for _ in 0..30 {
        match state.store.migrate().await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, "database not ready; retrying");
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => return Err(anyhow::anyhow!("{e}")),
        }
    }
    Err(anyhow::anyhow!(
        "{}",
        last.map(|e| e.to_string()).unwrap_or_default()
    ))
}
