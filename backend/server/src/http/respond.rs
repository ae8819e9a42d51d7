//! Response helpers: JSON with the right cache policy.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::ApiError;
use crate::service::AppError;

/// A game's answer is 1-4 KB: written into room for it from the start, not into a buffer that
/// grows (and is copied) at each doubling from 128 bytes.
const BODY_ROOM: usize = 4096;

/// `body` as a JSON response; a value that cannot be written is a fault of ours (JSON 500).
fn json<T: Serialize>(body: &T) -> Response {
    let mut buf = Vec::with_capacity(BODY_ROOM);
    match serde_json::to_writer(&mut buf, body) {
        Ok(()) => ([(header::CONTENT_TYPE, "application/json")], buf).into_response(),
        Err(e) => ApiError::App(AppError::Internal(Box::new(e))).into_response(),
    }
}

/// Player-specific or mutating: never cached.
pub fn private<T: Serialize>(status: StatusCode, body: &T) -> Response {
    with_cache(status, json(body), "no-store")
}

/// A public read a shared cache may keep for a few seconds.
pub fn public<T: Serialize>(body: &T) -> Response {
    with_cache(StatusCode::OK, json(body), "public, max-age=5")
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
