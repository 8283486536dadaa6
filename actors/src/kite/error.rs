//! The Kite client's error type and the mapping of Kite's error envelope onto it.
//!
//! Kite answers a failed call with `{"status":"error","message":…,"error_type":…}`. The
//! `error_type` picks the variant (an unknown one falls back to [`KiteError::General`]); a body
//! that is not JSON becomes [`KiteError::Data`]; HTTP 429 becomes [`KiteError::RateLimited`].
//!
//! No variant ever carries a credential: the client scrubs the api key, secret and access
//! token out of every message before it builds an error (see `Credentials::redact`).

/// `status` used for errors detected locally (not from an HTTP response).
pub const LOCAL_STATUS: u16 = 0;

/// Everything the Kite client can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KiteError {
    /// `TokenException`: the session expired or the credentials are wrong. Halt trading and
    /// log in again.
    #[error("Kite TokenException (HTTP {status}): {message}")]
    Token { status: u16, message: String },
    /// `InputException`: missing or invalid parameters (also local validation, status 0).
    #[error("Kite InputException (HTTP {status}): {message}")]
    Input { status: u16, message: String },
    /// `OrderException`: the order could not be placed, modified or fetched.
    #[error("Kite OrderException (HTTP {status}): {message}")]
    Order { status: u16, message: String },
    /// `MarginException`: not enough funds.
    #[error("Kite MarginException (HTTP {status}): {message}")]
    Margin { status: u16, message: String },
    /// `PermissionException`: the account may not do this.
    #[error("Kite PermissionException (HTTP {status}): {message}")]
    Permission { status: u16, message: String },
    /// `NetworkException`: Kite could not reach the OMS.
    #[error("Kite NetworkException (HTTP {status}): {message}")]
    Network { status: u16, message: String },
    /// `DataException`, a body that is not JSON, or a response of an unexpected shape.
    #[error("Kite DataException (HTTP {status}): {message}")]
    Data { status: u16, message: String },
    /// `GeneralException` or an unknown `error_type`.
    #[error("Kite GeneralException (HTTP {status}): {message}")]
    General { status: u16, message: String },
    /// `UserException`: an account problem.
    #[error("Kite UserException (HTTP {status}): {message}")]
    User { status: u16, message: String },
    /// `HoldingException`: a holdings problem.
    #[error("Kite HoldingException (HTTP {status}): {message}")]
    Holding { status: u16, message: String },
    /// HTTP 429 "Too many requests".
    #[error("Kite rate limit hit (HTTP {status}): {message}")]
    RateLimited { status: u16, message: String },
    /// Transport failure: connection refused, TLS, timeout, body read.
    #[error("Kite request failed: {0}")]
    Http(String),
    /// Misconfiguration: a missing variable, a bad URL, a bad limit.
    #[error("Kite client configuration: {0}")]
    Config(String),
    /// The local per-day order cap is used up; no order may be sent until the window moves.
    #[error("Kite daily order cap of {limit} reached; next slot in {retry_after_secs} s")]
    DailyCapExhausted { limit: u32, retry_after_secs: u64 },
    /// An idempotent placement could not tell whether the order exists. Reconcile by `tag`
    /// (GET /orders) before trying again.
    #[error("Kite order with tag {tag} has an unknown outcome: {message}")]
    OrderUncertain { tag: String, message: String },
}

impl KiteError {
    /// Map a non-success HTTP response (or a success status with an error envelope) to an error.
    pub fn from_response(status: u16, body: &[u8]) -> KiteError {
        let parsed: Result<serde_json::Value, _> = serde_json::from_slice(body);
        let value = match parsed {
            Ok(v) => v,
            Err(_) if status == 429 => {
                return KiteError::RateLimited {
                    status,
                    message: snippet(body),
                };
            }
            Err(e) => {
                return KiteError::Data {
                    status,
                    message: format!("response body is not JSON ({e}): {}", snippet(body)),
                };
            }
        };
        let message = value
            .get("message")
            .and_then(|m| m.as_str())
            .map(|m| snippet(m.as_bytes()))
            .unwrap_or_else(|| format!("HTTP {status} without a message"));
        if status == 429 {
            return KiteError::RateLimited { status, message };
        }
        let error_type = value
            .get("error_type")
            .and_then(|t| t.as_str())
            .unwrap_or("");
        Self::from_type(error_type, status, message)
    }

