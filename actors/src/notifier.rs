//! **Notifier** — posts alarms to the configured webhooks (a generic JSON POST, Telegram's
//! Bot API), off the pipeline: it runs on the I/O arbiter and every post is a spawned future,
//! so no raising actor ever waits on HTTP.
//!
//! - Owns: the webhooks and their secrets (from the environment), the HTTP client, the per-kind
//!   rate limit, the restart-storm window per actor, its counters.
//! - Handles: [`RaiseAlarm`] (from Broker, OptionsExecutor, PositionManager and the `run` loop,
//!   fire and forget), [`GetNotifierStats`], [`InjectPanic`], [`GetRestarts`]; every second
//!   its own timer reads the actors' restart counters (restart storms) and posts the counts of
//!   alarms the rate limit held back once their minute is over.
//! - Sends: HTTP POSTs only. Each post is tried up to `retry_attempts` times with a doubling
//!   wait (no answer, 408, 429 and 5xx are retried; other 4xx are not); a post given up is
//!   logged and counted, never a panic.
//!
//! Secrets never leave: every alarm is scrubbed of the webhooks' and the engine's secrets
//! before it is formatted, and errors are logged without their URL (Telegram's holds the
//! token).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use messages::msg::{GetRestarts, InjectPanic};
use messages::{Alarm, AlarmKind, GetNotifierStats, NotifierStats, RaiseAlarm};

use crate::alerts::format::{redact, scrubbed};
use crate::alerts::limit::{after_attempt, backoff, AfterAttempt, RateLimiter, RestartStorm};
use crate::alerts::{AlertsConfig, Post, Sink, ENGINE_SECRET_VARS};
use crate::error::{Error, Result};
use crate::metrics::{ActorMetrics, Registry};
use crate::supervisor::{guard, note_restart};

const NAME: &str = "notifier";
/// How often restart counters and held-back counts are looked at.
const WATCH_EVERY: Duration = Duration::from_secs(1);
/// Posts under way at once; more wait in a queue.
const MAX_IN_FLIGHT: u64 = 64;
/// Posts waiting for their turn; beyond this a flood is dropped (counted), never piled up.
const MAX_QUEUED: usize = 1024;

/// The Notifier's settings, secrets resolved.
#[derive(Clone)]
pub struct NotifierConfig {
    pub sinks: Vec<Sink>,
    /// Scrubbed from every alarm and every logged error.
    pub secrets: Arc<Vec<String>>,
    pub max_per_kind_per_minute: u32,
    /// The rate limit's window (a minute; shorter only in tests).
    pub rate_window: Duration,
    pub retry_attempts: u32,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub storm_restarts: u32,
    pub storm_window: Duration,
    client: reqwest::Client,
}

impl std::fmt::Debug for NotifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifierConfig")
            .field("sinks", &self.sinks)
            .field("max_per_kind_per_minute", &self.max_per_kind_per_minute)
            .field("retry_attempts", &self.retry_attempts)
            .finish_non_exhaustive()
    }
}

