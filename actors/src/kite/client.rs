//! The HTTP core of the Kite client: headers, rate limits, retries, the response envelope.
//!
//! Every request carries `X-Kite-Version: 3` and, once an access token is known,
//! `Authorization: token api_key:access_token`. GET and DELETE parameters go in the query
//! string (repeated keys allowed), POST and PUT parameters are form-encoded. A success is
//! `{"status":"success","data":…}`; anything else becomes a [`KiteError`].
//!
//! Reads (GET) are retried with exponential backoff on transport errors, 429 and 5xx.
//! Writes are never retried here: `place_order_idempotent` (in `orders.rs`) reconciles an
//! order of unknown outcome by its tag before it sends again.
//!
//! The endpoint methods live next to their types: `session.rs`, `instruments.rs`,
//! `market.rs`, `historical.rs`, `orders.rs`, `portfolio.rs`.

use std::error::Error as _;
use std::fmt;
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;

use super::credentials::Credentials;
use super::error::KiteError;
use super::ratelimit::{EndpointClass, Limiter, RateLimits};

/// Kite Connect's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.kite.trade";
/// Environment variable overriding the base URL (a sandbox or a local mock).
pub const ENV_BASE_URL: &str = "KITE_BASE_URL";

/// Backoff for reads: `base_delay * 2^attempt`, capped at `max_delay`.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3).
    pub max_retries: u32,
    /// Delay before the first retry (default 200 ms).
    pub base_delay: Duration,
    /// Longest delay between attempts (default 5 s).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.min(20));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// How `place_order_idempotent` looks for an order whose POST had an unknown outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyPolicy {
    /// Order-book lookups (GET /orders) before concluding the order does not exist (default 3).
    pub lookups: u32,
    /// Pause before each lookup, giving Kite's OMS time to register the order (default 1 s).
    pub lookup_every: Duration,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        IdempotencyPolicy {
            lookups: 3,
            lookup_every: Duration::from_secs(1),
        }
    }
}

/// The body of a write.
pub(super) enum Payload<'a> {
    Empty,
    Form(&'a [(&'a str, String)]),
    Json(&'a serde_json::Value),
}

/// A Kite Connect v3 REST client. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct KiteClient {
    http: reqwest::Client,
    base_url: String,
    credentials: RwLock<Credentials>,
    /// What the broker last said of the access token.
    token: std::sync::Mutex<super::token::TokenStatus>,
    limiter: Limiter,
    /// Calls and rate-limit waits by endpoint class, orders by final status (exported).
    api: std::sync::Arc<crate::metrics::trading::KiteApiCounters>,
    pub(super) retry: RetryPolicy,
    pub(super) idempotency: IdempotencyPolicy,
}

impl fmt::Debug for KiteClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KiteClient")
            .field("base_url", &self.base_url)
            .field("credentials", &*self.creds())
            .field("retry", &self.retry)
            .field("idempotency", &self.idempotency)
            .finish_non_exhaustive()
    }
}

