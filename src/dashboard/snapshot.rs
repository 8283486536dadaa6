//! The dashboard's snapshot: what the page shows, as one JSON object, built from the
//! ControlActor's status, the mailbox metrics, the open positions and the events the
//! dashboard was sent (signals, decisions, alarms). Pure: no actor, no I/O.

use std::collections::VecDeque;
use std::sync::Arc;

use actors::metrics::ActorSnapshot;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use messages::{Alarm, ExecutorDecision, PositionRecord, Signal};
use serde_json::{json, Value};

/// Signals, decisions and alarms kept (the newest).
pub const KEEP: usize = 50;

/// Points kept of the day's equity curve; beyond, every other point is dropped (the curve
/// keeps its shape at half the resolution).
pub const CURVE_POINTS: usize = 1024;

/// IST, the exchange's time.
fn ist() -> FixedOffset {
    FixedOffset::east_opt(19_800).unwrap_or_else(|| FixedOffset::east_opt(0).expect("UTC"))
}

/// The newest events, each list capped at [`KEEP`].
#[derive(Default)]
pub struct Recent {
    signals: VecDeque<Arc<Signal>>,
    decisions: VecDeque<Arc<ExecutorDecision>>,
    alarms: VecDeque<Alarm>,
}

fn push_capped<T>(q: &mut VecDeque<T>, v: T) {
    if q.len() == KEEP {
        q.pop_front();
    }
    q.push_back(v);
}

impl Recent {
    pub fn signal(&mut self, s: Arc<Signal>) {
        push_capped(&mut self.signals, s);
    }

    pub fn decision(&mut self, d: Arc<ExecutorDecision>) {
        push_capped(&mut self.decisions, d);
    }

    pub fn alarm(&mut self, a: Alarm) {
        push_capped(&mut self.alarms, a);
    }
}

/// The open positions' net P&L: each one's mark P&L plus what it realized, less every charge
/// so far (its row's "net P&L").
pub fn open_net(positions: &[PositionRecord]) -> f64 {
    round2(positions.iter().map(|p| p.unrealized_pnl + p.net_pnl).sum())
}

/// The day's net: the day's realized net P&L (from `status`) plus the open positions' net when
/// they are known (the rows the page shows), else `status`'s unrealized P&L.
pub fn day_net(status: &Value, positions: Option<&[PositionRecord]>) -> Option<f64> {
    let realized = status.get("day_realized_pnl").and_then(Value::as_f64)?;
    let open = match positions {
        Some(ps) => open_net(ps),
        None => status.get("unrealized_pnl").and_then(Value::as_f64)?,
    };
    Some(round2(realized + open))
}

/// The day's equity: net realized P&L of the trading day plus the open positions' net, one
/// point per data time; a new IST day starts a new curve.
#[derive(Default)]
pub struct EquityCurve {
    day: Option<NaiveDate>,
    points: Vec<(i64, f64)>,
}

impl EquityCurve {
    /// The equity `value` (rupees) at data time `t` (Unix seconds). A time before the last
    /// point is ignored, the same time replaces it; a non-finite value is ignored.
    pub fn observe(&mut self, t: i64, value: f64) {
        if !value.is_finite() {
            return;
        }
        let Some(day) =
            DateTime::from_timestamp(t, 0).map(|d| d.with_timezone(&ist()).date_naive())
        else {
            return;
        };
        if self.day != Some(day) {
            if self.day.is_some_and(|d| d > day) {
                return;
            }
            self.day = Some(day);
            self.points.clear();
        }
        match self.points.last_mut() {
            Some(last) if last.0 > t => return,
            Some(last) if last.0 == t => {
                last.1 = value;
                return;
            }
            _ => {}
        }
        if self.points.len() >= CURVE_POINTS {
            // Halve: keep every other point and always the newest.
            let last = self.points.last().copied();
            let mut i = 0;
            self.points.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            if let Some(l) = last {
                if self.points.last() != Some(&l) {
                    self.points.push(l);
                }
            }
        }
        self.points.push((t, value));
    }

    pub fn day(&self) -> Option<NaiveDate> {
        self.day
    }

    pub fn points(&self) -> &[(i64, f64)] {
        &self.points
    }
}

