//! Which work an event causes (packit-service's `jobs.py` / `SteveJobs`).
//!
//! [`ProcessMessage`] is the first task of every stored message: it parses the message into
//! an [`Event`] and records the outcome on the inbound row, in the transaction that enqueues
//! whatever the event causes.

use anyhow::Context as _;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::context::Context;
use crate::db::inbound;
use crate::events::{self, Event, Parsed};
use crate::tasks::{self, BackgroundTask};

/// Turns one stored message into its event and the tasks that event causes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessMessage {
    pub inbound_id: i64,
}

impl BackgroundTask for ProcessMessage {
    const NAME: &'static str = "process_message";
    const PRIORITY: i16 = 10;
    type Context = Context;

    async fn run(&self, ctx: &Context) -> anyhow::Result<()> {
        let Some(message) = inbound::get(&ctx.store, self.inbound_id).await? else {
            return Err(tasks::permanent(format!(
                "inbound message {} does not exist",
                self.inbound_id
            )));
        };
        if message.outcome != inbound::PENDING {
            // A second run of this task (at-least-once delivery): the first one finished.
            return Ok(());
        }
        let (outcome, reason) =
            match events::parse_with_reason(&message.topic, message.body.as_bytes()) {
                Ok(Parsed::Event(event)) => (inbound::PROCESSED, describe(&event)),
                Ok(Parsed::Ignored(skip)) => (inbound::IGNORED, skip.to_string()),
                Err(error) => (inbound::REJECTED, error.to_string()),
            };
        let mut tx = ctx.store.begin().await?;
        inbound::finish(&mut tx, message.id, outcome, Some(&reason), Utc::now()).await?;
        tx.commit()
            .await
            .with_context(|| format!("recording the outcome of message {}", message.message_id))?;
        info!(message.id = %message.message_id, topic = %message.topic, outcome, reason, "message processed");
        Ok(())
    }
}

/// One line saying what the event is, for logs and the inbound row.
pub fn describe(event: &Event) -> String {
    match event {
        Event::PullRequestOpened(pr) => format!(
            "pull request {}#{} opened at {}",
            pr.target_repo.url, pr.id, pr.head_commit
        ),
        Event::PullRequestSynchronized {
            pull_request: pr, ..
        } => format!(
            "pull request {}#{} has new head {}",
            pr.target_repo.url, pr.id, pr.head_commit
        ),
        Event::PullRequestComment(comment) => format!(
            "comment {} by {} on {}#{}",
            comment.comment_id,
            comment.pull_request.actor,
            comment.pull_request.target_repo.url,
            comment.pull_request.id
        ),
        Event::PullRequestClosed(closed) => format!(
            "pull request {}#{} closed",
            closed.target_repo.url, closed.id
        ),
        Event::KojiTaskStateChanged(task) => {
            format!("Koji task {} is {}", task.task_id, task.new_state.name())
        }
        Event::LogDetectiveResult(result) => format!(
            "Log Detective analysis {} is {:?}",
            result.analysis_id, result.status
        ),
        Event::TestingFarmResult(notification) => {
            format!("Testing Farm request {} changed", notification.request_id)
        }
    }
}
