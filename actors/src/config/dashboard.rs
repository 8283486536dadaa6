//! `dashboard`: the read-only web dashboard of `run` (docs/operations.md).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// The default address: loopback only.
pub const DEFAULT_DASHBOARD_LISTEN: &str = "127.0.0.1:9180";

/// The environment variable holding the dashboard's access token (required off loopback).
pub const DASHBOARD_TOKEN_ENV: &str = "ALPHASTOCKS_DASHBOARD_TOKEN";

/// The shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_CHARS: usize = 16;

/// `dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// `host:port` to serve on (port 0: any free port, printed at start); off when empty.
    /// Any address but loopback needs `ALPHASTOCKS_DASHBOARD_TOKEN`.
    pub listen: String,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            listen: DEFAULT_DASHBOARD_LISTEN.to_string(),
        }
    }
}

impl DashboardConfig {
    /// The address to serve on, `None` when off; a bad value is (path, value, reason).
    pub fn address(&self) -> Result<Option<SocketAddr>, (String, String, String)> {
        let l = self.listen.trim();
        if l.is_empty() {
            return Ok(None);
        }
        l.parse::<SocketAddr>().map(Some).map_err(|_| {
            (
                "dashboard.listen".to_string(),
                format!("{:?}", self.listen),
                "must be an IP address with a port, like 127.0.0.1:9180 (or empty: no dashboard)"
                    .to_string(),
            )
        })
    }
}

/// The token the dashboard requires, from the environment's value `env` (trimmed): required
/// off loopback, checked for length whenever given. The error names the variable, never the
/// value.
pub fn dashboard_token(addr: SocketAddr, env: Option<String>) -> Result<Option<String>, String> {
    let token = env.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    match token {
        None if addr.ip().is_loopback() => Ok(None),
        None => Err(format!(
            "dashboard.listen {addr} is not a loopback address: set {DASHBOARD_TOKEN_ENV} (at least {MIN_TOKEN_CHARS} characters) so that only holders of the token see the dashboard, or listen on 127.0.0.1"
        )),
        Some(t) if t.chars().count() < MIN_TOKEN_CHARS || t.chars().any(char::is_control) => {
            Err(format!(
                "{DASHBOARD_TOKEN_ENV} is too short or holds control characters (not shown): use at least {MIN_TOKEN_CHARS} printable characters"
            ))
        }
        Some(t) => Ok(Some(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(l: &str) -> DashboardConfig {
        DashboardConfig { listen: l.into() }
    }

    #[test]
    fn loopback_by_default_off_when_empty_and_bad_values_named() {
        let a = DashboardConfig::default().address().unwrap().unwrap();
        assert!(a.ip().is_loopback());
        assert_eq!(a.port(), 9180);
        assert_eq!(cfg("").address().unwrap(), None);
        assert_eq!(cfg("  ").address().unwrap(), None);
        assert_eq!(
            cfg("0.0.0.0:8080").address().unwrap(),
            Some("0.0.0.0:8080".parse().unwrap())
        );
        for bad in [
            "localhost",
            "127.0.0.1",
            "127.0.0.1:99999",
            "http://127.0.0.1:1",
        ] {
            let (p, v, r) = cfg(bad).address().unwrap_err();
            assert_eq!(p, "dashboard.listen");
            assert_eq!(v, format!("{bad:?}"));
            assert!(r.contains("port"), "{r}");
        }
    }

    #[test]
    fn a_token_is_required_off_loopback_and_never_shown() {
        let lo: SocketAddr = "127.0.0.1:9180".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9180".parse().unwrap();
        assert_eq!(dashboard_token(lo, None).unwrap(), None);
        assert_eq!(dashboard_token(lo, Some(" ".into())).unwrap(), None);
        let e = dashboard_token(any, None).unwrap_err();
        assert!(
            e.contains(DASHBOARD_TOKEN_ENV) && e.contains("0.0.0.0:9180"),
            "{e}"
        );
        assert!(dashboard_token(any, Some("".into())).is_err());
        let e = dashboard_token(any, Some("short-secret".into())).unwrap_err();
        assert!(!e.contains("short-secret"), "{e}");
        let long = "a-long-enough-secret-token";
        assert_eq!(
            dashboard_token(any, Some(format!(" {long}\n"))).unwrap(),
            Some(long.to_string())
        );
        // Given on loopback, it is required there too.
        assert_eq!(
            dashboard_token(lo, Some(long.into())).unwrap(),
            Some(long.to_string())
        );
    }
}
