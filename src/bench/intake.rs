//! `fedora-ci bench intake`: a real `fedora-ci listen` process drains a RabbitMQ queue of
//! captured messages into PostgreSQL, storing before it acknowledges.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::Value;

use crate::db::{ConnectSettings, Store};
use crate::events::{Identity, envelope};
use crate::intake::{self, Incoming, Verdict};
use crate::listener::routing_keys;

const PREFIX: &str = "org.fedoraproject.bench";
const OWNER: &str = "packit";

pub async fn run(
    database_url: &str,
    amqp_url: &str,
    count: usize,
    relevant_percent: usize,
    fixtures: &Path,
) -> anyhow::Result<()> {
    let stream = build_stream(fixtures, count, relevant_percent)?;
    let relevant = stream.iter().filter(|(_, _, relevant)| *relevant).count();
    println!("{count} messages, {relevant} for Fedora CI ({relevant_percent} %)");

    let filter_rate = filtering_rate(&stream);
    println!(
        "filtering alone (prefilter + parse of the relevant), one core: {filter_rate:.0} msg/s"
    );

    let schema = format!("bench_intake_{}", std::process::id());
    let separator = if database_url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{database_url}{separator}options=-c%20search_path%3D{schema}");
    let admin = Store::connect(database_url, &ConnectSettings::default()).await?;
    create_schema(&admin, &schema).await?;
    let store = Store::connect(&schema_url, &ConnectSettings::default()).await?;
    store.migrate().await?;

    let queue = format!("fedora-ci-bench-{}", uuid::Uuid::new_v4());
    let published = Instant::now();
    publish(amqp_url, &queue, &stream).await?;
    println!(
        "published and confirmed in {:.1} s",
        published.elapsed().as_secs_f64()
    );

    let measured = drain_with_listener(&schema_url, amqp_url, &queue, &store, relevant).await;
    store.close().await;
    drop_schema(&admin, &schema).await?;
    delete_queue(amqp_url, &queue).await?;
    let (elapsed, peak_kib) = measured?;
    println!(
        "end to end (consume, filter, store before ack): {:.0} msg/s ({} messages in {:.2} s); listener peak RSS {:.1} MiB",
        count as f64 / elapsed.as_secs_f64(),
        count,
        elapsed.as_secs_f64(),
        peak_kib as f64 / 1024.0
    );
    Ok(())
}

/// (topic, body, relevant) in a fixed interleaving: every 100 messages hold
/// `relevant_percent` relevant ones.
fn build_stream(
    fixtures: &Path,
    count: usize,
    relevant_percent: usize,
) -> anyhow::Result<Vec<(String, Vec<u8>, bool)>> {
    let read = |name: &str| -> anyhow::Result<(String, Value)> {
        let path = fixtures.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let message = envelope::decode(
            &bytes,
            Some("org.fedoraproject.prod.buildsys.task.state.change"),
        )?
        .into_iter()
        .next()
        .context("empty fixture")?;
        let topic = message.topic.replace("org.fedoraproject.prod", PREFIX);
        Ok((topic, serde_json::from_slice(&message.body)?))
    };
    let relevant = [
        "packit-service/pagure_pr_new.json",
        "packit-service/pagure_pr_updated.json",
        "packit-service/pagure_pr_rebased.json",
        "packit-service/koji_build_scratch_start.json",
        "packit-service/koji_build_scratch_end.json",
    ]
    .iter()
    .map(|name| read(name))
    .collect::<anyhow::Result<Vec<_>>>()?;
    let mut irrelevant = vec![
        read("packit-service/koji_build_completed_rawhide.json")?,
        read("packit-service/pagure_pr_flag_updated.json")?,
        read("packit-service/pagure_pr_new_no_fork.json")?,
    ];
    // The bulk of the real bus: other people's Koji tasks.
    let (topic, mut other) = read("packit-service/koji_build_scratch_end.json")?;
    other["owner"] = Value::from("koschei");
    irrelevant.push((topic, other));

    let mut stream = Vec::with_capacity(count);
    for n in 0..count {
        let is_relevant = n % 100 < relevant_percent;
        let (topic, body) = if is_relevant {
            &relevant[n % relevant.len()]
        } else {
            &irrelevant[n % irrelevant.len()]
        };
        stream.push((topic.clone(), serde_json::to_vec(body)?, is_relevant));
    }
    Ok(stream)
}

