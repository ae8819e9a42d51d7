//! Players: claiming a username, proving ownership with a token.

use super::{AppError, Auth};
use crate::state::AppState;
use crate::views::PlayerView;
use humor_game::Username;
use humor_store::Player;

/// The player a request acts for, and what it learned about them.
pub struct Resolved {
    pub player: Player,
    pub view: PlayerView,
}

impl AppState {
    /// The owner of `username` if `auth` proves it, or a new player claiming it now.
    pub async fn resolve_player(
        &self,
        username: &Username,
        auth: Auth,
    ) -> Result<Resolved, AppError> {
        let keys = self.keys()?;
        let now = self.clock.now_ms();
        if let Some(player) = self
            .db(self.store.player_by_name(username.as_str()))
            .await?
        {
            auth.require(player.id)?;
            return Ok(Resolved {
                view: PlayerView {
                    username: player.username.clone(),
                    is_new: false,
                    token: None,
                },
                player,
            });
        }
        let (player, created) = self
            .db(self.store.claim_player(username.as_str(), now))
            .await?;
        if !created {
            // Someone claimed it between our read and our write.
            auth.require(player.id)?;
        }
        Ok(Resolved {
            view: PlayerView {
                username: player.username.clone(),
                is_new: created,
                token: created.then(|| keys.sign(player.id)),
            },
            player,
        })
    }

    /// `POST /api/scores/user`: claims a name without starting a game.
    pub async fn claim_username(
        &self,
        username: &Username,
        auth: Auth,
    ) -> Result<PlayerView, AppError> {
        let keys = self.keys()?;
        let now = self.clock.now_ms();
        let (player, created) = self
            .db(self.store.claim_player(username.as_str(), now))
            .await?;
        if created {
            return Ok(PlayerView {
                username: player.username,
                is_new: true,
                token: Some(keys.sign(player.id)),
            });
        }
        match auth {
            Auth::Player(id) if id == player.id => Ok(PlayerView {
                username: player.username,
                is_new: false,
                token: None,
            }),
            _ => Err(AppError::UsernameTaken),
        }
    }
}
