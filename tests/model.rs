//! Model-based test of the PR life cycle (issue #14): seeded random sequences of pull-request
//! events, comments, Koji messages (duplicated, late, out of order, lying), Testing Farm
//! webhooks, Log Detective results and outages of hours (service time, `worker.time_scale`)
//! drive the real service (intake, the worker with every handler, PostgreSQL, the fakes on
//! loopback); after each sequence settles, a small reference model says what the flags must be.
//!
//! `FCI_MODEL_SEQUENCES` (default 300) sequences, seeds from `FCI_MODEL_SEED` (default 1) on;
//! `FCI_MODEL_ONLY=<seed>` replays one; `FCI_MODEL_STACKS` (default 4) stacks run sequences
//! side by side. The seeds in tests/model/regressions.txt always run first.
//!
//! Every stack serves Pagure and Forgejo: a sequence's pull requests live on Pagure when its
//! seed is even, on Forgejo when it is odd (a kept seed on Pagure unless written
//! `forgejo:<seed>`), so both forges get half of every run.
//! See docs/reliability.md, "Model-based test of the PR life cycle".

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;
#[allow(dead_code)]
#[path = "pipeline/stack.rs"]
mod stack;

#[path = "model/driver.rs"]
mod driver;
#[path = "model/generator.rs"]
mod generator;
#[path = "model/reference.rs"]
mod reference;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use fedora_ci::events::ForgeKind;

use crate::driver::{Run, TIME_SCALE};
use crate::generator::{Sequence, generate};
use crate::stack::Stack;

const REGRESSIONS: &str = include_str!("model/regressions.txt");

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(default)
}

/// A seed and the forge its sequence runs on: `forgejo:<seed>` or `pagure:<seed>`, else
/// `default`.
fn seed_on(text: &str, default: ForgeKind) -> Option<(u64, ForgeKind)> {
    let text = text.trim();
    match text.split_once(':') {
        Some((forge, seed)) => Some((seed.trim().parse().ok()?, ForgeKind::from_name(forge)?)),
        None => Some((text.parse().ok()?, default)),
    }
}

/// The forge of a generated seed: both get half of every run.
fn forge_of(seed: u64) -> ForgeKind {
    if seed % 2 == 1 {
        ForgeKind::Forgejo
    } else {
        ForgeKind::Pagure
    }
}

/// The seeds to run: the kept regressions first, then `count` from `first` on.
fn seeds() -> Vec<(u64, ForgeKind)> {
    if let Ok(only) = std::env::var("FCI_MODEL_ONLY") {
        return only
            .split(',')
            .filter_map(|text| {
                let (seed, _) = seed_on(text, ForgeKind::Pagure)?;
                seed_on(text, forge_of(seed))
            })
            .collect();
    }
    let mut seeds: Vec<(u64, ForgeKind)> = REGRESSIONS
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .filter_map(|seed| seed_on(seed, ForgeKind::Pagure))
        .collect();
    let count = env_number("FCI_MODEL_SEQUENCES", 300);
    let first = env_number("FCI_MODEL_SEED", 1);
    let kept: Vec<u64> = seeds.iter().map(|(seed, _)| *seed).collect();
    seeds.extend(
        (0..count)
            .map(|index| first.wrapping_mul(1_000_003).wrapping_add(index))
            .filter(|seed| !kept.contains(seed))
            .map(|seed| (seed, forge_of(seed))),
    );
    seeds
}

struct Failure {
    sequence: Sequence,
    forge: ForgeKind,
    violations: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pr_life_cycle_against_the_reference_model() {
    let seeds = Arc::new(seeds());
    let stacks = env_number("FCI_MODEL_STACKS", 4).max(1) as usize;
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<Failure>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for stack_number in 0..stacks {
        let (seeds, next, failures) = (seeds.clone(), next.clone(), failures.clone());
        // One task: the sequences wait on I/O, and the settle helper is not `Send`.
        workers.push(async move {
            let start = || {
                Stack::start(|config| {
                    config.worker.time_scale = TIME_SCALE;
                    // Forgejo logins are the packagers' FAS names here, so that commands run
                    // on both forges alike.
                    let forgejo = config.forgejo.as_mut().expect("the stack serves Forgejo");
                    forgejo.logins_are_fas_usernames = true;
                    let project = format!("{}/{}", forgejo.web_url, driver::PROJECT);
                    config.fedora_ci.enabled_projects.push(project);
                    // No webhook in the requests: the fake Testing Farm would call it itself with
                    // a new HTTPS client per move (a tenth of a second each). The model delivers
                    // the webhook bodies through intake instead, when and as often as it chooses.
                    config.server_name = None;
                })
            };
            let mut stack = start().await;
            // PR ids are unique per stack and sequence, so sequences never share a flag.
            let mut pr_id = 1000 + stack_number as u64 * 1_000_000;
            loop {
                let index = next.fetch_add(1, Ordering::SeqCst);
                let Some((seed, forge)) = seeds.get(index).copied() else {
                    break;
                };
                let sequence = generate(seed);
                let (violations, stuck) = Run::new(&stack, &sequence, forge, pr_id).run().await;
                pr_id += 10;
                // A fresh stack now and then, so that a long run's database (and the
                // reconciler's work on old PRs) stays the size of CI's.
                if stuck || (index + 1) % 100 == 0 {
                    // A task that never ends would fail every later sequence: a fresh stack.
                    // (Its worker may never stop: give it seconds, then leave it behind.)
                    let _ = tokio::time::timeout(Duration::from_secs(10), stack.stop()).await;
                    stack = start().await;
                }
                if !violations.is_empty() {
                    eprintln!(
                        "model: sequence failed on {forge}: {sequence}{}\n",
                        violations.join("\n")
                    );
                    failures.lock().await.push(Failure {
                        sequence,
                        forge,
                        violations,
                    });
                }
                if (index + 1) % 50 == 0 {
                    eprintln!(
                        "model: {} sequences in {:.0?}, {} failed so far",
                        index + 1,
                        started.elapsed(),
                        failures.lock().await.len()
                    );
                }
            }
            stack.stop().await;
        });
    }
    futures_util::future::join_all(workers).await;
    let failures = failures.lock().await;
    let on_forgejo = seeds
        .iter()
        .filter(|(_, forge)| *forge == ForgeKind::Forgejo)
        .count();
    eprintln!(
        "model: {} sequences ({on_forgejo} on Forgejo), {} failed, in {:.1?} ({stacks} stacks)",
        seeds.len(),
        failures.len(),
        started.elapsed()
    );
    if !failures.is_empty() {
        // Each failure's steps and violations were printed when it happened; here one line
        // per failed seed.
        let mut report = String::new();
        for failure in failures.iter() {
            report.push_str(&format!(
                "seed {} ({}): {}\n",
                failure.sequence.seed,
                failure.forge,
                failure.violations[0].lines().next().unwrap_or_default()
            ));
        }
        let seeds: Vec<String> = failures
            .iter()
            .map(|failure| format!("{}:{}", failure.forge.name(), failure.sequence.seed))
            .collect();
        panic!(
            "{} of {} sequences broke an invariant (keep the seeds in tests/model/regressions.txt; replay with FCI_MODEL_ONLY={}):\n\n{report}",
            failures.len(),
            seeds.len(),
            seeds.join(",")
        );
    }
}

/// The reference model's checks can fail: hand-made observations of a one-PR sequence.
mod reference_checks {
    use std::collections::BTreeMap;

