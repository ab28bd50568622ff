//! Runs one generated sequence against the real service (the in-process stack: intake,
//! the worker with every handler, PostgreSQL, the fakes on loopback), drives the fakes to the
//! end, and hands what it saw to the reference model.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fedora_ci::clients::koji::TaskState;
use fedora_ci::events::{ForgeKind, TESTING_FARM_RESULTS_TOPIC};
use fedora_ci::fakes::koji::{BuildOutcome, KojiFailure, TaskStateChange};
use serde_json::{Value as Json, json};
use tokio::time::Instant;

use crate::clients_support::read_fixture;
use crate::common::forgejo;
use crate::generator::{CommentKind, PrTopic, Sequence, Service, Step, hash};
use crate::reference::{self, Command, Facts, Observed, PrFacts, TestRun};
use crate::stack::{Stack, TF_TOKEN};

pub const PROJECT: &str = "rpms/optee_os";
/// The fork the Forgejo pull requests come from.
const FORK: &str = "zbyszek/optee_os";
const PREFIX: &str = "/packit-ci-stg";
const PACKAGER: &str = "mmassari";
const NOT_A_PACKAGER: &str = "someone-else";

/// Service time per real time: an hour passes in half a second.
pub const TIME_SCALE: f64 = 7200.0;
/// `worker.outage_retry_hours`, the service's default.
pub const BUDGET_MINUTES: u64 = 6 * 60;

struct Pr {
    pr_id: u64,
    heads: Vec<String>,
    title: String,
    commands: Vec<Command>,
}

/// One comment as delivered, to deliver it again.
struct SentComment {
    pr: usize,
    topic: String,
    body: Json,
}

pub struct Run<'a> {
    stack: &'a Stack,
    seq: &'a Sequence,
    /// The forge the sequence's pull requests live on; Pagure's outages are its outages.
    forge: ForgeKind,
    prs: Vec<Pr>,
    comments: Vec<SentComment>,
    next_comment_id: u64,
    /// Koji messages the hub published that are not delivered yet, and those delivered.
    koji_seen: usize,
    koji_bus: Vec<TaskStateChange>,
    koji_delivered: Vec<TaskStateChange>,
    /// Testing Farm requests moved on whose webhook is not delivered yet.
    tf_pending: Vec<String>,
    /// Every (topic, body) delivered, to know a duplicate.
    delivered: BTreeSet<String>,
    outages: Vec<(Service, Instant)>,
    all_outages: Vec<(Service, u64)>,
    ld_results: BTreeMap<String, bool>,
    violations: Vec<String>,
    /// Fakes' record lengths when the sequence began (the stack is shared by sequences).
    koji_builds_before: usize,
    tf_requests_before: BTreeSet<String>,
    ld_calls_before: usize,
    pagure_calls_before: usize,
    forgejo_calls_before: usize,
    first_message: usize,
    http: reqwest::Client,
    /// The worker did not settle once: the sequence stops.
    stuck: bool,
}

/// What the service has done, for the "the same event twice changes nothing" check.
#[derive(Debug, PartialEq)]
struct Snapshot {
    flags: Vec<(u64, String, String, String)>,
    builds: usize,
    requests: usize,
    analyses: usize,
    comments: usize,
}

