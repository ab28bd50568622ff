//! Identifier newtypes, so a PR number is never passed where a Koji task id belongs.

use std::fmt;

/// The kind of dist-git forge a pull request lives on. Fedora moves dist-git from Pagure
/// to Forgejo; for a while both may be served.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// src.fedoraproject.org as it is today.
    #[default]
    Pagure,
    Forgejo,
}

impl ForgeKind {
    /// The lower-case name used in configuration and logs.
    pub fn name(self) -> &'static str {
        match self {
            ForgeKind::Pagure => "pagure",
            ForgeKind::Forgejo => "forgejo",
        }
    }

    /// The kind named `name` (as [`ForgeKind::name`] writes it).
    pub fn from_name(name: &str) -> Option<ForgeKind> {
        [ForgeKind::Pagure, ForgeKind::Forgejo]
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

impl fmt::Display for ForgeKind {
    /// As packagers read it in flags and replies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForgeKind::Pagure => "Pagure",
            ForgeKind::Forgejo => "Forgejo",
        })
    }
}

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, max = $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The largest value the database column (and the service that issues it) holds;
            /// a message with a larger one is rejected, never cut to fit another row.
            pub const MAX: u64 = $max;

            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = u64::deserialize(deserializer)?;
                if (1..=Self::MAX).contains(&value) {
                    Ok($name(value))
                } else {
                    Err(serde::de::Error::custom(format!(
                        "{value} is out of range: an id from 1 to {}",
                        Self::MAX
                    )))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// A pull request's number within its dist-git project (`pullrequest.id`); packit-service's
    /// `pull_requests.pr_id` is an `INTEGER`.
    PrId,
    max = i32::MAX as u64
);
numeric_id!(
    /// A Pagure comment's id, unique across the Pagure instance (stored as `BIGINT`).
    CommentId,
    max = i64::MAX as u64
);
numeric_id!(
    /// A Koji task id (Koji's own `task.id` is an `INTEGER`, and XML-RPC's `int` 32 bits).
    KojiTaskId,
    max = i32::MAX as u64
);

/// A full git commit hash: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct CommitSha(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a full git commit hash (40 or 64 lowercase hex digits)")]
pub struct InvalidCommitSha(pub String);

impl CommitSha {
    pub fn parse(value: &str) -> Result<Self, InvalidCommitSha> {
        let is_full_length = value.len() == 40 || value.len() == 64;
        let is_lower_hex = value
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        if is_full_length && is_lower_hex {
            Ok(CommitSha(value.to_owned()))
        } else {
            Err(InvalidCommitSha(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Testing Farm request id. Always a UUID, which also makes it safe to put in a URL path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct TestingFarmRequestId(pub uuid::Uuid);

impl fmt::Display for TestingFarmRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The id Log Detective gives an analysis (`log_detective_analysis_id`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct LogDetectiveAnalysisId(pub String);

impl LogDetectiveAnalysisId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogDetectiveAnalysisId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_sha_accepts_sha1_and_sha256() {
        let sha1 = "889f07af35d27bbcaf9c535c17a63b974aa42ee3";
        assert_eq!(CommitSha::parse(sha1).unwrap().as_str(), sha1);
        assert!(CommitSha::parse(&"ab".repeat(32)).is_ok());
    }

    #[test]
    fn ids_beyond_their_database_column_are_refused_not_cut() {
        let pr: PrId = serde_json::from_str("2147483647").unwrap();
        assert_eq!(pr.get(), 2_147_483_647);
        for (text, what) in [("2147483648", "PR"), ("4294967297", "PR"), ("0", "PR")] {
            let error = serde_json::from_str::<PrId>(text).unwrap_err().to_string();
            assert!(error.contains("out of range"), "{what} {text}: {error}");
        }
        assert!(serde_json::from_str::<KojiTaskId>("2147483648").is_err());
        assert!(serde_json::from_str::<CommentId>("9223372036854775808").is_err());
        assert!(serde_json::from_str::<CommentId>("9223372036854775807").is_ok());
        assert!(serde_json::from_str::<PrId>("-1").is_err());
    }

    #[test]
    fn commit_sha_rejects_short_upper_case_and_non_hex() {
        for bad in [
            "889f07a",
            "889F07AF35D27BBCAF9C535C17A63B974AA42EE3",
            "g89f07af35d27bbcaf9c535c17a63b974aa42ee3",
            "",
        ] {
            assert!(CommitSha::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
