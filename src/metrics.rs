//! Prometheus metrics of the process, served at `GET /metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::db::tasks::QueueCounts;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskOutcomeLabels {
    task: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueStateLabels {
    queue: String,
    state: String,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    tasks_enqueued: Family<TaskLabels, Counter>,
    tasks_finished: Family<TaskOutcomeLabels, Counter>,
    tasks_dead: Family<TaskLabels, Counter>,
    task_duration: Family<TaskLabels, Histogram>,
    queue_tasks: Family<QueueStateLabels, Gauge>,
    messages: Family<OutcomeLabels, Counter>,
    webhook_rejected: Family<OutcomeLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("fedora_ci");
        let tasks_enqueued = Family::<TaskLabels, Counter>::default();
        registry.register(
            "tasks_enqueued",
            "Tasks added to the queue",
            tasks_enqueued.clone(),
        );
        let tasks_finished = Family::<TaskOutcomeLabels, Counter>::default();
        registry.register(
            "task_attempts",
            "Task attempts by outcome",
            tasks_finished.clone(),
        );
        let tasks_dead = Family::<TaskLabels, Counter>::default();
        registry.register(
            "tasks_dead",
            "Tasks that ran out of attempts or failed permanently",
            tasks_dead.clone(),
        );
        let task_duration = Family::<TaskLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        registry.register(
            "task_duration_seconds",
            "Time one task attempt took",
            task_duration.clone(),
        );
        let queue_tasks = Family::<QueueStateLabels, Gauge>::default();
        registry.register(
            "queue_tasks",
            "Tasks in the queue by state, read from the database at scrape time",
            queue_tasks.clone(),
        );
        let messages = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "messages",
            "Inbound messages by intake outcome: accepted, rejected, irrelevant, duplicate",
            messages.clone(),
        );
        let webhook_rejected = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_rejected",
            "Testing Farm webhook calls refused, by reason: bad_token, not_json, invalid",
            webhook_rejected.clone(),
        );
        Self {
            webhook_rejected,
            messages,
            registry,
            tasks_enqueued,
            tasks_finished,
            tasks_dead,
            task_duration,
            queue_tasks,
        }
    }

    pub fn tasks_enqueued(&self, task: &str) {
        self.tasks_enqueued
            .get_or_create(&TaskLabels {
                task: task.to_owned(),
            })
            .inc();
    }

    pub fn task_finished(&self, task: &str, outcome: &str, took: Duration) {
        self.tasks_finished
            .get_or_create(&TaskOutcomeLabels {
                task: task.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.task_duration
            .get_or_create(&TaskLabels {
                task: task.to_owned(),
            })
            .observe(took.as_secs_f64());
    }

    pub fn messages(&self, outcome: &str, count: usize) {
        if count > 0 {
            self.messages
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc_by(count as u64);
        }
    }

    pub fn webhook_rejected(&self, reason: &str) {
        self.webhook_rejected
            .get_or_create(&OutcomeLabels {
                outcome: reason.to_owned(),
            })
            .inc();
    }

    pub fn task_dead(&self, task: &str) {
        self.tasks_dead
            .get_or_create(&TaskLabels {
                task: task.to_owned(),
            })
            .inc();
    }

    /// Replaces the queue gauges with fresh counts.
    pub fn set_queue_counts(&self, counts: &[QueueCounts]) {
        self.queue_tasks.clear();
        for count in counts {
            for (state, value) in [
                ("ready", count.ready),
                ("scheduled", count.scheduled),
                ("running", count.running),
                ("dead", count.dead),
            ] {
                self.queue_tasks
                    .get_or_create(&QueueStateLabels {
                        queue: count.queue.clone(),
                        state: state.to_owned(),
                    })
                    .set(value);
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