impl KiteClient {
    /// A client for `base_url` (e.g. [`DEFAULT_BASE_URL`]) with per-request `timeout`.
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        limits: RateLimits,
        timeout: Duration,
    ) -> Result<KiteClient, KiteError> {
        let base_url = base_url.trim().trim_end_matches('/').to_string();
        reqwest::Url::parse(&base_url)
            .map_err(|e| KiteError::Config(format!("bad Kite base URL {base_url:?}: {e}")))?;
        if timeout.is_zero() {
            return Err(KiteError::Config(
                "the request timeout must be positive".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("alphastocks-kite/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KiteError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(KiteClient {
            http,
            base_url,
            credentials: RwLock::new(credentials),
            token: Default::default(),
            limiter: Limiter::new(&limits)?,
            api: Default::default(),
            retry: RetryPolicy::default(),
            idempotency: IdempotencyPolicy::default(),
        })
    }

    /// `KITE_BASE_URL` if set and not empty, else `default`.
    pub fn base_url_from_env(default: &str) -> String {
        std::env::var(ENV_BASE_URL)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    /// Replace the read retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> KiteClient {
        self.retry = retry;
        self
    }

    /// Replace the order-lookup policy of `place_order_idempotent`.
    pub fn with_idempotency(mut self, idempotency: IdempotencyPolicy) -> KiteClient {
        self.idempotency = idempotency;
        self
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Use `access_token` from now on (after a login done elsewhere).
    pub fn set_access_token(&self, access_token: impl Into<String>) {
        let token = access_token.into();
        let mut creds = self
            .credentials
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        creds.access_token = Some(token).filter(|t| !t.is_empty());
    }

    /// The access token's state: accepted, refused since when, replaced when.
    pub fn token_status(&self) -> super::token::TokenStatus {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records that the operator's new token was accepted now (after it was set with
    /// [`KiteClient::set_access_token`] and a call succeeded with it).
    pub fn mark_token_replaced(&self) {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replaced(chrono::Utc::now());
    }

    /// A client like this one but using `access_token`, with a rate limiter and token state of
    /// its own: a new token is tried through it (`ctl kite token`) without touching this
    /// client's token until it is known to work.
    pub fn with_trial_token(&self, access_token: &str) -> Result<KiteClient, KiteError> {
        let mut creds = self.creds().clone();
        creds.access_token = Some(access_token.to_string()).filter(|t| !t.is_empty());
        Ok(KiteClient {
            http: self.http.clone(),
            base_url: self.base_url.clone(),
            credentials: RwLock::new(creds),
            token: Default::default(),
            limiter: Limiter::new(&RateLimits::default())?,
            api: self.api.clone(),
            retry: self.retry.clone(),
            idempotency: self.idempotency.clone(),
        })
    }

    /// Records a refusal of `token` seen outside the REST calls (KiteTicker's handshake):
    /// counted only while `token` is still the one in use.
    pub fn note_token_refused(&self, token: Option<&str>, reason: &str) {
        if self.creds().access_token.as_deref() == token {
            self.token
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .rejected(chrono::Utc::now(), reason);
        }
    }

    /// A copy of the credentials (for the ticker's URL; never print it).
    pub fn credentials(&self) -> Credentials {
        self.creds().clone()
    }

    /// True once an access token is known.
    pub fn has_access_token(&self) -> bool {
        self.creds().access_token.is_some()
    }

    /// Its calls, rate-limit waits and followed orders, counted (shared with a trial client).
    pub fn api_counters(&self) -> &std::sync::Arc<crate::metrics::trading::KiteApiCounters> {
        &self.api
    }

    pub(super) fn creds(&self) -> std::sync::RwLockReadGuard<'_, Credentials> {
        self.credentials
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// `e` with every credential value scrubbed from its message.
    pub(super) fn scrub(&self, e: KiteError) -> KiteError {
        let creds = self.creds().clone();
        e.map_message(|m| creds.redact(m))
    }

    fn auth_header(&self) -> Option<String> {
        let creds = self.creds();
        creds
            .access_token
            .as_ref()
            .map(|tok| format!("token {}:{}", creds.api_key, tok))
    }

    async fn send_once(
        &self,
        method: &Method,
        class: EndpointClass,
        path: &str,
        query: &[(&str, String)],
        payload: &Payload<'_>,
    ) -> Result<Vec<u8>, KiteError> {
        let waited = self.limiter.acquire(class).await?;
        self.api.waited(class, waited);
        let res = self.send_once_now(method, path, query, payload).await;
        self.api.call(class, res.is_ok());
        res
    }

    /// [`Self::send_once`] after the rate limit.
    async fn send_once_now(
        &self,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        payload: &Payload<'_>,
    ) -> Result<Vec<u8>, KiteError> {
        let url = format!("{}{}", self.base_url, path);
        let mut rb = self
            .http
            .request(method.clone(), url)
            .header("X-Kite-Version", "3");
        if let Some(auth) = self.auth_header() {
            rb = rb.header(reqwest::header::AUTHORIZATION, auth);
        }
        if !query.is_empty() {
            rb = rb.query(query);
        }
        match payload {
            Payload::Empty => {}
            Payload::Form(form) => rb = rb.form(form),
            Payload::Json(body) => rb = rb.json(body),
        }
        let resp = rb.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport_error)?;
        if (200..300).contains(&status) {
            Ok(body.to_vec())
        } else {
            Err(KiteError::from_response(status, &body))
        }
    }

    /// Send a request and return the raw success body. With `retry`, transport errors, 429
    /// and 5xx are retried per the [`RetryPolicy`].
    pub(super) async fn request_bytes(
        &self,
        method: Method,
        class: EndpointClass,
        path: &str,
        query: &[(&str, String)],
        payload: Payload<'_>,
        retry: bool,
    ) -> Result<Vec<u8>, KiteError> {
        let mut attempt = 0;
        // A refusal counts only for the token it was sent with (not one replaced meanwhile).
        let sent_with = self.creds().access_token.clone();
        loop {
            match self.send_once(&method, class, path, query, &payload).await {
                Ok(body) => {
                    self.token
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .accepted(chrono::Utc::now());
                    return Ok(body);
                }
                Err(e) => {
                    let e = self.scrub(e);
                    if e.is_token_error() && self.creds().access_token == sent_with {
                        self.token
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .rejected(chrono::Utc::now(), &e.to_string());
                    }
                    if retry && e.is_retryable() && attempt < self.retry.max_retries {
                        let delay = self.retry.delay(attempt);
                        log::warn!("kite {method} {path} failed ({e}); retry in {delay:?}");
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// GET `path` with retries and unwrap the envelope's `data`.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        class: EndpointClass,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, KiteError> {
        let body = self
            .request_bytes(Method::GET, class, path, query, Payload::Empty, true)
            .await?;
        parse_envelope(&body).map_err(|e| self.scrub(e))
    }

    /// A write (POST/PUT/DELETE), sent once, with the envelope's `data` unwrapped.
    pub(super) async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        class: EndpointClass,
        path: &str,
        query: &[(&str, String)],
        payload: Payload<'_>,
    ) -> Result<T, KiteError> {
        let body = self
            .request_bytes(method, class, path, query, payload, false)
            .await?;
        parse_envelope(&body).map_err(|e| self.scrub(e))
    }
}

/// Unwrap `{"status":"success","data":…}` into `T`.
pub(super) fn parse_envelope<T: DeserializeOwned>(body: &[u8]) -> Result<T, KiteError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| KiteError::from_response(200, body))?;
    if value.get("status").and_then(|s| s.as_str()) == Some("error") {
        return Err(KiteError::from_response(200, body));
    }
    let data = value
        .get_mut("data")
        .map(serde_json::Value::take)
        .ok_or_else(|| KiteError::Data {
            status: 200,
            message: "response has no `data` field".into(),
        })?;
    serde_path_to_error::deserialize(data).map_err(|e| KiteError::Data {
        status: 200,
        message: format!("unexpected response shape at `{}`: {}", e.path(), e.inner()),
    })
}

/// `segment` if it is safe to put in a URL path (letters, digits, `_`, `-`).
pub(super) fn path_segment<'a>(what: &str, segment: &'a str) -> Result<&'a str, KiteError> {
    let ok = !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(segment)
    } else {
        Err(KiteError::input(format!("invalid {what} {segment:?}")))
    }
}

