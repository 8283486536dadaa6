//! Login: exchanging a request token for the day's access token, and logging out.
//!
//! `POST /session/token` takes `api_key`, `request_token` and
//! `checksum = hex(sha256(api_key + request_token + api_secret))`. The access token it returns
//! expires at 6 AM the next day; after that every call fails with `TokenException`.

use std::fmt;

use chrono::NaiveDateTime;
use reqwest::Method;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::client::{KiteClient, Payload};
use super::error::KiteError;
use super::ratelimit::EndpointClass;

/// What `generate_session` returns. `Debug` hides the tokens.
#[derive(Clone, PartialEq, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub user_name: Option<String>,
    pub user_shortname: Option<String>,
    pub email: Option<String>,
    pub user_type: Option<String>,
    pub broker: Option<String>,
    #[serde(default)]
    pub exchanges: Vec<String>,
    #[serde(default)]
    pub products: Vec<String>,
    #[serde(default)]
    pub order_types: Vec<String>,
    pub access_token: String,
    pub public_token: Option<String>,
    pub refresh_token: Option<String>,
    /// `YYYY-MM-DD HH:MM:SS`, exchange time (IST).
    #[serde(default)]
    pub login_time: Option<String>,
}

impl Session {
    /// The login time, if present and well formed.
    pub fn login_time_parsed(&self) -> Option<NaiveDateTime> {
        let t = self.login_time.as_deref()?;
        NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok()
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("user_name", &self.user_name)
            .field("broker", &self.broker)
            .field("access_token", &format_args!("<redacted>"))
            .field("login_time", &self.login_time)
            .finish_non_exhaustive()
    }
}

/// `hex(sha256(api_key + request_token + api_secret))`, lower case.
pub fn session_checksum(api_key: &str, request_token: &str, api_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(api_key.as_bytes());
    h.update(request_token.as_bytes());
    h.update(api_secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl KiteClient {
    /// Exchange a login `request_token` for a session; the client uses the new access token
    /// from then on. Needs the API secret.
    pub async fn generate_session(&self, request_token: &str) -> Result<Session, KiteError> {
        if request_token.trim().is_empty() {
            return Err(KiteError::input("empty request token"));
        }
        let form = {
            let creds = self.creds();
            let secret = creds.require_api_secret()?;
            vec![
                ("api_key", creds.api_key.clone()),
                ("request_token", request_token.to_string()),
                (
                    "checksum",
                    session_checksum(&creds.api_key, request_token, secret),
                ),
            ]
        };
        let session: Session = self
            .write(
                Method::POST,
                EndpointClass::Other,
                "/session/token",
                &[],
                Payload::Form(&form),
            )
            .await?;
        self.set_access_token(session.access_token.clone());
        Ok(session)
    }

    /// Log out (`DELETE /session/token`) and forget the access token.
    pub async fn invalidate_session(&self) -> Result<bool, KiteError> {
        let query = {
            let creds = self.creds();
            let token = creds.require_access_token()?;
            vec![
                ("api_key", creds.api_key.clone()),
                ("access_token", token.to_string()),
            ]
        };
        let done: bool = self
            .write(
                Method::DELETE,
                EndpointClass::Other,
                "/session/token",
                &query,
                Payload::Empty,
            )
            .await?;
        self.set_access_token("");
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::super::credentials::Credentials;
    use super::super::testkit::{fast_limits, form, ok, KEY, SECRET, TOKEN};
    use super::*;
    use std::time::Duration;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer};

    #[test]
    fn checksum_matches_known_sha256_vectors() {
        // FIPS 180-2 test vector: sha256("abc").
        assert_eq!(
            session_checksum("a", "b", "c"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // sha256("") split three ways.
        assert_eq!(
            session_checksum("", "", ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[actix_rt::test]
    async fn generate_session_posts_the_checksum_and_keeps_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/session/token"))
            .respond_with(ok(serde_json::json!({
                "user_id": "ZZ1234",
                "user_name": "Test User",
                "broker": "ZERODHA",
                "exchanges": ["NSE", "NFO"],
                "access_token": "fresh99token",
                "public_token": "pub42",
                "refresh_token": "",
                "login_time": "2024-03-04 08:55:01",
                "api_key": "ignored"
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/trades"))
            .and(header(
                "Authorization",
                format!("token {KEY}:fresh99token").as_str(),
            ))
            .respond_with(ok(serde_json::json!([])))
            .expect(1)
            .mount(&server)
            .await;
        let creds = Credentials::new(KEY, Some(SECRET.into()), None);
        let c =
            KiteClient::new(&server.uri(), creds, fast_limits(), Duration::from_secs(2)).unwrap();
        assert!(!c.has_access_token());
        let s = c.generate_session("req555").await.unwrap();
        assert_eq!(s.user_id, "ZZ1234");
        assert_eq!(s.access_token, "fresh99token");
        assert_eq!(
            s.login_time_parsed().unwrap().to_string(),
            "2024-03-04 08:55:01"
        );
        assert!(!format!("{s:?}").contains("fresh99token"));
        let reqs = server.received_requests().await.unwrap();
        let fields = form(&reqs[0]);
        assert_eq!(
            fields,
            vec![
                ("api_key".to_string(), KEY.to_string()),
                ("request_token".to_string(), "req555".to_string()),
                (
                    "checksum".to_string(),
                    session_checksum(KEY, "req555", SECRET)
                ),
            ]
        );
        assert!(reqs[0].headers.get("authorization").is_none());
        assert!(c.trades().await.unwrap().is_empty());
    }

    #[actix_rt::test]
    async fn generate_session_needs_the_secret_and_logout_clears_the_token() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .and(path("/session/token"))
            .respond_with(ok(serde_json::json!(true)))
            .expect(1)
            .mount(&server)
            .await;
        let creds = Credentials::new(KEY, None, Some(TOKEN.into()));
        let c =
            KiteClient::new(&server.uri(), creds, fast_limits(), Duration::from_secs(2)).unwrap();
        let e = c.generate_session("req555").await.unwrap_err();
        assert!(e.to_string().contains("KITE_API_SECRET"));
        assert!(c.invalidate_session().await.unwrap());
        assert!(!c.has_access_token());
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs.len(), 1);
        assert_eq!(
            super::super::testkit::query_values(&reqs[0], "access_token"),
            vec![TOKEN]
        );
    }
}