    use serde_json::json;

    use crate::generator::TESTS;
    use crate::reference::{Build, Facts, Observed, PrFacts, build_outcome, check, test_outcome};

    const SEED: u64 = 7;
    const PR: u64 = 5;

    /// A head whose rawhide build succeeds under `SEED`.
    fn head() -> String {
        (0..1000)
            .map(|number| format!("{number:040x}"))
            .find(|sha| build_outcome(SEED, sha, "rawhide") == Build::Succeeds)
            .unwrap()
    }

    fn facts(sha: &str) -> Facts {
        Facts {
            seed: SEED,
            forge: fedora_ci::events::ForgeKind::Pagure,
            eln: false,
            prs: vec![PrFacts {
                pr_id: PR,
                heads: vec![sha.to_owned()],
                commands: Vec::new(),
            }],
            outages: Vec::new(),
            budget_minutes: 360,
            ld_results: BTreeMap::new(),
        }
    }

    /// What the service must leave: the build and every test final as the seed says.
    fn correct(sha: &str) -> Observed {
        let flag = |check: &str, status: &str| {
            json!({"username": format!("Packit-stg - {check} - rawhide [{}]", &sha[..7]),
                   "status": status, "comment": ""})
        };
        let mut flags = vec![flag("scratch build", "success")];
        let mut history = vec![(
            format!("Packit-stg - scratch build - rawhide [{}]", &sha[..7]),
            "success".to_owned(),
            String::new(),
        )];
        for test in TESTS {
            let status = match test_outcome(SEED, sha, "rawhide", test) {
                "passed" => "success",
                "failed" => "failure",
                _ => "error",
            };
            flags.push(flag(test, status));
            history.push((
                format!("Packit-stg - {test} - rawhide [{}]", &sha[..7]),
                status.to_owned(),
                String::new(),
            ));
        }
        Observed {
            flags: BTreeMap::from([(PR, flags)]),
            history: BTreeMap::from([(PR, history)]),
            builds: vec![(sha.to_owned(), "rawhide".to_owned())],
            tests: Vec::new(),
            dead_tasks: Vec::new(),
        }
    }

    #[test]
    fn a_correct_end_passes() {
        let sha = head();
        assert_eq!(check(&facts(&sha), &correct(&sha)), Vec::<String>::new());
    }

    #[test]
    fn a_second_build_without_a_command_fails_c() {
        let sha = head();
        let mut observed = correct(&sha);
        observed.builds.push((sha.clone(), "rawhide".to_owned()));
        let violations = check(&facts(&sha), &observed);
        assert!(
            violations.iter().any(|v| v.starts_with("(c)")),
            "{violations:?}"
        );
    }

    #[test]
    fn a_flag_going_back_fails_b_and_a_pending_one_fails_a() {
        let sha = head();
        let mut observed = correct(&sha);
        let name = format!("Packit-stg - scratch build - rawhide [{}]", &sha[..7]);
        observed.history.get_mut(&PR).unwrap().push((
            name.clone(),
            "pending".to_owned(),
            "The task was accepted.".to_owned(),
        ));
        observed.flags.get_mut(&PR).unwrap()[0]["status"] = json!("pending");
        let violations = check(&facts(&sha), &observed);
        assert!(
            violations.iter().any(|v| v.starts_with("(b)")),
            "{violations:?}"
        );
        assert!(
            violations.iter().any(|v| v.starts_with("(a)")),
            "{violations:?}"
        );
    }

    #[test]
    fn a_build_shown_failed_when_the_hub_closed_it_fails_d() {
        let sha = head();
        let mut observed = correct(&sha);
        observed.flags.get_mut(&PR).unwrap()[0]["status"] = json!("failure");
        let violations = check(&facts(&sha), &observed);
        assert!(
            violations
                .iter()
                .any(|v| v.contains("the model says success")),
            "{violations:?}"
        );
    }
}
