//! The rules of one paper position: marking to the premium, exits, and P&L in paise.
//!
//! On each mark, in this order (the first that applies acts):
//! 1. premium ≤ stop → `STOP_LOSS_HIT` (`TRAILING_STOP` once the stop was raised);
//! 2. premium ≥ target → `TARGET_REACHED`;
//! 3. less than `exit_before_expiry` to the expiry's 15:30 close → `EXPIRY_APPROACHING`;
//! 4. held longer than `max_hold` → `TIME_LIMIT`;
//! 5. partial booking (once, whole lots, keeping at least one lot) → `PARTIAL_BOOKING`;
//! 6. the trailing stop ratchets up (never down).
//!
//! Sells fill at the premium minus the slippage (on the tick, at least one tick). Realized
//! P&L = Σ (sell − buy) × quantity over the fills, in paise, so it reconciles exactly.
//!
//! Charges: every fill (the entry's buy, each partial or final sale) is one executed order,
//! charged at the rates of its own trade date ([`Costs`]); the position's charges are the sum
//! of its fills', and its net P&L is the gross realized P&L less them, exactly in paise.
//!
//! Freeze quantity: a paper entry or sale above the underlying's freeze quantity is filled as
//! the slices a live order set would be sent as ([`order_slices`]), each its own fill and its
//! own executed order (one brokerage each), so paper pays what live pays.

use messages::{Mode, PositionRecord, PositionStatus};
use serde::Serialize;

use super::sizing::{paise, rupees};
use super::slicing::slices;
use crate::charges::{Breakdown, Costs};
use crate::config::{PartialBooking, Trailing};
use crate::logic::price::round_to_tick;

/// Why a position (or part of it) was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ExitReason {
    StopLoss,
    Target,
    TrailingStop,
    ExpiryApproaching,
    TimeLimit,
    PartialBooking,
    Manual,
    /// Sold by an exit order that filled while the engine was down (found at start).
    Reconciled,
}

impl ExitReason {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::StopLoss => "STOP_LOSS_HIT",
            ExitReason::Target => "TARGET_REACHED",
            ExitReason::TrailingStop => "TRAILING_STOP",
            ExitReason::ExpiryApproaching => "EXPIRY_APPROACHING",
            ExitReason::TimeLimit => "TIME_LIMIT",
            ExitReason::PartialBooking => "PARTIAL_BOOKING",
            ExitReason::Manual => "MANUAL",
            ExitReason::Reconciled => "EXIT_FILLED_WHILE_DOWN",
        }
    }
}

/// Exit parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExitRules {
    pub slippage_ticks: u32,
    pub trailing: Option<Trailing>,
    pub partial: Option<PartialBooking>,
    pub max_hold_secs: Option<i64>,
    pub exit_before_expiry_secs: i64,
}

/// One execution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fill {
    pub ts: i64,
    /// +1 buy, −1 sell.
    pub side: i8,
    pub quantity: u32,
    /// The (average) price.
    pub premium: f64,
    /// Σ price × quantity over the execution's trades, in paise: exact even when a real
    /// order filled at several prices and `premium` is their average.
    pub value_paise: i64,
    /// What this fill (one executed order) was charged, at its trade date's rates.
    pub charges: Breakdown,
}

/// The orders that carry `quantity` of a contract of `lot_size`: the freeze quantity's slices
/// ([`slices`]), or a single order when no slicing can respect it (a freeze below the lot: the
/// config refuses that, but a contract whose lot grew since may still meet it).
pub fn order_slices(quantity: u32, lot_size: u32, freeze_qty: Option<u32>) -> Vec<u32> {
    slices(quantity, lot_size, freeze_qty).unwrap_or_else(|e| {
        log::warn!("order of {quantity} (lot {lot_size}) sent whole: {e}");
        if quantity == 0 {
            vec![]
        } else {
            vec![quantity]
        }
    })
}

/// A paper entry's fills: one buy per slice at the entry premium, each charged as its own
/// order at its trade date's rates.
fn entry_fills(record: &PositionRecord, costs: &Costs, freeze_qty: Option<u32>) -> Vec<Fill> {
    let ts = record.entry_time.timestamp();
    order_slices(record.quantity, record.lot_size, freeze_qty)
        .into_iter()
        .map(|q| {
            let value = value_paise(record.entry_premium, q);
            Fill {
                ts,
                side: 1,
                quantity: q,
                premium: record.entry_premium,
                value_paise: value,
                charges: costs.fill(ts, 1, value, 1),
            }
        })
        .collect()
}

