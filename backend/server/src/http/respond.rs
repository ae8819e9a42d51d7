//! Response helpers: JSON with the right cache policy.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Player-specific or mutating: never cached.
pub fn private<T: Serialize>(status: StatusCode, body: &T) -> Response {
    with_cache(status, axum::Json(body).into_response(), "no-store")
}

/// A public read a shared cache may keep for a few seconds.
pub fn public<T: Serialize>(body: &T) -> Response {
    with_cache(
        StatusCode::OK,
        axum::Json(body).into_response(),
        "public, max-age=5",
    )
}

/// A public read whose JSON is already serialised (from the cache).
pub fn public_raw(json: String) -> Response {
    let mut r = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=5"),
    );
    r
}

fn with_cache(status: StatusCode, mut r: Response, policy: &'static str) -> Response {
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    r
}
