//! No configured secret leaves the service anywhere but to the service it is for.
//!
//! `fedora-ci serve` runs at trace level with a distinctive value for every secret the
//! configuration knows (Pagure token, Testing Farm secret, Log Detective token, Sentry DSN,
//! the database password, the broker password, the Koji client key) through a pull request's
//! success and failure paths, with refused calls from the fakes (so errors are logged,
//! stored and reported to Sentry), refused webhook calls, and a listener whose broker login
//! fails. Then everything that came out is searched for every secret, plain and in base64:
//! every process's stdout and stderr, every API answer (each route of the OpenAPI document,
//! `/api/system`, `/metrics`), `check-config`, the configuration's `Debug`, every row of every
//! table in the database, and the events Sentry received (on a loopback endpoint here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(clippy::duplicate_mod)]
mod clients_support;
mod common;

#[path = "hostile/service.rs"]
mod service;

use std::sync::{Arc, Mutex};

use fedora_ci::fakes::koji::BuildOutcome;
use lapin::types::FieldTable;
use serde_json::{Value as Json, json};
use service::{Credentials, OPTEE_PROJECT, STEP, Service, fixture, output_of, spawn, terminate};

const PAGURE_TOKEN: &str = "PAGURE-TOKEN-5e1f3c9a7b";
const TF_SECRET: &str = "TF-SECRET-8b2d4f6e1a";
const LD_TOKEN: &str = "LD-TOKEN-3c7a9e1b5d";
const SENTRY_KEY: &str = "sentrykey7f3e9a2c5b1d4e6f";
const DB_PASSWORD: &str = "DB-PASSWORD-4d6f8a0c2e";
const AMQP_PASSWORD: &str = "AMQP-PASSWORD-9e8d7c6b5a";
const SECOND: &str = "4f1c0de5a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A loopback Sentry: records every envelope it is sent.
async fn sentry() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let envelopes: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let recorded = envelopes.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let recorded = recorded.clone();
        async move {
            recorded.lock().unwrap().push(body.to_vec());
            axum::Json(json!({"id": uuid::Uuid::new_v4().simple().to_string()}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dsn = format!("http://{SENTRY_KEY}@{}/42", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (dsn, envelopes)
}

/// Each secret, and the forms it could take in output.
fn forms(secrets: &[(&str, String)]) -> Vec<(String, String)> {
    let mut forms = Vec::new();
    for (name, secret) in secrets {
        let base64 = openssl::base64::encode_block(secret.as_bytes());
        let url_safe = base64.replace('+', "-").replace('/', "_");
        forms.push((name.to_string(), secret.clone()));
        forms.push((
            format!("{name} (base64)"),
            base64.trim_end_matches('=').to_owned(),
        ));
        forms.push((
            format!("{name} (URL-safe base64)"),
            url_safe.trim_end_matches('=').to_owned(),
        ));
    }
    forms
}

/// Every GET path of the OpenAPI document, with ids 1 to 3 for its parameters.
async fn api_answers(service: &Service) -> String {
    let client = reqwest::Client::new();
    let document: Json = client
        .get(format!("{}/api/openapi.json", service.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut answers = String::new();
    let paths: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, operations)| operations.get("get").is_some())
        .map(|(path, _)| path.clone())
        .collect();
    for path in paths {
        for id in ["1", "2", "3"] {
            let concrete = path
                .replace("{forge}", "src.fedoraproject.org")
                .replace("{namespace}", "rpms")
                .replace("{repo}", "optee_os")
                .replace("{pr_id}", "2");
            let concrete = fill_parameters(&concrete, id);
            let response = client
                .get(format!("{}{concrete}", service.base))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let headers = format!("{:?}", response.headers());
            let body = response.text().await.unwrap();
            assert!(!status.is_server_error(), "{concrete}: {status} {body}");
            answers.push_str(&format!("GET {concrete} {status}\n{headers}\n{body}\n"));
        }
    }
    for page in ["/", "/queue", "/dashboard/app.js"] {
        let body = client
            .get(format!("{}{page}", service.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        answers.push_str(&body);
    }
    answers
}

/// `path` with every remaining `{parameter}` replaced by `value`.
fn fill_parameters(path: &str, value: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push_str(value);
        rest = rest[start..].split_once('}').map_or("", |(_, after)| after);
    }
    out.push_str(rest);
    out
}

/// Every row of every table of the service's schema, as JSON text.
async fn database_dump(service: &Service) -> String {
    let fedora_ci::db::Store::Postgres(pool) = &service.store else {
        panic!("PostgreSQL expected");
    };
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.len() > 10, "{tables:?}");
    let mut dump = String::new();
    for table in tables {
        let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT row_to_json(t)::text FROM \"{table}\" t"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        dump.push_str(&format!("== {table}\n{}\n", rows.join("\n")));
    }
    dump
}

/// Publishes the Koji messages the fake hub emitted since `from`; returns the new count.
async fn publish_koji_messages(service: &Service, from: usize) -> usize {
    let messages = service.fakes.koji.messages();
    for (index, message) in messages.iter().enumerate().skip(from) {
        let topic = message
            .topic
            .strip_prefix("org.fedoraproject.prod.")
            .unwrap();
        service
            .publish_raw(
                topic,
                &format!("koji-{index}"),
                FieldTable::default(),
                &serde_json::to_vec(&message.body).unwrap(),
            )
            .await
            .unwrap();
    }
    messages.len()
}

/// The Koji task of the service's `index`th build (from 0), once submitted.
async fn koji_task(service: &Service, index: usize) -> i64 {
    let fedora_ci::db::Store::Postgres(pool) = &service.store else {
        panic!("PostgreSQL expected");
    };
    common::wait_for(STEP, || async move {
        let tasks: Vec<String> = sqlx::query_scalar(
            "SELECT task_id FROM koji_build_targets WHERE task_id IS NOT NULL ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        Ok(tasks.get(index).and_then(|task| task.parse().ok()))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_leaks_from_a_full_run() {
    let (dsn, envelopes) = sentry().await;
    let credentials = Credentials {
        pagure_token: PAGURE_TOKEN.to_owned(),
        testing_farm_secret: TF_SECRET.to_owned(),
        logdetective_token: LD_TOKEN.to_owned(),
        sentry_dsn: Some(dsn.clone()),
        database_password: Some(DB_PASSWORD.to_owned()),
    };
    let mut service = Service::start(&credentials, "trace").await;
    let fakes = &service.fakes;
    // Refusals: the first flag post, the first analysis.
    fakes
        .pagure
        .faults()
        .fail_next(&format!("/api/0/{OPTEE_PROJECT}/pull-request/2/flag"), 401);
    fakes.log_detective.faults().fail_next("analyze", 401);

    // The pull request is opened and built; its tests run, one fails.
    service
        .publish_fixture("pagure_pr_new.json", "opened", |_| {})
        .await
        .unwrap();
    let task = koji_task(&service, 0).await;
    assert!(service.fakes.koji.start_build(task));
    assert!(
        service
            .fakes
            .koji
            .finish_build(task, &BuildOutcome::Succeeds)
    );
    let mut koji_published = publish_koji_messages(&service, 0).await;
    common::wait_for(STEP, || {
        let submitted = service.fakes.testing_farm.submitted().len();
        async move { Ok((submitted >= 5).then_some(())) }
    })
    .await
    .unwrap();
    service.settled().await.unwrap();
    let calls = fedora_ci::db::flags::calls(&service.store, None)
        .await
        .unwrap();
    let request_ids: Vec<String> = calls
        .iter()
        .filter(|call| call.call == "POST /requests" && call.outcome == "succeeded")
        .filter_map(|call| call.response.as_ref()?.0["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(request_ids.len(), 5, "{calls:?}");
    for (index, id) in request_ids.iter().enumerate() {
        let overall = if index == 0 { "failed" } else { "passed" };
        while service
            .fakes
            .testing_farm
            .advance(id, overall)
            .await
            .is_some_and(|state| state != "complete")
        {}
    }
    assert!(!service.fakes.testing_farm.notifications().is_empty());

    service.settled().await.unwrap();
    let flags = |service: &Service| -> Vec<(String, String)> {
        let mut flags: Vec<(String, String)> = service
            .fakes
            .pagure
            .flags(OPTEE_PROJECT, 2)
            .iter()
            .map(|flag| (flag["username"].to_string(), flag["status"].to_string()))
            .collect();
        flags.sort();
        flags
    };
    let reported = flags(&service);
    assert_eq!(
        reported
            .iter()
            .filter(|(_, status)| status == "\"failure\"")
            .count(),
        1,
        "{reported:?}"
    );

    // The webhook is never trusted: a notification that claims a result changes nothing,
    // the result is what Testing Farm answers.
    let client = reqwest::Client::new();
    let forged = json!({
        "request_id": request_ids[0], "token": TF_SECRET,
        "state": "complete", "result": {"overall": "passed"},
    });
    let response = client
        .post(format!("{}/api/testing-farm/results", service.base))
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    service.settled().await.unwrap();
    assert_eq!(flags(&service), reported);

    // Webhook calls with wrong tokens, one of them another secret.
    for token in ["wrong", LD_TOKEN, &TF_SECRET[..TF_SECRET.len() - 1]] {
        let response = client
            .post(format!("{}/api/testing-farm/results", service.base))
            .json(&json!({"request_id": request_ids[0], "token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }

    // A push whose build fails: Log Detective is asked (refused once, then retried).
    let (_, mut pushed) = fixture("pagure_pr_new.json");
    pushed["agent"] = json!("pagure");
    pushed["pullrequest"]["commit_stop"] = json!(SECOND);
    service
        .fakes
        .pagure
        .add_pull_request(pushed["pullrequest"].clone());
    service
        .publish_raw(
            "pagure.pull-request.updated",
            "pushed",
            FieldTable::default(),
            &serde_json::to_vec(&pushed).unwrap(),
        )
        .await
        .unwrap();
    let task = koji_task(&service, 1).await;
    assert!(service.fakes.koji.start_build(task));
    assert!(
        service
            .fakes
            .koji
            .finish_build(task, &BuildOutcome::FailsOnArch("x86_64".to_owned()))
    );
    koji_published = publish_koji_messages(&service, koji_published).await;
    common::wait_for(STEP, || {
        let calls = service.fakes.log_detective.calls().len();
        async move { Ok((calls >= 1).then_some(())) }
    })
    .await
    .unwrap();
    service.settled().await.unwrap();
    assert!(koji_published > 0);

    // Something went wrong enough to be reported.
    let dead = fedora_ci::db::tasks::list_by_state(&service.store, "dead", 100)
        .await
        .unwrap();
    assert!(
        !dead.is_empty(),
        "no task died: the error paths were not taken"
    );
    common::wait_for(STEP, || {
        let count = envelopes.lock().unwrap().len();
        async move { Ok((count > 0).then_some(())) }
    })
    .await
    .unwrap();

    // A listener whose broker login fails, serving its health (which holds the last broker
    // error) and metrics.
    let listen_health = format!("127.0.0.1:{}", common::free_port());
    let listen_env = [
        (
            "FEDORA_CI_MESSAGING__AMQP_URL",
            format!("amqp://guest:{AMQP_PASSWORD}@127.0.0.1:5672/%2F"),
        ),
        ("FEDORA_CI_MESSAGING__HEALTH_BIND", listen_health.clone()),
        ("RUST_LOG", "trace".to_owned()),
    ];
    let listen_env: Vec<(&str, &str)> = listen_env
        .iter()
        .map(|(key, value)| (*key, value.as_str()))
        .collect();
    let config = service.config_path.to_str().unwrap().to_owned();
    let dir = service.dir.path().to_owned();
    let mut listen = spawn(
        &dir,
        &["--config", &config, "listen"],
        &listen_env,
        "listen",
    );
    common::wait_for(STEP, || {
        let logged = output_of(&dir, "listen").contains("cannot reach the message broker");
        async move { Ok(logged.then_some(())) }
    })
    .await
    .unwrap();
    let mut listener_answers = String::new();
    for path in ["/healthz", "/readyz", "/metrics"] {
        let answer = reqwest::get(format!("http://{listen_health}{path}"))
            .await
            .unwrap();
        listener_answers.push_str(&answer.text().await.unwrap());
    }
    assert!(
        listener_answers.contains("fedora_ci_broker_connected"),
        "{listener_answers}"
    );
    terminate(&mut listen);
    let mut check = spawn(
        &dir,
        &["--config", &config, "check-config"],
        &[("RUST_LOG", "trace")],
        "check-config",
    );
    assert!(check.wait().unwrap().success());
    let checked = output_of(&dir, "check-config");
    assert!(checked.contains("[redacted]"), "{checked}");

    // Everything that came out.
    let api = api_answers(&service).await;
    let metrics = reqwest::get(format!("{}/metrics", service.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let database = database_dump(&service).await;
    let loaded = fedora_ci::config::Config::load(Some(&service.config_path), Vec::new()).unwrap();
    let debug = format!("{loaded:?} {:?}", loaded.messaging);
    assert!(service.terminate().success());
    // Sentry sends what it holds at exit.
    let serve_output = service.output();
    let sentry_events: Vec<String> = envelopes
        .lock()
        .unwrap()
        .iter()
        .map(|envelope| {
            // The envelope's header names the DSN it is sent to: Sentry's own credential on
            // its way to Sentry. The events after it must not carry it.
            let text = String::from_utf8_lossy(envelope);
            text.split_once('\n')
                .map_or(String::new(), |(_, items)| items.to_owned())
        })
        .collect();
    let sentry_events = sentry_events.join("\n");
    assert!(sentry_events.contains("task is dead"), "{sentry_events}");

    let mut secrets = vec![
        ("pagure_token", PAGURE_TOKEN.to_owned()),
        ("testing_farm_secret", TF_SECRET.to_owned()),
        ("logdetective_token", LD_TOKEN.to_owned()),
        ("sentry_dsn key", SENTRY_KEY.to_owned()),
        ("sentry_dsn", dsn),
        ("database password", DB_PASSWORD.to_owned()),
        ("messaging.amqp_url password", AMQP_PASSWORD.to_owned()),
    ];
    // The Koji client key, by each full line of its PEM body.
    for line in service
        .koji_key
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 32)
    {
        secrets.push(("koji_key PEM", line.to_owned()));
    }
    // The Koji session keys the hub handed out.
    for call in service.fakes.koji.calls() {
        if let Some(key) = call.session.key.filter(|key| key.len() >= 8) {
            secrets.push(("Koji session key", key));
        }
    }
    let listen_output = output_of(&dir, "listen");
    assert!(
        listen_output.contains("ACCESS_REFUSED")
            || listen_output.contains("cannot reach the message broker")
    );
    assert!(
        serve_output.contains("TRACE"),
        "not traced: {}",
        &serve_output[..serve_output.len().min(2000)]
    );
    let outputs = [
        ("serve stdout/stderr", &serve_output),
        ("listen stdout/stderr", &listen_output),
        ("check-config", &checked),
        ("API answers", &api),
        ("/metrics", &metrics),
        ("listener health and metrics", &listener_answers),
        ("database rows", &database),
        ("Config Debug", &debug),
        ("Sentry events", &sentry_events),
    ];
    let mut leaks = Vec::new();
    for (form_name, form) in forms(&secrets) {
        for (output_name, output) in &outputs {
            if let Some(at) = output.find(&form) {
                let start = output[..at]
                    .char_indices()
                    .rev()
                    .nth(150)
                    .map_or(0, |(index, _)| index);
                let end = (at + form.len() + 150).min(output.len());
                let end = (end..=output.len())
                    .find(|index| output.is_char_boundary(*index))
                    .unwrap_or(output.len());
                leaks.push(format!(
                    "{form_name} in {output_name}: …{}…",
                    &output[start..end]
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n\n"));
}
