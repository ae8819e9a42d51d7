//! Cross-cutting request handling: request ids, logs, metrics, security headers, draining,
//! the start-up gate, rate limits, timeouts and idempotent retries.

use super::error::{ApiError, REQUEST_ID};
use super::extract::{client_ip, BODY_TIMEOUT, MAX_BODY};
use crate::live::{IdempotencyBegin, RateDecision, RateHit};
use crate::service::{AppError, RateTicket};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers on every response (the nginx configs send the same; a test compares them).
pub const SECURITY_HEADERS: [(&str, &str); 6] = [
    ("content-security-policy", CSP),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    ),
];

static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get(&X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(String::from)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The outermost layer: request id, access log, HTTP metrics, security headers, and
/// `Connection: close` while draining.
pub async fn context(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(req.headers());
    let method = req.method().clone();
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", |p| p.as_str());
    let quiet = route.starts_with("/health") || route == "/metrics";
    let path = if quiet {
        String::new()
    } else {
        req.uri().path().to_string()
    };
    let http = crate::metrics::HttpMetrics::get();
    http.started();
    #[cfg(feature = "otel")]
    let (span, run) = {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "request",
            otel.name = %format!("{method} {route}"),
            http.request.method = %method,
            http.route = %route,
            request_id = %id,
            http.response.status_code = tracing::field::Empty,
        );
        (span.clone(), next.run(req).instrument(span))
    };
    #[cfg(not(feature = "otel"))]
    let run = next.run(req);
    let mut response = REQUEST_ID.scope(id.clone(), run).await;
    #[cfg(feature = "otel")]
    span.record("http.response.status_code", response.status().as_u16());
    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    http.finished(
        crate::metrics::method_label(&method),
        route,
        status,
        elapsed.as_secs_f64(),
    );
    if !quiet {
        tracing::info!(
            request_id = %id,
            method = %method,
            route = %route,
            path = %path,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    }
    let headers = response.headers_mut();
    // Room for what is added here and by hyper (date, content-length) in one allocation, not a
    // growth at each doubling.
    headers.reserve(SECURITY_HEADERS.len() + 4);
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert(X_REQUEST_ID.clone(), v);
    }
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    if state.health.is_draining() {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// How long an API request waits for start-up before answering 503 `starting`.
const START_WAIT: Duration = Duration::from_secs(2);

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Paths that work before start-up completes and are never rate limited.
fn is_exempt(path: &str) -> bool {
    matches!(path, "/api" | "/api/health" | "/api/openapi.json")
}

fn client_key(state: &AppState, req: &Request) -> String {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    client_ip(peer, forwarded, &state.config.server.trusted_proxies).to_string()
}

/// `/api/*`: refuses requests before start-up completes, applies the rate limit, bounds the time.
pub async fn api_gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // A declared body over the limit is refused before a byte of it is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return ApiError::PayloadTooLarge.into_response();
    }
    let path = req.uri().path();
    if !is_api(path) || is_exempt(path) || req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    // A request that arrives in the first moments of a (re)start waits for it instead of failing:
    // behind a proxy without readiness checks, an in-place restart then loses nothing.
    if !state.health.is_started() && !state.health.wait_started(START_WAIT).await {
        return ApiError::App(AppError::Starting).into_response();
    }
    let hit = RateHit {
        client: client_key(&state, &req),
        window: state.config.limits.rate_limit_window,
        max: state.config.limits.rate_limit_max,
        now_ms: state.clock.now_ms(),
    };
    if let Some(d) = state.refused.standing(&hit.client, hit.now_ms) {
        return rate_limited(&state, &hit, d);
    }
    // A move counts its hit with its own save (one round trip to Redis for both).
    let ticket = moves_count_their_hit(&req).then(|| Arc::new(RateTicket::new(hit.clone())));
    let mut decision = None;
    match &ticket {
        Some(ticket) => {
            req.extensions_mut().insert(ticket.clone());
        }
        None => {
            decision = count_hit(&state, &hit).await;
            if let Some(d) = decision.filter(|d| !d.allowed) {
                return rate_limited(&state, &hit, d);
            }
        }
    }
    let mut response =
        match tokio::time::timeout(state.config.server.request_timeout, next.run(req)).await {
            Ok(r) => r,
            Err(_) => ApiError::Timeout.into_response(),
        };
    if let Some(ticket) = ticket {
        // A move that never reached its save (refused, replayed, invalid) is counted now.
        decision = match ticket.decision() {
            Some(d) => Some(d),
            None => count_hit(&state, ticket.hit()).await,
        };
        if let Some(d) = decision.filter(|d| !d.allowed) {
            return rate_limited(&state, &hit, d);
        }
    }
    if let Some(d) = decision {
        rate_headers(response.headers_mut(), d.limit, d.remaining, d.reset_after);
    }
    response
}

