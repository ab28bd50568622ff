//! Parity with packit-service (issue #15): accepted flags, test choices per PR, replies (items 1, 4, 5 and the first-status metric of item 8).
//! Each expected value cites the packit-service test or line it comes from.
//!
//! packit-service's tests (`tests/integration/test_pr_comment.py`) use the fixture
//! `pagure_pr_comment_added` (rpms/python-teamcity-messages PR 36, commit `beaf90b…`), the
//! staging prefix `Packit-stg`, and no `.fmf/version` at the head; they mock `set_flag` and
//! expect one call per accepted check. Here the same calls are the flag states the service
//! wants, recorded by a trigger on `pr_flags` (Pagure may only see the newest state of a flag
//! when its next state comes quickly).

use fedora_ci::db::Store;
use fedora_ci::fakes::koji::BuildOutcome;
use serde_json::json;

use crate::stack::Stack;

const TEAMCITY: &str = "https://src.fedoraproject.org/rpms/python-teamcity-messages";
const PROJECT: &str = "rpms/python-teamcity-messages";
const SHA: &str = "beaf90bcecc51968a46663f8d6f092bfdc92e682";
const ACCEPTED: &str = "The task was accepted.";
const DOCS: &str = "https://docs.fedoraproject.org/en-US/ci/";

async fn teamcity_stack(branches: &[&str]) -> Stack {
    let stack = Stack::start(|config| {
        config.fedora_ci.enabled_projects.push(TEAMCITY.to_owned());
        config
            .fedora_ci
            .enabled_projects
            .push("https://src.fedoraproject.org/tests/python-teamcity-messages".to_owned());
    })
    .await;
    stack.pagure.set_branches(PROJECT, branches);
    record_wanted_flags(&stack).await;
    stack
}

