//! Identifier newtypes, so a PR number is never passed where a Koji task id belongs.

use std::fmt;

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Deserialize, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub fn get(self) -> u64 {
                self.0
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
    /// A pull request's number within its dist-git project (`pullrequest.id`).
    PrId
);
numeric_id!(
    /// A Pagure comment's id, unique across the Pagure instance.
    CommentId
);
numeric_id!(
    /// A Koji task id.
    KojiTaskId
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