/// The entry's charges set on a new position's record (its first version), with the net P&L
/// they make: what the executor stores and [`PaperPosition::open`] starts from. The entry is
/// as many orders as the freeze quantity slices it into (`freeze_qty`), each charged as one.
pub fn charge_entry(record: &mut PositionRecord, costs: &Costs, freeze_qty: Option<u32>) {
    let c: Breakdown = entry_fills(record, costs, freeze_qty)
        .iter()
        .map(|f| f.charges)
        .sum();
    set_charges(record, c);
}

/// A live entry's charges from its real orders: each executed order's value (paise, its
/// trades summed), bought at `ts`.
pub fn charge_entry_orders(record: &mut PositionRecord, costs: &Costs, ts: i64, orders: &[i64]) {
    let c: Breakdown = orders.iter().map(|v| costs.fill(ts, 1, *v, 1)).sum();
    set_charges(record, c);
}

fn set_charges(record: &mut PositionRecord, c: Breakdown) {
    record.charges = c;
    record.net_pnl = rupees(paise(record.realized_pnl) - c.total);
}

/// `quantity` at (average) price `premium`, in whole paise.
pub fn value_paise(premium: f64, quantity: u32) -> i64 {
    (premium * quantity as f64 * 100.0).round() as i64
}

/// What a mark did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Premium and unrealized P&L updated.
    Marked,
    /// Part of the quantity sold.
    Partial(Fill),
    /// Fully closed.
    Closed(Fill, ExitReason),
}

/// A paper position and its state.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperPosition {
    /// The latest version, as stored.
    pub record: PositionRecord,
    pub lot_size: u32,
    pub tick: f64,
    /// Epoch seconds of the expiry's close.
    pub expiry_ts: i64,
    pub initial_stop: f64,
    pub stop: f64,
    pub target: f64,
    pub remaining: u32,
    /// What the remaining quantity cost, in paise (the entry's value, less the shares of it
    /// sold): realized P&L is sale value minus the cost share sold.
    pub cost_paise: i64,
    /// Gross realized P&L, paise.
    pub realized_paise: i64,
    /// The charges of the fills so far, paise.
    pub charges: Breakdown,
    pub partial_done: bool,
    pub fills: Vec<Fill>,
    /// How fills are charged.
    pub costs: Costs,
    /// The underlying's freeze quantity: a paper order above it is filled as its slices.
    pub freeze_qty: Option<u32>,
}

impl PaperPosition {
    /// A position opened by its entry (the record holds entry, stop, target, quantity), its
    /// fills charged by `costs`. A paper entry above `freeze_qty` is filled as its slices,
    /// each one order; a live record carries the charges of its real orders, which are kept.
    pub fn open(
        mut record: PositionRecord,
        lot_size: u32,
        tick: f64,
        expiry_ts: i64,
        costs: &Costs,
        freeze_qty: Option<u32>,
    ) -> Self {
        record.remaining_quantity = record.quantity;
        let cost = value_paise(record.entry_premium, record.quantity);
        let fills = if record.mode == Mode::Live && record.charges != Breakdown::default() {
            vec![Fill {
                ts: record.entry_time.timestamp(),
                side: 1,
                quantity: record.quantity,
                premium: record.entry_premium,
                value_paise: cost,
                charges: record.charges,
            }]
        } else {
            entry_fills(&record, costs, freeze_qty)
        };
        let charges: Breakdown = fills.iter().map(|f| f.charges).sum();
        set_charges(&mut record, charges);
        PaperPosition {
            lot_size,
            tick,
            expiry_ts,
            initial_stop: record.stop_loss_premium,
            stop: record.stop_loss_premium,
            target: record.target_premium,
            remaining: record.quantity,
            cost_paise: cost,
            realized_paise: 0,
            charges,
            partial_done: false,
            fills,
            costs: costs.clone(),
            freeze_qty,
            record,
        }
    }

    /// A position taken over from its latest stored version (recovery after a restart): what
    /// is still held, the stop as last raised, the P&L realized so far, and whether the partial
    /// booking already happened. The fills before the restart are summed in the record only
    /// (their charges too; a row written before charges existed is charged its entry fill).
    pub fn resume(
        record: PositionRecord,
        lot_size: u32,
        tick: f64,
        expiry_ts: i64,
        costs: &Costs,
        freeze_qty: Option<u32>,
    ) -> Self {
        let remaining = match record.remaining_quantity {
            0 => record.quantity,
            n => n.min(record.quantity),
        };
        let mut p =
            PaperPosition::open(record.clone(), lot_size, tick, expiry_ts, costs, freeze_qty);
        p.remaining = remaining;
        p.cost_paise = value_paise(record.entry_premium, remaining);
        p.partial_done = remaining < record.quantity;
        p.realized_paise = paise(record.realized_pnl);
        p.stop = record.stop_loss_premium;
        if record.charges != Breakdown::default() {
            p.charges = record.charges;
        }
        p.record = record;
        p.record.remaining_quantity = remaining;
        p.record.charges = p.charges;
        p.record.net_pnl = rupees(p.net_paise());
        p
    }