/// Records every state a flag is wanted in, in order (the service's `set_flag` calls).
async fn record_wanted_flags(stack: &Stack) {
    let Store::Postgres(pool) = &stack.store else {
        panic!("the pipeline stack runs on PostgreSQL");
    };
    sqlx::raw_sql(
        "CREATE TABLE wanted_flag_history (seq BIGSERIAL PRIMARY KEY, uid TEXT NOT NULL, \
           username TEXT NOT NULL, status TEXT NOT NULL, comment TEXT NOT NULL, url TEXT NOT NULL);
         CREATE FUNCTION record_wanted_flag() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF TG_OP = 'INSERT' OR NEW.wanted_seq <> OLD.wanted_seq THEN
             INSERT INTO wanted_flag_history (uid, username, status, comment, url)
             VALUES (regexp_replace(NEW.uid, '^[0-9]+:', ''), NEW.username, NEW.status,
                     NEW.comment, NEW.url);
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER record_wanted_flag AFTER INSERT OR UPDATE ON pr_flags
           FOR EACH ROW EXECUTE FUNCTION record_wanted_flag();",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// The "The task was accepted." states wanted after history row `after`: (username, Pagure
/// uid (the row's key without its pull request), status, url), in order.
async fn accepted_since(stack: &Stack, after: i64) -> Vec<(String, String, String, String)> {
    let Store::Postgres(pool) = &stack.store else {
        panic!("the pipeline stack runs on PostgreSQL");
    };
    sqlx::query_as(
        "SELECT username, uid, status, url FROM wanted_flag_history \
         WHERE seq > $1 AND comment = $2 ORDER BY seq",
    )
    .bind(after)
    .bind(ACCEPTED)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn history_mark(stack: &Stack) -> i64 {
    let Store::Postgres(pool) = &stack.store else {
        panic!("the pipeline stack runs on PostgreSQL");
    };
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM wanted_flag_history")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// (username, uid) of the accepted flags wanted since `after`, each once, in order.
async fn accepted_names(stack: &Stack, after: i64) -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = Vec::new();
    for (username, uid, status, url) in accepted_since(stack, after).await {
        assert_eq!(status, "pending", "{username}");
        // packit-service passes url="" (its contact page); here the configured fallback,
        // which defaults to the documentation.
        assert_eq!(url, DOCS, "{username}");
        if !names.iter().any(|(name, _)| *name == username) {
            names.push((username, uid));
        }
    }
    names
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(name, uid)| ((*name).to_owned(), (*uid).to_owned()))
        .collect()
}

/// How many times `fedora_ci_first_initial_status_time` was observed in this process.
fn first_status_observations() -> u64 {
    fedora_ci::metrics::global()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix("fedora_ci_first_initial_status_time_count "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

/// Comment `id` by a packager on PR 36, whose target branch is `branch`, carried out.
async fn comment(stack: &Stack, id: u64, branch: &str, text: &str) {
    comment_in(stack, id, "rpms", branch, text).await;
}

async fn comment_in(stack: &Stack, id: u64, namespace: &str, branch: &str, text: &str) {
    stack
        .deliver_fixture("pagure_pr_comment.json", |body| {
            let comments = body["pullrequest"]["comments"].as_array_mut().unwrap();
            let last = comments.last_mut().unwrap();
            last["id"] = json!(id);
            last["comment"] = json!(text);
            last["user"]["name"] = json!("mmassari");
            body["agent"] = json!("mmassari");
            body["pullrequest"]["branch"] = json!(branch);
            if namespace != "rpms" {
                let project = &mut body["pullrequest"]["project"];
                project["namespace"] = json!(namespace);
                project["fullname"] = json!(format!("{namespace}/python-teamcity-messages"));
                project["url_path"] = json!(format!("{namespace}/python-teamcity-messages"));
                project["full_url"] = json!(format!(
                    "https://src.fedoraproject.org/{namespace}/python-teamcity-messages"
                ));
                body["pullrequest"]["repo_from"] = json!(null);
            }
        })
        .await;
    stack.settle().await;
}

/// The Koji task behind a scratch-build flag.
fn task_of(stack: &Stack, flag_name: &str) -> i64 {
    let flag = stack
        .flag(PROJECT, 36, flag_name)
        .unwrap_or_else(|| panic!("no flag {flag_name}: {:#?}", stack.flags(PROJECT, 36)));
    flag["url"]
        .as_str()
        .unwrap()
        .rsplit("taskID=")
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn build_finishes(stack: &Stack, flag_name: &str, outcome: BuildOutcome) {
    let task = task_of(stack, flag_name);
    assert!(stack.koji.start_build(task));
    assert!(stack.koji.finish_build(task, &outcome));
    stack.deliver_koji_messages().await;
    stack.settle().await;
}

/// A successful build of the head for `branch` (and ELN when `eln`), from a `scratch-build`
/// comment, with the tests that follow it submitted.
async fn built(stack: &Stack, branch: &str, eln: bool) {
    comment(stack, 100, branch, "/packit-ci-stg scratch-build").await;
    let name = format!("Packit-stg - scratch build - {branch} [beaf90b]");
    build_finishes(stack, &name, BuildOutcome::Succeeds).await;
    if eln {
        let name = "Packit-stg - scratch build - eln [beaf90b]";
        build_finishes(stack, name, BuildOutcome::Succeeds).await;
    }
}

/// `test_pr_comment.py::test_downstream_testing_farm_retrigger_via_dist_git_pr_comment`
/// (l. 3908; params l. 3860-3906): `/packit-ci test` with a successful build accepts the five
/// tests, each `set_flag(username=…, comment="The task was accepted.", uid=…)`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_accepts_every_applicable_test_on_rawhide_and_f42() {
    for (branch, expected) in [
        (
            "rawhide",
            [
                (
                    "Packit-stg - installability - rawhide [beaf90b]",
                    "be4571bd828a699b35ed3102fc7e88f5",
                ),
                (
                    "Packit-stg - rpminspect - rawhide [beaf90b]",
                    "9b6239fe5ed9fd065540810c5591f352",
                ),
                (
                    "Packit-stg - rpmlint - rawhide [beaf90b]",
                    "cafe8a3fb7c24f7534a6157514dda0f3",
                ),
                (
                    "Packit-stg - rmdepcheck - rawhide [beaf90b]",
                    "88ac5f0f7dc0c684f988ec9157fff5b2",
                ),
                (
                    "Packit-stg - license-validate - rawhide [beaf90b]",
                    "325199098ce9f37cc790405f4fa300cf",
                ),
            ],
        ),
        (
            "f42",
            [
                (
                    "Packit-stg - installability - f42 [beaf90b]",
                    "c39c286752c4b7987058134bc3b16683",
                ),
                (
                    "Packit-stg - rpminspect - f42 [beaf90b]",
                    "d6df09a49152552c196c4d06f286abef",
                ),
                (
                    "Packit-stg - rpmlint - f42 [beaf90b]",
                    "6901e099dadbb89822e6a64c411ceb8c",
                ),
                (
                    "Packit-stg - rmdepcheck - f42 [beaf90b]",
                    "ea75be809952ac2c43a139e80d2cedc1",
                ),
                (
                    "Packit-stg - license-validate - f42 [beaf90b]",
                    "e3cceaaad50a791b999c00aba2973653",
                ),
            ],
        ),
    ] {
        let stack = teamcity_stack(&["rawhide", "f42"]).await;
        built(&stack, branch, false).await;
        assert_eq!(stack.testing_farm.submitted().len(), 5, "{branch}");
        let mark = history_mark(&stack).await;
        comment(&stack, 2, branch, "/packit-ci-stg test").await;
        assert_eq!(
            accepted_names(&stack, mark).await,
            pairs(&expected),
            "{branch}\n{}",
            stack.state().await
        );
        assert_eq!(stack.testing_farm.submitted().len(), 10, "{branch}");
        // Every accepted flag moved on: the submission ends what was accepted.
        for (name, _) in expected {
            let flag = stack.flag(PROJECT, 36, name).unwrap();
            assert_ne!(flag["comment"], ACCEPTED, "{name}");
        }
        stack.stop().await;
    }
}

/// `test_pr_comment.py::test_downstream_testing_farm_retrigger_specific_plan_via_dist_git_pr_comment`
/// (l. 3948; params l. 3922-3946): `test installability` on f42 accepts only
/// `Packit-stg - installability - f42 [beaf90b]` → `c39c286752c4b7987058134bc3b16683`, and
/// `test rpminspect` on rawhide only `…rpminspect - rawhide…` → `9b6239fe5ed9fd065540810c5591f352`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_name_accepts_only_that_test() {
    for (branch, text, expected) in [
        (
            "f42",
            "/packit-ci-stg test installability",
            (
                "Packit-stg - installability - f42 [beaf90b]",
                "c39c286752c4b7987058134bc3b16683",
            ),
        ),
        (
            "rawhide",
            "/packit-ci-stg test rpminspect",
            (
                "Packit-stg - rpminspect - rawhide [beaf90b]",
                "9b6239fe5ed9fd065540810c5591f352",
            ),
        ),
    ] {
        let stack = teamcity_stack(&["rawhide", "f42"]).await;
        built(&stack, branch, false).await;
        let mark = history_mark(&stack).await;
        comment(&stack, 2, branch, text).await;
        assert_eq!(
            accepted_names(&stack, mark).await,
            pairs(&[expected]),
            "{text}"
        );
        assert_eq!(stack.testing_farm.submitted().len(), 6, "{text}");
        stack.stop().await;
    }
}

/// `test_pr_comment.py::test_downstream_testing_farm_retrigger_rawhide_pr_eln_package_fedora_ci`
/// (l. 4002; params l. 3959-4000; the package is on the ELN lists and has no `eln` branch):
/// `test --target eln` accepts the five ELN checks, `test rpminspect --target eln` only
/// rpminspect's, `test installability --target rawhide` only the rawhide installability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_target_accepts_the_checks_of_that_target() {
    let stack = teamcity_stack(&["rawhide"]).await;
    stack.eln.set_packages(&["python-teamcity-messages"], &[]);
    built(&stack, "rawhide", true).await;
    assert_eq!(stack.testing_farm.submitted().len(), 10, "rawhide and ELN");

    let mark = history_mark(&stack).await;
    comment(&stack, 2, "rawhide", "/packit-ci-stg test --target eln").await;
    assert_eq!(
        accepted_names(&stack, mark).await,
        pairs(&[
            (
                "Packit-stg - installability - eln [beaf90b]",
                "ca546b82b2aeb2fcef8bf12746f0bd06"
            ),
            (
                "Packit-stg - rpminspect - eln [beaf90b]",
                "bb18abcfd81c6e8f66320513e432b4cd"
            ),
            (
                "Packit-stg - rpmlint - eln [beaf90b]",
                "de24b7b63bf38420bdfea804d3bf56d7"
            ),
            (
                "Packit-stg - rmdepcheck - eln [beaf90b]",
                "8ad85bf19e686070b8c8105956ec273a"
            ),
            (
                "Packit-stg - license-validate - eln [beaf90b]",
                "54f936fa395a5b11c0595cde0de3571d"
            ),
        ]),
        "{}",
        stack.state().await
    );
    assert_eq!(stack.testing_farm.submitted().len(), 15, "5 runs");

    let mark = history_mark(&stack).await;
    comment(
        &stack,
        3,
        "rawhide",
        "/packit-ci-stg test rpminspect --target eln",
    )
    .await;
    assert_eq!(
        accepted_names(&stack, mark).await,
        pairs(&[(
            "Packit-stg - rpminspect - eln [beaf90b]",
            "bb18abcfd81c6e8f66320513e432b4cd"
        )])
    );
    assert_eq!(stack.testing_farm.submitted().len(), 16, "1 run");

    let mark = history_mark(&stack).await;
    comment(
        &stack,
        4,
        "rawhide",
        "/packit-ci-stg test installability --target rawhide",
    )
    .await;
    assert_eq!(
        accepted_names(&stack, mark).await,
        pairs(&[(
            "Packit-stg - installability - rawhide [beaf90b]",
            "be4571bd828a699b35ed3102fc7e88f5"
        )])
    );
    assert_eq!(stack.testing_farm.submitted().len(), 17, "1 run");
    stack.stop().await;
}

/// `test_pr_comment.py::test_downstream_build_retrigger_rawhide_pr_eln_package_fedora_ci`
/// (l. 4193; params l. 4172-4191): `scratch-build --target eln` flags
/// `Packit-stg - scratch build - eln [beaf90b]` → `558fbdb3248ec9d5dc762d3002368f60` and
/// `--target rawhide` `… - rawhide [beaf90b]` → `7f6d17aef35c10b4429b018288140d2e` (also
/// `test_downstream_koji_scratch_build_retrigger_via_dist_git_pr_comment`, l. 2608).
///
/// packit-service checks `PackageNeedsELNBuildFromRawhide` before its accepted flags
/// (`jobs.py` l. 684-695): `--target eln` on a package that needs no ELN build sets no flag
/// (a pending ELN flag nothing would end) and builds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch_build_target_accepts_the_build_of_that_target() {
    // Not on the ELN lists yet (the stack lists only optee_os).
    let stack = teamcity_stack(&["rawhide"]).await;
    let mark = history_mark(&stack).await;
    comment(
        &stack,
        1,
        "rawhide",
        "/packit-ci-stg scratch-build --target eln",
    )
    .await;
    comment(&stack, 2, "rawhide", "/packit-ci-stg test --target eln").await;
    assert_eq!(accepted_names(&stack, mark).await, Vec::new());
    assert!(stack.koji_builds().is_empty());
    assert!(stack.flags(PROJECT, 36).is_empty());
    stack.stop().await;

    // On the lists (read once and cached, hence a fresh stack).
    let stack = teamcity_stack(&["rawhide"]).await;
    stack.eln.set_packages(&["python-teamcity-messages"], &[]);
    let mark = history_mark(&stack).await;
    let observed = first_status_observations();
    comment(
        &stack,
        3,
        "rawhide",
        "/packit-ci-stg scratch-build --target eln",
    )
    .await;
    assert_eq!(
        accepted_names(&stack, mark).await,
        pairs(&[(
            "Packit-stg - scratch build - eln [beaf90b]",
            "558fbdb3248ec9d5dc762d3002368f60"
        )])
    );
    assert_eq!(stack.koji_builds().len(), 1);
    assert_eq!(stack.koji_builds()[0].1, "eln");
    // packit-service observes `fedora_ci_first_initial_status_time` after the first accepted
    // flag of a comment (`jobs.py` l. 509-562). The registry is the process's: other tests
    // may add to it, never take away.
    assert!(first_status_observations() > observed);

    let mark = history_mark(&stack).await;
    comment(
        &stack,
        4,
        "rawhide",
        "/packit-ci-stg scratch-build --target rawhide",
    )
    .await;
    assert_eq!(
        accepted_names(&stack, mark).await,
        pairs(&[(
            "Packit-stg - scratch build - rawhide [beaf90b]",
            "7f6d17aef35c10b4429b018288140d2e"
        )])
    );
    stack.stop().await;
}

/// packit-service's test handlers need `HasEventSuccessfulScratchBuild`, so with no build
/// they set nothing (`jobs.py` l. 684-695). Here the build comes first and the tests follow
/// it; they get no accepted flag, which a failed build would leave pending for ever.
/// `test --target` without a value is every target (`nargs="?"`, `utils.py` l. 340-381).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_without_a_build_accepts_no_test_and_a_failed_build_leaves_none_pending() {
    let stack = teamcity_stack(&["rawhide"]).await;
    let mark = history_mark(&stack).await;
    comment(&stack, 1, "rawhide", "/packit-ci-stg test --target").await;
    assert_eq!(stack.koji_builds().len(), 1, "the build comes first");
    build_finishes(
        &stack,
        "Packit-stg - scratch build - rawhide [beaf90b]",
        BuildOutcome::FailsOnArch("x86_64".to_owned()),
    )
    .await;
    assert_eq!(accepted_names(&stack, mark).await, Vec::new());
    let pending: Vec<_> = stack
        .flags(PROJECT, 36)
        .into_iter()
        .filter(|flag| flag["status"] == "pending")
        // The failed build's Log Detective analysis runs on; it ends with its result.
        .filter(|flag| !flag["username"].as_str().unwrap().contains("Log Detective"))
        .collect();
    assert!(pending.is_empty(), "{pending:#?}");
    stack.stop().await;
}

