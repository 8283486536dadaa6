//! **Strategy** — one configured strategy instance (`strategies.NAME`) over its symbols.
//!
//! - Owns: the instance's name and timeframe, and one [`StrategyKind`] state per symbol it
//!   trades (the kind's own O(1) state, e.g. two incremental EMAs for `ma_crossover`).
//! - Handles: [`JudgeCandles`] (closed candles update the state and may signal; forming ones
//!   are judged without changing it; the reply is what it detected, which DataManager merges
//!   in time order with the other instances' and hands to SignalManager),
//!   [`HistoryLoaded`] (warm-up, never signals), [`UseDataSource`], [`GetStrategyProgress`]
//!   (candles taken per symbol against the warm-up, signals), [`InjectPanic`], [`Drain`],
//!   [`GetRestarts`].
//! - Sends: [`GetCandles`] to DataManager after a restart, to rebuild its state from the
//!   history, and what the rebuild detects as [`SignalDetected`] to SignalManager.
//!
//! Every instance is its own supervised actor with its own metrics row (`strategy:NAME`):
//! a panic in one restarts that one only. DataManager feeds it only its timeframe's candles
//! of its symbols.

use actix::prelude::*;
use messages::msg::*;
use messages::{CandleState, Symbols, Timeframe};

use crate::logic::session::Session;
use crate::metrics::{ActorMetrics, TrackedRecipient};
use crate::strategies::{Detection, StrategyKind};
use crate::supervisor::{guard, note_restart};

/// What one instance is.
#[derive(Debug)]
pub struct StrategySpec {
    /// The instance's name (`strategies.NAME`): signals carry it.
    pub name: String,
    pub timeframe: Timeframe,
    /// The engine's symbol table.
    pub symbols: Symbols,
    /// Per symbol id, whether the instance trades it.
    pub trades: Vec<bool>,
    /// The kind's initial state (built from the parameters).
    pub prototype: Box<dyn StrategyKind>,
    /// Closed candles needed before a signal (`historical_lookback.min_periods`).
    pub warmup: u64,
    /// The level of the warm-up progress lines (one per closed candle while warming up):
    /// `Info` for `run`, `Debug` for a quiet replay.
    pub event_level: log::Level,
}

/// How far one symbol of an instance is: closed candles taken (each once: ones not newer
/// than the last are not counted again, as the kinds ignore them), signals detected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    pub candles: u64,
    pub signals: u64,
    pub last: Option<i64>,
}

impl Seen {
    /// A closed candle starting at `ts`: true when it is new (and counted).
    pub fn take(&mut self, ts: i64) -> bool {
        if self.last.is_some_and(|l| ts <= l) {
            return false;
        }
        self.last = Some(ts);
        self.candles += 1;
        true
    }

    /// The warm-up line after a new candle, while warming up and at its end: "23/50
    /// candles" until `warmup`, then once "warmed up"; `None` after.
    pub fn warmup_note(&self, warmup: u64) -> Option<String> {
        use std::cmp::Ordering::*;
        match self.candles.cmp(&warmup) {
            Less => Some(format!(
                "warming up: {}/{warmup} candles (signals once there are {warmup})",
                self.candles
            )),
            Equal => Some(format!(
                "warmed up ({warmup}/{warmup} candles): signals can come from now on"
            )),
            Greater => None,
        }
    }
}

/// The Strategy actor of one instance.
pub struct Strategy {
    spec: StrategySpec,
    session: Session,
    /// Per symbol id: the kind's state, for the symbols the instance trades.
    states: Vec<Option<Box<dyn StrategyKind>>>,
    signals_to: TrackedRecipient<SignalDetected>,
    data: Option<Recipient<GetCandles>>,
    /// Per symbol id: candles taken and signals (kept across restarts).
    seen: Vec<Seen>,
    /// DataManager's metrics: the [`GetCandles`] sent after a restart are counted there.
    data_m: Option<&'static ActorMetrics>,
    restarts: u64,
    m: &'static ActorMetrics,
}

