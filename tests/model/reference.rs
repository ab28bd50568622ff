//! The reference model: from what the sequence did (heads pushed, packagers' commands,
//! outages, Log Detective results) and the seed's outcomes, what the PR's flags must be once
//! everything settled, checked against what the service left. It shares no code with the
//! service: it knows only Fedora CI's documented behaviour (docs/behaviour.md) and the
//! invariants of issue #14:
//!
//! (a) every check of a head commit ends final (success, failure, error, canceled);
//! (b) a flag never goes back for the same commit unless a packager's command started new
//!     work for it;
//! (c) at most one Koji build per (commit, target) unless a packager asked for one;
//! (d) state comes from the source of truth (a lying Koji message cannot fail a build: the
//!     flags must equal the hub's outcome);
//! (e) the same event twice changes nothing (checked by the driver, around each duplicate).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::generator::{CommentKind, Service, TESTS, hash};

const PREFIX: &str = "Packit-stg";

/// A packager's command, with the head it was given on.
#[derive(Clone, Debug)]
pub struct Command {
    pub comment_id: u64,
    pub kind: CommentKind,
    pub head: String,
}

pub struct PrFacts {
    pub pr_id: u64,
    /// Every head pushed, oldest first; the last is the head.
    pub heads: Vec<String>,
    pub commands: Vec<Command>,
}

pub struct Facts {
    pub seed: u64,
    /// The forge the sequence's pull requests live on.
    pub forge: fedora_ci::events::ForgeKind,
    pub eln: bool,
    pub prs: Vec<PrFacts>,
    /// (service, minutes of service time).
    pub outages: Vec<(Service, u64)>,
    pub budget_minutes: u64,
    /// Log Detective results delivered: analysis id → whether it was the error result.
    pub ld_results: BTreeMap<String, bool>,
}

/// One Testing Farm request: the build it tests, its commit, target and test.
#[derive(Clone, Debug)]
pub struct TestRun {
    pub koji_task: i64,
    pub sha: String,
    pub target: String,
    pub test: String,
}

pub struct Observed {
    /// PR id → the flags Pagure shows.
    pub flags: BTreeMap<u64, Vec<Json>>,
    /// PR id → every flag post received, in order: (name, status, comment).
    pub history: BTreeMap<u64, Vec<(String, String, String)>>,
    /// Every Koji build of the sequence: (commit, target).
    pub builds: Vec<(String, String)>,
    pub tests: Vec<TestRun>,
    pub dead_tasks: Vec<String>,
}

/// How the seed says a build ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Build {
    Succeeds,
    /// These arches fail, and with them the build.
    Fails(Vec<&'static str>),
}

/// 70 % of builds succeed; the rest fail on aarch64, or on both arches.
pub fn build_outcome(seed: u64, sha: &str, target: &str) -> Build {
    match hash(seed, &format!("build {sha} {target}")) % 10 {
        0..=6 => Build::Succeeds,
        7 | 8 => Build::Fails(vec!["aarch64"]),
        _ => Build::Fails(vec!["x86_64", "aarch64"]),
    }
}

/// Testing Farm's `overall` for a test of a commit and target: 70 % passed, 20 % failed,
/// 10 % error. The same for every run of it, so the last run's result is known.
pub fn test_outcome(seed: u64, sha: &str, target: &str, test: &str) -> &'static str {
    match hash(seed, &format!("test {sha} {target} {test}")) % 10 {
        0..=6 => "passed",
        7 | 8 => "failed",
        _ => "error",
    }
}

/// Whether Log Detective answers an analysis with its error result (20 %).
pub fn log_detective_fails(seed: u64, analysis_id: &str) -> bool {
    hash(seed, &format!("ld {analysis_id}")).is_multiple_of(5)
}

/// Whether a command may have acted on `sha`: it was given on that head or an older one (a
/// comment acts on the newest head the service knows when it runs, which may be a later push
/// when the comment waited, e.g. out of an outage).
fn applies(command: &Command, sha: &str, heads: &[String]) -> bool {
    let given = heads.iter().position(|head| *head == command.head);
    let target = heads.iter().position(|head| head == sha);
    matches!((given, target), (Some(given), Some(target)) if given <= target)
}

fn is_final(status: &str) -> bool {
    matches!(status, "success" | "failure" | "error" | "canceled")
}

fn flag_name(check: &str, target: &str, sha: &str) -> String {
    format!("{PREFIX} - {check} - {target} [{}]", &sha[..7])
}

fn field<'a>(flag: &'a Json, name: &str) -> &'a str {
    flag[name].as_str().unwrap_or_default()
}

