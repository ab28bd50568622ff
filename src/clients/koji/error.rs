use crate::clients::Transient;

/// Koji's fault codes (`koji/__init__.py`); any other code is kept as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCode {
    /// A Python exception that is not a Koji error.
    Unexpected,
    GenericError,
    LockError,
    AuthError,
    TagError,
    ActionNotAllowed,
    BuildError,
    AuthLockError,
    AuthExpired,
    SequenceError,
    RetryError,
    PreBuildError,
    PostBuildError,
    BuildrootError,
    FunctionDeprecated,
    ServerOffline,
    ParameterError,
    GssapiAuthError,
    NameValidationError,
    Other(i32),
}

impl FaultCode {
    pub fn from_code(code: i32) -> Self {
        match code {
            1 => FaultCode::Unexpected,
            1000 => FaultCode::GenericError,
            1001 => FaultCode::LockError,
            1002 => FaultCode::AuthError,
            1003 => FaultCode::TagError,
            1004 => FaultCode::ActionNotAllowed,
            1005 => FaultCode::BuildError,
            1006 => FaultCode::AuthLockError,
            1007 => FaultCode::AuthExpired,
            1008 => FaultCode::SequenceError,
            1009 => FaultCode::RetryError,
            1010 => FaultCode::PreBuildError,
            1011 => FaultCode::PostBuildError,
            1012 => FaultCode::BuildrootError,
            1013 => FaultCode::FunctionDeprecated,
            1014 => FaultCode::ServerOffline,
            1019 => FaultCode::ParameterError,
            1023 => FaultCode::GssapiAuthError,
            1024 => FaultCode::NameValidationError,
            other => FaultCode::Other(other),
        }
    }

    pub fn code(self) -> i32 {
        match self {
            FaultCode::Unexpected => 1,
            FaultCode::GenericError => 1000,
            FaultCode::LockError => 1001,
            FaultCode::AuthError => 1002,
            FaultCode::TagError => 1003,
            FaultCode::ActionNotAllowed => 1004,
            FaultCode::BuildError => 1005,
            FaultCode::AuthLockError => 1006,
            FaultCode::AuthExpired => 1007,
            FaultCode::SequenceError => 1008,
            FaultCode::RetryError => 1009,
            FaultCode::PreBuildError => 1010,
            FaultCode::PostBuildError => 1011,
            FaultCode::BuildrootError => 1012,
            FaultCode::FunctionDeprecated => 1013,
            FaultCode::ServerOffline => 1014,
            FaultCode::ParameterError => 1019,
            FaultCode::GssapiAuthError => 1023,
            FaultCode::NameValidationError => 1024,
            FaultCode::Other(code) => code,
        }
    }

    /// Whether the hub refused the call because our session is no longer valid, before the
    /// call ran (kojihub's `Session.__init__` checks it before dispatching), so a new session
    /// may send it again: an unknown or forgotten session, or a bad call number
    /// (`AuthError`, 1002: "Invalid session or bad credentials", "Invalid callnum"), an
    /// expired one (`AuthExpired`, 1007) and call numbers out of order (`SequenceError`,
    /// 1008). Not `RetryError` (1009): that call already ran, and sending it again in a
    /// new session would run it twice. Not `AuthLockError` (1006): another session holds
    /// the user's exclusive lock, which a new session of ours does not change. Not
    /// `GSSAPIAuthError` (1023): that is the login itself failing.
    pub fn means_invalid_session(self) -> bool {
        matches!(
            self,
            FaultCode::AuthError | FaultCode::AuthExpired | FaultCode::SequenceError
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KojiError {
    #[error("Koji hub fault {} ({kind:?}) in {method}: {text}", kind.code())]
    Fault {
        method: String,
        kind: FaultCode,
        text: String,
    },
    #[error("cannot reach the Koji hub for {method}: {source}")]
    Transport {
        method: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Koji hub answered {method} with HTTP {status}")]
    HttpStatus { method: String, status: u16 },
    #[error("the Koji hub sent a malformed answer to {method}: {detail}")]
    Protocol { method: String, detail: String },
    #[error("the Koji hub answered {method} with an unexpected shape: {detail}")]
    UnexpectedResult { method: String, detail: String },
    #[error("{method} needs a Koji session, and this client has no credentials to log in")]
    NoCredentials { method: String },
    #[error("invalid Koji client setup: {0}")]
    Setup(String),
    /// No credentials, an unknown principal, an unreachable KDC, or a hub that refused them.
    #[error("Kerberos login to the Koji hub failed: {detail}")]
    Kerberos { detail: String, transient: bool },
}

impl KojiError {
    /// The Koji fault, if the hub answered with one.
    pub fn fault_code(&self) -> Option<FaultCode> {
        match self {
            KojiError::Fault { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

impl Transient for KojiError {
    fn is_transient(&self) -> bool {
        match self {
            KojiError::Fault { kind, .. } => {
                matches!(kind, FaultCode::ServerOffline | FaultCode::RetryError)
            }
            KojiError::Transport { source, .. } => {
                crate::clients::is_transient_transport_error(source)
            }
            KojiError::HttpStatus { status, .. } => crate::clients::is_transient_status(*status),
            KojiError::Kerberos { transient, .. } => *transient,
            KojiError::Protocol { .. }
            | KojiError::UnexpectedResult { .. }
            | KojiError::NoCredentials { .. }
            | KojiError::Setup(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: i32) -> KojiError {
        KojiError::Fault {
            method: "build".into(),
            kind: FaultCode::from_code(code),
            text: "text".into(),
        }
    }

    #[test]
    fn codes_round_trip() {
        for code in [1, 1000, 1002, 1004, 1007, 1009, 1014, 1019, 1024, 4242] {
            assert_eq!(FaultCode::from_code(code).code(), code);
        }
    }

    #[test]
    fn only_offline_and_retry_faults_are_transient() {
        assert!(fault(1014).is_transient());
        assert!(fault(1009).is_transient());
        for permanent in [1, 1000, 1002, 1004, 1005, 1007, 1019] {
            assert!(!fault(permanent).is_transient(), "{permanent}");
        }
        let server_error = KojiError::HttpStatus {
            method: "build".into(),
            status: 503,
        };
        assert!(server_error.is_transient());
        let client_error = KojiError::HttpStatus {
            method: "build".into(),
            status: 403,
        };
        assert!(!client_error.is_transient());
    }

    #[test]
    fn only_faults_refusing_the_session_ask_for_a_new_one() {
        let invalid: Vec<i32> = [1, 1000, 1002, 1004, 1006, 1007, 1008, 1009, 1014, 1023]
            .into_iter()
            .filter(|code| FaultCode::from_code(*code).means_invalid_session())
            .collect();
        assert_eq!(invalid, vec![1002, 1007, 1008]);
    }

    #[test]
    fn message_names_code_and_text() {
        assert_eq!(
            fault(1004).to_string(),
            "Koji hub fault 1004 (ActionNotAllowed) in build: text"
        );
    }
}