/// The routes whose handler hands the rate-limit hit to the move's save.
fn moves_count_their_hit(req: &Request) -> bool {
    req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| matches!(p.as_str(), "/api/game/{gameId}/flip" | "/api/game/match"))
}

/// Counts one request against its client's limit. Fails open: a Redis problem must not turn into
/// refusing every player (and a Redis known to be down is not even asked, so requests do not
/// wait for its timeout).
async fn count_hit(state: &AppState, hit: &RateHit) -> Option<RateDecision> {
    if state.rate_limits.known_down() {
        return None;
    }
    let counted = state
        .rate_limits
        .state
        .rate_hit(&hit.client, hit.window, hit.max, hit.now_ms);
    state.rate_limits.call(counted).await.ok()
}

/// The 429 of a refused hit, remembered so the client's next requests in the window cost nothing.
fn rate_limited(state: &AppState, hit: &RateHit, d: RateDecision) -> Response {
    state.refused.record(&hit.client, hit.now_ms, d);
    metrics::counter!("rate_limited_requests_total").increment(1);
    let mut r = ApiError::RateLimited {
        retry_after_seconds: d.reset_after.as_secs().max(1),
    }
    .into_response();
    rate_headers(r.headers_mut(), d.limit, 0, d.reset_after);
    r
}

fn rate_headers(headers: &mut HeaderMap, limit: u64, remaining: u64, reset: Duration) {
    headers.insert("ratelimit-limit", HeaderValue::from(limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(reset.as_secs().max(1)));
}

/// The lease on a key while its first request runs; renewed every second until the request ends,
/// so a replica that dies mid-request frees the key within this long.
const IDEMPOTENCY_LEASE: Duration = Duration::from_secs(3);
const IDEMPOTENCY_RENEW: Duration = Duration::from_secs(1);
/// How long a stored response is replayed.
const IDEMPOTENCY_KEEP: Duration = crate::live::ANSWER_KEEP;

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    status: u16,
    body: String,
}

/// What identifies a request's content (a key reused with another body is refused).
pub fn idempotency_fingerprint(path: &str, body: &[u8]) -> String {
    hex_sha256(&[b"POST", path.as_bytes(), body])
}

/// Where the answer to `key` sent by `scope` (token or client address) to `path` is kept.
pub fn idempotency_store_key(scope: &str, path: &str, key: &str) -> String {
    hex_sha256(&[scope.as_bytes(), path.as_bytes(), key.as_bytes()])
}

