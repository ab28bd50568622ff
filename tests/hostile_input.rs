//! Hostile input through the real entry points of a running `fedora-ci serve` (PostgreSQL,
//! RabbitMQ, its HTTP API): each input ends in a clear rejection recorded with its reason,
//! the process stays up, and the next good message is still processed.
//!
//! | Input | Rejection | Recorded | Test |
//! |---|---|---|---|
//! | invalid UTF-8, a NUL byte, empty body, JSON that is no object | `rejected` | `inbound_messages.reason` | `bus_messages_are_rejected_with_their_reason` |
//! | NUL in the message id and AMQP headers; headers nested 100 deep | `rejected`, stored (NUL as U+FFFD; headers cut at 32 levels with a marker) | `inbound_messages` | `bus_messages_are_rejected_with_their_reason` |
//! | JSON nested 100,000 deep (bare, and inside a real message) | `rejected`: recursion limit | `inbound_messages.reason` | `bus_messages_are_rejected_with_their_reason` |
//! | a 5 MiB message (limit 4 MiB) | `rejected`: its size; first 64 KiB kept | `inbound_messages` | `bus_messages_are_rejected_with_their_reason` |
//! | an unknown topic (straight into the queue, no binding routes one) | dropped as irrelevant | `/metrics` `messages{outcome="irrelevant"}` | `bus_messages_are_rejected_with_their_reason` |
//! | a wrong type in every field the parsers read (every fixture kind) | `rejected`, naming the field | `inbound_messages.reason` | `wrong_types_in_every_field_read_are_rejected_naming_the_field` |
//! | a 10,000-line comment full of shell metacharacters and `\u0000` | a syntax-error reply; nothing run, no shell | Pagure reply; `inbound_messages` `processed` | `hostile_comments_get_a_reply_and_run_nothing` |
//! | a retrigger from a non-packager | a reply, nothing run | Pagure reply | `tests/pipeline/comments.rs` `help_syntax_errors_and_non_packagers_get_a_reply_and_nothing_else` |
//! | 500 concurrent webhook calls with wrong or missing tokens | 401 each, nothing stored | `/metrics` `webhook_rejected{outcome="bad_token"}`, an info line (never a Sentry event) | `webhook_flood_with_bad_tokens_is_refused` |
//! | webhook: oversized, nested, invalid UTF-8, wrong types | 413 / 400 with the reason | `/metrics` `webhook_rejected`, `inbound_messages.reason` when authenticated | `hostile_webhook_bodies_are_refused_with_their_reason` |
//! | an authenticated webhook call claiming a result | only a pointer: the flag shows Testing Farm's answer | the flags | `tests/secrets_leak.rs` |
//! | path traversal in API ids | 400 naming `id` | the answer | `tests/api.rs` `bad_parameters_and_unknown_ids`; more paths in `hostile_api_paths_are_refused` |
//! | huge `per_page` / `page` | capped at 50 / empty page | the answer | `tests/api.rs` `bad_parameters_and_unknown_ids` |
//! | `POST`/`PUT`/`DELETE`/`PATCH` on every API route | 405, read-only | the answer | `the_api_is_read_only` |
//! | AMQP headers nested 1,000 and 18,000 deep (as deep as a 128 KiB frame allows) | `rejected` (the body), the process stays up | `inbound_messages.reason` | `amqp_headers_nested_as_deep_as_a_frame_allows_do_not_crash_the_service` |
//! | arbitrary bytes and JSON on every topic (in process) | never a panic | — | `tests/events_properties.rs` |
//! | a malformed webhook `request_id`, an oversized webhook body | 400 / 413 | `inbound_messages.reason` | `tests/webhook.rs` |

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;

#[path = "hostile/service.rs"]
mod service;

use std::collections::BTreeMap;

use fedora_ci::db::inbound;
use fedora_ci::events::Identity;
use fedora_ci::intake::{self, Incoming, Verdict};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use serde_json::{Value as Json, json};
use service::{COMMAND_PREFIX, Credentials, Service, TEAMCITY_PROJECT, fixture};

/// One bus message of the table and what must become of it.
struct BusRow {
    name: &'static str,
    topic: &'static str,
    message_id: &'static str,
    headers: FieldTable,
    body: Vec<u8>,
    /// Part of the recorded reason.
    reason: &'static str,
}

