//! The whole HTTP surface, built in one place.

mod boards;
pub mod error;
pub mod extract;
mod fields;
mod game;
mod health;
mod meta;
pub mod middleware;
mod requests;
mod respond;

use crate::state::AppState;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use error::ApiError;
use std::sync::OnceLock;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Humor Memory Game API",
        description = "A server-authoritative memory game with funny emoji cards. See docs/api.md for the rules and error codes.",
        license(name = "MIT")
    ),
    tags(
        (name = "game", description = "Dealing, flipping, pausing and finishing games"),
        (name = "leaderboard", description = "Public leaderboards and statistics"),
        (name = "scores", description = "Score lists, player statistics and username claims"),
        (name = "health", description = "Probes and metrics"),
        (name = "meta", description = "About the API")
    ),
    components(schemas(error::ErrorBody, crate::service::boards::Timeframe))
)]
struct ApiDoc;

/// Probes and metrics: hit by kubelets and Prometheus, so they skip the API's layers.
fn ops_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::health))
        .routes(routes!(health::metrics))
}

/// Everything under `/api`.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::api_health))
        .routes(routes!(meta::index))
        .routes(routes!(game::config))
        .routes(routes!(game::daily_challenge))
        .routes(routes!(game::start))
        .routes(routes!(game::get_game))
        .routes(routes!(game::flip))
        .routes(routes!(game::match_pair))
        .routes(routes!(game::pause))
        .routes(routes!(game::resume))
        .routes(routes!(game::abandon))
        .routes(routes!(game::complete))
        .routes(routes!(boards::leaderboard))
        .routes(routes!(boards::leaderboard_fresh))
        .routes(routes!(boards::rank))
        .routes(routes!(boards::stats))
        .routes(routes!(boards::scores))
        .routes(routes!(boards::player_scores))
        .routes(routes!(boards::claim))
}

fn api() -> OpenApiRouter<AppState> {
    ops_routes().merge(api_routes())
}

/// The OpenAPI document of the routes [`router`] serves (plus `/api/openapi.json` itself).
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = api().split_for_parts().1;
        let item = utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("meta")
                .summary(Some("This document"))
                .response(
                    "200",
                    utoipa::openapi::ResponseBuilder::new()
                        .description("OpenAPI 3.1 document")
                        .content(
                            "application/json",
                            utoipa::openapi::ContentBuilder::new().build(),
                        ),
                ),
        );
        doc.paths.paths.insert("/api/openapi.json".into(), item);
        add_default_error_responses(&mut doc);
        doc
    })
    .clone()
}

/// Every operation can also answer the generic errors (400 invalid JSON, 413, 415, 429, 503, ...):
/// document them once as the `default` response, with the shared error body.
fn add_default_error_responses(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, RefOr, ResponseBuilder};
    let error = ResponseBuilder::new()
        .description("Any other error: a JSON body with a stable `error` code (see docs/api.md), e.g. 400 invalid_json, 413, 415, 429 rate_limited with Retry-After, 503 dependency_unavailable with Retry-After")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ErrorBody"))))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("default".into())
                .or_insert_with(|| RefOr::T(error.clone()));
        }
    }
}

fn cors(state: &AppState) -> CorsLayer {
    let origins: Vec<_> = state
        .config
        .server
        .cors_origins
        .iter()
        .filter_map(|o| o.parse().ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            HeaderName::from_static("ratelimit-limit"),
            HeaderName::from_static("ratelimit-remaining"),
            HeaderName::from_static("ratelimit-reset"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600))
}

async fn not_found(state: axum::extract::State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if (req.method() == Method::GET || req.method() == Method::HEAD) && !path.starts_with("/api") {
        if let Some(r) = state.assets.respond(path, req.headers()) {
            return r;
        }
    }
    ApiError::NotFound.into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

pub fn router(state: AppState) -> Router {
    let (ops, _) = ops_routes().split_for_parts();
    let (api, _) = api_routes()
        .route("/api/openapi.json", get(meta::openapi_json))
        .split_for_parts();
    // Layers of the API only (innermost first): idempotent retries, then the start-up gate, rate
    // limit and time limit, then body limit and CORS.
    let api = api
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::idempotency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::api_gate,
        ))
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(cors(&state));
    ops.merge(api)
        .fallback_service(
            // Only the web game's files are worth compressing here (nginx compresses in production).
            tower::ServiceBuilder::new()
                .layer(CompressionLayer::new())
                .service(axum::routing::any(not_found).with_state(state.clone())),
        )
        .method_not_allowed_fallback(method_not_allowed)
        // Every response: request id, access log, metrics, security headers, drain.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::context,
        ))
        .with_state(state)
}
