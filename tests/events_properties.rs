//! Whatever arrives on the bus, `events` answers with a value, never a panic.
//!
//! Random JSON rarely gets past the first missing field, so besides random bodies this
//! also feeds real fixture bodies with one value replaced or one key removed anywhere.

// Helpers here fail the test on purpose when a fixture is not what it should be.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::OnceLock;

use fedora_ci::events::envelope;
use fedora_ci::events::{Identity, ParseError, Topic, parse_with_reason, prefilter};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Keys the parsers and the envelope look for, so random objects reach past the first check.
const KNOWN_KEYS: &[&str] = &[
    "agent",
    "pullrequest",
    "project",
    "repo_from",
    "commit_stop",
    "id",
    "branch",
    "comments",
    "comment",
    "namespace",
    "name",
    "full_url",
    "user",
    "owner",
    "method",
    "info",
    "state",
    "children",
    "arch",
    "old",
    "new",
    "request",
    "start_time",
    "completion_time",
    "merged",
    "request_id",
    "token",
    "status",
    "build_system",
    "target_build",
    "log_detective_analysis_id",
    "log_detective_analysis_start",
    "commit_sha",
    "pr_id",
    "topic",
    "msg",
    "msg_id",
    "body",
    "headers",
    "raw_messages",
];

fn topics() -> Vec<String> {
    let mut topics: Vec<String> = Topic::ALL
        .iter()
        .map(|topic| format!("org.fedoraproject.prod.{}", topic.name()))
        .collect();
    topics.extend(Topic::ALL.iter().map(|topic| topic.name().to_owned()));
    topics.push("org.fedoraproject.stg.pagure.pull-request.comment.added".to_owned());
    topics.push("org.fedoraproject.prod.buildsys.build.state.change".to_owned());
    topics.push(String::new());
    topics
}

fn identity() -> Identity {
    Identity::new("org.fedoraproject.prod", "packit")
}

fn arbitrary_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", |number| {
            serde_json::Number::from_f64(number).map(Value::Number)
        }),
        "\\PC{0,24}".prop_map(Value::from),
        "[0-9a-f]{40}".prop_map(Value::from),
        prop::sample::select(vec!["FREE", "OPEN", "FAILED", "koji", "rpms", "packit"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(arbitrary_key(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Runs everything a listener would run on one message; a panic fails the property.
fn exercise(topic: &str, body: &[u8]) {
    let _ = prefilter(topic, body, &identity());
    if let Err(error) = parse_with_reason(topic, body) {
        assert_error_explains_itself(&error, body);
    }
}

/// "Not JSON" only for bodies that are not JSON; otherwise a named field and a problem.
fn assert_error_explains_itself(error: &ParseError, body: &[u8]) {
    let is_json = serde_json::from_slice::<Value>(body).is_ok();
    match error {
        ParseError::NotJson { .. } => assert!(!is_json, "{error}"),
        ParseError::InvalidField { field, problem, .. } => {
            assert!(is_json, "{error}");
            assert!(!field.is_empty(), "{error}");
            assert!(!problem.is_empty(), "{error}");
        }
    }
}

/// Bodies of every message fixture that decodes, with the topic they came with.
fn fixture_bodies() -> &'static [(String, Value)] {
    static BODIES: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    BODIES.get_or_init(|| {
        let mut bodies = Vec::new();
        for directory in ["packit-service", "protocols/fedora-messaging"] {
            for entry in std::fs::read_dir(Path::new(FIXTURES).join(directory)).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                let Ok(messages) = envelope::decode(&bytes, None) else {
                    continue;
                };
                for message in messages {
                    let body = serde_json::from_slice(&message.body).unwrap();
                    bodies.push((message.topic, body));
                }
            }
        }
        assert!(bodies.len() > 10, "fixtures not found under {FIXTURES}");
        bodies
    })
}

/// Every place in a JSON document, as the list of steps that leads there.
fn places(value: &Value) -> Vec<Vec<Step>> {
    let mut found = vec![Vec::new()];
    let children: Vec<(Step, &Value)> = match value {
        Value::Object(object) => object
            .iter()
            .map(|(key, child)| (Step::Key(key.clone()), child))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, c)| (Step::Index(i), c))
            .collect(),
        _ => Vec::new(),
    };
    for (step, child) in children {
        for mut below in places(child) {
            below.insert(0, step.clone());
            found.push(below);
        }
    }
    found
}

#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn place_mut<'v>(value: &'v mut Value, steps: &[Step]) -> &'v mut Value {
    steps.iter().fold(value, |current, step| match step {
        Step::Key(key) => &mut current[key.as_str()],
        Step::Index(index) => &mut current[*index],
    })
}

fn remove_place(value: &mut Value, steps: &[Step]) {
    let Some((last, parent_steps)) = steps.split_last() else {
        return;
    };
    match (place_mut(value, parent_steps), last) {
        (Value::Object(object), Step::Key(key)) => {
            object.remove(key);
        }
        (Value::Array(items), Step::Index(index)) if *index < items.len() => {
            items.remove(*index);
        }
        _ => {}
    }
}

/// Values that sit on the edges parsers forget: empty containers, zero, negative, empty text.
fn edge_json() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        Value::Null,
        Value::Array(Vec::new()),
        Value::Object(Map::new()),
        Value::from(""),
        Value::from(0),
        Value::from(-1),
        Value::from(u64::MAX),
        Value::from(1e300),
    ])
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(Value),
    Remove,
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        2 => edge_json().prop_map(Mutation::Replace),
        2 => arbitrary_json().prop_map(Mutation::Replace),
        1 => Just(Mutation::Remove),
    ]
}

fn mutate(body: &mut Value, place: &Index, mutation: Mutation) {
    let all_places = places(body);
    let steps: &Vec<Step> = place.get(&all_places);
    match mutation {
        Mutation::Replace(replacement) => *place_mut(body, steps) = replacement,
        Mutation::Remove => remove_place(body, steps),
    }
}

proptest! {
    #[test]
    fn arbitrary_json_on_any_topic_never_panics(
        topic in prop::sample::select(topics()),
        body in arbitrary_json(),
    ) {
        exercise(&topic, body.to_string().as_bytes());
    }

    #[test]
    fn byte_garbage_on_any_topic_never_panics(
        topic in prop::sample::select(topics()),
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        exercise(&topic, &body);
        let _ = envelope::decode(&body, Some(&topic));
    }

    #[test]
    fn envelope_decoding_never_panics(document in arbitrary_json(), topic in "\\PC{0,16}") {
        let bytes = document.to_string().into_bytes();
        let _ = envelope::decode(&bytes, Some(&topic));
        let _ = envelope::decode(&bytes, None);
    }
}

proptest! {
    // Cheap cases, and the interesting places are few among many, so run plenty.
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn mutated_fixtures_never_panic(
        fixture in any::<Index>(),
        mutations in prop::collection::vec((any::<Index>(), mutation()), 1..4),
    ) {
        let (topic, original) = fixture.get(fixture_bodies());
        let mut body = original.clone();
        for (place, mutation) in mutations {
            mutate(&mut body, &place, mutation);
        }
        exercise(topic, body.to_string().as_bytes());
    }
}
