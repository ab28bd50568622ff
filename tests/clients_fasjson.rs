//! Packager membership: the FASJSON client against the fake FASJSON, Pagure's copy of the
//! group through the Pagure client, and the cache in front of either.

// Helpers outside #[test] functions unwrap too; a panic is a test failure here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/logs.rs"]
mod logs;

use logs::capture_logs;

use fedora_ci::clients::fasjson::{
    Authorization, CachedPackagers, FasjsonClient, FixedAuthorization, PackagerError, Packagers,
    PagureGroupPackagers,
};
use fedora_ci::clients::pagure::PagureClient;
use fedora_ci::clients::{RetryPolicy, Timeouts, Transient};
use fedora_ci::fakes::fasjson::{FakeFasjson, LIST_USER_GROUPS, RecordedFasjsonCall};
use fedora_ci::fakes::pagure::FakePagure;
use fedora_ci::fakes::serve_on_loopback;
use fedora_ci::secret::Secret;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const NEGOTIATE: &str = "Negotiate YIIC-fake-spnego-token-0123456789";

async fn start_fake() -> FakeFasjson {
    let fake = FakeFasjson::start().await.unwrap();
    fake.add_user("alice", &["fedora-contributor", "packager", "python-sig"]);
    fake.add_user("bob", &["fedora-contributor"]);
    fake
}

fn client_with(url: &str, authorization: Option<&str>, retry: RetryPolicy) -> FasjsonClient {
    let authorization = authorization
        .map(|value| Arc::new(FixedAuthorization(Secret::new(value))) as Arc<dyn Authorization>);
    FasjsonClient::new(url, authorization, Timeouts::default(), retry).unwrap()
}

fn client(fake: &FakeFasjson) -> FasjsonClient {
    client_with(&fake.url(), Some(NEGOTIATE), RetryPolicy::fast(3))
}

fn call(path: &str, query: Option<&str>) -> RecordedFasjsonCall {
    RecordedFasjsonCall {
        path: path.into(),
        query: query.map(str::to_owned),
        authorization: Some(NEGOTIATE.into()),
    }
}

#[tokio::test]
async fn members_non_members_and_unknown_users() {
    let fake = start_fake().await;
    fake.require_authorization(NEGOTIATE);
    let fasjson = client(&fake);
    assert!(fasjson.is_packager("alice").await.unwrap());
    assert!(!fasjson.is_packager("bob").await.unwrap());
    assert!(
        !fasjson.is_packager("nobody").await.unwrap(),
        "a 404 means not a packager"
    );
    assert!(
        !fasjson.is_packager("../../v1/users/alice").await.unwrap(),
        "a name is one path segment"
    );
    assert_eq!(
        fake.calls(),
        vec![
            call("/v1/users/alice/groups/", None),
            call("/v1/users/bob/groups/", None),
            call("/v1/users/nobody/groups/", None),
            call("/v1/users/..%2F..%2Fv1%2Fusers%2Falice/groups/", None),
        ]
    );
}

#[tokio::test]
async fn follows_pages_until_the_group_is_found() {
    let fake = start_fake().await;
    fake.add_user("carol", &["a", "b", "c", "packager", "d"]);
    fake.page_every_answer(2);
    let fasjson = client(&fake);
    assert!(fasjson.is_packager("carol").await.unwrap());
    assert!(!fasjson.is_packager("bob").await.unwrap());
    assert_eq!(
        fake.calls(),
        vec![
            call("/v1/users/carol/groups/", None),
            call("/v1/users/carol/groups/", Some("page_size=2&page_number=2")),
            call("/v1/users/bob/groups/", None),
        ]
    );
}

