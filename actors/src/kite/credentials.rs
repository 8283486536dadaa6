//! Kite credentials, read from the environment only, never printed.
//!
//! `KITE_API_KEY` is required; `KITE_API_SECRET` (needed to create a session) and
//! `KITE_ACCESS_TOKEN` (needed for every other call) are optional. `Debug` is written by hand
//! so that no value ever reaches a log, and [`Credentials::redact`] scrubs the values out of
//! any text (error messages included).

use std::fmt;

use super::error::KiteError;

/// Environment variable holding the API key.
pub const ENV_API_KEY: &str = "KITE_API_KEY";
/// Environment variable holding the API secret.
pub const ENV_API_SECRET: &str = "KITE_API_SECRET";
/// Environment variable holding the day's access token.
pub const ENV_ACCESS_TOKEN: &str = "KITE_ACCESS_TOKEN";

const REDACTED: &str = "<redacted>";

/// The API key, and optionally the secret and the access token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub api_key: String,
    pub api_secret: Option<String>,
    pub access_token: Option<String>,
}

impl Credentials {
    /// Credentials from values (empty strings count as absent).
    pub fn new(
        api_key: impl Into<String>,
        api_secret: Option<String>,
        access_token: Option<String>,
    ) -> Credentials {
        Credentials {
            api_key: api_key.into(),
            api_secret: api_secret.filter(|s| !s.is_empty()),
            access_token: access_token.filter(|s| !s.is_empty()),
        }
    }

    /// Read `KITE_API_KEY`, `KITE_API_SECRET` and `KITE_ACCESS_TOKEN`. The error names the
    /// missing variable, never a value.
    pub fn from_env() -> Result<Credentials, KiteError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`] with any variable source (tests use a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, KiteError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let api_key = get(ENV_API_KEY).ok_or_else(|| {
            KiteError::Config(format!("environment variable {ENV_API_KEY} is not set"))
        })?;
        Ok(Credentials {
            api_key,
            api_secret: get(ENV_API_SECRET),
            access_token: get(ENV_ACCESS_TOKEN),
        })
    }

    /// The access token, or a config error naming `KITE_ACCESS_TOKEN`.
    pub fn require_access_token(&self) -> Result<&str, KiteError> {
        self.access_token.as_deref().ok_or_else(|| {
            KiteError::Config(format!(
                "no access token: set {ENV_ACCESS_TOKEN} or create a session first"
            ))
        })
    }

    /// The API secret, or a config error naming `KITE_API_SECRET`.
    pub fn require_api_secret(&self) -> Result<&str, KiteError> {
        self.api_secret
            .as_deref()
            .ok_or_else(|| KiteError::Config(format!("no API secret: set {ENV_API_SECRET}")))
    }

    /// `text` with every credential value replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut secrets: Vec<&str> = [
            Some(self.api_key.as_str()),
            self.api_secret.as_deref(),
            self.access_token.as_deref(),
        ]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
        // Longest first, so a value containing another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        let mut out = text.to_string();
        for s in secrets {
            if out.contains(s) {
                out = out.replace(s, REDACTED);
            }
        }
        out
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |o: &Option<String>| {
            if o.is_some() {
                "Some(<redacted>)"
            } else {
                "None"
            }
        };
        f.debug_struct("Credentials")
            .field("api_key", &format_args!("{REDACTED}"))
            .field("api_secret", &format_args!("{}", opt(&self.api_secret)))
            .field("access_token", &format_args!("{}", opt(&self.access_token)))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_all_three_variables() {
        let c = Credentials::from_lookup(lookup(&[
            (ENV_API_KEY, "kkey123"),
            (ENV_API_SECRET, "ssec456"),
            (ENV_ACCESS_TOKEN, "ttok789"),
        ]))
        .unwrap();
        assert_eq!(c.api_key, "kkey123");
        assert_eq!(c.api_secret.as_deref(), Some("ssec456"));
        assert_eq!(c.require_access_token().unwrap(), "ttok789");
    }

    #[test]
    fn missing_key_names_the_variable_only() {
        let e = Credentials::from_lookup(lookup(&[(ENV_API_SECRET, "ssec456")])).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("KITE_API_KEY"), "{text}");
        assert!(!text.contains("ssec456"));
        let c = Credentials::from_lookup(lookup(&[(ENV_API_KEY, "kkey123"), (ENV_API_SECRET, "")]))
            .unwrap();
        assert_eq!(c.api_secret, None);
        let e = c.require_access_token().unwrap_err();
        assert!(e.to_string().contains("KITE_ACCESS_TOKEN"));
        assert!(c
            .require_api_secret()
            .unwrap_err()
            .to_string()
            .contains("KITE_API_SECRET"));
    }

    #[test]
    fn debug_and_redact_hide_values() {
        let c = Credentials::new("kkey123", Some("ssec456".into()), Some("ttok789".into()));
        let dbg = format!("{c:?} {c:#?}");
        for secret in ["kkey123", "ssec456", "ttok789"] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
        assert!(dbg.contains("Some(<redacted>)"));
        let scrubbed = c.redact("token kkey123:ttok789 and ssec456");
        assert_eq!(scrubbed, "token <redacted>:<redacted> and <redacted>");
    }
}
