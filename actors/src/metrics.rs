//! Mailbox metrics, counted by hand (actix has no queue-depth API): per actor, messages sent,
//! handled, the current and maximum depth (sent − handled), handler latency (sampled 1
//! message in 64, so the two clock reads cost little), restarts, drops and the last error.
//!
//! Every message is counted on both sides, so that sent ≥ handled always holds and depth is
//! true: sent by [`Tracked`] / [`TrackedRecipient`] senders (the engine's addresses, the
//! actors' links), or by [`ActorMetrics::on_send`] where a plain recipient crosses the
//! messages crate (a strategy's history request after a restart, live exits and their
//! fills); timer ticks and completed futures an actor scheduled itself count as sent and
//! handled ([`crate::supervisor::guard_wake`]); handled in [`crate::supervisor::guard`], or
//! [`ActorMetrics::count_handled`] for queries and barriers that are not timed.
//!
//! Everything is an atomic in a struct each actor and its senders share: no lock on the hot
//! path. The latency histogram is HDR-style: log₂ buckets each split into 8 linear
//! sub-buckets (≤ 12.5 % relative error), one atomic add per recorded value.
//!
//! Time in mailbox is sampled the same way, by sequence number ([`mailbox`]): the sampled
//! sends stamp the clock, the matching handler reads it. Both durations are also counted in
//! fixed Prometheus buckets ([`prom`]); [`Registry::prometheus`] is the whole exposition,
//! with the trading series of [`trading`].

use std::sync::atomic::{
    AtomicU64, Ordering, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use messages::MetricSample;
use serde::Serialize;

mod exposition;
pub mod mailbox;
pub mod prom;
pub mod trading;

pub use exposition::prometheus;

use mailbox::MailboxClock;
use prom::PromHistogram;
use trading::{FeedTicks, KiteApiCounters, SignalCounts, Trading};

const SUB: u32 = 8;
const BUCKETS: usize = 64 * SUB as usize;
/// One handler in this many is timed.
pub const SAMPLE_EVERY: u64 = 64;

/// Lock-free log-linear histogram of nanoseconds.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    max: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // ≥ 3
    let sub = ((v >> (e - 3)) & (SUB as u64 - 1)) as u32;
    ((e - 2) * SUB + sub) as usize
}

fn bucket_floor(i: usize) -> u64 {
    let (e, sub) = ((i as u32) / SUB, (i as u32) % SUB);
    if e == 0 {
        return sub as u64;
    }
    let e = e + 2;
    (1u64 << e) | ((sub as u64) << (e - 3))
}

impl Histogram {
    /// Records one value.
    pub fn record(&self, v: u64) {
        if let Some(b) = self.buckets.get(bucket_of(v)) {
            b.fetch_add(1, Relaxed);
        }
        self.max.fetch_max(v, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// The value at quantile `q` (bucket floor), 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count.load(Relaxed);
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                return bucket_floor(i).min(self.max.load(Relaxed));
            }
        }
        self.max.load(Relaxed)
    }

    /// The largest value recorded.
    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }
}

/// The counters of one actor.
pub struct ActorMetrics {
    pub name: &'static str,
    sent: AtomicU64,
    handled: AtomicU64,
    max_depth: AtomicU64,
    restarts: AtomicU64,
    dropped: AtomicU64,
    latency: Histogram,
    latency_buckets: PromHistogram,
    /// Time from send to handler start, of the sampled messages.
    mailbox: Histogram,
    mailbox_buckets: PromHistogram,
    clock: MailboxClock,
    last_error: Mutex<Option<String>>,
    /// Counting on (the default); off only to measure its cost.
    enabled: bool,
}

impl ActorMetrics {
    /// Counters for actor `name`.
    pub fn new(name: &'static str, enabled: bool) -> Self {
        ActorMetrics {
            name,
            sent: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            max_depth: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            latency: Histogram::default(),
            latency_buckets: PromHistogram::default(),
            mailbox: Histogram::default(),
            mailbox_buckets: PromHistogram::default(),
            clock: MailboxClock::default(),
            last_error: Mutex::new(None),
            enabled,
        }
    }

