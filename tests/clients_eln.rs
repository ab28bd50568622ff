//! The ELN package lists client against the fake Content Resolver.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fedora_ci::clients::eln::{ELN_LIST_FILES, ElnError, ElnPackageLists, ElnPackages};
use fedora_ci::clients::{RetryPolicy, Timeouts, Transient};
use fedora_ci::fakes::eln::FakeEln;
use std::time::Duration;

const ELN: &str = ELN_LIST_FILES[0];
const EXTRAS: &str = ELN_LIST_FILES[1];

async fn start_fake() -> FakeEln {
    let fake = FakeEln::start().await.unwrap();
    fake.set_packages(&["bash", "glibc"], &["python-ogr"]);
    fake
}

fn lists(fake: &FakeEln, ttl: Duration) -> ElnPackageLists {
    ElnPackageLists::new(&fake.url(), ttl, Timeouts::default(), RetryPolicy::fast(3)).unwrap()
}

async fn answers(lists: &ElnPackageLists, names: &[&str]) -> Vec<bool> {
    let mut answers = Vec::new();
    for name in names {
        answers.push(lists.is_eln_package(name).await.unwrap());
    }
    answers
}

#[tokio::test]
async fn a_package_on_either_list_is_an_eln_package_and_the_lists_are_cached() {
    let fake = start_fake().await;
    let lists = lists(&fake, Duration::from_secs(12 * 60 * 60));
    assert_eq!(
        answers(&lists, &["bash", "python-ogr", "glibc", "ogr", "bas"]).await,
        vec![true, true, true, false, false]
    );
    assert_eq!(fake.calls(), vec![ELN, EXTRAS], "downloaded once");
}

#[tokio::test]
async fn the_lists_are_downloaded_again_after_the_ttl() {
    let fake = start_fake().await;
    let lists = lists(&fake, Duration::from_millis(300));
    assert_eq!(answers(&lists, &["bash", "zsh"]).await, vec![true, false]);
    fake.set_packages(&["zsh"], &[]);
    assert_eq!(answers(&lists, &["zsh"]).await, vec![false], "still cached");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(answers(&lists, &["bash", "zsh"]).await, vec![false, true]);
    assert_eq!(fake.calls(), vec![ELN, EXTRAS, ELN, EXTRAS]);
}

#[tokio::test]
async fn a_5xx_is_retried() {
    let fake = start_fake().await;
    fake.faults().fail_next(EXTRAS, 503);
    let lists = lists(&fake, Duration::from_secs(60));
    assert_eq!(answers(&lists, &["python-ogr"]).await, vec![true]);
    assert_eq!(fake.calls(), vec![ELN, EXTRAS, EXTRAS]);
}

#[tokio::test]
async fn without_a_previous_list_errors_reach_the_caller() {
    let fake = FakeEln::start().await.unwrap();
    let lists = lists(&fake, Duration::from_secs(60));
    let error = lists.is_eln_package("bash").await.unwrap_err();
    assert!(
        matches!(&error, ElnError::HttpStatus { status: 404, file } if file == ELN)
            && !error.is_transient(),
        "{error:?}"
    );

    fake.set_packages(&["bash"], &[]);
    for _ in 0..3 {
        fake.faults().fail_next(ELN, 500);
    }
    let error = lists.is_eln_package("bash").await.unwrap_err();
    assert!(
        matches!(error, ElnError::HttpStatus { status: 500, .. }) && error.is_transient(),
        "{error:?}"
    );

    fake.set_list(
        EXTRAS,
        "<!DOCTYPE html>\n<html><body>Service Unavailable</body></html>\n",
    );
    let error = lists.is_eln_package("bash").await.unwrap_err();
    assert!(
        matches!(&error, ElnError::UnexpectedBody { file, .. } if file == EXTRAS),
        "{error:?}"
    );
    assert_eq!(fake.calls(), vec![ELN, ELN, ELN, ELN, ELN, EXTRAS]);
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_previous_lists_and_pauses() {
    let fake = start_fake().await;
    let lists = lists(&fake, Duration::from_millis(300));
    assert_eq!(answers(&lists, &["bash"]).await, vec![true]);

    fake.set_packages(&[], &[]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        answers(&lists, &["bash", "python-ogr"]).await,
        vec![true, true],
        "two empty lists are a failed refresh, not an answer"
    );
    assert_eq!(
        fake.calls(),
        vec![ELN, EXTRAS, ELN, EXTRAS],
        "one try, then a pause"
    );

    fake.set_packages(&["zsh"], &[]);
    fake.faults().set_error_rate(1.0, 503);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(answers(&lists, &["bash", "zsh"]).await, vec![true, false]);
    assert_eq!(fake.calls().len(), 7, "three attempts at the first list");

    fake.faults().set_error_rate(0.0, 503);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(answers(&lists, &["bash", "zsh"]).await, vec![false, true]);
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_transient_error() {
    let fake = start_fake().await;
    fake.faults().set_latency(Duration::from_secs(2));
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_millis(100),
    };
    let lists = ElnPackageLists::new(
        &fake.url(),
        Duration::from_secs(60),
        timeouts,
        RetryPolicy::no_retries(),
    )
    .unwrap();
    let error = lists.is_eln_package("bash").await.unwrap_err();
    let ElnError::Transport { source, .. } = &error else {
        panic!("{error:?}")
    };
    assert!(source.is_timeout() && error.is_transient(), "{error:?}");
}