/// packit-service #3039 (`get_fedora_ci_tests`, `helpers/testing_farm.py` l. 1381-1438;
/// `IsFMFConfigPresent`, `checker/testing_farm.py` l. 336-359; `IsProjectOutsideOfTestsNamespace`,
/// l. 362-368): `test custom` needs `.fmf/version` at the head, the shared tests are not
/// for `tests/*`; anything else is a syntax error (`test_comment_parsers.py::
/// test_test_unsupported_comment_fedora_ci`). The reply is packit-service's
/// (`jobs.py` l. 1379-1405) with this service's prefix and documentation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_names_must_apply_to_the_pull_request() {
    let stack = teamcity_stack(&["rawhide"]).await;
    comment(&stack, 1, "rawhide", "/packit-ci-stg test custom").await;
    comment_in(
        &stack,
        2,
        "tests",
        "rawhide",
        "/packit-ci-stg test installability",
    )
    .await;
    let syntax_error = "There appears to be a syntax error in the command provided. Please \
         refer to the [Fedora CI documentation](https://docs.fedoraproject.org/en-US/ci/) or \
         use the `/packit-ci-stg help` command.";
    assert_eq!(
        stack.pagure.posted_comments(),
        vec![syntax_error.to_owned(), syntax_error.to_owned()]
    );
    assert!(stack.koji_builds().is_empty());

    // With an fmf tree at the head, `custom` applies; its accepted flag is
    // "Packit-stg - custom - rawhide [beaf90b]" (sha256[:32] as `reporters/pagure.py` l. 60-77).
    stack
        .pagure
        .add_raw_file(PROJECT, SHA, ".fmf/version", "1\n");
    built(&stack, "rawhide", false).await;
    assert_eq!(stack.testing_farm.submitted().len(), 6, "with custom");
    let mark = history_mark(&stack).await;
    comment(&stack, 3, "rawhide", "/packit-ci-stg test custom").await;
    assert_eq!(
        accepted_names(&stack, mark).await,
        pairs(&[(
            "Packit-stg - custom - rawhide [beaf90b]",
            "0b73332c85d9306169fdd532c4749ec3"
        )])
    );
    assert_eq!(stack.pagure.posted_comments().len(), 2, "no new reply");
    stack.stop().await;
}