impl<'a> Run<'a> {
    pub fn new(stack: &'a Stack, seq: &'a Sequence, forge: ForgeKind, first_pr_id: u64) -> Run<'a> {
        let prs = (0..seq.prs)
            .map(|index| Pr {
                pr_id: first_pr_id + index as u64,
                heads: Vec::new(),
                title: format!("Model PR {}", first_pr_id + index as u64),
                commands: Vec::new(),
            })
            .collect();
        Run {
            stack,
            seq,
            forge,
            prs,
            comments: Vec::new(),
            next_comment_id: first_pr_id * 1000,
            koji_seen: stack.koji.messages().len(),
            koji_bus: Vec::new(),
            koji_delivered: Vec::new(),
            tf_pending: Vec::new(),
            delivered: BTreeSet::new(),
            outages: Vec::new(),
            all_outages: Vec::new(),
            ld_results: BTreeMap::new(),
            violations: Vec::new(),
            koji_builds_before: stack.koji.builds().len(),
            tf_requests_before: stack.testing_farm.request_ids().into_iter().collect(),
            ld_calls_before: stack.log_detective.calls().len(),
            pagure_calls_before: stack.pagure.calls().len(),
            forgejo_calls_before: stack.forgejo.calls().len(),
            first_message: stack.delivered_count(),
            http: reqwest::Client::new(),
            stuck: false,
        }
    }

    /// Runs the steps, drives everything to its end, and returns the violations found and
    /// whether the worker was left busy (then the stack is not fit for another sequence).
    pub async fn run(mut self) -> (Vec<String>, bool) {
        let branches: &[&str] = if self.seq.eln {
            &["rawhide", "f42"]
        } else {
            &["rawhide", "eln"]
        };
        self.stack.pagure.set_branches(PROJECT, branches);
        self.stack.forgejo.set_branches(PROJECT, branches);
        let started = Instant::now();
        for (index, step) in self.seq.steps.iter().enumerate() {
            if self.stuck {
                break;
            }
            self.end_outages();
            if std::env::var_os("FCI_MODEL_VERBOSE").is_some() {
                eprintln!("model: step {index}: {step:?}");
            }
            self.step(index, step).await;
            // Moving a fake on or starting an outage tells the service nothing.
            if !matches!(
                step,
                Step::KojiProgress { .. } | Step::TfProgress { .. } | Step::Outage { .. }
            ) {
                self.quiesce().await;
            }
        }
        let steps_took = started.elapsed();
        self.finish().await;
        if std::env::var_os("FCI_MODEL_VERBOSE").is_some() {
            eprintln!(
                "model: seed {} steps {:.1?} finish {:.1?}",
                self.seq.seed,
                steps_took,
                started.elapsed() - steps_took
            );
        }
        let facts = self.facts();
        let observed = self.observe().await;
        let mut violations = std::mem::take(&mut self.violations);
        violations.extend(reference::check(&facts, &observed));
        if !violations.is_empty() {
            violations.push(self.messages_report().await);
        }
        (violations, self.stuck)
    }

    fn sha(&self, pr: usize, number: usize) -> String {
        let a = hash(
            self.seq.seed,
            &format!("{}-{pr}-{number}", self.prs[pr].pr_id),
        );
        let b = hash(a, "second half");
        let c = hash(b, "third");
        format!("{a:016x}{b:016x}{c:016x}")[..40].to_owned()
    }

    fn pull_request(&self, pr: usize) -> Json {
        let message = read_fixture("packit-service/pagure_pr_new.json");
        let mut pull_request = message.get("body").unwrap_or(&message)["pullrequest"].clone();
        let state = &self.prs[pr];
        pull_request["id"] = json!(state.pr_id);
        pull_request["uid"] = json!(format!("model{:028}", state.pr_id));
        pull_request["commit_stop"] = json!(state.heads.last());
        pull_request["title"] = json!(state.title);
        pull_request["comments"] = json!([]);
        pull_request
    }

    /// A pull-request message about PR `pr` as it is now: Pagure's from the fixture of
    /// `topic`, Forgejo's `opened` or `synchronized` (Forgejo has no "rebased").
    fn pr_message(&self, topic: PrTopic, pr: usize) -> (String, Json) {
        if self.forge == ForgeKind::Forgejo {
            let action = match topic {
                PrTopic::New => "opened",
                PrTopic::Updated | PrTopic::Rebased => "synchronized",
            };
            return self.forgejo_pr_message(action, pr);
        }
        self.pagure_pr_message(topic, pr)
    }

    /// PR `pr` as it is now, on the fake Forgejo (its number is the PR id).
    fn forgejo_pr<'s>(&'s self, pr: usize, web_url: &'s str) -> forgejo::PullRequest<'s> {
        let state = &self.prs[pr];
        forgejo::PullRequest {
            web_url,
            target: PROJECT,
            source: FORK,
            number: state.pr_id,
            head: state.heads.last().map_or("", String::as_str),
            title: &state.title,
            target_branch: "rawhide",
        }
    }

    fn forgejo_pr_message(&self, action: &str, pr: usize) -> (String, Json) {
        let web_url = self.stack.forgejo.url();
        let message =
            forgejo::pull_request_message(&self.forgejo_pr(pr, &web_url), action, PACKAGER);
        (forgejo::PR_TOPIC.to_owned(), message)
    }

    /// Makes the forge know the pull request as `body` tells it (Pagure: the PR JSON;
    /// Forgejo: the PR and its head commit, in the target repository and the fork).
    fn register_pull_request(&self, body: &Json) {
        if let Some(pull_request) = body.get("pullrequest") {
            self.stack.pagure.add_pull_request(pull_request.clone());
        }
        if let Some(pull_request) = body.get("body").and_then(|body| body.get("pull_request")) {
            let mut known = pull_request.clone();
            known["base"]["repo"]["full_name"] = json!(PROJECT);
            if let Some(sha) = pull_request["head"]["sha"].as_str() {
                self.stack.forgejo.add_commit(FORK, sha, &[]);
            }
            self.stack.forgejo.add_pull_request(known);
        }
    }

    /// A Pagure pull-request message from the fixture of `topic`, about PR `pr` as it is now.
    fn pagure_pr_message(&self, topic: PrTopic, pr: usize) -> (String, Json) {
        let fixture = match topic {
            PrTopic::New => "pagure_pr_new.json",
            PrTopic::Updated => "pagure_pr_updated.json",
            PrTopic::Rebased => "pagure_pr_rebased.json",
        };
        let message = read_fixture(&format!("packit-service/{fixture}"));
        let topic = message["topic"].as_str().unwrap_or_default().to_owned();
        let mut body = message.get("body").cloned().unwrap_or(message);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("topic");
        }
        body["pullrequest"] = self.pull_request(pr);
        (topic, body)
    }

    async fn deliver(&mut self, topic: &str, body: &Json) {
        let key = format!("{topic} {body}");
        let again = !self.delivered.insert(key);
        // The forge itself has moved on; only a new message tells of the PR as it is now.
        if !again {
            self.register_pull_request(body);
        }
        if again && self.quiet() {
            self.unchanged_by(topic, body, "the same event again").await;
        } else {
            self.stack.deliver(topic, body).await;
        }
    }

    /// Delivers `body` and checks that it changes nothing (invariant (e), case 2).
    async fn unchanged_by(&mut self, topic: &str, body: &Json, what: &str) {
        if !self.settle().await {
            return;
        }
        let before = self.snapshot();
        self.stack.deliver(topic, body).await;
        if !self.settle().await {
            return;
        }
        let after = self.snapshot();
        if before != after {
            self.violations.push(format!(
                "(e) {what} changed the service's state: {topic} {}\n  before: {before:?}\n  after:  {after:?}",
                short(body)
            ));
        }
    }

    /// No outage and nothing that happened outside is still unannounced: a delivery can only
    /// change what it says.
    fn quiet(&self) -> bool {
        self.outages.is_empty() && self.koji_bus.is_empty() && self.tf_pending.is_empty()
    }

    fn snapshot(&self) -> Snapshot {
        let mut flags = Vec::new();
        for pr in &self.prs {
            for flag in self.flags_shown(pr) {
                flags.push((
                    pr.pr_id,
                    text(&flag["username"]),
                    text(&flag["status"]),
                    text(&flag["comment"]),
                ));
            }
        }
        flags.sort();
        Snapshot {
            flags,
            builds: self.stack.koji.builds().len(),
            requests: self.stack.testing_farm.request_ids().len(),
            analyses: self.stack.log_detective.calls().len(),
            comments: self.stack.pagure.posted_comments().len()
                + self
                    .prs
                    .iter()
                    .map(|pr| self.stack.forgejo.comments(PROJECT, pr.pr_id).len())
                    .sum::<usize>(),
        }
    }

    async fn step(&mut self, index: usize, step: &Step) {
        match step {
            Step::Open { pr } => {
                let number = self.prs[*pr].heads.len();
                let sha = self.sha(*pr, number);
                self.prs[*pr].heads.push(sha);
                let (topic, body) = self.pr_message(PrTopic::New, *pr);
                self.deliver(&topic, &body).await;
            }
            Step::Push { pr, topic } => {
                let number = self.prs[*pr].heads.len();
                let sha = self.sha(*pr, number);
                self.prs[*pr].heads.push(sha);
                let (topic, body) = self.pr_message(*topic, *pr);
                self.deliver(&topic, &body).await;
            }
            Step::Resend { pr, topic } => {
                let (topic, body) = self.pr_message(*topic, *pr);
                self.resend(&topic, &body, "a re-sent event for the same head")
                    .await;
            }
            Step::TitleEdit { pr } => {
                self.prs[*pr].title =
                    format!("Model PR {} (edited at step {index})", self.prs[*pr].pr_id);
                let (topic, body) = match self.forge {
                    ForgeKind::Pagure => self.pr_message(PrTopic::Updated, *pr),
                    ForgeKind::Forgejo => self.forgejo_pr_message("edited", *pr),
                };
                self.resend(&topic, &body, "a title edit").await;
            }
            Step::Comment { pr, kind } => self.comment(*pr, kind).await,
            Step::CommentAgain { pick } => {
                if self.comments.is_empty() {
                    return;
                }
                let sent = &self.comments[(*pick as usize) % self.comments.len()];
                let (pr, topic, body) = (sent.pr, sent.topic.clone(), sent.body.clone());
                // Pagure's view of the PR must not go back to an older head.
                let _ = pr;
                self.deliver(&topic, &body).await;
            }
            Step::KojiProgress { pick } => self.koji_progress(*pick),
            Step::KojiDeliver {
                reversed,
                duplicate,
            } => {
                let mut messages = std::mem::take(&mut self.koji_bus);
                if *reversed {
                    messages.reverse();
                }
                if *duplicate && let Some(first) = messages.first().cloned() {
                    messages.push(first);
                }
                for message in messages {
                    self.stack.deliver(&message.topic, &message.body).await;
                    self.delivered
                        .insert(format!("{} {}", message.topic, message.body));
                    self.koji_delivered.push(message);
                }
            }
            Step::KojiLate { pick } => {
                if self.koji_delivered.is_empty() {
                    return;
                }
                let message =
                    self.koji_delivered[(*pick as usize) % self.koji_delivered.len()].clone();
                self.deliver(&message.topic, &message.body).await;
            }
            Step::KojiForged { pick } => {
                let finals: Vec<TaskStateChange> = self
                    .koji_delivered
                    .iter()
                    .filter(|message| {
                        matches!(message.body["new"].as_str(), Some("CLOSED" | "FAILED"))
                    })
                    .cloned()
                    .collect();
                if finals.is_empty() {
                    return;
                }
                let mut message = finals[(*pick as usize) % finals.len()].clone();
                let lie = if message.body["new"] == "CLOSED" {
                    ("FAILED", 5)
                } else {
                    ("CLOSED", 2)
                };
                message.body["new"] = json!(lie.0);
                message.body["info"]["state"] = json!(lie.1);
                // The body lies about a task the hub knows: if the true state was already
                // reported, nothing may change.
                if self.quiet() {
                    self.unchanged_by(
                        &message.topic,
                        &message.body,
                        "a Koji message contradicting the hub",
                    )
                    .await;
                } else {
                    self.stack.deliver(&message.topic, &message.body).await;
                }
            }
            Step::TfProgress { pick } => {
                let open = self.open_requests().await;
                if open.is_empty() {
                    return;
                }
                let (id, request) = &open[(*pick as usize) % open.len()];
                let overall = self.test_outcome(request);
                self.stack.testing_farm.advance(id, overall).await;
                if !self.tf_pending.contains(id) {
                    self.tf_pending.push(id.clone());
                }
            }
            Step::TfDeliver { duplicate } => {
                let mut ids = std::mem::take(&mut self.tf_pending);
                if *duplicate && let Some(first) = ids.first().cloned() {
                    ids.push(first);
                }
                for id in ids {
                    let body = json!({"request_id": id, "token": TF_TOKEN});
                    self.stack.deliver(TESTING_FARM_RESULTS_TOPIC, &body).await;
                    self.delivered
                        .insert(format!("{TESTING_FARM_RESULTS_TOPIC} {body}"));
                }
            }
            Step::TfLate { pick } => {
                let ids = self.sequence_requests();
                if ids.is_empty() {
                    return;
                }
                let id = &ids[(*pick as usize) % ids.len()];
                let body = json!({"request_id": id, "token": TF_TOKEN});
                if self.tf_pending.contains(id) {
                    // It announces a change: no duplicate, whatever its body.
                    self.tf_pending.retain(|pending| pending != id);
                    self.stack.deliver(TESTING_FARM_RESULTS_TOPIC, &body).await;
                    self.delivered
                        .insert(format!("{TESTING_FARM_RESULTS_TOPIC} {body}"));
                } else {
                    self.deliver(TESTING_FARM_RESULTS_TOPIC, &body).await;
                }
            }
            Step::LdResult { pick } => {
                let calls = self.sequence_analyses();
                if calls.is_empty() {
                    return;
                }
                let call = calls[(*pick as usize) % calls.len()].clone();
                self.ld_result(&call).await;
            }
            Step::Outage { service, minutes } => {
                let real = Duration::from_secs(minutes * 60).div_f64(TIME_SCALE);
                self.set_fault(*service, true);
                self.outages.push((*service, Instant::now() + real));
                self.all_outages.push((*service, *minutes));
            }
        }
    }

    async fn resend(&mut self, topic: &str, body: &Json, what: &str) {
        self.register_pull_request(body);
        self.delivered.insert(format!("{topic} {body}"));
        if self.quiet() {
            self.unchanged_by(topic, body, what).await;
        } else {
            self.stack.deliver(topic, body).await;
        }
    }

    async fn comment(&mut self, pr: usize, kind: &CommentKind) {
        if self.forge == ForgeKind::Forgejo {
            return self.forgejo_comment(pr, kind).await;
        }
        let message = read_fixture("packit-service/pagure_pr_comment.json");
        let topic = message["topic"].as_str().unwrap_or_default().to_owned();
        let mut body = message.get("body").cloned().unwrap_or(message);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("topic");
        }
        let mut comment = body["pullrequest"]["comments"]
            .as_array()
            .and_then(|comments| comments.last().cloned())
            .unwrap_or_else(|| json!({}));
        self.next_comment_id += 1;
        let author = if *kind == CommentKind::NonPackager {
            NOT_A_PACKAGER
        } else {
            PACKAGER
        };
        comment["id"] = json!(self.next_comment_id);
        comment["comment"] = json!(kind.text(PREFIX));
        comment["user"]["name"] = json!(author);
        let mut pull_request = self.pull_request(pr);
        pull_request["comments"] = json!([comment]);
        body["pullrequest"] = pull_request;
        body["agent"] = json!(author);
        if kind.is_command() {
            let head = self.prs[pr].heads.last().cloned().unwrap_or_default();
            self.prs[pr].commands.push(Command {
                comment_id: self.next_comment_id,
                kind: kind.clone(),
                head,
            });
        }
        self.deliver(&topic, &body).await;
        self.comments.push(SentComment { pr, topic, body });
    }

    /// A comment on the Forgejo PR: the real PR-comment fixture, moved to PR `pr`.
    async fn forgejo_comment(&mut self, pr: usize, kind: &CommentKind) {
        self.next_comment_id += 1;
        let author = if *kind == CommentKind::NonPackager {
            NOT_A_PACKAGER
        } else {
            PACKAGER
        };
        let web_url = self.stack.forgejo.url();
        let message = forgejo::comment_message(
            &self.forgejo_pr(pr, &web_url),
            self.next_comment_id,
            author,
            &kind.text(PREFIX),
        );
        let topic = forgejo::COMMENT_TOPIC.to_owned();
        if kind.is_command() {
            let head = self.prs[pr].heads.last().cloned().unwrap_or_default();
            self.prs[pr].commands.push(Command {
                comment_id: self.next_comment_id,
                kind: kind.clone(),
                head,
            });
        }
        self.deliver(&topic, &message).await;
        self.comments.push(SentComment {
            pr,
            topic,
            body: message,
        });
    }

    /// The checks the forge shows for a PR, as Pagure flags (`username`, `status`,
    /// `comment`): on Forgejo, the newest commit status per context of each of its commits,
    /// named `{context} [{sha7}]`, with the documented state mapping undone (canceled is
    /// `error` "Canceled: …").
    fn flags_shown(&self, pr: &Pr) -> Vec<Json> {
        if self.forge == ForgeKind::Pagure {
            return self.stack.flags(PROJECT, pr.pr_id);
        }
        let mut flags = Vec::new();
        for sha in &pr.heads {
            for (context, status) in self.stack.forgejo.latest_statuses(PROJECT, sha) {
                let (state, description) =
                    unmapped(text(&status["status"]), text(&status["description"]));
                flags.push(json!({
                    "username": format!("{context} [{}]", &sha[..7]),
                    "status": state,
                    "comment": description,
                    "url": status["target_url"],
                }));
            }
        }
        flags
    }

    /// Builds of this sequence in the fake hub: (task id, sha, target, state).
    fn builds(&self) -> Vec<(i64, String, String, Option<TaskState>)> {
        self.stack
            .koji
            .builds()
            .into_iter()
            .skip(self.koji_builds_before)
            .map(|(id, request)| {
                let source = request[0].as_str().unwrap_or_default();
                let sha = source.rsplit('#').next().unwrap_or_default().to_owned();
                let target = request[1].as_str().unwrap_or_default().to_owned();
                (id, sha, target, self.stack.koji.task_state(id))
            })
            .collect()
    }

    fn koji_progress(&mut self, pick: u64) {
        let open: Vec<_> = self
            .builds()
            .into_iter()
            .filter(|build| matches!(build.3, Some(TaskState::Free | TaskState::Open)))
            .collect();
        if open.is_empty() {
            return;
        }
        let (id, sha, target, state) = &open[(pick as usize) % open.len()];
        self.move_build(*id, sha, target, *state);
    }

    fn move_build(&mut self, id: i64, sha: &str, target: &str, state: Option<TaskState>) {
        match state {
            Some(TaskState::Free) => {
                self.stack.koji.start_build(id);
            }
            Some(TaskState::Open) => {
                let outcome = match reference::build_outcome(self.seq.seed, sha, target) {
                    reference::Build::Succeeds => BuildOutcome::Succeeds,
                    reference::Build::Fails(arches) => BuildOutcome::FailsOnArches(
                        arches.iter().map(|a| (*a).to_owned()).collect(),
                    ),
                };
                self.stack.koji.finish_build(id, &outcome);
            }
            _ => {}
        }
        let messages = self.stack.koji.messages();
        self.koji_bus
            .extend(messages[self.koji_seen..].iter().cloned());
        self.koji_seen = messages.len();
    }

    /// Requests of this sequence.
    fn sequence_requests(&self) -> Vec<String> {
        self.stack
            .testing_farm
            .request_ids()
            .into_iter()
            .filter(|id| !self.tf_requests_before.contains(id))
            .collect()
    }

    /// This sequence's requests not complete or canceled, as Testing Farm shows them.
    async fn open_requests(&self) -> Vec<(String, Json)> {
        let mut open = Vec::new();
        for id in self.sequence_requests() {
            if let Some(request) = self.read_request(&id).await
                && matches!(
                    request["state"].as_str(),
                    Some("new" | "queued" | "running")
                )
            {
                open.push((id, request));
            }
        }
        open
    }

    async fn read_request(&self, id: &str) -> Option<Json> {
        let url = format!("{}/requests/{id}", self.stack.testing_farm.api_url());
        let response = self.http.get(&url).send().await.ok()?;
        response.json().await.ok()
    }

    /// The seed's outcome for the test a request runs.
    fn test_outcome(&self, request: &Json) -> &'static str {
        let run = test_run(request, &self.builds());
        reference::test_outcome(self.seq.seed, &run.sha, &run.target, &run.test)
    }

    fn sequence_analyses(&self) -> Vec<Json> {
        self.stack
            .log_detective
            .calls()
            .into_iter()
            .skip(self.ld_calls_before)
            .filter_map(|call| {
                let id = call.analysis_id?;
                let mut body = call.body;
                body["analysis_id"] = json!(id);
                Some(body)
            })
            .collect()
    }

    async fn ld_result(&mut self, call: &Json) {
        let id = text(&call["analysis_id"]);
        let error = reference::log_detective_fails(self.seq.seed, &id);
        let fixture = if error {
            "logdetective_analysis_result_error.json"
        } else {
            "logdetective_analysis_result.json"
        };
        let message = read_fixture(&format!("packit-service/{fixture}"));
        let topic = message["topic"].as_str().unwrap_or_default().to_owned();
        let mut body = message.get("body").cloned().unwrap_or(message);
        body["log_detective_analysis_id"] = json!(id);
        for field in ["commit_sha", "pr_id", "project_url", "target_build"] {
            if let Some(value) = call.get(field) {
                body[field] = value.clone();
            }
        }
        self.ld_results.insert(id, error);
        self.deliver(&topic, &body).await;
    }

    fn set_fault(&self, service: Service, down: bool) {
        let rate = if down { 1.0 } else { 0.0 };
        match service {
            Service::Koji => self
                .stack
                .koji
                .faults()
                .set_error_rate(rate, KojiFailure::HttpStatus(503)),
            Service::TestingFarm => self.stack.testing_farm.faults().set_error_rate(rate, 503),
            // The forge of the sequence is down (on Forgejo, the packager group of Pagure
            // stays up).
            Service::Pagure => match self.forge {
                ForgeKind::Pagure => self.stack.pagure.faults().set_error_rate(rate, 503),
                ForgeKind::Forgejo => self.stack.forgejo.faults().set_error_rate(rate, 503),
            },
            Service::LogDetective => self.stack.log_detective.faults().set_error_rate(rate, 503),
        }
    }

    fn end_outages(&mut self) {
        let now = Instant::now();
        let ended: Vec<Service> = self
            .outages
            .iter()
            .filter(|(_, until)| *until <= now)
            .map(|(service, _)| *service)
            .collect();
        self.outages.retain(|(_, until)| *until > now);
        for service in ended {
            if !self.outages.iter().any(|(other, _)| *other == service) {
                self.set_fault(service, false);
            }
        }
    }

    /// After a step: the worker settles; during an outage it only gets a moment (tasks wait
    /// for the service, so the queue is never idle).
    async fn quiesce(&mut self) {
        if self.outages.is_empty() {
            self.settle().await;
        } else {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits for the worker to be idle: no task due within seconds (a message's task is
    /// stored with it, so this covers unprocessed messages) or running, three checks in a
    /// row. A worker that never is idle is a violation.
    async fn settle(&mut self) -> bool {
        if self.stuck {
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut idle = 0;
        loop {
            let busy = self.busy_tasks().await;
            idle = if busy == 0 { idle + 1 } else { 0 };
            if idle >= 3 {
                return true;
            }
            if Instant::now() > deadline {
                let mut running = String::new();
                if let Ok(tasks) =
                    fedora_ci::db::tasks::list_by_state(&self.stack.store, "running", 20).await
                {
                    for task in tasks {
                        running.push_str(&format!("running {task:?}\n"));
                    }
                }
                self.violations.push(format!(
                    "(a) the worker was not idle within 60 s (the sequence stops here)\n{running}{}",
                    self.stack.state().await
                ));
                // Every later settle would wait as long: the rest of the sequence is skipped.
                self.stuck = true;
                return false;
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }

    /// Tasks running or due within seconds, but for the periodic ones (the stuck-check
    /// reconciler runs every quarter of its age, a quarter of a second here, and takes longer
    /// as a long-lived stack collects old PRs: the queue is never idle for it).
    async fn busy_tasks(&self) -> usize {
        // Counted by the database: listing the rows every 15 ms on every stack costs the
        // driver more CPU than the service's own work.
        const BUSY: &str = "SELECT COUNT(*) FROM tasks \
             WHERE name NOT IN ('reconcile_stuck_checks', 'babysit_pending_tft_runs') \
             AND (state = 'running' OR (state = 'pending' AND run_at <= $1))";
        let fedora_ci::db::Store::Postgres(pool) = &self.stack.store else {
            panic!("the model runs on PostgreSQL");
        };
        let horizon = chrono::Utc::now() + chrono::Duration::seconds(10);
        match sqlx::query_scalar::<_, i64>(BUSY)
            .bind(horizon)
            .fetch_one(pool)
            .await
        {
            Ok(count) => count as usize,
            Err(_) => 1,
        }
    }

    /// Ends the outages, then lets Koji, Testing Farm and Log Detective finish everything
    /// the service started, delivering every message and webhook, until nothing moves.
    async fn finish(&mut self) {
        while let Some(until) = self.outages.iter().map(|(_, until)| *until).max() {
            tokio::time::sleep_until(until).await;
            self.end_outages();
        }
        let verbose = std::env::var_os("FCI_MODEL_VERBOSE").is_some();
        let began = Instant::now();
        for round in 0..12 {
            if verbose {
                eprintln!("model: finish round {round} at {:.1?}", began.elapsed());
            }
            if !self.settle().await {
                return;
            }
            let mut moved = false;
            for (id, sha, target, state) in self.builds() {
                if matches!(state, Some(TaskState::Free | TaskState::Open)) {
                    self.move_build(id, &sha, &target, state);
                    if state == Some(TaskState::Free) {
                        self.move_build(id, &sha, &target, Some(TaskState::Open));
                    }
                    moved = true;
                }
            }
            if verbose {
                eprintln!("model:   builds moved at {:.1?}", began.elapsed());
            }
            let messages = std::mem::take(&mut self.koji_bus);
            moved |= !messages.is_empty();
            for message in messages {
                self.stack.deliver(&message.topic, &message.body).await;
                self.koji_delivered.push(message);
            }
            if !self.settle().await {
                return;
            }
            if verbose {
                eprintln!("model:   koji settled at {:.1?}", began.elapsed());
            }
            for (id, request) in self.open_requests().await {
                let overall = self.test_outcome(&request);
                while let Some(state) = self.stack.testing_farm.advance(&id, overall).await {
                    if state == "complete" {
                        break;
                    }
                }
                if !self.tf_pending.contains(&id) {
                    self.tf_pending.push(id);
                }
            }
            if verbose {
                eprintln!("model:   requests advanced at {:.1?}", began.elapsed());
            }
            let ids = std::mem::take(&mut self.tf_pending);
            moved |= !ids.is_empty();
            for id in ids {
                let body = json!({"request_id": id, "token": TF_TOKEN});
                self.stack.deliver(TESTING_FARM_RESULTS_TOPIC, &body).await;
            }
            if !self.settle().await {
                return;
            }
            for call in self.sequence_analyses() {
                if !self.ld_results.contains_key(&text(&call["analysis_id"])) {
                    self.ld_result(&call).await;
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        // Whatever is still pending with nothing left outside to finish it is the
        // reconciler's (`worker.stuck_check_minutes`, 2 h of service time): give it that
        // long, three times over.
        if verbose {
            eprintln!("model: finish rounds done at {:.1?}", began.elapsed());
            for pr in &self.prs {
                for flag in self.flags_shown(pr) {
                    if flag["status"] == "pending" {
                        eprintln!("model:   pending {} {}", flag["username"], flag["comment"]);
                    }
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(120 * 60).div_f64(TIME_SCALE) * 3;
        while Instant::now() < deadline && self.any_pending() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.settle().await;
    }

    /// Each message of the sequence with the service's verdict, for a failure's report.
    async fn messages_report(&self) -> String {
        let mut report = String::from("messages (outcome, reason):");
        for row in self.stack.inbound_from(self.first_message).await {
            report.push_str(&format!(
                "\n  {} {} {:?}",
                row.topic,
                row.outcome,
                row.reason.unwrap_or_default()
            ));
        }
        report
    }

    fn any_pending(&self) -> bool {
        self.prs.iter().any(|pr| {
            self.flags_shown(pr)
                .iter()
                .any(|flag| flag["status"] == "pending")
        })
    }

    fn facts(&self) -> Facts {
        Facts {
            seed: self.seq.seed,
            forge: self.forge,
            eln: self.seq.eln,
            prs: self
                .prs
                .iter()
                .map(|pr| PrFacts {
                    pr_id: pr.pr_id,
                    heads: pr.heads.clone(),
                    commands: pr.commands.clone(),
                })
                .collect(),
            outages: self.all_outages.clone(),
            budget_minutes: BUDGET_MINUTES,
            ld_results: self.ld_results.clone(),
        }
    }

    async fn observe(&self) -> Observed {
        let mut flags = BTreeMap::new();
        for pr in &self.prs {
            flags.insert(pr.pr_id, self.flags_shown(pr));
        }
        // Every flag post Pagure received (an outage's failed ones included: they are what
        // the service wanted shown at the time).
        let mut history: BTreeMap<u64, Vec<(String, String, String)>> = BTreeMap::new();
        for call in self
            .stack
            .pagure
            .calls()
            .into_iter()
            .skip(self.pagure_calls_before)
        {
            if call.method != "POST" || !call.path.ends_with("/flag") {
                continue;
            }
            let Some(pr_id) = call
                .path
                .trim_end_matches("/flag")
                .rsplit('/')
                .next()
                .and_then(|id| id.parse::<u64>().ok())
            else {
                continue;
            };
            let field = |name: &str| {
                call.form
                    .iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default()
            };
            history.entry(pr_id).or_default().push((
                field("username"),
                field("status"),
                field("comment"),
            ));
        }
        // Every commit status Forgejo received, as the flag post it stands for.
        let statuses = format!("/repos/{PROJECT}/statuses/");
        for call in self
            .stack
            .forgejo
            .calls()
            .into_iter()
            .skip(self.forgejo_calls_before)
        {
            let Some(sha) = call
                .path
                .strip_prefix(&statuses)
                .filter(|_| call.method == "POST")
            else {
                continue;
            };
            let Some(pr) = self
                .prs
                .iter()
                .find(|pr| pr.heads.iter().any(|head| head == sha))
            else {
                continue;
            };
            let (state, description) =
                unmapped(text(&call.body["state"]), text(&call.body["description"]));
            history.entry(pr.pr_id).or_default().push((
                format!("{} [{}]", text(&call.body["context"]), &sha[..7]),
                state,
                description,
            ));
        }
        let builds = self.builds();
        let mut tests = Vec::new();
        for id in self.sequence_requests() {
            if let Some(request) = self.read_request(&id).await {
                tests.push(test_run(&request, &builds));
            }
        }
        let mut dead = Vec::new();
        if let Ok(tasks) = fedora_ci::db::tasks::list_by_state(&self.stack.store, "dead", 50).await
        {
            dead = tasks.iter().map(|task| format!("{task:?}")).collect();
        }
        Observed {
            flags,
            history,
            builds: builds
                .into_iter()
                .map(|(_, sha, target, _)| (sha, target))
                .collect(),
            tests,
            dead_tasks: dead,
        }
    }
}

/// A Forgejo status's state and description as the Pagure flag it stands for: canceled,
/// which Forgejo has not, is sent as `error` "Canceled: …" (docs/behaviour.md).
fn unmapped(state: String, description: String) -> (String, String) {
    match description.strip_prefix("Canceled: ") {
        Some(reason) if state == "error" => ("canceled".to_owned(), reason.to_owned()),
        _ => (state, description),
    }
}

/// Which test, target and commit a Testing Farm request runs (from what Testing Farm holds).
fn test_run(request: &Json, builds: &[(i64, String, String, Option<TaskState>)]) -> TestRun {
    let fmf = &request["test"]["fmf"];
    let url = fmf["url"].as_str().unwrap_or_default();
    let name = fmf["name"].as_str().unwrap_or_default();
    let test = if url.contains("installability") {
        "installability"
    } else if url.contains("rpminspect") {
        "rpminspect"
    } else {
        name.trim_start_matches("/plans/").trim_start_matches('/')
    };
    let environment = &request["environments_requested"][0];
    let distro = environment["tmt"]["context"]["distro"]
        .as_str()
        .unwrap_or_default();
    let target = if distro == "fedora-eln" {
        "eln"
    } else {
        "rawhide"
    };
    let task: i64 = environment["variables"]["KOJI_TASK_ID"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_default();
    let sha = builds
        .iter()
        .find(|build| build.0 == task)
        .map(|build| build.1.clone())
        .unwrap_or_default();
    TestRun {
        koji_task: task,
        sha,
        target: target.to_owned(),
        test: test.to_owned(),
    }
}

fn text(value: &Json) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

fn short(body: &Json) -> String {
    let text = body.to_string();
    text.chars().take(300).collect()
}
