//! What requests carry, as the OpenAPI document describes it, and how each becomes a command.
//!
//! Each body and query type is what the request deserializes into and what the document is
//! generated from. Body fields arrive as any JSON value (documented with their real type), so a
//! wrong type is a field error with a reason, and `TryFrom` turns the request into a command
//! collecting every field error at once.

use super::fields::FieldErrors;
use crate::service::boards::{BoardQuery, Timeframe};
use crate::service::games::StartCommand;
use crate::service::FieldError;
use crate::views::DifficultyView;
use humor_game::{Difficulty, Username, CATEGORIES};
use serde::Deserialize;
use serde_json::Value;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most categories a start may name.
const MAX_CATEGORIES: usize = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// 3-20 letters, digits, `_` or `-` (case-insensitive).
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9_-]{3,20}$")]
    username: Option<Value>,
    /// Default easy. A daily game takes today's difficulty: omit it, or send today's.
    #[schema(value_type = Option<DifficultyView>)]
    difficulty: Option<Value>,
    /// Category filter (at most 10); null, missing or empty means any. A daily game has fixed
    /// categories: omit them, or send today's.
    #[schema(schema_with = categories_schema)]
    categories: Option<Value>,
    /// Play today's daily challenge.
    #[schema(value_type = Option<bool>)]
    daily: Option<Value>,
}

impl TryFrom<StartRequest> for StartCommand {
    type Error = Vec<FieldError>;