    /// A message was queued for this actor (a sampled one is stamped for its time in mailbox).
    #[inline]
    pub fn on_send(&self) {
        if self.enabled {
            let seq = self.sent.fetch_add(1, Relaxed);
            self.clock.sent(seq);
            let depth = (seq + 1).saturating_sub(self.handled.load(Relaxed));
            self.max_depth.fetch_max(depth, Relaxed);
        }
    }

    /// A handler starts; returns its start time and sequence number when this one is sampled.
    #[inline]
    pub fn on_handle(&self) -> Option<Sampled> {
        if !self.enabled {
            return None;
        }
        let seq = self.handled.fetch_add(1, Release);
        seq.is_multiple_of(SAMPLE_EVERY).then(|| Sampled {
            at: Instant::now(),
            seq,
        })
    }

    /// A message handled without timing it (queries and barriers outside [`crate::supervisor::guard`]):
    /// every handled message is counted, so that sent − handled is the true depth.
    #[inline]
    pub fn count_handled(&self) {
        if self.enabled {
            self.handled.fetch_add(1, Release);
        }
    }

    /// A sampled handler finished: its latency, and how long it waited in the mailbox when
    /// its send was stamped.
    #[inline]
    pub fn on_done(&self, started: Option<Sampled>) {
        if let Some(s) = started {
            let ns = s.at.elapsed().as_nanos() as u64;
            self.latency.record(ns);
            self.latency_buckets.record(ns);
            if let Some(w) = self.clock.waited(s.seq, s.at) {
                self.mailbox.record(w);
                self.mailbox_buckets.record(w);
            }
        }
    }

    /// The handler latency and time in mailbox in fixed Prometheus buckets.
    pub fn buckets(&self) -> (prom::Buckets, prom::Buckets) {
        (self.latency_buckets.read(), self.mailbox_buckets.read())
    }

    /// A send counted by [`ActorMetrics::on_send`] that was refused (mailbox full or closed):
    /// not queued after all.
    pub fn on_unsent(&self) {
        if self.enabled {
            self.sent.fetch_sub(1, Relaxed);
        }
    }

    /// A message that could not be queued (mailbox full) and was dropped or coalesced.
    pub fn on_drop(&self, n: u64) {
        self.dropped.fetch_add(n, Relaxed);
    }

    /// The supervisor restarted the actor.
    pub fn on_restart(&self) {
        self.restarts.fetch_add(1, Relaxed);
    }

    /// A handler failed.
    pub fn on_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }

    /// Messages queued and not yet handled.
    pub fn depth(&self) -> u64 {
        self.sent
            .load(Relaxed)
            .saturating_sub(self.handled.load(Relaxed))
    }

    /// A copy of the figures.
    pub fn snapshot(&self) -> ActorSnapshot {
        // Handled first, then sent: a message is counted sent before it is counted handled
        // (the Release of the handled count publishes the sent one), so the pair read never
        // shows more handled than sent — an actor that sends to itself on another thread (the
        // simulated feed's step) does both within nanoseconds of each other.
        let handled = self.handled.load(Acquire);
        let sent = self.sent.load(Acquire);
        ActorSnapshot {
            actor: self.name,
            sent,
            handled,
            depth: self.depth(),
            max_depth: self.max_depth.load(Relaxed),
            latency_p50_ns: self.latency.quantile(0.50),
            latency_p99_ns: self.latency.quantile(0.99),
            latency_max_ns: self.latency.max(),
            latency_samples: self.latency.count(),
            mailbox_p50_ns: self.mailbox.quantile(0.50),
            mailbox_p99_ns: self.mailbox.quantile(0.99),
            mailbox_max_ns: self.mailbox.max(),
            mailbox_samples: self.mailbox.count(),
            restarts: self.restarts.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            last_error: self.last_error.lock().ok().and_then(|g| g.clone()),
        }
    }
}

/// A handler being timed: when it started, and its sequence number (to find its send's stamp).
#[derive(Debug, Clone, Copy)]
pub struct Sampled {
    at: Instant,
    seq: u64,
}

/// One actor's figures.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ActorSnapshot {
    pub actor: &'static str,
    pub sent: u64,
    pub handled: u64,
    pub depth: u64,
    pub max_depth: u64,
    pub latency_p50_ns: u64,
    pub latency_p99_ns: u64,
    pub latency_max_ns: u64,
    pub latency_samples: u64,
    /// Time in mailbox (send to handler start) of the sampled messages: median, 99th
    /// percentile, longest, and how many were measured.
    pub mailbox_p50_ns: u64,
    pub mailbox_p99_ns: u64,
    pub mailbox_max_ns: u64,
    pub mailbox_samples: u64,
    pub restarts: u64,
    pub dropped: u64,
    pub last_error: Option<String>,
}

