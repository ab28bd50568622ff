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
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceOutcomeLabels {
    service: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
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
    outbound_calls: Family<ServiceOutcomeLabels, Counter>,
    broker_connected: Gauge,
    broker_connection_attempts: Family<OutcomeLabels, Counter>,
    shadow_mode: Gauge,
    pipeline: PipelineMetrics,
}

/// The commit this binary was built from: `FEDORA_CI_COMMIT` at build time, else "unknown".
pub fn build_commit() -> &'static str {
    option_env!("FEDORA_CI_COMMIT")
        .filter(|commit| !commit.is_empty())
        .unwrap_or("unknown")
}

/// Fedora CI's own metrics, named as packit-service names them (with the `fedora_ci_` prefix).
struct PipelineMetrics {
    koji_builds_queued: Counter,
    koji_builds_started: Counter,
    koji_builds_finished: Family<ResultLabels, Counter>,
    koji_build_finished_time: Histogram,
    test_runs_queued: Counter,
    test_runs_started: Counter,
    test_runs_finished: Family<ResultLabels, Counter>,
    test_run_finished_time: Histogram,
    first_initial_status_time: Histogram,
    log_detective_runs_started: Counter,
    log_detective_runs_finished: Counter,
    log_detective_run_finished_time: Histogram,
}

/// packit-service's buckets (`packit_service/worker/monitoring.py`), `+Inf` implied.
/// `fedora_ci_koji_build_finished_time` (213-226) and `fedora_ci_test_run_finished_time`
/// (246-259): half an hour to a day.
const BUILD_AND_TEST_BUCKETS: [f64; 6] = [1800.0, 3600.0, 10800.0, 21600.0, 43200.0, 86400.0];
/// `fedora_ci_first_initial_status_time` (261-266).
const FIRST_INITIAL_STATUS_BUCKETS: [f64; 7] = [5.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0];
/// `log_detective_run_finished_time` (174-186): 180 doubled four times.
const LOG_DETECTIVE_RUN_BUCKETS: [f64; 5] = [180.0, 360.0, 720.0, 1440.0, 2880.0];

impl PipelineMetrics {
    fn register(registry: &mut Registry) -> Self {
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let family = |registry: &mut Registry, name: &str, help: &str| {
            let family = Family::<ResultLabels, Counter>::default();
            registry.register(name, help, family.clone());
            family
        };
        let koji_build_finished_time = Histogram::new(BUILD_AND_TEST_BUCKETS);
        let test_run_finished_time = Histogram::new(BUILD_AND_TEST_BUCKETS);
        let first_initial_status_time = Histogram::new(FIRST_INITIAL_STATUS_BUCKETS);
        let log_detective_run_finished_time = Histogram::new(LOG_DETECTIVE_RUN_BUCKETS);
        let metrics = PipelineMetrics {
            koji_builds_queued: counter(
                registry,
                "koji_builds_queued",
                "Scratch builds submitted to Koji",
            ),
            koji_builds_started: counter(
                registry,
                "koji_builds_started",
                "Scratch builds Koji started",
            ),
            koji_builds_finished: family(
                registry,
                "koji_builds_finished",
                "Scratch builds that finished, by result: success, failure, canceled",
            ),
            koji_build_finished_time: koji_build_finished_time.clone(),
            test_runs_queued: counter(
                registry,
                "test_runs_queued",
                "Testing Farm requests submitted",
            ),
            test_runs_started: counter(
                registry,
                "test_runs_started",
                "Testing Farm requests that started running",
            ),
            test_runs_finished: family(
                registry,
                "test_runs_finished",
                "Testing Farm requests that finished, by result (packit's labels: passed, \
                 failed, error, canceled, skipped, needs_inspection, complete, unknown)",
            ),
            test_run_finished_time: test_run_finished_time.clone(),
            first_initial_status_time: first_initial_status_time.clone(),
            log_detective_runs_started: counter(
                registry,
                "log_detective_runs_started",
                "Log Detective analyses started",
            ),
            log_detective_runs_finished: counter(
                registry,
                "log_detective_runs_finished",
                "Log Detective analyses finished",
            ),
            log_detective_run_finished_time: log_detective_run_finished_time.clone(),
        };
        registry.register(
            "koji_build_finished_time",
            "Seconds from submitting a scratch build to its end",
            koji_build_finished_time,
        );
        registry.register(
            "test_run_finished_time",
            "Seconds from submitting tests to their result",
            test_run_finished_time,
        );
        registry.register(
            "first_initial_status_time",
            "Seconds from receiving a comment command to its first \"The task was accepted.\" flag",
            first_initial_status_time,
        );
        registry.register(
            "log_detective_run_finished_time",
            "Time it takes from submitting the Log Detective run to set finished status",
            log_detective_run_finished_time,
        );
        metrics
    }
}

