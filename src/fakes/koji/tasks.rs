//! The fake hub's task table: scratch builds that move FREE → OPEN → CLOSED or
//! FAILED with a `buildSRPMFromSCM` child and one `buildArch` child per arch, and
//! the `buildsys.task.state.change` message bodies those moves produce.

use crate::clients::koji::TaskState;
use serde_json::{Map, Value as Json, json};
use std::collections::BTreeMap;

pub const TASK_STATE_CHANGE_TOPIC: &str = "org.fedoraproject.prod.buildsys.task.state.change";

/// One message the real hub's fedora-messaging plugin would publish.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskStateChange {
    pub topic: String,
    pub body: Json,
}

/// How a scratch build ends when the test lets it finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildOutcome {
    Succeeds,
    /// The `buildArch` task of this arch fails, and with it the build.
    FailsOnArch(String),
    /// The `buildArch` tasks of these arches fail, and with them the build.
    FailsOnArches(Vec<String>),
}

impl BuildOutcome {
    fn fails_on(&self, arch: &str) -> bool {
        match self {
            BuildOutcome::Succeeds => false,
            BuildOutcome::FailsOnArch(failing) => failing == arch,
            BuildOutcome::FailsOnArches(failing) => failing.iter().any(|failing| failing == arch),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FakeTask {
    /// What `getTaskInfo` answers, without `request`.
    pub info: Map<String, Json>,
    pub request: Json,
    pub result: Option<Json>,
    /// The fault a failed task's `getTaskResult` raises.
    pub failure: Option<(i32, String)>,
    pub output_files: Vec<String>,
    pub children: Vec<i64>,
    pub owner_name: String,
}

impl FakeTask {
    /// The first request argument: the SCM URL of a build, the SRPM of a `buildArch`.
    pub fn source(&self) -> &str {
        self.request
            .get(0)
            .and_then(Json::as_str)
            .unwrap_or_default()
    }
}

#[derive(Clone, Debug)]
pub struct MessageSettings {
    pub base_url: String,
    pub files_base_url: String,
    pub host_name: String,
}

#[derive(Debug)]
pub struct TaskTable {
    pub tasks: BTreeMap<i64, FakeTask>,
    next_id: i64,
    settings: MessageSettings,
    emitted: Vec<TaskStateChange>,
}

impl TaskTable {
    pub fn new(first_task_id: i64, settings: MessageSettings) -> Self {
        TaskTable {
            tasks: BTreeMap::new(),
            next_id: first_task_id,
            settings,
            emitted: Vec::new(),
        }
    }

    /// Messages produced since the last call, oldest first.
    pub fn take_emitted(&mut self) -> Vec<TaskStateChange> {
        std::mem::take(&mut self.emitted)
    }

    pub fn create_build(&mut self, request: Json, owner: (i64, &str)) -> i64 {
        self.create_task("build", "noarch", None, None, request, owner)
    }

    fn create_task(
        &mut self,
        method: &str,
        arch: &str,
        label: Option<&str>,
        parent: Option<i64>,
        request: Json,
        owner: (i64, &str),
    ) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let now = now();
        let priority = if parent.is_some() { 19 } else { 20 };
        let info = json!({
            "id": id, "parent": parent, "method": method, "arch": arch, "label": label,
            "state": i64::from(TaskState::Free), "owner": owner.0, "priority": priority,
            "weight": 1.0, "channel_id": 1, "host_id": null, "waiting": null,
            "awaited": parent.map(|_| false), "create_time": now.0, "create_ts": now.1,
            "start_time": null, "start_ts": null, "completion_time": null, "completion_ts": null,
        });
        let task = FakeTask {
            info: as_map(info),
            request,
            result: None,
            failure: None,
            output_files: Vec::new(),
            children: Vec::new(),
            owner_name: owner.1.to_owned(),
        };
        self.tasks.insert(id, task);
        if let Some(parent_task) = parent.and_then(|parent| self.tasks.get_mut(&parent)) {
            parent_task.children.push(id);
        }
        id
    }

    /// A builder takes the task: it opens, builds its SRPM, and starts one `buildArch` per arch.
    pub fn start_build(&mut self, id: i64, arches: &[String]) -> Option<()> {
        let task = self.tasks.get(&id)?;
        let owner = (
            task.info.get("owner").and_then(Json::as_i64).unwrap_or(0),
            task.owner_name.clone(),
        );
        let source = task.source().to_owned();
        let target = task.request.get(1).cloned().unwrap_or(Json::Null);
        self.change_state(id, TaskState::Open);

        let srpm_request = json!([source, {"repo_id": 1, "scratch": true}]);
        let srpm_task = self.create_task(
            "buildSRPMFromSCM",
            "noarch",
            Some("srpm"),
            Some(id),
            srpm_request,
            (owner.0, &owner.1),
        );
        self.change_state(srpm_task, TaskState::Open);
        let srpm = format!("{}/{}.src.rpm", task_dir(srpm_task), nvr(&source));
        self.complete(srpm_task, json!({"srpm": srpm, "logs": logs(srpm_task), "brootid": srpm_task, "source": {"source": source, "url": source}}));

        for arch in arches {
            let request = json!([srpm, target, arch, true, {"repo_id": 1}]);
            let arch_task = self.create_task(
                "buildArch",
                arch,
                Some(arch),
                Some(id),
                request,
                (owner.0, &owner.1),
            );
            self.change_state(arch_task, TaskState::Open);
        }
        Some(())
    }

    /// Every open `buildArch` child ends, then the build itself.
    pub fn finish_build(&mut self, id: i64, outcome: &BuildOutcome) -> Option<()> {
        let task = self.tasks.get(&id)?;
        let source = task.source().to_owned();
        let children = task.children.clone();
        let mut failed = false;
        for child in children {
            let Some(child_task) = self.tasks.get(&child) else {
                continue;
            };
            let arch = child_task
                .info
                .get("arch")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            if child_task.info.get("method").and_then(Json::as_str) != Some("buildArch") {
                continue;
            }
            if outcome.fails_on(&arch) {
                failed = true;
                let text = format!(
                    "error building package (arch {arch}), mock exited with status 1; see build.log for more information"
                );
                self.fail(child, 1005, &text);
            } else {
                let rpm = format!("{}/{}.{arch}.rpm", task_dir(child), nvr(&source));
                self.complete(
                    child,
                    json!({"rpms": [rpm], "srpms": [], "logs": logs(child), "brootid": child}),
                );
            }
        }
        if failed {
            self.fail(
                id,
                1005,
                "error building package, see the failed buildArch task",
            );
        } else {
            self.complete(id, json!({"task_id": id}));
        }
        Some(())
    }

    /// `cancelTask`: the task and its unfinished children end as CANCELED.
    pub fn cancel(&mut self, id: i64) -> bool {
        let Some(task) = self.tasks.get(&id) else {
            return false;
        };
        let mut to_cancel = task.children.clone();
        to_cancel.push(id);
        for task_id in to_cancel {
            if self
                .state(task_id)
                .is_some_and(|state| !state.is_finished())
            {
                self.change_state(task_id, TaskState::Canceled);
            }
        }
        true
    }

    pub fn state(&self, id: i64) -> Option<TaskState> {
        let number = self.tasks.get(&id)?.info.get("state")?.as_i64()?;
        TaskState::try_from(number).ok()
    }

    fn complete(&mut self, id: i64, result: Json) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.output_files = file_names(&result);
            task.result = Some(result);
        }
        self.change_state(id, TaskState::Closed);
    }

