//! `POST /api/testing-farm/results` over real HTTP, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::TestDb;
use fedora_ci::api::{App, router};
use fedora_ci::config::{Config, Secret};
use fedora_ci::db::{Store, inbound};
use serde_json::{Value, json};

const TOKEN: &str = "tf-webhook-token";
const REQUEST_ID: &str = "0ea2b5ec-6a5d-4b0a-a2c9-4e0b8a8b0b0c";

async fn serve(store: &Store) -> anyhow::Result<String> {
    let config = Config {
        testing_farm_secret: Some(Secret::new(TOKEN)),
        ..Config::default()
    };
    let app = Arc::new(App {
        store: store.clone(),
        config: Arc::new(config),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/testing-farm/results", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router(app)).await });
    Ok(url)
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    ))
}

async fn stored(store: &Store) -> anyhow::Result<Vec<(String, String, Option<String>)>> {
    const SQL: &str = "SELECT topic, outcome, reason FROM inbound_messages ORDER BY id";
    Ok(match store {
        Store::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
        Store::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await?,
    })
}

async fn good_token_is_stored_and_queued(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let url = serve(&store).await?;
    let body = json!({"request_id": REQUEST_ID, "token": TOKEN}).to_string();
    let (status, answer) = post(&url, body).await?;
    assert_eq!((status, answer), (202, json!({"status": "accepted"})));
    assert_eq!(
        stored(&store).await?,
        [(
            "testing-farm.results".to_owned(),
            inbound::PENDING.to_owned(),
            None
        )]
    );
    let queued = fedora_ci::db::tasks::list_by_state(&store, "pending", 10).await?;
    assert_eq!(
        queued.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["process_message"]
    );
    Ok(())
}

async fn wrong_or_missing_token_is_refused(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let url = serve(&store).await?;
    for body in [
        json!({"request_id": REQUEST_ID, "token": "guess"}),
        json!({"request_id": REQUEST_ID, "token": format!("{TOKEN}x")}),
        json!({"request_id": REQUEST_ID, "token": ""}),
        json!({"request_id": REQUEST_ID}),
    ] {
        let (status, answer) = post(&url, body.to_string()).await?;
        assert_eq!(
            (status, answer),
            (401, json!({"error": "missing or wrong token"})),
            "{body}"
        );
    }
    let (status, _) = post(&url, "not json").await?;
    assert_eq!(status, 400);
    assert!(
        stored(&store).await?.is_empty(),
        "refused calls store nothing"
    );
    Ok(())
}

async fn oversized_body_is_refused(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let url = serve(&store).await?;
    let padding = "x".repeat(64 * 1024);
    let body = json!({"request_id": REQUEST_ID, "token": TOKEN, "padding": padding}).to_string();
    let (status, _) = post(&url, body).await?;
    assert_eq!(status, 413);
    assert!(stored(&store).await?.is_empty());
    Ok(())
}

async fn malformed_request_id_is_recorded_as_rejected(db: TestDb) -> anyhow::Result<()> {
    let store = db.store().await?;
    let url = serve(&store).await?;
    let body = json!({"request_id": "../../etc/passwd", "token": TOKEN}).to_string();
    let (status, answer) = post(&url, body).await?;
    assert_eq!(status, 400, "{answer}");
    let rows = stored(&store).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].1, inbound::REJECTED);
    assert!(
        rows[0]
            .2
            .as_deref()
            .unwrap_or_default()
            .contains("request_id"),
        "{rows:?}"
    );
    assert!(
        fedora_ci::db::tasks::list_by_state(&store, "pending", 10)
            .await?
            .is_empty()
    );
    Ok(())
}

async fn unknown_request_id_is_accepted_for_the_handler_to_judge(db: TestDb) -> anyhow::Result<()> {
    // The webhook may arrive before the submitting task recorded the request id, so the
    // API cannot refuse ids it does not know yet; the results handler reconciles.
    let store = db.store().await?;
    let url = serve(&store).await?;
    let body = json!({"request_id": uuid::Uuid::new_v4().to_string(), "token": TOKEN}).to_string();
    let (status, _) = post(&url, body).await?;
    assert_eq!(status, 202);
    assert_eq!(stored(&store).await?.len(), 1);
    Ok(())
}

on_both_backends!(
    good_token_is_stored_and_queued,
    wrong_or_missing_token_is_refused,
    oversized_body_is_refused,
    malformed_request_id_is_recorded_as_rejected,
    unknown_request_id_is_accepted_for_the_handler_to_judge,
);
