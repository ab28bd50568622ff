//! A fake Content Resolver (tiny.distro.builders) serving the ELN package lists as text.
//!
//! Faults are injected per file name, e.g. `view-all-source-package-name-list--view-eln.txt`.

use crate::clients::eln::ELN_LIST_FILES;
use crate::fakes::{FakeServer, FaultInjector, lock};
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Data {
    files: BTreeMap<String, String>,
    /// Requested file names, in order.
    calls: Vec<String>,
}

#[derive(Clone)]
pub struct FakeEln {
    server: FakeServer<Data>,
}

impl FakeEln {
    /// Serves no file until a test sets some.
    pub async fn start() -> std::io::Result<Self> {
        let server = FakeServer::start(Data::default(), |data, faults| {
            axum::Router::new().route(
                "/{file}",
                axum::routing::get(move |Path(file): Path<String>| {
                    serve_file(data.clone(), faults.clone(), file)
                }),
            )
        })
        .await?;
        Ok(FakeEln { server })
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn faults(&self) -> &FaultInjector<u16> {
        &self.server.faults
    }

    /// Serves `text` as `file`, byte for byte.
    pub fn set_list(&self, file: &str, text: &str) {
        lock(&self.server.data)
            .files
            .insert(file.to_owned(), text.to_owned());
    }

    /// Serves both ELN lists, one name a line as Content Resolver writes them.
    pub fn set_packages(&self, eln: &[&str], extras: &[&str]) {
        for (file, names) in ELN_LIST_FILES.into_iter().zip([eln, extras]) {
            let text: String = names.iter().map(|name| format!("{name}\n")).collect();
            self.set_list(file, &text);
        }
    }

    pub fn calls(&self) -> Vec<String> {
        lock(&self.server.data).calls.clone()
    }
}

async fn serve_file(
    data: Arc<Mutex<Data>>,
    faults: Arc<FaultInjector<u16>>,
    file: String,
) -> Response {
    lock(&data).calls.push(file.clone());
    if let Some(status) = faults.before_call(&file).await {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, "injected failure").into_response();
    }
    match lock(&data).files.get(&file) {
        Some(text) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            text.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "<h1>Not Found</h1>").into_response(),
    }
}
