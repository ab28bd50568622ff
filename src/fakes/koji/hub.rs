//! The fake hub's method table, sessions included, with kojihub's checks and faults.

use super::tasks::{FakeTask, TaskTable, as_map};
use crate::clients::koji::xmlrpc::{self, DecodedCall};
use serde_json::{Map, Value as Json, json};
use std::collections::HashMap;

pub type Fault = (i32, String);

const GENERIC_ERROR: i32 = 1000;
const AUTH_ERROR: i32 = 1002;
const ACTION_NOT_ALLOWED: i32 = 1004;
const AUTH_EXPIRED: i32 = 1007;
const SEQUENCE_ERROR: i32 = 1008;
const RETRY_ERROR: i32 = 1009;
const PARAMETER_ERROR: i32 = 1019;

/// The `Koji-Session-*` values a call came with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionHeaders {
    pub id: Option<i64>,
    pub key: Option<String>,
    pub callnum: Option<u64>,
}

#[derive(Debug)]
struct FakeSession {
    key: String,
    user_id: i64,
    last_callnum: Option<u64>,
    expired: bool,
}

#[derive(Clone, Debug)]
pub struct FakeUser {
    pub id: i64,
    pub name: String,
    /// For `login`; `None` means the user can only use `sslLogin`.
    pub password: Option<String>,
}

#[derive(Debug)]
pub struct Hub {
    pub tasks: TaskTable,
    pub users: Vec<FakeUser>,
    /// The user whose client certificate `sslLogin` accepts (the fake serves plain HTTP).
    pub ssl_login_user: Option<String>,
    pub build_targets: Vec<Json>,
    /// Answers recorded from a real hub for methods the fake does not model.
    pub recorded_answers: Vec<(String, Vec<Json>, Json)>,
    sessions: HashMap<i64, FakeSession>,
    next_session_id: i64,
}

impl Hub {
    pub fn new(
        tasks: TaskTable,
        users: Vec<FakeUser>,
        ssl_login_user: Option<String>,
        build_targets: Vec<Json>,
    ) -> Self {
        Hub {
            tasks,
            users,
            ssl_login_user,
            build_targets,
            recorded_answers: Vec::new(),
            sessions: HashMap::new(),
            next_session_id: 1,
        }
    }

    pub fn expire_sessions(&mut self) {
        self.sessions
            .values_mut()
            .for_each(|session| session.expired = true);
    }

    /// Drops every session, as a hub whose session rows were cleaned up (or a restored
    /// database): their next call gets kojihub's `AuthError`.
    pub fn forget_sessions(&mut self) {
        self.sessions.clear();
    }

    pub fn handle(&mut self, call: &DecodedCall, headers: &SessionHeaders) -> Result<Json, Fault> {
        let user_id = self.check_session(&call.method, headers)?;
        let result = self.dispatch(call, headers, user_id);
        // Like kojihub, an expired session's call number is not stored; unlike it, a
        // renewal starts the count afresh, matching the client's reset to 0.
        if result.is_ok()
            && user_id.is_some()
            && let (Some(id), Some(callnum)) = (headers.id, headers.callnum)
            && let Some(session) = self.sessions.get_mut(&id)
        {
            session.last_callnum = Some(callnum);
        }
        result
    }

    /// kojihub's `Session.__init__`: the logged-in user, or `None` for anonymous calls.
    fn check_session(
        &mut self,
        method: &str,
        headers: &SessionHeaders,
    ) -> Result<Option<i64>, Fault> {
        let Some(id) = headers.id else {
            return Ok(None);
        };
        let session = self
            .sessions
            .get(&id)
            .filter(|session| Some(&session.key) == headers.key.as_ref())
            // kojihub's own words (`kojihub/auth.py`) for a session it does not know.
            .ok_or_else(|| (AUTH_ERROR, "Invalid session or bad credentials".to_owned()))?;
        let is_login = matches!(method, "sslLogin" | "login" | "logout");
        if session.expired {
            return if is_login {
                Ok(None)
            } else {
                Err((AUTH_EXPIRED, format!("session \"{id}\" has expired")))
            };
        }
        if let (Some(last), Some(callnum)) = (session.last_callnum, headers.callnum) {
            if last > callnum {
                return Err((SEQUENCE_ERROR, format!("{last} > {callnum} (session {id})")));
            }
            if last == callnum {
                return Err((
                    RETRY_ERROR,
                    format!("unable to retry call {callnum} (method {method}) for session {id}"),
                ));
            }
        }
        Ok(Some(session.user_id))
    }

