//! The Fedora CI tests and the Testing Farm request that runs one of them.
//!
//! The tests are data ([`FedoraCiTest`]) rather than code, so adding a shared test is a
//! configuration change. [`default_tests`] are the six tests packit-service registers with
//! `@implements_fedora_ci_test`, and [`test_request`] builds the body packit-service's
//! `DownstreamTestingFarmJobHelper` sends, field for field.

use crate::clients::testing_farm::{
    Artifact, Environment, ListedRequest, Notification, Os, TestRequest, TestSpec, TmtEnvironment,
    TmtTest, Webhook,
};
use crate::config::Deployment;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// In [`FedoraCiTest::url`]: the git URL of the pull request's source repository.
pub const SOURCE_GIT_URL_PLACEHOLDER: &str = "{source_git_url}";
/// In [`FedoraCiTest::git_ref`]: the pull request's head commit.
pub const HEAD_SHA_PLACEHOLDER: &str = "{head_sha}";

/// Every Fedora CI test runs on this architecture only.
const ARCH: &str = "x86_64";
const KOJI_ARTIFACT_TYPE: &str = "fedora-koji-build";
const SHARED_TESTS_URL: &str = "https://forge.fedoraproject.org/ci/shared-tests";

/// One Fedora CI test; the list is configuration, so a new shared test needs no release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FedoraCiTest {
    pub name: String,
    /// tmt repository; the placeholder "{source_git_url}" means the PR's source repository
    /// (custom test).
    pub url: String,
    /// git ref; "{head_sha}" means the PR head commit.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// ref used when deployment is not prod (shared-tests use `stg`); None = same as git_ref.
    #[serde(default)]
    pub ref_outside_prod: Option<String>,
    #[serde(default)]
    pub plan: Option<String>,
    /// whether environments[0].os.compose is sent (installability and custom)
    #[serde(default)]
    pub compose: bool,
    /// whether the Koji task is passed as a `fedora-koji-build` artifact (custom only)
    #[serde(default)]
    pub koji_artifact: bool,
    /// dist-git namespaces the test runs for: ["rpms"] for the five shared tests,
    /// ["rpms","tests"] for custom
    pub namespaces: Vec<String>,
    /// runs only when `.fmf/version` exists at the head commit (custom)
    #[serde(default)]
    pub requires_fmf: bool,
}

impl FedoraCiTest {
    /// Whether the test applies to a project in this dist-git namespace (`rpms`, `tests`).
    pub fn runs_in_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|allowed| allowed == namespace)
    }

    /// The ref to test before placeholders are filled in: staging tries the shared tests'
    /// `stg` branch before production gets it.
    fn ref_for(&self, deployment: Deployment) -> &str {
        match (deployment, &self.ref_outside_prod) {
            (Deployment::Prod, _) | (_, None) => &self.git_ref,
            (_, Some(outside_prod)) => outside_prod,
        }
    }
}

/// The tests packit-service runs, in its order (reference §3.2).
pub fn default_tests() -> Vec<FedoraCiTest> {
    let rpms = || vec!["rpms".to_owned()];
    let pipeline = |name: &str, url: &str, git_ref: &str, plan: Option<&str>| FedoraCiTest {
        name: name.to_owned(),
        url: url.to_owned(),
        git_ref: git_ref.to_owned(),
        ref_outside_prod: None,
        plan: plan.map(str::to_owned),
        compose: false,
        koji_artifact: false,
        namespaces: rpms(),
        requires_fmf: false,
    };
    let shared = |name: &str, plan: &str| FedoraCiTest {
        ref_outside_prod: Some("stg".to_owned()),
        ..pipeline(name, SHARED_TESTS_URL, "main", Some(plan))
    };
    vec![
        FedoraCiTest {
            // Installs the built RPMs, so it needs the distribution's own image.
            compose: true,
            ..pipeline(
                "installability",
                "https://github.com/fedora-ci/installability-pipeline.git",
                "master",
                None,
            )
        },
        // rpminspect and rpmlint bring their own container in the tmt plan: no compose.
        pipeline(
            "rpminspect",
            "https://github.com/fedora-ci/rpminspect-pipeline.git",
            "master",
            None,
        ),
        pipeline(
            "rpmlint",
            "https://github.com/packit/tmt-plans.git",
            "main",
            Some("/plans/rpmlint"),
        ),
        shared("rmdepcheck", "/rmdepcheck"),
        shared("license-validate", "/license-validate"),
        FedoraCiTest {
            name: "custom".to_owned(),
            url: SOURCE_GIT_URL_PLACEHOLDER.to_owned(),
            git_ref: HEAD_SHA_PLACEHOLDER.to_owned(),
            ref_outside_prod: None,
            plan: None,
            compose: true,
            koji_artifact: true,
            namespaces: vec!["rpms".to_owned(), "tests".to_owned()],
            requires_fmf: true,
        },
    ]
}

