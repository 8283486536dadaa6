//! The trading series: counters and gauges the actors that know them set, shared through the
//! [`super::Registry`] as atomics (no handler reads another actor's state, nothing waits at a
//! scrape), and their Prometheus lines.
//!
//! - [`Trading`]: the executor's decisions by outcome and reason (OptionsExecutor), the book —
//!   open positions, realized and unrealized P&L (PositionManager), the store's outbox and
//!   commits (DbWriter).
//! - [`SignalCounts`]: signals published per strategy instance (SignalManager).
//! - [`KiteApiCounters`]: Kite Connect calls and rate-limit waits by endpoint class, and the
//!   final status of the orders followed (the `KiteClient` owns them).
//! - [`FeedTicks`]: ticks per underlying and the time since the last one (the `run` loop).

use std::sync::atomic::{
    fence, AtomicI64, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use messages::{Outcome, RejectReason};

use super::prom::{Kind, Text};
use crate::kite::ratelimit::EndpointClass;

/// Decisions, the book and the store.
#[derive(Default)]
pub struct Trading {
    logged: AtomicU64,
    opened: AtomicU64,
    rejected: [AtomicU64; RejectReason::ALL.len()],
    /// A sequence lock over the book's figures (odd while PositionManager writes them), so a
    /// scrape reads one consistent book: open + closed = opened, total = realized + unrealized.
    book_seq: AtomicU64,
    open_positions: AtomicU64,
    positions_opened: AtomicU64,
    positions_closed: AtomicU64,
    realized_net_paise: AtomicI64,
    realized_gross_paise: AtomicI64,
    charges_paise: AtomicI64,
    unrealized_paise: AtomicI64,
    unrealized_net_paise: AtomicI64,
    outbox_pending: AtomicU64,
    store_connected: AtomicU64,
    store_pending_rows: AtomicU64,
    rows_committed: AtomicU64,
    commits: AtomicU64,
    failed_commits: AtomicU64,
}

/// The book's figures, as PositionManager knows them after each change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Book {
    pub open_positions: u64,
    pub opened: u64,
    pub closed: u64,
    /// Of the closed positions since start: net (less charges) and gross realized P&L, and the
    /// charges, paise.
    pub realized_net_paise: i64,
    pub realized_gross_paise: i64,
    pub charges_paise: i64,
    /// Of the open positions at their last marks: gross unrealized P&L, and net — what each
    /// has realized by partial exits plus its unrealized P&L, less the charges paid so far.
    pub unrealized_paise: i64,
    pub unrealized_net_paise: i64,
}

/// The store's state, as DbWriter last saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Store {
    pub connected: bool,
    pub outbox_pending: u64,
    pub pending_rows: u64,
    pub rows_committed: u64,
    pub commits: u64,
    pub failed_commits: u64,
}

impl Trading {
    /// The executor decided a signal.
    pub fn decision(&self, outcome: Outcome) {
        match outcome {
            Outcome::Logged => &self.logged,
            Outcome::Opened => &self.opened,
            Outcome::Rejected(r) => &self.rejected[r as usize],
        }
        // Release / Acquire: a scrape that sees a decision sees its signal's count too.
        .fetch_add(1, Release);
    }

    /// The book after a change (one writer: PositionManager).
    pub fn set_book(&self, b: &Book) {
        let v = self.book_seq.load(Relaxed);
        self.book_seq.store(v.wrapping_add(1), Relaxed);
        fence(Release);
        self.open_positions.store(b.open_positions, Relaxed);
        self.positions_opened.store(b.opened, Relaxed);
        self.positions_closed.store(b.closed, Relaxed);
        self.realized_net_paise.store(b.realized_net_paise, Relaxed);
        self.realized_gross_paise
            .store(b.realized_gross_paise, Relaxed);
        self.charges_paise.store(b.charges_paise, Relaxed);
        self.unrealized_paise.store(b.unrealized_paise, Relaxed);
        self.unrealized_net_paise
            .store(b.unrealized_net_paise, Relaxed);
        self.book_seq.store(v.wrapping_add(2), Release);
    }