    fn dispatch(
        &mut self,
        call: &DecodedCall,
        headers: &SessionHeaders,
        user_id: Option<i64>,
    ) -> Result<Json, Fault> {
        let arguments = Arguments(call);
        match call.method.as_str() {
            "getAPIVersion" => Ok(json!(1)),
            "hello" => Ok(json!("Hello World")),
            "sslLogin" => self.ssl_login(&arguments, headers),
            "login" => self.password_login(&arguments),
            "logout" => Ok(self.logout(headers)),
            "getLoggedInUser" => Ok(user_id
                .and_then(|id| self.user_json(id))
                .unwrap_or(Json::Null)),
            "getTaskInfo" => self.get_task_info(&arguments),
            "getTaskChildren" => self.get_task_children(&arguments),
            "getTaskRequest" => Ok(self.task(&arguments)?.request.clone()),
            "getTaskResult" => self.get_task_result(&arguments),
            "listTaskOutput" => self.list_task_output(&arguments),
            "listTasks" => self.list_tasks(&arguments),
            "getBuildTarget" => Ok(self.get_build_target(&arguments)),
            "build" => self.build(&arguments, assert_login(user_id)?),
            "cancelTask" => self.cancel_task(&arguments, assert_login(user_id)?),
            method => self
                .recorded_answer(call)
                .ok_or_else(|| (GENERIC_ERROR, format!("Invalid method: {method}"))),
        }
    }

    fn ssl_login(
        &mut self,
        arguments: &Arguments,
        headers: &SessionHeaders,
    ) -> Result<Json, Fault> {
        let user = self
            .ssl_login_user
            .clone()
            .ok_or_else(|| (AUTH_ERROR, "could not verify client: NONE".to_owned()))?;
        if arguments
            .named("proxyuser")
            .is_some_and(|proxy| !proxy.is_null())
        {
            return Err((
                AUTH_ERROR,
                format!("CN={user} is not authorized to login other users"),
            ));
        }
        let user_id = self
            .user_id(&user)
            .ok_or_else(|| (AUTH_ERROR, format!("Unknown user: {user}")))?;
        let renew = arguments
            .named("renew")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        Ok(self.create_session(user_id, if renew { headers.id } else { None }))
    }

    fn password_login(&mut self, arguments: &Arguments) -> Result<Json, Fault> {
        let name = arguments
            .positional(0)
            .and_then(Json::as_str)
            .unwrap_or_default();
        let password = arguments
            .positional(1)
            .and_then(Json::as_str)
            .unwrap_or_default();
        let user = self
            .users
            .iter()
            .find(|user| user.name == name && user.password.as_deref() == Some(password))
            .ok_or_else(|| (AUTH_ERROR, "invalid username or password".to_owned()))?;
        let user_id = user.id;
        Ok(self.create_session(user_id, None))
    }

    /// kojihub's `createSession`: a renewal keeps the session id and gets a new key.
    fn create_session(&mut self, user_id: i64, renewed_id: Option<i64>) -> Json {
        let session_id = renewed_id
            .filter(|id| self.sessions.contains_key(id))
            .unwrap_or_else(|| {
                self.next_session_id += 1;
                self.next_session_id - 1
            });
        let random: String = (0..19)
            .map(|_| {
                char::from(
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        [rand::random_range(0..62)],
                )
            })
            .collect();
        let key = format!("{user_id}-{random}");
        self.sessions.insert(
            session_id,
            FakeSession {
                key: key.clone(),
                user_id,
                last_callnum: None,
                expired: false,
            },
        );
        json!({"session-id": session_id, "session-key": key, "header-auth": true})
    }