fn transport_error(e: reqwest::Error) -> KiteError {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut message = format!("{kind}: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    KiteError::Http(message)
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{self, client, err, ok, KEY, SECRET, TOKEN};
    use super::*;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    #[actix_rt::test]
    async fn sends_version_and_authorization_headers() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/portfolio/positions"))
            .and(header("X-Kite-Version", "3"))
            .and(header(
                "Authorization",
                format!("token {KEY}:{TOKEN}").as_str(),
            ))
            .respond_with(ok(serde_json::json!({"net": [], "day": []})))
            .expect(1)
            .mount(&server)
            .await;
        let c = client(&server);
        let p = c.positions().await.unwrap();
        assert!(p.net.is_empty() && p.day.is_empty());
        let reqs = server.received_requests().await.unwrap();
        assert_eq!(reqs[0].headers["x-kite-version"], "3");
        assert_eq!(
            reqs[0].headers["authorization"],
            format!("token {KEY}:{TOKEN}").as_str()
        );
    }

    #[actix_rt::test]
    async fn calls_and_rate_limit_waits_are_counted_by_endpoint_class() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/quote"))
            .respond_with(ok(serde_json::json!({})))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/down"))
            .respond_with(err(503, "NetworkException", "down"))
            .mount(&server)
            .await;
        // Quotes 10 a second: of three asked at once, the second waits 0.1 s, the third 0.2 s.
        let limits = RateLimits {
            quote_per_sec: 10.0,
            ..testkit::fast_limits()
        };
        let c = KiteClient::new(
            &server.uri(),
            testkit::creds(),
            limits,
            Duration::from_secs(2),
        )
        .unwrap()
        .with_retry(RetryPolicy {
            max_retries: 1,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(1),
        });
        let quote = || c.get::<serde_json::Value>(EndpointClass::Quote, "/quote", &[]);
        let (a, b, d) = futures_util::future::join3(quote(), quote(), quote()).await;
        assert!(a.is_ok() && b.is_ok() && d.is_ok());
        // A 503 is retried once: two requests, both failed.
        c.get::<serde_json::Value>(EndpointClass::Other, "/down", &[])
            .await
            .unwrap_err();
        let k = c.api_counters();
        assert_eq!(k.calls(EndpointClass::Quote), (3, 0));
        assert_eq!(k.calls(EndpointClass::Other), (0, 2));
        assert_eq!(k.calls(EndpointClass::Order), (0, 0));
        let (waits, waited) = k.waits(EndpointClass::Quote);
        assert_eq!(waits, 2);
        // About 0.3 s in all, less the moments between the three reservations.
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert_eq!(k.waits(EndpointClass::Other).0, 0);
        // A trial client (a new token being tried) counts into the same series.
        let trial = c.with_trial_token("tt8other").unwrap();
        assert!(std::sync::Arc::ptr_eq(trial.api_counters(), k));
    }

    #[actix_rt::test]
    async fn every_error_type_maps_over_http() {
        let server = MockServer::start().await;
        let cases = [
            ("TokenException", 403),
            ("InputException", 400),
            ("OrderException", 500),
            ("MarginException", 400),
            ("PermissionException", 403),
            ("NetworkException", 503),
            ("DataException", 502),
            ("GeneralException", 500),
            ("NoSuchException", 500),
        ];
        for (i, (name, status)) in cases.iter().enumerate() {
            Mock::given(method("GET"))
                .and(path(format!("/case/{i}")))
                .respond_with(err(*status, name, "it failed"))
                .mount(&server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path("/case/junk"))
            .respond_with(ResponseTemplate::new(200).set_body_string("{a:b}"))
            .mount(&server)
            .await;
        let c = client(&server).with_retry(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        });
        let mut got = Vec::new();
        for i in 0..cases.len() {
            let e = c
                .get::<serde_json::Value>(EndpointClass::Other, &format!("/case/{i}"), &[])
                .await
                .unwrap_err();
            got.push(e);
        }
        let junk = c
            .get::<serde_json::Value>(EndpointClass::Other, "/case/junk", &[])
            .await
            .unwrap_err();
        let msg = "it failed".to_string();
        assert_eq!(
            got,
            vec![
                KiteError::Token {
                    status: 403,
                    message: msg.clone()
                },
                KiteError::Input {
                    status: 400,
                    message: msg.clone()
                },
                KiteError::Order {
                    status: 500,
                    message: msg.clone()
                },
                KiteError::Margin {
                    status: 400,
                    message: msg.clone()
                },
                KiteError::Permission {
                    status: 403,
                    message: msg.clone()
                },
                KiteError::Network {
                    status: 503,
                    message: msg.clone()
                },
                KiteError::Data {
                    status: 502,
                    message: msg.clone()
                },
                KiteError::General {
                    status: 500,
                    message: msg.clone()
                },
                KiteError::General {
                    status: 500,
                    message: msg
                },
            ]
        );
        assert!(got[0].is_token_error());
        assert!(
            matches!(junk, KiteError::Data { status: 200, .. }),
            "{junk:?}"
        );
    }

    #[actix_rt::test]
    async fn a_429_then_success_is_retried() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/quote/ltp"))
            .respond_with(err(429, "NetworkException", "Too many requests"))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/quote/ltp"))
            .respond_with(ok(serde_json::json!({
                "NSE:SBIN": {"instrument_token": 779521, "last_price": 801.5}
            })))
            .mount(&server)
            .await;
        let c = client(&server);
        let ltp = c.ltp(&["NSE:SBIN"]).await.unwrap();
        assert_eq!(ltp["NSE:SBIN"].last_price, 801.5);
        assert_eq!(server.received_requests().await.unwrap().len(), 2);
    }

    #[actix_rt::test]
    async fn writes_are_not_retried_and_reads_give_up() {
        let server = MockServer::start().await;
        Mock::given(method("DELETE"))
            .respond_with(err(503, "NetworkException", "oms down"))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(err(502, "DataException", "gateway"))
            .mount(&server)
            .await;
        let c = client(&server);
        let e = c.cancel_order("regular", "1001").await.unwrap_err();
        assert!(matches!(e, KiteError::Network { status: 503, .. }));
        let e = c.orders().await.unwrap_err();
        assert!(matches!(e, KiteError::Data { status: 502, .. }));
        let reqs = server.received_requests().await.unwrap();
        let deletes = reqs
            .iter()
            .filter(|r| r.method.as_str() == "DELETE")
            .count();
        let gets = reqs.iter().filter(|r| r.method.as_str() == "GET").count();
        assert_eq!((deletes, gets), (1, 4));
    }

    #[actix_rt::test]
    async fn credentials_never_appear_in_errors() {
        let server = MockServer::start().await;
        // A hostile server echoing the credentials back.
        let echo = format!("bad token {KEY}:{TOKEN} secret {SECRET}");
        Mock::given(method("GET"))
            .and(path("/orders"))
            .respond_with(err(403, "TokenException", &echo))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/trades"))
            .respond_with(ResponseTemplate::new(500).set_body_string(echo.clone()))
            .mount(&server)
            .await;
        let c = client(&server).with_retry(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        });
        let mut errors = vec![c.orders().await.unwrap_err(), c.trades().await.unwrap_err()];
        // A transport error (nothing listens on the port any more).
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let c2 = KiteClient::new(
            &dead,
            testkit::creds(),
            testkit::fast_limits(),
            Duration::from_millis(500),
        )
        .unwrap()
        .with_retry(RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        });
        errors.push(c2.orders().await.unwrap_err());
        errors.push(c2.invalidate_session().await.unwrap_err());
        assert!(matches!(errors[0], KiteError::Token { .. }));
        assert!(matches!(errors[2], KiteError::Http(_)));
        for e in &errors {
            let text = format!("{e} | {e:?}");
            for secret in [KEY, SECRET, TOKEN] {
                assert!(!text.contains(secret), "{secret} leaked in {text}");
            }
        }
        let dbg = format!("{c:?}");
        for secret in [KEY, SECRET, TOKEN] {
            assert!(!dbg.contains(secret), "{dbg}");
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0), Duration::from_millis(200));
        assert_eq!(p.delay(2), Duration::from_millis(800));
        assert_eq!(p.delay(10), Duration::from_secs(5));
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn config_errors() {
        let e = KiteClient::new(
            "not a url",
            testkit::creds(),
            RateLimits::default(),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(matches!(e, KiteError::Config(_)));
        assert!(path_segment("order id", "12/../x").is_err());
        assert_eq!(path_segment("variety", "regular").unwrap(), "regular");
        let c = KiteClient::new(
            "http://127.0.0.1:9/",
            testkit::creds(),
            RateLimits::default(),
            Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:9");
        assert!(!KiteClient::base_url_from_env(DEFAULT_BASE_URL).is_empty());
    }

    #[test]
    fn envelope_parsing() {
        let v: Vec<u32> = parse_envelope(br#"{"status":"success","data":[1,2]}"#).unwrap();
        assert_eq!(v, vec![1, 2]);
        let e = parse_envelope::<Vec<u32>>(br#"{"status":"success","data":["x"]}"#).unwrap_err();
        assert!(e.to_string().contains("[0]"), "{e}");
        let e = parse_envelope::<u32>(
            br#"{"status":"error","message":"no","error_type":"OrderException"}"#,
        )
        .unwrap_err();
        assert!(matches!(e, KiteError::Order { .. }));
    }
}
