//! The listener against a real RabbitMQ, fed by fedora-messaging's own publishing API:
//! every relevant message is stored exactly once, even when the listener is killed with
//! SIGKILL mid-stream or the database is down.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::process::Running;
use common::{TestDb, wait_for};
use fedora_ci::db::Store;
use fedora_ci::events::envelope;
use serde_json::{Value, json};

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2F";

fn fixture(path: &str) -> (String, Value) {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&full).unwrap();
    // Only the schema example lacks a topic; it is a task state change.
    let topic = "org.fedoraproject.prod.buildsys.task.state.change";
    let message = envelope::decode(&bytes, Some(topic)).unwrap().remove(0);
    (
        message.topic,
        serde_json::from_slice(&message.body).unwrap(),
    )
}

/// Messages for Fedora CI (with our FAS user `packit`) and messages that are not.
fn relevant() -> Vec<(String, Value)> {
    [
        "packit-service/pagure_pr_new.json",
        "packit-service/pagure_pr_updated.json",
        "packit-service/pagure_pr_rebased.json",
        "packit-service/koji_build_scratch_start.json",
        "packit-service/koji_build_scratch_end.json",
    ]
    .iter()
    .map(|path| fixture(path))
    .collect()
}

fn irrelevant() -> Vec<(String, Value)> {
    let (topic, mut koschei) = fixture(
        "protocols/fedora-messaging/buildsys.task.state.change.open-to-closed.v1-schema-example.json",
    );
    koschei["owner"] = json!("koschei");
    vec![
        fixture("packit-service/koji_build_completed_rawhide.json"),
        fixture("packit-service/pagure_pr_flag_updated.json"),
        // A pagure.io project: no namespace, no Fedora CI.
        fixture("packit-service/pagure_pr_new_no_fork.json"),
        (topic, koschei),
    ]
}

/// A broker namespace of one test: its own topic prefix and durable queue, so that tests
/// running at once on one RabbitMQ do not see each other's messages.
struct Bus {
    prefix: String,
    queue: String,
}