/// packit-service's `get_packit_commands_from_comment` (`utils.py` l. 218-236) finds no
/// command in a bare prefix: no reply. `is_help_comment` (`jobs.py` l. 1331-1350) reads only
/// the first token: `help me` is help. `--target` has `nargs="?"` (`utils.py` l. 340-381):
/// `scratch-build --target` builds every target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_prefix_help_with_words_and_target_without_a_value() {
    let stack = teamcity_stack(&["rawhide"]).await;
    stack.eln.set_packages(&["python-teamcity-messages"], &[]);
    comment(&stack, 1, "rawhide", "/packit-ci-stg").await;
    comment(&stack, 2, "rawhide", "/packit-ci-stg\nplease test it").await;
    assert!(stack.pagure.posted_comments().is_empty());

    comment(&stack, 3, "rawhide", "/packit-ci-stg help me").await;
    let replies = stack.pagure.posted_comments();
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(
        replies[0].starts_with("```\nusage: /packit-ci-stg {help,test,scratch-build} ...\n"),
        "{}",
        replies[0]
    );
    // The contact block (packit-service #3124, `HELP_COMMENT_CONTACT`) and the documentation
    // come from the configuration.
    assert!(
        replies[0].ends_with(
            "**Contact**:\n - *Email*: ci@lists.fedoraproject.org\n - *Chat*: #fedora-ci on \
             Libera.Chat and Matrix\n\n**Documentation**: \n - https://docs.fedoraproject.org/en-US/ci/"
        ),
        "{}",
        replies[0]
    );
    assert!(
        replies[0].contains("one of: installability, rpminspect, rpmlint, rmdepcheck,"),
        "the applicable tests, without custom: {}",
        replies[0]
    );
    assert!(!replies[0].contains("custom"), "{}", replies[0]);

    comment(
        &stack,
        4,
        "rawhide",
        "/packit-ci-stg scratch-build --target",
    )
    .await;
    let mut targets: Vec<String> = stack.koji_builds().into_iter().map(|(_, t)| t).collect();
    targets.sort();
    assert_eq!(targets, vec!["eln".to_owned(), "rawhide".to_owned()]);
    assert_eq!(stack.pagure.posted_comments().len(), 1, "no syntax error");
    stack.stop().await;
}