/// What a Testing Farm request depends on besides the test itself.
#[derive(Debug, Clone)]
pub struct PayloadInput<'a> {
    pub test: &'a FedoraCiTest,
    pub deployment: Deployment,
    /// e.g. "fedora-rawhide", from [`distro_for_koji_target`].
    pub distro: &'a str,
    /// Already resolved with [`compose_for_distro`]; used only when `test.compose`.
    pub compose: Option<&'a str>,
    /// The PR's raw target branch (may be "main").
    pub dist_git_branch: &'a str,
    /// None in the tests namespace, where nothing is built.
    pub koji_task_id: Option<i64>,
    /// The git URL of the PR's source repository, e.g.
    /// `https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git`; see
    /// [`pagure_git_url`].
    pub source_git_url: &'a str,
    pub head_sha: &'a str,
    /// None → no `notification`.
    pub webhook: Option<Webhook>,
}

/// The body of `POST /requests` that runs `input.test`.
pub fn test_request(input: &PayloadInput<'_>) -> TestRequest {
    TestRequest {
        test: TestSpec {
            tmt: tmt_test(input),
        },
        environments: vec![environment(input)],
        notification: input
            .webhook
            .clone()
            .map(|webhook| Notification { webhook }),
    }
}

fn tmt_test(input: &PayloadInput<'_>) -> TmtTest {
    let fill = |value: &str| {
        value
            .replace(SOURCE_GIT_URL_PLACEHOLDER, input.source_git_url)
            .replace(HEAD_SHA_PLACEHOLDER, input.head_sha)
    };
    TmtTest {
        url: fill(&input.test.url),
        git_ref: fill(input.test.ref_for(input.deployment)),
        name: input.test.plan.clone(),
    }
}

/// The single environment. `KOJI_TASK_ID` is set whenever there is a build, even for tests
/// that do not get the build as an artifact: those fetch it themselves.
fn environment(input: &PayloadInput<'_>) -> Environment {
    let task_id = input.koji_task_id.map(|id| id.to_string());
    let variables = task_id
        .iter()
        .map(|id| ("KOJI_TASK_ID".to_owned(), id.clone()))
        .collect();
    let artifacts = task_id
        .iter()
        .filter(|_| input.test.koji_artifact)
        .map(|id| Artifact {
            id: id.clone(),
            kind: KOJI_ARTIFACT_TYPE.to_owned(),
        })
        .collect();
    let os = input
        .compose
        .filter(|_| input.test.compose)
        .map(|compose| Os {
            compose: compose.to_owned(),
        });
    Environment {
        arch: ARCH.to_owned(),
        os,
        variables,
        artifacts,
        tmt: TmtEnvironment {
            context: tmt_context(input.distro, input.dist_git_branch, input.deployment),
        },
    }
}

/// The tmt context the Fedora CI plans select on. `variant: eln` marks an ELN build made
/// from a Rawhide pull request, which plans cannot tell from `dist-git-branch` alone.
pub fn tmt_context(
    distro: &str,
    dist_git_branch: &str,
    deployment: Deployment,
) -> BTreeMap<String, String> {
    let mut context: BTreeMap<String, String> = [
        ("distro", distro),
        ("arch", ARCH),
        ("trigger", "commit"),
        ("initiator", "fedora-ci"),
        ("dist-git-branch", dist_git_branch),
        ("deployment", deployment_name(deployment)),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value.to_owned()))
    .collect();
    if dist_git_branch == "rawhide" && distro == "fedora-eln" {
        context.insert("variant".to_owned(), "eln".to_owned());
    }
    context
}

fn deployment_name(deployment: Deployment) -> &'static str {
    match deployment {
        Deployment::Prod => "prod",
        Deployment::Stg => "stg",
        Deployment::Dev => "dev",
    }
}