/// Far deeper than any real header table (fedora-messaging's are flat).
const DEEP_HEADER_LEVELS: usize = 100;

/// AMQP headers `{"n": {"n": … {}}}`, `depth` tables deep.
fn nested_headers(depth: usize) -> FieldTable {
    let mut headers = FieldTable::default();
    for _ in 0..depth {
        let mut outer = FieldTable::default();
        outer.insert(ShortString::from("n"), AMQPValue::FieldTable(headers));
        headers = outer;
    }
    headers
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn pull_request_with(field: &str, value: Json) -> Vec<u8> {
    let (_, mut body) = fixture("pagure_pr_new.json");
    body["pullrequest"][field] = value;
    serde_json::to_vec(&body).unwrap()
}

fn bus_rows() -> Vec<BusRow> {
    let row = |name: &'static str,
               message_id: &'static str,
               body: Vec<u8>,
               reason: &'static str| BusRow {
        name,
        topic: "pagure.pull-request.new",
        message_id,
        headers: FieldTable::default(),
        body,
        reason,
    };
    let mut nul_headers = FieldTable::default();
    nul_headers.insert(
        ShortString::from("x-hostile\0key"),
        AMQPValue::LongString(LongString::from("nul\0inside")),
    );
    let deep_headers = nested_headers(DEEP_HEADER_LEVELS);
    let deep_inside = {
        let mut body = pull_request_with("extra", json!(null));
        let text = String::from_utf8(body.clone()).unwrap();
        body = text
            .replacen(
                "\"extra\":null",
                &format!("\"extra\":{}", nested(100_000)),
                1,
            )
            .into_bytes();
        body
    };
    let padding = "x".repeat(5 * 1024 * 1024);
    vec![
        row(
            "invalid UTF-8",
            "hostile-utf8",
            b"{\"agent\": \"\xff\xfe\xfd\"}".to_vec(),
            "body is not JSON",
        ),
        row(
            "a NUL byte in the body",
            "hostile-nul-body",
            b"{\"agent\": \"a\"}\0".to_vec(),
            "body is not JSON",
        ),
        BusRow {
            headers: nul_headers,
            ..row(
                "NUL in the message id and headers",
                "hostile\0id",
                b"\0".to_vec(),
                "body is not JSON",
            )
        },
        BusRow {
            headers: deep_headers,
            ..row(
                "AMQP headers nested deep",
                "hostile-deep-headers",
                b"not json".to_vec(),
                "body is not JSON",
            )
        },
        row(
            "an empty body",
            "hostile-empty",
            Vec::new(),
            "body is not JSON",
        ),
        row(
            "JSON that is no object",
            "hostile-array",
            b"[1, 2, 3]".to_vec(),
            "invalid type",
        ),
        row(
            "JSON nested 100,000 deep",
            "hostile-deep",
            nested(100_000).into_bytes(),
            "recursion limit exceeded",
        ),
        row(
            "deep nesting inside a real message",
            "hostile-deep-inside",
            deep_inside,
            "recursion limit exceeded",
        ),
        row(
            "a 5 MiB message",
            "hostile-oversized",
            pull_request_with("padding", json!(padding)),
            "more than the 4194304 bytes accepted",
        ),
        BusRow {
            topic: "buildsys.task.state.change",
            ..row(
                "a Koji message of the wrong shape",
                "hostile-koji",
                br#"{"id": "not a number", "owner": "packit", "method": "build"}"#.to_vec(),
                "field `id`",
            )
        },
    ]
}