impl Bus {
    fn new() -> Bus {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Bus {
            prefix: format!("org.fedoraproject.test{}", &id[..12]),
            queue: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// Deletes the durable queue the listener declared.
    async fn remove(&self) -> anyhow::Result<()> {
        let runtime = lapin::runtime::default_runtime()?;
        let connection = lapin::Connection::connect_with_runtime(
            AMQP_URL,
            lapin::ConnectionProperties::default(),
            runtime,
        )
        .await?;
        let channel = connection.create_channel().await?;
        channel
            .queue_delete(
                self.queue.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await?;
        connection.close(200, "done".into()).await?;
        Ok(())
    }
}

/// Publishes with PyPI fedora-messaging under `bus`'s prefix; returns the message ids in order.
fn publish(bus: &Bus, messages: &[(String, Value)]) -> Vec<String> {
    let input: Vec<Value> = messages
        .iter()
        .map(|(topic, body)| {
            let topic = topic.replace("org.fedoraproject.prod", &bus.prefix);
            json!({"topic": topic, "body": body})
        })
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/publish.py");
    let mut child = std::process::Command::new(common::python::python())
        .args([script, AMQP_URL])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "publishing failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn listener(db_url: &str, bus: &Bus) -> Running {
    let mut listener = start_listener(db_url, bus, &[]);
    listener.wait_for_line(&["consuming fedora-messaging"], Duration::from_secs(30));
    listener
}

fn start_listener(db_url: &str, bus: &Bus, extra: &[(&str, &str)]) -> Running {
    let dir = std::env::temp_dir();
    let mut env = vec![
        ("FEDORA_CI_DATABASE_URL", db_url),
        ("FEDORA_CI_FAS_USER", "packit"),
        ("FEDORA_CI_MESSAGING__AMQP_URL", AMQP_URL),
        ("FEDORA_CI_MESSAGING__QUEUE", &bus.queue),
        ("FEDORA_CI_MESSAGING__TOPIC_PREFIX", &bus.prefix),
        ("FEDORA_CI_MESSAGING__BATCH_SIZE", "20"),
    ];
    env.extend_from_slice(extra);
    Running::start(&dir, &["listen"], &env)
}

async fn stored_ids(store: &Store) -> anyhow::Result<Vec<String>> {
    const SQL: &str = "SELECT message_id FROM inbound_messages ORDER BY id";
    Ok(match store {
        Store::Postgres(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await?,
        Store::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_all(pool).await?,
    })
}

async fn process_tasks(store: &Store) -> anyhow::Result<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM tasks WHERE name = 'process_message'";
    Ok(match store {
        Store::Postgres(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
        Store::Sqlite(pool) => sqlx::query_scalar(SQL).fetch_one(pool).await?,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_listener_loses_nothing_and_stores_nothing_twice() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let store = db.store().await?;
    let bus = Bus::new();
    let mut first = listener(db.url(), &bus);

    let (relevant, irrelevant) = (relevant(), irrelevant());
    let stream: Vec<(String, Value)> = (0..300)
        .map(|i| {
            if i % 3 == 0 {
                irrelevant[i % irrelevant.len()].clone()
            } else {
                relevant[i % relevant.len()].clone()
            }
        })
        .collect();
    let is_relevant: Vec<bool> = (0..300).map(|i| i % 3 != 0).collect();
    let publisher = {
        let bus = Bus {
            prefix: bus.prefix.clone(),
            queue: bus.queue.clone(),
        };
        std::thread::spawn(move || publish(&bus, &stream))
    };

    // Kill the listener once it has stored part of the stream.
    wait_for(Duration::from_secs(60), || async {
        Ok((stored_ids(&store).await?.len() >= 30).then_some(()))
    })
    .await?;
    first.kill();
    let _second = listener(db.url(), &bus);

    let published = publisher.join().expect("publisher thread");
    let expected: BTreeSet<String> = published
        .iter()
        .zip(&is_relevant)
        .filter(|(_, relevant)| **relevant)
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(expected.len(), 200);
    wait_for(Duration::from_secs(60), || async {
        Ok((stored_ids(&store).await?.len() >= expected.len()).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let stored = stored_ids(&store).await?;
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    assert_eq!(stored.len(), stored_set.len(), "a message was stored twice");
    assert_eq!(
        stored_set, expected,
        "stored messages differ from the relevant ones published"
    );
    assert_eq!(
        process_tasks(&store).await?,
        200,
        "one processing task per message"
    );
    bus.remove().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_acknowledged_while_the_database_is_down() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let store = db.store().await?;
    let bus = Bus::new();
    let dead_db = "postgres://postgres@127.0.0.1:1/none";
    let mut blind = listener(dead_db, &bus);
    let published = publish(&bus, &relevant());
    blind.wait_for_line(
        &["cannot store messages; they stay unacknowledged"],
        Duration::from_secs(30),
    );
    blind.kill();

    let _healthy = listener(db.url(), &bus);
    wait_for(Duration::from_secs(30), || async {
        Ok((stored_ids(&store).await?.len() >= published.len()).then_some(()))
    })
    .await?;
    let stored: BTreeSet<String> = stored_ids(&store).await?.into_iter().collect();
    assert_eq!(stored, published.into_iter().collect());
    bus.remove().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_message_is_recorded_as_rejected_and_acknowledged() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let store = db.store().await?;
    let bus = Bus::new();
    let _listener = listener(db.url(), &bus);
    let (topic, mut body) = fixture("packit-service/pagure_pr_new.json");
    body["pullrequest"]
        .as_object_mut()
        .unwrap()
        .remove("commit_stop");
    let ids = publish(&bus, &[(topic, body)]);
    let row = wait_for(Duration::from_secs(30), || async {
        Ok(fedora_ci::db::inbound::get_by_message_id(&store, &ids[0]).await?)
    })
    .await?;
    assert_eq!(row.outcome, "rejected");
    assert!(
        row.reason
            .unwrap_or_default()
            .contains("pullrequest.commit_stop")
    );
    assert_eq!(process_tasks(&store).await?, 0);
    bus.remove().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_is_retried_for_ever() -> anyhow::Result<()> {
    let db = TestDb::sqlite().await?;
    let bus = Bus::new();
    let mut listener = start_listener(
        db.url(),
        &bus,
        &[(
            "FEDORA_CI_MESSAGING__AMQP_URL",
            "amqp://guest:guest@127.0.0.1:1/%2F",
        )],
    );
    // It never had the broker, so it says it cannot reach it (not that it lost it).
    listener.wait_for_count(
        "cannot reach the message broker; retrying",
        3,
        Duration::from_secs(30),
    );
    assert!(listener.child.try_wait()?.is_none(), "the listener gave up");
    assert_eq!(
        listener.count_lines("guest:guest"),
        0,
        "the broker password was logged"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passive_declares_consume_the_queue_the_administrators_made() -> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    let store = db.store().await?;
    let bus = Bus::new();

    // Without the queue, the listener keeps retrying rather than creating it.
    let passive = [("FEDORA_CI_MESSAGING__PASSIVE_DECLARES", "true")];
    let mut early = start_listener(db.url(), &bus, &passive);
    early.wait_for_line(
        &["cannot reach the message broker", "NOT_FOUND"],
        Duration::from_secs(30),
    );
    early.kill();

    // As the playbook does: a durable queue bound to our topics.
    let runtime = lapin::runtime::default_runtime()?;
    let connection = lapin::Connection::connect_with_runtime(
        AMQP_URL,
        lapin::ConnectionProperties::default(),
        runtime,
    )
    .await?;
    let channel = connection.create_channel().await?;
    let durable = lapin::options::QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(
            bus.queue.as_str().into(),
            durable,
            lapin::types::FieldTable::default(),
        )
        .await?;
    let identity = fedora_ci::events::Identity::new(bus.prefix.as_str(), "packit");
    for key in fedora_ci::listener::routing_keys(&bus.prefix, &identity) {
        channel
            .queue_bind(
                bus.queue.as_str().into(),
                "amq.topic".into(),
                key.as_str().into(),
                lapin::options::QueueBindOptions::default(),
                lapin::types::FieldTable::default(),
            )
            .await?;
    }
    connection.close(200, "set up".into()).await?;

    let mut listener = start_listener(db.url(), &bus, &passive);
    listener.wait_for_line(&["consuming fedora-messaging"], Duration::from_secs(30));
    let published = publish(&bus, &relevant());
    wait_for(Duration::from_secs(30), || async {
        Ok((stored_ids(&store).await?.len() >= published.len()).then_some(()))
    })
    .await?;
    bus.remove().await
}