    /// Net realized P&L, paise: gross realized less the charges of the fills so far.
    pub fn net_paise(&self) -> i64 {
        self.realized_paise - self.charges.total
    }

    /// Whether it is still open.
    pub fn is_open(&self) -> bool {
        self.record.status == PositionStatus::Open
    }

    fn sell(&mut self, ts: i64, qty: u32, mark: f64, slippage_ticks: u32) -> Fill {
        let px = round_to_tick(mark - slippage_ticks as f64 * self.tick, self.tick).max(self.tick);
        self.sell_at(ts, qty, px)
    }

    /// A paper sale of `qty` at `px`: one order per slice of the freeze quantity, each its
    /// own fill; returns them summed.
    fn sell_at(&mut self, ts: i64, qty: u32, px: f64) -> Fill {
        let parts = order_slices(qty.min(self.remaining), self.lot_size, self.freeze_qty);
        if parts.is_empty() {
            return self.sell_value(ts, 0, 0, px);
        }
        let mut all = Fill {
            ts,
            side: -1,
            quantity: 0,
            premium: px,
            value_paise: 0,
            charges: Breakdown::default(),
        };
        for q in parts {
            let f = self.sell_value(ts, q, paise(px) * q as i64, px);
            all.quantity += f.quantity;
            all.value_paise += f.value_paise;
            all.charges += f.charges;
        }
        all
    }

    /// Sells `qty` for `value` paise in all (average price `avg`).
    fn sell_value(&mut self, ts: i64, qty: u32, value: i64, avg: f64) -> Fill {
        let qty = qty.min(self.remaining);
        // The cost share of what is sold; the last sale takes all that is left, so the shares
        // add up to the entry's value exactly.
        let share = if qty == self.remaining {
            self.cost_paise
        } else {
            self.cost_paise * qty as i64 / self.remaining.max(1) as i64
        };
        self.cost_paise -= share;
        self.realized_paise += value - share;
        self.remaining -= qty;
        // Each sale is one executed order (a live exit order reports its fill once, when
        // terminal); nothing sold is no order.
        let charges = self.costs.fill(ts, -1, value, u32::from(qty > 0));
        self.charges += charges;
        let f = Fill {
            ts,
            side: -1,
            quantity: qty,
            premium: avg,
            value_paise: value,
            charges,
        };
        self.fills.push(f);
        f
    }

    fn bump(&mut self, now: i64, mark: f64) {
        let r = &mut self.record;
        r.version += 1;
        r.current_premium = mark;
        r.unrealized_pnl = rupees(paise(mark) * self.remaining as i64 - self.cost_paise);
        r.realized_pnl = rupees(self.realized_paise);
        r.charges = self.charges;
        r.net_pnl = rupees(self.realized_paise - self.charges.total);
        r.remaining_quantity = self.remaining;
        r.stop_loss_premium = self.stop;
        r.updated_at = chrono::DateTime::from_timestamp(now, 0).unwrap_or(r.updated_at);
    }

    /// Closes everything at `mark` now for `reason`.
    pub fn close(
        &mut self,
        now: i64,
        mark: f64,
        reason: ExitReason,
        slippage_ticks: u32,
    ) -> Change {
        let f = self.sell(now, self.remaining, mark, slippage_ticks);
        self.bump(now, mark);
        let r = &mut self.record;
        r.status = PositionStatus::Closed;
        r.exit_time = chrono::DateTime::from_timestamp(now, 0);
        r.exit_premium = f.premium;
        r.exit_reason = reason.as_str().to_string();
        r.unrealized_pnl = 0.0;
        Change::Closed(f, reason)
    }

    /// Updates the mark and unrealized P&L only (no exit rule is applied): a live position
    /// whose exit order is being worked.
    pub fn touch(&mut self, now: i64, mark: f64) {
        if self.is_open() {
            self.bump(now, mark);
        }
    }

