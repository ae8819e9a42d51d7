//! Leaderboards, statistics and score lists (public reads) and username claims.

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, QueryParams};
use super::middleware::{op_id, OpId};
use super::requests::{
    ClaimCommand, ClaimRequest, HistoryParams, HistoryQuery, LeaderboardParams, LeaderboardQuery,
    LimitParams, RankParams, RankQuery, ScoresQuery,
};
use super::respond::{private, public, public_raw};
use crate::service::AppError;
use crate::service::Auth;
use crate::state::AppState;
use crate::views::boards::{
    LeaderboardResponse, PlayerScoresResponse, RankResponse, ScoresResponse, StatsResponse,
};
use crate::views::PlayerView;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde::Serialize;
use utoipa::ToSchema;

async fn board(
    state: AppState,
    params: LeaderboardParams,
    fresh: bool,
) -> Result<Response, ApiError> {
    let LeaderboardQuery { board, limit } = params.try_into().map_err(ApiError::validation)?;
    Ok(public_raw(
        state
            .boards
            .leaderboard_json(&board, limit, fresh, |b| {
                serde_json::to_string(&LeaderboardResponse::of(b))
                    .map_err(|e| AppError::Internal(Box::new(e)))
            })
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/leaderboard", tag = "leaderboard", params(LeaderboardParams),
    responses((status = 200, description = "Best completed score per player, best first", body = LeaderboardResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<LeaderboardParams>,
) -> Result<Response, ApiError> {
    board(state, params, false).await
}

#[utoipa::path(get, path = "/api/leaderboard/fresh", tag = "leaderboard", params(LeaderboardParams),
    responses((status = 200, description = "The same, bypassing the cache", body = LeaderboardResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody)))]
pub async fn leaderboard_fresh(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<LeaderboardParams>,
) -> Result<Response, ApiError> {
    board(state, params, true).await
}

#[utoipa::path(get, path = "/api/leaderboard/rank/{username}", tag = "leaderboard",
    params(("username" = String, Path, description = "A username: 3-20 letters, digits, `_` or `-`", pattern = "^[A-Za-z0-9_-]{3,20}$"), RankParams),
    responses((status = 200, description = "The player's rank and the rows around it", body = RankResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody),
              (status = 404, description = "No such player, or not on this board", body = ErrorBody)))]
pub async fn rank(
    State(state): State<AppState>,
    Path(username): Path<String>,
    QueryParams(params): QueryParams<RankParams>,
) -> Result<Response, ApiError> {
    let RankQuery {
        username,
        board,
        context,
    } = (username, params)
        .try_into()
        .map_err(ApiError::validation)?;
    let standing = state
        .boards
        .rank_of(username.as_str(), &board, context)
        .await?;
    Ok(public(&RankResponse::from(standing)))
}

#[utoipa::path(get, path = "/api/leaderboard/stats", tag = "leaderboard",
    responses((status = 200, description = "Totals per difficulty and records", body = StatsResponse)))]
pub async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(public(&StatsResponse::from(
        state.boards.statistics().await?,
    )))
}

#[utoipa::path(get, path = "/api/scores", tag = "scores", params(LimitParams),
    responses((status = 200, description = "Recent and top completed games", body = ScoresResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody)))]
pub async fn scores(
    State(state): State<AppState>,
    QueryParams(params): QueryParams<LimitParams>,
) -> Result<Response, ApiError> {
    let ScoresQuery { limit } = params.try_into().map_err(ApiError::validation)?;
    Ok(public(&ScoresResponse::from(
        state.boards.scores(limit).await?,
    )))
}

#[utoipa::path(get, path = "/api/scores/{username}", tag = "scores",
    params(("username" = String, Path, description = "A username: 3-20 letters, digits, `_` or `-`", pattern = "^[A-Za-z0-9_-]{3,20}$"), HistoryParams),
    responses((status = 200, description = "The player's statistics and history", body = PlayerScoresResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody),
              (status = 404, description = "No such player", body = ErrorBody)))]
pub async fn player_scores(
    State(state): State<AppState>,
    Path(username): Path<String>,
    QueryParams(params): QueryParams<HistoryParams>,
) -> Result<Response, ApiError> {
    let HistoryQuery {
        username,
        limit,
        offset,
    } = (username, params)
        .try_into()
        .map_err(ApiError::validation)?;
    Ok(private(
        StatusCode::OK,
        &PlayerScoresResponse::from(
            state
                .boards
                .player_scores(username.as_str(), limit, offset)
                .await?,
        ),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponse {
    success: bool,
    player: PlayerView,
}

#[utoipa::path(post, path = "/api/scores/user", tag = "scores", request_body = ClaimRequest,
    responses((status = 201, description = "The username is yours; keep the token", body = ClaimResponse),
              (status = 200, description = "Already yours (your token was sent)", body = ClaimResponse),
              (status = 400, description = "Invalid username", body = ErrorBody),
              (status = 409, description = "Taken", body = ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    JsonBody(body): JsonBody<ClaimRequest>,
) -> Result<Response, ApiError> {
    let ClaimCommand { username } = body.try_into().map_err(ApiError::validation)?;
    let player = state
        .players
        .claim_username(&username, auth, op_id(&op))
        .await?;
    let status = if player.is_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(private(
        status,
        &ClaimResponse {
            success: true,
            player: player.into(),
        },
    ))
}
