//! Publishes messages on the real broker with fedora-messaging's own publisher, one Python
//! process for the whole run, and remembers each message's id and whether the service
//! should store it.

use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin};

/// What the service should do with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Store it in `inbound_messages` and process it.
    Stored,
    /// Drop it at the listener's prefilter (another owner's Koji task, a namespace without CI).
    Dropped,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    PullRequestOpened,
    Push,
    Comment,
    KojiTaskState,
    Noise,
}

#[derive(Default)]
struct Log {
    sent: Vec<(Kind, Expect)>,
    ids: Vec<String>,
}

pub struct Publisher {
    prefix: String,
    child: Child,
    stdin: Option<ChildStdin>,
    log: Arc<Mutex<Log>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Publisher {
    pub fn start(amqp_url: &str, prefix: &str) -> Publisher {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/publish_stream.py"
        );
        let mut child = tokio::process::Command::new(crate::common::python::python())
            .args([script, amqp_url])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(Log::default()));
        let ids = log.clone();
        let reader = tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                ids.lock().unwrap().ids.push(line);
            }
        });
        Publisher {
            prefix: prefix.to_owned(),
            child,
            stdin,
            log,
            reader,
        }
    }

    /// Publishes `body` on `<prefix>.<topic>`.
    pub async fn publish(&mut self, topic: &str, body: &Json, kind: Kind, expect: Expect) {
        let mut line = serde_json::to_vec(&json!({
            "topic": format!("{}.{topic}", self.prefix),
            "body": body,
        }))
        .unwrap();
        line.push(b'\n');
        self.log.lock().unwrap().sent.push((kind, expect));
        let stdin = self.stdin.as_mut().expect("the publisher is open");
        stdin.write_all(&line).await.unwrap();
    }

    pub fn sent(&self) -> usize {
        self.log.lock().unwrap().sent.len()
    }

    /// Closes the stream, waits until the broker confirmed every message, and returns each
    /// message's id with what it was.
    pub async fn finish(mut self) -> Vec<(String, Kind, Expect)> {
        drop(self.stdin.take());
        let status = self.child.wait().await.unwrap();
        assert!(status.success(), "the publisher failed: {status}");
        (&mut self.reader).await.unwrap();
        let log = self.log.lock().unwrap();
        assert_eq!(
            log.ids.len(),
            log.sent.len(),
            "the publisher confirmed fewer messages than it was given"
        );
        log.ids
            .iter()
            .zip(&log.sent)
            .map(|(id, (kind, expect))| (id.clone(), *kind, *expect))
            .collect()
    }
}