    fn logout(&mut self, headers: &SessionHeaders) -> Json {
        if let Some(id) = headers.id {
            self.sessions.remove(&id);
        }
        Json::Null
    }

    fn get_task_info(&self, arguments: &Arguments) -> Result<Json, Fault> {
        let with_request = arguments.flag(1, "request");
        let id = arguments.task_id()?;
        match self.tasks.tasks.get(&id) {
            Some(task) => Ok(task_info_json(task, with_request)),
            None if arguments.flag(2, "strict") => {
                Err((GENERIC_ERROR, format!("No such task id: {id}")))
            }
            None => Ok(Json::Null),
        }
    }

    fn get_task_children(&self, arguments: &Arguments) -> Result<Json, Fault> {
        let with_request = arguments.flag(1, "request");
        let task = self.task(arguments)?;
        let children = task
            .children
            .iter()
            .filter_map(|child| self.tasks.tasks.get(child))
            .map(|child| task_info_json(child, with_request))
            .collect();
        Ok(Json::Array(children))
    }

    fn get_task_result(&self, arguments: &Arguments) -> Result<Json, Fault> {
        let task = self.task(arguments)?;
        if let Some(failure) = &task.failure {
            return Err(failure.clone());
        }
        Ok(task.result.clone().unwrap_or(Json::Null))
    }

    fn list_task_output(&self, arguments: &Arguments) -> Result<Json, Fault> {
        let task = self.task(arguments)?;
        if arguments.flag(1, "stat") || arguments.flag(2, "all_volumes") {
            let files = task
                .output_files
                .iter()
                .map(|name| (name.clone(), json!(["DEFAULT"])));
            return Ok(Json::Object(files.collect()));
        }
        Ok(json!(task.output_files))
    }

