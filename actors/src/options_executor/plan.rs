//! The executor's decision on a signal, as plain functions of its config: the book's limits,
//! the synthetic chain's expiry and strikes, and the strike, size and position record of a
//! trade. The actor ([`OptionsExecutor`](super::OptionsExecutor)) asks for the book and the
//! listed chain and records what these decide.

use messages::msg::RiskSnapshot;
use messages::{DailyCaps, MarketOption, PositionRecord, PositionStatus, RejectReason, Signal};
use uuid::Uuid;

use super::ExecutorConfig;
use crate::logic::price::round_to_tick;
use crate::options::chain::Quote;
use crate::options::sizing::{paise, size, Rupees, SizingInput};
use crate::options::strike::{choose_expiry, option_type, select};

/// A sized trade: in words, as a position record, and as the option to order.
pub(super) struct Planned {
    pub(super) detail: String,
    pub(super) record: PositionRecord,
    pub(super) option: MarketOption,
}

/// The book's limits: open positions, the day's loss, the losing streak; then the
/// underlying's contract data.
pub(super) fn limits(
    cfg: &ExecutorConfig,
    s: &Signal,
    snap: &RiskSnapshot,
    caps: &mut DailyCaps,
) -> Result<crate::config::UnderlyingSpec, (RejectReason, String)> {
    let t = &cfg.trade;
    if snap.open_positions >= cfg.max_concurrent_positions {
        return Err((
            RejectReason::MaxPositions,
            format!(
                "{} positions open, max_concurrent_positions {}",
                snap.open_positions, cfg.max_concurrent_positions
            ),
        ));
    }
    if let Some(n) = cfg
        .instance_risk
        .get(&s.strategy)
        .and_then(|r| r.max_concurrent_positions)
        .filter(|n| snap.strategy_open_positions >= *n)
    {
        return Err((
            RejectReason::StrategyMaxPositions,
            format!(
                "{} positions of {} open, its risk.max_concurrent_positions {n}",
                snap.strategy_open_positions, s.strategy
            ),
        ));
    }
    let loss_limit = t.capital * t.max_daily_loss_pct / 100.0;
    if snap.day_realized_pnl <= -loss_limit {
        return Err((
            RejectReason::DailyLossHalt,
            format!(
                "today's net realized P&L (after charges) ₹{:.2} reached the daily loss limit of {}% of capital (₹{:.2}): no new entries until the next session",
                snap.day_realized_pnl, t.max_daily_loss_pct, loss_limit
            ),
        ));
    }
    // The configured caps are set at construction; here the day as this decision sees it.
    caps.trades_today = snap.trades_today;
    caps.day_realized_pnl = snap.day_realized_pnl;
    caps.locked = false;
    if let Some(n) = t
        .rules
        .max_trades_per_day
        .filter(|n| snap.trades_today >= *n)
    {
        caps.locked = true;
        return Err((
            RejectReason::MaxTradesPerDay,
            format!(
                "{} entries today (rules.max_trades_per_day {n}): no new entries until the next session",
                snap.trades_today
            ),
        ));
    }
    if let Some(at) = caps
        .profit_lock_at
        .filter(|at| snap.day_realized_pnl >= *at)
    {
        caps.locked = true;
        return Err((
            RejectReason::DailyProfitLock,
            format!(
                "today's net realized P&L ₹{:.2} reached the profit lock of {}% of capital (₹{at:.2}): no new entries until the next session",
                snap.day_realized_pnl,
                t.rules.daily_profit_lock_pct.unwrap_or_default()
            ),
        ));
    }
    if let Some(n) = t
        .rules
        .halt_after_consecutive_losses
        .filter(|n| snap.consecutive_losses_today >= *n)
    {
        return Err((
            RejectReason::ConsecutiveLosses,
            format!(
                "{} losing trades in a row today (halt after {n})",
                snap.consecutive_losses_today
            ),
        ));
    }
    t.underlyings.get(&s.symbol).cloned().ok_or_else(|| {
        (
            RejectReason::NoInstrument,
            format!(
                "no contract data for {} in instruments.underlyings",
                s.symbol
            ),
        )
    })
}

