//! Log capture for tests that check what a client logs (and that secrets never reach a log).

use std::future::Future;
use std::sync::{Arc, Mutex};

/// Runs `work` with every log event, down to trace level, written to a string.
pub async fn capture_logs<T>(work: impl Future<Output = T>) -> (String, T) {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    // Another test thread may have cached "nobody listens" for a callsite while no
    // subscriber existed; recompute it now that this one does.
    tracing::callsite::rebuild_interest_cache();
    let result = work.await;
    drop(guard);
    let logs = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (logs, result)
}
