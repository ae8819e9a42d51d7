//! Leaderboards, statistics and score lists (public reads) and username claims.

use super::error::{ApiError, ErrorBody};
use super::extract::{Fields, JsonObject};
use super::middleware::{op_id, OpId};
use super::respond::{private, public, public_raw};
use crate::service::boards::{
    BoardQuery, LeaderboardResponse, PlayerScoresResponse, RankResponse, ScoresResponse,
    StatsResponse, Timeframe,
};
use crate::service::{Auth, FieldError};
use crate::state::AppState;
use crate::views::PlayerView;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use humor_game::{Difficulty, Username};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};

type Params = Query<HashMap<String, String>>;

/// Reads query parameters, collecting every problem.
struct QueryFields<'a> {
    params: &'a HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl<'a> QueryFields<'a> {
    fn new(params: &'a HashMap<String, String>) -> Self {
        QueryFields {
            params,
            errors: Vec::new(),
        }
    }

    fn int(&mut self, name: &str, default: i64, min: i64, max: i64) -> i64 {
        match self.params.get(name).map(|s| s.trim()) {
            None | Some("") => default,
            Some(raw) => match raw.parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => v,
                _ => {
                    self.errors.push(FieldError::new(
                        name,
                        format!("must be a whole number from {min} to {max}"),
                    ));
                    default
                }
            },
        }
    }

    fn board(&mut self) -> BoardQuery {
        let timeframe = match self.params.get("timeframe").map(String::as_str) {
            None | Some("") | Some("all") => Timeframe::All,
            Some("week") => Timeframe::Week,
            Some("month") => Timeframe::Month,
            Some(_) => {
                self.errors.push(FieldError::new(
                    "timeframe",
                    "must be one of all, week, month",
                ));
                Timeframe::All
            }
        };
        let difficulty = match self.params.get("difficulty").map(String::as_str) {
            None | Some("") | Some("all") => None,
            Some(raw) => match raw.parse::<Difficulty>() {
                Ok(d) => Some(d),
                Err(e) => {
                    self.errors
                        .push(FieldError::new("difficulty", e.to_string()));
                    None
                }
            },
        };
        let daily = self.params.get("daily").filter(|s| !s.is_empty()).cloned();
        BoardQuery {
            timeframe,
            difficulty,
            daily,
        }
    }

    fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LeaderboardParams {
    /// 1-100, default 25.
    limit: Option<i64>,
    /// `all` (default), `week` (UTC ISO week) or `month` (UTC calendar month).
    timeframe: Option<Timeframe>,
    /// Omit for every difficulty.
    difficulty: Option<String>,
    /// `today` or `YYYY-MM-DD`: the daily challenge's board (overrides timeframe and difficulty).
    daily: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RankParams {
    timeframe: Option<Timeframe>,
    difficulty: Option<String>,
    daily: Option<String>,
    /// Rows on each side of the player, 0-10 (default 2).
    context: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LimitParams {
    /// 1-50, default 10.
    limit: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryParams {
    /// 1-50, default 10.
    limit: Option<i64>,
    /// Default 0.
    offset: Option<i64>,
}

async fn board(
    state: AppState,
    params: HashMap<String, String>,
    fresh: bool,
) -> Result<Response, ApiError> {
    let mut q = QueryFields::new(&params);
    let limit = q.int("limit", 25, 1, 100);
    let board = q.board();
    q.finish()?;
    Ok(public_raw(
        state.leaderboard_json(&board, limit, fresh).await?,
    ))
}

#[utoipa::path(get, path = "/api/leaderboard", tag = "leaderboard", params(LeaderboardParams),
    responses((status = 200, description = "Best completed score per player, best first", body = LeaderboardResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody)))]
pub async fn leaderboard(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    board(state, params, false).await
}

#[utoipa::path(get, path = "/api/leaderboard/fresh", tag = "leaderboard", params(LeaderboardParams),
    responses((status = 200, description = "The same, bypassing the cache", body = LeaderboardResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody)))]
pub async fn leaderboard_fresh(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    board(state, params, true).await
}

#[utoipa::path(get, path = "/api/leaderboard/rank/{username}", tag = "leaderboard",
    params(("username" = String, Path, description = "A username"), RankParams),
    responses((status = 200, description = "The player's rank and the rows around it", body = RankResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody),
              (status = 404, description = "No such player, or not on this board", body = ErrorBody)))]
pub async fn rank(
    State(state): State<AppState>,
    Path(username): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let mut q = QueryFields::new(&params);
    let context = q.int("context", 2, 0, 10);
    let board = q.board();
    let name = Username::parse(&username)
        .map_err(|e| q.errors.push(FieldError::new("username", e.to_string())))
        .ok();
    q.finish()?;
    let name = name.ok_or_else(|| super::extract::invalid("username", "is invalid"))?;
    Ok(public(
        &state.rank_of(name.as_str(), &board, context).await?,
    ))
}

#[utoipa::path(get, path = "/api/leaderboard/stats", tag = "leaderboard",
    responses((status = 200, description = "Totals per difficulty and records", body = StatsResponse)))]
pub async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(public(&state.statistics().await?))
}

#[utoipa::path(get, path = "/api/scores", tag = "scores", params(LimitParams),
    responses((status = 200, description = "Recent and top completed games", body = ScoresResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody)))]
pub async fn scores(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let mut q = QueryFields::new(&params);
    let limit = q.int("limit", 10, 1, 50);
    q.finish()?;
    Ok(public(&state.scores(limit).await?))
}

#[utoipa::path(get, path = "/api/scores/{username}", tag = "scores",
    params(("username" = String, Path, description = "A username"), HistoryParams),
    responses((status = 200, description = "The player's statistics and history", body = PlayerScoresResponse),
              (status = 400, description = "Invalid parameter", body = ErrorBody),
              (status = 404, description = "No such player", body = ErrorBody)))]
pub async fn player_scores(
    State(state): State<AppState>,
    Path(username): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let mut q = QueryFields::new(&params);
    let limit = q.int("limit", 10, 1, 50);
    let offset = q.int("offset", 0, 0, 1_000_000);
    let name = Username::parse(&username)
        .map_err(|e| q.errors.push(FieldError::new("username", e.to_string())))
        .ok();
    q.finish()?;
    let name = name.ok_or_else(|| super::extract::invalid("username", "is invalid"))?;
    Ok(private(
        StatusCode::OK,
        &state.player_scores(name.as_str(), limit, offset).await?,
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ClaimRequest {
    /// 3-20 letters, digits, `_` or `-`.
    username: String,
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
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let mut f = Fields::new(&body);
    let name = f.username("username");
    f.finish()?;
    let name = name.ok_or_else(|| super::extract::invalid("username", "is required"))?;
    let player = state.claim_username(&name, auth, op_id(&op)).await?;
    let status = if player.is_new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(private(
        status,
        &ClaimResponse {
            success: true,
            player,
        },
    ))
}
