//! The durable task queue: what Celery does for packit-service.
//!
//! A task is a serde struct implementing [`BackgroundTask`]; [`enqueue`] stores it inside the
//! caller's transaction, so it exists exactly when the state change that causes it does. A
//! [`Runner`] claims tasks per named queue, runs each under a lease it keeps renewing, and
//! settles it: success deletes the row, failure schedules the next attempt with exponential
//! backoff (persisted as the row's run time), the last failure leaves the row `dead` with its
//! error. A worker killed mid-task stops renewing; after the lease expires any worker takes
//! the task again. Delivery is therefore at least once: **every task must be idempotent**.
//!
//! All SQL lives in [`crate::db::tasks`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::db::tasks::{self as store_tasks, ClaimedTask, NewTask};
use crate::db::{DbError, Store, Tx};
use crate::metrics;

/// The queues the service uses; each worker process serves some of them.
pub mod queues {
    /// Quick reactions: event processing, reporting.
    pub const SHORT: &str = "short";
    /// Calls that may take a while: submitting builds and tests.
    pub const LONG: &str = "long";
}

/// A unit of work stored in the queue.
pub trait BackgroundTask: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name stored with each row; renaming it orphans queued tasks.
    const NAME: &'static str;
    const QUEUE: &'static str = queues::SHORT;
    /// Higher runs first.
    const PRIORITY: i16 = 0;
    /// Attempts before the task is declared dead.
    const MAX_ATTEMPTS: i32 = 3;
    /// Wait before the second attempt; it doubles for each further one.
    const BACKOFF: Duration = Duration::from_secs(7);
    /// Time one attempt may take before it counts as failed.
    const TIMEOUT: Duration = Duration::from_secs(300);

    type Context: Clone + Send + Sync + 'static;

    fn run(&self, ctx: &Self::Context) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// An error that retrying cannot fix: the task goes dead at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PermanentFailure(pub String);

/// Marks `error` as permanent (see [`PermanentFailure`]).
pub fn permanent(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(PermanentFailure(error.to_string()))
}

/// A failure worth retrying after a delay the task chose itself (and told the user about),
/// instead of the queue's own backoff. On the last attempt it ends the task like any failure.
#[derive(Debug, thiserror::Error)]
#[error("{reason} (retry in {delay:?})")]
pub struct RetryIn {
    pub delay: Duration,
    pub reason: String,
}

/// Fails the attempt and asks for the next one in `delay`.
pub fn retry_in(delay: Duration, reason: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(RetryIn {
        delay,
        reason: reason.to_string(),
    })
}

/// The service a task needs is unavailable (a transient failure that outlived the client's
/// own retries): the runner retries it with capped backoff for the outage budget measured
/// from when the outage began for this task, without using up its attempts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} is unavailable: {reason}")]
pub struct Unavailable {
    /// As users know it: `Koji`, `Pagure`, `Testing Farm`, ….
    pub service: String,
    pub reason: String,
}

/// Fails the attempt because `service` is unavailable (see [`Unavailable`]).
pub fn unavailable(service: impl Into<String>, reason: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Unavailable {
        service: service.into(),
        reason: reason.to_string(),
    })
}

tokio::task_local! {
    /// The service the running attempt last found unavailable, if no later call to it
    /// succeeded: a failure the task turned into its own error (a handler's `retry_in`, a
    /// message) is still an outage.
    static OUTAGE_NOTE: std::sync::Mutex<Option<Unavailable>>;
}

/// Notes, for the running attempt, that `service` failed transiently (after the client's own
/// retries). Outside a runner it does nothing.
pub fn note_unavailable(service: &str, reason: impl std::fmt::Display) {
    let _ = OUTAGE_NOTE.try_with(|note| {
        if let Ok(mut note) = note.lock() {
            *note = Some(Unavailable {
                service: service.to_owned(),
                reason: reason.to_string(),
            });
        }
    });
}

/// Notes that `service` answered (successfully, or with a refusal): it is not down.
pub fn note_available(service: &str) {
    let _ = OUTAGE_NOTE.try_with(|note| {
        if let Ok(mut note) = note.lock()
            && note.as_ref().is_some_and(|seen| seen.service == service)
        {
            *note = None;
        }
    });
}

/// Which attempt of its task the running code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first run.
    pub number: i32,
    pub max: i32,
    /// Earlier runs whose worker stopped before they finished; they do not count in
    /// `number` (see `db::tasks::reclaim_expired`).
    pub reclaims: i32,
}

