//! Koji task state changes (`buildsys.task.state.change`, schema `TaskStateChangeV1` of
//! koji-fedoramessaging-messages).
//!
//! Scratch builds create no Koji *build*, so their progress is followed through the state
//! changes of their `build` task.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::{ParseError, deserialize_body};
use super::{CommitSha, Event, KojiTaskId, Parsed, Skip};

/// `koji.TASK_STATES`; messages name them in `old`/`new`, task info numbers them in `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KojiTaskState {
    Free = 0,
    Open = 1,
    Closed = 2,
    Canceled = 3,
    Assigned = 4,
    Failed = 5,
}

impl KojiTaskState {
    const ALL: [KojiTaskState; 6] = [
        KojiTaskState::Free,
        KojiTaskState::Open,
        KojiTaskState::Closed,
        KojiTaskState::Canceled,
        KojiTaskState::Assigned,
        KojiTaskState::Failed,
    ];

    pub fn from_number(number: i64) -> Option<KojiTaskState> {
        KojiTaskState::ALL
            .into_iter()
            .find(|state| i64::from(state.number()) == number)
    }

    pub fn number(self) -> u8 {
        self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            KojiTaskState::Free => "FREE",
            KojiTaskState::Open => "OPEN",
            KojiTaskState::Closed => "CLOSED",
            KojiTaskState::Canceled => "CANCELED",
            KojiTaskState::Assigned => "ASSIGNED",
            KojiTaskState::Failed => "FAILED",
        }
    }
}

/// A Koji task changed state.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KojiTaskStateChange {
    pub task_id: KojiTaskId,
    /// Koji user name of whoever submitted the task; null for some system tasks.
    pub owner: Option<String>,
    /// `build` for the parent task of a (scratch) build; `buildArch`, `buildSRPMFromSCM`, …
    /// for its children.
    pub method: String,
    /// Null for a task's first message.
    pub old_state: Option<KojiTaskState>,
    pub new_state: KojiTaskState,
    /// `info.start_time`.
    pub start_time: Option<DateTime<Utc>>,
    /// `info.completion_time`.
    pub completion_time: Option<DateTime<Utc>>,
    /// Task id of each `buildArch` child, by architecture.
    pub arch_tasks: BTreeMap<String, KojiTaskId>,
    /// Architectures whose `buildArch` child failed, in the order Koji lists them.
    pub failed_arches: Vec<String>,
    /// What a `build` task was asked to build; `None` for other methods.
    pub request: Option<KojiBuildRequest>,
}

/// The arguments of a `build` task (`info.request`: `[source, target, opts]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KojiBuildRequest {
    /// A git URL such as `git+https://src.fedoraproject.org/forks/u/rpms/p.git#<sha>`, or an
    /// uploaded SRPM path.
    pub source: String,
    /// The build target, e.g. `rawhide`, `f42` or `eln`.
    pub target: String,
    pub scratch: bool,
}

impl KojiBuildRequest {
    /// The commit after `#` of a git source URL.
    pub fn source_commit(&self) -> Option<CommitSha> {
        let (_, fragment) = self.source.rsplit_once('#')?;
        CommitSha::parse(fragment).ok()
    }
}

#[derive(Deserialize)]
struct WireTaskMessage {
    id: KojiTaskId,
    owner: Option<String>,
    method: String,
    old: Option<KojiTaskState>,
    new: KojiTaskState,
    /// The schema allows null here.
    info: Option<WireTaskInfo>,
}

#[derive(Deserialize)]
struct WireTaskInfo {
    state: Option<i64>,
    start_time: Option<f64>,
    completion_time: Option<f64>,
    /// Its shape depends on the method, so it is read only for `build` tasks.
    request: Option<Vec<serde_json::Value>>,
    /// The schema allows null children, like a null `info`.
    children: Option<Vec<Option<WireChildTask>>>,
}

#[derive(Deserialize)]
struct WireChildTask {
    id: KojiTaskId,
    method: String,
    arch: String,
    state: Option<i64>,
}

pub(super) fn parse(topic: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let message: WireTaskMessage = deserialize_body(topic, body)?;
    // packit-service drops these too (it also drops `info.state == 0`, which we keep: FREE is
    // a real state).
    let Some(info) = message.info.filter(|info| info.state.is_some()) else {
        return Ok(Parsed::Ignored(Skip::KojiTaskWithoutState {
            task_id: message.id,
        }));
    };
    let children: Vec<WireChildTask> = info.children.into_iter().flatten().flatten().collect();
    let request = info
        .request
        .as_deref()
        .and_then(|request| build_request(&message.method, request));
    Ok(Parsed::Event(Event::KojiTaskStateChanged(
        KojiTaskStateChange {
            task_id: message.id,
            owner: message.owner,
            old_state: message.old,
            new_state: message.new,
            start_time: epoch_time(topic, "info.start_time", info.start_time)?,
            completion_time: epoch_time(topic, "info.completion_time", info.completion_time)?,
            arch_tasks: arch_tasks(&children),
            failed_arches: failed_arches(&children),
            request,
            method: message.method,
        },
    )))
}

