//! Health, readiness and metrics endpoints (never rate limited).

use crate::health::Readiness;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProbeBody {
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "The process is running (never touches a dependency)", body = ProbeBody)))]
pub async fn live() -> Response {
    no_store(
        (
            StatusCode::OK,
            axum::Json(ProbeBody {
                status: "alive".into(),
                reason: None,
            }),
        )
            .into_response(),
    )
}

#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "This replica can serve", body = ProbeBody),
              (status = 503, description = "Starting, draining, or its own connections are broken", body = ProbeBody)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let (status, body) = match state.health.readiness() {
        Readiness::Ready => (
            StatusCode::OK,
            ProbeBody {
                status: "ready".into(),
                reason: None,
            },
        ),
        Readiness::NotReady(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ProbeBody {
                status: "not_ready".into(),
                reason: Some(reason.into()),
            },
        ),
    };
    no_store((status, axum::Json(body)).into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Services {
    /// connected | disconnected
    database: String,
    /// connected | disconnected | not_configured
    redis: String,
    /// always running
    api: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// postgres | sqlite
    database: String,
    /// redis | memory
    live_games: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthBody {
    /// healthy | unhealthy
    status: String,
    timestamp: String,
    services: Services,
    storage: Storage,
    version: String,
    environment: String,
    uptime_seconds: u64,
    /// Why a dependency is down, by service: e.g. {"redis": "redis:6379: name does not resolve"}.
    /// Absent when every configured dependency answers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    problems: BTreeMap<String, String>,
}

#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Every configured dependency answered", body = HealthBody),
              (status = 503, description = "A dependency is down (answered fast)", body = HealthBody)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let checked = state.monitor.check_now().await;
    let db_ok = checked.database;
    let mut problems = BTreeMap::new();
    let redis_ok = checked.redis.map(|answer| match answer {
        Ok(()) => true,
        Err(problem) => {
            problems.insert("redis".to_string(), problem);
            false
        }
    });
    let healthy = db_ok && redis_ok != Some(false);
    let word = |ok: bool| if ok { "connected" } else { "disconnected" }.to_string();
    let body = HealthBody {
        status: if healthy { "healthy" } else { "unhealthy" }.into(),
        timestamp: crate::clock::iso(state.clock.now_ms()),
        services: Services {
            database: word(db_ok),
            redis: redis_ok
                .map(word)
                .unwrap_or_else(|| "not_configured".into()),
            api: "running".into(),
        },
        storage: Storage {
            database: state.config.database.engine().into(),
            live_games: state.monitor.live_kind().into(),
        },
        version: env!("CARGO_PKG_VERSION").into(),
        environment: state.config.server.environment.clone(),
        uptime_seconds: state.health.started_at.elapsed().as_secs(),
        problems,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    no_store((status, axum::Json(body)).into_response())
}

#[utoipa::path(get, path = "/api/health", tag = "health",
    responses((status = 200, description = "The same as /health", body = HealthBody),
              (status = 503, description = "A dependency is down (answered fast)", body = HealthBody)))]
pub async fn api_health(state: State<AppState>) -> Response {
    health(state).await
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = crate::metrics::render(&state.metrics);
    no_store(
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
    )
}
