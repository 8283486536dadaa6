//! Test helpers: a client aimed at a local `wiremock` server, fast limits, and Kite-shaped
//! success and error responses.

use std::time::Duration;

use wiremock::{MockServer, ResponseTemplate};

use super::client::{IdempotencyPolicy, KiteClient, RetryPolicy};
use super::credentials::Credentials;
use super::ratelimit::RateLimits;

pub const KEY: &str = "kk7apikey";
pub const SECRET: &str = "ss7secret";
pub const TOKEN: &str = "tt7access";

pub fn creds() -> Credentials {
    Credentials::new(KEY, Some(SECRET.into()), Some(TOKEN.into()))
}

/// Limits high enough never to slow a test.
pub fn fast_limits() -> RateLimits {
    RateLimits {
        quote_per_sec: 10_000.0,
        historical_per_sec: 10_000.0,
        order_per_sec: 10_000.0,
        order_per_minute: 100_000,
        order_per_day: 1_000_000,
        other_per_sec: 10_000.0,
    }
}

/// A client for `server` with a 2 s timeout and millisecond retry/lookup delays.
pub fn client(server: &MockServer) -> KiteClient {
    client_with_timeout(server, Duration::from_secs(2))
}

pub fn client_with_timeout(server: &MockServer, timeout: Duration) -> KiteClient {
    KiteClient::new(&server.uri(), creds(), fast_limits(), timeout)
        .unwrap()
        .with_retry(RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
        })
        .with_idempotency(IdempotencyPolicy {
            lookups: 2,
            lookup_every: Duration::from_millis(5),
        })
}

/// `{"status":"success","data":data}`.
pub fn ok(data: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({"status": "success", "data": data}))
}

/// Kite's error envelope with an HTTP status.
pub fn err(status: u16, error_type: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "status": "error",
        "message": message,
        "error_type": error_type,
    }))
}

/// The query values of `key` in a received request, in order.
pub fn query_values(req: &wiremock::Request, key: &str) -> Vec<String> {
    req.url
        .query_pairs()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

/// The form fields of a received request.
pub fn form(req: &wiremock::Request) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(&req.body);
    let url = reqwest::Url::parse(&format!("http://form.invalid/?{body}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
