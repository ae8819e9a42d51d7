//! Player tokens: `pt1.<player id>.<HMAC-SHA256>` — no passwords, no expiry, nothing but a signature.
//! The same key derives the daily challenge's secret seed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone)]
pub struct TokenKeys {
    key: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the player token is malformed or its signature does not verify")]
pub struct InvalidToken;

impl TokenKeys {
    pub fn new(secret: &[u8]) -> TokenKeys {
        TokenKeys {
            key: secret.to_vec(),
        }
    }

    fn mac(&self, purpose: &str, message: &[u8]) -> HmacSha256 {
        // HMAC accepts keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(message);
        mac
    }

    pub fn sign(&self, player: Uuid) -> String {
        let sig = self
            .mac("player", player.simple().to_string().as_bytes())
            .finalize()
            .into_bytes();
        format!("pt1.{}.{}", player.simple(), URL_SAFE_NO_PAD.encode(sig))
    }

    pub fn verify(&self, token: &str) -> Result<Uuid, InvalidToken> {
        let mut parts = token.trim().splitn(3, '.');
        let (Some("pt1"), Some(id), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(InvalidToken);
        };
        let player = Uuid::try_parse(id).map_err(|_| InvalidToken)?;
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| InvalidToken)?;
        self.mac("player", id.as_bytes())
            .verify_slice(&sig)
            .map_err(|_| InvalidToken)?;
        Ok(player)
    }

    /// The id a claim of `username_key` made by operation `op` gives its player. Derived, not random,
    /// so a retry of a claim whose answer was lost (its replica died, or the game could not be dealt)
    /// proves it is the same request and gets the token instead of "username taken".
    pub fn claim_id(&self, username_key: &str, op: &str) -> Uuid {
        let out = self
            .mac("claim", format!("{username_key}\n{op}").as_bytes())
            .finalize()
            .into_bytes();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&out[..16]);
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }

    /// A seed only the servers can compute (players cannot precompute the daily layout).
    pub fn daily_seed(&self, date: &str) -> u64 {
        let out = self.mac("daily", date.as_bytes()).finalize().into_bytes();
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&out[..8]);
        u64::from_le_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_and_names_its_player() {
        let keys = TokenKeys::new(b"k".repeat(32).as_slice());
        let id = Uuid::new_v4();
        assert_eq!(keys.verify(&keys.sign(id)), Ok(id));
    }

    #[test]
    fn a_claim_id_is_fixed_by_name_and_operation_and_secret() {
        let keys = TokenKeys::new(b"k".repeat(32).as_slice());
        let id = keys.claim_id("alice", "op-1");
        assert_eq!(keys.claim_id("alice", "op-1"), id);
        assert_ne!(keys.claim_id("alice", "op-2"), id);
        assert_ne!(keys.claim_id("alicf", "op-1"), id);
        assert_ne!(
            TokenKeys::new(b"j".repeat(32).as_slice()).claim_id("alice", "op-1"),
            id
        );
        assert_eq!(
            id.get_version_num(),
            8,
            "a custom (v8) UUID, never mistaken for a random one"
        );
    }

    #[test]
    fn forged_or_foreign_tokens_are_rejected() {
        let keys = TokenKeys::new(b"one-key-one-key-one-key-one-key!");
        let other = TokenKeys::new(b"another-key-another-key-another!");
        let id = Uuid::new_v4();
        assert_eq!(keys.verify(&other.sign(id)), Err(InvalidToken));
        let token = keys.sign(id);
        let tampered = token.replacen(
            &id.simple().to_string(),
            &Uuid::new_v4().simple().to_string(),
            1,
        );
        assert_eq!(keys.verify(&tampered), Err(InvalidToken));
        for junk in ["", "pt1", "pt1..", "Bearer x", "pt2.a.b"] {
            assert_eq!(keys.verify(junk), Err(InvalidToken));
        }
    }

    #[test]
    fn daily_seeds_depend_on_the_key_and_the_date() {
        let a = TokenKeys::new(b"a");
        let b = TokenKeys::new(b"b");
        assert_eq!(a.daily_seed("2026-11-26"), a.daily_seed("2026-11-26"));
        assert_ne!(a.daily_seed("2026-11-26"), a.daily_seed("2026-11-27"));
        assert_ne!(a.daily_seed("2026-11-26"), b.daily_seed("2026-11-26"));
    }
}
