//! The error for messages that are on our topics but not what the topic promises.

use serde::de::DeserializeOwned;

/// A message on a handled topic whose body is not JSON or lacks what Fedora CI needs.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{topic}: body is not JSON: {source}")]
    NotJson {
        topic: String,
        source: serde_json::Error,
    },
    #[error("{topic}: field `{field}` {problem}")]
    InvalidField {
        topic: String,
        /// Dotted path from the body's root, e.g. `pullrequest.project.full_url`.
        field: String,
        problem: String,
    },
}

/// A problem quotes the offending value, and a body may hold one enormous string; the reason
/// is logged and stored beside the message, so it is cut after this many characters.
const PROBLEM_CHARS: usize = 300;

impl ParseError {
    pub(super) fn invalid_field(topic: &str, field: &str, problem: impl Into<String>) -> Self {
        let mut problem = problem.into();
        if let Some((cut, _)) = problem.char_indices().nth(PROBLEM_CHARS) {
            problem.truncate(cut);
            problem.push('…');
        }
        ParseError::InvalidField {
            topic: topic.to_owned(),
            field: field.to_owned(),
            problem,
        }
    }
}

/// Deserializes a wire struct, naming the offending field on failure.
pub(super) fn deserialize_body<T: DeserializeOwned>(
    topic: &str,
    body: &[u8],
) -> Result<T, ParseError> {
    // Going through a `Value` first keeps "not JSON" apart from "JSON of the wrong shape":
    // straight from bytes, serde_json reports e.g. a null where an enum belongs as a
    // syntax error.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|source| ParseError::NotJson {
            topic: topic.to_owned(),
            source,
        })?;
    serde_path_to_error::deserialize(value).map_err(|error| field_error(topic, error))
}

fn field_error(topic: &str, error: serde_path_to_error::Error<serde_json::Error>) -> ParseError {
    let path = error.path().to_string();
    let message = error.into_inner().to_string();
    // serde reports a missing field at the struct that lacks it; name the field itself.
    if let Some(missing) = missing_field_name(&message) {
        return ParseError::invalid_field(topic, &join_path(&path, missing), "is missing");
    }
    ParseError::invalid_field(topic, &join_path(&path, ""), message)
}

fn missing_field_name(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

fn join_path(parent: &str, child: &str) -> String {
    match (parent, child) {
        (".", "") => "(body)".to_owned(),
        (".", child) => child.to_owned(),
        (parent, "") => parent.to_owned(),
        (parent, child) => format!("{parent}.{child}"),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        count: u32,
    }

    fn error_for(body: &str) -> String {
        deserialize_body::<Outer>("t", body.as_bytes())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn names_a_missing_nested_field() {
        assert_eq!(
            error_for(r#"{"inner": {"count": 1}}"#),
            "t: field `inner.name` is missing"
        );
    }

    #[test]
    fn names_a_missing_top_level_field() {
        assert_eq!(error_for("{}"), "t: field `inner` is missing");
    }

    #[test]
    fn names_a_field_of_the_wrong_type() {
        let message = error_for(r#"{"inner": {"name": "x", "count": "one"}}"#);
        assert!(
            message.starts_with("t: field `inner.count` invalid type: string \"one\""),
            "{message}"
        );
    }

    #[test]
    fn quotes_a_huge_value_briefly() {
        let body = format!(
            r#"{{"inner": {{"name": "x", "count": "{}"}}}}"#,
            "9".repeat(100_000)
        );
        let message = error_for(&body);
        assert!(
            message.starts_with("t: field `inner.count` invalid type: string \"999"),
            "{message}"
        );
        assert!(message.ends_with('…'), "{message}");
        assert!(message.chars().count() < 400, "{message}");
    }

    #[test]
    fn tells_non_json_apart() {
        let error = deserialize_body::<Outer>("t", b"\x00garbage").unwrap_err();
        assert!(matches!(error, ParseError::NotJson { .. }), "{error:?}");
    }

    #[test]
    fn rejects_trailing_garbage() {
        let error =
            deserialize_body::<Inner>("t", br#"{"name": "x", "count": 1} trailing"#).unwrap_err();
        assert!(matches!(error, ParseError::NotJson { .. }), "{error:?}");
    }
}