/// The `messages` counter of `/metrics` for `outcome`.
async fn counter(service: &Service, metric: &str, outcome: &str) -> f64 {
    let text = reqwest::get(format!("{}/metrics", service.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("{{outcome=\"{outcome}\"}}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.contains(&format!("{metric}_total{label}")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A packager asks for help: the reply shows the service still processes messages.
async fn still_answers(service: &mut Service, message_id: &str) {
    let before = service.fakes.pagure.posted_comments().len();
    service
        .publish_fixture("pagure_pr_comment.json", message_id, |body| {
            set_comment(body, &format!("{COMMAND_PREFIX} help"), "mmassari");
        })
        .await
        .unwrap();
    let row = service.stored(message_id).await.unwrap();
    service.settled().await.unwrap();
    let replies = service.fakes.pagure.posted_comments();
    assert_eq!(replies.len(), before + 1, "{row:?}");
    assert!(replies[before].contains(&format!("{COMMAND_PREFIX} scratch-build")));
    assert!(service.healthy().await, "the service is down");
}

fn set_comment(body: &mut Json, text: &str, author: &str) {
    // Each comment has an id of its own on Pagure; a comment is carried out once per id.
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(7000);
    let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
    let last = comments.last_mut().unwrap();
    last["id"] = json!(NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    last["comment"] = json!(text);
    last["user"]["name"] = json!(author);
    body["agent"] = json!(author);
    body["pullrequest"]["branch"] = json!("f42");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_messages_are_rejected_with_their_reason() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    let rows = bus_rows();
    for row in &rows {
        service
            .publish_raw(row.topic, row.message_id, row.headers.clone(), &row.body)
            .await
            .unwrap();
    }
    let irrelevant_before = counter(&service, "messages", "irrelevant").await;
    let unknown = br#"{"agent": "mmassari", "pullrequest": {}}"#;
    service
        .publish_to_queue("hostile-unknown-topic", unknown)
        .await
        .unwrap();

    for row in &rows {
        let stored_id = row.message_id.replace('\0', "\u{FFFD}");
        let stored = service.stored(&stored_id).await.unwrap();
        assert_eq!(stored.outcome, inbound::REJECTED, "{}", row.name);
        let reason = stored.reason.unwrap_or_default();
        assert!(
            reason.contains(row.reason),
            "{}: the reason {reason:?} lacks {:?}",
            row.name,
            row.reason
        );
        assert!(!reason.contains('\0') && !stored.body.contains('\0'));
        if row.body.len() > intake::MAX_BODY_BYTES {
            // A character cut at the end becomes one U+FFFD, no longer than what it replaces.
            assert!(
                stored.body.len() <= intake::STORED_OVERSIZED_PREFIX_BYTES,
                "{}: {} bytes stored",
                row.name,
                stored.body.len()
            );
        } else {
            assert_eq!(
                stored.body,
                String::from_utf8_lossy(&row.body).replace('\0', "\u{FFFD}"),
                "{}",
                row.name
            );
        }
    }
    let headers = service.stored("hostile\u{FFFD}id").await.unwrap().headers.0;
    assert_eq!(
        headers,
        json!({"x-hostile\u{FFFD}key": "nul\u{FFFD}inside"})
    );
    let deep = service
        .stored("hostile-deep-headers")
        .await
        .unwrap()
        .headers
        .0;
    let chain: Vec<&Json> = std::iter::successors(Some(&deep), |table| table.get("n")).collect();
    let tables = chain.iter().filter(|level| level.is_object()).count();
    assert_eq!(tables, 32, "stored 32 tables deep, the listener's limit");
    assert_eq!(
        chain.last().copied(),
        Some(&json!("(nested too deep, not stored)")),
        "then a marker, so that the row reads back"
    );

    // The unknown topic is counted and dropped, never stored.
    common::wait_for(service::STEP, || {
        let service = &service;
        async move {
            let now = counter(service, "messages", "irrelevant").await;
            Ok((now >= irrelevant_before + 1.0).then_some(()))
        }
    })
    .await
    .unwrap();
    assert!(
        inbound::get_by_message_id(&service.store, "hostile-unknown-topic")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        counter(&service, "messages", "rejected").await,
        rows.len() as f64
    );
    // No rejected message ever became a task.
    let tasks = fedora_ci::db::tasks::counts(&service.store, chrono::Utc::now())
        .await
        .unwrap();
    assert!(tasks.iter().all(|count| count.dead == 0), "{tasks:?}");

    still_answers(&mut service, "good-after-hostile").await;
    assert!(service.terminate().success());
}

/// A value of another JSON type than `value`'s.
fn wrong_type(value: &Json) -> Json {
    match value {
        Json::String(_) => json!(12345),
        Json::Number(_) => json!("not a number"),
        Json::Bool(_) => json!("not a boolean"),
        Json::Null => json!({"unexpected": "object"}),
        Json::Array(_) => json!({"not": "an array"}),
        Json::Object(_) => json!(["not", "an", "object"]),
    }
}

/// Every place in `value` (objects' keys, arrays' items), as serde_path_to_error writes it.
fn places(
    value: &Json,
    path: &str,
    out: &mut Vec<(String, Vec<PlaceStep>)>,
    steps: Vec<PlaceStep>,
) {
    let children: Vec<(String, PlaceStep, &Json)> = match value {
        Json::Object(map) => map
            .iter()
            .map(|(key, child)| {
                let place = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                (place, PlaceStep::Key(key.clone()), child)
            })
            .collect(),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, child)| (format!("{path}[{index}]"), PlaceStep::Index(index), child))
            .collect(),
        _ => Vec::new(),
    };
    for (place, step, child) in children {
        let mut child_steps = steps.clone();
        child_steps.push(step);
        out.push((place.clone(), child_steps.clone()));
        places(child, &place, out, child_steps);
    }
}

#[derive(Clone, Debug)]
enum PlaceStep {
    Key(String),
    Index(usize),
}

fn at_mut<'v>(value: &'v mut Json, steps: &[PlaceStep]) -> &'v mut Json {
    steps.iter().fold(value, |value, step| match step {
        PlaceStep::Key(key) => &mut value[key.as_str()],
        PlaceStep::Index(index) => &mut value[*index],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_in_every_field_read_are_rejected_naming_the_field() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    let identity = Identity::new(service.prefix.clone(), "packit");
    let mut published: Vec<(String, String, String)> = Vec::new();
    let mut read_fields = BTreeMap::new();
    for name in [
        "pagure_pr_new.json",
        "pagure_pr_updated.json",
        "pagure_pr_comment.json",
        "koji_build_scratch_end.json",
        "logdetective_analysis_result.json",
    ] {
        let (topic, body) = fixture(name);
        let full_topic = format!("{}.{topic}", service.prefix);
        let classify = |body: &Json| {
            intake::classify(
                &Incoming {
                    message_id: None,
                    topic: full_topic.clone(),
                    headers: json!({}),
                    body: serde_json::to_vec(body).unwrap(),
                    received_at: chrono::Utc::now(),
                },
                &identity,
                intake::Origin::Bus,
            )
        };
        assert_eq!(
            classify(&body),
            Verdict::Accept,
            "{name} is for us as it is"
        );
        let mut all = Vec::new();
        places(&body, "", &mut all, Vec::new());
        for (place, steps) in all {
            let mut mutated = body.clone();
            let target = at_mut(&mut mutated, &steps);
            *target = wrong_type(target);
            match classify(&mutated) {
                // Not a field the parsers read.
                Verdict::Accept => {}
                Verdict::Irrelevant(skip) => {
                    panic!("{name}: a wrong type at {place} made it irrelevant: {skip:?}")
                }
                Verdict::Reject(reason) => {
                    // The innermost field named is `place` or, for an item of a list that
                    // is read as a whole, the place itself or its parent.
                    let last = place
                        .rsplit(['.', '['])
                        .next()
                        .unwrap()
                        .trim_end_matches(']');
                    assert!(
                        reason.contains(&format!("`{place}`"))
                            || reason.contains(&format!("`{place}."))
                            || reason.contains(&format!("`{place}[")),
                        "{name}: a wrong type at {place} ({last}) gives {reason:?}"
                    );
                    let message_id = format!("wrong-type-{name}-{place}");
                    service
                        .publish_raw(
                            &topic,
                            &message_id,
                            FieldTable::default(),
                            &serde_json::to_vec(&mutated).unwrap(),
                        )
                        .await
                        .unwrap();
                    *read_fields.entry(name).or_insert(0) += 1;
                    published.push((message_id, place, reason));
                }
            }
        }
    }
    // Every kind of message has fields that are read, and each was tried.
    assert_eq!(read_fields.len(), 5, "{read_fields:?}");
    for (message_id, place, reason) in &published {
        let stored = service.stored(message_id).await.unwrap();
        assert_eq!(stored.outcome, inbound::REJECTED, "{place}");
        assert_eq!(stored.reason.as_deref(), Some(reason.as_str()), "{place}");
    }
    still_answers(&mut service, "good-after-wrong-types").await;
    assert!(service.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_comments_get_a_reply_and_run_nothing() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    let marker = service.dir.path().join("shell-was-here");
    let marker = marker.display();
    let shell = format!(
        "$(touch {marker}) `touch {marker}`; touch {marker} | touch {marker} && touch {marker} \
         > {marker} ${{IFS}}touch${{IFS}}{marker} \u{0} \\ ' \" *"
    );
    let mut long_garbage: Vec<String> = (0..9_999)
        .map(|line| format!("line {line}: {shell}"))
        .collect();
    long_garbage.push(format!("{COMMAND_PREFIX} scratch-build {shell}"));
    let comments = [
        (
            "metacharacters as arguments",
            format!("{COMMAND_PREFIX} test {shell}"),
        ),
        ("the command after 9,999 lines", long_garbage.join("\n")),
        (
            "10,000 lines of metacharacters, no command",
            (0..10_000)
                .map(|_| shell.clone())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    for (index, (name, text)) in comments.iter().enumerate() {
        let message_id = format!("hostile-comment-{index}");
        service
            .publish_fixture("pagure_pr_comment.json", &message_id, |body| {
                set_comment(body, text, "mmassari");
            })
            .await
            .unwrap();
        let stored = service.stored(&message_id).await.unwrap();
        assert_ne!(stored.outcome, inbound::REJECTED, "{name}: {stored:?}");
    }
    service.settled().await.unwrap();

    let replies = service.fakes.pagure.posted_comments();
    assert_eq!(replies.len(), 2, "{replies:#?}");
    for reply in &replies {
        assert!(
            reply.starts_with("There appears to be a syntax error in the command provided."),
            "{reply}"
        );
        assert!(reply.len() < 4096, "a reply of {} bytes", reply.len());
    }
    assert!(
        !std::path::Path::new(&marker.to_string()).exists(),
        "a shell ran"
    );
    let koji_calls = service.fakes.koji.calls();
    assert!(
        koji_calls.iter().all(|call| call.call.method != "build"),
        "{koji_calls:?}"
    );
    assert!(service.fakes.testing_farm.submitted().is_empty());
    for index in 0..comments.len() {
        let stored = service
            .stored(&format!("hostile-comment-{index}"))
            .await
            .unwrap();
        assert_eq!(stored.outcome, inbound::PROCESSED, "{stored:?}");
    }
    let tasks = fedora_ci::db::tasks::counts(&service.store, chrono::Utc::now())
        .await
        .unwrap();
    assert!(tasks.iter().all(|count| count.dead == 0), "{tasks:?}");
    assert!(service.fakes.pagure.flags(TEAMCITY_PROJECT, 36).is_empty());
    still_answers(&mut service, "good-after-comments").await;
    assert!(service.terminate().success());
}

async fn post_webhook(client: &reqwest::Client, service: &Service, body: Vec<u8>) -> (u16, Json) {
    let response = client
        .post(format!("{}/api/testing-farm/results", service.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Json::String(text)),
    )
}

async fn inbound_count(service: &Service) -> i64 {
    fedora_ci::db::inbound::count_by_outcome(&service.store)
        .await
        .unwrap()
        .iter()
        .map(|(_, count)| count)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_flood_with_bad_tokens_is_refused() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    let client = reqwest::Client::new();
    let request_id = "0ea2b5ec-6a5d-4b0a-a2c9-4e0b8a8b0b0c";
    let flood: Vec<_> = (0..500)
        .map(|index| {
            let body = match index % 5 {
                0 => json!({"request_id": request_id, "token": format!("guess-{index}")}),
                1 => json!({"request_id": request_id}),
                2 => json!({"request_id": request_id, "token": ""}),
                3 => json!({"request_id": "A".repeat(10_000), "token": "x"}),
                _ => json!({"request_id": request_id, "token": "tf-secreT"}),
            };
            let client = client.clone();
            let service = &service;
            async move { post_webhook(&client, service, body.to_string().into_bytes()).await }
        })
        .collect();
    let answers = futures_util::future::join_all(flood).await;
    for answer in &answers {
        assert_eq!(answer, &(401, json!({"error": "missing or wrong token"})));
    }
    assert_eq!(
        inbound_count(&service).await,
        0,
        "a refused call stored something"
    );
    assert_eq!(
        counter(&service, "webhook_rejected", "bad_token").await,
        500.0
    );
    assert!(service.healthy().await);
    // Each refusal is logged, but never with all the caller sent.
    let output = service.output();
    assert!(output.matches("missing or wrong token").count() >= 500);
    assert!(!output.contains(&"A".repeat(100)));

    let good = json!({"request_id": request_id, "token": "tf-secret"});
    let answer = post_webhook(&client, &service, good.to_string().into_bytes()).await;
    assert_eq!(answer, (202, json!({"status": "accepted"})));
    assert_eq!(inbound_count(&service).await, 1);
    assert!(service.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_webhook_bodies_are_refused_with_their_reason() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    let client = reqwest::Client::new();
    let token = "tf-secret";
    let unauthenticated: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        (
            "a 64 KiB body (limit 16 KiB)",
            json!({"request_id": "x", "token": token, "padding": "x".repeat(64 * 1024)})
                .to_string()
                .into_bytes(),
            413,
            "the body cannot be read",
            "unreadable",
        ),
        (
            "nested 5,000 deep",
            nested(5_000).into_bytes(),
            400,
            "not a JSON object",
            "not_json",
        ),
        (
            "invalid UTF-8",
            b"{\"request_id\": \"\xff\", \"token\": \"tf-secret\"}".to_vec(),
            400,
            "not a JSON object",
            "not_json",
        ),
        (
            "a token that is a number",
            br#"{"request_id": "x", "token": 5}"#.to_vec(),
            400,
            "not a JSON object",
            "not_json",
        ),
        (
            "a JSON array",
            b"[]".to_vec(),
            400,
            "not a JSON object",
            "not_json",
        ),
    ];
    for (name, body, status, error, metric) in unauthenticated {
        let before = counter(&service, "webhook_rejected", metric).await;
        let (got, answer) = post_webhook(&client, &service, body).await;
        assert_eq!(got, status, "{name}: {answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(error), "{name}: {answer}");
        assert_eq!(
            counter(&service, "webhook_rejected", metric).await,
            before + 1.0,
            "{name}"
        );
    }
    assert_eq!(inbound_count(&service).await, 0);

    // Authenticated but malformed: refused, and stored with the reason for diagnosis.
    for (name, request_id) in [
        ("an object as request_id", json!({"id": 1})),
        ("a number as request_id", json!(12)),
        ("a path as request_id", json!("../../../etc/passwd")),
        ("a NUL in request_id", json!("a\u{0}b")),
    ] {
        let body = json!({"request_id": request_id, "token": token}).to_string();
        let (status, answer) = post_webhook(&client, &service, body.into_bytes()).await;
        assert_eq!(status, 400, "{name}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains("request_id"),
            "{name}: {answer}"
        );
    }
    let outcomes = fedora_ci::db::inbound::count_by_outcome(&service.store)
        .await
        .unwrap();
    assert_eq!(outcomes, vec![(inbound::REJECTED.to_owned(), 4)]);
    assert!(service.healthy().await);
    assert!(service.terminate().success());
}

/// The OpenAPI document's paths with every `{parameter}` filled in.
async fn api_paths(service: &Service) -> Vec<(String, Vec<String>)> {
    let document: Json = reqwest::get(format!("{}/api/openapi.json", service.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, operations)| {
            let mut concrete = String::new();
            let mut inside = false;
            for character in path.chars() {
                match character {
                    '{' => inside = true,
                    '}' => {
                        inside = false;
                        concrete.push('1');
                    }
                    _ if inside => {}
                    _ => concrete.push(character),
                }
            }
            let methods = operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|key| *key != "parameters")
                .cloned()
                .collect();
            (concrete, methods)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_read_only() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    let client = reqwest::Client::new();
    let paths = api_paths(&service).await;
    assert!(paths.len() > 10, "{paths:?}");
    let mut writable = Vec::new();
    for (path, methods) in &paths {
        for method in &["post", "put", "delete", "patch"] {
            if methods.iter().any(|described| described == method) {
                writable.push(format!("{method} {path}"));
                continue;
            }
            let response = client
                .request(
                    method.to_uppercase().parse().unwrap(),
                    format!("{}{path}", service.base),
                )
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Json = response.json().await.unwrap_or_default();
            assert_eq!(status, 405, "{method} {path}: {body}");
            assert_eq!(
                body,
                json!({"error": "method not allowed: this API is read-only"}),
                "{method} {path}"
            );
        }
    }
    assert_eq!(writable, ["post /api/testing-farm/results"]);
    assert_eq!(inbound_count(&service).await, 0);
    assert!(service.terminate().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_api_paths_are_refused() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    for path in [
        "/api/pull-requests/rpms/..%2F..%2Fetc%2Fpasswd/1",
        "/api/pull-requests/rpms/optee_os/..%2F..",
        "/api/pull-requests/rpms/optee_os/99999999999999999999999999",
        "/api/pull-requests/rpms/optee_os/-1",
        "/api/pull-requests/%00/%00/1",
        "/api/projects/src.fedoraproject.org/rpms/a%00b/prs",
        "/api/runs?page=1%00",
        "/api/projects/src.fedoraproject.org/rpms/..%2F..%2Fetc/prs?per_page=99999999999",
        "/api/projects/..%2F..%2F..%2Fetc/rpms/x/prs",
        "/api/runs?per_page=1e308",
        "/api/koji-builds/groups/18446744073709551616",
        "/api/testing-farm/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/api/log-detective/1;DROP%20TABLE%20tasks",
    ] {
        let response = reqwest::get(format!("{}{path}", service.base))
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Json = response.json().await.unwrap_or_default();
        assert_eq!(content_type, "application/json", "{path}");
        if status >= 400 {
            assert!(matches!(status, 400 | 404), "{path}: {status} {body}");
            assert!(body["error"].is_string(), "{path}: {body}");
        } else {
            // A lookup by name that finds nothing is an empty list, never a file.
            assert_eq!(body, json!([]), "{path}");
        }
    }
    assert!(service.healthy().await);
    assert!(service.terminate().success());
}

/// lapin parses a content header's field tables recursively, a few KiB of stack per level;
/// RabbitMQ's default 128 KiB frame holds about 18,700 levels of `{"n": {...}}`. With the
/// default 2 MiB thread stack the process aborted below 1,000 levels, and again at every
/// redelivery of the unacknowledged message; `fedora-ci` now runs its threads on a stack that
/// holds the deepest header a frame can carry.
#[test]
fn amqp_headers_nested_as_deep_as_a_frame_allows_do_not_crash_the_service() {
    const NAME: &str = "amqp_headers_nested_as_deep_as_a_frame_allows_do_not_crash_the_service";
    const STACK: usize = 256 * 1024 * 1024;
    // lapin encodes the headers recursively on its own thread in this process too, a thread
    // only `RUST_MIN_STACK` sizes: the test runs in a copy of this binary that has it.
    if std::env::var_os("RUST_MIN_STACK").is_none() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--nocapture", "--test-threads=1"])
            .env("RUST_MIN_STACK", STACK.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the test did not run: {stdout}"
        );
        return;
    }
    let test = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(STACK)
                .enable_all()
                .build()
                .unwrap()
                .block_on(headers_nested_as_deep_as_a_frame_allows())
        })
        .unwrap();
    test.join().unwrap();
}

async fn headers_nested_as_deep_as_a_frame_allows() {
    let mut service = Service::start(&Credentials::default(), "info").await;
    // 7 bytes a level (a one-letter key, the type, the table's length) in a 131,072-byte frame.
    for (message_id, depth) in [("deep-headers-1000", 1_000), ("deep-headers-18000", 18_000)] {
        service
            .publish_raw(
                "pagure.pull-request.new",
                message_id,
                nested_headers(depth),
                b"not json",
            )
            .await
            .unwrap();
        let stored = service.stored(message_id).await.unwrap();
        assert_eq!(stored.outcome, inbound::REJECTED, "{message_id}");
    }
    still_answers(&mut service, "good-after-deep-headers").await;
    assert!(service.terminate().success());
}
