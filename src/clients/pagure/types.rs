use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagureUser {
    pub name: String,
    #[serde(default)]
    pub fullname: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessUsers {
    #[serde(default)]
    pub owner: Vec<String>,
    #[serde(default)]
    pub admin: Vec<String>,
    #[serde(default)]
    pub commit: Vec<String>,
    #[serde(default)]
    pub collaborator: Vec<String>,
    #[serde(default)]
    pub ticket: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessGroups {
    #[serde(default)]
    pub admin: Vec<String>,
    #[serde(default)]
    pub commit: Vec<String>,
    #[serde(default)]
    pub collaborator: Vec<String>,
    #[serde(default)]
    pub ticket: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub namespace: Option<String>,
    /// `rpms/NAME`, or `forks/USER/rpms/NAME` for a fork.
    pub fullname: String,
    pub url_path: String,
    #[serde(default)]
    pub full_url: Option<String>,
    #[serde(default)]
    pub access_users: AccessUsers,
    #[serde(default)]
    pub access_groups: AccessGroups,
    pub user: PagureUser,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub id: u64,
    pub uid: String,
    pub title: String,
    /// The target branch.
    pub branch: String,
    pub branch_from: String,
    /// `Open`, `Merged` or `Closed`.
    pub status: String,
    pub commit_start: Option<String>,
    /// The head commit of the pull request.
    pub commit_stop: Option<String>,
    pub user: PagureUser,
    pub project: Project,
    pub repo_from: Option<Project>,
    #[serde(default)]
    pub full_url: Option<String>,
}

/// Pagure's flag statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlagStatus {
    Success,
    Failure,
    Error,
    Pending,
    Canceled,
}

/// The form Pagure takes to add or update a pull-request flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullRequestFlag {
    /// The name shown on the flag, e.g. `Packit - scratch build - rawhide [889f07a]`.
    pub username: String,
    pub comment: String,
    pub url: String,
    pub status: FlagStatus,
    /// Up to 32 characters; the same uid updates the existing flag.
    pub uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<u8>,
}

/// Whether a flag call created a flag or updated one with the same uid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagChange {
    Added,
    Updated,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagResult {
    pub change: FlagChange,
    pub uid: String,
}
