//! Intake on both backends: relevant messages stored once with their task, irrelevant ones
//! never touch the database, malformed ones are recorded with the reason; then processing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::{TestDb, wait_for};
use fedora_ci::config::Config;
use fedora_ci::context::Context;
use fedora_ci::db::{Store, inbound, tasks as rows};
use fedora_ci::events::{Identity, ServedForgejo, envelope};
use fedora_ci::intake::{self, Incoming, IntakeReport};
use fedora_ci::jobs::ProcessMessage;
use fedora_ci::tasks::{Runner, RunnerSettings};
use tokio_util::sync::CancellationToken;

fn fixture(path: &str, id: &str) -> Incoming {
    let full = format!(
        "{}/tests/fixtures/packit-service/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let message = envelope::decode(&std::fs::read(full).unwrap(), None)
        .unwrap()
        .remove(0);
    Incoming {
        message_id: Some(id.to_owned()),
        topic: message.topic,
        headers: serde_json::json!({"sent-at": "2026-11-25T10:00:00+00:00"}),
        body: message.body,
        received_at: Utc::now(),
    }
}

fn identity() -> Identity {
    Identity::new("org.fedoraproject.prod", "packit")
}

async fn count(store: &Store, table_sql: &'static str) -> i64 {
    match store {
        Store::Postgres(pool) => sqlx::query_scalar(table_sql).fetch_one(pool).await.unwrap(),
        Store::Sqlite(pool) => sqlx::query_scalar(table_sql).fetch_one(pool).await.unwrap(),
    }
}

async fn relevant_stored_once_irrelevant_dropped_malformed_recorded(
    db: TestDb,
) -> anyhow::Result<()> {
    let store = db.store().await?;
    let mut broken = fixture("pagure_pr_updated.json", "m-broken");
    broken.body = br#"{"pullrequest": {"id": "not a number"}}"#.to_vec();
    let batch = vec![
        fixture("pagure_pr_new.json", "m-new"),
        fixture("koji_build_scratch_end.json", "m-koji"),
        fixture("koji_build_completed_rawhide.json", "m-build-state"),
        fixture("pagure_pr_new_no_fork.json", "m-pagure-io"),
        broken,
    ];
    let report = intake::store_batch(&store, &identity(), &batch, intake::Origin::Bus).await?;
    assert_eq!(
        report,
        IntakeReport {
            accepted: 2,
            rejected: 1,
            irrelevant: 2,
            duplicates: 0
        }
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM inbound_messages").await,
        3
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM tasks").await, 2);

    let rejected = inbound::get_by_message_id(&store, "m-broken")
        .await?
        .unwrap();
    assert_eq!(rejected.outcome, inbound::REJECTED);
    assert!(rejected.reason.unwrap().contains("pullrequest"));
    let stored = inbound::get_by_message_id(&store, "m-new").await?.unwrap();
    assert_eq!(stored.headers.0["sent-at"], "2026-11-25T10:00:00+00:00");
    assert_eq!(stored.body.as_bytes(), batch[0].body.as_slice());

    // The broker redelivers the whole batch: nothing new, no second task.
    let again = intake::store_batch(&store, &identity(), &batch, intake::Origin::Bus).await?;
    assert_eq!(
        again,
        IntakeReport {
            accepted: 0,
            rejected: 0,
            irrelevant: 2,
            duplicates: 3
        }
    );
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM inbound_messages").await,
        3
    );
    assert_eq!(count(&store, "SELECT COUNT(*) FROM tasks").await, 2);
    Ok(())
}

async fn a_message_without_id_is_keyed_by_its_content(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let mut message = fixture("pagure_pr_new.json", "unused");
    message.message_id = None;
    let first = intake::store_batch(
        &store,
        &identity(),
        std::slice::from_ref(&message),
        intake::Origin::Bus,
    )
    .await?;
    let second = intake::store_batch(
        &store,
        &identity(),
        std::slice::from_ref(&message),
        intake::Origin::Bus,
    )
    .await?;
    assert_eq!((first.accepted, second.duplicates), (1, 1));
    assert!(message.id().starts_with("sha256:"));
    Ok(())
}

async fn workers_process_stored_messages(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let batch = vec![
        fixture("pagure_pr_new.json", "p-1"),
        fixture("koji_build_scratch_end.json", "p-2"),
    ];
    intake::store_batch(&store, &identity(), &batch, intake::Origin::Bus).await?;
    let context = Context::new(store.clone(), Arc::new(Config::default()))?;
    let settings = RunnerSettings {
        poll_interval: Duration::from_millis(50),
        ..RunnerSettings::default()
    };
    let shutdown = CancellationToken::new();
    let handle = Runner::new(store.clone(), context, settings)
        .register::<ProcessMessage>()
        .queue("short", 2)
        .start(shutdown.clone());
    let processed = wait_for(Duration::from_secs(20), || async {
        let counts = inbound::count_by_outcome(&store).await?;
        Ok((counts == [(inbound::PROCESSED.to_owned(), 2)]).then_some(counts))
    })
    .await;
    shutdown.cancel();
    handle.wait().await;
    processed?;
    let koji = inbound::get_by_message_id(&store, "p-2").await?.unwrap();
    assert_eq!(
        koji.reason.as_deref(),
        Some("Koji task 45270170 is CLOSED: Koji task report")
    );
    assert!(koji.processed_at.is_some());
    // What the events caused waits for workers that run the handlers (not this one).
    let pending = rows::list_by_state(&store, "pending", 20).await?;
    assert!(
        pending.iter().all(|task| task.name != "process_message"),
        "{pending:?}"
    );
    assert!(
        pending
            .iter()
            .any(|task| task.name == "run_downstream_koji_scratch_build_report_handler")
    );
    assert_eq!(inbound::oldest_pending(&store).await?, None);
    Ok(())
}

/// A Forgejo message for `rpms/ansible` on forge.fedoraproject.org, from the real
/// synchronized fixture (its `headers` hold the webhook's `authorization`).
fn forgejo_message(id: &str) -> (Incoming, String) {
    let full = format!(
        "{}/tests/fixtures/forgejo/forgejo.pull_request.synchronized.fork.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut message: serde_json::Value =
        serde_json::from_slice(&std::fs::read(full).unwrap()).unwrap();
    let authorization = message["headers"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = &mut message["body"];
    body["repository"]["owner"]["login"] = serde_json::json!("rpms");
    body["repository"]["html_url"] =
        serde_json::json!("https://forge.fedoraproject.org/rpms/ansible");
    body["repository"]["clone_url"] =
        serde_json::json!("https://forge.fedoraproject.org/rpms/ansible.git");
    let incoming = Incoming {
        message_id: Some(id.to_owned()),
        topic: "org.fedoraproject.prod.forgejo.pull_request".to_owned(),
        headers: serde_json::json!({"sent-at": "2026-11-25T10:00:00+00:00"}),
        body: serde_json::to_vec(&message).unwrap(),
        received_at: Utc::now(),
    };
    (incoming, authorization)
}

async fn forgejo_messages_are_stored_without_the_webhooks_headers(
    db: TestDb,
) -> anyhow::Result<()> {
    let store = db.store().await?;
    let serving = identity().serving_forgejo(ServedForgejo {
        web_url: "https://forge.fedoraproject.org".to_owned(),
        own_logins: vec!["fedora-ci".to_owned()],
    });
    let (accepted, authorization) = forgejo_message("f-1");
    let mut broken = forgejo_message("f-2").0;
    broken.body = format!("not json, Authorization: {authorization}").into_bytes();
    // Not served: dropped before the database.
    let report = intake::store_batch(
        &store,
        &identity(),
        std::slice::from_ref(&accepted),
        intake::Origin::Bus,
    )
    .await?;
    assert_eq!(report.irrelevant, 1);
    let report = intake::store_batch(
        &store,
        &serving,
        &[accepted.clone(), broken],
        intake::Origin::Bus,
    )
    .await?;
    assert_eq!((report.accepted, report.rejected), (1, 1));

    let stored = inbound::get_by_message_id(&store, "f-1").await?.unwrap();
    assert!(!stored.body.contains(&authorization));
    let body: serde_json::Value = serde_json::from_str(&stored.body)?;
    assert!(body.get("headers").is_none(), "{body}");
    // What is stored still parses to the same event.
    assert_eq!(
        format!(
            "{:?}",
            fedora_ci::events::parse(&stored.topic, stored.body.as_bytes())?
        ),
        format!(
            "{:?}",
            fedora_ci::events::parse(&accepted.topic, &accepted.body)?
        )
    );
    let rejected = inbound::get_by_message_id(&store, "f-2").await?.unwrap();
    assert!(!rejected.body.contains(&authorization), "{}", rejected.body);
    assert!(
        rejected.body.contains("not a JSON object"),
        "{}",
        rejected.body
    );
    Ok(())
}

on_both_backends!(
    relevant_stored_once_irrelevant_dropped_malformed_recorded,
    a_message_without_id_is_keyed_by_its_content,
    workers_process_stored_messages,
    forgejo_messages_are_stored_without_the_webhooks_headers,
);
