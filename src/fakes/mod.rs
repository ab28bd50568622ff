//! Faithful local stand-ins for the external services, for tests and the
//! `fedora-ci-fakes` binary only; no service code path may use them.
//!
//! Each fake speaks the real wire protocol on 127.0.0.1 with a free port, records
//! every call, and injects failures on demand through a [`FaultInjector`].

pub mod demo;
pub mod eln;
pub mod fasjson;
pub mod forgejo;
pub mod koji;
pub mod logdetective;
pub mod pagure;
pub mod testing_farm;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Failures a fake injects before it handles a call: scripted ones for a named
/// operation, a random error rate, and a fixed latency.
#[derive(Debug)]
pub struct FaultInjector<F> {
    plan: Mutex<FaultPlan<F>>,
}

#[derive(Debug)]
struct FaultPlan<F> {
    scripted: VecDeque<(String, F)>,
    error_rate: f64,
    random_failure: Option<F>,
    latency: Duration,
}

impl<F: Clone> Default for FaultInjector<F> {
    fn default() -> Self {
        FaultInjector {
            plan: Mutex::new(FaultPlan {
                scripted: VecDeque::new(),
                error_rate: 0.0,
                random_failure: None,
                latency: Duration::ZERO,
            }),
        }
    }
}

impl<F: Clone> FaultInjector<F> {
    /// The next call of `operation` fails with `failure`; several queue up in order.
    pub fn fail_next(&self, operation: &str, failure: F) {
        self.lock()
            .scripted
            .push_back((operation.to_owned(), failure));
    }

    /// Each call fails with `failure` with probability `rate` (0.0 to 1.0).
    pub fn set_error_rate(&self, rate: f64, failure: F) {
        let mut plan = self.lock();
        plan.error_rate = rate.clamp(0.0, 1.0);
        plan.random_failure = Some(failure);
    }

    pub fn set_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }

    /// Waits out the latency, then says which failure (if any) this call gets.
    pub async fn before_call(&self, operation: &str) -> Option<F> {
        let (latency, failure) = {
            let mut plan = self.lock();
            (plan.latency, plan.take_failure(operation))
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        failure
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultPlan<F>> {
        self.plan
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<F: Clone> FaultPlan<F> {
    fn take_failure(&mut self, operation: &str) -> Option<F> {
        if let Some(position) = self.scripted.iter().position(|(name, _)| name == operation) {
            return self.scripted.remove(position).map(|(_, failure)| failure);
        }
        if self.error_rate > 0.0 && rand::random_range(0.0..1.0) < self.error_rate {
            return self.random_failure.clone();
        }
        None
    }
}

/// What an HTTP fake holds: its state, the failures to inject and where it listens.
pub(crate) struct FakeServer<D> {
    pub(crate) data: Arc<Mutex<D>>,
    pub(crate) faults: Arc<FaultInjector<u16>>,
    address: SocketAddr,
}

impl<D> Clone for FakeServer<D> {
    fn clone(&self) -> Self {
        FakeServer {
            data: self.data.clone(),
            faults: self.faults.clone(),
            address: self.address,
        }
    }
}

impl<D: Send + 'static> FakeServer<D> {
    /// Serves the router `routes` builds over the shared state and fault injector.
    pub(crate) async fn start(
        data: D,
        routes: impl FnOnce(Arc<Mutex<D>>, Arc<FaultInjector<u16>>) -> axum::Router,
    ) -> std::io::Result<Self> {
        let data = Arc::new(Mutex::new(data));
        let faults = Arc::new(FaultInjector::default());
        let address = serve_on_loopback(routes(data.clone(), faults.clone())).await?;
        Ok(FakeServer {
            data,
            faults,
            address,
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// Serves `router` on 127.0.0.1 with a port the system picks, until the runtime stops.
pub async fn serve_on_loopback(router: axum::Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!("fake server on {address} stopped: {error}");
        }
    });
    Ok(address)
}

/// Locks a mutex, taking over the data if a panicking test thread poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