    /// kojihub's `listTasks(opts, queryOpts)`: the filters of its docstring, `decode`, and the
    /// `order`, `limit` and `countOnly` query options.
    fn list_tasks(&self, arguments: &Arguments) -> Result<Json, Fault> {
        let opts = match arguments.positional(0).or_else(|| arguments.named("opts")) {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(opts)) => opts.clone(),
            Some(_) => return Err(parameter_error("opts")),
        };
        let query_opts = match arguments
            .positional(1)
            .or_else(|| arguments.named("queryOpts"))
        {
            None | Some(Json::Null) => Map::new(),
            Some(Json::Object(query_opts)) => query_opts.clone(),
            Some(_) => return Err(parameter_error("queryOpts")),
        };
        let filter = TaskFilter::parse(&opts)?;
        let mut tasks: Vec<&FakeTask> = self
            .tasks
            .tasks
            .values()
            .filter(|task| filter.matches(task))
            .collect();
        if query_opts.get("countOnly").and_then(Json::as_bool) == Some(true) {
            return Ok(json!(tasks.len()));
        }
        if let Some(order) = query_opts.get("order").and_then(Json::as_str) {
            let (field, descending) = match order.strip_prefix('-') {
                Some(field) => (field, true),
                None => (order, false),
            };
            tasks.sort_by(|a, b| {
                let ordering = compare_json(a.info.get(field), b.info.get(field));
                if descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            });
        }
        let offset = query_opts.get("offset").and_then(Json::as_u64).unwrap_or(0) as usize;
        let limit = query_opts
            .get("limit")
            .and_then(Json::as_u64)
            .map_or(usize::MAX, |limit| limit as usize);
        let decode = opts.get("decode").and_then(Json::as_bool) == Some(true);
        tasks
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|task| listed_task_json(task, decode))
            .collect::<Result<Vec<Json>, Fault>>()
            .map(Json::Array)
    }

    fn get_build_target(&self, arguments: &Arguments) -> Json {
        let wanted = arguments.positional(0).cloned().unwrap_or(Json::Null);
        self.build_targets
            .iter()
            .find(|target| target.get("name") == Some(&wanted) || target.get("id") == Some(&wanted))
            .cloned()
            .unwrap_or(Json::Null)
    }

    fn build(&mut self, arguments: &Arguments, user_id: i64) -> Result<Json, Fault> {
        let source = arguments
            .positional(0)
            .and_then(Json::as_str)
            .ok_or_else(|| parameter_error("src"))?;
        let target = arguments
            .positional(1)
            .and_then(Json::as_str)
            .ok_or_else(|| parameter_error("target"))?;
        let options = arguments
            .positional(2)
            .or_else(|| arguments.named("opts"))
            .cloned()
            .unwrap_or(json!({}));
        if self
            .get_build_target(&Arguments(&DecodedCall {
                method: String::new(),
                args: vec![json!(target)],
                kwargs: Map::new(),
            }))
            .is_null()
        {
            return Err((GENERIC_ERROR, format!("No such build target: {target}")));
        }
        if options.get("scratch") != Some(&json!(true)) {
            return Err((
                ACTION_NOT_ALLOWED,
                "this fake hub only accepts scratch builds".to_owned(),
            ));
        }
        let owner_name = self.user_name(user_id);
        let request = json!([source, target, options]);
        Ok(json!(
            self.tasks.create_build(request, (user_id, &owner_name))
        ))
    }

    fn cancel_task(&mut self, arguments: &Arguments, user_id: i64) -> Result<Json, Fault> {
        let task = self.task(arguments)?;
        if task.info.get("owner").and_then(Json::as_i64) != Some(user_id) {
            return Err((
                ACTION_NOT_ALLOWED,
                "Cannot cancel task, not owner".to_owned(),
            ));
        }
        let id = arguments.task_id()?;
        self.tasks.cancel(id);
        Ok(Json::Null)
    }

    fn recorded_answer(&self, call: &DecodedCall) -> Option<Json> {
        self.recorded_answers
            .iter()
            .find(|(method, args, _)| *method == call.method && *args == call.args)
            .map(|(_, _, result)| result.clone())
    }

    fn task(&self, arguments: &Arguments) -> Result<&FakeTask, Fault> {
        let id = arguments.task_id()?;
        self.tasks
            .tasks
            .get(&id)
            .ok_or_else(|| (GENERIC_ERROR, format!("No such task id: {id}")))
    }

    fn user_id(&self, name: &str) -> Option<i64> {
        self.users
            .iter()
            .find(|user| user.name == name)
            .map(|user| user.id)
    }

    fn user_name(&self, id: i64) -> String {
        self.users
            .iter()
            .find(|user| user.id == id)
            .map(|user| user.name.clone())
            .unwrap_or_default()
    }

    fn user_json(&self, id: i64) -> Option<Json> {
        let user = self.users.iter().find(|user| user.id == id)?;
        Some(
            json!({"id": user.id, "name": user.name, "status": 0, "usertype": 0, "krb_principals": []}),
        )
    }
}

fn task_info_json(task: &FakeTask, with_request: bool) -> Json {
    let mut info = task.info.clone();
    if with_request {
        info.insert("request".into(), task.request.clone());
    }
    Json::Object(info)
}