    fn try_from(body: StartRequest) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let username = f.username("username", body.username.as_ref());
        let difficulty = f
            .string("difficulty", body.difficulty.as_ref(), false)
            .and_then(|raw| {
                raw.parse::<Difficulty>()
                    .map_err(|e| f.push("difficulty", e.to_string()))
                    .ok()
            });
        let categories = f
            .string_array("categories", body.categories.as_ref())
            .map(|list| {
                if list.len() > MAX_CATEGORIES {
                    f.push("categories", "may list at most 10 categories");
                }
                for (i, c) in &list {
                    if !humor_game::cards::is_category(c) {
                        f.push(
                            format!("categories[{i}]"),
                            format!("must be one of {}", CATEGORIES.join(", ")),
                        );
                    }
                }
                list.iter().map(|(_, c)| c.to_string()).collect::<Vec<_>>()
            });
        let daily = f.boolean("daily", body.daily.as_ref()).unwrap_or(false);
        f.finish(|| {
            Some(StartCommand {
                username: username?,
                difficulty,
                categories,
                daily,
            })
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlipRequest {
    /// A card id from this game.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9]{12}$")]
    card_id: Option<Value>,
}

/// Turn one card over.
pub struct FlipCommand {
    pub card_id: String,
}

impl TryFrom<FlipRequest> for FlipCommand {
    type Error = Vec<FieldError>;

    fn try_from(body: FlipRequest) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let card_id = f.card_id("cardId", body.card_id.as_ref());
        f.finish(|| Some(FlipCommand { card_id: card_id? }))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchRequest {
    #[schema(value_type = Uuid, required = true)]
    game_id: Option<Value>,
    /// A card id from this game.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9]{12}$")]
    card1_id: Option<Value>,
    /// Another card id from this game (not card1Id).
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9]{12}$")]
    card2_id: Option<Value>,
}

/// Both flips of an attempt at once (the compatibility call).
pub struct MatchCommand {
    pub game_id: Uuid,
    pub first: String,
    pub second: String,
}

impl TryFrom<MatchRequest> for MatchCommand {
    type Error = Vec<FieldError>;

    fn try_from(body: MatchRequest) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let game_id = f.uuid("gameId", body.game_id.as_ref());
        let first = f.card_id("card1Id", body.card1_id.as_ref());
        let second = f.card_id("card2Id", body.card2_id.as_ref());
        if first.is_some() && first == second {
            f.push("card2Id", "must be a different card from card1Id");
        }
        f.finish(|| {
            Some(MatchCommand {
                game_id: game_id?,
                first: first?,
                second: second?,
            })
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    #[schema(value_type = Uuid, required = true)]
    game_id: Option<Value>,
}

/// Ask for a finished game's stored result.
pub struct CompleteCommand {
    pub game_id: Uuid,
}

impl TryFrom<CompleteRequest> for CompleteCommand {
    type Error = Vec<FieldError>;

    fn try_from(body: CompleteRequest) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let game_id = f.uuid("gameId", body.game_id.as_ref());
        f.finish(|| Some(CompleteCommand { game_id: game_id? }))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ClaimRequest {
    /// 3-20 letters, digits, `_` or `-`.
    #[schema(value_type = String, required = true, pattern = "^[A-Za-z0-9_-]{3,20}$")]
    username: Option<Value>,
}

/// Claim a username without starting a game.
pub struct ClaimCommand {
    pub username: Username,
}

impl TryFrom<ClaimRequest> for ClaimCommand {
    type Error = Vec<FieldError>;

    fn try_from(body: ClaimRequest) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let username = f.username("username", body.username.as_ref());
        f.finish(|| {
            Some(ClaimCommand {
                username: username?,
            })
        })
    }
}

/// The board parameters every leaderboard read shares.
fn board_query(
    f: &mut FieldErrors,
    timeframe: Option<&str>,
    difficulty: Option<&str>,
    daily: Option<&str>,
) -> BoardQuery {
    let timeframe = match timeframe {
        None | Some("") | Some("all") => Timeframe::All,
        Some("week") => Timeframe::Week,
        Some("month") => Timeframe::Month,
        Some(_) => {
            f.push("timeframe", "must be one of all, week, month");
            Timeframe::All
        }
    };
    let difficulty = match difficulty {
        None | Some("") | Some("all") => None,
        Some(raw) => raw
            .parse::<Difficulty>()
            .map_err(|e| f.push("difficulty", e.to_string()))
            .ok(),
    };
    BoardQuery {
        timeframe,
        difficulty,
        daily: daily.filter(|s| !s.is_empty()).map(String::from),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeaderboardParams {
    /// 1-100; blank or absent means 25.
    #[param(schema_with = board_limit_schema)]
    limit: Option<String>,
    /// `all` (default), `week` (UTC ISO week) or `month` (UTC calendar month).
    #[param(schema_with = timeframe_schema)]
    timeframe: Option<String>,
    /// `all` (default) for every difficulty.
    #[param(schema_with = difficulty_filter_schema)]
    difficulty: Option<String>,
    /// `today` or `YYYY-MM-DD`: the daily challenge's board (overrides timeframe and difficulty).
    #[param(schema_with = daily_schema)]
    daily: Option<String>,
}

/// A leaderboard read.
pub struct LeaderboardQuery {
    pub board: BoardQuery,
    pub limit: i64,
}

impl TryFrom<LeaderboardParams> for LeaderboardQuery {
    type Error = Vec<FieldError>;

    fn try_from(p: LeaderboardParams) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let limit = f.int("limit", p.limit.as_deref(), 25, (1, 100));
        let board = board_query(
            &mut f,
            p.timeframe.as_deref(),
            p.difficulty.as_deref(),
            p.daily.as_deref(),
        );
        f.finish(|| Some(LeaderboardQuery { board, limit }))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RankParams {
    #[param(schema_with = timeframe_schema)]
    timeframe: Option<String>,
    #[param(schema_with = difficulty_filter_schema)]
    difficulty: Option<String>,
    #[param(schema_with = daily_schema)]
    daily: Option<String>,
    /// Rows on each side of the player, 0-10; blank or absent means 2.
    #[param(schema_with = context_schema)]
    context: Option<String>,
}

/// A player's rank on a board, with the rows around it.
pub struct RankQuery {
    pub username: Username,
    pub board: BoardQuery,
    pub context: i64,
}

impl TryFrom<(String, RankParams)> for RankQuery {
    type Error = Vec<FieldError>;

    fn try_from((username, p): (String, RankParams)) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let context = f.int("context", p.context.as_deref(), 2, (0, 10));
        let board = board_query(
            &mut f,
            p.timeframe.as_deref(),
            p.difficulty.as_deref(),
            p.daily.as_deref(),
        );
        let username = f.parsed_username("username", &username);
        f.finish(|| {
            Some(RankQuery {
                username: username?,
                board,
                context,
            })
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitParams {
    /// 1-50; blank or absent means 10.
    #[param(schema_with = list_limit_schema)]
    limit: Option<String>,
}

/// The recent and top score lists.
pub struct ScoresQuery {
    pub limit: i64,
}

impl TryFrom<LimitParams> for ScoresQuery {
    type Error = Vec<FieldError>;

    fn try_from(p: LimitParams) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let limit = f.int("limit", p.limit.as_deref(), 10, (1, 50));
        f.finish(|| Some(ScoresQuery { limit }))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// 1-50; blank or absent means 10.
    #[param(schema_with = list_limit_schema)]
    limit: Option<String>,
    /// 0-1000000; blank or absent means 0.
    #[param(schema_with = offset_schema)]
    offset: Option<String>,
}

/// A player's statistics and a page of their history.
pub struct HistoryQuery {
    pub username: Username,
    pub limit: i64,
    pub offset: i64,
}

impl TryFrom<(String, HistoryParams)> for HistoryQuery {
    type Error = Vec<FieldError>;

    fn try_from((username, p): (String, HistoryParams)) -> Result<Self, Self::Error> {
        let mut f = FieldErrors::default();
        let limit = f.int("limit", p.limit.as_deref(), 10, (1, 50));
        let offset = f.int("offset", p.offset.as_deref(), 0, (0, 1_000_000));
        let username = f.parsed_username("username", &username);
        f.finish(|| {
            Some(HistoryQuery {
                username: username?,
                limit,
                offset,
            })
        })
    }
}

fn nullable(t: Type) -> SchemaType {
    SchemaType::from_iter([t, Type::Null])
}

/// At most ten of the known categories, or null.
fn categories_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .schema_type(nullable(Type::Array))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(CATEGORIES)),
        )
        .max_items(Some(MAX_CATEGORIES))
        .description(Some(
            "Category filter (at most 10); null, missing or empty means any. A daily game has \
             fixed categories: omit them, or send today's.",
        ))
        .build()
        .into()
}

/// A whole number in `min..=max` in a query string, or blank (the default).
fn bounded_integer(min: i64, max: i64, description: &str) -> RefOr<Schema> {
    let schema = AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(min))
                .maximum(Some(max)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[\t\n\f\r ]*$")),
        )
        .description(Some(description))
        .build();
    RefOr::T(Schema::AnyOf(schema))
}

fn board_limit_schema() -> RefOr<Schema> {
    bounded_integer(1, 100, "1-100; blank or absent means 25.")
}

fn list_limit_schema() -> RefOr<Schema> {
    bounded_integer(1, 50, "1-50; blank or absent means 10.")
}

fn offset_schema() -> RefOr<Schema> {
    bounded_integer(0, 1_000_000, "0-1000000; blank or absent means 0.")
}

fn context_schema() -> RefOr<Schema> {
    bounded_integer(
        0,
        10,
        "Rows on each side of the player, 0-10; blank or absent means 2.",
    )
}

/// One of `names`, or empty (the default).
fn choice(names: impl IntoIterator<Item = &'static str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(std::iter::once("").chain(names)))
        .description(Some(description))
        .build()
        .into()
}

fn timeframe_schema() -> RefOr<Schema> {
    choice(
        ["all", "week", "month"],
        "`all` (default), `week` (UTC ISO week) or `month` (UTC calendar month); empty means all.",
    )
}

/// `all` or one difficulty.
fn difficulty_filter_schema() -> RefOr<Schema> {
    choice(
        std::iter::once("all").chain(Difficulty::ALL.iter().map(|d| d.as_str())),
        "`all` (default) or one difficulty; empty means all.",
    )
}

/// `today` or a calendar date.
fn daily_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(
            "^(|today|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))$",
        ))
        .description(Some(
            "`today` or `YYYY-MM-DD`: the daily challenge's board (overrides timeframe and \
             difficulty); empty means none. Any real date is accepted; the pattern describes the \
             days every month has.",
        ))
        .build()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn start(body: Value) -> Result<StartCommand, Vec<FieldError>> {
        let request: StartRequest = serde_json::from_value(body).expect("any object reads");
        StartCommand::try_from(request)
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_start_request_with_every_field_wrong_lists_every_field() {
        let errors = start(json!({
            "username": ["abc"], "difficulty": {"x": 1}, "categories": [1, "food"], "daily": "yes"
        }))
        .err()
        .expect("invalid");
        assert_eq!(
            fields(&errors),
            ["username", "difficulty", "categories[0]", "daily"]
        );
    }

    #[test]
    fn a_valid_start_request_becomes_a_command() {
        let cmd =
            start(json!({"username": " alice ", "difficulty": "hard", "categories": ["food"]}))
                .expect("valid");
        assert_eq!(cmd.username.as_str(), "alice");
        assert_eq!(cmd.difficulty, Some(Difficulty::Hard));
        assert_eq!(cmd.categories, Some(vec!["food".to_string()]));
        assert!(!cmd.daily);
    }

    #[test]
    fn a_match_of_one_card_with_itself_is_refused() {
        let request: MatchRequest = serde_json::from_value(json!({
            "gameId": "00000000-0000-4000-8000-000000000000",
            "card1Id": "abcdefghijkl", "card2Id": "abcdefghijkl"
        }))
        .expect("reads");
        let errors = MatchCommand::try_from(request).err().expect("invalid");
        assert_eq!(fields(&errors), ["card2Id"]);
    }

    #[test]
    fn query_errors_and_a_bad_username_are_listed_together() {
        let params: RankParams =
            serde_json::from_value(json!({"context": "11", "timeframe": "year"})).expect("reads");
        let errors = RankQuery::try_from(("a".to_string(), params))
            .err()
            .expect("invalid");
        assert_eq!(fields(&errors), ["context", "timeframe", "username"]);
    }
}
