//! `/api/game/*`: dealing, flipping, pausing, finishing.

use super::error::{ApiError, ErrorBody};
use super::extract::{invalid, JsonBody};
use super::middleware::{op_id, OpId};
use super::requests::{
    CompleteCommand, CompleteRequest, FlipCommand, FlipRequest, MatchCommand, MatchRequest,
    StartRequest,
};
use super::respond::{private, public};
use crate::service::games::{Completion, Found, StartCommand};
use crate::service::{AppError, Auth, RateTicket};
use crate::state::AppState;
use crate::views::{
    face_view, CardStateView, CardView, DifficultyView, GameResult, GameView, PlayerView,
};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use humor_game::scoring::{self, max_score};
use humor_game::{Difficulty, FlipOutcome, Game, OutcomeKind, CATEGORIES, FACES};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartResponse {
    success: bool,
    message: String,
    game: GameView,
    player: PlayerView,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GameResponse {
    success: bool,
    game: GameView,
    result: Option<GameResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GameOnlyResponse {
    success: bool,
    game: GameView,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeResult {
    Hit,
    Miss,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeView {
    result: OutcomeResult,
    cards: Vec<String>,
    points: u32,
    pair_bonus: u32,
    message: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlipResponse {
    success: bool,
    card: CardView,
    /// Cards turned face down before this flip (the previous miss).
    turned_down: Vec<String>,
    /// Set on the second flip of an attempt.
    outcome: Option<OutcomeView>,
    game: GameView,
    /// Set when this flip found the last pair.
    result: Option<GameResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchedCard {
    id: String,
    emoji: String,
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchDetails {
    card1: MatchedCard,
    card2: MatchedCard,
    points_earned: u32,
    bonus_points: u32,
    is_speed_bonus: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchGame {
    #[serde(flatten)]
    game: GameView,
    matches_found: u32,
    is_complete: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchResponse {
    success: bool,
    is_match: bool,
    points_earned: u32,
    message: String,
    #[serde(rename = "match")]
    matched: Option<MatchDetails>,
    game: MatchGame,
    result: Option<GameResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteResponse {
    success: bool,
    message: String,
    game_result: GameResult,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DifficultyInfo {
    id: DifficultyView,
    pairs: usize,
    columns: usize,
    rows: usize,
    points_per_pair: u32,
    pair_speed_bonus: u32,
    pair_speed_window_ms: i64,
    time_limit_ms: i64,
    /// The honest maximum score.
    max_score: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScoringInfo {
    speed_bonus_percent: u32,
    perfect_game_bonus: u32,
    streak_points_per_pair: u32,
    streak_min_run: u32,
    max_streak_bonus: u32,
    free_misses: u32,
    penalty_per_miss: u32,
    max_pauses: u8,
    max_pause_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigResponse {
    success: bool,
    difficulties: Vec<DifficultyInfo>,
    categories: Vec<String>,
    scoring: ScoringInfo,
    /// How many different faces exist.
    cards: usize,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyChallengeView {
    date: String,
    difficulty: DifficultyView,
    categories: Vec<String>,
    total_pairs: usize,
    time_limit_ms: i64,
    ends_at: String,
    /// Whether the caller already started it (only with a valid token).
    played: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DailyResponse {
    success: bool,
    challenge: DailyChallengeView,
    message: String,
}

fn parse_game_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| invalid("gameId", "must be a UUID"))
}

fn card_view(game: &Game, idx: usize) -> CardView {
    let c = &game.cards[idx];
    CardView {
        id: c.id.clone(),
        position: idx,
        state: match c.state {
            humor_game::CardState::Down => CardStateView::Down,
            humor_game::CardState::Up => CardStateView::Up,
            humor_game::CardState::Matched => CardStateView::Matched,
        },
        face: Some(face_view(c)),
    }
}

fn outcome_view(game: &Game, o: &FlipOutcome) -> Option<OutcomeView> {
    o.outcome.as_ref().map(|out| OutcomeView {
        result: if out.kind == OutcomeKind::Hit {
            OutcomeResult::Hit
        } else {
            OutcomeResult::Miss
        },
        cards: out
            .cards
            .iter()
            .map(|&i| game.cards[i].id.clone())
            .collect(),
        points: out.points,
        pair_bonus: out.pair_bonus,
        message: out.message.to_string(),
    })
}

#[utoipa::path(get, path = "/api/game/config", tag = "game",
    responses((status = 200, description = "Difficulties, categories and scoring constants", body = ConfigResponse)))]
pub async fn config() -> Response {
    public(&ConfigResponse {
        success: true,
        difficulties: Difficulty::ALL
            .iter()
            .map(|&d| {
                let r = d.rules();
                DifficultyInfo {
                    id: d.into(),
                    pairs: r.pairs,
                    columns: r.columns,
                    rows: r.rows,
                    points_per_pair: r.points_per_pair,
                    pair_speed_bonus: r.pair_speed_bonus,
                    pair_speed_window_ms: r.pair_speed_window_ms,
                    time_limit_ms: r.time_limit_ms,
                    max_score: max_score(d),
                }
            })
            .collect(),
        categories: CATEGORIES.iter().map(|c| c.to_string()).collect(),
        scoring: ScoringInfo {
            speed_bonus_percent: 150,
            perfect_game_bonus: scoring::PERFECT_GAME_BONUS,
            streak_points_per_pair: scoring::STREAK_POINTS_PER_PAIR,
            streak_min_run: scoring::STREAK_MIN_RUN,
            max_streak_bonus: scoring::MAX_STREAK_BONUS,
            free_misses: scoring::FREE_MISSES,
            penalty_per_miss: scoring::PENALTY_PER_MISS,
            max_pauses: humor_game::MAX_PAUSES,
            max_pause_ms: humor_game::MAX_PAUSE_MS,
        },
        cards: FACES.len(),
    })
}

#[utoipa::path(get, path = "/api/game/daily-challenge", tag = "game",
    responses((status = 200, description = "Today's challenge (UTC)", body = DailyResponse),
              (status = 401, description = "Invalid token", body = ErrorBody)))]
pub async fn daily_challenge(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Response, ApiError> {
    let info = state.games.daily_challenge(auth).await?;
    let c = &info.challenge;
    let r = c.difficulty.rules();
    let body = DailyResponse {
        success: true,
        message: format!(
            "🗓️ Today's challenge: {} with {}. Same deck for everyone!",
            c.difficulty,
            c.categories.join(", ")
        ),
        challenge: DailyChallengeView {
            date: c.date_string(),
            difficulty: c.difficulty.into(),
            categories: c.categories.clone(),
            total_pairs: r.pairs,
            time_limit_ms: r.time_limit_ms,
            ends_at: crate::clock::iso(info.ends_at_ms),
            played: info.played,
        },
    };
    Ok(if info.played.is_some() {
        private(StatusCode::OK, &body)
    } else {
        public(&body)
    })
}

#[utoipa::path(post, path = "/api/game/start", tag = "game", request_body = StartRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the original response: 1-128 visible ASCII characters, one key per operation (another request with the same key is refused with 422)", pattern = "^[!-~]{1,128}$")),
    responses((status = 201, description = "Game dealt; faces stay hidden", body = StartResponse),
              (status = 400, description = "Invalid input", body = ErrorBody),
              (status = 401, description = "The username is claimed and no (valid) token was sent", body = ErrorBody),
              (status = 403, description = "The token belongs to another player", body = ErrorBody),
              (status = 409, description = "Daily challenge already started", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    JsonBody(body): JsonBody<StartRequest>,
) -> Result<Response, ApiError> {
    let command = StartCommand::try_from(body).map_err(ApiError::validation)?;
    let (game, player, was_replayed) = state.games.start_game(command, auth, op_id(&op)).await?;
    let now = state.clock.now_ms();
    Ok(replayed(
        was_replayed,
        private(
            StatusCode::CREATED,
            &StartResponse {
                success: true,
                message: format!("🎯 Game started! Good luck, {}! 🍀", game.username),
                game: GameView::of(&game, now),
                player: player.into(),
            },
        ),
    ))
}

#[utoipa::path(get, path = "/api/game/{gameId}", tag = "game",
    params(("gameId" = Uuid, Path, description = "The game")),
    responses((status = 200, description = "The game as its owner may see it", body = GameResponse),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game", body = ErrorBody)))]
pub async fn get_game(
    State(state): State<AppState>,
    auth: Auth,
    Path(game_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_game_id(&game_id)?;
    let now = state.clock.now_ms();
    let (game, result) = match state.games.find_game(id, auth).await? {
        Found::Live(game) => {
            let result = GameResult::of(&game);
            (GameView::of(&game, now), result)
        }
        Found::Stored(record) => {
            let result = match record.result {
                Some(_) => Some(GameResult::from(&Completion::stored(&record)?)),
                None => None,
            };
            (stored_view(&record)?, result)
        }
    };
    Ok(private(
        StatusCode::OK,
        &GameResponse {
            success: true,
            game,
            result,
        },
    ))
}

/// A finished game that is no longer in the live state (its cards are not kept).
fn stored_view(r: &humor_store::GameRecord) -> Result<GameView, AppError> {
    let rules = r.difficulty.rules();
    let count = |name: &str, value: i64| {
        u32::try_from(value)
            .map_err(|_| AppError::Internal(format!("game {}: stored {name} {value}", r.id).into()))
    };
    Ok(GameView {
        game_id: r.id,
        username: r.username.clone(),
        difficulty: r.difficulty.into(),
        daily: r.daily.clone(),
        status: r.status.into(),
        grid: crate::views::GridView {
            columns: rules.columns,
            rows: rules.rows,
        },
        total_pairs: rules.pairs as u32,
        time_limit_ms: rules.time_limit_ms,
        remaining_ms: 0,
        elapsed_ms: r.time_ms,
        score: count("score", r.score)?,
        moves: count("moves", r.moves)?,
        pairs_found: count("pairs_found", r.pairs_found)?,
        misses: count("misses", r.misses)?,
        streak: 0,
        pauses_left: 0,
        started_at: crate::clock::iso(r.started_at_ms),
        cards: Vec::new(),
    })
}

#[utoipa::path(post, path = "/api/game/{gameId}/flip", tag = "game", request_body = FlipRequest,
    params(("gameId" = Uuid, Path, description = "The game"),
           ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the original response: 1-128 visible ASCII characters, one key per operation (another request with the same key is refused with 422)", pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "The card's face, and the outcome on the second flip of an attempt", body = FlipResponse),
              (status = 400, description = "Invalid input", body = ErrorBody),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game or card", body = ErrorBody),
              (status = 409, description = "Expired, finished, paused, or the card is up or matched", body = ErrorBody)))]
pub async fn flip(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    ticket: Option<Extension<Arc<RateTicket>>>,
    Path(game_id): Path<String>,
    JsonBody(body): JsonBody<FlipRequest>,
) -> Result<Response, ApiError> {
    let id = parse_game_id(&game_id)?;
    let FlipCommand { card_id } = body.try_into().map_err(ApiError::validation)?;
    let ticket = ticket.as_ref().map(|t| t.0.as_ref());
    let flipped = state
        .games
        .flip(id, &card_id, auth, op_id(&op), ticket)
        .await?;
    let (game, result) = (&flipped.game, flipped.result.as_ref().map(GameResult::from));
    let outcome = flipped
        .outcomes
        .first()
        .ok_or_else(|| ApiError::App(AppError::Internal("flip without outcome".into())))?;
    let now = state.clock.now_ms();
    Ok(replayed(
        flipped.replayed,
        private(
            StatusCode::OK,
            &FlipResponse {
                success: true,
                card: card_view(game, outcome.card),
                turned_down: outcome
                    .turned_down
                    .iter()
                    .map(|&i| game.cards[i].id.clone())
                    .collect(),
                outcome: outcome_view(game, outcome),
                game: GameView::of(game, now),
                result,
            },
        ),
    ))
}

#[utoipa::path(post, path = "/api/game/match", tag = "game", request_body = MatchRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry return the original response: 1-128 visible ASCII characters, one key per operation (another request with the same key is refused with 422)", pattern = "^[!-~]{1,128}$")),
    responses((status = 200, description = "Both cards flipped; compatibility with the original API", body = MatchResponse),
              (status = 400, description = "Invalid input (including card1Id == card2Id)", body = ErrorBody),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game or card", body = ErrorBody),
              (status = 409, description = "Expired, finished, paused, or a card is up or matched", body = ErrorBody)))]
pub async fn match_pair(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    ticket: Option<Extension<Arc<RateTicket>>>,
    JsonBody(body): JsonBody<MatchRequest>,
) -> Result<Response, ApiError> {
    let MatchCommand {
        game_id,
        first,
        second,
    } = body.try_into().map_err(ApiError::validation)?;
    let ticket = ticket.as_ref().map(|t| t.0.as_ref());
    let flipped = state
        .games
        .match_pair(game_id, &first, &second, auth, op_id(&op), ticket)
        .await?;
    let (game, result, was_replayed) = (
        flipped.game,
        flipped.result.as_ref().map(GameResult::from),
        flipped.replayed,
    );
    let second = flipped
        .outcomes
        .last()
        .cloned()
        .ok_or_else(|| ApiError::App(AppError::Internal("match without outcome".into())))?;
    let now = state.clock.now_ms();
    let out = second
        .outcome
        .as_ref()
        .ok_or_else(|| ApiError::App(AppError::Internal("match without outcome".into())))?;
    let is_match = out.kind == OutcomeKind::Hit;
    let card = |i: usize| MatchedCard {
        id: game.cards[i].id.clone(),
        emoji: game.cards[i].face().emoji.into(),
        name: game.cards[i].face().name.into(),
    };
    let view = GameView::of(&game, now);
    Ok(replayed(
        was_replayed,
        private(
            StatusCode::OK,
            &MatchResponse {
                success: true,
                is_match,
                points_earned: out.points + out.pair_bonus,
                message: if second.completed {
                    format!(
                        "🎉 Congratulations! Game completed! Final score: {}! 🏆",
                        result.as_ref().map_or(view.score, |r| r.final_score)
                    )
                } else {
                    out.message.to_string()
                },
                matched: is_match.then(|| MatchDetails {
                    card1: card(out.cards[0]),
                    card2: card(out.cards[1]),
                    points_earned: out.points + out.pair_bonus,
                    bonus_points: out.pair_bonus,
                    is_speed_bonus: out.pair_bonus > 0,
                }),
                game: MatchGame {
                    matches_found: view.pairs_found,
                    is_complete: second.completed,
                    game: view,
                },
                result,
            },
        ),
    ))
}

/// Marks an answer that was rebuilt for a retry of an operation already applied.
fn replayed(was_replayed: bool, mut response: Response) -> Response {
    if was_replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    response
}

async fn game_only(state: &AppState, game: Game) -> Response {
    let now = state.clock.now_ms();
    private(
        StatusCode::OK,
        &GameOnlyResponse {
            success: true,
            game: GameView::of(&game, now),
        },
    )
}

#[utoipa::path(post, path = "/api/game/{gameId}/pause", tag = "game",
    params(("gameId" = Uuid, Path, description = "The game")),
    responses((status = 200, description = "Paused: the clock stops and faces are hidden", body = GameOnlyResponse),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game", body = ErrorBody),
              (status = 409, description = "Already paused, no pauses left, or finished", body = ErrorBody)))]
pub async fn pause(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    Path(game_id): Path<String>,
) -> Result<Response, ApiError> {
    let (game, was_replayed) = state
        .games
        .pause(parse_game_id(&game_id)?, auth, op_id(&op))
        .await?;
    Ok(replayed(was_replayed, game_only(&state, game).await))
}

#[utoipa::path(post, path = "/api/game/{gameId}/resume", tag = "game",
    params(("gameId" = Uuid, Path, description = "The game")),
    responses((status = 200, description = "The clock runs again", body = GameOnlyResponse),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game", body = ErrorBody),
              (status = 409, description = "Not paused or finished", body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    Path(game_id): Path<String>,
) -> Result<Response, ApiError> {
    let (game, was_replayed) = state
        .games
        .resume(parse_game_id(&game_id)?, auth, op_id(&op))
        .await?;
    Ok(replayed(was_replayed, game_only(&state, game).await))
}

#[utoipa::path(post, path = "/api/game/{gameId}/abandon", tag = "game",
    params(("gameId" = Uuid, Path, description = "The game")),
    responses((status = 200, description = "Abandoned; never ranked", body = GameOnlyResponse),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game", body = ErrorBody),
              (status = 409, description = "Already finished", body = ErrorBody)))]
pub async fn abandon(
    State(state): State<AppState>,
    auth: Auth,
    op: Option<Extension<OpId>>,
    Path(game_id): Path<String>,
) -> Result<Response, ApiError> {
    let (game, was_replayed) = state
        .games
        .abandon(parse_game_id(&game_id)?, auth, op_id(&op))
        .await?;
    Ok(replayed(was_replayed, game_only(&state, game).await))
}

#[utoipa::path(post, path = "/api/game/complete", tag = "game", request_body = CompleteRequest,
    responses((status = 200, description = "The stored result (idempotent)", body = CompleteResponse),
              (status = 400, description = "Invalid input", body = ErrorBody),
              (status = 401, description = "Token required", body = ErrorBody),
              (status = 403, description = "Another player's game", body = ErrorBody),
              (status = 404, description = "No such game", body = ErrorBody),
              (status = 409, description = "Not finished, expired or abandoned", body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<CompleteRequest>,
) -> Result<Response, ApiError> {
    let CompleteCommand { game_id } = body.try_into().map_err(ApiError::validation)?;
    let result = GameResult::from(&state.games.complete(game_id, auth).await?);
    Ok(private(
        StatusCode::OK,
        &CompleteResponse {
            success: true,
            message: format!(
                "🎉 Game complete! Final score: {} {}",
                result.final_score, result.performance.emoji
            ),
            game_result: result,
        },
    ))
}