/// The Testing Farm distro of a Koji target, as packit-service derives it: packit's
/// `aliases.get_build_targets(target)` gives a chroot such as `epel-9-x86_64`, the arch is
/// dropped, and `DEFAULT_MAPPING_TF` (plus its EPEL minor-version entries) turns EPEL into
/// the CentOS it builds on.
///
/// packit resolves targets through the active releases Bodhi lists; this works from the
/// target's shape instead, so it needs no network and does not depend on which releases are
/// current. `main` is read as `rawhide`, as for Koji targets. Anything else is returned
/// unchanged, which is what packit does with a target it does not know; the compose lookup
/// then fails for it rather than testing on a guessed distribution.
pub fn distro_for_koji_target(target: &str) -> String {
    match target {
        "rawhide" | "main" => return "fedora-rawhide".to_owned(),
        "eln" => return "fedora-eln".to_owned(),
        "el6" => return centos_for_epel(6),
        _ => {}
    }
    if let Some(version) = target.strip_prefix('f').filter(|v| is_number(v)) {
        return format!("fedora-{version}");
    }
    if let Some(major) = target.strip_prefix("epel").and_then(epel_major_version) {
        return centos_for_epel(major);
    }
    target.to_owned()
}

/// `9` → 9; `10.1` → 10, since minor versions exist from EPEL 10 on. None for anything else.
fn epel_major_version(version: &str) -> Option<u32> {
    let (major, minor) = match version.split_once('.') {
        Some((major, minor)) => (major, Some(minor)),
        None => (version, None),
    };
    let major: u32 = major.parse().ok().filter(|_| is_number(major))?;
    match minor {
        None => Some(major),
        Some(minor) if major >= 10 && is_number(minor) => Some(major),
        Some(_) => None,
    }
}