    fn fail(&mut self, id: i64, code: i32, text: &str) {
        if let Some(task) = self.tasks.get_mut(&id) {
            task.output_files = ["build.log", "root.log", "mock_output.log", "state.log"]
                .map(String::from)
                .to_vec();
            task.failure = Some((code, text.to_owned()));
        }
        self.change_state(id, TaskState::Failed);
    }

    fn change_state(&mut self, id: i64, new: TaskState) {
        let Some(old) = self.state(id) else { return };
        let now = now();
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        task.info.insert("state".into(), json!(i64::from(new)));
        if new == TaskState::Open {
            task.info.insert("host_id".into(), json!(1));
            task.info.insert("start_time".into(), json!(now.0));
            task.info.insert("start_ts".into(), json!(now.1));
        }
        if new.is_finished() {
            task.info.insert("completion_time".into(), json!(now.0));
            task.info.insert("completion_ts".into(), json!(now.1));
        }
        let body = self.message_body(id, old, new);
        self.emitted.push(TaskStateChange {
            topic: TASK_STATE_CHANGE_TOPIC.to_owned(),
            body,
        });
    }

    /// Shaped like koji-fedoramessaging's `TaskStateChangeV1` body.
    fn message_body(&self, id: i64, old: TaskState, new: TaskState) -> Json {
        let info = self.message_info(id);
        let Some(task) = self.tasks.get(&id) else {
            return Json::Null;
        };
        let source = task.request.get(0).and_then(Json::as_str).unwrap_or("/");
        json!({
            "id": id,
            "method": task.info.get("method"),
            "attribute": "state",
            "old": old.name(),
            "new": new.name(),
            "srpm": source.rsplit('/').next().unwrap_or(source),
            "owner": task.owner_name,
            "instance": "primary",
            "base_url": self.settings.base_url,
            "files_base_url": self.settings.files_base_url,
            "info": info,
        })
    }