/// What the final status of a check may be.
struct Expect {
    name: String,
    status: &'static str,
    /// An outage longer than half the budget of a service this check needs: giving up
    /// with an `error` flag that says the service was unavailable is also right.
    may_give_up: Vec<Service>,
}

pub fn check(facts: &Facts, observed: &Observed) -> Vec<String> {
    let mut violations = Vec::new();
    // The services of `services` that were down longer than half the budget.
    let long = |services: &[Service]| -> Vec<Service> {
        facts
            .outages
            .iter()
            .filter(|(service, minutes)| {
                services.contains(service) && *minutes * 2 > facts.budget_minutes
            })
            .map(|(service, _)| *service)
            .collect()
    };
    let targets: Vec<&str> = if facts.eln {
        vec!["rawhide", "eln"]
    } else {
        vec!["rawhide"]
    };

    for pr in &facts.prs {
        let flags = observed.flags.get(&pr.pr_id).cloned().unwrap_or_default();
        let Some(head) = pr.heads.last() else {
            continue;
        };
        let by_name: BTreeMap<&str, &Json> = flags
            .iter()
            .map(|flag| (field(flag, "username"), flag))
            .collect();

        // (a) nothing pending, on any commit; old commits' checks final (canceled or kept).
        for flag in &flags {
            let name = field(flag, "username");
            if !is_final(field(flag, "status")) {
                violations.push(format!(
                    "(a) PR {}: flag {name:?} left {:?} {:?}",
                    pr.pr_id,
                    field(flag, "status"),
                    field(flag, "comment")
                ));
            }
            if !pr
                .heads
                .iter()
                .any(|sha| name.ends_with(&format!("[{}]", &sha[..7])))
            {
                violations.push(format!(
                    "PR {}: flag {name:?} for no commit of the PR",
                    pr.pr_id
                ));
            }
        }

        // The head's checks.
        let mut expected: Vec<Expect> = Vec::new();
        let mut accounted: Vec<String> = Vec::new();
        for target in &targets {
            let build = build_outcome(facts.seed, head, target);
            let build_name = flag_name("scratch build", target, head);
            expected.push(Expect {
                name: build_name.clone(),
                status: if build == Build::Succeeds {
                    "success"
                } else {
                    "failure"
                },
                may_give_up: long(&[Service::Koji, Service::Pagure]),
            });
            let actual_build = by_name
                .get(build_name.as_str())
                .map(|flag| field(flag, "status"));
            match (&build, actual_build) {
                (Build::Succeeds, Some("success")) => {
                    for test in TESTS {
                        let status = match test_outcome(facts.seed, head, target, test) {
                            "passed" => "success",
                            "failed" => "failure",
                            _ => "error",
                        };
                        expected.push(Expect {
                            name: flag_name(test, target, head),
                            status,
                            may_give_up: long(&[
                                Service::TestingFarm,
                                Service::Pagure,
                                Service::Koji,
                            ]),
                        });
                    }
                }
                (Build::Fails(arches), Some("failure")) => {
                    for arch in arches {
                        let name =
                            flag_name("Log Detective analysis", &format!("{target}-{arch}"), head);
                        // Log Detective answered each analysis with the seed's result; the
                        // flag follows the last one (success for `complete`, error for
                        // `error`), so either may be last when several analyses ran.
                        let statuses: Vec<bool> = facts.ld_results.values().copied().collect();
                        let status = if statuses.iter().all(|error| !error) {
                            "success"
                        } else {
                            ""
                        };
                        expected.push(Expect {
                            name,
                            status,
                            may_give_up: long(&[
                                Service::LogDetective,
                                Service::Pagure,
                                Service::Koji,
                            ]),
                        });
                    }
                }
                _ => {}
            }
        }
        for expect in &expected {
            accounted.push(expect.name.clone());
            let Some(flag) = by_name.get(expect.name.as_str()) else {
                violations.push(format!(
                    "(a) PR {}: no flag {:?} on the head (expected {})",
                    pr.pr_id, expect.name, expect.status
                ));
                continue;
            };
            let status = field(flag, "status");
            let comment = field(flag, "comment");
            let gave_up = status == "error"
                && comment.contains("unavailable")
                && expect
                    .may_give_up
                    .iter()
                    .any(|service| comment.contains(service.name(facts.forge)));
            let right = if expect.status.is_empty() {
                matches!(status, "success" | "error")
            } else {
                status == expect.status
            };
            if !right && !gave_up {
                let posts: Vec<String> = observed
                    .history
                    .get(&pr.pr_id)
                    .into_iter()
                    .flatten()
                    .filter(|(name, _, _)| *name == expect.name)
                    .map(|(_, status, comment)| format!("{status}: {comment}"))
                    .collect();
                violations.push(format!(
                    "PR {}: flag {:?} is {status} {comment:?}, the model says {}{} (posts: {posts:?})",
                    pr.pr_id,
                    expect.name,
                    if expect.status.is_empty() {
                        "success or error"
                    } else {
                        expect.status
                    },
                    if expect.may_give_up.is_empty() {
                        ""
                    } else {
                        " (or an error naming the outage)"
                    }
                ));
            }
        }
        // Other flags on the head (tests asked for on a build that then failed, a test after
        // a given-up build) must be final and must not claim success.
        for flag in &flags {
            let name = field(flag, "username");
            if name.ends_with(&format!("[{}]", &head[..7]))
                && !accounted.iter().any(|known| known == name)
                && field(flag, "status") == "success"
            {
                violations.push(format!(
                    "PR {}: flag {name:?} is success but the model has no such check on the head ({:?})",
                    pr.pr_id,
                    field(flag, "comment")
                ));
            }
        }

        // (b) no flag goes back from a final status unless a command started new work.
        if let Some(history) = observed.history.get(&pr.pr_id) {
            let mut last: BTreeMap<&str, &str> = BTreeMap::new();
            let mut reopened: BTreeMap<&str, usize> = BTreeMap::new();
            for (name, status, _) in history {
                if let Some(previous) = last.get(name.as_str())
                    && is_final(previous)
                    && previous != status
                {
                    *reopened.entry(name.as_str()).or_default() += 1;
                }
                last.insert(name.as_str(), status.as_str());
            }
            for (name, times) in reopened {
                let commands = pr
                    .commands
                    .iter()
                    .filter(|command| {
                        pr.heads.iter().any(|sha| {
                            name.ends_with(&format!("[{}]", &sha[..7]))
                                && applies(command, sha, &pr.heads)
                        })
                    })
                    .map(|command| command.comment_id)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                if times > commands {
                    let statuses: Vec<String> = history
                        .iter()
                        .filter(|(flag, _, _)| flag == name)
                        .map(|(_, status, comment)| format!("{status}: {comment}"))
                        .collect();
                    violations.push(format!(
                        "(b) PR {}: flag {name:?} went back from a final status {times} time(s) with {commands} command(s) for its commit: {statuses:?}",
                        pr.pr_id
                    ));
                }
            }
        }

        // (c) builds per (commit, target).
        for sha in &pr.heads {
            for target in &targets {
                let builds = observed
                    .builds
                    .iter()
                    .filter(|(built, built_for)| built == sha && built_for == target)
                    .count();
                let failed = build_outcome(facts.seed, sha, target) != Build::Succeeds
                    || !long(&[Service::Koji, Service::Pagure]).is_empty();
                let asked = pr
                    .commands
                    .iter()
                    .filter(|command| applies(command, sha, &pr.heads))
                    .filter(|command| match &command.kind {
                        CommentKind::ScratchBuild => true,
                        CommentKind::ScratchBuildEln => *target == "eln",
                        // `test` on a commit without a successful build builds first.
                        CommentKind::Test | CommentKind::TestName(_) | CommentKind::TestFailed => {
                            failed
                        }
                        CommentKind::TestEln => failed && *target == "eln",
                        _ => false,
                    })
                    .count();
                if builds > 1 + asked {
                    violations.push(format!(
                        "(c) PR {}: {builds} Koji builds of {sha} for {target}, {asked} asked for by packagers",
                        pr.pr_id
                    ));
                }
            }
        }
        // Tests per build and test: once, and once more per packager's test command.
        let mut runs: BTreeMap<(i64, &str, &str), usize> = BTreeMap::new();
        for run in observed
            .tests
            .iter()
            .filter(|run| pr.heads.contains(&run.sha))
        {
            *runs
                .entry((run.koji_task, run.target.as_str(), run.test.as_str()))
                .or_default() += 1;
        }
        for ((task, target, test), count) in runs {
            let asked = pr
                .commands
                .iter()
                .filter(|command| match &command.kind {
                    CommentKind::Test | CommentKind::TestFailed => true,
                    CommentKind::TestEln => target == "eln",
                    CommentKind::TestName(name) => *name == test,
                    _ => false,
                })
                .count();
            if count > 1 + asked {
                violations.push(format!(
                    "(c) PR {}: test {test} for {target} ran {count} times on Koji task {task}, {asked} test command(s)",
                    pr.pr_id
                ));
            }
        }
    }
    if !observed.dead_tasks.is_empty() && !violations.is_empty() {
        violations.push(format!("dead tasks: {:#?}", observed.dead_tasks));
    }
    violations
}