impl Attempt {
    pub fn is_last(self) -> bool {
        self.number >= self.max
    }

    /// No earlier run of this task started, finished or not: nothing it did can have
    /// reached the outside world.
    pub fn is_first_run(self) -> bool {
        self.number <= 1 && self.reclaims == 0
    }
}

tokio::task_local! {
    static ATTEMPT: Attempt;
}

/// The attempt of the task this code runs in; outside a runner, a first and last attempt.
pub fn current_attempt() -> Attempt {
    ATTEMPT.try_with(|attempt| *attempt).unwrap_or(Attempt {
        number: 1,
        max: 1,
        reclaims: 0,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("task {name} does not serialize: {source}")]
    Serialize {
        name: &'static str,
        source: serde_json::Error,
    },
    #[error("storing task {name} failed: {source}")]
    Store { name: &'static str, source: DbError },
}

/// Adds `task` to its queue inside `tx`, due now.
pub async fn enqueue<T: BackgroundTask>(tx: &mut Tx, task: &T) -> Result<i64, EnqueueError> {
    enqueue_at(tx, task, Utc::now()).await
}

/// Adds `task` to its queue inside `tx`, due at `run_at`.
pub async fn enqueue_at<T: BackgroundTask>(
    tx: &mut Tx,
    task: &T,
    run_at: DateTime<Utc>,
) -> Result<i64, EnqueueError> {
    let payload = serde_json::to_value(task).map_err(|source| EnqueueError::Serialize {
        name: T::NAME,
        source,
    })?;
    let row = NewTask {
        name: T::NAME,
        queue: T::QUEUE,
        payload: &payload,
        priority: T::PRIORITY,
        max_attempts: T::MAX_ATTEMPTS,
        run_at,
    };
    let id = store_tasks::insert(tx, &row, Utc::now())
        .await
        .map_err(|source| EnqueueError::Store {
            name: T::NAME,
            source,
        })?;
    metrics::global().tasks_enqueued(T::NAME);
    Ok(id)
}

/// Adds `task` to its queue inside `tx`, due now, unless a task with the same `key` is still
/// pending (it has not started, so it will do this work too); `None` then.
pub async fn enqueue_unless_pending<T: BackgroundTask>(
    tx: &mut Tx,
    task: &T,
    key: &str,
) -> Result<Option<i64>, EnqueueError> {
    let payload = serde_json::to_value(task).map_err(|source| EnqueueError::Serialize {
        name: T::NAME,
        source,
    })?;
    let now = Utc::now();
    let row = NewTask {
        name: T::NAME,
        queue: T::QUEUE,
        payload: &payload,
        priority: T::PRIORITY,
        max_attempts: T::MAX_ATTEMPTS,
        run_at: now,
    };
    let id = store_tasks::insert_unless_pending(tx, &row, key, now)
        .await
        .map_err(|source| EnqueueError::Store {
            name: T::NAME,
            source,
        })?;
    if id.is_some() {
        metrics::global().tasks_enqueued(T::NAME);
    }
    Ok(id)
}

/// Wait before attempt `attempt + 1`, after `attempt` failed: `base · 2^(attempt-1)`, capped
/// at an hour, with ±20 % jitter so that a burst of failures does not retry in lockstep.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 20) as u32;
    let plain = base.saturating_mul(2u32.saturating_pow(exponent));
    let capped = plain.min(Duration::from_secs(3600));
    capped.mul_f64(rand::random_range(0.8..1.2))
}

/// Most completions one statement removes.
const COMPLETION_BATCH: usize = 512;

type TaskFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;
type Decoder<C> = fn(serde_json::Value, C) -> Result<TaskFuture, serde_json::Error>;

struct Registration<C> {
    decode: Decoder<C>,
    backoff: Duration,
    timeout: Duration,
}

fn decode_task<T: BackgroundTask>(
    payload: serde_json::Value,
    ctx: T::Context,
) -> Result<TaskFuture, serde_json::Error> {
    let task: T = serde_json::from_value(payload)?;
    Ok(Box::pin(async move { task.run(&ctx).await }))
}

/// A task the runner has given up on or is waiting for: what a hook gets to look at.
#[derive(Debug, Clone)]
pub struct TaskRef<'a> {
    pub id: i64,
    pub name: &'a str,
    pub payload: &'a serde_json::Value,
}

/// Why a task was given up.
#[derive(Debug, Clone, PartialEq)]
pub enum GiveUp {
    /// Its attempts were used up, or it failed permanently: the last error.
    Failed(String),
    /// The service stayed unavailable for the whole outage budget.
    Outage {
        service: String,
        reason: String,
        /// How long the outage lasted for this task, in service time.
        lasted: Duration,
    },
    /// Its workers kept stopping before it finished.
    Reclaims(String),
}

