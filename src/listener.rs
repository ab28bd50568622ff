//! The fedora-messaging consumer (`fedora-ci listen`): AMQP deliveries in, stored messages out.
//!
//! It connects the way fedora-messaging's `fedora.toml` does (TLS, client certificate with
//! SASL EXTERNAL, a durable queue bound to `amq.topic` per topic), collects deliveries into
//! batches, hands each batch to [`intake::store_batch`] and acknowledges the batch (one
//! `basic.ack` with `multiple`) only after that transaction committed. While the database is
//! down nothing is acknowledged and the batch is retried; on any broker trouble it reconnects
//! with backoff, for ever.
//!
//! What it knows of the broker (never connected, connected, reconnecting; connections made,
//! failed attempts, the last error with the URL's password redacted) is kept in
//! [`broker_status`] for the health endpoints and in the `fedora_ci_broker_*` metrics.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::secret::redact_url;
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable};
use lapin::uri::{AMQPUri, SASLMechanism};
use lapin::{Connection, ConnectionProperties, message::Delivery};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::{MessagingConfig, PUBLIC_AMQP_URL};
use crate::db::Store;
use crate::events::{ForgeKind, Identity, Topic};
use crate::intake::{self, Incoming};
use crate::tasks::backoff;

/// Fedora's public broker CA and the public client certificate fedora-messaging ships
/// (see certs/fedora-messaging/SOURCES.md).
const PUBLIC_CA: &str = include_str!("../certs/fedora-messaging/cacert.pem");
const PUBLIC_CERT: &[u8] = include_bytes!("../certs/fedora-messaging/fedora-cert.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../certs/fedora-messaging/fedora-key.pem");

/// The routing keys the listener binds, under the configured topic prefix: the topics of
/// the forges `identity` serves, Koji and Log Detective.
pub fn routing_keys(topic_prefix: &str, identity: &Identity) -> Vec<String> {
    Topic::ALL
        .iter()
        .filter(|topic| **topic != Topic::TestingFarmResults)
        .filter(|topic| match topic.forge() {
            Some(ForgeKind::Forgejo) => identity.forgejo.is_some(),
            Some(ForgeKind::Pagure) | None => true,
        })
        .map(|topic| format!("{topic_prefix}.{}", topic.name()))
        .collect()
}

/// Where the listener stands with the broker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerState {
    /// No attempt has reached the point of consuming yet.
    NeverConnected,
    /// Consuming.
    Connected,
    /// It was connected, lost the broker and tries again.
    Reconnecting,
}

/// The listener's view of the broker, as the health endpoints show it.
#[derive(Clone, Debug, Serialize)]
pub struct BrokerStatus {
    pub state: BrokerState,
    /// The broker's URL, password redacted.
    pub broker: String,
    /// Attempts that reached the point of consuming.
    pub connections: u64,
    /// Attempts that failed before consuming, and connections lost since.
    pub connection_failures: u64,
    /// The last failure, password redacted.
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub connected_since: Option<DateTime<Utc>>,
}

fn status_cell() -> &'static OnceLock<Mutex<BrokerStatus>> {
    static STATUS: OnceLock<Mutex<BrokerStatus>> = OnceLock::new();
    &STATUS
}

/// The broker status of the listener running in this process; `None` if none runs here.
pub fn broker_status() -> Option<BrokerStatus> {
    let cell = status_cell().get()?;
    Some(match cell.lock() {
        Ok(status) => status.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    })
}

fn update_status(change: impl FnOnce(&mut BrokerStatus)) {
    if let Some(cell) = status_cell().get() {
        let mut status = match cell.lock() {
            Ok(status) => status,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut status);
    }
}

/// Starts the status of a listener of `broker` (the first listener's; one runs per process).
pub fn start_status(broker: &str) {
    let _ = status_cell().set(Mutex::new(BrokerStatus {
        state: BrokerState::NeverConnected,
        broker: redact_url(broker),
        connections: 0,
        connection_failures: 0,
        last_error: None,
        last_error_at: None,
        connected_since: None,
    }));
    crate::metrics::global().set_broker_connected(false);
}

/// Consuming started.
fn mark_connected() {
    update_status(|status| {
        status.state = BrokerState::Connected;
        status.connections += 1;
        status.connected_since = Some(Utc::now());
    });
    let metrics = crate::metrics::global();
    metrics.broker_connection_attempt(true);
    metrics.set_broker_connected(true);
}

/// An attempt failed or a connection was lost; returns whether the broker was ever reached.
fn mark_failed(error: String, was_consuming: bool) -> bool {
    let mut ever_connected = false;
    update_status(|status| {
        ever_connected = status.connections > 0;
        status.state = if ever_connected {
            BrokerState::Reconnecting
        } else {
            BrokerState::NeverConnected
        };
        status.connection_failures += 1;
        status.last_error = Some(error);
        status.last_error_at = Some(Utc::now());
        status.connected_since = None;
    });
    let metrics = crate::metrics::global();
    if !was_consuming {
        metrics.broker_connection_attempt(false);
    }
    metrics.set_broker_connected(false);
    ever_connected
}