fn filtering_rate(stream: &[(String, Vec<u8>, bool)]) -> f64 {
    let identity = Identity::new(PREFIX, OWNER);
    let messages: Vec<Incoming> = stream
        .iter()
        .map(|(topic, body, _)| Incoming {
            message_id: None,
            topic: topic.clone(),
            headers: Value::Null,
            body: body.clone(),
            received_at: Utc::now(),
        })
        .collect();
    let started = Instant::now();
    let accepted = messages
        .iter()
        .filter(|message| {
            intake::classify(message, &identity, intake::Origin::Bus) == Verdict::Accept
        })
        .count();
    let rate = messages.len() as f64 / started.elapsed().as_secs_f64();
    let expected = stream.iter().filter(|(_, _, relevant)| *relevant).count();
    if accepted != expected {
        eprintln!("warning: {accepted} accepted, {expected} expected");
    }
    rate
}

async fn amqp(amqp_url: &str) -> anyhow::Result<Connection> {
    let runtime = lapin::runtime::default_runtime()?;
    Ok(
        Connection::connect_with_runtime(amqp_url, ConnectionProperties::default(), runtime)
            .await?,
    )
}

async fn publish(
    amqp_url: &str,
    queue: &str,
    stream: &[(String, Vec<u8>, bool)],
) -> anyhow::Result<()> {
    let connection = amqp(amqp_url).await?;
    let channel = connection.create_channel().await?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.into(), durable, FieldTable::default())
        .await?;
    for key in routing_keys(PREFIX, &Identity::new(PREFIX, OWNER)) {
        channel
            .queue_bind(
                queue.into(),
                "amq.topic".into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut confirms = Vec::with_capacity(stream.len());
    for (n, (topic, body, _)) in stream.iter().enumerate() {
        let properties = BasicProperties::default()
            .with_message_id(format!("bench-{n}").into())
            .with_delivery_mode(2);
        let confirm = channel
            .basic_publish(
                "amq.topic".into(),
                topic.as_str().into(),
                BasicPublishOptions::default(),
                body,
                properties,
            )
            .await?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        confirm.await?;
    }
    connection.close(200, "published".into()).await?;
    Ok(())
}

/// Runs `fedora-ci listen` until every relevant message is stored; returns the time taken
/// and the listener's peak resident memory in KiB.
async fn drain_with_listener(
    schema_url: &str,
    amqp_url: &str,
    queue: &str,
    store: &Store,
    relevant: usize,
) -> anyhow::Result<(Duration, u64)> {
    let started = Instant::now();
    let mut listener = tokio::process::Command::new(std::env::current_exe()?)
        .arg("listen")
        .env_remove("FEDORA_CI_CONFIG")
        .env("FEDORA_CI_DATABASE_URL", schema_url)
        .env("FEDORA_CI_FAS_USER", OWNER)
        .env("FEDORA_CI_MESSAGING__AMQP_URL", amqp_url)
        .env("FEDORA_CI_MESSAGING__QUEUE", queue)
        .env("FEDORA_CI_MESSAGING__TOPIC_PREFIX", PREFIX)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = listener.id().context("listener pid")?;
    loop {
        let stored: i64 = match store {
            Store::Postgres(pool) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages")
                    .fetch_one(pool)
                    .await?
            }
            Store::Sqlite(pool) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM inbound_messages")
                    .fetch_one(pool)
                    .await?
            }
        };
        if stored as usize >= relevant {
            break;
        }
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("only {stored} of {relevant} messages stored after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let peak = peak_rss_kib(pid).unwrap_or(0);
    let _ = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    let _ = listener.wait().await;
    Ok((elapsed, peak))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn create_schema(admin: &Store, schema: &str) -> anyhow::Result<()> {
    let Store::Postgres(pool) = admin else {
        anyhow::bail!("bench intake measures PostgreSQL");
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(pool)
        .await?;
    Ok(())
}

async fn drop_schema(admin: &Store, schema: &str) -> anyhow::Result<()> {
    if let Store::Postgres(pool) = admin {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(pool)
            .await?;
    }
    Ok(())
}

async fn delete_queue(amqp_url: &str, queue: &str) -> anyhow::Result<()> {
    let connection = amqp(amqp_url).await?;
    let channel = connection.create_channel().await?;
    channel
        .queue_delete(queue.into(), QueueDeleteOptions::default())
        .await?;
    connection.close(200, "done".into()).await?;
    Ok(())
}
