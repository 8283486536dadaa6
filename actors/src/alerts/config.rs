//! `alerts`: the webhooks alarms are posted to, and the limits of posting. Off (no webhook)
//! by default. Secrets (Telegram's bot token, a webhook's auth header, a URL holding a key)
//! are named here by their environment variable, never written here.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default variable of the Telegram bot token.
pub const ENV_TELEGRAM_BOT_TOKEN: &str = "ALPHASTOCKS_TELEGRAM_BOT_TOKEN";
/// Telegram's Bot API.
pub const TELEGRAM_API: &str = "https://api.telegram.org";

/// The `alerts` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Where alarms go; none = alerts off.
    pub webhooks: Vec<WebhookConfig>,
    /// At most this many alarms of one kind per minute; the rest are counted and summed up.
    pub max_per_kind_per_minute: u32,
    /// Attempts per post (1 = no retry).
    pub retry_attempts: u32,
    /// Wait before the first retry, doubled each time up to `retry_max_ms`.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Per request.
    pub timeout_ms: u64,
    /// More than this many restarts of one actor ...
    pub restart_storm_restarts: u32,
    /// ... within this many minutes is an alarm.
    pub restart_storm_minutes: u32,
    /// No tick from the broker's feed this long while the market is open is an alarm.
    pub feed_silent_seconds: u64,
    /// How often `run` looks at the store's health: an outbox grown at three looks in a row
    /// while the server is down is an alarm.
    pub store_check_seconds: u64,
    /// Post alarms of `replay` (and sweep) runs too (off: a replay's halts are history).
    pub replays: bool,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhooks: Vec::new(),
            max_per_kind_per_minute: 5,
            retry_attempts: 4,
            retry_initial_ms: 1000,
            retry_max_ms: 30_000,
            timeout_ms: 10_000,
            restart_storm_restarts: 3,
            restart_storm_minutes: 10,
            feed_silent_seconds: 60,
            store_check_seconds: 10,
            replays: false,
        }
    }
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum WebhookConfig {
    /// A generic JSON POST of the alarm.
    Json {
        /// The URL (no credentials in it) ...
        #[serde(default)]
        url: Option<String>,
        /// ... or the environment variable holding it (for URLs that embed a key).
        #[serde(default)]
        url_env: Option<String>,
        /// The environment variable holding an `Authorization` header value, if any.
        #[serde(default)]
        auth_header_env: Option<String>,
    },
    /// Telegram's Bot API `sendMessage`.
    Telegram {
        /// The chat: a number (`-1001234567890`) or a public `@channel`.
        chat_id: String,
        /// The environment variable holding the bot token.
        #[serde(default = "default_bot_env")]
        bot_token_env: String,
        /// The Bot API's address (tests point it at a local server).
        #[serde(default = "default_telegram_api")]
        api_url: String,
    },
}

fn default_bot_env() -> String {
    ENV_TELEGRAM_BOT_TOKEN.into()
}

fn default_telegram_api() -> String {
    TELEGRAM_API.into()
}

impl AlertsConfig {
    /// Alerts are on: at least one webhook.
    pub fn enabled(&self) -> bool {
        !self.webhooks.is_empty()
    }

    /// Checks every value; the error names the field.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |json_path: String, value: String, reason: &str| Error::ConfigInvalid {
            path: path.to_path_buf(),
            json_path,
            value,
            reason: reason.to_string(),
        };
        let range = |field: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(bad(
                    format!("alerts.{field}"),
                    v.to_string(),
                    &format!("must be in [{lo}, {hi}]"),
                ))
            }
        };
        range(
            "max_per_kind_per_minute",
            self.max_per_kind_per_minute.into(),
            1,
            1000,
        )?;
        range("retry_attempts", self.retry_attempts.into(), 1, 10)?;
        range("retry_initial_ms", self.retry_initial_ms, 1, 60_000)?;
        range(
            "retry_max_ms",
            self.retry_max_ms,
            self.retry_initial_ms,
            600_000,
        )?;
        range("timeout_ms", self.timeout_ms, 100, 120_000)?;
        range(
            "restart_storm_restarts",
            self.restart_storm_restarts.into(),
            1,
            1000,
        )?;
        range(
            "restart_storm_minutes",
            self.restart_storm_minutes.into(),
            1,
            1440,
        )?;
        range("feed_silent_seconds", self.feed_silent_seconds, 5, 86_400)?;
        range("store_check_seconds", self.store_check_seconds, 1, 3600)?;
        for (i, w) in self.webhooks.iter().enumerate() {
            let at = |f: &str| format!("alerts.webhooks[{i}].{f}");
            match w {
                WebhookConfig::Json {
                    url,
                    url_env,
                    auth_header_env,
                } => {
                    match (url, url_env) {
                        (Some(u), None) => check_url(u).map_err(|r| bad(at("url"), quote(u), r))?,
                        (None, Some(e)) => {
                            check_env_name(e).map_err(|r| bad(at("url_env"), quote(e), r))?
                        }
                        _ => {
                            return Err(bad(
                                at("url"),
                                "(url and url_env)".into(),
                                "give exactly one of url and url_env",
                            ))
                        }
                    }
                    if let Some(e) = auth_header_env {
                        check_env_name(e).map_err(|r| bad(at("auth_header_env"), quote(e), r))?;
                    }
                }
                WebhookConfig::Telegram {
                    chat_id,
                    bot_token_env,
                    api_url,
                } => {
                    let numeric = chat_id
                        .strip_prefix('-')
                        .unwrap_or(chat_id)
                        .chars()
                        .all(|c| c.is_ascii_digit());
                    let channel = chat_id.strip_prefix('@').is_some_and(|n| {
                        !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    });
                    if chat_id.trim_start_matches('-').is_empty() || !(numeric || channel) {
                        return Err(bad(
                            at("chat_id"),
                            quote(chat_id),
                            "must be a chat number (e.g. -1001234567890) or @channelname",
                        ));
                    }
                    check_env_name(bot_token_env)
                        .map_err(|r| bad(at("bot_token_env"), quote(bot_token_env), r))?;
                    check_url(api_url).map_err(|r| bad(at("api_url"), quote(api_url), r))?;
                }
            }
        }
        Ok(())
    }
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