    /// The variant for an `error_type` name; unknown names give [`KiteError::General`].
    pub fn from_type(error_type: &str, status: u16, message: String) -> KiteError {
        match error_type {
            "TokenException" => KiteError::Token { status, message },
            "InputException" => KiteError::Input { status, message },
            "OrderException" => KiteError::Order { status, message },
            "MarginException" => KiteError::Margin { status, message },
            "PermissionException" => KiteError::Permission { status, message },
            "NetworkException" => KiteError::Network { status, message },
            "DataException" => KiteError::Data { status, message },
            "UserException" => KiteError::User { status, message },
            "HoldingException" => KiteError::Holding { status, message },
            _ => KiteError::General { status, message },
        }
    }

    /// A locally detected input problem (status 0).
    pub(crate) fn input(message: impl Into<String>) -> KiteError {
        KiteError::Input {
            status: LOCAL_STATUS,
            message: message.into(),
        }
    }

    /// A locally detected data problem (status 0).
    pub fn data(message: impl Into<String>) -> KiteError {
        KiteError::Data {
            status: LOCAL_STATUS,
            message: message.into(),
        }
    }

    /// True for `TokenException`: the session is gone and trading must halt.
    pub fn is_token_error(&self) -> bool {
        matches!(self, KiteError::Token { .. })
    }

    /// The HTTP status of an API error (`None` for transport, config and local-cap errors).
    pub fn status(&self) -> Option<u16> {
        match self {
            KiteError::Token { status, .. }
            | KiteError::Input { status, .. }
            | KiteError::Order { status, .. }
            | KiteError::Margin { status, .. }
            | KiteError::Permission { status, .. }
            | KiteError::Network { status, .. }
            | KiteError::Data { status, .. }
            | KiteError::General { status, .. }
            | KiteError::User { status, .. }
            | KiteError::Holding { status, .. }
            | KiteError::RateLimited { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True when a read may be repeated: a transport error, a 429, or any 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            KiteError::Http(_) | KiteError::RateLimited { .. } => true,
            KiteError::Token { .. } => false,
            other => other.status().is_some_and(|s| s >= 500),
        }
    }

    /// True when a write may or may not have taken effect: a transport error (timeout
    /// included) or a 5xx. A 429 is a definite refusal and is not ambiguous.
    pub fn is_outcome_unknown(&self) -> bool {
        match self {
            KiteError::Http(_) => true,
            KiteError::Token { .. } | KiteError::RateLimited { .. } => false,
            other => other.status().is_some_and(|s| s >= 500),
        }
    }

    /// The same error with every message passed through `f` (used to scrub credentials).
    pub(crate) fn map_message(self, f: impl Fn(&str) -> String) -> KiteError {
        match self {
            KiteError::Token { status, message } => KiteError::Token {
                status,
                message: f(&message),
            },
            KiteError::Input { status, message } => KiteError::Input {
                status,
                message: f(&message),
            },
            KiteError::Order { status, message } => KiteError::Order {
                status,
                message: f(&message),
            },
            KiteError::Margin { status, message } => KiteError::Margin {
                status,
                message: f(&message),
            },
            KiteError::Permission { status, message } => KiteError::Permission {
                status,
                message: f(&message),
            },
            KiteError::Network { status, message } => KiteError::Network {
                status,
                message: f(&message),
            },
            KiteError::Data { status, message } => KiteError::Data {
                status,
                message: f(&message),
            },
            KiteError::General { status, message } => KiteError::General {
                status,
                message: f(&message),
            },
            KiteError::User { status, message } => KiteError::User {
                status,
                message: f(&message),
            },
            KiteError::Holding { status, message } => KiteError::Holding {
                status,
                message: f(&message),
            },
            KiteError::RateLimited { status, message } => KiteError::RateLimited {
                status,
                message: f(&message),
            },
            KiteError::Http(m) => KiteError::Http(f(&m)),
            KiteError::Config(m) => KiteError::Config(f(&m)),
            KiteError::OrderUncertain { tag, message } => KiteError::OrderUncertain {
                tag,
                message: f(&message),
            },
            e @ KiteError::DailyCapExhausted { .. } => e,
        }
    }
}

/// The first 200 characters of a body, for error messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    match trimmed.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(error_type: &str) -> Vec<u8> {
        format!(r#"{{"status":"error","message":"went wrong","error_type":"{error_type}"}}"#)
            .into_bytes()
    }

