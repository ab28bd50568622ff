//! What `fedora-ci-fakes --demo` adds to the fakes so that one pull request goes from opened
//! to its final flags with nobody driving the fakes: the fake Pagure knows the pull request
//! of a captured "PR opened" message, and the fake Koji's task state changes reach the
//! service through a real AMQP broker, as Fedora's hub publishes them.
//!
//! (The other two moves are settings of the fakes: [`FakeKojiConfig::auto_progress`] and
//! [`FakeTestingFarm::set_auto_advance`].)
//!
//! [`FakeKojiConfig::auto_progress`]: crate::fakes::koji::FakeKojiConfig::auto_progress
//! [`FakeTestingFarm::set_auto_advance`]: crate::fakes::testing_farm::FakeTestingFarm::set_auto_advance

use crate::fakes::koji::{FakeKojiHub, TaskStateChange};
use crate::fakes::pagure::FakePagure;
use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::Value as Json;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The captured "PR opened" message the demo's pull request comes from (with its `topic`):
/// `rpms/optee_os` PR 2 by `zbyszek`, head commit `889f07a`.
pub const DEMO_MESSAGE: &str =
    include_str!("../../tests/fixtures/packit-service/pagure_pr_new.json");

/// The topic prefix of the fakes' own messages (Koji's hub publishes under `prod`).
const HUB_TOPIC_PREFIX: &str = "org.fedoraproject.prod";

/// The demo's pull request, as seeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoPullRequest {
    /// `rpms/optee_os`.
    pub project: String,
    pub id: u64,
    /// The FAS user who opened it.
    pub author: String,
    pub head_commit: String,
}

/// Registers the pull request of [`DEMO_MESSAGE`] (and its project, with only a `rawhide`
/// branch) on the fake Pagure, so that what the service reads about it exists.
pub fn seed_pull_request(pagure: &FakePagure) -> anyhow::Result<DemoPullRequest> {
    let message: Json = serde_json::from_str(DEMO_MESSAGE).context("the demo message")?;
    let pull_request = message["pullrequest"].clone();
    let text = |value: &Json, what: &str| {
        value
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the demo message has no {what}"))
    };
    let seeded = DemoPullRequest {
        project: text(&pull_request["project"]["url_path"], "project")?,
        id: pull_request["id"]
            .as_u64()
            .context("the demo message has no PR id")?,
        author: text(&pull_request["user"]["name"], "PR author")?,
        head_commit: text(&pull_request["commit_stop"], "head commit")?,
    };
    pagure.add_pull_request(pull_request);
    pagure.set_branches(&seeded.project, &["rawhide"]);
    Ok(seeded)
}

/// Where the fake Koji publishes its task state changes.
#[derive(Clone, Debug)]
pub struct MessageBus {
    /// `amqp://user:password@host:5672/%2F`.
    pub amqp_url: String,
    pub exchange: String,
    /// Replaces `org.fedoraproject.prod` in the hub's topics.
    pub topic_prefix: String,
}

