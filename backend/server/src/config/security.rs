//! The token signing key and the rule that weak or demo secrets stop start-up.

use super::{invalid, is_weak, parse_bool, ConfigError, Secret};
use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct SecurityArgs {
    /// Key that signs player tokens (32+ characters). Unset: generated once and kept in the database.
    #[arg(
        long,
        env = "JWT_SECRET",
        hide_env_values = true,
        help_heading = "Security"
    )]
    pub jwt_secret: Option<String>,
    /// Refuse to start with weak or demo secrets (the production overlay sets it).
    #[arg(long, env = "REQUIRE_STRONG_SECRETS", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set, help_heading = "Security")]
    pub require_strong_secrets: bool,
}

impl SecurityArgs {
    fn jwt_secret(&self) -> Option<&str> {
        self.jwt_secret.as_deref().filter(|s| !s.is_empty())
    }

    /// The variable holding a weak or demo signing key, if one is set.
    pub fn weak_secret(&self) -> Option<&'static str> {
        self.jwt_secret()
            .is_some_and(|s| is_weak(s, 32))
            .then_some("JWT_SECRET")
    }
}

#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// None: generated once and kept in the database.
    pub jwt_secret: Option<Secret>,
    /// Variables holding weak or demo secrets (reported, never their values).
    pub weak_secrets: Vec<&'static str>,
}

impl SecurityConfig {
    /// Checks the key, given the variables of every group that hold weak secrets.
    pub fn try_new(
        args: SecurityArgs,
        weak_secrets: Vec<&'static str>,
    ) -> Result<Self, ConfigError> {
        if args.require_strong_secrets && !weak_secrets.is_empty() {
            return Err(invalid(
                weak_secrets[0],
                format!(
                    "REQUIRE_STRONG_SECRETS is set and {} weak or a demo value (passwords need 12+ \
                     characters, JWT_SECRET 32+, none of the guide's demo values)",
                    if weak_secrets.len() == 1 {
                        format!("{} is", weak_secrets[0])
                    } else {
                        format!("{} are", weak_secrets.join(", "))
                    }
                ),
            ));
        }
        Ok(SecurityConfig {
            jwt_secret: args.jwt_secret().map(Secret::new),
            weak_secrets,
        })
    }
}