/// EPEL 6 and 7 run on CentOS Linux, later ones on CentOS Stream. packit-service's mapping
/// stops at EPEL 10; later majors follow the same rule.
fn centos_for_epel(major: u32) -> String {
    if major <= 7 {
        format!("centos-{major}")
    } else {
        format!("centos-stream-{major}")
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// packit-service's `distro2compose` for the public ranch: the distro itself if it matches
/// an available compose, otherwise its title-cased form with packit's fix-ups
/// (`fedora-rawhide` → `Fedora-Rawhide`, `centos-stream-9` → `CentOS-Stream-9`), which must
/// match. `available` is Testing Farm's compose list, whose entries may be regular
/// expressions that have to match the whole name; an entry that is not a valid expression
/// matches only itself.
///
/// As in packit-service, `fedora-eln` becomes `Fedora-eln`, so ELN resolves only if Testing
/// Farm lists a compose that matches that spelling.
pub fn compose_for_distro(distro: &str, available: &[String]) -> Option<String> {
    let composes = ComposePatterns::new(available);
    if composes.matches(distro) {
        return Some(distro.to_owned());
    }
    let compose = compose_spelling(distro);
    if composes.matches(&compose) {
        return Some(compose);
    }
    // packit-service stops here, so `fedora-eln` (spelt `Fedora-eln`) finds no compose when
    // Testing Farm lists `Fedora-ELN`; a name that differs only in case is that compose.
    available
        .iter()
        .find(|name| name.eq_ignore_ascii_case(&compose))
        .cloned()
}

fn compose_spelling(distro: &str) -> String {
    let compose = python_title_case(distro)
        .replace("Centos", "CentOS")
        .replace("Rhel", "RHEL")
        .replace("Oraclelinux", "Oracle-Linux")
        .replace("Latest", "latest")
        .replace("Eln", "eln");
    if compose == "CentOS-Stream" {
        "CentOS-Stream-8".to_owned()
    } else {
        compose
    }
}

/// Python's `str.title()`: a letter following a letter is lowercased, any other letter is
/// uppercased; so `fedora-rawhide` → `Fedora-Rawhide`, `centos-8-latest` → `Centos-8-Latest`.
fn python_title_case(text: &str) -> String {
    let mut titled = String::with_capacity(text.len());
    let mut after_letter = false;
    for character in text.chars() {
        if after_letter {
            titled.extend(character.to_lowercase());
        } else {
            titled.extend(character.to_uppercase());
        }
        after_letter = character.is_lowercase() || character.is_uppercase();
    }
    titled
}

/// Testing Farm's compose names, each either a regular expression or a literal.
struct ComposePatterns<'a> {
    expressions: Vec<regex::Regex>,
    literals: Vec<&'a str>,
}

impl<'a> ComposePatterns<'a> {
    fn new(available: &'a [String]) -> Self {
        let mut patterns = ComposePatterns {
            expressions: Vec::new(),
            literals: Vec::new(),
        };
        for compose in available {
            // Anchored both ends: Python's `re.fullmatch`.
            match regex::Regex::new(&format!("^(?:{compose})$")) {
                Ok(expression) => patterns.expressions.push(expression),
                Err(_) => patterns.literals.push(compose),
            }
        }
        patterns
    }

    fn matches(&self, name: &str) -> bool {
        self.literals.contains(&name)
            || self
                .expressions
                .iter()
                .any(|expression| expression.is_match(name))
    }
}

/// The git URL Pagure reports for a repository (`GET /api/0/<repo>/git/urls`, what ogr's
/// `get_git_urls()["git"]` returns): the instance URL, the repository's `fullname`, `.git`.
/// A fork's fullname starts with `forks/` (plural), unlike its web URL (`fork/`), e.g.
/// `https://pagure.io/forks/mfocko/ogr-tests.git` in ogr's recorded API answers; packit-service's
/// test mock writes `fork/`, which Pagure does not serve for cloning.
pub fn pagure_git_url(instance_url: &str, fullname: &str) -> String {
    format!(
        "{}/{}.git",
        instance_url.trim_end_matches('/'),
        fullname.trim_matches('/')
    )
}

/// Whether a request Testing Farm lists is `sent`: every field of its test and environments
/// reads back as sent. Testing Farm adds fields of its own (`pool`, `hardware`, `settings`,
/// …) and lists a `tmt` test under its alias `fmf`; the webhook (which carries a secret) is
/// not listed, so it takes no part.
pub fn is_listed_request(sent: &TestRequest, listed: &ListedRequest) -> bool {
    let Ok(sent) = serde_json::to_value(sent) else {
        return false;
    };
    let sent_tmt = &sent["test"]["tmt"];
    let listed_test = ["tmt", "fmf"]
        .iter()
        .filter_map(|key| listed.test.get(key))
        .find(|test| !test.is_null());
    listed_test.is_some_and(|test| reads_back(sent_tmt, test))
        && reads_back(&sent["environments"], &listed.environments_requested)
}

/// `sent` is in `listed`: objects may have more keys there, lists hold as many items, each
/// reading back, and anything else is equal.
fn reads_back(sent: &serde_json::Value, listed: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (sent, listed) {
        (Value::Object(sent), Value::Object(listed)) => sent.iter().all(|(key, value)| {
            listed
                .get(key)
                .is_some_and(|other| reads_back(value, other))
        }),
        (Value::Array(sent), Value::Array(listed)) => {
            sent.len() == listed.len()
                && sent
                    .iter()
                    .zip(listed)
                    .all(|(value, other)| reads_back(value, other))
        }
        _ => sent == listed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use serde_json::{Value, json};

    const TASK_ID: i64 = 45270170;
    const SHA: &str = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
    const FORK_GIT_URL: &str = "https://src.fedoraproject.org/forks/packit/rpms/packit.git";

    fn named(name: &str) -> FedoraCiTest {
        default_tests()
            .into_iter()
            .find(|test| test.name == name)
            .unwrap_or_else(|| panic!("no default test {name}"))
    }

    fn webhook(deployment: Deployment) -> Webhook {
        let host = match deployment {
            Deployment::Prod => "prod",
            _ => "stg",
        };
        Webhook {
            url: format!("https://{host}.packit.dev/api/testing-farm/results"),
            token: Secret::new("secret token"),
        }
    }

    /// A Koji-built rawhide PR in an rpms repository, like packit-service's integration test.
    fn input<'a>(
        test: &'a FedoraCiTest,
        deployment: Deployment,
        distro: &'a str,
    ) -> PayloadInput<'a> {
        PayloadInput {
            test,
            deployment,
            distro,
            compose: Some(if distro == "fedora-eln" {
                "Fedora-ELN"
            } else {
                "Fedora-Rawhide"
            }),
            dist_git_branch: "rawhide",
            koji_task_id: Some(TASK_ID),
            source_git_url: FORK_GIT_URL,
            head_sha: SHA,
            webhook: Some(webhook(deployment)),
        }
    }

    fn payload(input: &PayloadInput<'_>) -> Value {
        serde_json::to_value(test_request(input)).unwrap_or_else(|error| panic!("{error}"))
    }

    /// `_common_payload` of packit-service's `test_koji_build_end_downstream`, with our task
    /// id and deployment.
    fn common_payload(
        deployment: &str,
        distro: &str,
        compose: Option<&str>,
        with_artifact: bool,
    ) -> Value {
        let mut context = json!({
            "distro": distro,
            "arch": "x86_64",
            "trigger": "commit",
            "initiator": "fedora-ci",
            "dist-git-branch": "rawhide",
            "deployment": deployment,
        });
        if distro == "fedora-eln" {
            context["variant"] = json!("eln");
        }
        let mut environment = json!({
            "arch": "x86_64",
            "variables": {"KOJI_TASK_ID": "45270170"},
            "artifacts": [],
            "tmt": {"context": context},
        });
        if with_artifact {
            environment["artifacts"] = json!([{"id": "45270170", "type": "fedora-koji-build"}]);
        }
        if let Some(compose) = compose {
            environment["os"] = json!({"compose": compose});
        }
        json!({
            "environments": [environment],
            "notification": {"webhook": {
                "url": format!("https://{deployment}.packit.dev/api/testing-farm/results"),
                "token": "secret token",
            }},
        })
    }

    fn with_test(mut common: Value, tmt: Value) -> Value {
        common["test"] = json!({ "tmt": tmt });
        common
    }

    fn expected_payloads(
        deployment: &str,
        distro: &str,
        compose: &str,
    ) -> Vec<(&'static str, Value)> {
        let shared_ref = if deployment == "prod" { "main" } else { "stg" };
        let plain = || common_payload(deployment, distro, None, false);
        vec![
            (
                "installability",
                with_test(
                    common_payload(deployment, distro, Some(compose), false),
                    json!({"url": "https://github.com/fedora-ci/installability-pipeline.git",
                           "ref": "master"}),
                ),
            ),
            (
                "rpminspect",
                with_test(
                    plain(),
                    json!({"url": "https://github.com/fedora-ci/rpminspect-pipeline.git",
                           "ref": "master"}),
                ),
            ),
            (
                "rpmlint",
                with_test(
                    plain(),
                    json!({"url": "https://github.com/packit/tmt-plans.git",
                           "ref": "main", "name": "/plans/rpmlint"}),
                ),
            ),
            (
                "rmdepcheck",
                with_test(
                    plain(),
                    json!({"url": "https://forge.fedoraproject.org/ci/shared-tests",
                           "ref": shared_ref, "name": "/rmdepcheck"}),
                ),
            ),
            (
                "license-validate",
                with_test(
                    plain(),
                    json!({"url": "https://forge.fedoraproject.org/ci/shared-tests",
                           "ref": shared_ref, "name": "/license-validate"}),
                ),
            ),
            (
                "custom",
                with_test(
                    common_payload(deployment, distro, Some(compose), true),
                    json!({"url": FORK_GIT_URL, "ref": SHA}),
                ),
            ),
        ]
    }

    #[test]
    fn payloads_match_packit_service() {
        let cases = [
            (Deployment::Prod, "prod", "fedora-rawhide", "Fedora-Rawhide"),
            (Deployment::Stg, "stg", "fedora-rawhide", "Fedora-Rawhide"),
            (Deployment::Prod, "prod", "fedora-eln", "Fedora-ELN"),
            (Deployment::Stg, "stg", "fedora-eln", "Fedora-ELN"),
        ];
        for (deployment, deployment_name, distro, compose) in cases {
            let expected = expected_payloads(deployment_name, distro, compose);
            let names: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
            let defaults: Vec<String> = default_tests().into_iter().map(|test| test.name).collect();
            assert_eq!(defaults, names, "default tests and their order");
            for (name, expected) in expected {
                let test = named(name);
                assert_eq!(
                    payload(&input(&test, deployment, distro)),
                    expected,
                    "{name} on {distro} in {deployment_name}"
                );
            }
        }
    }

    #[test]
    fn dev_uses_the_shared_tests_staging_branch() {
        let test = named("rmdepcheck");
        let request = test_request(&input(&test, Deployment::Dev, "fedora-rawhide"));
        assert_eq!(request.test.tmt.git_ref, "stg");
        assert_eq!(
            request.environments[0]
                .tmt
                .context
                .get("deployment")
                .map(String::as_str),
            Some("dev")
        );
    }

    #[test]
    fn tests_namespace_custom_has_no_build() {
        let test = named("custom");
        let request = test_request(&PayloadInput {
            koji_task_id: None,
            source_git_url: "https://src.fedoraproject.org/forks/zbyszek/tests/shell.git",
            ..input(&test, Deployment::Prod, "fedora-rawhide")
        });
        assert_eq!(
            serde_json::to_value(&request).ok(),
            Some(json!({
                "test": {"tmt": {
                    "url": "https://src.fedoraproject.org/forks/zbyszek/tests/shell.git",
                    "ref": SHA,
                }},
                "environments": [{
                    "arch": "x86_64",
                    "os": {"compose": "Fedora-Rawhide"},
                    "variables": {},
                    "artifacts": [],
                    "tmt": {"context": {
                        "distro": "fedora-rawhide",
                        "arch": "x86_64",
                        "trigger": "commit",
                        "initiator": "fedora-ci",
                        "dist-git-branch": "rawhide",
                        "deployment": "prod",
                    }},
                }],
                "notification": {"webhook": {
                    "url": "https://prod.packit.dev/api/testing-farm/results",
                    "token": "secret token",
                }},
            }))
        );
    }

    #[test]
    fn no_webhook_means_no_notification() {
        let test = named("rpmlint");
        let value = payload(&PayloadInput {
            webhook: None,
            ..input(&test, Deployment::Prod, "fedora-rawhide")
        });
        assert!(value.get("notification").is_none(), "{value}");
    }

    #[test]
    fn compose_is_sent_only_when_the_test_wants_it_and_it_is_known() {
        let installability = named("installability");
        let unresolved = test_request(&PayloadInput {
            compose: None,
            ..input(&installability, Deployment::Prod, "fedora-rawhide")
        });
        assert_eq!(unresolved.environments[0].os, None);
        let rpminspect = named("rpminspect");
        let not_wanted = test_request(&input(&rpminspect, Deployment::Prod, "fedora-rawhide"));
        assert_eq!(not_wanted.environments[0].os, None);
    }

    #[test]
    fn the_raw_branch_goes_into_the_context() {
        let test = named("rpminspect");
        let request = test_request(&PayloadInput {
            dist_git_branch: "main",
            ..input(&test, Deployment::Prod, "fedora-rawhide")
        });
        let context = &request.environments[0].tmt.context;
        assert_eq!(
            context.get("dist-git-branch").map(String::as_str),
            Some("main")
        );
    }

    #[test]
    fn variant_eln_marks_eln_builds_of_rawhide_pull_requests() {
        let variant = |distro: &str, branch: &str| {
            tmt_context(distro, branch, Deployment::Prod)
                .get("variant")
                .cloned()
        };
        assert_eq!(variant("fedora-eln", "rawhide"), Some("eln".to_owned()));
        assert_eq!(variant("fedora-eln", "main"), None);
        assert_eq!(variant("fedora-eln", "eln"), None);
        assert_eq!(variant("fedora-rawhide", "rawhide"), None);
        assert_eq!(variant("fedora-42", "f42"), None);
    }

    #[test]
    fn tmt_context_keys() {
        let context = tmt_context("fedora-42", "f42", Deployment::Stg);
        let expected: BTreeMap<String, String> = [
            ("distro", "fedora-42"),
            ("arch", "x86_64"),
            ("trigger", "commit"),
            ("initiator", "fedora-ci"),
            ("dist-git-branch", "f42"),
            ("deployment", "stg"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(context, expected);
    }

    #[test]
    fn placeholders_are_filled_anywhere_in_url_and_ref() {
        let test = FedoraCiTest {
            name: "mirror".to_owned(),
            url: "https://mirror.example/?repo={source_git_url}".to_owned(),
            git_ref: "refs/pr/{head_sha}".to_owned(),
            ref_outside_prod: None,
            plan: Some("/plans/smoke".to_owned()),
            compose: false,
            koji_artifact: false,
            namespaces: vec!["rpms".to_owned()],
            requires_fmf: false,
        };
        let request = test_request(&input(&test, Deployment::Prod, "fedora-rawhide"));
        assert_eq!(
            request.test.tmt,
            TmtTest {
                url: format!("https://mirror.example/?repo={FORK_GIT_URL}"),
                git_ref: format!("refs/pr/{SHA}"),
                name: Some("/plans/smoke".to_owned()),
            }
        );
    }

    #[test]
    fn namespaces_and_fmf_requirement() {
        let tests = default_tests();
        let in_tests: Vec<&str> = tests
            .iter()
            .filter(|test| test.runs_in_namespace("tests"))
            .map(|test| test.name.as_str())
            .collect();
        assert_eq!(in_tests, ["custom"]);
        assert!(tests.iter().all(|test| test.runs_in_namespace("rpms")));
        assert!(!tests.iter().any(|test| test.runs_in_namespace("modules")));
        let need_fmf: Vec<&str> = tests
            .iter()
            .filter(|test| test.requires_fmf)
            .map(|test| test.name.as_str())
            .collect();
        assert_eq!(need_fmf, ["custom"]);
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct TestsConfig {
        fedora_ci_tests: Vec<FedoraCiTest>,
    }

    #[test]
    fn default_tests_round_trip_through_toml() {
        let config = TestsConfig {
            fedora_ci_tests: default_tests(),
        };
        let text = toml::to_string(&config).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(text.matches("[[fedora_ci_tests]]").count(), 6, "{text}");
        let parsed: TestsConfig = toml::from_str(&text).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(parsed, config);
    }

    #[test]
    fn tests_are_written_by_hand_in_toml() {
        let text = r#"
            [[fedora_ci_tests]]
            name = "rmdepcheck"
            url = "https://forge.fedoraproject.org/ci/shared-tests"
            ref = "main"
            ref_outside_prod = "stg"
            plan = "/rmdepcheck"
            namespaces = ["rpms"]

            [[fedora_ci_tests]]
            name = "custom"
            url = "{source_git_url}"
            ref = "{head_sha}"
            compose = true
            koji_artifact = true
            namespaces = ["rpms", "tests"]
            requires_fmf = true
        "#;
        let parsed: TestsConfig = toml::from_str(text).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            parsed.fedora_ci_tests,
            [named("rmdepcheck"), named("custom")]
        );
    }

    #[test]
    fn misspelt_test_fields_are_refused() {
        let text = r#"
            [[fedora_ci_tests]]
            name = "rpmlint"
            url = "https://github.com/packit/tmt-plans.git"
            ref = "main"
            plans = "/plans/rpmlint"
            namespaces = ["rpms"]
        "#;
        let error = toml::from_str::<TestsConfig>(text)
            .err()
            .map(|error| error.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|error| error.contains("plans")),
            "{error:?}"
        );
    }

    #[test]
    fn distros_of_koji_targets() {
        for (target, distro) in [
            ("rawhide", "fedora-rawhide"),
            ("main", "fedora-rawhide"),
            ("f42", "fedora-42"),
            ("f9", "fedora-9"),
            ("eln", "fedora-eln"),
            ("el6", "centos-6"),
            ("epel6", "centos-6"),
            ("epel7", "centos-7"),
            ("epel8", "centos-stream-8"),
            ("epel9", "centos-stream-9"),
            ("epel10", "centos-stream-10"),
            ("epel10.1", "centos-stream-10"),
            ("epel11", "centos-stream-11"),
            // Unknown targets pass through unchanged, as in packit.
            ("epel9.1", "epel9.1"),
            ("epel9-next", "epel9-next"),
            ("f", "f"),
            ("fedora-42", "fedora-42"),
            ("f42-build-side-1234", "f42-build-side-1234"),
            ("f٤٢", "f٤٢"),
            ("", ""),
        ] {
            assert_eq!(distro_for_koji_target(target), distro, "{target:?}");
        }
    }

    fn composes(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn composes_of_distros() {
        let available = composes(&[
            "Fedora-41",
            "Fedora-42",
            "Fedora-Rawhide",
            "CentOS-7",
            "CentOS-Stream-8",
            "CentOS-Stream-9",
            "CentOS-Stream-10",
            "RHEL-8.4",
            "Oracle-Linux-8",
            "CentOS-8-latest",
            "Fedora-eln",
        ]);
        for (distro, compose) in [
            ("fedora-rawhide", Some("Fedora-Rawhide")),
            ("fedora-42", Some("Fedora-42")),
            ("centos-stream-9", Some("CentOS-Stream-9")),
            ("centos-stream-10", Some("CentOS-Stream-10")),
            ("centos-stream", Some("CentOS-Stream-8")),
            ("centos-7", Some("CentOS-7")),
            ("Centos-7", Some("CentOS-7")),
            ("rhel-8.4", Some("RHEL-8.4")),
            ("oraclelinux-8", Some("Oracle-Linux-8")),
            ("centos-8-Latest", Some("CentOS-8-latest")),
            ("fedora-eln", Some("Fedora-eln")),
            // Exact names are taken as they are.
            ("Fedora-41", Some("Fedora-41")),
            ("fedora-40", None),
            ("centos-stream-11", None),
            ("", None),
        ] {
            assert_eq!(
                compose_for_distro(distro, &available).as_deref(),
                compose,
                "{distro:?}"
            );
        }
    }

    #[test]
    fn eln_resolves_to_testing_farms_spelling() {
        assert_eq!(
            compose_for_distro("fedora-eln", &composes(&["Fedora-ELN"])).as_deref(),
            Some("Fedora-ELN")
        );
        assert_eq!(
            compose_for_distro("fedora-eln", &composes(&["Fedora-Rawhide"])),
            None
        );
        assert_eq!(
            compose_for_distro("fedora-eln", &composes(&["Fedora-(eln|ELN)"])).as_deref(),
            Some("Fedora-eln")
        );
    }

    #[test]
    fn compose_entries_are_whole_name_regular_expressions() {
        let available = composes(&["Fedora-4[0-9]", "CentOS-Stream-.*", "RHEL-9.*-Nightly"]);
        assert_eq!(
            compose_for_distro("fedora-43", &available).as_deref(),
            Some("Fedora-43")
        );
        assert_eq!(
            compose_for_distro("centos-stream-10", &available).as_deref(),
            Some("CentOS-Stream-10")
        );
        assert_eq!(
            compose_for_distro("RHEL-9.6.0-Nightly", &available).as_deref(),
            Some("RHEL-9.6.0-Nightly")
        );
        assert_eq!(
            compose_for_distro("fedora-430", &available),
            None,
            "no partial match"
        );
        assert_eq!(compose_for_distro("rawhide-fedora-43", &available), None);
    }

    #[test]
    fn invalid_expressions_match_only_themselves() {
        let available = composes(&["Fedora-(42", "Fedora-Rawhide"]);
        assert_eq!(
            compose_for_distro("Fedora-(42", &available).as_deref(),
            Some("Fedora-(42")
        );
        assert_eq!(compose_for_distro("fedora-42", &available), None);
        assert_eq!(
            compose_for_distro("fedora-rawhide", &available).as_deref(),
            Some("Fedora-Rawhide")
        );
        assert_eq!(compose_for_distro("fedora-rawhide", &[]), None);
    }

    #[test]
    fn title_case_follows_python() {
        for (text, titled) in [
            ("fedora-rawhide", "Fedora-Rawhide"),
            ("centos-8-latest", "Centos-8-Latest"),
            ("RHEL-8.4", "Rhel-8.4"),
            ("f42abc", "F42Abc"),
            ("oraclelinux-7", "Oraclelinux-7"),
            ("žluťoučký-kůň", "Žluťoučký-Kůň"),
        ] {
            assert_eq!(python_title_case(text), titled, "{text:?}");
        }
    }

    /// A request as `GET /requests` lists it: `fmf` for `tmt`, Testing Farm's own fields
    /// added, no notification.
    fn listed(request: &TestRequest, id: &str) -> ListedRequest {
        let sent = serde_json::to_value(request).unwrap_or_default();
        let mut environments = sent["environments"].clone();
        for environment in environments.as_array_mut().into_iter().flatten() {
            environment["pool"] = Value::Null;
            environment["hardware"] = Value::Null;
            environment["settings"] = json!({"pipeline": null, "provisioning": null});
        }
        ListedRequest {
            id: id.to_owned(),
            created: Some("2026-11-25T16:00:00.000000".to_owned()),
            test: json!({"fmf": sent["test"]["tmt"], "sti": null}),
            environments_requested: environments,
        }
    }

    #[test]
    fn a_listed_request_matches_what_was_sent_and_nothing_else() {
        let rpminspect = named("rpminspect");
        let sent = test_request(&input(&rpminspect, Deployment::Prod, "fedora-rawhide"));
        assert!(is_listed_request(&sent, &listed(&sent, "a")));

        let other_build = test_request(&PayloadInput {
            koji_task_id: Some(TASK_ID + 1),
            ..input(&rpminspect, Deployment::Prod, "fedora-rawhide")
        });
        assert!(!is_listed_request(&sent, &listed(&other_build, "b")));
        let rpmlint = named("rpmlint");
        let other_test = test_request(&input(&rpmlint, Deployment::Prod, "fedora-rawhide"));
        assert!(!is_listed_request(&sent, &listed(&other_test, "c")));
        let other_distro = test_request(&input(&rpminspect, Deployment::Prod, "fedora-eln"));
        assert!(!is_listed_request(&sent, &listed(&other_distro, "d")));

        let mut two_environments = listed(&sent, "e");
        let first = two_environments.environments_requested[0].clone();
        two_environments.environments_requested = json!([first.clone(), first]);
        assert!(!is_listed_request(&sent, &two_environments));
        let mut no_test = listed(&sent, "f");
        no_test.test = json!({"fmf": null, "sti": {"url": "x", "ref": "y"}});
        assert!(!is_listed_request(&sent, &no_test));
    }

    #[test]
    fn pagure_fork_git_urls_use_forks() {
        assert_eq!(
            pagure_git_url(
                "https://src.fedoraproject.org",
                "forks/zbyszek/rpms/optee_os"
            ),
            "https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git"
        );
        assert_eq!(
            pagure_git_url("https://src.fedoraproject.org/", "rpms/optee_os"),
            "https://src.fedoraproject.org/rpms/optee_os.git"
        );
        assert_eq!(
            pagure_git_url("https://pagure.io", "forks/mfocko/ogr-tests"),
            "https://pagure.io/forks/mfocko/ogr-tests.git"
        );
    }
}