impl NotifierConfig {
    /// The settings of `cfg`, secrets from `lookup` (the environment).
    pub fn from_config(
        cfg: &AlertsConfig,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self> {
        let sinks = Sink::resolve(cfg, &lookup)?;
        let mut secrets: Vec<String> = sinks.iter().flat_map(Sink::secrets).collect();
        secrets.extend(
            ENGINE_SECRET_VARS
                .iter()
                .filter_map(|v| lookup(v))
                .map(|v| v.trim().to_string())
                .filter(|v| v.len() >= 4),
        );
        // Longest first, so a secret containing another is scrubbed whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| Error::Alerts(format!("cannot build the HTTP client: {e}")))?;
        Ok(NotifierConfig {
            sinks,
            secrets: Arc::new(secrets),
            max_per_kind_per_minute: cfg.max_per_kind_per_minute,
            rate_window: Duration::from_secs(60),
            retry_attempts: cfg.retry_attempts,
            retry_initial: Duration::from_millis(cfg.retry_initial_ms),
            retry_max: Duration::from_millis(cfg.retry_max_ms),
            storm_restarts: cfg.restart_storm_restarts,
            storm_window: Duration::from_secs(u64::from(cfg.restart_storm_minutes) * 60),
            client,
        })
    }
}

/// The Notifier actor.
pub struct Notifier {
    cfg: NotifierConfig,
    limiter: RateLimiter,
    storm: RestartStorm,
    /// The engine's actors, watched for restart storms.
    watch: Option<Registry>,
    started: Instant,
    stats: NotifierStats,
    /// Posts waiting for one under way to end: (webhook, alarm scrubbed, held-back count).
    queued: std::collections::VecDeque<(usize, Alarm, u32)>,
    restarts: u64,
    m: &'static ActorMetrics,
}

impl Notifier {
    /// A notifier posting to `cfg`'s webhooks, watching `watch`'s actors for restart storms.
    pub fn new(cfg: NotifierConfig, watch: Option<Registry>, m: &'static ActorMetrics) -> Self {
        Notifier {
            limiter: RateLimiter::new(cfg.max_per_kind_per_minute, cfg.rate_window),
            storm: RestartStorm::new(cfg.storm_restarts, cfg.storm_window),
            cfg,
            watch,
            started: Instant::now(),
            stats: NotifierStats::default(),
            queued: std::collections::VecDeque::new(),
            restarts: 0,
            m,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// An alarm through the rate limit to every webhook.
    fn raise(&mut self, a: Alarm, ctx: &mut Context<Self>) {
        self.stats.raised += 1;
        let now = self.now_ms();
        match self.limiter.admit(a.kind, now) {
            Some(held) => self.dispatch(a, held, ctx),
            None => {
                self.stats.suppressed += 1;
                log::debug!("{NAME}: {} alarm held back by the rate limit", a.kind);
            }
        }
    }

    /// Posts `a` (scrubbed) to every webhook, each post on its own. Above
    /// [`MAX_IN_FLIGHT`] posts under way, the rest wait their turn in a queue (bounded by
    /// [`MAX_QUEUED`]; only a flood beyond it is dropped, counted).
    fn dispatch(&mut self, a: Alarm, held: u32, ctx: &mut Context<Self>) {
        let a = scrubbed(&a, &self.cfg.secrets);
        for sink in 0..self.cfg.sinks.len() {
            if self.stats.in_flight < MAX_IN_FLIGHT {
                self.start_post(sink, &a, held, ctx);
            } else if self.queued.len() < MAX_QUEUED {
                self.queued.push_back((sink, a.clone(), held));
            } else {
                self.stats.dropped += 1;
                log::warn!(
                    "{NAME}: {} posts under way and {} waiting; {} alarm not posted to {}",
                    self.stats.in_flight,
                    self.queued.len(),
                    a.kind,
                    self.cfg.sinks[sink].label()
                );
            }
            self.stats.queued = self.queued.len() as u64;
        }
    }

    /// One post of `a` to webhook `sink`, on its own; when it ends, the next waiting post
    /// starts.
    fn start_post(&mut self, sink: usize, a: &Alarm, held: u32, ctx: &mut Context<Self>) {
        let Some(s) = self.cfg.sinks.get(sink) else {
            return;
        };
        self.stats.in_flight += 1;
        let post = s.post(a, held);
        let label = s.label();
        let (client, secrets) = (self.cfg.client.clone(), self.cfg.secrets.clone());
        let (attempts, initial, max) = (
            self.cfg.retry_attempts,
            self.cfg.retry_initial,
            self.cfg.retry_max,
        );
        let kind = a.kind;
        let fut = async move { deliver(&client, &post, attempts, initial, max, &secrets).await };
        ctx.spawn(fut.into_actor(self).map(move |d, act, ctx| {
            act.stats.in_flight = act.stats.in_flight.saturating_sub(1);
            act.stats.retries += u64::from(d.attempts.saturating_sub(1));
            match d.error {
                None => {
                    act.stats.posted += 1;
                    log::info!(
                        "{NAME}: {kind} alarm posted to {label} ({} attempt{})",
                        d.attempts,
                        if d.attempts == 1 { "" } else { "s" }
                    );
                }
                Some(why) => {
                    act.stats.failed += 1;
                    log::error!(
                        "{NAME}: {kind} alarm NOT posted to {label} after {} attempt{}: {why}",
                        d.attempts,
                        if d.attempts == 1 { "" } else { "s" }
                    );
                }
            }
            if let Some((sink, a, held)) = act.queued.pop_front() {
                act.start_post(sink, &a, held, ctx);
            }
            act.stats.queued = act.queued.len() as u64;
        }));
    }

    /// Restart storms, and the held-back counts whose minute is over.
    fn watch(&mut self, ctx: &mut Context<Self>) {
        let now = self.now_ms();
        if let Some(reg) = &self.watch {
            let mut storms = Vec::new();
            for s in reg.snapshot() {
                if let Some(n) = self.storm.observe(s.actor, s.restarts, now) {
                    storms.push((s.actor, n, s.last_error));
                }
            }
            let minutes = self.cfg.storm_window.as_secs() / 60;
            for (actor, n, last) in storms {
                let msg = format!(
                    "{actor} restarted {n} times within {minutes} min (more than {}){}",
                    self.cfg.storm_restarts,
                    last.map(|e| format!("; its last error: {e}"))
                        .unwrap_or_default()
                );
                log::error!("{NAME}: ALARM {}", redact(&msg, &self.cfg.secrets));
                self.raise(Alarm::new(AlarmKind::RestartStorm, msg).actor(actor), ctx);
            }
        }
        for (kind, n) in self.limiter.due(now) {
            // The count travels as `suppressed` (JSON) and the text's last line.
            let a = Alarm::new(
                kind,
                "the rate limit held back alarms of this kind in the last minute (each is in the log)",
            );
            self.dispatch(a, n, ctx);
        }
    }
}

/// How one post ended.
struct Delivery {
    attempts: u32,
    /// Why it was given up (scrubbed), or `None` when accepted.
    error: Option<String>,
}

/// Posts `p`, retrying with backoff; never panics, never logs a URL.
async fn deliver(
    client: &reqwest::Client,
    p: &Post,
    attempts: u32,
    initial: Duration,
    max: Duration,
    secrets: &[String],
) -> Delivery {
    let mut last = String::new();
    let attempts = attempts.max(1);
    for n in 1..=attempts {
        let mut rb = client.post(&p.url).json(&p.body);
        if let Some(a) = &p.auth {
            rb = rb.header(reqwest::header::AUTHORIZATION, a);
        }
        let status = match rb.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                last = format!("HTTP {s}");
                Some(s)
            }
            Err(e) => {
                last = redact(&e.without_url().to_string(), secrets);
                None
            }
        };
        match after_attempt(status) {
            AfterAttempt::Done => {
                return Delivery {
                    attempts: n,
                    error: None,
                }
            }
            AfterAttempt::GiveUp => {
                return Delivery {
                    attempts: n,
                    error: Some(format!("{last} (not retried)")),
                }
            }
            AfterAttempt::Retry if n < attempts => {
                log::warn!("{NAME}: post attempt {n} of {attempts} failed ({last}); retrying");
                tokio::time::sleep(backoff(n, initial, max)).await;
            }
            AfterAttempt::Retry => {}
        }
    }
    Delivery {
        attempts,
        error: Some(last),
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        // After a restart: the posts that were waiting start now.
        while self.stats.in_flight < MAX_IN_FLIGHT {
            let Some((sink, a, held)) = self.queued.pop_front() else {
                break;
            };
            self.start_post(sink, &a, held, ctx);
        }
        self.stats.queued = self.queued.len() as u64;
        ctx.run_interval(WATCH_EVERY, |act, ctx| {
            let m = act.m;
            guard(m, ctx, |ctx| act.watch(ctx));
        });
    }
}

impl Supervised for Notifier {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        // Posts under way died with the old context.
        self.stats.in_flight = 0;
        note_restart(self.m, &mut self.restarts);
    }
}

impl Handler<RaiseAlarm> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: RaiseAlarm, ctx: &mut Context<Self>) {
        let m = self.m;
        guard(m, ctx, |ctx| self.raise(msg.0, ctx));
    }
}

impl Handler<GetNotifierStats> for Notifier {
    type Result = MessageResult<GetNotifierStats>;

    fn handle(&mut self, _: GetNotifierStats, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.stats.clone())
    }
}

impl Handler<InjectPanic> for Notifier {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        let m = self.m;
        guard(m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<GetRestarts> for Notifier {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.restarts
    }
}
