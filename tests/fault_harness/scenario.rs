//! The stream: many pull requests built from the real Pagure fixture (opened, pushed to,
//! commented on), each commit with the outcome its build and its tests will have, on a
//! timeline; bus noise from the real Koji fixtures and Pagure projects without CI.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value as Json, json};

use crate::clients_support::read_fixture;

/// Packages whose PRs Fedora CI runs on.
pub const ENABLED: [&str; 3] = ["optee_os", "python-ogr", "rust-serde"];
/// Enabled too, but Koji refuses every build of it: its builds fail permanently.
pub const DOOMED: &str = "libblocked";
/// An `rpms/` package without Fedora CI: its messages are stored, then ignored.
pub const NOT_ENABLED: &str = "bash";
/// Koji's permanent answer to a build of [`DOOMED`] (`koji.GenericError`).
pub const DOOMED_FAULT_CODE: i32 = 1000;
pub const DOOMED_FAULT_TEXT: &str = "package libblocked is blocked for tag f44-updates-candidate";

#[derive(Clone, Debug)]
pub struct Commit {
    pub sha: String,
    pub build_fails: bool,
    pub tests_fail: bool,
}

#[derive(Clone, Debug)]
pub struct PrPlan {
    pub package: &'static str,
    pub id: u64,
    pub commits: Vec<Commit>,
}

impl PrPlan {
    pub fn head(&self) -> &Commit {
        self.commits.last().unwrap()
    }

    pub fn project(&self) -> String {
        format!("rpms/{}", self.package)
    }

    pub fn doomed(&self) -> bool {
        self.package == DOOMED
    }

    pub fn enabled(&self) -> bool {
        self.package != NOT_ENABLED
    }
}

#[derive(Clone, Debug)]
pub enum Step {
    Open { pr: usize },
    Push { pr: usize, commit: usize },
    Comment { pr: usize, text: &'static str },
    Noise,
}

pub struct Scenario {
    pub prs: Vec<PrPlan>,
    /// Every scripted step with its time from the start, in time order.
    pub timeline: Vec<(Duration, Step)>,
    /// Which PR and commit a sha is.
    pub by_sha: HashMap<String, (usize, usize)>,
}

const COMMENTS: [&str; 3] = [
    "LGTM, thanks!",
    "/packit koji-build",
    "Could you also bump the release?",
];

fn random_sha() -> String {
    format!(
        "{:032x}{:08x}",
        rand::random::<u128>(),
        rand::random::<u32>()
    )
}

fn chance(probability: f64) -> bool {
    rand::random_range(0.0..1.0) < probability
}

fn seconds(from: f64, to: f64) -> f64 {
    rand::random_range(from..to)
}

impl Scenario {
    /// `prs` pull requests over `window`, and noise so that about `messages` are published
    /// in all once Koji's own messages (`koji_per_build` for each build) are counted.
    pub fn plan(prs: usize, messages: usize, window: Duration, koji_per_build: usize) -> Scenario {
        let mut plans = Vec::new();
        let mut next_id: HashMap<&str, u64> = HashMap::new();
        let doomed_prs = (prs / 12).max(2);
        let ignored_prs = (prs / 12).max(2);
        for index in 0..prs {
            let package = if index < doomed_prs {
                DOOMED
            } else if index < doomed_prs + ignored_prs {
                NOT_ENABLED
            } else {
                ENABLED[index % ENABLED.len()]
            };
            let id = next_id.entry(package).or_insert(1);
            let pushes = if package == DOOMED {
                0
            } else {
                rand::random_range(0..=2)
            };
            let commits = (0..=pushes)
                .map(|_| Commit {
                    sha: random_sha(),
                    build_fails: chance(0.15),
                    tests_fail: chance(0.2),
                })
                .collect();
            plans.push(PrPlan {
                package,
                id: *id,
                commits,
            });
            *id += 1;
        }

        let span = window.as_secs_f64();
        let mut timeline = Vec::new();
        let mut builds = 0;
        for (pr, plan) in plans.iter().enumerate() {
            let mut at = seconds(0.0, span * 0.6);
            let first = at;
            timeline.push((at, Step::Open { pr }));
            for commit in 1..plan.commits.len() {
                // Some pushes land while the previous commit builds, some after it is done.
                at += seconds(1.0, (span * 0.15).max(3.0));
                timeline.push((at, Step::Push { pr, commit }));
            }
            for _ in 0..rand::random_range(1..=2) {
                let text = COMMENTS[rand::random_range(0..COMMENTS.len())];
                timeline.push((
                    seconds(first, at.max(first) + 5.0),
                    Step::Comment { pr, text },
                ));
            }
            if plan.enabled() && !plan.doomed() {
                builds += plan.commits.len();
            }
        }
        let expected = timeline.len() + builds * koji_per_build;
        for _ in 0..messages.saturating_sub(expected) {
            timeline.push((seconds(0.0, span), Step::Noise));
        }
        timeline.sort_by(|a, b| a.0.total_cmp(&b.0));
        let by_sha = plans
            .iter()
            .enumerate()
            .flat_map(|(pr, plan)| {
                plan.commits
                    .iter()
                    .enumerate()
                    .map(move |(commit, c)| (c.sha.clone(), (pr, commit)))
            })
            .collect();
        Scenario {
            prs: plans,
            timeline: timeline
                .into_iter()
                .map(|(at, step)| (Duration::from_secs_f64(at), step))
                .collect(),
            by_sha,
        }
    }