/// The `performance_metrics` rows of one sample taken at `at`: per actor its counters
/// (`sent_total`, `handled_total`, `restarts_total`, `dropped_total`), its `depth` and
/// `max_depth`, and its handler latency (`latency_p50_us`, `latency_p99_us`).
pub fn samples(snaps: &[ActorSnapshot], at: chrono::DateTime<chrono::Utc>) -> Vec<MetricSample> {
    let mut out = Vec::with_capacity(snaps.len() * 8);
    for s in snaps {
        for (metric, value) in [
            ("sent_total", s.sent as f64),
            ("handled_total", s.handled as f64),
            ("depth", s.depth as f64),
            ("max_depth", s.max_depth as f64),
            ("latency_p50_us", s.latency_p50_ns as f64 / 1000.0),
            ("latency_p99_us", s.latency_p99_ns as f64 / 1000.0),
            ("restarts_total", s.restarts as f64),
            ("dropped_total", s.dropped as f64),
        ] {
            out.push(MetricSample {
                timestamp: at,
                component: s.actor.to_string(),
                metric: metric.to_string(),
                value,
                labels: String::new(),
            });
        }
    }
    out
}

/// The KiteTicker silence watch's steps (see `kite::silence`): counters, and how many
/// underlyings are on REST quotes now.
#[derive(Debug, Default)]
pub struct FeedCounters {
    pub resubscribes: AtomicU64,
    pub reconnects: AtomicU64,
    pub fallbacks: AtomicU64,
    pub retries: AtomicU64,
    pub recoveries: AtomicU64,
    pub on_rest: AtomicU64,
}

impl FeedCounters {
    /// Sets every value from the watch's counts.
    pub fn set(&self, c: &crate::kite::silence::Counts, on_rest: u64) {
        let r = Ordering::Relaxed;
        self.resubscribes.store(c.resubscribes, r);
        self.reconnects.store(c.reconnects, r);
        self.fallbacks.store(c.fallbacks, r);
        self.retries.store(c.retries, r);
        self.recoveries.store(c.recoveries, r);
        self.on_rest.store(on_rest, r);
    }

    fn values(&self) -> [(&'static str, &'static str, u64); 6] {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        [
            ("resubscribes", "counter", g(&self.resubscribes)),
            ("reconnects", "counter", g(&self.reconnects)),
            ("fallbacks", "counter", g(&self.fallbacks)),
            ("retries", "counter", g(&self.retries)),
            ("recoveries", "counter", g(&self.recoveries)),
            ("on_rest", "gauge", g(&self.on_rest)),
        ]
    }

    /// For `ctl status`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values()
                .into_iter()
                .map(|(k, _, v)| (k.to_string(), v.into()))
                .collect(),
        )
    }

    /// The Prometheus lines (`alphastocks_kite_ticker_…`).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        for (k, kind, v) in self.values() {
            let name = if kind == "counter" {
                format!("alphastocks_kite_ticker_{k}_total")
            } else {
                format!("alphastocks_kite_ticker_{k}")
            };
            out.push_str(&format!(
                "# HELP {name} KiteTicker silence watch: {k}.\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        }
        out
    }
}

/// Tells every probe subscriber ([`SubscribeProbes`](messages::msg::SubscribeProbes)) that the
/// signal of `symbol`'s candle opened at `candle_time` passed `stage`, stamped now; without a
/// subscriber, nothing — not even the time is taken.
#[inline]
pub fn send_probes(
    probes: &[actix::Recipient<messages::msg::SignalProbe>],
    stage: messages::msg::ProbeStage,
    symbol: &str,
    candle_time: i64,
) {
    if probes.is_empty() {
        return;
    }
    let at = Instant::now();
    for p in probes {
        p.do_send(messages::msg::SignalProbe {
            stage,
            symbol: symbol.to_string(),
            candle_time,
            at,
        });
    }
}

