//! `GET /api`: an index of the API, and the OpenAPI document.

use super::respond::public;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiIndex {
    message: String,
    version: String,
    documentation: String,
    openapi: String,
    health: String,
    /// Every route as `METHOD /path`.
    endpoints: Vec<String>,
}

#[utoipa::path(get, path = "/api", tag = "meta",
    responses((status = 200, description = "What this API offers", body = ApiIndex)))]
pub async fn index() -> Response {
    let doc = super::openapi();
    let mut endpoints: Vec<String> = doc
        .paths
        .paths
        .iter()
        .flat_map(|(path, item)| {
            [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter(|(_, present)| *present)
            .map(move |(m, _)| format!("{m} {path}"))
        })
        .collect();
    endpoints.sort();
    public(&ApiIndex {
        message: "🎮 Welcome to the Humor Memory Game API! 😂".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        documentation: "docs/api.md".into(),
        openapi: "/api/openapi.json".into(),
        health: "/api/health".into(),
        endpoints,
    })
}

pub async fn openapi_json() -> Response {
    public(&super::openapi())
}