/// Expiry and chain from the synthetic model (no broker), then the trade. The chain is
/// priced into `quotes` (the caller's buffer, kept between signals).
pub(super) fn synthetic(
    cfg: &ExecutorConfig,
    s: &Signal,
    at: i64,
    spec: &crate::config::UnderlyingSpec,
    quotes: &mut Vec<Quote>,
) -> Result<Planned, (RejectReason, String)> {
    let t = &cfg.trade;
    let session = &t.chain.session;
    let today = chrono::DateTime::from_timestamp(at + session.offset, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default();
    let expiry = choose_expiry(
        &t.calendar,
        today,
        at,
        spec.weekly,
        t.selection.expiry_preference,
        t.expiry_cutoff_hours,
        &t.rules,
        |e| t.chain.expiry_ts(e),
    )
    .map_err(|e| (RejectReason::NoEligibleStrike, e))?;
    // Only the strikes the selection looks at are priced.
    t.chain.chain_near_into(
        quotes,
        &t.calendar,
        &s.symbol,
        spec,
        expiry,
        option_type(s.action),
        s.price,
        at,
        t.selection.max_strikes_from_atm,
    );
    size_trade(cfg, s, at, expiry, quotes)
}

/// Strike, sizing and the position record of a trade on `quotes` (one expiry, one type).
pub(super) fn size_trade(
    cfg: &ExecutorConfig,
    s: &Signal,
    at: i64,
    expiry: chrono::NaiveDate,
    quotes: &[Quote],
) -> Result<Planned, (RejectReason, String)> {
    let t = &cfg.trade;
    let sel =
        select(quotes, &t.selection, &t.rules).map_err(|e| (RejectReason::NoEligibleStrike, e))?;
    let q = &sel.quote;
    let tick = q.contract.tick_size;
    let lot_size = q.contract.lot_size;
    let entry = round_to_tick(q.ltp + t.slippage_ticks as f64 * tick, tick);
    let sz = size(&SizingInput {
        entry,
        lot_size,
        tick,
        capital: t.capital,
        risk_per_trade_pct: cfg
            .instance_risk
            .get(&s.strategy)
            .and_then(|r| r.risk_per_trade_pct)
            .map_or(t.risk_per_trade_pct, |p| p.min(t.risk_per_trade_pct)),
        max_position_size_pct: t.max_position_size_pct,
        stop_loss_pct: t.stop_loss_pct,
        target_multiplier: t.target_multiplier,
        max_lots_per_trade: t.rules.max_lots_per_trade,
    })
    .map_err(|e| {
        (
            RejectReason::ZeroLots,
            format!("{} @ {entry}: {e}", q.contract.tradingsymbol),
        )
    })?;
    // The orders the freeze quantity slices it into (a contract whose lot outgrew the
    // configured freeze quantity cannot be ordered at all).
    let freeze = t.freeze_of(&s.symbol);
    let orders = crate::options::slicing::slices(sz.quantity, lot_size, freeze)
        .map_err(|e| {
            (
                RejectReason::NoInstrument,
                format!(
                    "{}: instruments.underlyings.{}.freeze_qty: {e}",
                    q.contract.tradingsymbol, s.symbol
                ),
            )
        })?
        .len();
    let sliced = if orders > 1 {
        format!(
            " in {orders} orders (freeze quantity {})",
            freeze.unwrap_or_default()
        )
    } else {
        String::new()
    };
    let detail = format!(
        "{} (strike {} {}, expiry {}, ltp {}, iv {:.4}, delta {:.3}, score {:.1}) | {} lots × {} = {}{sliced} @ {} | SL {} target {} | P&L at SL ₹{}, at target ₹{}",
        q.contract.tradingsymbol,
        q.contract.strike,
        if q.contract.kind == messages::OptionType::CE { "CE" } else { "PE" },
        expiry,
        q.ltp,
        q.iv,
        q.delta,
        sel.score,
        sz.lots,
        lot_size,
        sz.quantity,
        sz.entry,
        sz.stop,
        sz.target,
        Rupees((paise(sz.stop) - paise(sz.entry)).saturating_mul(i64::from(sz.quantity))),
        Rupees((paise(sz.target) - paise(sz.entry)).saturating_mul(i64::from(sz.quantity)))
    );
    let when = chrono::DateTime::from_timestamp(at, 0).unwrap_or(s.timestamp);
    let record = PositionRecord {
        position_id: Uuid::new_v5(&messages::SIGNAL_NAMESPACE, s.signal_id.as_bytes()),
        version: 1,
        signal_id: s.signal_id,
        symbol: s.symbol.clone(),
        option_symbol: q.contract.tradingsymbol.clone(),
        strike: q.contract.strike,
        option_type: q.contract.kind,
        expiry,
        mode: cfg.mode,
        status: PositionStatus::Open,
        lots: sz.lots,
        lot_size,
        quantity: sz.quantity,
        remaining_quantity: sz.quantity,
        entry_time: when,
        entry_premium: sz.entry,
        stop_loss_premium: sz.stop,
        target_premium: sz.target,
        current_premium: sz.entry,
        unrealized_pnl: 0.0,
        exit_time: None,
        exit_premium: 0.0,
        exit_reason: String::new(),
        realized_pnl: 0.0,
        updated_at: when,
        strategy: s.strategy.clone(),
        charges: Default::default(),
        net_pnl: 0.0,
    };
    let mut record = record;
    let t = &cfg.trade;
    crate::options::position::charge_entry(&mut record, &t.costs, t.freeze_of(&s.symbol));
    let option = MarketOption {
        tradingsymbol: q.contract.tradingsymbol.clone(),
        exchange: "NFO".into(),
        underlying: s.symbol.clone(),
        expiry,
        strike: q.contract.strike,
        kind: q.contract.kind,
        lot_size,
        tick_size: tick,
        ltp: q.ltp,
        bid: q.bid,
        ask: q.ask,
        volume: q.volume,
        oi: q.oi,
    };
    Ok(Planned {
        detail,
        record,
        option,
    })
}