fn seconds_since(submitted: Option<chrono::NaiveDateTime>) -> Option<f64> {
    let submitted = submitted?;
    let seconds = (chrono::Utc::now().naive_utc() - submitted).num_milliseconds() as f64 / 1000.0;
    (seconds >= 0.0).then_some(seconds)
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
            "Testing Farm webhook calls refused, by reason: content_type (not JSON), unreadable (too large), not_json, bad_token, invalid",
            webhook_rejected.clone(),
        );
        let outbound_calls = Family::<ServiceOutcomeLabels, Counter>::default();
        registry.register(
            "outbound_calls",
            "Calls that change something in an external service (koji, testing-farm, pagure, \
             logdetective), by outcome: succeeded, failed, planned (shadow mode: recorded, not sent)",
            outbound_calls.clone(),
        );
        let broker_connected = Gauge::default();
        registry.register(
            "broker_connected",
            "1 while the listener consumes from the message broker, else 0",
            broker_connected.clone(),
        );
        let broker_connection_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "broker_connection_attempts",
            "The listener's attempts to connect to the message broker and consume, by outcome: \
             succeeded, failed",
            broker_connection_attempts.clone(),
        );
        let shadow_mode = Gauge::default();
        registry.register(
            "shadow_mode",
            "1 when calls that would change something are only recorded (dry_run), else 0",
            shadow_mode.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                commit: build_commit().to_owned(),
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the labels say which version and commit run",
            build_info,
        );
        let pipeline = PipelineMetrics::register(&mut registry);
        Self {
            pipeline,
            outbound_calls,
            broker_connected,
            broker_connection_attempts,
            shadow_mode,
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

    pub fn fedora_ci_koji_build_queued(&self) {
        self.pipeline.koji_builds_queued.inc();
    }

    /// A Koji task state change of one of our builds.
    pub fn fedora_ci_koji_build_state(
        &self,
        state: crate::events::KojiTaskState,
        submitted: Option<chrono::NaiveDateTime>,
    ) {
        use crate::events::KojiTaskState::*;
        match state {
            Open => {
                self.pipeline.koji_builds_started.inc();
            }
            Closed | Failed | Canceled => {
                let result = match state {
                    Closed => "success",
                    Failed => "failure",
                    _ => "canceled",
                };
                self.pipeline
                    .koji_builds_finished
                    .get_or_create(&ResultLabels {
                        result: result.to_owned(),
                    })
                    .inc();
                if let Some(seconds) = seconds_since(submitted) {
                    self.pipeline.koji_build_finished_time.observe(seconds);
                }
            }
            Free | Assigned => {}
        }
    }

    pub fn fedora_ci_test_run_queued(&self) {
        self.pipeline.test_runs_queued.inc();
    }

    /// A new result of a Testing Farm run (packit-service's labels).
    pub fn fedora_ci_test_run_result(
        &self,
        result: &str,
        submitted: Option<chrono::NaiveDateTime>,
    ) {
        match result {
            "running" => {
                self.pipeline.test_runs_started.inc();
            }
            "new" | "queued" => {}
            _ => {
                self.pipeline
                    .test_runs_finished
                    .get_or_create(&ResultLabels {
                        result: result.to_owned(),
                    })
                    .inc();
                if let Some(seconds) = seconds_since(submitted) {
                    self.pipeline.test_run_finished_time.observe(seconds);
                }
            }
        }
    }

    /// The first flag of a pull-request event was planned `seconds` after the event arrived.
    pub fn fedora_ci_first_initial_status(&self, seconds: f64) {
        self.pipeline.first_initial_status_time.observe(seconds);
    }

    pub fn log_detective_run_started(&self) {
        self.pipeline.log_detective_runs_started.inc();
    }

    /// A result of an analysis started at `submitted` (packit-service observes
    /// `now - run.submitted_time`, `handlers/logdetective.py:111-116`).
    pub fn log_detective_run_finished(&self, submitted: Option<chrono::NaiveDateTime>) {
        self.pipeline.log_detective_runs_finished.inc();
        if let Some(seconds) = seconds_since(submitted) {
            self.pipeline
                .log_detective_run_finished_time
                .observe(seconds);
        }
    }

    /// A call to an external service that changes something: `succeeded`, `failed`, or
    /// `planned` (shadow mode).
    pub fn outbound_call(&self, service: &str, outcome: &str) {
        self.outbound_calls
            .get_or_create(&ServiceOutcomeLabels {
                service: service.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// One attempt of the listener to connect and consume.
    pub fn broker_connection_attempt(&self, succeeded: bool) {
        self.broker_connection_attempts
            .get_or_create(&OutcomeLabels {
                outcome: if succeeded { "succeeded" } else { "failed" }.to_owned(),
            })
            .inc();
    }

    pub fn set_broker_connected(&self, connected: bool) {
        self.broker_connected.set(i64::from(connected));
    }

    pub fn set_shadow_mode(&self, on: bool) {
        self.shadow_mode.set(i64::from(on));
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

#[cfg(test)]
mod tests {
    use super::Metrics;

    /// The `le` bounds of a histogram in the exposition, `+Inf` included.
    fn bounds(text: &str, name: &str) -> Vec<String> {
        let prefix = format!("{name}_bucket{{le=\"");
        text.lines()
            .filter_map(|line| line.strip_prefix(prefix.as_str()))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }

    fn count(text: &str, name: &str) -> Option<String> {
        let prefix = format!("{name}_count ");
        text.lines()
            .find_map(|line| line.strip_prefix(prefix.as_str()))
            .map(str::to_owned)
    }

    /// packit-service's buckets, `packit_service/worker/monitoring.py`:
    /// `log_detective_run_finished_time` 174-186 (180, 2*180, 4*180, 8*180, 16*180, inf),
    /// `fedora_ci_koji_build_finished_time` 213-226 and `fedora_ci_test_run_finished_time`
    /// 246-259 (1800, 3600, 3*3600, 6*3600, 12*3600, 24*3600, inf),
    /// `fedora_ci_first_initial_status_time` 261-266 (5, 15, 20, 25, 30, 40, 60, inf).
    #[test]
    fn histograms_have_packit_services_buckets() {
        let text = Metrics::new().render();
        let expected = |values: &[&str]| -> Vec<String> {
            values.iter().map(|value| (*value).to_owned()).collect()
        };
        assert_eq!(
            bounds(&text, "fedora_ci_log_detective_run_finished_time"),
            expected(&["180.0", "360.0", "720.0", "1440.0", "2880.0", "+Inf"]),
            "{text}"
        );
        let hours = expected(&[
            "1800.0", "3600.0", "10800.0", "21600.0", "43200.0", "86400.0", "+Inf",
        ]);
        assert_eq!(bounds(&text, "fedora_ci_koji_build_finished_time"), hours);
        assert_eq!(bounds(&text, "fedora_ci_test_run_finished_time"), hours);
        assert_eq!(
            bounds(&text, "fedora_ci_first_initial_status_time"),
            expected(&[
                "5.0", "15.0", "20.0", "25.0", "30.0", "40.0", "60.0", "+Inf"
            ])
        );
    }

    /// packit-service observes `now - run.submitted_time` with each result
    /// (`packit_service/worker/handlers/logdetective.py:111-116`; `tests/unit/events/
    /// test_logdetective.py:260-262` expects one `observe`), next to the finished counter.
    #[test]
    fn a_log_detective_result_observes_the_time_since_submission() {
        let metrics = Metrics::new();
        let submitted = chrono::Utc::now().naive_utc() - chrono::Duration::seconds(200);
        metrics.log_detective_run_finished(Some(submitted));
        let text = metrics.render();
        let name = "fedora_ci_log_detective_run_finished_time";
        assert_eq!(count(&text, name).as_deref(), Some("1"), "{text}");
        assert!(
            text.contains(&format!("{name}_bucket{{le=\"180.0\"}} 0\n")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{name}_bucket{{le=\"360.0\"}} 1\n")),
            "{text}"
        );
        assert!(
            text.contains("fedora_ci_log_detective_runs_finished_total 1\n"),
            "{text}"
        );
    }
}