/// The metrics of every actor of one engine.
#[derive(Clone)]
pub struct Registry {
    /// Only with `run`'s simulated feed: see [`Registry::sim_feed_started`].
    pub sim_feed: &'static ActorMetrics,
    sim_feed_running: &'static std::sync::atomic::AtomicBool,
    pub data_manager: &'static ActorMetrics,
    /// One per strategy instance (`strategy:NAME`), in instance order: see
    /// [`Registry::add_strategy`].
    pub strategies: Vec<&'static ActorMetrics>,
    pub signal_manager: &'static ActorMetrics,
    pub options_executor: &'static ActorMetrics,
    pub position_manager: &'static ActorMetrics,
    pub db_writer: &'static ActorMetrics,
    /// Only running with a broker connection (`--feed kite`): see [`Registry::broker_started`].
    pub broker: &'static ActorMetrics,
    broker_running: &'static std::sync::atomic::AtomicBool,
    /// The KiteTicker silence watch (`--feed kite` with `kite.ticker`).
    pub feed: &'static FeedCounters,
    /// Decisions, the book and the store (set by the actors that know them).
    pub trading: &'static Trading,
    /// Signals per strategy instance (one per [`Registry::add_strategy`]).
    pub signals: SignalCounts,
    /// Kite Connect calls, rate-limit waits and orders: the broker client's counters, once
    /// [`Registry::attach_kite`] is called (`--feed kite`).
    kite_api: &'static OnceLock<Arc<KiteApiCounters>>,
    /// Ticks per underlying, once [`Registry::set_symbols`] is called.
    ticks: &'static OnceLock<FeedTicks>,
    enabled: bool,
}

impl Registry {
    /// Fresh counters. They live as long as the process (one small set per engine started), so
    /// actors and senders hold plain `&'static` references: nothing to count per message.
    pub fn new(enabled: bool) -> Self {
        let m = |n| &*Box::leak(Box::new(ActorMetrics::new(n, enabled)));
        Registry {
            sim_feed: m("sim_feed"),
            sim_feed_running: Box::leak(Box::new(std::sync::atomic::AtomicBool::new(false))),
            data_manager: m("data_manager"),
            strategies: Vec::new(),
            signal_manager: m("signal_manager"),
            options_executor: m("options_executor"),
            position_manager: m("position_manager"),
            db_writer: m("db_writer"),
            broker: m("broker"),
            broker_running: Box::leak(Box::new(std::sync::atomic::AtomicBool::new(false))),
            feed: Box::leak(Box::default()),
            trading: Box::leak(Box::default()),
            signals: SignalCounts::default(),
            kite_api: Box::leak(Box::default()),
            ticks: Box::leak(Box::default()),
            enabled,
        }
    }

    /// The underlyings, in symbol id order, whose ticks [`Registry::ticks`] counts (the first
    /// call counts; every clone shares them).
    pub fn set_symbols(&self, names: Vec<String>) {
        let _ = self.ticks.set(FeedTicks::new(names));
    }

    /// The feed's tick counters, once the symbols are set.
    pub fn ticks(&self) -> Option<&'static FeedTicks> {
        self.ticks.get()
    }

    /// Exports the broker client's counters (the first call counts; every clone shares them).
    pub fn attach_kite(&self, c: Arc<KiteApiCounters>) {
        let _ = self.kite_api.set(c);
    }

    /// Counters for the strategy instance `name` (row `strategy:NAME`). Call before the
    /// registry is cloned for the actors, so that every clone lists it.
    pub fn add_strategy(&mut self, name: &str) -> &'static ActorMetrics {
        let label: &'static str = Box::leak(format!("strategy:{name}").into_boxed_str());
        let m: &'static ActorMetrics = Box::leak(Box::new(ActorMetrics::new(label, self.enabled)));
        self.strategies.push(m);
        self.signals.add(&label["strategy:".len()..]);
        m
    }

    /// The Broker actor runs: its metrics are reported from now on.
    pub fn broker_started(&self) {
        self.broker_running
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The simulated feed's actor runs (`run` without a broker): its metrics are reported from
    /// now on.
    pub fn sim_feed_started(&self) {
        self.sim_feed_running
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// All actors, pipeline order.
    pub fn all(&self) -> Vec<&'static ActorMetrics> {
        let mut v = vec![self.sim_feed, self.data_manager];
        v.extend(self.strategies.iter().copied());
        v.extend([
            self.signal_manager,
            self.options_executor,
            self.position_manager,
            self.db_writer,
            self.broker,
        ]);
        v
    }

    /// Snapshots of all running actors (the broker only with a broker connection, the
    /// simulated feed only when it runs).
    pub fn snapshot(&self) -> Vec<ActorSnapshot> {
        let on = |f: &std::sync::atomic::AtomicBool| f.load(std::sync::atomic::Ordering::Relaxed);
        let (broker, sim) = (on(self.broker_running), on(self.sim_feed_running));
        self.all()
            .iter()
            .filter(|m| broker || m.name != self.broker.name)
            .filter(|m| sim || m.name != self.sim_feed.name)
            .map(|m| m.snapshot())
            .collect()
    }

    /// The metrics of `name`.
    pub fn get(&self, name: &str) -> Option<&'static ActorMetrics> {
        self.all().into_iter().find(|m| m.name == name)
    }
}