    /// The book as last published, read consistently.
    pub fn book(&self) -> Book {
        loop {
            let v = self.book_seq.load(Acquire);
            let b = Book {
                open_positions: self.open_positions.load(Relaxed),
                opened: self.positions_opened.load(Relaxed),
                closed: self.positions_closed.load(Relaxed),
                realized_net_paise: self.realized_net_paise.load(Relaxed),
                realized_gross_paise: self.realized_gross_paise.load(Relaxed),
                charges_paise: self.charges_paise.load(Relaxed),
                unrealized_paise: self.unrealized_paise.load(Relaxed),
                unrealized_net_paise: self.unrealized_net_paise.load(Relaxed),
            };
            fence(Acquire);
            if v.is_multiple_of(2) && self.book_seq.load(Relaxed) == v {
                return b;
            }
            std::hint::spin_loop();
        }
    }

    /// The store's state.
    pub fn set_store(&self, s: &Store) {
        self.store_connected.store(s.connected as u64, Relaxed);
        self.outbox_pending.store(s.outbox_pending, Relaxed);
        self.store_pending_rows.store(s.pending_rows, Relaxed);
        self.rows_committed.store(s.rows_committed, Relaxed);
        self.commits.store(s.commits, Relaxed);
        self.failed_commits.store(s.failed_commits, Relaxed);
    }

    /// The decision and book series. The book is read first: a position is opened only after
    /// its decision was counted, so the decisions read afterwards include all its entries.
    pub fn prometheus(&self, t: &mut Text) {
        let b = self.book();
        let n = "alphastocks_executor_decisions_total";
        t.family(
            n,
            Kind::Counter,
            "Signals the executor decided, by outcome (logged, opened, rejected) and reject reason.",
        );
        t.sample(
            n,
            &[("outcome", "logged"), ("reason", "")],
            self.logged.load(Acquire) as f64,
        );
        t.sample(
            n,
            &[("outcome", "opened"), ("reason", "")],
            self.opened.load(Acquire) as f64,
        );
        for (r, c) in RejectReason::ALL.iter().zip(&self.rejected) {
            t.sample(
                n,
                &[("outcome", "rejected"), ("reason", r.as_str())],
                c.load(Acquire) as f64,
            );
        }
        let u = |a: &AtomicU64| a.load(Relaxed) as f64;
        let r = |p: i64| p as f64 / 100.0;
        for (name, kind, help, v) in [
            (
                "alphastocks_positions_open",
                Kind::Gauge,
                "Option positions open now.",
                b.open_positions as f64,
            ),
            (
                "alphastocks_positions_opened_total",
                Kind::Counter,
                "Option positions opened since start.",
                b.opened as f64,
            ),
            (
                "alphastocks_positions_closed_total",
                Kind::Counter,
                "Option positions closed since start.",
                b.closed as f64,
            ),
            (
                "alphastocks_pnl_realized_net_rupees",
                Kind::Gauge,
                "Net realized P&L (gross less charges) of the positions closed since start, rupees.",
                r(b.realized_net_paise),
            ),
            (
                "alphastocks_pnl_realized_gross_rupees",
                Kind::Gauge,
                "Gross realized P&L (before charges) of the positions closed since start, rupees.",
                r(b.realized_gross_paise),
            ),
            (
                "alphastocks_charges_rupees",
                Kind::Gauge,
                "Charges of the closed positions' fills since start, rupees.",
                r(b.charges_paise),
            ),
            (
                "alphastocks_pnl_unrealized_rupees",
                Kind::Gauge,
                "Unrealized P&L of the open positions at their last marks, rupees.",
                r(b.unrealized_paise),
            ),
            (
                "alphastocks_pnl_unrealized_net_rupees",
                Kind::Gauge,
                "Open positions at their last marks: partial exits' P&L plus unrealized P&L, less the charges paid so far, rupees.",
                r(b.unrealized_net_paise),
            ),
            (
                "alphastocks_store_connected",
                Kind::Gauge,
                "1 while the store's database of truth answers, else 0.",
                u(&self.store_connected),
            ),
            (
                "alphastocks_store_outbox_rows",
                Kind::Gauge,
                "Rows accepted and waiting in the local outbox for the database of truth.",
                u(&self.outbox_pending),
            ),
            (
                "alphastocks_store_pending_rows",
                Kind::Gauge,
                "Rows accepted by DbWriter and not yet committed.",
                u(&self.store_pending_rows),
            ),
            (
                "alphastocks_store_rows_committed_total",
                Kind::Counter,
                "Rows committed to the store.",
                u(&self.rows_committed),
            ),
            (
                "alphastocks_store_commits_total",
                Kind::Counter,
                "Store commits (transactions).",
                u(&self.commits),
            ),
            (
                "alphastocks_store_failed_commits_total",
                Kind::Counter,
                "Store commits that failed (their rows stay pending and are retried).",
                u(&self.failed_commits),
            ),
        ] {
            t.family(name, kind, help).sample(name, &[], v);
        }
    }
}

