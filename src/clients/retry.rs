//! Bounded retries with full jitter, for failures that say they are transient.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

/// Implemented by client errors: `true` when trying the same call again later may succeed.
pub trait Transient {
    fn is_transient(&self) -> bool;
}

/// How often and how patiently a client repeats a call that failed transiently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first one included; 1 means no retry.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that tries once and never waits; for tests that assert exact calls.
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        }
    }

    /// A policy with many fast retries; for tests against fakes that inject faults.
    pub fn fast(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    /// The pause before retry number `retry` (1-based): a random duration between zero
    /// and an exponentially growing cap, so that many workers do not retry in lockstep.
    pub fn delay_before_retry(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(16);
        let cap = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let cap_millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=cap_millis))
    }
}

/// Runs `call` until it succeeds, fails permanently, or the policy's attempts run out.
pub async fn with_retries<T, E, F, Fut>(
    policy: &RetryPolicy,
    operation: &str,
    mut call: F,
) -> Result<T, E>
where
    E: Transient + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) if error.is_transient() && attempt < policy.max_attempts => {
                let delay = policy.delay_before_retry(attempt);
                tracing::warn!(
                    operation,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    "{operation} failed transiently, retrying: {error}"
                );
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct FakeError(bool);

    impl Display for FakeError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "fake error (transient: {})", self.0)
        }
    }

    impl Transient for FakeError {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    #[tokio::test]
    async fn retries_transient_errors_up_to_the_attempt_limit() {
        let calls = AtomicU32::new(0);
        let result: Result<(), FakeError> = with_retries(&RetryPolicy::fast(3), "test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(FakeError(true)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_permanent_errors() {
        let calls = AtomicU32::new(0);
        let result: Result<(), FakeError> = with_retries(&RetryPolicy::fast(3), "test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(FakeError(false)) }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stops_retrying_after_success() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&RetryPolicy::fast(5), "test", || {
            let attempt = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < 2 {
                    Err(FakeError(true))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(2));
    }

    #[test]
    fn delay_stays_under_the_cap() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for retry in 1..10 {
            assert!(policy.delay_before_retry(retry) <= Duration::from_millis(300));
        }
        assert!(policy.delay_before_retry(1) <= Duration::from_millis(100));
    }
}