/// An address whose sends are counted in the receiver's metrics.
pub struct Tracked<A: Actor> {
    addr: Addr<A>,
    m: &'static ActorMetrics,
}

impl<A: Actor> Clone for Tracked<A> {
    fn clone(&self) -> Self {
        Tracked {
            addr: self.addr.clone(),
            m: self.m,
        }
    }
}

impl<A: Actor> Tracked<A> {
    /// Wraps `addr` with the receiver's metrics.
    pub fn new(addr: Addr<A>, m: &'static ActorMetrics) -> Self {
        Tracked { addr, m }
    }

    /// The plain address. Its sends are not counted: wrap what is built from it (e.g. a
    /// [`TrackedRecipient`]) so that every message to the actor is.
    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// The receiver's metrics.
    pub fn metrics(&self) -> &'static ActorMetrics {
        self.m
    }

    /// A counted recipient of messages `M`.
    pub fn recipient<M>(&self) -> TrackedRecipient<M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        TrackedRecipient::new(self.addr.clone().recipient(), self.m)
    }

    /// `try_send`, counted when the message was queued.
    pub fn try_send<M>(&self, msg: M) -> Result<(), SendError<M>>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.m.on_send();
        let r = self.addr.try_send(msg);
        if r.is_err() {
            self.m.on_unsent();
        }
        r
    }

    /// `do_send`, counted.
    pub fn do_send<M>(&self, msg: M)
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.m.on_send();
        self.addr.do_send(msg);
    }

    /// `send`, counted.
    pub fn send<M>(&self, msg: M) -> actix::dev::Request<A, M>
    where
        M: Message + Send + 'static,
        M::Result: Send,
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        self.m.on_send();
        self.addr.send(msg)
    }
}

/// A recipient whose sends are counted in the receiver's metrics.
pub struct TrackedRecipient<M: Message + Send>
where
    M::Result: Send,
{
    r: Recipient<M>,
    m: &'static ActorMetrics,
}

impl<M: Message + Send> Clone for TrackedRecipient<M>
where
    M::Result: Send,
{
    fn clone(&self) -> Self {
        TrackedRecipient {
            r: self.r.clone(),
            m: self.m,
        }
    }
}

impl<M: Message + Send + 'static> TrackedRecipient<M>
where
    M::Result: Send,
{
    /// Wraps `r` with the receiver's metrics.
    pub fn new(r: Recipient<M>, m: &'static ActorMetrics) -> Self {
        TrackedRecipient { r, m }
    }

    /// `do_send`, counted.
    pub fn do_send(&self, msg: M) {
        self.m.on_send();
        self.r.do_send(msg);
    }

    /// `send`, counted.
    pub fn send(&self, msg: M) -> actix::dev::RecipientRequest<M> {
        self.m.on_send();
        self.r.send(msg)
    }
}