    type Case = (&'static str, u16, fn(&KiteError) -> bool);

    #[test]
    fn every_error_type_maps_to_its_variant() {
        let cases: [Case; 10] = [
            ("TokenException", 403, |e| {
                matches!(e, KiteError::Token { .. })
            }),
            ("InputException", 400, |e| {
                matches!(e, KiteError::Input { .. })
            }),
            ("OrderException", 500, |e| {
                matches!(e, KiteError::Order { .. })
            }),
            ("MarginException", 400, |e| {
                matches!(e, KiteError::Margin { .. })
            }),
            ("PermissionException", 403, |e| {
                matches!(e, KiteError::Permission { .. })
            }),
            ("NetworkException", 503, |e| {
                matches!(e, KiteError::Network { .. })
            }),
            ("DataException", 502, |e| {
                matches!(e, KiteError::Data { .. })
            }),
            ("GeneralException", 500, |e| {
                matches!(e, KiteError::General { .. })
            }),
            ("UserException", 403, |e| {
                matches!(e, KiteError::User { .. })
            }),
            ("HoldingException", 400, |e| {
                matches!(e, KiteError::Holding { .. })
            }),
        ];
        for (name, status, check) in cases {
            let e = KiteError::from_response(status, &envelope(name));
            assert!(check(&e), "{name} -> {e:?}");
            assert_eq!(e.status(), Some(status));
            assert!(e.to_string().contains("went wrong"));
        }
    }

    #[test]
    fn unknown_type_is_general_and_bad_json_is_data() {
        let e = KiteError::from_response(400, &envelope("SomethingNewException"));
        assert_eq!(
            e,
            KiteError::General {
                status: 400,
                message: "went wrong".into()
            }
        );
        let e = KiteError::from_response(200, b"{x:y}");
        assert!(matches!(e, KiteError::Data { status: 200, .. }), "{e:?}");
        let e = KiteError::from_response(502, b"<html>bad gateway</html>");
        assert!(matches!(e, KiteError::Data { status: 502, .. }));
        assert!(e.is_retryable());
    }

    #[test]
    fn too_many_requests_is_rate_limited_and_retryable() {
        let e = KiteError::from_response(429, &envelope("NetworkException"));
        assert!(matches!(e, KiteError::RateLimited { status: 429, .. }));
        assert!(e.is_retryable());
        assert!(!e.is_outcome_unknown());
        let e = KiteError::from_response(429, b"Too many requests");
        assert!(matches!(e, KiteError::RateLimited { .. }));
    }

    #[test]
    fn classification() {
        let token = KiteError::from_response(403, &envelope("TokenException"));
        assert!(token.is_token_error());
        assert!(!token.is_retryable());
        let input = KiteError::from_response(400, &envelope("InputException"));
        assert!(!input.is_retryable() && !input.is_outcome_unknown());
        let general = KiteError::from_response(500, &envelope("GeneralException"));
        assert!(general.is_retryable() && general.is_outcome_unknown());
        assert!(KiteError::Http("timed out".into()).is_outcome_unknown());
        assert_eq!(KiteError::Config("x".into()).status(), None);
    }

    #[test]
    fn long_bodies_are_cut() {
        let body = "z".repeat(1000);
        let e = KiteError::from_response(500, body.as_bytes());
        assert!(e.to_string().len() < 400);
        // A JSON error whose message is a megabyte is cut the same way.
        let body = serde_json::json!({"status": "error", "error_type": "InputException",
                                      "message": "m".repeat(1 << 20)});
        let e = KiteError::from_response(400, body.to_string().as_bytes());
        assert!(matches!(e, KiteError::Input { .. }));
        assert!(e.to_string().len() < 400, "{} bytes", e.to_string().len());
    }
}