/// What a task type's owner does when the runner waits out an outage for it or gives it up:
/// e.g. show the outage on the task's flags, or give them a final `error` flag. Kept out of
/// the queue, which knows no flags; a failing hook only logs (a reconciler must catch it).
pub trait TaskHooks<C>: Send + Sync + 'static {
    /// Which service an error says is unavailable (typed client errors in its chain).
    fn unavailable(&self, error: &anyhow::Error) -> Option<Unavailable>;

    /// `task` waits out an outage of `outage.service`; next try in `next_try` (service time).
    fn waiting_out_outage<'a>(
        &'a self,
        ctx: &'a C,
        task: TaskRef<'a>,
        outage: &'a Unavailable,
        next_try: Duration,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

    /// `task` will not run again.
    fn given_up<'a>(
        &'a self,
        ctx: &'a C,
        task: TaskRef<'a>,
        why: &'a GiveUp,
    ) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;
}

/// How long outages are waited out, and how fast the queue's time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutagePolicy {
    /// Retry for this long (service time) after the outage began for a task.
    pub budget: Duration,
    /// The first wait; each further one is as long as the outage has lasted so far.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Service time per real time of retry scheduling (1 in production; tests raise it so
    /// that hours pass in seconds). Leases and polling stay in real time.
    pub time_scale: f64,
}

impl Default for OutagePolicy {
    fn default() -> Self {
        OutagePolicy {
            budget: Duration::from_secs(6 * 3600),
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(30 * 60),
            time_scale: 1.0,
        }
    }
}

impl OutagePolicy {
    fn scale(&self) -> f64 {
        if self.time_scale.is_finite() && self.time_scale >= 1.0 {
            self.time_scale
        } else {
            1.0
        }
    }

    /// A wait in service time as real time.
    pub fn to_real(&self, service: Duration) -> Duration {
        service.div_f64(self.scale())
    }

    /// A real time span as service time.
    pub fn to_service(&self, real: Duration) -> Duration {
        real.mul_f64(self.scale())
    }

    /// The next wait of an outage that has lasted `lasted` (service time): as long again,
    /// between the first and the longest wait, so waits double.
    pub fn next_delay(&self, lasted: Duration) -> Duration {
        lasted.clamp(self.first_delay, self.max_delay.max(self.first_delay))
    }
}

/// How a worker process runs its queues.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// Identifies this worker in `tasks.locked_by`.
    pub worker_id: String,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease: Duration,
    /// How often an idle queue looks for due tasks when no wake-up arrives.
    pub poll_interval: Duration,
    /// How long shutdown waits for running tasks before handing them back.
    pub shutdown_grace: Duration,
    /// How outages are waited out (and the time scale of all retry delays).
    pub outage: OutagePolicy,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        Self {
            worker_id: format!("worker-{}", uuid::Uuid::new_v4()),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(25),
            outage: OutagePolicy::default(),
        }
    }
}

struct Periodic<C> {
    name: &'static str,
    period: Duration,
    enqueue: Box<dyn Fn(&mut Tx) -> EnqueueFuture<'_> + Send + Sync>,
    _context: std::marker::PhantomData<fn(C)>,
}

type EnqueueFuture<'a> = Pin<Box<dyn Future<Output = Result<i64, EnqueueError>> + Send + 'a>>;

/// Runs registered tasks from named queues until shut down.
pub struct Runner<C> {
    store: Store,
    context: C,
    settings: RunnerSettings,
    registry: HashMap<&'static str, Registration<C>>,
    queues: Vec<(String, usize)>,
    periodic: Vec<Periodic<C>>,
    hooks: Option<Arc<dyn TaskHooks<C>>>,
}