/// A task as `listTasks` returns it: the task fields, `request` and `result` (decoded, or
/// the XML-RPC documents the hub stores), `owner_name` and `owner_type`.
fn listed_task_json(task: &FakeTask, decode: bool) -> Result<Json, Fault> {
    let mut info = task.info.clone();
    let xml_error = |error: xmlrpc::XmlRpcError| (GENERIC_ERROR, error.to_string());
    let method = info
        .get("method")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_owned();
    let (request, result) = if decode {
        let result = match (&task.failure, &task.result) {
            (Some((code, text)), _) => json!({"faultCode": code, "faultString": text}),
            (None, Some(result)) => result.clone(),
            (None, None) => Json::Null,
        };
        (task.request.clone(), result)
    } else {
        let arguments = task.request.as_array().cloned().unwrap_or_default();
        let request = xmlrpc::encode_call(&method, &arguments, &Map::new()).map_err(xml_error)?;
        let result = match (&task.failure, &task.result) {
            (Some((code, text)), _) => Some(xmlrpc::encode_fault(*code, text).map_err(xml_error)?),
            (None, Some(result)) => Some(xmlrpc::encode_response(result).map_err(xml_error)?),
            (None, None) => None,
        };
        (
            json!(stored_document(&request)),
            json!(result.as_deref().map(stored_document)),
        )
    };
    info.insert("request".into(), request);
    info.insert("result".into(), result);
    info.insert("owner_name".into(), json!(task.owner_name));
    info.insert("owner_type".into(), json!(0));
    Ok(Json::Object(info))
}

/// An XML-RPC document as kojihub stores it (`xmlrpcplus.dumps`), with its XML declaration.
fn stored_document(xml: &str) -> String {
    if xml.starts_with("<?xml") {
        xml.to_owned()
    } else {
        format!("<?xml version='1.0'?>\n{xml}")
    }
}

/// The `listTasks` options, as kojihub turns them into SQL conditions.
struct TaskFilter {
    /// (task field, wanted values, negated): `arch`, `state` (lists), `owner`, `host_id`,
    /// `channel_id`, `parent` (an id, a list, or `None` for NULL).
    memberships: Vec<(&'static str, Vec<Json>, bool)>,
    method: Option<String>,
    /// (task timestamp field, bound in seconds since the epoch, whether the field must be after it).
    times: Vec<(&'static str, f64, bool)>,
}

impl TaskFilter {
    fn parse(opts: &Map<String, Json>) -> Result<Self, Fault> {
        let mut memberships = Vec::new();
        for field in ["arch", "state", "owner", "host_id", "channel_id", "parent"] {
            for (key, negated) in [(field.to_owned(), false), (format!("not_{field}"), true)] {
                let Some(value) = opts.get(&key) else {
                    continue;
                };
                let values = match value {
                    Json::Array(values) => values.clone(),
                    single => vec![single.clone()],
                };
                memberships.push((field, values, negated));
            }
        }
        let mut times = Vec::new();
        for (key, field, after) in [
            ("createdBefore", "create_ts", false),
            ("createdAfter", "create_ts", true),
            ("startedBefore", "start_ts", false),
            ("startedAfter", "start_ts", true),
            ("completeBefore", "completion_ts", false),
            ("completeAfter", "completion_ts", true),
            ("completedBefore", "completion_ts", false),
            ("completedAfter", "completion_ts", true),
        ] {
            match opts.get(key) {
                None | Some(Json::Null) => {}
                Some(value) => times.push((field, epoch_seconds(key, value)?, after)),
            }
        }
        Ok(TaskFilter {
            memberships,
            method: opts.get("method").and_then(Json::as_str).map(str::to_owned),
            times,
        })
    }

    fn matches(&self, task: &FakeTask) -> bool {
        let field = |name: &str| task.info.get(name).cloned().unwrap_or(Json::Null);
        let memberships = self.memberships.iter().all(|(name, values, negated)| {
            let value = field(name);
            // SQL: `field = NULL` is never true, `field IS NULL` is what `None` asks for.
            let found = values.iter().any(|wanted| {
                if wanted.is_null() {
                    value.is_null()
                } else {
                    !value.is_null() && same_number_or_value(wanted, &value)
                }
            });
            found != *negated
        });
        let method = self
            .method
            .as_deref()
            .is_none_or(|method| field("method").as_str() == Some(method));
        let times = self.times.iter().all(|(name, bound, after)| {
            field(name).as_f64().is_some_and(|seconds| {
                if *after {
                    seconds > *bound
                } else {
                    seconds < *bound
                }
            })
        });
        memberships && method && times
    }
}

fn same_number_or_value(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// A `listTasks` time bound: seconds since the epoch, or a date string as PostgreSQL reads it
/// (a time without a zone is UTC here).
fn epoch_seconds(key: &str, value: &Json) -> Result<f64, Fault> {
    if let Some(seconds) = value.as_f64() {
        return Ok(seconds);
    }
    let text = value.as_str().ok_or_else(|| parameter_error(key))?;
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_micros() as f64 / 1_000_000.0);
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })
        .map(|time| time.and_utc().timestamp_micros() as f64 / 1_000_000.0)
        .ok_or_else(|| {
            (
                GENERIC_ERROR,
                format!("invalid input syntax for type timestamp: \"{text}\""),
            )
        })
}