impl MessageBus {
    /// The routing key of `message` on this bus.
    pub fn topic(&self, message: &TaskStateChange) -> String {
        match message
            .topic
            .strip_prefix(HUB_TOPIC_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
        {
            Some(rest) => format!("{}.{rest}", self.topic_prefix),
            None => message.topic.clone(),
        }
    }
}

/// Publishes every task state change of `koji` from now on to `bus`, as fedora-messaging
/// would (a JSON body, a fresh message id, the schema header), each after the previous one,
/// retrying while the broker cannot be reached; until the runtime stops.
pub fn forward_koji_messages(koji: &FakeKojiHub, bus: MessageBus) -> tokio::task::JoinHandle<()> {
    let mut messages = koji.subscribe();
    tokio::spawn(async move {
        let mut publisher: Option<Publisher> = None;
        loop {
            let message = match messages.recv().await {
                Ok(message) => message,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "fake Koji: task state changes lost before publishing"
                    );
                    continue;
                }
                Err(RecvError::Closed) => return,
            };
            let topic = bus.topic(&message);
            let mut failures: u32 = 0;
            loop {
                let published = match publisher.as_ref() {
                    Some(publisher) => {
                        publisher
                            .publish(&bus.exchange, &topic, &message.body)
                            .await
                    }
                    None => match Publisher::connect(&bus.amqp_url).await {
                        Ok(connected) => {
                            let published = connected
                                .publish(&bus.exchange, &topic, &message.body)
                                .await;
                            publisher = Some(connected);
                            published
                        }
                        Err(error) => Err(error),
                    },
                };
                match published {
                    Ok(()) => {
                        tracing::info!(%topic, task = %message.body["id"], old = %message.body["old"],
                                       new = %message.body["new"], "fake Koji published a task state change");
                        break;
                    }
                    Err(error) => {
                        publisher = None;
                        failures += 1;
                        let wait = Duration::from_millis(500 * u64::from(failures.min(20)));
                        tracing::warn!(%topic, retry_in = ?wait, "fake Koji cannot publish: {error:#}");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    })
}

struct Publisher {
    // Kept open for the channel's sake.
    _connection: Connection,
    channel: Channel,
}

impl Publisher {
    async fn connect(amqp_url: &str) -> anyhow::Result<Publisher> {
        let runtime = lapin::runtime::default_runtime()?;
        let properties =
            ConnectionProperties::default().with_connection_name("fedora-ci-fakes koji".into());
        let connection = Connection::connect_with_runtime(amqp_url, properties, runtime)
            .await
            .context("connecting to the broker")?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher {
            _connection: connection,
            channel,
        })
    }

    async fn publish(&self, exchange: &str, topic: &str, body: &Json) -> anyhow::Result<()> {
        let mut headers = FieldTable::default();
        let mut header = |name: &str, value: String| {
            headers.insert(
                ShortString::from(name),
                AMQPValue::LongString(LongString::from(value)),
            );
        };
        header("fedora_messaging_schema", "base.message".to_owned());
        header("fedora_messaging_severity", "20".to_owned());
        header("sent-at", chrono::Utc::now().to_rfc3339());
        let properties = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_message_id(uuid::Uuid::new_v4().to_string().into())
            .with_delivery_mode(2)
            .with_headers(headers);
        let payload = serde_json::to_vec(body)?;
        self.channel
            .basic_publish(
                exchange.into(),
                topic.into(),
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await?
            .await?;
        Ok(())
    }
}

/// The body of [`DEMO_MESSAGE`] without its `topic`, and the topic.
pub fn demo_message() -> anyhow::Result<(String, Json)> {
    let mut body: Json = serde_json::from_str(DEMO_MESSAGE)?;
    let topic = body
        .as_object_mut()
        .and_then(|fields| fields.remove("topic"))
        .and_then(|topic| topic.as_str().map(str::to_owned))
        .context("the demo message has no topic")?;
    Ok((topic, body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_demo_pull_request_is_the_fixture_s() {
        let pagure = FakePagure::start().await.unwrap();
        let seeded = seed_pull_request(&pagure).unwrap();
        assert_eq!(
            seeded,
            DemoPullRequest {
                project: "rpms/optee_os".into(),
                id: 2,
                author: "zbyszek".into(),
                head_commit: "889f07af35d27bbcaf9c535c17a63b974aa42ee3".into(),
            }
        );
        let url = format!("{}/api/0/rpms/optee_os/pull-request/2", pagure.url());
        let answer: Json = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(answer["commit_stop"], json!(seeded.head_commit));
        let (topic, body) = demo_message().unwrap();
        assert_eq!(topic, "org.fedoraproject.prod.pagure.pull-request.new");
        assert!(body.get("topic").is_none());
    }

    #[test]
    fn hub_topics_move_under_the_bus_prefix() {
        let bus = MessageBus {
            amqp_url: String::new(),
            exchange: "amq.topic".into(),
            topic_prefix: "org.fedoraproject.test123".into(),
        };
        let message = TaskStateChange {
            topic: crate::fakes::koji::TASK_STATE_CHANGE_TOPIC.into(),
            body: Json::Null,
        };
        assert_eq!(
            bus.topic(&message),
            "org.fedoraproject.test123.buildsys.task.state.change"
        );
    }
}