impl<C: Clone + Send + Sync + 'static> Runner<C> {
    pub fn new(store: Store, context: C, settings: RunnerSettings) -> Self {
        Self {
            store,
            context,
            settings,
            registry: HashMap::new(),
            queues: Vec::new(),
            periodic: Vec::new(),
            hooks: None,
        }
    }

    /// The context tasks run with.
    pub fn context(&self) -> &C {
        &self.context
    }

    /// Waits out outages as `policy` says.
    pub fn outage_policy(mut self, policy: OutagePolicy) -> Self {
        self.settings.outage = policy;
        self
    }

    /// Lets `hooks` recognise outages and act when a task waits one out or is given up.
    pub fn hooks(mut self, hooks: Arc<dyn TaskHooks<C>>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// Lets this runner execute tasks of type `T`.
    pub fn register<T: BackgroundTask<Context = C>>(mut self) -> Self {
        self.registry.insert(
            T::NAME,
            Registration {
                decode: decode_task::<T>,
                backoff: T::BACKOFF,
                timeout: T::TIMEOUT,
            },
        );
        self
    }

    /// Enqueues `task` once per `period`, across every runner sharing the database.
    pub fn register_periodic<T>(self, task: T, period: Duration) -> Self
    where
        T: BackgroundTask<Context = C> + Clone,
    {
        let mut runner = self.register::<T>();
        runner.periodic.push(Periodic {
            name: T::NAME,
            period,
            enqueue: Box::new(move |tx| {
                let task = task.clone();
                Box::pin(async move { enqueue(tx, &task).await })
            }),
            _context: std::marker::PhantomData,
        });
        runner
    }

    /// Serves `queue` with up to `concurrency` tasks at a time.
    pub fn queue(mut self, queue: &str, concurrency: usize) -> Self {
        self.queues.push((queue.to_owned(), concurrency.max(1)));
        self
    }

    /// Starts the queues; they run until `shutdown` is cancelled.
    pub fn start(self, shutdown: CancellationToken) -> RunHandle {
        let (completions, completed) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            store: self.store,
            context: self.context,
            settings: self.settings,
            registry: self.registry,
            wake: Notify::new(),
            completions,
            hooks: self.hooks,
        });
        let mut queues = JoinSet::new();
        for (queue, concurrency) in self.queues {
            let inner = inner.clone();
            let shutdown = shutdown.clone();
            queues.spawn(async move { inner.serve_queue(queue, concurrency, shutdown).await });
        }
        // The lease keeper outlives the queues, which may still run tasks after shutdown.
        let background_stop = CancellationToken::new();
        let mut background = JoinSet::new();
        background.spawn(inner.clone().keep_leases(background_stop.clone()));
        background.spawn(
            inner
                .clone()
                .record_completions(completed, background_stop.clone()),
        );
        let periodic = self.periodic;
        background.spawn(
            inner
                .clone()
                .schedule_periodic(periodic, shutdown.child_token()),
        );
        if let Store::Postgres(_) = inner.store {
            background.spawn(inner.clone().listen_for_wakeups(shutdown.child_token()));
        }
        RunHandle {
            queues,
            background,
            background_stop,
        }
    }
}

/// A started [`Runner`].
pub struct RunHandle {
    queues: JoinSet<()>,
    background: JoinSet<()>,
    background_stop: CancellationToken,
}

impl RunHandle {
    /// Waits until every queue has stopped after shutdown and handed back what still ran.
    pub async fn wait(mut self) {
        while let Some(result) = self.queues.join_next().await {
            if let Err(error) = result {
                error!(%error, "a task queue loop failed");
            }
        }
        self.background_stop.cancel();
        while self.background.join_next().await.is_some() {}
    }
}

struct Inner<C> {
    store: Store,
    context: C,
    settings: RunnerSettings,
    registry: HashMap<&'static str, Registration<C>>,
    wake: Notify,
    /// Succeeded tasks, removed from the queue in batches by `record_completions`.
    completions: mpsc::UnboundedSender<i64>,
    hooks: Option<Arc<dyn TaskHooks<C>>>,
}