fn fresh_states(spec: &StrategySpec) -> Vec<Option<Box<dyn StrategyKind>>> {
    (0..spec.symbols.len())
        .map(|i| (spec.trades.get(i) == Some(&true)).then(|| spec.prototype.fresh()))
        .collect()
}

impl Strategy {
    /// The instance `spec`, sending what it detects to `signals_to`.
    pub fn new(
        spec: StrategySpec,
        session: Session,
        signals_to: TrackedRecipient<SignalDetected>,
        m: &'static ActorMetrics,
    ) -> Self {
        Strategy {
            states: fresh_states(&spec),
            seen: vec![Seen::default(); spec.symbols.len()],
            spec,
            session,
            signals_to,
            data: None,
            data_m: None,
            restarts: 0,
            m,
        }
    }

    /// Counts what it sends to its data source (see [`UseDataSource`]) in `m`, DataManager's
    /// metrics.
    pub fn with_source_metrics(mut self, m: &'static ActorMetrics) -> Self {
        self.data_m = Some(m);
        self
    }

    fn emit(&self, x: Detection, symbol: &str, at: i64) {
        self.signals_to.do_send(self.detected(x, symbol, at));
    }

    fn detected(&self, x: Detection, symbol: &str, at: i64) -> SignalDetected {
        SignalDetected {
            symbol: symbol.to_string(),
            strategy: self.spec.name.clone(),
            timeframe: self.spec.timeframe,
            action: x.action,
            at,
            candle_time: x.candle_time,
            price: x.price,
            stop_loss: x.stop_loss,
            target: x.target,
            confidence: x.strength,
            expected_move_pct: x.expected_move_pct,
            ema_fast: x.ema_fast,
            ema_slow: x.ema_slow,
        }
    }

    fn on_candles(&mut self, msg: &JudgeCandles) -> Vec<SignalDetected> {
        let mut out = Vec::new();
        for e in &msg.0 {
            let sym = e.candle.symbol.0 as usize;
            let Some(Some(st)) = self.states.get_mut(sym) else {
                continue;
            };
            let hit = match e.state {
                CandleState::Closed => st.on_closed(&e.candle),
                CandleState::Forming => st.on_forming(&e.candle),
            };
            if let Some(seen) = self.seen.get_mut(sym) {
                seen.signals += hit.is_some() as u64;
                if e.state == CandleState::Closed && seen.take(e.candle.ts) {
                    let seen = *seen;
                    self.note_warmup(e.candle.symbol, &seen);
                }
            }
            if let Some(x) = hit {
                out.push(self.detected(x, self.spec.symbols.name(e.candle.symbol), e.at));
            }
        }
        out
    }

    /// Logs the warm-up progress of `symbol` after a new closed candle (only while warming
    /// up: one line per candle, never per tick).
    fn note_warmup(&self, symbol: messages::SymbolId, seen: &Seen) {
        let level = self.spec.event_level;
        if seen.candles <= self.spec.warmup && log::log_enabled!(level) {
            if let Some(note) = seen.warmup_note(self.spec.warmup) {
                log::log!(
                    level,
                    "strategy:{}: {} {note}",
                    self.spec.name,
                    self.spec.symbols.name(symbol)
                );
            }
        }
    }

    /// Candles taken, warm-up and signals of each symbol the instance trades.
    fn progress(&self) -> Vec<SymbolProgress> {
        self.spec
            .symbols
            .iter()
            .filter(|(id, _)| self.spec.trades.get(id.0 as usize) == Some(&true))
            .map(|(id, name)| {
                let s = self.seen.get(id.0 as usize).copied().unwrap_or_default();
                SymbolProgress {
                    symbol: name.to_string(),
                    candles: s.candles,
                    warmup: self.spec.warmup,
                    signals: s.signals,
                    last_candle: s.last,
                }
            })
            .collect()
    }

