//! Stored messages: the files messages are kept in, decoded for replay and tests.
//!
//! On the bus the topic is the AMQP routing key and the body is the payload; files put both
//! into one JSON document, in one of three ways:
//! - packit-service's test data: the body itself, with the `topic` (and `timestamp`) that
//!   packit's consumer added to it (for Forgejo, the whole `{"body", "headers", "agent"}`
//!   that webhook-to-fedora-messaging publishes);
//! - fedora-messaging's serialized form (`fedora_messaging.message.dumps`, which its CLI
//!   reads and writes): `{"topic", "headers", "id", "body", …}`, one object per line or a
//!   single object;
//! - datagrepper: `{"topic", "msg", "msg_id", "headers", …}`, alone or as a search page's
//!   `raw_messages`.

use serde_json::{Map, Value};

/// How a stored message was written down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A body with `topic` added, as in packit-service's test data.
    BareBody,
    FedoraMessagingDump,
    Datagrepper,
}

/// One message as it travelled on the bus.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub form: Form,
    pub topic: String,
    /// The AMQP message id; packit-service's test data has none.
    pub id: Option<String>,
    pub headers: Map<String, Value>,
    /// The JSON body, as [`parse`](super::parse) takes it.
    pub body: Vec<u8>,
}

/// A JSON object in the file, with where it was found for error messages.
struct Located {
    at: String,
    object: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("there is no message in it")]
    Empty,
    #[error("{at}: not JSON: {source}")]
    NotJson {
        at: String,
        source: serde_json::Error,
    },
    #[error("{at}: {problem}")]
    Invalid { at: String, problem: String },
}

impl EnvelopeError {
    fn invalid(at: &str, problem: impl Into<String>) -> EnvelopeError {
        EnvelopeError::Invalid {
            at: at.to_owned(),
            problem: problem.into(),
        }
    }
}

/// Decodes every message in a stored file.
///
/// `default_topic` is the topic of a bare body that names none, such as a body copied from
/// a schema's test; a topic in the file always wins.
pub fn decode(
    bytes: &[u8],
    default_topic: Option<&str>,
) -> Result<Vec<StoredMessage>, EnvelopeError> {
    let mut messages = Vec::new();
    let documents = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    for (index, document) in documents.enumerate() {
        let at = format!("document {}", index + 1);
        let document = document.map_err(|source| EnvelopeError::NotJson {
            at: at.clone(),
            source,
        })?;
        for Located { at, object } in objects_in(document, &at)? {
            messages.push(decode_object(object, &at, default_topic)?);
        }
    }
    if messages.is_empty() {
        return Err(EnvelopeError::Empty);
    }
    Ok(messages)
}

/// The message objects of one document: itself, its elements, or a datagrepper page's.
fn objects_in(document: Value, at: &str) -> Result<Vec<Located>, EnvelopeError> {
    match document {
        Value::Array(items) => items_as_objects(items, at),
        Value::Object(mut object) => match object.remove("raw_messages") {
            Some(Value::Array(items)) => items_as_objects(items, &format!("{at} raw_messages")),
            Some(_) => Err(EnvelopeError::invalid(at, "`raw_messages` is not a list")),
            None => Ok(vec![Located {
                at: at.to_owned(),
                object,
            }]),
        },
        _ => Err(EnvelopeError::invalid(at, "is not a JSON object")),
    }
}

fn items_as_objects(items: Vec<Value>, at: &str) -> Result<Vec<Located>, EnvelopeError> {
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let at = format!("{at}[{index}]");
            match item {
                Value::Object(object) => Ok(Located { at, object }),
                _ => Err(EnvelopeError::invalid(&at, "is not a JSON object")),
            }
        })
        .collect()
}

fn decode_object(
    mut object: Map<String, Value>,
    at: &str,
    default_topic: Option<&str>,
) -> Result<StoredMessage, EnvelopeError> {
    let has = |key: &str| object.contains_key(key);
    if has("topic") && has("msg") {
        let body = object.remove("msg").unwrap_or(Value::Null);
        return wrapped_message(Form::Datagrepper, object, body, "msg_id", at);
    }
    // A webhook-to-fedora-messaging body (`{"body", "headers", "agent"}`, Forgejo) with the
    // `topic` and `id` packit's consumer adds looks like a dump; `agent` tells it apart, as
    // fedora-messaging never writes one beside the body.
    if has("topic") && has("body") && (has("headers") || has("id")) && !has("agent") {
        let body = object.remove("body").unwrap_or(Value::Null);
        return wrapped_message(Form::FedoraMessagingDump, object, body, "id", at);
    }
    bare_body(object, at, default_topic)
}