    pub fn commit_of_source(&self, source: &str) -> Option<&Commit> {
        let sha = source.rsplit('#').next()?;
        let (pr, commit) = self.by_sha.get(sha)?;
        Some(&self.prs[*pr].commits[*commit])
    }
}

/// `pagure_pr_new.json`'s body made into `plan`'s PR at `sha`, in `namespace`.
pub fn pull_request_body(plan: &PrPlan, namespace: &str, sha: &str, agent: &str) -> Json {
    let mut template = read_fixture("packit-service/pagure_pr_new.json");
    template.as_object_mut().unwrap().remove("topic");
    let text = serde_json::to_string(&template)
        .unwrap()
        .replace("rpms/optee_os", &format!("{namespace}/{}", plan.package))
        .replace("optee_os", plan.package);
    let mut body: Json = serde_json::from_str(&text).unwrap();
    let package_id = plan.package.bytes().fold(1000u64, |hash, byte| {
        hash * 31 % 1_000_000 + u64::from(byte)
    });
    let pr = &mut body["pullrequest"];
    pr["id"] = json!(plan.id);
    pr["uid"] = json!(uuid::Uuid::new_v4().simple().to_string());
    pr["full_url"] = json!(format!(
        "https://src.fedoraproject.org/{namespace}/{}/pull-request/{}",
        plan.package, plan.id
    ));
    pr["commit_stop"] = json!(sha);
    pr["project"]["id"] = json!(package_id);
    pr["project"]["namespace"] = json!(namespace);
    pr["repo_from"]["parent"]["id"] = json!(package_id);
    pr["repo_from"]["id"] = json!(package_id + 1_000_000);
    body["agent"] = json!(agent);
    body
}

/// A comment on `plan`'s PR at `sha`, as `pagure.pull-request.comment.added` carries it.
pub fn comment_body(plan: &PrPlan, sha: &str, text: &str) -> Json {
    let fixture = read_fixture("packit-service/pagure_pr_comment.json");
    let mut comment = fixture["pullrequest"]["comments"]
        .as_array()
        .and_then(|comments| comments.last())
        .cloned()
        .unwrap();
    comment["comment"] = json!(text);
    comment["id"] = json!(rand::random_range(100_000..1_000_000_000u64));
    let author = comment["user"]["name"].clone();
    let mut body = pull_request_body(plan, "rpms", sha, author.as_str().unwrap());
    body["pullrequest"]["comments"] = json!([comment]);
    body
}

/// Bus traffic the service must drop at once: another owner's Koji task, or a PR in a
/// namespace without CI.
pub fn noise() -> (&'static str, Json) {
    if chance(0.5) {
        let fixture = if chance(0.5) {
            "packit-service/koji_build_scratch_start.json"
        } else {
            "packit-service/koji_build_scratch_end.json"
        };
        let mut body = read_fixture(fixture);
        body.as_object_mut().unwrap().remove("topic");
        let owner = ["releng", "kevin", "ngompa", "sharkcz"][rand::random_range(0..4)];
        let id = rand::random_range(50_000_000..90_000_000i64);
        body["owner"] = json!(owner);
        body["id"] = json!(id);
        if let Some(info) = body["info"].as_object_mut() {
            info.insert("id".into(), json!(id));
        }
        ("buildsys.task.state.change", body)
    } else {
        let plan = PrPlan {
            package: "flatpak-runtime",
            id: rand::random_range(1..10_000),
            commits: Vec::new(),
        };
        let topic = if chance(0.5) {
            "pagure.pull-request.new"
        } else {
            "pagure.pull-request.updated"
        };
        (
            topic,
            pull_request_body(&plan, "container", &random_sha(), "someone"),
        )
    }
}