    /// The task as the plugin sends it; children come from `getChildren`, without `request`.
    fn message_info(&self, id: i64) -> Json {
        let Some(task) = self.tasks.get(&id) else {
            return Json::Null;
        };
        let mut info = task.info.clone();
        for (time, timestamp) in [
            ("create_time", "create_ts"),
            ("start_time", "start_ts"),
            ("completion_time", "completion_ts"),
        ] {
            let epoch = info.remove(timestamp).unwrap_or(Json::Null);
            info.insert(time.into(), epoch);
        }
        info.remove("weight");
        let host_name = info
            .get("host_id")
            .filter(|host| !host.is_null())
            .map(|_| self.settings.host_name.clone());
        info.insert("host_name".into(), json!(host_name));
        if info.get("parent").is_none_or(Json::is_null) {
            info.insert("request".into(), task.request.clone());
        }
        info.insert("result".into(), task.result.clone().unwrap_or(Json::Null));
        info.insert(
            "url".into(),
            json!(format!(
                "{}/koji/taskinfo?taskID={id}",
                self.settings.base_url
            )),
        );
        let children: Vec<Json> = task
            .children
            .iter()
            .map(|child| self.message_info(*child))
            .collect();
        info.insert("children".into(), Json::Array(children));
        Json::Object(info)
    }
}

/// Koji's task output directory: `tasks/<id % 10000>/<id>`.
pub fn task_dir(id: i64) -> String {
    format!("tasks/{}/{id}", id % 10000)
}

fn logs(id: i64) -> Vec<String> {
    ["build.log", "root.log", "mock_output.log", "state.log"]
        .iter()
        .map(|name| format!("{}/{name}", task_dir(id)))
        .collect()
}

fn file_names(result: &Json) -> Vec<String> {
    ["srpm", "rpms", "srpms", "logs"]
        .iter()
        .filter_map(|key| result.get(key))
        .flat_map(|value| match value {
            Json::Array(items) => items.clone(),
            single => vec![single.clone()],
        })
        .filter_map(|path| {
            path.as_str()
                .and_then(|path| path.rsplit('/').next())
                .map(String::from)
        })
        .collect()
}

/// A made-up NVR named after the repository in an SCM URL, `<repo>-1.0-1.fc99`.
fn nvr(source: &str) -> String {
    let repo = source
        .split('#')
        .next()
        .and_then(|url| url.rsplit('/').next())
        .map(|name| name.trim_end_matches(".git"))
        .filter(|name| !name.is_empty())
        .unwrap_or("package");
    format!("{repo}-1.0-1.fc99")
}

fn now() -> (String, f64) {
    let now = chrono::Utc::now();
    let seconds = now.timestamp_micros() as f64 / 1_000_000.0;
    (now.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), seconds)
}

pub(crate) fn as_map(value: Json) -> Map<String, Json> {
    match value {
        Json::Object(map) => map,
        _ => Map::new(),
    }
}