/// Signals published per strategy instance (names in config order).
#[derive(Clone, Default)]
pub struct SignalCounts(Vec<(&'static str, &'static AtomicU64)>);

impl SignalCounts {
    /// A counter for instance `name`.
    pub fn add(&mut self, name: &'static str) {
        self.0.push((name, Box::leak(Box::new(AtomicU64::new(0)))));
    }

    /// A signal of instance `strategy` was published (a name not configured is not counted).
    pub fn count(&self, strategy: &str) {
        if let Some((_, c)) = self.0.iter().find(|(n, _)| *n == strategy) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// The signals of `strategy` so far.
    pub fn get(&self, strategy: &str) -> Option<u64> {
        self.0
            .iter()
            .find(|(n, _)| *n == strategy)
            .map(|(_, c)| c.load(Relaxed))
    }

    /// The `alphastocks_signals_total` family.
    pub fn prometheus(&self, t: &mut Text) {
        let n = "alphastocks_signals_total";
        t.family(
            n,
            Kind::Counter,
            "Signals published (stored, then sent to the executor), by strategy instance.",
        );
        for (s, c) in &self.0 {
            t.sample(n, &[("strategy", s)], c.load(Relaxed) as f64);
        }
    }
}

const CLASSES: [(EndpointClass, &str); 4] = [
    (EndpointClass::Quote, "quote"),
    (EndpointClass::Historical, "historical"),
    (EndpointClass::Order, "order"),
    (EndpointClass::Other, "other"),
];

fn class_index(c: EndpointClass) -> usize {
    match c {
        EndpointClass::Quote => 0,
        EndpointClass::Historical => 1,
        EndpointClass::Order => 2,
        EndpointClass::Other => 3,
    }
}

/// The final states an order followed by the engine is counted under.
pub const ORDER_STATUSES: [&str; 5] = ["complete", "cancelled", "rejected", "open", "failed"];

/// Kite Connect calls and rate-limit waits by endpoint class, and the orders' final states.
#[derive(Debug, Default)]
pub struct KiteApiCounters {
    ok: [AtomicU64; 4],
    errors: [AtomicU64; 4],
    waits: [AtomicU64; 4],
    wait_ns: [AtomicU64; 4],
    orders: [AtomicU64; ORDER_STATUSES.len()],
}

impl KiteApiCounters {
    /// One HTTP request to `class` answered (`ok`: a 2xx).
    pub fn call(&self, class: EndpointClass, ok: bool) {
        let i = class_index(class);
        if ok { &self.ok[i] } else { &self.errors[i] }.fetch_add(1, Relaxed);
    }

    /// A request to `class` waited `d` for the client-side rate limit.
    pub fn waited(&self, class: EndpointClass, d: Duration) {
        if !d.is_zero() {
            let i = class_index(class);
            self.waits[i].fetch_add(1, Relaxed);
            self.wait_ns[i].fetch_add(d.as_nanos() as u64, Relaxed);
        }
    }

    /// An order followed to its end with Kite's `status` (`COMPLETE`, `CANCELLED`, `REJECTED`;
    /// anything else is counted as still `open`).
    pub fn order_final(&self, status: &str) {
        let s = status.to_ascii_lowercase();
        let i = ORDER_STATUSES
            .iter()
            .position(|x| *x == s.as_str())
            .unwrap_or(3);
        self.orders[i].fetch_add(1, Relaxed);
    }

    /// An order that could not be placed.
    pub fn order_failed(&self) {
        self.orders[4].fetch_add(1, Relaxed);
    }

    /// Calls to `class` so far: (answered 2xx, failed).
    pub fn calls(&self, class: EndpointClass) -> (u64, u64) {
        let i = class_index(class);
        (self.ok[i].load(Relaxed), self.errors[i].load(Relaxed))
    }

    /// Requests to `class` that waited for the rate limit, and how long in all.
    pub fn waits(&self, class: EndpointClass) -> (u64, Duration) {
        let i = class_index(class);
        (
            self.waits[i].load(Relaxed),
            Duration::from_nanos(self.wait_ns[i].load(Relaxed)),
        )
    }

    /// Orders counted under `status` (one of [`ORDER_STATUSES`]).
    pub fn orders(&self, status: &str) -> u64 {
        ORDER_STATUSES
            .iter()
            .position(|s| *s == status)
            .map_or(0, |i| self.orders[i].load(Relaxed))
    }