/// Messages handled per second since the previous look, per actor.
#[derive(Default)]
pub struct Rates {
    prev: Vec<(&'static str, u64)>,
}

impl Rates {
    /// Each actor's rate over `secs` seconds since the last call (0 at the first look, or
    /// when `secs` is not positive); remembers the counts for the next.
    pub fn update(&mut self, snaps: &[ActorSnapshot], secs: f64) -> Vec<f64> {
        let rates = snaps
            .iter()
            .map(|s| {
                let before = self
                    .prev
                    .iter()
                    .find(|(a, _)| *a == s.actor)
                    .map(|(_, h)| *h);
                rate(before, s.handled, secs)
            })
            .collect();
        self.prev = snaps.iter().map(|s| (s.actor, s.handled)).collect();
        rates
    }
}

/// `now − before` per second over `secs` (a restart of the counter reads 0).
pub fn rate(before: Option<u64>, now: u64, secs: f64) -> f64 {
    match before {
        Some(b) if secs > 0.0 && secs.is_finite() => now.saturating_sub(b) as f64 / secs,
        _ => 0.0,
    }
}

/// What one snapshot is built from.
pub struct Inputs<'a> {
    /// The ControlActor's status (what `ctl status` shows).
    pub status: &'a Value,
    pub actors: &'a [ActorSnapshot],
    /// Messages/s per actor, in `actors`' order.
    pub rates: &'a [f64],
    /// The open positions (`ctl positions`); `None` when PositionManager did not answer.
    pub positions: Option<&'a [PositionRecord]>,
    pub recent: &'a Recent,
    pub curve: &'a EquityCurve,
    /// Wall-clock time of the snapshot.
    pub at: DateTime<Utc>,
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The snapshot as JSON (the `/snapshot` body and each Server-Sent Event's data).
pub fn build(i: &Inputs) -> Value {
    let st = i.status;
    let get = |k: &str| st.get(k).cloned().unwrap_or(Value::Null);
    let actors: Vec<Value> = i
        .actors
        .iter()
        .zip(i.rates.iter().copied().chain(std::iter::repeat(0.0)))
        .map(|(a, r)| {
            json!({
                "actor": a.actor,
                "depth": a.depth,
                "max_depth": a.max_depth,
                "per_second": (r * 10.0).round() / 10.0,
                "p50_ms": ms(a.latency_p50_ns),
                "p99_ms": ms(a.latency_p99_ns),
                // Handlers timed (one in 64): none yet, no latency to show.
                "latency_samples": a.latency_samples,
                "handled": a.handled,
                "restarts": a.restarts,
                "dropped": a.dropped,
                "last_error": a.last_error,
            })
        })
        .collect();
    let kind = st.get("feed").and_then(Value::as_str).unwrap_or("unknown");
    // The simulated market is in the process; the broker's feed is up while its token is.
    let connected = match kind {
        "simulated" => true,
        _ => st
            .pointer("/kite_token/state")
            .and_then(Value::as_str)
            .is_some_and(|s| s != "rejected"),
    };
    let prices = st.get("last_prices").and_then(Value::as_object);
    let ticks = st.get("last_ticks").and_then(Value::as_object);
    let mut symbols: Vec<&String> = prices.iter().flat_map(|m| m.keys()).collect();
    for k in ticks.iter().flat_map(|m| m.keys()) {
        if !symbols.contains(&k) {
            symbols.push(k);
        }
    }
    let feed_symbols: Vec<Value> = symbols
        .iter()
        .map(|s| {
            json!({
                "symbol": s,
                "last_price": prices.and_then(|m| m.get(*s)).cloned().unwrap_or(Value::Null),
                "last_tick": ticks.and_then(|m| m.get(*s)).cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let positions: Option<Vec<Value>> = i.positions.map(|ps| {
        ps.iter()
            .map(|p| {
                json!({
                    "position_id": p.position_id,
                    "symbol": p.symbol,
                    "option_symbol": p.option_symbol,
                    "strategy": p.strategy,
                    "mode": p.mode.as_str(),
                    "quantity": if p.remaining_quantity > 0 { p.remaining_quantity } else { p.quantity },
                    "entry_time": p.entry_time.with_timezone(&ist()).to_rfc3339(),
                    "entry": p.entry_premium,
                    "mark": p.current_premium,
                    "stop": p.stop_loss_premium,
                    "target": p.target_premium,
                    "unrealized": p.unrealized_pnl,
                    // The mark's P&L plus what is realized, less every charge so far.
                    "net_pnl": round2(p.unrealized_pnl + p.net_pnl),
                })
            })
            .collect()
    });
    let day_net = day_net(st, i.positions);
    let open = i.positions.map(open_net);
    json!({
        "at": i.at.with_timezone(&ist()).to_rfc3339(),
        "state": {
            "mode": get("mode"),
            "trading": get("trading"),
            "paused": get("paused"),
            "halted": get("halted"),
            "uptime_secs": get("uptime_secs"),
            "daily_caps": get("daily_caps"),
        },
        "feed": {
            "kind": kind,
            "connected": connected,
            "data_time": get("data_time"),
            "symbols": feed_symbols,
            "kite_token": get("kite_token"),
            "kite_ticker": get("kite_ticker"),
        },
        "storage": get("storage"),
        "actors": actors,
        "positions": positions,
        "pnl": {
            "day_realized": get("day_realized_pnl"),
            "day_charges": get("day_charges"),
            "unrealized": get("unrealized_pnl"),
            "open_net": open,
            "day_net": day_net,
            "realized_total": get("realized_pnl"),
            "open_positions": get("open_positions"),
        },
        "equity": {
            "day": i.curve.day().map(|d| d.to_string()),
            "points": i.curve.points(),
        },
        "strategies": get("strategies"),
        "warming_up": get("warming_up"),
        "signals": i.recent.signals.iter().rev().map(|s| json!({
            "time": s.timestamp.with_timezone(&ist()).to_rfc3339(),
            "symbol": s.symbol,
            "strategy": s.strategy,
            "action": s.action.as_str(),
            "price": s.price,
            "confidence": s.confidence,
            "signal_id": s.signal_id,
        })).collect::<Vec<_>>(),
        "decisions": i.recent.decisions.iter().rev().map(|d| {
            let (outcome, reason) = match d.outcome {
                messages::Outcome::Logged => ("logged", None),
                messages::Outcome::Opened => ("opened", None),
                messages::Outcome::Rejected(r) => ("rejected", Some(r.as_str())),
            };
            json!({
                "time": d.decided_at.with_timezone(&ist()).to_rfc3339(),
                "symbol": d.symbol,
                "strategy": d.strategy,
                "mode": d.mode.as_str(),
                "outcome": outcome,
                "reason": reason,
                "detail": d.detail,
                "signal_id": d.signal_id,
            })
        }).collect::<Vec<_>>(),
        "alarms": i.recent.alarms.iter().rev().map(|a| {
            let mut v = json!({
                "time": a.at.with_timezone(&ist()).to_rfc3339(),
                "kind": a.kind,
                "severity": a.severity.as_str(),
                "message": a.message,
            });
            for (k, f) in a.fields() {
                v[k] = json!(f);
            }
            v
        }).collect::<Vec<_>>(),
    })
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use messages::{AlarmKind, Mode, Outcome, RejectReason};

    fn day(d: u32, hh: u32) -> i64 {
        // IST 2024-03-0d hh:00 as Unix seconds.
        chrono::NaiveDate::from_ymd_opt(2024, 3, d)
            .unwrap()
            .and_hms_opt(hh, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
            - 19_800
    }

    #[test]
    fn the_curve_keeps_one_ist_day_in_time_order() {
        let mut c = EquityCurve::default();
        c.observe(day(4, 10), 0.0);
        c.observe(day(4, 11), 150.5);
        c.observe(day(4, 11), 140.0); // same time: replaced
        c.observe(day(4, 10), 999.0); // older: ignored
        c.observe(day(4, 12), f64::NAN); // not a number: ignored
        assert_eq!(c.points(), &[(day(4, 10), 0.0), (day(4, 11), 140.0)]);
        assert_eq!(c.day().unwrap().to_string(), "2024-03-04");
        // 00:30 IST on the 5th is still the 4th in UTC: the IST day decides.
        c.observe(day(5, 0) + 1800, -20.0);
        assert_eq!(c.day().unwrap().to_string(), "2024-03-05");
        assert_eq!(c.points(), &[(day(5, 0) + 1800, -20.0)]);
        c.observe(day(4, 15), 1.0); // a day before the curve's: ignored
        assert_eq!(c.points().len(), 1);
    }

    #[test]
    fn a_full_curve_halves_and_keeps_the_newest_point() {
        let mut c = EquityCurve::default();
        let t0 = day(4, 9);
        for k in 0..(CURVE_POINTS as i64 * 3) {
            c.observe(t0 + k, k as f64);
        }
        let p = c.points();
        assert!(
            p.len() <= CURVE_POINTS && p.len() > CURVE_POINTS / 2,
            "{}",
            p.len()
        );
        assert_eq!(p.first().unwrap().0, t0);
        assert_eq!(
            p.last().unwrap(),
            &(
                t0 + CURVE_POINTS as i64 * 3 - 1,
                (CURVE_POINTS * 3 - 1) as f64
            )
        );
        assert!(p.windows(2).all(|w| w[0].0 < w[1].0));
    }

    fn snap(actor: &'static str, handled: u64) -> ActorSnapshot {
        ActorSnapshot {
            actor,
            sent: handled + 3,
            handled,
            depth: 3,
            max_depth: 9,
            latency_p50_ns: 1_500_000,
            latency_p99_ns: 20_000_000,
            latency_max_ns: 30_000_000,
            latency_samples: 5,
            mailbox_p50_ns: 200_000,
            mailbox_p99_ns: 4_000_000,
            mailbox_max_ns: 9_000_000,
            mailbox_samples: 5,
            restarts: 2,
            dropped: 0,
            last_error: Some("boom".into()),
        }
    }

    #[test]
    fn rates_are_per_second_since_the_last_look() {
        let mut r = Rates::default();
        assert_eq!(
            r.update(&[snap("a", 10), snap("b", 5)], 1.0),
            vec![0.0, 0.0]
        );
        assert_eq!(
            r.update(&[snap("a", 30), snap("b", 5)], 2.0),
            vec![10.0, 0.0]
        );
        // A counter that went back (a new engine) and a zero interval read 0.
        assert_eq!(r.update(&[snap("a", 1), snap("c", 7)], 1.0), vec![0.0, 0.0]);
        assert_eq!(rate(Some(1), 9, 0.0), 0.0);
        assert_eq!(rate(Some(1), 9, f64::INFINITY), 0.0);
    }

    fn position() -> PositionRecord {
        serde_json::from_value(json!({
            "position_id": "00000000-0000-0000-0000-000000000001",
            "version": 1, "signal_id": "00000000-0000-0000-0000-000000000002",
            "symbol": "NIFTY", "option_symbol": "NIFTY24MAR22000CE", "strike": 22000.0,
            "option_type": "CE", "expiry": "2024-03-07", "mode": "paper", "status": "OPEN",
            "lots": 1, "lot_size": 75, "quantity": 75, "remaining_quantity": 75,
            "entry_time": "2024-03-04T04:00:00Z", "entry_premium": 100.0,
            "stop_loss_premium": 70.0, "target_premium": 160.0, "current_premium": 110.0,
            "unrealized_pnl": 750.0, "exit_time": null, "exit_premium": 0.0, "exit_reason": "",
            "realized_pnl": 0.0, "updated_at": "2024-03-04T04:05:00Z", "strategy": "ma_crossover",
            "charges": {"brokerage": 2000, "stt": 0, "exchange_txn": 0, "sebi": 0, "stamp_duty": 0, "gst": 360, "total": 2360},
            "net_pnl": -23.6
        }))
        .unwrap()
    }

    #[test]
    fn the_snapshot_carries_state_feed_actors_positions_pnl_and_events() {
        let status = json!({
            "mode": "paper", "feed": "simulated", "trading": "paused", "paused": true,
            "halted": false, "uptime_secs": 12,
            "data_time": "2024-03-04T11:00:00+05:30",
            "last_prices": {"NIFTY": 22010.5}, "last_ticks": {"NIFTY": "2024-03-04T11:00:00+05:30"},
            "day_realized_pnl": 1200.25, "unrealized_pnl": 750.0, "realized_pnl": 5000.0,
            "open_positions": 1,
        });
        let mut recent = Recent::default();
        let sig: Signal = serde_json::from_value(json!({
            "signal_id": "00000000-0000-0000-0000-000000000002",
            "timestamp": "2024-03-04T05:30:00Z", "symbol": "NIFTY", "strategy": "ma_crossover",
            "action": "BUY", "price": 22000.0, "stop_loss": 21900.0, "target": 22300.0,
            "confidence": 0.8, "expected_move_pct": 1.4,
            "metadata": {"candle_time": "2024-03-04T05:15:00Z", "ema_fast": 1.0, "ema_slow": 1.0}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..(KEEP + 5) {
            recent.signal(Arc::new(sig.clone()));
        }
        recent.decision(Arc::new(ExecutorDecision {
            signal_id: sig.signal_id,
            decided_at: sig.timestamp,
            symbol: "NIFTY".into(),
            mode: Mode::Paper,
            outcome: Outcome::Rejected(RejectReason::MaxPositions),
            underlying_price: 22000.0,
            detail: "3 open".into(),
            strategy: "ma_crossover".into(),
            signal_time: 0,
        }));
        recent.alarm(Alarm::new(AlarmKind::FeedSilent, "no tick").symbol("NIFTY"));
        let mut curve = EquityCurve::default();
        curve.observe(day(4, 11), 1950.25);
        let actors = [snap("data_manager", 40)];
        let ps = [position()];
        let v = build(&Inputs {
            status: &status,
            actors: &actors,
            rates: &[12.34],
            positions: Some(&ps),
            recent: &recent,
            curve: &curve,
            at: DateTime::from_timestamp(day(4, 11), 0).unwrap(),
        });
        assert_eq!(v["state"]["trading"], "paused");
        assert_eq!(v["state"]["paused"], true);
        assert_eq!(v["state"]["mode"], "paper");
        assert_eq!(v["feed"]["connected"], true);
        assert_eq!(v["feed"]["symbols"][0]["symbol"], "NIFTY");
        assert_eq!(v["feed"]["symbols"][0]["last_price"], 22010.5);
        assert_eq!(v["actors"][0]["per_second"], 12.3);
        assert_eq!(v["actors"][0]["p50_ms"], 1.5);
        assert_eq!(v["actors"][0]["p99_ms"], 20.0);
        assert_eq!(v["actors"][0]["latency_samples"], 5);
        assert_eq!(v["actors"][0]["max_depth"], 9);
        assert_eq!(v["actors"][0]["last_error"], "boom");
        assert_eq!(v["positions"][0]["mark"], 110.0);
        assert_eq!(v["positions"][0]["net_pnl"], 726.4);
        // Realized 1200.25 plus the open position's net (750 − 23.60), as its row shows.
        assert_eq!(v["pnl"]["open_net"], 726.4);
        assert_eq!(v["pnl"]["day_net"], 1926.65);
        assert_eq!(v["equity"]["points"][0][1], 1950.25);
        assert_eq!(v["equity"]["day"], "2024-03-04");
        assert_eq!(v["signals"].as_array().unwrap().len(), KEEP);
        assert_eq!(v["signals"][0]["action"], "BUY");
        assert_eq!(v["decisions"][0]["outcome"], "rejected");
        assert_eq!(v["decisions"][0]["reason"], "max_positions");
        assert_eq!(v["decisions"][0]["detail"], "3 open");
        assert_eq!(v["alarms"][0]["kind"], "feed_silent");
        assert_eq!(v["alarms"][0]["symbol"], "NIFTY");

        // The broker's feed is down while its token is refused; unknown parts are null.
        let kite = json!({"feed": "kite", "kite_token": {"state": "rejected"}});
        let v = build(&Inputs {
            status: &kite,
            actors: &[],
            rates: &[],
            positions: None,
            recent: &Recent::default(),
            curve: &EquityCurve::default(),
            at: Utc::now(),
        });
        assert_eq!(v["feed"]["connected"], false);
        assert_eq!(v["positions"], Value::Null);
        assert_eq!(v["pnl"]["day_net"], Value::Null);
    }
}