fn wrapped_message(
    form: Form,
    mut envelope: Map<String, Value>,
    body: Value,
    id_key: &str,
    at: &str,
) -> Result<StoredMessage, EnvelopeError> {
    let topic = match envelope.remove("topic") {
        Some(Value::String(topic)) => topic,
        _ => return Err(EnvelopeError::invalid(at, "`topic` is not a string")),
    };
    let id = match envelope.remove(id_key) {
        Some(Value::String(id)) => Some(id),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(EnvelopeError::invalid(
                at,
                format!("`{id_key}` is not a string"),
            ));
        }
    };
    let headers = match envelope.remove("headers") {
        Some(Value::Object(headers)) => headers,
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(EnvelopeError::invalid(at, "`headers` is not an object")),
    };
    Ok(StoredMessage {
        form,
        topic,
        id,
        headers,
        body: body.to_string().into_bytes(),
    })
}

fn bare_body(
    mut body: Map<String, Value>,
    at: &str,
    default_topic: Option<&str>,
) -> Result<StoredMessage, EnvelopeError> {
    let topic = match (body.remove("topic"), default_topic) {
        (Some(Value::String(topic)), _) => topic,
        (None, Some(topic)) => topic.to_owned(),
        (None, None) => {
            return Err(EnvelopeError::invalid(
                at,
                "names no topic: it is neither a fedora-messaging dump nor a datagrepper \
                 message, and the body has no `topic`",
            ));
        }
        (Some(_), _) => return Err(EnvelopeError::invalid(at, "`topic` is not a string")),
    };
    // packit's consumer added this next to `topic`; the publisher never sent it.
    body.remove("timestamp");
    Ok(StoredMessage {
        form: Form::BareBody,
        topic,
        id: None,
        headers: Map::new(),
        body: Value::Object(body).to_string().into_bytes(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(bytes: &[u8]) -> StoredMessage {
        let mut messages = decode(bytes, None).unwrap();
        assert_eq!(messages.len(), 1);
        messages.remove(0)
    }

    fn body_of(message: &StoredMessage) -> Value {
        serde_json::from_slice(&message.body).unwrap()
    }

    #[test]
    fn bare_body_loses_the_keys_packit_added() {
        let message = only(br#"{"topic": "t.x", "timestamp": 1.5, "agent": "a"}"#);
        assert_eq!(message.form, Form::BareBody);
        assert_eq!(message.topic, "t.x");
        assert_eq!(body_of(&message), serde_json::json!({"agent": "a"}));
    }

    #[test]
    fn bare_body_without_topic_needs_a_default() {
        let error = decode(br#"{"agent": "a"}"#, None).unwrap_err();
        assert!(error.to_string().contains("names no topic"), "{error}");
        let messages = decode(br#"{"agent": "a"}"#, Some("t.y")).unwrap();
        assert_eq!(messages[0].topic, "t.y");
    }

    #[test]
    fn dump_lines_are_separate_messages() {
        let dump = concat!(
            r#"{"topic": "a", "headers": {"sent-at": "x"}, "id": "1", "body": {"k": 1}, "queue": null}"#,
            "\n",
            r#"{"topic": "b", "headers": {}, "id": "2", "body": {"k": 2}}"#,
            "\n"
        );
        let messages = decode(dump.as_bytes(), None).unwrap();
        let summary: Vec<_> = messages
            .iter()
            .map(|m| (m.form, m.topic.as_str(), m.id.as_deref(), body_of(m)))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    Form::FedoraMessagingDump,
                    "a",
                    Some("1"),
                    serde_json::json!({"k": 1})
                ),
                (
                    Form::FedoraMessagingDump,
                    "b",
                    Some("2"),
                    serde_json::json!({"k": 2})
                ),
            ]
        );
        assert_eq!(messages[0].headers["sent-at"], "x");
    }

    #[test]
    fn datagrepper_pages_are_unpacked() {
        let page = br#"{"count": 2, "raw_messages": [
            {"topic": "a", "msg": {"k": 1}, "msg_id": "2024-1", "headers": null, "i": 1},
            {"topic": "b", "msg": {"k": 2}, "msg_id": "2024-2"}
        ]}"#;
        let messages = decode(page, None).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[1].form, Form::Datagrepper);
        assert_eq!(messages[1].id.as_deref(), Some("2024-2"));
        assert_eq!(body_of(&messages[1]), serde_json::json!({"k": 2}));
    }

    #[test]
    fn broken_input_names_where() {
        let error = decode(b"{\"topic\": \"a\"}\n{oops", None).unwrap_err();
        assert!(
            error.to_string().starts_with("document 2: not JSON"),
            "{error}"
        );
        assert!(matches!(decode(b"  \n", None), Err(EnvelopeError::Empty)));
        assert!(matches!(decode(b"[]", None), Err(EnvelopeError::Empty)));
        let error = decode(b"[1]", None).unwrap_err();
        assert_eq!(error.to_string(), "document 1[0]: is not a JSON object");
    }
}
