use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// Koji's task states (`koji.TASK_STATES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub enum TaskState {
    Free,
    Open,
    Closed,
    Canceled,
    Assigned,
    Failed,
}

impl TaskState {
    /// The name Koji uses in `buildsys.task.state.change` messages.
    pub fn name(self) -> &'static str {
        match self {
            TaskState::Free => "FREE",
            TaskState::Open => "OPEN",
            TaskState::Closed => "CLOSED",
            TaskState::Canceled => "CANCELED",
            TaskState::Assigned => "ASSIGNED",
            TaskState::Failed => "FAILED",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskState::Closed | TaskState::Canceled | TaskState::Failed
        )
    }
}

impl TryFrom<i64> for TaskState {
    type Error = String;

    fn try_from(number: i64) -> Result<Self, Self::Error> {
        Ok(match number {
            0 => TaskState::Free,
            1 => TaskState::Open,
            2 => TaskState::Closed,
            3 => TaskState::Canceled,
            4 => TaskState::Assigned,
            5 => TaskState::Failed,
            other => return Err(format!("unknown Koji task state {other}")),
        })
    }
}

impl From<TaskState> for i64 {
    fn from(state: TaskState) -> i64 {
        match state {
            TaskState::Free => 0,
            TaskState::Open => 1,
            TaskState::Closed => 2,
            TaskState::Canceled => 3,
            TaskState::Assigned => 4,
            TaskState::Failed => 5,
        }
    }
}

/// What `getTaskInfo` and `getTaskChildren` return for one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub id: i64,
    pub parent: Option<i64>,
    pub method: String,
    pub state: TaskState,
    pub arch: String,
    pub label: Option<String>,
    pub owner: i64,
    pub priority: i64,
    #[serde(default)]
    pub weight: Option<f64>,
    #[serde(default)]
    pub channel_id: Option<i64>,
    #[serde(default)]
    pub host_id: Option<i64>,
    #[serde(default)]
    pub waiting: Option<bool>,
    #[serde(default)]
    pub awaited: Option<bool>,
    #[serde(default)]
    pub create_time: Option<String>,
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub completion_time: Option<String>,
    #[serde(default)]
    pub create_ts: Option<f64>,
    #[serde(default)]
    pub start_ts: Option<f64>,
    #[serde(default)]
    pub completion_ts: Option<f64>,
    /// `[source, target, options]` for a build task; only when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Json>,
}

/// The arguments of a `build` task, `[source, target, opts]` as the hub stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest<'a> {
    pub source: &'a str,
    pub target: &'a str,
    pub scratch: bool,
}

impl TaskInfo {
    /// The request of a `build` task, when it was asked for (decoded) and has that shape.
    pub fn build_request(&self) -> Option<BuildRequest<'_>> {
        if self.method != "build" {
            return None;
        }
        let request = self.request.as_ref()?.as_array()?;
        Some(BuildRequest {
            source: request.first()?.as_str()?,
            target: request.get(1)?.as_str()?,
            scratch: request
                .get(2)
                .and_then(|opts| opts.get("scratch"))
                .and_then(Json::as_bool)
                .unwrap_or(false),
        })
    }
}

/// What `getBuildTarget` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildTarget {
    pub id: i64,
    pub name: String,
    pub build_tag: i64,
    pub build_tag_name: String,
    pub dest_tag: i64,
    pub dest_tag_name: String,
}