#[tokio::test]
async fn a_5xx_is_retried_and_a_lasting_one_is_a_transient_error() {
    let fake = start_fake().await;
    let fasjson = client(&fake);
    fake.faults().fail_next(LIST_USER_GROUPS, 503);
    assert!(fasjson.is_packager("alice").await.unwrap());
    assert_eq!(fake.calls().len(), 2);

    for _ in 0..3 {
        fake.faults().fail_next(LIST_USER_GROUPS, 502);
    }
    let error = fasjson.is_packager("alice").await.unwrap_err();
    assert!(
        matches!(error, PackagerError::HttpStatus { status: 502, .. }) && error.is_transient(),
        "{error:?}"
    );
    assert_eq!(fake.calls().len(), 5, "three attempts, no more");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_transient_error() {
    let fake = start_fake().await;
    fake.faults().set_latency(Duration::from_millis(500));
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        request: Duration::from_millis(100),
    };
    let fasjson =
        FasjsonClient::new(&fake.url(), None, timeouts, RetryPolicy::no_retries()).unwrap();
    let error = fasjson.is_packager("alice").await.unwrap_err();
    let PackagerError::Transport(source) = &error else {
        panic!("{error:?}")
    };
    assert!(source.is_timeout() && error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn a_rejected_authorization_is_an_error_not_a_no() {
    let fake = start_fake().await;
    fake.require_authorization(NEGOTIATE);
    for authorization in [Some("Negotiate stale-token"), None] {
        let fasjson = client_with(&fake.url(), authorization, RetryPolicy::fast(3));
        let error = fasjson.is_packager("alice").await.unwrap_err();
        assert!(
            matches!(error, PackagerError::HttpStatus { status: 401, .. }) && !error.is_transient(),
            "{error:?}"
        );
    }
    let sent: Vec<Option<String>> = fake.calls().into_iter().map(|c| c.authorization).collect();
    assert_eq!(sent, vec![Some("Negotiate stale-token".to_owned()), None]);
}

#[tokio::test]
async fn a_body_that_is_not_a_group_list_is_an_error() {
    let router = axum::Router::new().route(
        "/v1/users/{name}/groups/",
        axum::routing::get(|| async { axum::Json(json!({"result": "packager"})) }),
    );
    let address = serve_on_loopback(router).await.unwrap();
    let fasjson = client_with(&format!("http://{address}"), None, RetryPolicy::fast(3));
    let error = fasjson.is_packager("alice").await.unwrap_err();
    assert!(
        matches!(error, PackagerError::UnexpectedBody(_)) && !error.is_transient(),
        "{error:?}"
    );
}

#[tokio::test]
async fn the_cache_keeps_yes_for_its_ttl_and_never_keeps_no() {
    let fake = start_fake().await;
    let cached = CachedPackagers::new(client(&fake), Duration::from_millis(200));
    for _ in 0..3 {
        assert!(cached.is_packager("alice").await.unwrap());
        assert!(!cached.is_packager("bob").await.unwrap());
    }
    let paths = |fake: &FakeFasjson| -> Vec<String> {
        fake.calls().into_iter().map(|call| call.path).collect()
    };
    assert_eq!(
        paths(&fake),
        vec![
            "/v1/users/alice/groups/",
            "/v1/users/bob/groups/",
            "/v1/users/bob/groups/",
            "/v1/users/bob/groups/",
        ]
    );

    fake.add_user("bob", &["packager"]);
    assert!(
        cached.is_packager("bob").await.unwrap(),
        "a new packager is let in at once"
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    fake.add_user("alice", &[]);
    assert!(
        !cached.is_packager("alice").await.unwrap(),
        "asked again after the TTL"
    );
    assert_eq!(paths(&fake).len(), 6);

    fake.faults().set_error_rate(1.0, 503);
    let error = cached.is_packager("alice").await.unwrap_err();
    assert!(
        error.is_transient(),
        "errors are not cached as no: {error:?}"
    );
}

#[tokio::test]
async fn pagure_packager_group_through_the_pagure_client() {
    let pagure = FakePagure::start().await.unwrap();
    let forge = Arc::new(
        PagureClient::new(
            &pagure.url(),
            None,
            Timeouts::default(),
            RetryPolicy::fast(2),
        )
        .unwrap(),
    );
    let packagers = CachedPackagers::new(
        PagureGroupPackagers::new(forge),
        Duration::from_secs(8 * 60 * 60),
    );
    let error = packagers.is_packager("alice").await.unwrap_err();
    let PackagerError::Forge(forge_error) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        forge_error.error_code(),
        Some("ENOGROUP"),
        "a missing group is not a no"
    );

    pagure.add_group(
        json!({"name": "packager", "display_name": "packager", "description": "",
                            "group_type": "user", "creator": {"name": "admin"},
                            "date_created": "1431529680", "members": ["alice", "carol"]}),
    );
    assert!(packagers.is_packager("alice").await.unwrap());
    assert!(packagers.is_packager("alice").await.unwrap());
    assert!(!packagers.is_packager("bob").await.unwrap());
    let paths: Vec<String> = pagure.calls().into_iter().map(|call| call.path).collect();
    assert_eq!(paths, vec!["/api/0/group/packager"; 3]);
}

#[tokio::test]
async fn the_authorization_value_never_shows_in_debug_output_or_logs() {
    let fake = start_fake().await;
    fake.require_authorization(NEGOTIATE);
    let (logs, result) = capture_logs(async {
        let fasjson = client(&fake);
        fake.faults().fail_next(LIST_USER_GROUPS, 503);
        let answer = fasjson.is_packager("alice").await;
        (format!("{fasjson:?}"), answer)
    })
    .await;
    let (debug, answer) = result;
    assert!(answer.unwrap());
    assert!(
        logs.contains("list user groups failed transiently"),
        "the logs were captured: {logs}"
    );
    let secret = NEGOTIATE.trim_start_matches("Negotiate ");
    assert!(!debug.contains(secret), "{debug}");
    assert!(!logs.contains(secret), "{logs}");
}
