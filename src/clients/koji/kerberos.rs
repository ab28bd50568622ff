//! SPNEGO tokens for `sslLogin`, as koji's `ClientSession.gssapi_login` sends them through
//! `requests_gssapi`: `Authorization: Negotiate <base64 token>` for the service
//! `HTTP@<hub host>`, with the `principal`'s credentials (or the default ones).
//!
//! The GSSAPI binding is `libgssapi`: maintained, the most used safe binding, and what
//! `cross-krb5` itself wraps on Unix (which adds nothing a client of one platform needs). It
//! generates its bindings with bindgen at build time, hence the `kerberos` feature; at run
//! time it needs only MIT's `libgssapi_krb5` (`krb5-libs`, `libgssapi-krb5-2`).
//!
//! libkrb5 reads a client keytab from `$KRB5_CLIENT_KTNAME` (koji sets that variable for
//! its `keytab` argument too). This crate cannot change its own environment (`set_var` is
//! unsafe, and unsafe code is forbidden here), so a configured keytab must be the one that
//! variable names; `files/run_worker.sh` exports it. With it, libkrb5 gets a new ticket from
//! the keytab whenever the one in the credential cache has expired.

use super::KojiError;
use base64::Engine as _;
use libgssapi::context::{ClientCtx, CtxFlags};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL};
use std::path::Path;

/// MIT krb5's `KRB5_KDC_UNREACH`: no KDC of the realm answered.
const KDC_UNREACHABLE: u32 = -1_765_328_228_i32 as u32;

/// Makes the tokens; holds no secret itself (the keys stay in libkrb5's cache and keytab).
#[derive(Clone, Debug)]
pub(super) struct Negotiator {
    principal: Option<String>,
    /// `HTTP@<hub host>`, as `requests_gssapi` names the hub.
    service: String,
}

impl Negotiator {
    pub(super) fn new(
        principal: Option<String>,
        keytab: Option<&Path>,
        hub_host: &str,
    ) -> Result<Self, KojiError> {
        if let Some(keytab) = keytab {
            check_keytab(keytab, std::env::var_os("KRB5_CLIENT_KTNAME").as_deref())?;
        }
        if principal.as_deref().is_some_and(str::is_empty) {
            return Err(KojiError::Setup("the Kerberos principal is empty".into()));
        }
        Ok(Negotiator {
            principal,
            service: format!("HTTP@{hub_host}"),
        })
    }

    /// The value of the `Authorization` header: credentials are acquired (a ticket from the
    /// KDC when the cache has none) on a blocking thread, since libkrb5 talks to the KDC
    /// synchronously.
    pub(super) async fn authorization(&self) -> Result<String, KojiError> {
        let negotiator = self.clone();
        let token = tokio::task::spawn_blocking(move || negotiator.initial_token())
            .await
            .map_err(|error| KojiError::Kerberos {
                detail: format!("the GSSAPI thread failed: {error}"),
                transient: false,
            })??;
        Ok(format!(
            "Negotiate {}",
            base64::engine::general_purpose::STANDARD.encode(token)
        ))
    }

    fn initial_token(&self) -> Result<Vec<u8>, KojiError> {
        let whose = self.principal.as_deref().unwrap_or("the default principal");
        let credentials = match &self.principal {
            Some(principal) => {
                let name = Name::new(principal.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL))
                    .map_err(|error| gss_error(format!("principal {principal}"), error))?;
                Cred::acquire(Some(&name), None, CredUsage::Initiate, None)
            }
            None => Cred::acquire(None, None, CredUsage::Initiate, None),
        }
        .map_err(|error| gss_error(format!("credentials of {whose}"), error))?;
        let target = Name::new(self.service.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE))
            .map_err(|error| gss_error(format!("service name {}", self.service), error))?;
        // requests_gssapi's flags; the hub's answer is authenticated by TLS, and like koji
        // (mutual authentication DISABLED) the client does not check the hub's reply token.
        let flags = CtxFlags::GSS_C_MUTUAL_FLAG | CtxFlags::GSS_C_SEQUENCE_FLAG;
        let mut context = ClientCtx::new(Some(credentials), target, flags, Some(GSS_MECH_SPNEGO));
        let token = context.step(None, None).map_err(|error| {
            gss_error(format!("a ticket of {whose} for {}", self.service), error)
        })?;
        match token {
            Some(token) if !token.is_empty() => Ok(token.to_vec()),
            _ => Err(KojiError::Kerberos {
                detail: format!("GSSAPI gave no token for {}", self.service),
                transient: false,
            }),
        }
    }
}

/// A configured keytab must exist and be the client keytab libkrb5 reads.
fn check_keytab(keytab: &Path, client_ktname: Option<&std::ffi::OsStr>) -> Result<(), KojiError> {
    std::fs::File::open(keytab).map_err(|error| {
        KojiError::Setup(format!("Kerberos keytab {}: {error}", keytab.display()))
    })?;
    let named = client_ktname.map(|value| {
        let value = Path::new(value);
        value
            .to_str()
            .and_then(|text| text.strip_prefix("FILE:"))
            .map_or(value, Path::new)
            .to_path_buf()
    });
    if named.as_deref() == Some(keytab) {
        return Ok(());
    }
    Err(KojiError::Setup(format!(
        "Kerberos keytab {}: libkrb5 reads the client keytab named by KRB5_CLIENT_KTNAME, \
         which {}; set KRB5_CLIENT_KTNAME={0} in the environment (files/run_worker.sh does)",
        keytab.display(),
        match named {
            Some(other) => format!("names {}", other.display()),
            None => "is not set".to_owned(),
        }
    )))
}

fn gss_error(what: String, error: libgssapi::error::Error) -> KojiError {
    KojiError::Kerberos {
        detail: format!("{what}: {error}"),
        transient: error.minor == KDC_UNREACHABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keytab_must_be_the_one_krb5_client_ktname_names() {
        let directory = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let keytab = directory.path().join("client.keytab");
        std::fs::write(&keytab, b"\x05\x02").unwrap_or_else(|error| panic!("{error}"));
        let plain = keytab.as_os_str().to_owned();
        let mut prefixed = std::ffi::OsString::from("FILE:");
        prefixed.push(&plain);
        assert!(check_keytab(&keytab, Some(&plain)).is_ok());
        assert!(check_keytab(&keytab, Some(&prefixed)).is_ok());

        let unset = check_keytab(&keytab, None).err().map(|e| e.to_string());
        assert!(
            unset
                .as_deref()
                .is_some_and(|text| text.contains("is not set")),
            "{unset:?}"
        );
        let other = check_keytab(&keytab, Some("/etc/krb5.keytab".as_ref()))
            .err()
            .map(|e| e.to_string());
        assert!(
            other
                .as_deref()
                .is_some_and(|text| text.contains("names /etc/krb5.keytab")),
            "{other:?}"
        );
        let missing = check_keytab(&directory.path().join("none"), Some(&plain))
            .err()
            .map(|e| e.to_string());
        assert!(
            missing
                .as_deref()
                .is_some_and(|text| text.contains("none:")),
            "{missing:?}"
        );
    }

    #[test]
    fn the_service_is_http_at_the_hub_host() {
        let negotiator = Negotiator::new(Some("fedora-ci@EXAMPLE.ORG".into()), None, "hub")
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(negotiator.service, "HTTP@hub");
        assert!(Negotiator::new(Some(String::new()), None, "hub").is_err());
    }
}