/// An http(s) URL without credentials in it.
fn check_url(u: &str) -> std::result::Result<(), &'static str> {
    let Some(rest) = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
    else {
        return Err("must be an http:// or https:// URL");
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an http:// or https:// URL with a host and no spaces");
    }
    if host.contains('@') {
        return Err("must not hold credentials: put the URL in an environment variable (url_env) or the header in auth_header_env");
    }
    Ok(())
}

/// An environment variable's name: letters, digits and `_`, not starting with a digit.
fn check_env_name(n: &str) -> std::result::Result<(), &'static str> {
    let ok = !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err("must be the name of an environment variable (letters, digits, _)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> std::result::Result<AlertsConfig, String> {
        let c: AlertsConfig = serde_json::from_value(v).map_err(|e| e.to_string())?;
        c.validate(Path::new("c.json")).map_err(|e| e.to_string())?;
        Ok(c)
    }

    #[test]
    fn off_by_default_and_both_kinds_parse() {
        let c = parse(serde_json::json!({})).unwrap();
        assert!(!c.enabled());
        let c = parse(serde_json::json!({"webhooks": [
            {"kind": "json", "url": "https://example.com/hook", "auth_header_env": "HOOK_AUTH"},
            {"kind": "telegram", "chat_id": "-1001234"}
        ]}))
        .unwrap();
        assert!(c.enabled());
        assert_eq!(
            c.webhooks[1],
            WebhookConfig::Telegram {
                chat_id: "-1001234".into(),
                bot_token_env: ENV_TELEGRAM_BOT_TOKEN.into(),
                api_url: TELEGRAM_API.into()
            }
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        for (v, field) in [
            (
                serde_json::json!({"webhooks": [{"kind": "json", "url": "ftp://x"}]}),
                "alerts.webhooks[0].url",
            ),
            (
                serde_json::json!({"webhooks": [{"kind": "json", "url": "https://u:secret@x/h"}]}),
                "alerts.webhooks[0].url",
            ),
            (
                serde_json::json!({"webhooks": [{"kind": "json"}]}),
                "alerts.webhooks[0].url",
            ),
            (
                serde_json::json!({"webhooks": [{"kind": "json", "url": "http://x", "auth_header_env": "a b"}]}),
                "alerts.webhooks[0].auth_header_env",
            ),
            (
                serde_json::json!({"webhooks": [{"kind": "telegram", "chat_id": "abc"}]}),
                "alerts.webhooks[0].chat_id",
            ),
            (
                serde_json::json!({"webhooks": [{"kind": "telegram", "chat_id": "-"}]}),
                "alerts.webhooks[0].chat_id",
            ),
            (
                serde_json::json!({"max_per_kind_per_minute": 0}),
                "alerts.max_per_kind_per_minute",
            ),
            (
                serde_json::json!({"retry_initial_ms": 5000, "retry_max_ms": 10}),
                "alerts.retry_max_ms",
            ),
            (
                serde_json::json!({"retry_attempts": 11}),
                "alerts.retry_attempts",
            ),
        ] {
            let e = parse(v.clone()).unwrap_err();
            assert!(e.contains(&format!("`{field}`")), "{v}: {e}");
        }
        // A token written into the config is refused as an unknown field.
        let e = parse(serde_json::json!({"webhooks": [
            {"kind": "telegram", "chat_id": "1", "bot_token": "123:ABC"}
        ]}))
        .unwrap_err();
        assert!(e.contains("bot_token"), "{e}");
        assert!(!e.contains("123:ABC"), "{e}");
    }
}
