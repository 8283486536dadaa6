//! Alerts: alarms posted to webhooks by the [`crate::notifier::Notifier`].
//!
//! - [`config`]: the `alerts` section (webhooks, limits), validated.
//! - [`format`]: the generic JSON body, Telegram's `sendMessage` body, secret scrubbing.
//! - [`limit`]: the per-kind rate limit, the retry schedule, restart storms, lasting
//!   conditions (feed silent, outbox growing).
//!
//! Here: the webhooks with their secrets read from the environment ([`Sink::resolve`]), and
//! the [`AlarmSink`] every raising actor holds (a fire-and-forget send, or nothing when
//! alerts are off).

pub mod config;
pub mod format;
pub mod limit;

use actix::Recipient;
use messages::{Alarm, RaiseAlarm};
use serde_json::Value;

pub use config::{AlertsConfig, WebhookConfig};

use crate::error::{Error, Result};

/// Where an alarm is posted, with its secrets. `Debug` shows no secret.
#[derive(Clone)]
pub enum Sink {
    Json {
        url: String,
        auth: Option<String>,
        /// The URL came from the environment (it may hold a key): never shown.
        url_secret: bool,
    },
    Telegram {
        /// `…/bot<TOKEN>/sendMessage`: never shown.
        url: String,
        chat_id: String,
    },
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

/// One HTTP POST: where, the optional `Authorization` header, the JSON body.
#[derive(Clone)]
pub struct Post {
    pub url: String,
    pub auth: Option<String>,
    pub body: Value,
}

impl Sink {
    /// The webhooks of `cfg`, with secrets from `lookup` (the environment); the error names
    /// the field and the variable, never a value.
    pub fn resolve(
        cfg: &AlertsConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<Sink>> {
        let get = |i: usize, field: &str, var: &str| {
            lookup(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Error::ConfigInvalid {
                    path: "config".into(),
                    json_path: format!("alerts.webhooks[{i}].{field}"),
                    value: format!("{var:?}"),
                    reason: "names an environment variable that is not set".into(),
                })
        };
        let mut out = Vec::with_capacity(cfg.webhooks.len());
        for (i, w) in cfg.webhooks.iter().enumerate() {
            out.push(match w {
                WebhookConfig::Json {
                    url,
                    url_env,
                    auth_header_env,
                } => Sink::Json {
                    url: match (url, url_env) {
                        (Some(u), _) => u.clone(),
                        (None, Some(e)) => get(i, "url_env", e)?,
                        (None, None) => String::new(),
                    },
                    auth: auth_header_env
                        .as_deref()
                        .map(|e| get(i, "auth_header_env", e))
                        .transpose()?,
                    url_secret: url.is_none(),
                },
                WebhookConfig::Telegram {
                    chat_id,
                    bot_token_env,
                    api_url,
                } => {
                    let token = get(i, "bot_token_env", bot_token_env)?;
                    Sink::Telegram {
                        url: format!("{}/bot{token}/sendMessage", api_url.trim_end_matches('/')),
                        chat_id: chat_id.clone(),
                    }
                }
            });
        }
        Ok(out)
    }

    /// How logs name this sink (no secret).
    pub fn label(&self) -> String {
        match self {
            Sink::Json {
                url, url_secret, ..
            } => {
                if *url_secret {
                    "json webhook (URL from the environment)".into()
                } else {
                    format!("json webhook {url}")
                }
            }
            Sink::Telegram { chat_id, .. } => format!("telegram chat {chat_id}"),
        }
    }

    /// The secrets this sink holds (scrubbed from anything sent or logged).
    pub fn secrets(&self) -> Vec<String> {
        match self {
            Sink::Json {
                url,
                auth,
                url_secret,
            } => {
                let mut v: Vec<String> = auth.iter().cloned().collect();
                if let Some(a) = auth {
                    // The credential without its scheme ("Bearer xyz" → "xyz") too.
                    if let Some((_, cred)) = a.split_once(' ') {
                        v.push(cred.trim().to_string());
                    }
                }
                if *url_secret {
                    v.push(url.clone());
                }
                v
            }
            Sink::Telegram { url, .. } => url
                .rsplit_once("/bot")
                .and_then(|(_, t)| t.strip_suffix("/sendMessage"))
                .map(|t| vec![t.to_string()])
                .unwrap_or_default(),
        }
    }

    /// The POST of `a` (already scrubbed) to this sink.
    pub fn post(&self, a: &Alarm, suppressed: u32) -> Post {
        match self {
            Sink::Json { url, auth, .. } => Post {
                url: url.clone(),
                auth: auth.clone(),
                body: format::json_body(a, suppressed),
            },
            Sink::Telegram { url, chat_id } => Post {
                url: url.clone(),
                auth: None,
                body: format::telegram_body(chat_id, a, suppressed),
            },
        }
    }
}

/// The engine's other secrets, scrubbed from alarms too (an error text may quote one).
pub const ENGINE_SECRET_VARS: [&str; 5] = [
    crate::kite::credentials::ENV_API_SECRET,
    crate::kite::credentials::ENV_ACCESS_TOKEN,
    crate::kite::credentials::ENV_API_KEY,
    "CLICKHOUSE_PASSWORD",
    "ALPHASTOCKS_DASHBOARD_TOKEN",
];

/// Where an actor raises alarms: the Notifier and any watcher (the dashboard), or nowhere when
/// alerts are off and nothing watches. Cloning is cheap; raising never waits.
#[derive(Clone, Default)]
pub struct AlarmSink(Vec<Recipient<RaiseAlarm>>);

impl std::fmt::Debug for AlarmSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlarmSink({} recipients)", self.0.len())
    }
}

