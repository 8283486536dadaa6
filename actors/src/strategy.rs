//! **Strategy** — the EMA fast/slow crossover (`ma_crossover`) over every symbol.
//!
//! - Owns: one [`Crossover`] detector per symbol (two incremental EMAs each: O(1) per candle).
//! - Handles: [`CandlesUpdated`] (closed candles update the EMAs and may signal; forming ones
//!   are evaluated without changing them), [`HistoryLoaded`] (warm-up, never signals),
//!   [`UseDataSource`], [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: [`SignalDetected`] to SignalManager; [`GetCandles`] to DataManager after a restart,
//!   to rebuild its EMAs from the candle history.

use actix::prelude::*;
use messages::msg::*;
use messages::{CandleState, Symbols, Timeframe};

use crate::logic::crossover::{Cross, Crossover, CrossoverParams};
use crate::logic::session::Session;
use crate::metrics::{ActorMetrics, TrackedRecipient};
use crate::supervisor::{guard, note_restart};

const NAME: &str = "strategy";

/// The strategy's name in signals and ids.
pub const STRATEGY_NAME: &str = "ma_crossover";

/// The Strategy actor.
pub struct Strategy {
    symbols: Symbols,
    timeframe: Timeframe,
    session: Session,
    params: CrossoverParams,
    detectors: Vec<Crossover>,
    signals_to: TrackedRecipient<SignalDetected>,
    data: Option<Recipient<GetCandles>>,
    restarts: u64,
    m: &'static ActorMetrics,
}

impl Strategy {
    /// A Strategy over `symbols`, sending what it detects to `signals_to`.
    pub fn new(
        symbols: Symbols,
        timeframe: Timeframe,
        session: Session,
        params: CrossoverParams,
        signals_to: TrackedRecipient<SignalDetected>,
        m: &'static ActorMetrics,
    ) -> Self {
        Strategy {
            session,
            detectors: vec![Crossover::new(params); symbols.len()],
            symbols,
            timeframe,
            params,
            signals_to,
            data: None,
            restarts: 0,
            m,
        }
    }

    fn emit(&self, x: Cross, symbol: &str, at: i64) {
        self.signals_to.do_send(SignalDetected {
            symbol: symbol.to_string(),
            strategy: STRATEGY_NAME.to_string(),
            timeframe: self.timeframe,
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
        });
    }

    fn on_candles(&mut self, msg: &CandlesUpdated) -> u32 {
        let mut n = 0;
        for e in &msg.0 {
            let Some(det) = self.detectors.get_mut(e.candle.symbol.0 as usize) else {
                continue;
            };
            let hit = match e.state {
                CandleState::Closed => det.on_closed(&e.candle),
                CandleState::Forming => det.on_forming(&e.candle),
            };
            if let Some(x) = hit {
                self.emit(x, self.symbols.name(e.candle.symbol), e.at);
                n += 1;
            }
        }
        n
    }

    /// Rebuilds every detector from DataManager's history (after a restart).
    fn rebuild(&mut self, ctx: &mut Context<Self>) {
        let Some(data) = self.data.clone() else {
            log::warn!("{NAME}: no data source to rebuild from; indicators start empty");
            return;
        };
        for (id, name) in self.symbols.iter() {
            let name = name.to_string();
            ctx.wait(data.send(GetCandles { symbol: id }).into_actor(self).map(
                move |res, act, _| match res {
                    Ok(d) => {
                        // Closed candles are judged again: a crossover in a candle that was
                        // queued behind the crash is not missed, and ones already seen carry
                        // the same signal id, which SignalManager drops.
                        let mut hits = Vec::new();
                        if let Some(det) = act.detectors.get_mut(id.0 as usize) {
                            for c in &d.closed {
                                if let Some(x) = det.on_closed(c) {
                                    hits.push((x, act.session.bucket(act.timeframe, c.ts).end));
                                }
                            }
                        }
                        for (x, at) in hits {
                            act.emit(x, &name, at);
                        }
                        log::info!("{NAME}: rebuilt {name} from {} candles", d.closed.len());
                    }
                    Err(e) => log::error!("{NAME}: cannot rebuild {name}: {e}"),
                },
            ));
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
        // Indicator state may be half-updated: start over and rebuild in `started()`.
        self.detectors = vec![Crossover::new(self.params); self.symbols.len()];
    }
}

impl Handler<CandlesUpdated> for Strategy {
    type Result = u32;

    fn handle(&mut self, msg: CandlesUpdated, ctx: &mut Context<Self>) -> u32 {
        guard(self.m, ctx, |_| self.on_candles(&msg)).unwrap_or(0)
    }
}

impl Handler<HistoryLoaded> for Strategy {
    type Result = ();

    fn handle(&mut self, msg: HistoryLoaded, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| {
            if let Some(det) = self.detectors.get_mut(msg.symbol.0 as usize) {
                for c in &msg.candles {
                    det.warm(c);
                }
            }
        });
    }
}

impl Handler<UseDataSource> for Strategy {
    type Result = ();

    fn handle(&mut self, msg: UseDataSource, _ctx: &mut Context<Self>) {
        self.data = Some(msg.0);
    }
}

impl Handler<InjectPanic> for Strategy {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for Strategy {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {}
}

impl Handler<GetRestarts> for Strategy {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.restarts
    }
}