fn build_request(method: &str, request: &[serde_json::Value]) -> Option<KojiBuildRequest> {
    if method != "build" {
        return None;
    }
    let source = request.first()?.as_str()?;
    let target = request.get(1)?.as_str()?;
    let scratch = request
        .get(2)
        .and_then(|options| options.get("scratch"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    Some(KojiBuildRequest {
        source: source.to_owned(),
        target: target.to_owned(),
        scratch,
    })
}

fn build_arch_children(children: &[WireChildTask]) -> impl Iterator<Item = &WireChildTask> {
    children.iter().filter(|child| child.method == "buildArch")
}

fn arch_tasks(children: &[WireChildTask]) -> BTreeMap<String, KojiTaskId> {
    build_arch_children(children)
        .map(|child| (child.arch.clone(), child.id))
        .collect()
}

fn failed_arches(children: &[WireChildTask]) -> Vec<String> {
    build_arch_children(children)
        .filter(|child| {
            child.state.and_then(KojiTaskState::from_number) == Some(KojiTaskState::Failed)
        })
        .map(|child| child.arch.clone())
        .collect()
}

fn epoch_time(
    topic: &str,
    field: &str,
    seconds: Option<f64>,
) -> Result<Option<DateTime<Utc>>, ParseError> {
    let Some(seconds) = seconds else {
        return Ok(None);
    };
    let micros = seconds * 1_000_000.0;
    // `as` saturates, so the range check has to come first.
    if !micros.is_finite() || micros.abs() > i64::MAX as f64 {
        return Err(ParseError::invalid_field(
            topic,
            field,
            format!("{seconds} is not a time in seconds since the epoch"),
        ));
    }
    DateTime::from_timestamp_micros(micros.round() as i64)
        .map(Some)
        .ok_or_else(|| {
            ParseError::invalid_field(topic, field, format!("{seconds} is out of range"))
        })
}

/// The one field [`prefilter`](super::prefilter) looks at, borrowed from the body.
#[derive(Deserialize)]
pub(super) struct Peek<'a> {
    #[serde(borrow)]
    pub owner: Option<Cow<'a, str>>,
}

pub(super) fn peek(body: &[u8]) -> Option<Peek<'_>> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_numbers_follow_koji() {
        let expected = [
            (0, "FREE"),
            (1, "OPEN"),
            (2, "CLOSED"),
            (3, "CANCELED"),
            (4, "ASSIGNED"),
            (5, "FAILED"),
        ];
        for (number, name) in expected {
            let state = KojiTaskState::from_number(number).unwrap();
            assert_eq!(state.name(), name);
            assert_eq!(i64::from(state.number()), number);
            let from_name: KojiTaskState =
                serde_json::from_value(serde_json::Value::from(name)).unwrap();
            assert_eq!(from_name, state);
        }
        assert_eq!(KojiTaskState::from_number(6), None);
        assert_eq!(KojiTaskState::from_number(-1), None);
    }

    #[test]
    fn source_commit_is_read_from_the_git_url_fragment() {
        let request = KojiBuildRequest {
            source: "git+https://src.fedoraproject.org/forks/zbyszek/rpms/optee_os.git#889f07af35d27bbcaf9c535c17a63b974aa42ee3".to_owned(),
            target: "rawhide".to_owned(),
            scratch: true,
        };
        assert_eq!(
            request.source_commit().unwrap().as_str(),
            "889f07af35d27bbcaf9c535c17a63b974aa42ee3"
        );
        let upload = KojiBuildRequest {
            source: "cli-build/1590993046.5615945.hqCGfULV/hello.src.rpm".to_owned(),
            ..request
        };
        assert_eq!(upload.source_commit(), None);
    }

    #[test]
    fn epoch_times_keep_microseconds_and_reject_nonsense() {
        let time = epoch_time("t", "f", Some(1590993047.25)).unwrap().unwrap();
        assert_eq!(time.to_rfc3339(), "2020-06-01T06:30:47.250+00:00");
        assert!(epoch_time("t", "f", Some(f64::NAN)).is_err());
        assert!(epoch_time("t", "f", Some(1e300)).is_err());
        assert_eq!(epoch_time("t", "f", None).unwrap(), None);
    }
}