impl AlarmSink {
    /// Alarms go to `to`.
    pub fn new(to: Recipient<RaiseAlarm>) -> Self {
        AlarmSink(vec![to])
    }

    /// Alerts off.
    pub fn off() -> Self {
        AlarmSink(Vec::new())
    }

    /// Alarms go to `to` as well (a watcher such as the dashboard).
    pub fn and(mut self, to: Recipient<RaiseAlarm>) -> Self {
        self.0.push(to);
        self
    }

    pub fn is_on(&self) -> bool {
        !self.0.is_empty()
    }

    /// Hands `a` to the Notifier and the watchers (fire and forget).
    pub fn raise(&self, a: Alarm) {
        if let Some((last, rest)) = self.0.split_last() {
            for r in rest {
                r.do_send(RaiseAlarm(a.clone()));
            }
            last.do_send(RaiseAlarm(a));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use messages::AlarmKind;

    use actix::prelude::*;

    struct Seen(std::sync::Arc<std::sync::Mutex<Vec<Alarm>>>);
    impl Actor for Seen {
        type Context = Context<Self>;
    }
    impl Handler<RaiseAlarm> for Seen {
        type Result = ();
        fn handle(&mut self, m: RaiseAlarm, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(m.0);
        }
    }
    /// Answered after every message queued before it (a mailbox is first in, first out).
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Flushed;
    impl Handler<Flushed> for Seen {
        type Result = ();
        fn handle(&mut self, _: Flushed, _: &mut Context<Self>) {}
    }

    #[test]
    fn every_alarm_reaches_the_notifier_and_each_watcher() {
        let sys = actix::System::new();
        let (a, b) = (Default::default(), Default::default());
        let got = |s: &std::sync::Arc<std::sync::Mutex<Vec<Alarm>>>| -> Vec<String> {
            s.lock()
                .unwrap()
                .iter()
                .map(|x| x.message.clone())
                .collect()
        };
        sys.block_on(async {
            assert!(!AlarmSink::off().is_on());
            let watcher = Seen(std::sync::Arc::clone(&b)).start();
            let notifier = Seen(std::sync::Arc::clone(&a)).start();
            // A watcher alone turns the alarms on (the dashboard without webhooks).
            let only = AlarmSink::off().and(watcher.clone().recipient());
            assert!(only.is_on());
            only.raise(Alarm::new(AlarmKind::FeedSilent, "first"));
            let both =
                AlarmSink::new(notifier.clone().recipient()).and(watcher.clone().recipient());
            both.raise(Alarm::new(AlarmKind::FeedSilent, "second"));
            watcher.send(Flushed).await.unwrap();
            notifier.send(Flushed).await.unwrap();
        });
        assert_eq!(got(&a), vec!["second"]);
        assert_eq!(got(&b), vec!["first", "second"]);
    }

    #[test]
    fn secrets_come_from_the_environment_and_are_never_shown() {
        let cfg: AlertsConfig = serde_json::from_value(serde_json::json!({"webhooks": [
            {"kind": "json", "url": "http://127.0.0.1:9/hook", "auth_header_env": "HOOK_AUTH"},
            {"kind": "telegram", "chat_id": "-42", "bot_token_env": "TG", "api_url": "http://127.0.0.1:9/"}
        ]}))
        .unwrap();
        let env = |k: &str| match k {
            "HOOK_AUTH" => Some("Bearer s3cr3t".to_string()),
            "TG" => Some(" 123:ABC ".to_string()),
            _ => None,
        };
        let sinks = Sink::resolve(&cfg, env).unwrap();
        let a = Alarm::new(AlarmKind::FeedSilent, "no tick");
        let p = sinks[1].post(&a, 0);
        assert_eq!(p.url, "http://127.0.0.1:9/bot123:ABC/sendMessage");
        assert_eq!(p.body["chat_id"], "-42");
        assert_eq!(sinks[1].secrets(), vec!["123:ABC".to_string()]);
        let p = sinks[0].post(&a, 0);
        assert_eq!(p.auth.as_deref(), Some("Bearer s3cr3t"));
        assert_eq!(p.body["kind"], "feed_silent");
        assert!(sinks[0].secrets().contains(&"s3cr3t".to_string()));
        let shown = format!("{sinks:?}");
        assert!(
            !shown.contains("ABC") && !shown.contains("s3cr3t"),
            "{shown}"
        );

        // A variable not set is an error naming the field and the variable only.
        let e = Sink::resolve(&cfg, |k| (k == "HOOK_AUTH").then(|| "x".to_string()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("`alerts.webhooks[1].bot_token_env`"), "{e}");
        assert!(e.contains("\"TG\""), "{e}");
    }
}