/// Shared handle for callers that need the registry.
pub type SharedRegistry = Arc<Registry>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_counters_in_status_and_prometheus() {
        let f = FeedCounters::default();
        let c = crate::kite::silence::Counts {
            resubscribes: 2,
            reconnects: 1,
            fallbacks: 1,
            retries: 3,
            recoveries: 0,
        };
        f.set(&c, 1);
        assert_eq!(
            f.to_json(),
            serde_json::json!({"resubscribes": 2, "reconnects": 1, "fallbacks": 1,
                "retries": 3, "recoveries": 0, "on_rest": 1})
        );
        let p = f.prometheus();
        assert!(p.contains("\n# TYPE alphastocks_kite_ticker_fallbacks_total counter\nalphastocks_kite_ticker_fallbacks_total 1\n"), "{p}");
        assert!(
            p.contains(
                "# TYPE alphastocks_kite_ticker_on_rest gauge\nalphastocks_kite_ticker_on_rest 1\n"
            ),
            "{p}"
        );
        assert!(
            p.contains("alphastocks_kite_ticker_retries_total 3\n"),
            "{p}"
        );
    }

    #[test]
    fn histogram_quantiles_within_an_eighth() {
        let h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.125, "{p50}");
        let p99 = h.quantile(0.99) as f64;
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.125, "{p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.count(), 1000);
        for v in [0u64, 1, 7, 8, 9, 1023, 1024, u64::MAX / 2] {
            assert!(bucket_floor(bucket_of(v)) <= v, "{v}");
        }
    }

    #[test]
    fn time_in_mailbox_of_the_sampled_messages() {
        let m = ActorMetrics::new("x", true);
        for _ in 0..130 {
            m.on_send();
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        for _ in 0..130 {
            let t = m.on_handle();
            m.on_done(t);
        }
        let s = m.snapshot();
        // Messages 0, 64 and 128 are sampled, on both sides.
        assert_eq!((s.latency_samples, s.mailbox_samples), (3, 3));
        // Each waited ≥ 2 ms: the maximum is exact, a quantile is its bucket's floor (within
        // an eighth below).
        assert!(s.mailbox_max_ns >= 2_000_000, "{s:?}");
        assert!(s.mailbox_p50_ns >= 2_000_000 * 7 / 8, "{s:?}");
        assert!(s.mailbox_max_ns >= s.mailbox_p99_ns && s.mailbox_p99_ns >= s.mailbox_p50_ns);
        let (latency, mailbox) = m.buckets();
        assert_eq!((latency.count, mailbox.count), (3, 3));
        let ms = prom::BOUNDS_NS
            .iter()
            .position(|&b| b == 1_000_000)
            .unwrap();
        assert_eq!(mailbox.cumulative[ms], 0, "all waited ≥ 2 ms: {mailbox:?}");
        assert!(mailbox.sum_ns >= 6_000_000);
    }

    struct Echo(&'static ActorMetrics);
    impl Actor for Echo {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "()")]
    struct Ping;
    impl Handler<Ping> for Echo {
        type Result = ();
        fn handle(&mut self, _: Ping, ctx: &mut Context<Self>) {
            crate::supervisor::guard(self.0, ctx, |_| ());
        }
    }

    #[actix_rt::test]
    async fn a_real_mailbox_is_timed_through_tracked_sends() {
        let m: &'static ActorMetrics = Box::leak(Box::new(ActorMetrics::new("echo", true)));
        let a = Tracked::new(Echo(m).start(), m);
        // Queued before the actor runs (same thread): they wait in the mailbox in order.
        for _ in 0..200 {
            a.do_send(Ping);
        }
        a.send(Ping).await.unwrap();
        let s = m.snapshot();
        assert_eq!((s.sent, s.handled), (201, 201));
        // Messages 0, 64, 128 and 192 were stamped at their send and read at their handler.
        assert_eq!(s.mailbox_samples, 4, "{s:?}");
        assert!(s.mailbox_max_ns > 0, "{s:?}");
    }

    #[test]
    fn depth_is_sent_minus_handled() {
        let m = ActorMetrics::new("x", true);
        for _ in 0..5 {
            m.on_send();
        }
        let t = m.on_handle();
        m.on_done(t);
        m.on_handle();
        let s = m.snapshot();
        assert_eq!((s.sent, s.handled, s.depth, s.max_depth), (5, 2, 3, 5));
        assert_eq!(s.latency_samples, 1, "the first of every 64 is timed");
        let p = prometheus(&[s]);
        assert!(
            p.contains("alphastocks_actor_mailbox_depth{actor=\"x\"} 3"),
            "{p}"
        );
        assert!(p.contains("# TYPE alphastocks_actor_messages_sent_total counter"));
    }
}
