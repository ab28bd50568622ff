//! Secrets and URLs as they may be shown: a [`Secret`] never prints its value, and
//! [`redact_url`] is the one way a URL that may carry credentials is printed (logs, errors,
//! `check-config`, the listener's health). Clients take their credentials as `Secret`s from
//! here, knowing nothing of the configuration file.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const REDACTED: &str = "[redacted]";

/// A secret value: never shown by `Debug`, `Display` or serialization.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// Accepts only a string, and says what was wrong without echoing the value: a secret given
/// with the wrong type is still a secret.
struct SecretVisitor;

impl<'de> serde::de::Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
        Ok(Secret::new(value))
    }

    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (quote it)"))
    }

    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (quote it)"))
    }

    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (quote it)"))
    }

    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom("a secret must be a string (quote it)"))
    }
}

/// Query parameters whose values are credentials (compared without case, `-`/`_`-insensitive
/// on the name's parts): `password`, `sslpassword`, `token`, `access_token`, `api_key`, ….
fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "token",
        "secret",
        "key",
        "auth",
        "credential",
        "signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// `url` as it may be printed: the password of its userinfo and the values of credential-like
/// query parameters become `[redacted]`. Everything before the URL's last `@` is taken as
/// userinfo, so that a password with an unencoded `/`, `?` or `@` is hidden whole; whatever
/// cannot be read as `scheme:...` (spaces, control characters, no host after the `@`, a user
/// name that is not one) is printed as `scheme://[redacted]` (`[redacted]` without a scheme):
/// a URL we cannot take apart may hide its secret anywhere.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = split_scheme(url) else {
        return REDACTED.to_owned();
    };
    // Hidden whole, but with its scheme, so that it still reads as the URL it stands for (a
    // configuration printed by `check-config` loads again).
    let hidden = || match rest.starts_with("//") {
        true => format!("{scheme}://{REDACTED}"),
        false => format!("{scheme}:{REDACTED}"),
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return hidden();
    }
    let (credentials, location) = match rest.rsplit_once('@') {
        Some((userinfo, location)) => (Some(userinfo), location),
        None => (None, rest),
    };
    let credentials = match credentials.map(redact_userinfo) {
        None => String::new(),
        Some(Some(shown)) => shown,
        Some(None) => return hidden(),
    };
    if !credentials.is_empty() && (location.is_empty() || location.starts_with(['/', ':', '?'])) {
        return hidden();
    }
    let mut shown = format!("{scheme}:{credentials}");
    match location.split_once('?') {
        Some((path, query)) => {
            shown.push_str(path);
            shown.push('?');
            shown.push_str(&redact_query(query));
        }
        None => shown.push_str(location),
    }
    shown
}

/// `scheme` and the rest, when `url` starts with a URL scheme (`postgres:`, `amqps:`, …).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some((scheme, rest))
}

/// `//user:[redacted]@` for `//user:password`; `None` when it is not `//` and a plain user name.
fn redact_userinfo(userinfo: &str) -> Option<String> {
    let userinfo = userinfo.strip_prefix("//")?;
    let (user, has_password) = match userinfo.split_once(':') {
        Some((user, _password)) => (user, true),
        None => (userinfo, false),
    };
    if user.contains(['/', '?', '#']) {
        return None;
    }
    Some(if has_password {
        format!("//{user}:{REDACTED}@")
    } else if user.len() > 32 {
        // A long lone userinfo is a token (`https://TOKEN@host`), not a user name.
        format!("//{REDACTED}@")
    } else {
        format!("//{user}@")
    })
}

fn redact_query(query: &str) -> String {
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    let mut shown: Vec<String> = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some((name, _)) if is_secret_parameter(name) => {
                shown.push(format!("{name}={REDACTED}"))
            }
            _ => shown.push(pair.to_owned()),
        }
    }
    let mut shown = shown.join("&");
    if let Some(fragment) = fragment {
        shown.push('#');
        shown.push_str(fragment);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_tokens_and_credential_parameters_are_hidden() {
        for (url, shown) in [
            (
                "postgres://fedora:s3cret@db.example:5432/ci",
                "postgres://fedora:[redacted]@db.example:5432/ci",
            ),
            ("postgres://fedora@db/ci", "postgres://fedora@db/ci"),
            ("sqlite://fedora-ci.db", "sqlite://fedora-ci.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("sqlite:ci.db?mode=rwc", "sqlite:ci.db?mode=rwc"),
            (
                "postgres://ci@db/ci?password=s3cret&sslmode=require",
                "postgres://ci@db/ci?password=[redacted]&sslmode=require",
            ),
            (
                "postgres://db/ci?sslpassword=x&application_name=ci",
                "postgres://db/ci?sslpassword=[redacted]&application_name=ci",
            ),
            (
                "amqps://fedora:pw@rabbitmq.fedoraproject.org/%2Fpublic_pubsub",
                "amqps://fedora:[redacted]@rabbitmq.fedoraproject.org/%2Fpublic_pubsub",
            ),
            (
                "https://ghp_0123456789abcdef0123456789abcdef0123@example.org/x",
                "https://[redacted]@example.org/x",
            ),
            (
                "https://host/api?access_token=abc#frag",
                "https://host/api?access_token=[redacted]#frag",
            ),
            (
                "postgres://ci:p@ss:w@rd@db/ci",
                "postgres://ci:[redacted]@db/ci",
            ),
            // Unencoded `/` and `?` in a password: everything before the last `@` is hidden.
            (
                "postgres://ci:pa/ss@db/ci",
                "postgres://ci:[redacted]@db/ci",
            ),
            (
                "postgres://ci:pa?ss@db/ci",
                "postgres://ci:[redacted]@db/ci",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn what_cannot_be_taken_apart_is_hidden_whole_but_its_scheme() {
        for (url, shown) in [
            ("postgres://ci:pass word@db/ci", "postgres://[redacted]"),
            ("no scheme here s3cret", "[redacted]"),
            ("ci:s3cret@db", "ci:[redacted]"),
            ("postgres://ci:s3cret@", "postgres://[redacted]"),
            ("postgres://ci:pw\n@db", "postgres://[redacted]"),
            ("1postgres://ci:pw@db", "[redacted]"),
            ("https://host/path/s3cret@x", "https://[redacted]"),
            (
                "amqps://fedora# a comment (41-ci.stg:@rabbitmq.stg.fedoraproject.org/%2Fpubsub",
                "amqps://[redacted]",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
            // Stable: what is shown is shown the same again.
            assert_eq!(redact_url(&redact_url(url)), shown, "{url}");
        }
    }
}