    /// A real sell fill from the broker (live): `qty` for `value` paise in all (its trades
    /// summed), for `reason`. Closes the position when nothing remains; a partial booking is
    /// then done for good.
    pub fn fill_sell(&mut self, now: i64, qty: u32, value: i64, reason: ExitReason) -> Change {
        let qty = qty.min(self.remaining);
        let price = if qty == 0 {
            0.0
        } else {
            rupees(value) / qty as f64
        };
        let f = self.sell_value(now, qty, value, price);
        self.bump(now, price);
        if self.remaining > 0 {
            if reason == ExitReason::PartialBooking {
                self.partial_done = true;
            }
            return Change::Partial(f);
        }
        let r = &mut self.record;
        r.status = PositionStatus::Closed;
        r.exit_time = chrono::DateTime::from_timestamp(now, 0);
        r.exit_premium = price;
        r.exit_reason = reason.as_str().to_string();
        r.unrealized_pnl = 0.0;
        Change::Closed(f, reason)
    }

    /// Marks the position to `mark` (the option's premium) at `now`; returns what changed, or
    /// `None` when it is already closed.
    pub fn mark(&mut self, mark: f64, now: i64, rules: &ExitRules) -> Option<Change> {
        if !self.is_open() {
            return None;
        }
        let entry = self.record.entry_premium;
        if mark <= self.stop {
            let why = if self.stop > self.initial_stop {
                ExitReason::TrailingStop
            } else {
                ExitReason::StopLoss
            };
            return Some(self.close(now, mark, why, rules.slippage_ticks));
        }
        if mark >= self.target {
            return Some(self.close(now, mark, ExitReason::Target, rules.slippage_ticks));
        }
        if self.expiry_ts - now < rules.exit_before_expiry_secs {
            return Some(self.close(
                now,
                mark,
                ExitReason::ExpiryApproaching,
                rules.slippage_ticks,
            ));
        }
        if rules
            .max_hold_secs
            .is_some_and(|h| now - self.record.entry_time.timestamp() >= h)
        {
            return Some(self.close(now, mark, ExitReason::TimeLimit, rules.slippage_ticks));
        }
        let gain_pct = (mark - entry) / entry * 100.0;
        if let Some(p) = rules.partial.filter(|_| !self.partial_done) {
            if gain_pct >= p.at_pct {
                self.partial_done = true;
                let lots = self.remaining / self.lot_size;
                let sell_lots =
                    ((lots as f64 * p.size_pct / 100.0).floor() as u32).min(lots.saturating_sub(1));
                if sell_lots > 0 {
                    let f = self.sell(now, sell_lots * self.lot_size, mark, rules.slippage_ticks);
                    self.bump(now, mark);
                    return Some(Change::Partial(f));
                }
            }
        }
        if let Some(t) = rules.trailing {
            if gain_pct >= t.after_pct {
                let trail = round_to_tick(entry + (mark - entry) * t.keep_pct / 100.0, self.tick);
                if trail > self.stop {
                    self.stop = trail;
                }
            }
        }
        self.bump(now, mark);
        Some(Change::Marked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use messages::{Mode, OptionType};
    use uuid::Uuid;

    const T0: i64 = 1_733_716_800; // 2024-12-09 04:00 UTC

    fn pos(qty: u32) -> PaperPosition {
        let r = PositionRecord {
            position_id: Uuid::from_u128(1),
            version: 1,
            signal_id: Uuid::from_u128(2),
            symbol: "NIFTY".into(),
            option_symbol: "NIFTY24D1024000CE".into(),
            strike: 24_000.0,
            option_type: OptionType::CE,
            expiry: NaiveDate::from_ymd_opt(2024, 12, 10).unwrap(),
            mode: Mode::Paper,
            status: PositionStatus::Open,
            lots: qty / 65,
            lot_size: 65,
            quantity: qty,
            remaining_quantity: qty,
            entry_time: Utc.timestamp_opt(T0, 0).unwrap(),
            entry_premium: 100.0,
            stop_loss_premium: 70.0,
            target_premium: 160.0,
            current_premium: 100.0,
            unrealized_pnl: 0.0,
            exit_time: None,
            exit_premium: 0.0,
            exit_reason: String::new(),
            realized_pnl: 0.0,
            updated_at: Utc.timestamp_opt(T0, 0).unwrap(),
            strategy: String::new(),
            charges: Default::default(),
            net_pnl: 0.0,
        };
        PaperPosition::open(r, 65, 0.05, T0 + 30 * 3600, &Costs::default(), None)
    }

    fn rules() -> ExitRules {
        ExitRules {
            slippage_ticks: 1,
            trailing: None,
            partial: None,
            max_hold_secs: None,
            exit_before_expiry_secs: 3600,
        }
    }

    /// Σ (sell − buy) × qty over the fills, in paise.
    fn from_fills(p: &PaperPosition) -> i64 {
        p.fills
            .iter()
            .map(|f| -(f.side as i64) * f.value_paise)
            .sum()
    }

    /// The charges of the fills recomputed from the schedule (each fill one order at the
    /// rates of its IST date), independently of the position's own path.
    fn charged(p: &PaperPosition) -> Breakdown {
        p.fills
            .iter()
            .map(|f| {
                let date = Utc.timestamp_opt(f.ts + 19_800, 0).unwrap().date_naive();
                let rates = crate::charges::Schedule::default()
                    .rates_on(date, crate::charges::Segment::Options)
                    .unwrap();
                let (buy, sell) = if f.side > 0 {
                    (f.value_paise, 0)
                } else {
                    (0, f.value_paise)
                };
                crate::charges::charges(
                    crate::charges::Turnover {
                        buy_paise: buy,
                        sell_paise: sell,
                        orders: 1,
                    },
                    &rates,
                )
            })
            .sum()
    }

    /// Gross − charges == net, to the paisa, in the position and its record; the charges are
    /// those of its fills.
    fn reconciles(p: &PaperPosition) {
        assert_eq!(p.charges, charged(p), "the sum of the fills' charges");
        assert_eq!(p.charges, p.fills.iter().map(|f| f.charges).sum());
        assert_eq!(p.record.charges, p.charges);
        let items = p.charges;
        assert_eq!(
            items.total,
            items.brokerage
                + items.stt
                + items.exchange_txn
                + items.sebi
                + items.stamp_duty
                + items.gst
        );
        assert_eq!(p.net_paise(), p.realized_paise - p.charges.total);
        assert_eq!(paise(p.record.net_pnl), p.net_paise());
        assert_eq!(paise(p.record.realized_pnl), p.realized_paise);
        assert_eq!(p.record.net_paise(), p.net_paise());
    }

    #[test]
    fn above_the_freeze_quantity_each_slice_is_its_own_order() {
        // 40 lots of 65 (2600) with NIFTY's freeze of 1800: 27 lots (1755) per order.
        let mut r = pos(65).record;
        (r.quantity, r.lots) = (2600, 40);
        let costs = Costs::default();
        let mut p = PaperPosition::open(r.clone(), 65, 0.05, T0 + 30 * 3600, &costs, Some(1800));
        let sizes = |p: &PaperPosition, side: i8| {
            p.fills
                .iter()
                .filter(|f| f.side == side)
                .map(|f| f.quantity)
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(&p, 1), vec![1755, 845]);
        assert_eq!(p.charges.brokerage, 2 * 2000, "two orders bought");
        assert_eq!(p.cost_paise, 10_000 * 2600);
        // The executor's opening version carries the same charges.
        let mut opening = r.clone();
        charge_entry(&mut opening, &costs, Some(1800));
        assert_eq!(opening.charges, p.charges);
        let c = p.mark(69.95, T0 + 600, &rules()).unwrap();
        assert!(
            matches!(c, Change::Closed(f, ExitReason::StopLoss) if f.quantity == 2600 && f.premium == 69.9)
        );
        assert_eq!(sizes(&p, -1), vec![1755, 845], "sold in the same slices");
        assert_eq!(p.charges.brokerage, 4 * 2000);
        assert_eq!(p.realized_paise, (6990 - 10_000) * 2600);
        reconciles(&p);
        // Without a limit: one order each way, and less brokerage for the same trade.
        let mut q = PaperPosition::open(r, 65, 0.05, T0 + 30 * 3600, &costs, None);
        q.mark(69.95, T0 + 600, &rules()).unwrap();
        assert_eq!((sizes(&q, 1), sizes(&q, -1)), (vec![2600], vec![2600]));
        assert_eq!(q.realized_paise, p.realized_paise);
        assert_eq!(q.charges.brokerage, 2 * 2000);
        reconciles(&q);
    }

    #[test]
    fn a_partial_booking_above_the_freeze_quantity_is_sliced_too() {
        let r = ExitRules {
            partial: Some(PartialBooking {
                at_pct: 40.0,
                size_pct: 50.0,
            }),
            ..rules()
        };
        let mut rec = pos(65).record;
        (rec.quantity, rec.lots) = (10 * 65, 10);
        // A freeze of 3 lots: the entry is 3 + 3 + 3 + 1 lots.
        let mut p =
            PaperPosition::open(rec, 65, 0.05, T0 + 30 * 3600, &Costs::default(), Some(200));
        assert_eq!(p.fills.len(), 4);
        let c = p.mark(141.0, T0 + 60, &r).unwrap();
        assert!(matches!(c, Change::Partial(f) if f.quantity == 5 * 65));
        let sold: Vec<u32> = p.fills[4..].iter().map(|f| f.quantity).collect();
        assert_eq!(sold, vec![195, 130], "5 lots as 3 + 2");
        assert_eq!(p.charges.brokerage, 6 * 2000);
        reconciles(&p);
    }

    #[test]
    fn scripted_path_hits_the_stop() {
        let mut p = pos(130);
        assert_eq!(p.mark(90.0, T0 + 300, &rules()), Some(Change::Marked));
        assert_eq!(p.record.unrealized_pnl, -1300.0);
        assert_eq!(p.record.version, 2);
        let c = p.mark(69.95, T0 + 600, &rules()).unwrap();
        assert!(matches!(c, Change::Closed(f, ExitReason::StopLoss) if f.premium == 69.9));
        assert_eq!(p.record.exit_reason, "STOP_LOSS_HIT");
        assert_eq!(p.realized_paise, (6990 - 10000) * 130);
        assert_eq!(p.realized_paise, from_fills(&p));
        reconciles(&p);
        assert_eq!(p.record.realized_pnl, -3913.0);
        assert_eq!(
            p.mark(50.0, T0 + 900, &rules()),
            None,
            "closed positions do not move"
        );
    }

    #[test]
    fn scripted_path_hits_the_target() {
        let mut p = pos(65);
        let c = p.mark(160.0, T0 + 60, &rules()).unwrap();
        assert!(matches!(c, Change::Closed(_, ExitReason::Target)));
        assert_eq!(
            (p.record.exit_premium, p.record.realized_pnl),
            (159.95, 3896.75)
        );
        assert_eq!(p.realized_paise, from_fills(&p));
        reconciles(&p);
    }

    #[test]
    fn expiry_approaching_and_time_limit() {
        let mut p = pos(65);
        let c = p.mark(110.0, T0 + 30 * 3600 - 3599, &rules()).unwrap();
        assert!(matches!(
            c,
            Change::Closed(_, ExitReason::ExpiryApproaching)
        ));
        let mut p = pos(65);
        let r = ExitRules {
            max_hold_secs: Some(4 * 3600),
            ..rules()
        };
        assert_eq!(p.mark(110.0, T0 + 4 * 3600 - 1, &r), Some(Change::Marked));
        assert!(matches!(
            p.mark(110.0, T0 + 4 * 3600, &r),
            Some(Change::Closed(_, ExitReason::TimeLimit))
        ));
    }

    #[test]
    fn trailing_stop_ratchets_then_exits_with_profit() {
        let mut p = pos(65);
        let r = ExitRules {
            trailing: Some(Trailing {
                after_pct: 30.0,
                keep_pct: 50.0,
            }),
            ..rules()
        };
        p.mark(140.0, T0 + 60, &r); // +40 %: stop → 100 + 40·0.5 = 120
        assert_eq!(p.stop, 120.0);
        p.mark(130.0, T0 + 120, &r); // below the trail's trigger: the stop stays
        assert_eq!(p.stop, 120.0);
        p.mark(150.0, T0 + 180, &r); // stop → 125
        assert_eq!(p.record.stop_loss_premium, 125.0);
        let c = p.mark(124.0, T0 + 240, &r).unwrap();
        assert!(matches!(c, Change::Closed(f, ExitReason::TrailingStop) if f.premium == 123.95));
        assert!(p.realized_paise > 0);
        assert_eq!(p.realized_paise, from_fills(&p));
        reconciles(&p);
    }

    #[test]
    fn partial_booking_sells_whole_lots_once_and_reconciles() {
        let mut p = pos(5 * 65);
        let r = ExitRules {
            partial: Some(PartialBooking {
                at_pct: 40.0,
                size_pct: 50.0,
            }),
            ..rules()
        };
        let c = p.mark(141.0, T0 + 60, &r).unwrap();
        assert!(matches!(c, Change::Partial(f) if f.quantity == 2 * 65 && f.premium == 140.95));
        assert_eq!(p.remaining, 3 * 65);
        assert_eq!(
            p.mark(145.0, T0 + 120, &r),
            Some(Change::Marked),
            "only once"
        );
        let c = p.mark(160.0, T0 + 180, &r).unwrap();
        assert!(matches!(c, Change::Closed(f, ExitReason::Target) if f.quantity == 3 * 65));
        assert_eq!(
            p.realized_paise,
            (14095 - 10000) * 130 + (15995 - 10000) * 195
        );
        assert_eq!(p.realized_paise, from_fills(&p));
        reconciles(&p);
        assert_eq!(p.record.realized_pnl, rupees(p.realized_paise));
    }

    #[test]
    fn real_fills_close_at_their_price_and_reconcile() {
        let mut p = pos(4 * 65);
        // Being sold: the mark moves, no rule fires, nothing is sold.
        p.touch(T0 + 30, 65.0);
        assert!(p.is_open());
        assert_eq!((p.remaining, p.record.current_premium), (4 * 65, 65.0));
        assert_eq!(p.record.unrealized_pnl, rupees((6500 - 10000) * 4 * 65));
        // A partial fill of the exit order, then the rest at another price (no slippage: the
        // broker's prices are the fills).
        let c = p.fill_sell(T0 + 40, 65, 6435 * 65, ExitReason::StopLoss);
        assert!(matches!(c, Change::Partial(f) if f.quantity == 65 && f.premium == 64.35));
        assert!(p.is_open() && p.remaining == 3 * 65);
        // The rest fills at two prices: 130 at 64.10 and 65 at 64.05 (average 64.0833…).
        let c = p.fill_sell(
            T0 + 41,
            3 * 65,
            6410 * 130 + 6405 * 65,
            ExitReason::StopLoss,
        );
        assert!(matches!(c, Change::Closed(f, ExitReason::StopLoss) if f.quantity == 195));
        assert_eq!(p.record.status, PositionStatus::Closed);
        assert!((p.record.exit_premium - 64.083_333).abs() < 1e-5);
        assert_eq!(p.record.exit_reason, "STOP_LOSS_HIT");
        assert_eq!(
            p.realized_paise,
            (6435 - 10000) * 65 + (6410 - 10000) * 130 + (6405 - 10000) * 65,
            "exact to the paisa over the real trades"
        );
        assert_eq!(p.realized_paise, from_fills(&p));
        reconciles(&p);
        assert_eq!(p.record.realized_pnl, rupees(p.realized_paise));
        assert_eq!(p.record.unrealized_pnl, 0.0);
        // A fill larger than what remains sells only what remains.
        let mut q = pos(65);
        q.fill_sell(T0 + 5, 130, 9000 * 130, ExitReason::Manual);
        assert_eq!((q.remaining, q.fills.last().unwrap().quantity), (0, 65));
    }

    #[test]
    fn a_resumed_position_keeps_what_partial_booking_sold() {
        let r = ExitRules {
            partial: Some(PartialBooking {
                at_pct: 40.0,
                size_pct: 50.0,
            }),
            ..rules()
        };
        let mut p = pos(5 * 65);
        p.mark(141.0, T0 + 60, &r).unwrap();
        assert_eq!(p.record.remaining_quantity, 3 * 65);
        // The engine restarts: only the stored record is left.
        let mut q = PaperPosition::resume(
            p.record.clone(),
            65,
            0.05,
            T0 + 30 * 3600,
            &Costs::default(),
            None,
        );
        assert_eq!((q.remaining, q.partial_done), (3 * 65, true));
        assert_eq!(q.realized_paise, p.realized_paise);
        assert_eq!(
            q.mark(150.0, T0 + 120, &r),
            Some(Change::Marked),
            "booked once only"
        );
        let c = q.mark(160.0, T0 + 180, &r).unwrap();
        assert!(matches!(c, Change::Closed(f, ExitReason::Target) if f.quantity == 3 * 65));
        assert_eq!(
            q.realized_paise,
            (14095 - 10000) * 130 + (15995 - 10000) * 195,
            "the same P&L as without the restart"
        );
        // Rows written before the field existed read as fully held.
        let mut old = pos(2 * 65).record;
        old.remaining_quantity = 0;
        assert_eq!(
            PaperPosition::resume(old, 65, 0.05, T0, &Costs::default(), None).remaining,
            2 * 65
        );
    }

    #[test]
    fn a_position_over_the_october_2024_change_pays_each_fills_own_rates() {
        // Bought 750 at ₹100 on Monday 30 Sep 2024 (old rates), sold at ₹120 on Tuesday
        // 1 Oct 2024 (STT on premium sold 0.0625 % → 0.1 %, NSE 0.0495 % → 0.03503 %).
        let bought = Utc.with_ymd_and_hms(2024, 9, 30, 4, 30, 0).unwrap(); // 10:00 IST
        let sold = Utc.with_ymd_and_hms(2024, 10, 1, 4, 30, 0).unwrap();
        let mut r = pos(65).record;
        (r.quantity, r.lot_size, r.lots, r.entry_time) = (750, 75, 10, bought);
        let mut p = PaperPosition::open(
            r.clone(),
            75,
            0.05,
            sold.timestamp() + 86_400,
            &Costs::default(),
            None,
        );
        // The entry, ₹75,000 bought: brokerage ₹20; no STT; NSE 0.0495 % = ₹37.125 → 37.13;
        // SEBI ₹0.075 → 0.08; stamp 0.003 % = ₹2.25; GST 18 % of ₹57.21 = ₹10.2978 → 10.30.
        let entry = Breakdown {
            brokerage: 2000,
            stt: 0,
            exchange_txn: 3713,
            sebi: 8,
            stamp_duty: 225,
            gst: 1030,
            total: 6976,
        };
        assert_eq!((p.charges, p.record.charges), (entry, entry));
        assert_eq!(
            p.record.net_pnl, -69.76,
            "an open position carries its entry's charges"
        );
        let c = p.fill_sell(sold.timestamp(), 750, 12_000 * 750, ExitReason::Target);
        // The sale, ₹90,000 sold: brokerage ₹20; STT 0.1 % = ₹90; NSE 0.03503 % = ₹31.527
        // → 31.53; SEBI ₹0.09; no stamp; GST 18 % of ₹51.62 = ₹9.2916 → 9.29.
        let exit = Breakdown {
            brokerage: 2000,
            stt: 9000,
            exchange_txn: 3153,
            sebi: 9,
            stamp_duty: 0,
            gst: 929,
            total: 15_091,
        };
        assert!(matches!(c, Change::Closed(f, ExitReason::Target) if f.charges == exit));
        assert_eq!(p.charges, entry + exit);
        assert_eq!(p.realized_paise, 2000 * 750);
        assert_eq!(p.net_paise(), 1_500_000 - 22_067);
        assert_eq!(
            (p.record.realized_pnl, p.record.net_pnl),
            (15_000.0, 14_779.33)
        );
        reconciles(&p);
        // Sold a day earlier, the sale pays the old STT (0.0625 % = ₹56.25) and NSE charge.
        let mut q = PaperPosition::open(
            r,
            75,
            0.05,
            sold.timestamp() + 86_400,
            &Costs::default(),
            None,
        );
        q.fill_sell(
            bought.timestamp() + 3600,
            750,
            12_000 * 750,
            ExitReason::Target,
        );
        assert_eq!(q.fills[1].charges.stt, 5625);
        assert_eq!(q.fills[1].charges.exchange_txn, 4455); // 0.0495 % of ₹90,000
        reconciles(&q);
    }

    #[test]
    fn a_resumed_position_keeps_its_charges_and_an_old_row_is_charged_its_entry() {
        let r = ExitRules {
            partial: Some(PartialBooking {
                at_pct: 40.0,
                size_pct: 50.0,
            }),
            ..rules()
        };
        let mut p = pos(5 * 65);
        p.mark(141.0, T0 + 60, &r).unwrap();
        let mut q = PaperPosition::resume(
            p.record.clone(),
            65,
            0.05,
            T0 + 30 * 3600,
            &Costs::default(),
            None,
        );
        assert_eq!(q.charges, p.charges, "entry and the partial sale");
        p.mark(160.0, T0 + 180, &r).unwrap();
        q.mark(160.0, T0 + 180, &r).unwrap();
        assert!(!p.is_open() && !q.is_open());
        assert_eq!((q.charges, q.record.net_pnl), (p.charges, p.record.net_pnl));
        assert_eq!(q.charges.brokerage, 3 * 2000, "three orders");
        // A row stored before charges existed: its entry is charged on resumption.
        let mut old = pos(2 * 65).record;
        old.charges = Breakdown::default();
        old.net_pnl = 0.0;
        let o = PaperPosition::resume(old, 65, 0.05, T0 + 30 * 3600, &Costs::default(), None);
        assert_eq!(o.charges, pos(2 * 65).charges);
        assert_eq!(o.record.net_pnl, rupees(-o.charges.total));
    }

    #[test]
    fn an_entry_filled_at_several_prices_reconciles_exactly() {
        // 450 at 100.05 and 150 at 100.10: average 100.0625, cost 6 003 750 paise.
        let mut r = pos(65).record;
        r.quantity = 600;
        r.lot_size = 75;
        r.entry_premium = (10005 * 450 + 10010 * 150) as f64 / 100.0 / 600.0;
        let mut p = PaperPosition::open(r, 75, 0.05, T0 + 30 * 3600, &Costs::default(), None);
        assert_eq!(p.cost_paise, 10005 * 450 + 10010 * 150);
        p.fill_sell(T0 + 60, 225, 6000 * 225, ExitReason::PartialBooking);
        p.fill_sell(T0 + 90, 375, 5995 * 375, ExitReason::StopLoss);
        assert!(!p.is_open());
        assert_eq!(
            p.realized_paise,
            6000 * 225 + 5995 * 375 - (10005 * 450 + 10010 * 150),
            "sales minus the entry's cost, to the paisa"
        );
        assert_eq!(p.realized_paise, from_fills(&p));
        reconciles(&p);
    }
}