fn compare_json(a: Option<&Json>, b: Option<&Json>) -> std::cmp::Ordering {
    match (a.and_then(Json::as_f64), b.and_then(Json::as_f64)) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        _ => {
            let text = |value: Option<&Json>| value.and_then(Json::as_str).map(str::to_owned);
            text(a).cmp(&text(b))
        }
    }
}

fn assert_login(user_id: Option<i64>) -> Result<i64, Fault> {
    user_id.ok_or_else(|| {
        (
            ACTION_NOT_ALLOWED,
            "you must be logged in for this operation".to_owned(),
        )
    })
}

fn parameter_error(name: &str) -> Fault {
    (
        PARAMETER_ERROR,
        format!("missing or invalid argument: {name}"),
    )
}

/// Positional and keyword arguments, looked up the way Python binds them.
struct Arguments<'a>(&'a DecodedCall);

impl Arguments<'_> {
    fn positional(&self, index: usize) -> Option<&Json> {
        self.0.args.get(index)
    }

    fn named(&self, name: &str) -> Option<&Json> {
        self.0.kwargs.get(name)
    }

    fn flag(&self, index: usize, name: &str) -> bool {
        self.positional(index)
            .or_else(|| self.named(name))
            .and_then(Json::as_bool)
            .unwrap_or(false)
    }

    fn task_id(&self) -> Result<i64, Fault> {
        self.positional(0)
            .and_then(Json::as_i64)
            .ok_or_else(|| parameter_error("task_id"))
    }
}

/// Loads recorded `{method, args, kwargs, result}` hub calls: tasks into the task
/// table (info, request, result, children, outputs), anything else as canned answers.
pub fn import_recorded_calls(hub: &mut Hub, calls: &[Json]) {
    let mut by_method: Vec<(&str, i64, &Json)> = Vec::new();
    for call in calls {
        let method = call
            .get("method")
            .and_then(Json::as_str)
            .unwrap_or_default();
        let args = call
            .get("args")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let result = call.get("result").unwrap_or(&Json::Null);
        match (method, args.first().and_then(Json::as_i64)) {
            (
                "getTaskInfo" | "getTaskRequest" | "getTaskResult" | "getTaskChildren"
                | "listTaskOutput",
                Some(id),
            ) => {
                by_method.push((method, id, result));
            }
            _ => hub
                .recorded_answers
                .push((method.to_owned(), args, result.clone())),
        }
    }
    for (method, id, result) in by_method {
        if method == "getTaskInfo" {
            let mut info = as_map(result.clone());
            info.remove("request");
            let task = FakeTask {
                info,
                request: Json::Null,
                result: None,
                failure: None,
                output_files: Vec::new(),
                children: Vec::new(),
                owner_name: String::new(),
            };
            hub.tasks.tasks.insert(id, task);
            continue;
        }
        let Some(task) = hub.tasks.tasks.get_mut(&id) else {
            continue;
        };
        match method {
            "getTaskRequest" => task.request = result.clone(),
            "getTaskResult" => task.result = Some(result.clone()),
            "getTaskChildren" => {
                task.children = result
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|child| child.get("id")?.as_i64())
                    .collect();
            }
            _ => {
                task.output_files = result
                    .as_object()
                    .map(|files| files.keys().cloned().collect())
                    .unwrap_or_default()
            }
        }
    }
}