    /// Rebuilds every symbol's state from DataManager's history (after a restart).
    fn rebuild(&mut self, ctx: &mut Context<Self>) {
        let Some(data) = self.data.clone() else {
            log::warn!(
                "strategy:{}: no data source to rebuild from; indicators start empty",
                self.spec.name
            );
            return;
        };
        let tf = self.spec.timeframe;
        let traded: Vec<_> = self
            .spec
            .symbols
            .iter()
            .filter(|(id, _)| self.spec.trades.get(id.0 as usize) == Some(&true))
            .map(|(id, name)| (id, name.to_string()))
            .collect();
        for (id, name) in traded {
            if let Some(m) = self.data_m {
                m.on_send();
            }
            ctx.wait(
                data.send(GetCandles {
                    symbol: id,
                    timeframe: tf,
                })
                .into_actor(self)
                .map(move |res, act, _| match res {
                    Ok(d) => {
                        // Closed candles are judged again: a signal in a candle that was
                        // queued behind the crash is not missed, and ones already seen carry
                        // the same signal id, which SignalManager drops.
                        let mut hits = Vec::new();
                        if let Some(Some(st)) = act.states.get_mut(id.0 as usize) {
                            for c in &d.closed {
                                if let Some(x) = st.on_closed(c) {
                                    hits.push((x, act.session.bucket(tf, c.ts).end));
                                }
                            }
                        }
                        for (x, at) in hits {
                            act.emit(x, &name, at);
                        }
                        log::info!(
                            "strategy:{}: rebuilt {name} from {} candles",
                            act.spec.name,
                            d.closed.len()
                        );
                    }
                    Err(e) => log::error!("strategy:{}: cannot rebuild {name}: {e}", act.spec.name),
                }),
            );
        }
    }
}

impl Actor for Strategy {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        if self.restarts > 0 {
            self.rebuild(ctx);
        }
    }
}

impl Supervised for Strategy {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
        // The state may be half-updated: start over and rebuild in `started()`.
        self.states = fresh_states(&self.spec);
    }
}

impl Handler<JudgeCandles> for Strategy {
    type Result = MessageResult<JudgeCandles>;

    fn handle(&mut self, msg: JudgeCandles, ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(guard(self.m, ctx, |_| self.on_candles(&msg)).unwrap_or_default())
    }
}

impl Handler<HistoryLoaded> for Strategy {
    type Result = ();

    fn handle(&mut self, msg: HistoryLoaded, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| {
            let sym = msg.symbol.0 as usize;
            if let (Some(Some(st)), Some(seen)) = (self.states.get_mut(sym), self.seen.get_mut(sym))
            {
                for c in &msg.candles {
                    st.warm(c);
                    seen.take(c.ts);
                }
                let seen = *seen;
                self.note_warmup(msg.symbol, &seen);
            }
        });
    }
}

impl Handler<UseDataSource> for Strategy {
    type Result = ();

    fn handle(&mut self, msg: UseDataSource, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.data = Some(msg.0);
    }
}

impl Handler<GetStrategyProgress> for Strategy {
    type Result = MessageResult<GetStrategyProgress>;

    fn handle(&mut self, _: GetStrategyProgress, _ctx: &mut Context<Self>) -> Self::Result {
        self.m.count_handled();
        MessageResult(self.progress())
    }
}

impl Handler<InjectPanic> for Strategy {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        let name = self.spec.name.clone();
        guard(self.m, ctx, |_| {
            panic!("fault injected into strategy:{name}")
        });
    }
}

impl Handler<Drain> for Strategy {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {
        self.m.count_handled();
    }
}

impl Handler<GetRestarts> for Strategy {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn seen_counts_each_newer_candle_once_and_notes_the_warmup() {
        let mut s = Seen::default();
        assert!(s.take(900));
        assert!(!s.take(900), "the same candle again");
        assert!(!s.take(0), "an older one");
        assert!(s.take(1800));
        assert_eq!((s.candles, s.last), (2, Some(1800)));
        assert_eq!(
            s.warmup_note(3).as_deref(),
            Some("warming up: 2/3 candles (signals once there are 3)")
        );
        assert!(s.take(2700));
        assert_eq!(
            s.warmup_note(3).as_deref(),
            Some("warmed up (3/3 candles): signals can come from now on")
        );
        assert!(s.take(3600));
        assert_eq!(s.warmup_note(3), None, "nothing once warm");
    }
}
