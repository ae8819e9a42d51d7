//! Reading request fields that arrived as any JSON value (or query string), collecting every
//! problem so a 400 lists all of them, not only the first.

use crate::service::FieldError;
use serde_json::Value;

/// Collects field errors while a request turns into a command.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// The value when there were no errors, else every error.
    pub fn finish<T>(self, value: impl FnOnce() -> Option<T>) -> Result<T, Vec<FieldError>> {
        if !self.0.is_empty() {
            return Err(self.0);
        }
        // A reader that returned None without recording why is a bug in the reader.
        value().ok_or_else(|| vec![FieldError::new("body", "is invalid")])
    }

    /// A string: Some when present and a string; an error otherwise (or when required and absent).
    pub fn string<'a>(
        &mut self,
        name: &str,
        value: Option<&'a Value>,
        required: bool,
    ) -> Option<&'a str> {
        match value {
            None | Some(Value::Null) => {
                if required {
                    self.push(name, "is required");
                }
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.push(name, "must be a string");
                None
            }
        }
    }

    pub fn boolean(&mut self, name: &str, value: Option<&Value>) -> Option<bool> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.push(name, "must be true or false");
                None
            }
        }
    }

    /// An optional array of strings with their indexes (null or absent means None).
    pub fn string_array<'a>(
        &mut self,
        name: &str,
        value: Option<&'a Value>,
    ) -> Option<Vec<(usize, &'a str)>> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) => out.push((i, s.as_str())),
                        _ => self.push(format!("{name}[{i}]"), "must be a string"),
                    }
                }
                Some(out)
            }
            Some(_) => {
                self.push(name, "must be an array of strings or null");
                None
            }
        }
    }

    /// A required username, validated.
    pub fn username(&mut self, name: &str, value: Option<&Value>) -> Option<humor_game::Username> {
        let raw = self.string(name, value, true)?;
        self.parsed_username(name, raw)
    }

    /// A username already read as text (a path segment), validated.
    pub fn parsed_username(&mut self, name: &str, raw: &str) -> Option<humor_game::Username> {
        humor_game::Username::parse(raw)
            .map_err(|e| self.push(name, e.to_string()))
            .ok()
    }

    /// A required UUID (a game id).
    pub fn uuid(&mut self, name: &str, value: Option<&Value>) -> Option<uuid::Uuid> {
        let raw = self.string(name, value, true)?;
        uuid::Uuid::try_parse(raw)
            .map_err(|_| self.push(name, "must be a UUID"))
            .ok()
    }

    /// A required card id (its shape only: whether the game has it is the game's business).
    pub fn card_id(&mut self, name: &str, value: Option<&Value>) -> Option<String> {
        let id = self.string(name, value, true)?;
        if humor_game::deck::is_card_id(id) {
            Some(id.to_string())
        } else {
            self.push(name, "must be a card id from this game");
            None
        }
    }

    /// A whole number from a query string (ASCII spaces around it are ignored): `default` when
    /// absent or blank.
    pub fn int(&mut self, name: &str, raw: Option<&str>, default: i64, range: (i64, i64)) -> i64 {
        let (min, max) = range;
        match raw.map(|s| s.trim_matches(|c: char| c.is_ascii_whitespace())) {
            None | Some("") => default,
            Some(raw) => match raw.parse::<i64>() {
                Ok(v) if (min..=max).contains(&v) => v,
                _ => {
                    self.push(name, format!("must be a whole number from {min} to {max}"));
                    default
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_problem_is_listed_not_only_the_first() {
        let mut f = FieldErrors::default();
        assert_eq!(f.string("a", Some(&json!(1)), true), None);
        assert_eq!(f.boolean("b", Some(&json!("yes"))), None);
        assert_eq!(f.uuid("c", None), None);
        let errors = f.finish(|| Some(())).expect_err("three errors");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b", "c"]);
    }

    #[test]
    fn query_numbers_are_bounded_and_blank_means_the_default() {
        let mut f = FieldErrors::default();
        assert_eq!(f.int("limit", Some(" 7 "), 25, (1, 100)), 7);
        assert_eq!(f.int("limit", Some(""), 25, (1, 100)), 25);
        assert_eq!(f.int("limit", None, 25, (1, 100)), 25);
        assert!(f.finish(|| Some(())).is_ok());
        let mut f = FieldErrors::default();
        f.int("limit", Some("101"), 25, (1, 100));
        let errors = f.finish(|| Some(())).expect_err("out of range");
        assert_eq!(errors[0].message, "must be a whole number from 1 to 100");
    }
}