/// `text` with the broker URL's password (and the URL itself) redacted.
pub fn redact_broker_secret(text: &str, url: &str) -> String {
    let mut text = text.replace(url, &redact_url(url));
    if let Some(password) = url_password(url).filter(|password| !password.is_empty()) {
        text = text.replace(password, "[redacted]");
        // lapin may print it percent-decoded.
        if let Ok(decoded) = percent_decode(password)
            && !decoded.is_empty()
        {
            text = text.replace(&decoded, "[redacted]");
        }
    }
    text
}

fn url_password(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    userinfo.split_once(':').map(|(_, password)| password)
}

fn percent_decode(text: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(out)
}

/// Consumes until `shutdown`, reconnecting after every failure.
pub async fn run(
    config: &MessagingConfig,
    store: &Store,
    identity: &Identity,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let url = config.amqp_url.expose();
    start_status(url);
    let tls = tls_config(config)?;
    let queue = config.queue.clone();
    let mut failures = 0;
    while !shutdown.is_cancelled() {
        let mut consuming = false;
        let session = consume(
            config,
            queue.as_deref(),
            tls.clone(),
            store,
            identity,
            shutdown,
            &mut consuming,
        );
        let result = session.await;
        match result {
            Ok(()) => {
                crate::metrics::global().set_broker_connected(false);
                return Ok(());
            }
            // Unstored deliveries stay unacknowledged: the broker redelivers them.
            Err(_) if shutdown.is_cancelled() => {
                crate::metrics::global().set_broker_connected(false);
                return Ok(());
            }
            Err(error) => {
                failures += 1;
                let error = redact_broker_secret(&format!("{error:#}"), url);
                let ever_connected = mark_failed(error.clone(), consuming);
                let wait = backoff(Duration::from_secs(1), failures).min(Duration::from_secs(60));
                let broker = redact_url(url);
                if ever_connected {
                    warn!(%broker, %error, attempt = failures, retry_in = ?wait, "lost the message broker; reconnecting");
                } else {
                    warn!(%broker, %error, attempt = failures, retry_in = ?wait, "cannot reach the message broker; retrying");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    Ok(())
}

/// One connection's life: declare, bind, consume until shutdown or an error.
async fn consume(
    config: &MessagingConfig,
    queue: Option<&str>,
    tls: OwnedTLSConfig,
    store: &Store,
    identity: &Identity,
    shutdown: &CancellationToken,
    consuming: &mut bool,
) -> anyhow::Result<()> {
    let mut uri: AMQPUri = config.amqp_url.expose().parse().map_err(|error: String| {
        anyhow::anyhow!("messaging.amqp_url is not an AMQP URL: {error}")
    })?;
    if tls.identity.is_some() {
        uri.query.auth_mechanism = Some(SASLMechanism::External);
    }
    let properties = ConnectionProperties::default()
        .with_connection_name(format!("fedora-ci listener {}", std::process::id()).into());
    let runtime = lapin::runtime::default_runtime()?;
    let connection = Connection::connect_uri_with_config(uri, properties, tls, runtime)
        .await
        .context("connecting")?;
    let channel = connection
        .create_channel()
        .await
        .context("opening a channel")?;
    channel
        .basic_qos(config.prefetch, BasicQosOptions::default())
        .await
        .context("setting prefetch")?;

    // A configured queue is durable and survives us; without one, a fresh UUID that goes away
    // with the connection.
    let (name, options) = match queue {
        Some(name) => (
            name.to_owned(),
            QueueDeclareOptions {
                durable: true,
                passive: config.passive_declares,
                ..Default::default()
            },
        ),
        None => (
            uuid::Uuid::new_v4().to_string(),
            QueueDeclareOptions {
                auto_delete: true,
                exclusive: true,
                ..Default::default()
            },
        ),
    };
    channel
        .queue_declare(name.as_str().into(), options, FieldTable::default())
        .await
        .with_context(|| format!("declaring queue {name}"))?;
    // With passive declares the queue and its bindings are the broker administrators' (as in
    // Fedora's infrastructure, where the service's user may not configure): only check it.
    let keys = if config.passive_declares {
        Vec::new()
    } else {
        routing_keys(&config.topic_prefix, identity)
    };
    for key in keys {
        channel
            .queue_bind(
                name.as_str().into(),
                config.exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("binding {key}"))?;
    }
    let mut consumer = channel
        .basic_consume(
            name.as_str().into(),
            "fedora-ci".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .context("starting to consume")?;
    info!(queue = %name, durable = queue.is_some(), "consuming fedora-messaging");
    *consuming = true;
    mark_connected();

    let batch_wait = Duration::from_millis(config.batch_wait_ms);
    let mut batch: Vec<Delivery> = Vec::with_capacity(config.batch_size);
    loop {
        let next = if batch.is_empty() {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                next = consumer.next() => next,
            }
        } else {
            match tokio::time::timeout(batch_wait, consumer.next()).await {
                Ok(next) => next,
                Err(_) => {
                    settle(store, identity, &mut batch, shutdown).await?;
                    continue;
                }
            }
        };
        match next {
            Some(Ok(delivery)) => batch.push(delivery),
            Some(Err(error)) => return Err(error).context("receiving"),
            None => anyhow::bail!("the broker closed the consumer"),
        }
        if batch.len() >= config.batch_size {
            settle(store, identity, &mut batch, shutdown).await?;
        }
    }
    // Shutdown: what is not stored stays unacknowledged and is redelivered to the next listener.
    let _ = connection.close(200, "shutting down".into()).await;
    Ok(())
}

/// Stores the batch (retrying while the database is down) and then acknowledges it.
async fn settle(
    store: &Store,
    identity: &Identity,
    batch: &mut Vec<Delivery>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let messages: Vec<Incoming> = batch.iter_mut().map(incoming).collect();
    let mut failures = 0;
    loop {
        match intake::store_batch(store, identity, &messages, intake::Origin::Bus).await {
            Ok(report) => {
                debug!(?report, "stored a batch");
                break;
            }
            Err(error) => {
                failures += 1;
                let wait =
                    backoff(Duration::from_millis(500), failures).min(Duration::from_secs(30));
                warn!(%error, messages = messages.len(), retry_in = ?wait, "cannot store messages; they stay unacknowledged");
                tokio::select! {
                    _ = shutdown.cancelled() => anyhow::bail!("shut down before the batch was stored"),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    if let Some(last) = batch.last() {
        last.acker
            .ack(BasicAckOptions { multiple: true })
            .await
            .context("acknowledging a stored batch")?;
    }
    batch.clear();
    Ok(())
}

/// The message of `delivery`, taking its body (only the delivery tag is needed afterwards).
fn incoming(delivery: &mut Delivery) -> Incoming {
    let headers = delivery
        .properties
        .headers()
        .as_ref()
        .map(|table| field_table_to_json(table, 0))
        .unwrap_or_else(|| Value::Object(Map::new()));
    Incoming {
        message_id: delivery
            .properties
            .message_id()
            .as_ref()
            .map(|id| id.to_string()),
        topic: delivery.routing_key.to_string(),
        headers,
        body: std::mem::take(&mut delivery.data),
        received_at: Utc::now(),
    }
}

/// How deep stored headers go. fedora-messaging's are flat; deeper tables and arrays are
/// stored as a marker, so that every stored row reads back (serde_json reads 128 levels).
const MAX_HEADER_DEPTH: usize = 32;
const TOO_DEEP: &str = "(nested too deep, not stored)";

fn field_table_to_json(table: &FieldTable, depth: usize) -> Value {
    if depth >= MAX_HEADER_DEPTH {
        return Value::String(TOO_DEEP.to_owned());
    }
    let map = table
        .inner()
        .iter()
        .map(|(key, value)| (key.to_string(), amqp_to_json(value, depth + 1)))
        .collect();
    Value::Object(map)
}

fn amqp_to_json(value: &AMQPValue, depth: usize) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => Value::from(*n),
        AMQPValue::ShortShortUInt(n) => Value::from(*n),
        AMQPValue::ShortInt(n) => Value::from(*n),
        AMQPValue::ShortUInt(n) => Value::from(*n),
        AMQPValue::LongInt(n) => Value::from(*n),
        AMQPValue::LongUInt(n) => Value::from(*n),
        AMQPValue::LongLongInt(n) => Value::from(*n),
        AMQPValue::Float(n) => Value::from(*n),
        AMQPValue::Double(n) => Value::from(*n),
        AMQPValue::Timestamp(n) => Value::from(*n),
        AMQPValue::ShortString(s) => Value::String(s.to_string()),
        AMQPValue::LongString(s) => Value::String(s.to_string()),
        AMQPValue::FieldArray(_) if depth >= MAX_HEADER_DEPTH => Value::String(TOO_DEEP.to_owned()),
        AMQPValue::FieldArray(items) => Value::Array(
            items
                .as_slice()
                .iter()
                .map(|item| amqp_to_json(item, depth + 1))
                .collect(),
        ),
        AMQPValue::FieldTable(table) => field_table_to_json(table, depth),
        AMQPValue::Void => Value::Null,
        other => Value::String(format!("{other:?}")),
    }
}

/// TLS settings: the configured files, or for the public broker with none configured, the
/// public CA and client certificate that ship with the binary.
fn tls_config(config: &MessagingConfig) -> anyhow::Result<OwnedTLSConfig> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))
    };
    let public_broker = config.amqp_url.expose() == PUBLIC_AMQP_URL;
    let cert_chain = match &config.ca_cert {
        Some(path) => Some(String::from_utf8_lossy(&read(path)?).into_owned()),
        None if public_broker => Some(PUBLIC_CA.to_owned()),
        None => None,
    };
    let identity = match (&config.certfile, &config.keyfile) {
        (Some(cert), Some(key)) => Some(OwnedIdentity::PKCS8 {
            pem: read(cert)?,
            key: read(key)?,
        }),
        _ if public_broker => Some(OwnedIdentity::PKCS8 {
            pem: PUBLIC_CERT.to_vec(),
            key: PUBLIC_KEY.to_vec(),
        }),
        _ => None,
    };
    Ok(OwnedTLSConfig {
        identity,
        cert_chain,
    })
}