fn hex_sha256(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The operation id of a request that carries an `Idempotency-Key` (scoped to its caller and path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpId(pub String);

/// The operation id a handler was given, if its request carried an `Idempotency-Key`.
pub fn op_id(op: &Option<Extension<OpId>>) -> Option<&str> {
    op.as_ref().map(|Extension(OpId(id))| id.as_str())
}

/// Replays the stored response of a `POST` retried with the same `Idempotency-Key`.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST || !is_api(req.uri().path()) {
        return next.run(req).await;
    }
    let Some(raw_key) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return next.run(req).await;
    };
    let Some(key) = valid_idempotency_key(raw_key) else {
        return super::extract::invalid(
            "Idempotency-Key",
            "must be 1-128 visible ASCII characters",
        )
        .into_response();
    };
    let scope = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .unwrap_or_else(|| client_key(&state, &req));
    let (parts, body) = req.into_parts();
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY)).await
    {
        Ok(Ok(b)) => b,
        Ok(Err(_)) => return ApiError::PayloadTooLarge.into_response(),
        Err(_) => return ApiError::BodyTimeout.into_response(),
    };
    let path = parts.uri.path().to_string();
    let fingerprint = idempotency_fingerprint(&path, &bytes);
    let store_key = idempotency_store_key(&scope, &path, &key);
    let mut req = Request::from_parts(parts, Body::from(bytes));
    // Handlers that change a game record this id in it, so a retry after a lost answer (even one
    // lost with its replica) is answered instead of applied twice.
    req.extensions_mut().insert(OpId(store_key.clone()));
    if state.idempotency.known_down() {
        // The request itself will answer a fast 503; nothing can be recorded now.
        return next.run(req).await;
    }
    let begin = state
        .idempotency
        .call(state.idempotency.state.idempotency_begin(
            &store_key,
            &fingerprint,
            IDEMPOTENCY_LEASE,
        ))
        .await;
    match begin {
        Ok(IdempotencyBegin::New) => {}
        Ok(IdempotencyBegin::InProgress { fingerprint: fp }) => {
            return if fp == fingerprint {
                ApiError::IdempotencyInProgress.into_response()
            } else {
                ApiError::IdempotencyKeyReused.into_response()
            };
        }
        Ok(IdempotencyBegin::Done {
            fingerprint: fp,
            response,
        }) => {
            return if fp == fingerprint {
                replay(&response)
            } else {
                ApiError::IdempotencyKeyReused.into_response()
            };
        }
        // The live state is unavailable: the request itself will say so.
        _ => return next.run(req).await,
    }
    let response = run_holding_lease(&state, &store_key, &fingerprint, next, req).await;
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    record_answer(&state, &store_key, &fingerprint, parts.status, &bytes).await;
    Response::from_parts(parts, Body::from(bytes))
}

/// The `Idempotency-Key` header's value when it is 1-128 visible ASCII characters.
fn valid_idempotency_key(raw: &HeaderValue) -> Option<String> {
    raw.to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(String::from)
}

/// The answer recorded for an earlier request with the same key, sent again.
fn replay(recorded: &str) -> Response {
    let Ok(stored) = serde_json::from_str::<Stored>(recorded) else {
        return ApiError::App(AppError::Internal("stored idempotent response".into()))
            .into_response();
    };
    metrics::counter!("idempotent_replays_total").increment(1);
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        stored.body,
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}

/// Runs the request while renewing the key's lease, so a slow request keeps its key and a
/// crashed one frees it within one lease.
async fn run_holding_lease(
    state: &AppState,
    key: &str,
    fingerprint: &str,
    next: Next,
    req: Request,
) -> Response {
    let renew = {
        let (state, key, fp) = (state.clone(), key.to_string(), fingerprint.to_string());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(IDEMPOTENCY_RENEW).await;
                let _ = state
                    .idempotency
                    .state
                    .idempotency_extend(&key, &fp, IDEMPOTENCY_LEASE)
                    .await;
            }
        })
    };
    let response = next.run(req).await;
    renew.abort();
    response
}

/// Keeps the answer for retries, or frees the key when the answer says "try again" (5xx, 429).
async fn record_answer(
    state: &AppState,
    key: &str,
    fingerprint: &str,
    status: StatusCode,
    body: &[u8],
) {
    let keep = !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS);
    let stored = keep
        .then(|| {
            serde_json::to_string(&Stored {
                status: status.as_u16(),
                body: String::from_utf8_lossy(body).into_owned(),
            })
            .ok()
        })
        .flatten();
    let live = &state.idempotency;
    let outcome = match stored {
        Some(json) => {
            live.call(
                live.state
                    .idempotency_store(key, fingerprint, &json, IDEMPOTENCY_KEEP),
            )
            .await
        }
        None => live.call(live.state.idempotency_release(key)).await,
    };
    if let Err(e) = outcome {
        // The move itself is recorded with the game, so a retry is still answered, not re-applied.
        tracing::warn!(error = %e, "could not record the idempotent response");
    }
}