    /// The Kite series.
    pub fn prometheus(&self, t: &mut Text) {
        let n = "alphastocks_kite_api_calls_total";
        t.family(
            n,
            Kind::Counter,
            "Kite Connect HTTP requests by endpoint class and result (ok: 2xx; error: anything else, a timeout or no connection).",
        );
        for (i, (_, e)) in CLASSES.iter().enumerate() {
            for (result, c) in [("ok", &self.ok[i]), ("error", &self.errors[i])] {
                t.sample(
                    n,
                    &[("endpoint", e), ("result", result)],
                    c.load(Relaxed) as f64,
                );
            }
        }
        let n = "alphastocks_kite_rate_limit_waits_total";
        t.family(
            n,
            Kind::Counter,
            "Kite Connect requests that waited for the client-side rate limit, by endpoint class.",
        );
        for (i, (_, e)) in CLASSES.iter().enumerate() {
            t.sample(n, &[("endpoint", e)], self.waits[i].load(Relaxed) as f64);
        }
        let n = "alphastocks_kite_rate_limit_wait_seconds_total";
        t.family(
            n,
            Kind::Counter,
            "Time Kite Connect requests waited for the client-side rate limit, by endpoint class.",
        );
        for (i, (_, e)) in CLASSES.iter().enumerate() {
            t.sample(
                n,
                &[("endpoint", e)],
                self.wait_ns[i].load(Relaxed) as f64 / 1e9,
            );
        }
        let n = "alphastocks_orders_total";
        t.family(
            n,
            Kind::Counter,
            "Broker orders followed to their end, by final status (failed: could not be placed; open: still open after the cancel).",
        );
        for (s, c) in ORDER_STATUSES.iter().zip(&self.orders) {
            t.sample(n, &[("status", s)], c.load(Relaxed) as f64);
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Ticks per underlying (by symbol id) and when the last one arrived (wall clock).
pub struct FeedTicks {
    names: Vec<String>,
    ticks: Box<[AtomicU64]>,
    /// Unix milliseconds of the last tick; 0: none yet.
    last_ms: Box<[AtomicU64]>,
    started_ms: u64,
}

impl FeedTicks {
    /// Counters for the underlyings `names` (in symbol id order).
    pub fn new(names: Vec<String>) -> Self {
        let n = names.len();
        FeedTicks {
            names,
            ticks: (0..n).map(|_| AtomicU64::new(0)).collect(),
            last_ms: (0..n).map(|_| AtomicU64::new(0)).collect(),
            started_ms: unix_ms(SystemTime::now()),
        }
    }

    /// A tick of symbol id `symbol` arrived at `now` (an unknown id is ignored).
    #[inline]
    pub fn tick(&self, symbol: usize, now: SystemTime) {
        if let (Some(c), Some(l)) = (self.ticks.get(symbol), self.last_ms.get(symbol)) {
            c.fetch_add(1, Relaxed);
            l.store(unix_ms(now), Relaxed);
        }
    }

    /// Ticks of symbol id `symbol` so far.
    pub fn ticks(&self, symbol: usize) -> u64 {
        self.ticks.get(symbol).map_or(0, |c| c.load(Relaxed))
    }

    /// The feed series at `now`.
    pub fn prometheus(&self, t: &mut Text, now: SystemTime) {
        let now_ms = unix_ms(now);
        let n = "alphastocks_feed_ticks_total";
        t.family(n, Kind::Counter, "Market ticks received, by underlying.");
        for (name, c) in self.names.iter().zip(self.ticks.iter()) {
            t.sample(n, &[("symbol", name)], c.load(Relaxed) as f64);
        }
        let n = "alphastocks_feed_silence_seconds";
        t.family(
            n,
            Kind::Gauge,
            "Seconds since the underlying's last tick (since the engine started when none came yet).",
        );
        for (name, l) in self.names.iter().zip(self.last_ms.iter()) {
            let last = match l.load(Relaxed) {
                0 => self.started_ms,
                ms => ms,
            };
            t.sample(
                n,
                &[("symbol", name)],
                now_ms.saturating_sub(last) as f64 / 1000.0,
            );
        }
        let n = "alphastocks_feed_last_tick_timestamp_seconds";
        t.family(
            n,
            Kind::Gauge,
            "Unix time of the underlying's last tick (absent until one came).",
        );
        for (name, l) in self.names.iter().zip(self.last_ms.iter()) {
            let ms = l.load(Relaxed);
            if ms > 0 {
                t.sample(n, &[("symbol", name)], ms as f64 / 1000.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_reasons_index_their_counters() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        // The last variant is the last entry: a reason added at the end must be listed.
        assert_eq!(
            RejectReason::DailyProfitLock as usize,
            RejectReason::ALL.len() - 1
        );
        let names: std::collections::HashSet<_> =
            RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), RejectReason::ALL.len());
    }

    #[test]
    fn decisions_book_and_store_in_the_exposition() {
        let tr = Trading::default();
        tr.decision(Outcome::Opened);
        tr.decision(Outcome::Rejected(RejectReason::WeakSignal));
        tr.decision(Outcome::Rejected(RejectReason::WeakSignal));
        tr.set_book(&Book {
            open_positions: 2,
            opened: 5,
            closed: 3,
            realized_net_paise: -12_345,
            realized_gross_paise: 10_000,
            charges_paise: 22_345,
            unrealized_paise: 150,
            unrealized_net_paise: -5,
        });
        tr.set_store(&Store {
            connected: true,
            outbox_pending: 7,
            ..Default::default()
        });
        assert_eq!(tr.book().realized_net_paise, -12_345);
        let mut t = Text::default();
        tr.prometheus(&mut t);
        let s = t.finish();
        for line in [
            "alphastocks_executor_decisions_total{outcome=\"opened\",reason=\"\"} 1\n",
            "alphastocks_executor_decisions_total{outcome=\"rejected\",reason=\"weak_signal\"} 2\n",
            "alphastocks_executor_decisions_total{outcome=\"rejected\",reason=\"daily_profit_lock\"} 0\n",
            "alphastocks_positions_open 2\n",
            "alphastocks_pnl_realized_net_rupees -123.45\n",
            "alphastocks_pnl_unrealized_net_rupees -0.05\n",
            "alphastocks_store_outbox_rows 7\n",
            "alphastocks_store_connected 1\n",
        ] {
            assert!(s.contains(line), "{line} in\n{s}");
        }
    }

    #[test]
    fn kite_calls_waits_and_orders() {
        let k = KiteApiCounters::default();
        k.call(EndpointClass::Quote, true);
        k.call(EndpointClass::Quote, false);
        k.waited(EndpointClass::Historical, Duration::from_millis(250));
        k.waited(EndpointClass::Historical, Duration::ZERO);
        k.order_final("COMPLETE");
        k.order_final("TRIGGER PENDING");
        k.order_failed();
        let mut t = Text::default();
        k.prometheus(&mut t);
        let s = t.finish();
        for line in [
            "alphastocks_kite_api_calls_total{endpoint=\"quote\",result=\"ok\"} 1\n",
            "alphastocks_kite_api_calls_total{endpoint=\"quote\",result=\"error\"} 1\n",
            "alphastocks_kite_rate_limit_waits_total{endpoint=\"historical\"} 1\n",
            "alphastocks_kite_rate_limit_wait_seconds_total{endpoint=\"historical\"} 0.25\n",
            "alphastocks_orders_total{status=\"complete\"} 1\n",
            "alphastocks_orders_total{status=\"open\"} 1\n",
            "alphastocks_orders_total{status=\"failed\"} 1\n",
        ] {
            assert!(s.contains(line), "{line} in\n{s}");
        }
    }

    #[test]
    fn feed_ticks_and_silence() {
        let f = FeedTicks::new(vec!["NIFTY".into(), "BANKNIFTY".into()]);
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        f.tick(0, t0);
        f.tick(0, t0);
        f.tick(9, t0); // not a symbol: ignored
        let mut t = Text::default();
        f.prometheus(&mut t, t0 + Duration::from_millis(2_500));
        let s = t.finish();
        assert!(
            s.contains("alphastocks_feed_ticks_total{symbol=\"NIFTY\"} 2\n"),
            "{s}"
        );
        assert!(s.contains("alphastocks_feed_ticks_total{symbol=\"BANKNIFTY\"} 0\n"));
        assert!(s.contains("alphastocks_feed_silence_seconds{symbol=\"NIFTY\"} 2.5\n"));
        assert!(s.contains(
            "alphastocks_feed_last_tick_timestamp_seconds{symbol=\"NIFTY\"} 1700000000\n"
        ));
        assert!(!s.contains("alphastocks_feed_last_tick_timestamp_seconds{symbol=\"BANKNIFTY\"}"));
    }
}
