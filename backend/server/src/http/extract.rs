//! Parsing at the edge: bodies, tokens and client addresses become typed values (or clear
//! errors) before any handler logic runs.

use super::error::ApiError;
use crate::service::{AppError, Auth, FieldError};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::net::IpAddr;

/// How long a request body may take to arrive once the headers are in.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Bodies larger than this are refused (413) before they are read.
pub const MAX_BODY: usize = 16 * 1024;

/// A JSON object body (`Content-Type: application/json`, valid UTF-8 JSON, an object) read into
/// the request type the OpenAPI document describes. Request types take each field as any JSON
/// value, so a wrong type becomes a field error in their `TryFrom`, not a rejection here.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        let bytes = tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state))
            .await
            .map_err(|_| ApiError::BodyTimeout)?
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::InvalidJson("the body could not be read".into())
                }
            })?;
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let object = parse_object(&bytes)?;
        serde_json::from_value(Value::Object(object))
            .map(JsonBody)
            .map_err(|e| ApiError::InvalidJson(e.to_string()))
    }
}

/// Query parameters read into the request type the OpenAPI document describes. A repeated
/// parameter counts once (the last one), and every value arrives as text, so range and enum
/// checks are the request type's `TryFrom`, with field-level errors.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let object = params
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        serde_json::from_value(Value::Object(object))
            .map(QueryParams)
            .map_err(|e| ApiError::InvalidJson(e.to_string()).into_response())
    }
}

/// Parses bytes as a JSON object with a clear reason when it is not one.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::InvalidJson("the body is empty".into()));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::InvalidJson(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(ApiError::InvalidJson(e.to_string())),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Ok(Auth::Anonymous);
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .ok_or(ApiError::InvalidToken)?;
        let keys = state.tokens.get().map_err(ApiError::App)?;
        keys.verify(token)
            .map(Auth::Player)
            .map_err(|_| ApiError::InvalidToken)
    }
}

/// The client's address: the peer, or the nearest untrusted address in `X-Forwarded-For` when
/// the peer is a trusted proxy.
pub fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else {
        return peer;
    };
    let hops: Vec<IpAddr> = chain
        .split(',')
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect();
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or(hops.first())
        .copied()
        .unwrap_or(peer)
}

/// Shorthand for handlers returning validation errors.
pub fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::App(AppError::Validation(vec![FieldError::new(field, message)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().expect("cidr")).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().expect("ip");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(client_ip(peer, Some("203.0.113.9"), &[]), peer);
        assert_eq!(
            client_ip(peer, Some("203.0.113.9"), &nets(&["10.0.0.0/8"])),
            client
        );
        // A client cannot spoof by prepending: the nearest untrusted hop wins.
        assert_eq!(
            client_ip(
                peer,
                Some("1.2.3.4, 203.0.113.9, 10.0.0.7"),
                &nets(&["10.0.0.0/8"])
            ),
            client
        );
        assert_eq!(
            client_ip(peer, Some("garbage"), &nets(&["10.0.0.0/8"])),
            peer
        );
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(parse_object(b"{\"a\":1}").is_ok());
        assert!(matches!(parse_object(b""), Err(ApiError::InvalidJson(_))));
        assert!(matches!(
            parse_object(b"[1]"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_object(b"{\"a\":1e999}"),
            Err(ApiError::InvalidJson(_))
        ));
        assert!(matches!(
            parse_object(&[b'{', 0xff, b'}']),
            Err(ApiError::InvalidJson(_))
        ));
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(matches!(
            parse_object(format!("{{\"a\":{deep}}}").as_bytes()),
            Err(ApiError::InvalidJson(_))
        ));
    }
}
