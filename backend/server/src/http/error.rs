//! The API's one error type: every failure becomes JSON with a stable code and a sentence.

use crate::service::{AppError, FieldError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use humor_game::GameError;
use serde::Serialize;
use utoipa::ToSchema;

tokio::task_local! {
    /// The id of the request being served (for error bodies and logs).
    pub static REQUEST_ID: String;
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(AppError),
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("invalid token")]
    InvalidToken,
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    #[error("idempotency key in progress")]
    IdempotencyInProgress,
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    #[error("request timed out")]
    Timeout,
}

/// One invalid field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub field: String,
    pub message: String,
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Always false.
    pub success: bool,
    /// A stable machine-readable code (see docs/api.md).
    pub error: String,
    /// A sentence for people.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<ErrorDetail>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        match e {
            AppError::RateLimited { reset_after } => ApiError::RateLimited {
                retry_after_seconds: reset_after.as_secs().max(1),
            },
            other => ApiError::App(other),
        }
    }
}

impl ApiError {
    pub fn validation(errors: Vec<FieldError>) -> ApiError {
        ApiError::App(AppError::Validation(errors))
    }

    /// Status, code and message.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            ApiError::InvalidJson(why) => (S::BAD_REQUEST, "invalid_json", format!("The request body is not valid JSON: {why}.")),
            ApiError::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is larger than 16 KiB.".into()),
            ApiError::BodyTimeout => (
                S::REQUEST_TIMEOUT,
                "request_timeout",
                "The request body did not arrive in time.".into(),
            ),
            ApiError::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Send the body as JSON with Content-Type: application/json.".into()),
            ApiError::InvalidToken => (S::UNAUTHORIZED, "invalid_token", "The player token is malformed or was not issued by this server.".into()),
            ApiError::NotFound => (S::NOT_FOUND, "not_found", "No such endpoint. GET /api lists them all.".into()),
            ApiError::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "method_not_allowed", "This endpoint exists, but not with this method.".into()),
            ApiError::RateLimited { retry_after_seconds } => (S::TOO_MANY_REQUESTS, "rate_limited", format!("Too many requests. Take a breather and try again in {retry_after_seconds} s.")),
            ApiError::IdempotencyInProgress => (S::CONFLICT, "idempotency_in_progress", "A request with this Idempotency-Key is still being processed; retry shortly.".into()),
            ApiError::IdempotencyKeyReused => (S::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "This Idempotency-Key was already used for a different request.".into()),
            ApiError::Timeout => (S::SERVICE_UNAVAILABLE, "dependency_unavailable", "The server could not answer in time. Please retry.".into()),
            ApiError::App(e) => match e {
                AppError::Validation(errors) => (
                    S::BAD_REQUEST,
                    "validation_failed",
                    if errors.len() == 1 {
                        format!("Please check your input: {} {}.", errors[0].field, errors[0].message)
                    } else {
                        format!("Please check your input: {} fields are invalid.", errors.len())
                    },
                ),
                AppError::TokenRequired => (S::UNAUTHORIZED, "token_required", "This username or game belongs to a player: send their token (Authorization: Bearer …), or pick another username.".into()),
                AppError::NotOwner => (S::FORBIDDEN, "not_owner", "This belongs to another player.".into()),
                AppError::GameNotFound => (S::NOT_FOUND, "game_not_found", "No such game (or it is no longer available).".into()),
                AppError::PlayerNotFound => (S::NOT_FOUND, "player_not_found", "No player has that username.".into()),
                AppError::NotRanked => (S::NOT_FOUND, "not_ranked", "The player has no completed game on this leaderboard yet.".into()),
                AppError::DailyAlreadyPlayed => (S::CONFLICT, "daily_already_played", "You already started today's daily challenge. A new one arrives at midnight UTC.".into()),
                AppError::UsernameTaken => (S::CONFLICT, "username_taken", "That username is taken. Pick another one.".into()),
                AppError::Unavailable(what) => (S::SERVICE_UNAVAILABLE, "dependency_unavailable", format!("The {what} is unavailable right now. Please retry in a few seconds.")),
                AppError::Starting => (S::SERVICE_UNAVAILABLE, "starting", "The server is still starting. Please retry in a few seconds.".into()),
                AppError::RateLimited { reset_after } => {
                    ApiError::from(AppError::RateLimited { reset_after: *reset_after }).parts()
                }
                AppError::Busy => (S::CONFLICT, "game_busy", "Too many simultaneous changes to this game; please retry.".into()),
                AppError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong on our side. It has been logged.".into()),
                AppError::Game(g) => match g {
                    GameError::Expired => (S::CONFLICT, "game_expired", "Time's up! This game ran out of time and was not ranked.".into()),
                    GameError::Completed => (S::CONFLICT, "game_completed", "This game is already finished.".into()),
                    GameError::Abandoned => (S::CONFLICT, "game_abandoned", "This game was abandoned.".into()),
                    GameError::Paused => (S::CONFLICT, "game_paused", "The game is paused. Resume it first.".into()),
                    GameError::NotPaused => (S::CONFLICT, "game_not_paused", "The game is not paused.".into()),
                    GameError::PauseLimitReached => (S::CONFLICT, "pause_limit_reached", "No pauses left in this game (3 at most).".into()),
                    GameError::CardNotFound => (S::NOT_FOUND, "card_not_found", "That card is not part of this game.".into()),
                    GameError::CardFaceUp => (S::CONFLICT, "card_face_up", "That card is already face up. Pick another one.".into()),
                    GameError::CardMatched => (S::CONFLICT, "card_matched", "That card is already matched.".into()),
                    GameError::AttemptInProgress => (S::CONFLICT, "attempt_in_progress", "One card of this attempt is already face up; flip the second one.".into()),
                    GameError::NotFinished => (S::CONFLICT, "game_not_finished", "Not every pair has been found yet.".into()),
                },
            },
        }
    }

    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            ApiError::IdempotencyInProgress => Some(1),
            ApiError::Timeout
            | ApiError::App(AppError::Unavailable(_))
            | ApiError::App(AppError::Starting) => Some(2),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            tracing::warn!(code, error = %self, "request failed");
        }
        let details = match &self {
            ApiError::App(AppError::Validation(errors)) => Some(
                errors
                    .iter()
                    .map(|e| ErrorDetail {
                        field: e.field.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        let retry = self.retry_after();
        let body = ErrorBody {
            success: false,
            error: code.into(),
            message,
            details,
            retry_after_seconds: retry,
            request_id: REQUEST_ID.try_with(Clone::clone).ok(),
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(seconds) = retry {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if matches!(self, ApiError::PayloadTooLarge | ApiError::BodyTimeout) {
            // The rest of the body may still be on its way: never read it as the next request.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
