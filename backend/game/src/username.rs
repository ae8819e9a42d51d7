//! Usernames: 3-20 letters, digits, `_` or `-`, compared case-insensitively.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("is required")]
    Missing,
    #[error("must be at least 3 characters long")]
    TooShort,
    #[error("must be at most 20 characters long")]
    TooLong,
    #[error("may contain only letters, digits, '_' and '-'")]
    InvalidCharacters,
}

/// A valid username, as the player spelled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, UsernameError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(UsernameError::Missing);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(UsernameError::InvalidCharacters);
        }
        match s.len() {
            0..=2 => Err(UsernameError::TooShort),
            3..=20 => Ok(Username(s.to_string())),
            _ => Err(UsernameError::TooLong),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity of the name.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_accepted_and_keyed_case_insensitively() {
        let u = Username::parse("Memory_Master-42").expect("valid");
        assert_eq!(u.as_str(), "Memory_Master-42");
        assert_eq!(u.key(), "memory_master-42");
    }

    #[test]
    fn invalid_names_are_rejected_with_a_reason() {
        assert_eq!(Username::parse(""), Err(UsernameError::Missing));
        assert_eq!(Username::parse("ab"), Err(UsernameError::TooShort));
        assert_eq!(
            Username::parse("a".repeat(21).as_str()),
            Err(UsernameError::TooLong)
        );
        assert_eq!(
            Username::parse("<b>bob</b>"),
            Err(UsernameError::InvalidCharacters)
        );
        assert_eq!(
            Username::parse("robert'); DROP TABLE"),
            Err(UsernameError::InvalidCharacters)
        );
        assert_eq!(
            Username::parse("émile"),
            Err(UsernameError::InvalidCharacters)
        );
    }
}
