//! Players: claiming a username, proving ownership with a token.

use super::{AppError, Auth, GuardedStore, RandomSource, SigningKeys};
use crate::clock::Clock;
use humor_game::Username;
use humor_store::Player;
use std::sync::Arc;

/// How long a retry of a claim (same `Idempotency-Key`, same caller) still gets the token.
const CLAIM_RETRY_WINDOW_MS: i64 = crate::live::ANSWER_KEEP.as_millis() as i64;

/// What a request learned about the name it used: whether it claimed it just now, and then
/// the token that proves it (given only once, with the claim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub username: String,
    pub is_new: bool,
    pub token: Option<String>,
}

/// The player a request acts for, and what it learned about them.
pub struct Resolved {
    pub player: Player,
    pub claim: Claim,
}

/// Claims and proves usernames: needs the store, the clock, the signing key and a source of
/// new player ids.
#[derive(Clone)]
pub struct Players {
    db: GuardedStore,
    clock: Arc<dyn Clock>,
    keys: SigningKeys,
    random: Arc<dyn RandomSource>,
}

impl Players {
    pub fn new(
        db: GuardedStore,
        clock: Arc<dyn Clock>,
        keys: SigningKeys,
        random: Arc<dyn RandomSource>,
    ) -> Players {
        Players {
            db,
            clock,
            keys,
            random,
        }
    }

    /// The owner of `username` if `auth` proves it (or `op` is the retry of the request that
    /// claimed it), or a new player claiming it now.
    pub async fn resolve_player(
        &self,
        username: &Username,
        auth: Auth,
        op: Option<&str>,
    ) -> Result<Resolved, AppError> {
        if let Some(player) = self
            .db
            .call(self.db.store.player_by_name(username.as_str()))
            .await?
        {
            return self.existing(player, auth, op);
        }
        let (player, created) = self.claim(username, op).await?;
        if !created {
            // Someone claimed it between our read and our write.
            return self.existing(player, auth, op);
        }
        self.claimed_now(player)
    }

    /// `POST /api/scores/user`: claims a name without starting a game.
    pub async fn claim_username(
        &self,
        username: &Username,
        auth: Auth,
        op: Option<&str>,
    ) -> Result<Claim, AppError> {
        let (player, created) = self.claim(username, op).await?;
        if created || self.reclaims(&player, op)? {
            return Ok(self.claimed_now(player)?.claim);
        }
        match auth {
            Auth::Player(id) if id == player.id => Ok(Claim {
                username: player.username,
                is_new: false,
                token: None,
            }),
            _ => Err(AppError::UsernameTaken),
        }
    }

    async fn claim(
        &self,
        username: &Username,
        op: Option<&str>,
    ) -> Result<(Player, bool), AppError> {
        let id = match op {
            Some(op) => self.keys.get()?.claim_id(&claim_key(username.as_str()), op),
            None => self.random.uuid(),
        };
        let now = self.clock.now_ms();
        self.db
            .call(self.db.store.claim_player(id, username.as_str(), now))
            .await
    }

    /// A player who existed before this request: its owner, or the retry of its own claim.
    fn existing(&self, player: Player, auth: Auth, op: Option<&str>) -> Result<Resolved, AppError> {
        if auth != Auth::Player(player.id) && self.reclaims(&player, op)? {
            return self.claimed_now(player);
        }
        auth.require(player.id)?;
        Ok(Resolved {
            claim: Claim {
                username: player.username.clone(),
                is_new: false,
                token: None,
            },
            player,
        })
    }

    /// True when `op` is the operation that claimed `player` (a retry whose first answer was lost),
    /// recently enough that its idempotent answer would still be kept.
    fn reclaims(&self, player: &Player, op: Option<&str>) -> Result<bool, AppError> {
        let Some(op) = op else { return Ok(false) };
        let recent = self.clock.now_ms() - player.created_at_ms <= CLAIM_RETRY_WINDOW_MS;
        Ok(recent && self.keys.get()?.claim_id(&claim_key(&player.username), op) == player.id)
    }

    fn claimed_now(&self, player: Player) -> Result<Resolved, AppError> {
        Ok(Resolved {
            claim: Claim {
                username: player.username.clone(),
                is_new: true,
                token: Some(self.keys.get()?.sign(player.id)),
            },
            player,
        })
    }
}

/// Names are one player whatever their case (the store's `username_key`).
fn claim_key(username: &str) -> String {
    username.to_ascii_lowercase()
}