impl<C: Clone + Send + Sync + 'static> Inner<C> {
    async fn serve_queue(
        self: Arc<Self>,
        queue: String,
        concurrency: usize,
        shutdown: CancellationToken,
    ) {
        info!(queue, concurrency, worker = %self.settings.worker_id, "serving queue");
        let mut running = Running::default();
        let mut db_failures = 0u32;
        while !shutdown.is_cancelled() {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();

            // Claim for every slot that freed up, in one statement.
            running.reap_finished();
            let free = concurrency - running.len();
            let mut claimed_full_batch = false;
            if free > 0 {
                match self.claim(&queue, free).await {
                    Ok(claimed) => {
                        db_failures = 0;
                        claimed_full_batch = claimed.len() == free;
                        for task in claimed {
                            running.spawn(self.clone(), task);
                        }
                    }
                    Err(error) => {
                        db_failures += 1;
                        let pause = backoff(Duration::from_millis(500), db_failures as i32)
                            .min(Duration::from_secs(30));
                        warn!(queue, %error, retry_in = ?pause, "cannot claim tasks; the database may be down");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(pause) => continue,
                        }
                    }
                }
            }
            if claimed_full_batch && running.len() < concurrency {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = running.join_next(), if !running.is_empty() => {}
                _ = &mut wake => {}
                _ = tokio::time::sleep(self.settings.poll_interval) => {}
            }
        }
        self.drain(&queue, running).await;
    }

    async fn claim(&self, queue: &str, limit: usize) -> Result<Vec<ClaimedTask>, DbError> {
        let now = Utc::now();
        let lease_until = now + self.settings.lease;
        let worker = &self.settings.worker_id;
        store_tasks::claim(&self.store, queue, worker, now, lease_until, limit as i64).await
    }

    /// Stops after shutdown: waits up to the grace period, then hands unfinished tasks back.
    async fn drain(&self, queue: &str, mut running: Running) {
        if !running.is_empty() {
            let grace = self.settings.shutdown_grace;
            info!(
                queue,
                running = running.len(),
                ?grace,
                "waiting for running tasks"
            );
            let finished = tokio::time::timeout(grace, async {
                while !running.is_empty() {
                    running.join_next().await;
                }
            })
            .await;
            if finished.is_err() {
                for id in running.abort_all().await {
                    let released =
                        store_tasks::release(&self.store, id, &self.settings.worker_id, Utc::now());
                    match released.await {
                        Ok(_) => info!(task.id = id, "handed back an unfinished task"),
                        Err(error) => {
                            warn!(task.id = id, %error, "cannot hand back a task; its lease will expire")
                        }
                    }
                }
            }
        }
        info!(queue, "queue stopped");
    }

    /// Runs one claimed task to completion and settles its row.
    async fn execute(self: Arc<Self>, task: ClaimedTask) {
        let span = info_span!("task", task.id = task.id, task.name = %task.name, task.attempt = task.attempts);
        async move {
            let started = Instant::now();
            let outcome = self.run_attempt(&task).await;
            metrics::global().task_finished(&task.name, outcome.label(), started.elapsed());
            self.settle(&task, outcome).await;
        }
        .instrument(span)
        .await
    }

    async fn run_attempt(&self, task: &ClaimedTask) -> Outcome {
        let Some(registration) = self.registry.get(task.name.as_str()) else {
            return Outcome::Failed(format!(
                "no task named {:?} is registered in this worker",
                task.name
            ));
        };
        let future = match (registration.decode)(task.payload.0.clone(), self.context.clone()) {
            Ok(future) => future,
            Err(error) => {
                return Outcome::Permanent(format!(
                    "payload does not decode as {}: {error}",
                    task.name
                ));
            }
        };
        let attempt = Attempt {
            number: task.attempts,
            max: task.max_attempts,
            reclaims: task.reclaims,
        };
        let timeout = registration.timeout;
        // Its own tokio task, so that a panic is caught as a JoinError rather than ending ours.
        let handle = AbortOnDropHandle::new(tokio::spawn(ATTEMPT.scope(
            attempt,
            OUTAGE_NOTE.scope(std::sync::Mutex::new(None), async move {
                let result = tokio::time::timeout(timeout, future).await;
                let noted = OUTAGE_NOTE
                    .try_with(|note| note.lock().ok().and_then(|note| note.clone()))
                    .ok()
                    .flatten();
                (result, noted)
            }),
        )));
        match handle.await {
            Ok((Ok(Ok(())), _)) => Outcome::Succeeded,
            Ok((Ok(Err(error)), noted)) => self.classify(error, noted),
            Ok((Err(_elapsed), _)) => {
                Outcome::Failed(format!("timed out after {:?}", registration.timeout))
            }
            Err(join_error) if join_error.is_panic() => {
                Outcome::Failed(format!("panicked: {}", panic_message(join_error)))
            }
            Err(join_error) => Outcome::Failed(format!("was cancelled: {join_error}")),
        }
    }

    /// What a failed attempt means: a refusal ends the task, an unavailable service (named
    /// by the error, recognised by the hooks, or noted during the attempt) is waited out,
    /// anything else is retried.
    fn classify(&self, error: anyhow::Error, noted: Option<Unavailable>) -> Outcome {
        if error.is::<PermanentFailure>() {
            return Outcome::Permanent(format!("{error:#}"));
        }
        let error = match error.downcast::<Unavailable>() {
            Ok(outage) => return Outcome::Unavailable(outage, None),
            Err(error) => error,
        };
        let recognised = self
            .hooks
            .as_ref()
            .and_then(|hooks| hooks.unavailable(&error));
        // A task that chose its own delay is still waiting out an outage: the outage budget
        // and backoff apply (its delay is the least wait).
        let own_delay = error.downcast_ref::<RetryIn>().map(|retry| retry.delay);
        if let Some(outage) = recognised.or(noted) {
            return Outcome::Unavailable(
                Unavailable {
                    service: outage.service,
                    reason: format!("{error:#}"),
                },
                own_delay,
            );
        }
        if let Some(retry) = error.downcast_ref::<RetryIn>() {
            let delay = retry.delay;
            return Outcome::RetryIn(format!("{error:#}"), delay);
        }
        Outcome::Failed(format!("{error:#}"))
    }

    async fn settle(&self, task: &ClaimedTask, outcome: Outcome) {
        let worker = self.settings.worker_id.as_str();
        let now = Utc::now();
        let policy = self.settings.outage;
        let real = |service: Duration| {
            chrono::Duration::from_std(policy.to_real(service)).unwrap_or(chrono::Duration::zero())
        };
        let mut given_up = None;
        let mut waiting = None;
        let result = match &outcome {
            Outcome::Succeeded => {
                debug!("task succeeded");
                match self.completions.send(task.id) {
                    Ok(()) => return,
                    Err(_) => store_tasks::complete(&self.store, task.id, worker).await,
                }
            }
            Outcome::Unavailable(outage, own_delay) => {
                let started = task.outage_started_at.unwrap_or(now);
                let lasted = policy.to_service((now - started).to_std().unwrap_or_default());
                if lasted >= policy.budget {
                    error!(service = %outage.service, reason = %outage.reason, ?lasted, "service stayed unavailable; task is dead");
                    metrics::global().task_dead(&task.name);
                    let error = format!(
                        "{} was unavailable for {}: {}",
                        outage.service,
                        human_duration(lasted),
                        outage.reason
                    );
                    given_up = Some(GiveUp::Outage {
                        service: outage.service.clone(),
                        reason: outage.reason.clone(),
                        lasted,
                    });
                    store_tasks::bury(&self.store, task.id, worker, &error, now).await
                } else {
                    // Each wait as long as the outage so far, up to the cap, from the task's
                    // own delay where it chose one (a retry a minute apart would otherwise
                    // call the service every minute for the whole budget). The hook then
                    // tells the user the real next try, over what the task said.
                    let delay = match own_delay {
                        // Its own delay is the first wait and the least one.
                        Some(own) => lasted.clamp(*own, policy.max_delay.max(*own)),
                        None => policy.next_delay(lasted),
                    };
                    warn!(service = %outage.service, reason = %outage.reason, next_try_in = ?delay, "service unavailable; waiting it out");
                    waiting = Some((outage.clone(), delay));
                    let error = format!("{}: {}", outage.service, outage.reason);
                    store_tasks::wait_out_outage(
                        &self.store,
                        task.id,
                        worker,
                        now + real(delay),
                        started,
                        &error,
                        now,
                    )
                    .await
                }
            }
            Outcome::RetryIn(error, delay) if task.attempts < task.max_attempts => {
                warn!(%error, retry_in = ?delay, "task asked to be retried");
                store_tasks::retry_at(&self.store, task.id, worker, now + real(*delay), error, now)
                    .await
            }
            Outcome::Failed(error) if task.attempts < task.max_attempts => {
                let base = self
                    .registry
                    .get(task.name.as_str())
                    .map_or(Duration::from_secs(7), |r| r.backoff);
                let delay = backoff(base, task.attempts);
                warn!(%error, retry_in = ?delay, "task failed; it will be retried");
                store_tasks::retry_at(&self.store, task.id, worker, now + real(delay), error, now)
                    .await
            }
            Outcome::Failed(error) | Outcome::Permanent(error) | Outcome::RetryIn(error, _) => {
                error!(%error, attempts = task.attempts, "task is dead");
                metrics::global().task_dead(&task.name);
                given_up = Some(GiveUp::Failed(error.clone()));
                store_tasks::bury(&self.store, task.id, worker, error, now).await
            }
        };
        match result {
            Ok(true) => {}
            Ok(false) => {
                warn!("task was taken over by another worker after its lease expired");
                return;
            }
            Err(error) => {
                warn!(%error, "cannot record the task's outcome; it will run again after its lease");
                return;
            }
        }
        let Some(hooks) = &self.hooks else {
            return;
        };
        let task_ref = TaskRef {
            id: task.id,
            name: &task.name,
            payload: &task.payload.0,
        };
        if let Some(why) = &given_up
            && let Err(error) = hooks.given_up(&self.context, task_ref.clone(), why).await
        {
            warn!(error = %format!("{error:#}"), "the given-up hook failed; the reconciler will end the task's checks");
        }
        if let Some((outage, delay)) = &waiting
            && let Err(error) = hooks
                .waiting_out_outage(&self.context, task_ref, outage, *delay)
                .await
        {
            warn!(error = %format!("{error:#}"), "the outage hook failed");
        }
    }

    /// Removes succeeded tasks from the queue, many per statement: one commit per batch
    /// instead of one per task. Until removed, a task's lease is renewed like a running one;
    /// if the process dies first, the task runs again, which every task must allow anyway.
    async fn record_completions(
        self: Arc<Self>,
        mut completed: mpsc::UnboundedReceiver<i64>,
        stop: CancellationToken,
    ) {
        let worker = self.settings.worker_id.as_str();
        let mut batch = Vec::with_capacity(COMPLETION_BATCH);
        let mut failures = 0;
        loop {
            if batch.is_empty() {
                tokio::select! {
                    received = completed.recv_many(&mut batch, COMPLETION_BATCH) => if received == 0 { return },
                    _ = stop.cancelled() => {
                        while let Ok(id) = completed.try_recv() {
                            batch.push(id);
                        }
                        if batch.is_empty() {
                            return;
                        }
                    }
                }
            }
            match store_tasks::complete_many(&self.store, &batch, worker).await {
                Ok(removed) => {
                    if removed < batch.len() as u64 {
                        warn!(
                            lost = batch.len() as u64 - removed,
                            "some succeeded tasks were taken over by another worker after their lease expired"
                        );
                    }
                    batch.clear();
                    failures = 0;
                }
                Err(error) => {
                    failures += 1;
                    let wait =
                        backoff(Duration::from_millis(200), failures).min(Duration::from_secs(10));
                    warn!(%error, tasks = batch.len(), retry_in = ?wait, "cannot record completed tasks; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        // On shutdown, one last try was made; the leases will expire instead.
                        _ = stop.cancelled(), if failures > 1 => return,
                    }
                }
            }
        }
    }

    /// Renews this worker's leases, and takes back tasks of workers that died.
    async fn keep_leases(self: Arc<Self>, stop: CancellationToken) {
        let every = self.settings.lease / 3;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
            let now = Utc::now();
            let until = now + self.settings.lease;
            if let Err(error) =
                store_tasks::extend_leases(&self.store, &self.settings.worker_id, until, now).await
            {
                warn!(%error, "cannot renew task leases");
            }
            match store_tasks::reclaim_expired_reporting(&self.store, now).await {
                Ok((reclaimed, buried)) if reclaimed.requeued + reclaimed.dead > 0 => {
                    warn!(
                        requeued = reclaimed.requeued,
                        dead = reclaimed.dead,
                        "took back tasks whose worker stopped"
                    );
                    self.wake.notify_waiters();
                    for task in buried {
                        metrics::global().task_dead(&task.name);
                        let Some(hooks) = &self.hooks else { continue };
                        let why = GiveUp::Reclaims(task.last_error.clone().unwrap_or_default());
                        let task_ref = TaskRef {
                            id: task.id,
                            name: &task.name,
                            payload: &task.payload.0,
                        };
                        if let Err(error) = hooks.given_up(&self.context, task_ref, &why).await {
                            warn!(task.id = task.id, error = %format!("{error:#}"), "the given-up hook failed; the reconciler will end the task's checks");
                        }
                    }
                }
                Ok(_) => {}
                Err(error) => warn!(%error, "cannot take back expired leases"),
            }
        }
    }

    async fn schedule_periodic(
        self: Arc<Self>,
        periodic: Vec<Periodic<C>>,
        stop: CancellationToken,
    ) {
        if periodic.is_empty() {
            return;
        }
        for schedule in &periodic {
            let period = schedule.period.as_secs().max(1) as i64;
            if let Err(error) =
                store_tasks::ensure_periodic(&self.store, schedule.name, period, Utc::now()).await
            {
                warn!(task.name = schedule.name, %error, "cannot register periodic task");
            }
        }
        let tick = periodic
            .iter()
            .map(|p| p.period)
            .min()
            .unwrap_or(Duration::from_secs(60))
            .clamp(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            for schedule in &periodic {
                if let Err(error) = self.enqueue_if_due(schedule).await {
                    warn!(task.name = schedule.name, error = %format!("{error:#}"), "cannot schedule periodic task");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }

    async fn enqueue_if_due(&self, schedule: &Periodic<C>) -> anyhow::Result<()> {
        let now = Utc::now();
        let mut tx = self.store.begin().await?;
        if store_tasks::take_due_periodic(&mut tx, schedule.name, now, now + schedule.period)
            .await?
        {
            let id = (schedule.enqueue)(&mut tx).await?;
            tx.commit().await?;
            info!(
                task.name = schedule.name,
                task.id = id,
                "enqueued periodic task"
            );
        }
        Ok(())
    }

    /// Wakes idle queues on PostgreSQL's insert notification; polling covers any gap.
    async fn listen_for_wakeups(self: Arc<Self>, stop: CancellationToken) {
        let Store::Postgres(pool) = &self.store else {
            return;
        };
        let mut failures = 0;
        while !stop.is_cancelled() {
            let listener = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
                listener.listen("fedora_ci_tasks").await?;
                loop {
                    listener.recv().await?;
                    self.wake.notify_waiters();
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                result = listener => if let Err(error) = result {
                    failures += 1;
                    debug!(%error, "task notification listener stopped; polling meanwhile");
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff(Duration::from_secs(1), failures).min(Duration::from_secs(60))) => {}
            }
        }
    }
}

/// The tasks one queue loop is running, by the tokio task that runs each.
#[derive(Default)]
struct Running {
    set: JoinSet<()>,
    ids: HashMap<tokio::task::Id, i64>,
}

impl Running {
    fn spawn<C: Clone + Send + Sync + 'static>(&mut self, inner: Arc<Inner<C>>, task: ClaimedTask) {
        let id = task.id;
        let handle = self.set.spawn(inner.execute(task));
        self.ids.insert(handle.id(), id);
    }

    fn len(&self) -> usize {
        self.set.len()
    }

    fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    async fn join_next(&mut self) {
        if let Some(result) = self.set.join_next_with_id().await {
            self.forget(result);
        }
    }

    /// Forgets the tasks that have finished, without waiting.
    fn reap_finished(&mut self) {
        while let Some(result) = self.set.try_join_next_with_id() {
            self.forget(result);
        }
    }

    fn forget(&mut self, result: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        match result {
            Ok((tokio_id, ())) => {
                self.ids.remove(&tokio_id);
            }
            Err(error) => {
                error!(%error, "a task runner ended abnormally");
                self.ids.remove(&error.id());
            }
        }
    }

    /// Aborts every running task; returns the queue ids of those that had not finished.
    async fn abort_all(&mut self) -> Vec<i64> {
        self.set.abort_all();
        let mut unfinished = Vec::new();
        while let Some(result) = self.set.join_next_with_id().await {
            match result {
                Ok((tokio_id, ())) => {
                    self.ids.remove(&tokio_id);
                }
                Err(error) => unfinished.extend(self.ids.remove(&error.id())),
            }
        }
        unfinished
    }
}

enum Outcome {
    Succeeded,
    Failed(String),
    Permanent(String),
    RetryIn(String, Duration),
    /// With the delay the task chose itself, if it did.
    Unavailable(Unavailable, Option<Duration>),
}

/// `6 hours`, `90 minutes`, `45 seconds`: how long an outage lasted, for people.
pub fn human_duration(span: Duration) -> String {
    let seconds = span.as_secs();
    if seconds >= 2 * 3600 && seconds % 3600 < 60 {
        format!("{} hours", seconds / 3600)
    } else if seconds >= 120 {
        format!("{} minutes", seconds / 60)
    } else {
        format!("{seconds} seconds")
    }
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed(_) | Outcome::RetryIn(..) => "failed",
            Outcome::Unavailable(..) => "unavailable",
            Outcome::Permanent(_) => "permanent_failure",
        }
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    let payload = error.into_panic();
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-text panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_attempt_within_jitter() {
        let base = Duration::from_secs(10);
        for (attempt, plain) in [(1, 10.0), (2, 20.0), (3, 40.0), (6, 320.0)] {
            let wait = backoff(base, attempt).as_secs_f64();
            assert!(
                (plain * 0.8..=plain * 1.2).contains(&wait),
                "attempt {attempt}: {wait}s not within 20 % of {plain}s"
            );
        }
    }

    #[test]
    fn backoff_is_capped_at_an_hour() {
        let wait = backoff(Duration::from_secs(60), 30);
        assert!(wait <= Duration::from_secs_f64(3600.0 * 1.2));
    }
}
