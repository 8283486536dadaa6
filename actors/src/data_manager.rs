//! **DataManager** — owns per-symbol candle history and realtime aggregation.
//!
//! - Owns: the [`Aggregator`] (ticks/bars → candles of the strategy timeframe, aligned to the
//!   session open), a ring of the last `periods` closed candles per symbol (history from the
//!   store merged with realtime), and the counters of accepted and dropped input.
//! - Handles: [`TicksReceived`], [`BarsReceived`], [`RunningCandlesLoaded`] (the broker's
//!   candle of a running interval, resumed as forming), [`AdvanceClock`], [`GetCandles`],
//!   [`GetDataStats`], [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: [`CandlesUpdated`] and [`HistoryLoaded`] to Strategy; [`LoadHistory`] and
//!   [`Persist`] (closed candles, when `persist_candles`) to DbWriter.
//!
//! Invalid ticks and bars (NaN, price ≤ 0, negative volume, out of order, outside the session)
//! are counted by reason and dropped with a log line; they never stop the actor.

use std::collections::VecDeque;

use actix::prelude::*;
use messages::msg::*;
use messages::{Candle, CandleEvent, CandleRow, CandleState, Row, Symbols, Timeframe};

use crate::db_writer::DbWriter;
use crate::logic::aggregator::{Aggregator, Reject};
use crate::logic::session::Session;
use crate::metrics::{ActorMetrics, Tracked, TrackedRecipient};
use crate::supervisor::{guard, note_restart};

const NAME: &str = "data_manager";

/// What DataManager needs to know.
#[derive(Debug, Clone)]
pub struct DataManagerConfig {
    pub symbols: Symbols,
    pub timeframe: Timeframe,
    pub session: Session,
    pub periods: usize,
    pub include_incomplete: bool,
    pub persist_candles: bool,
    pub load_history: bool,
}

/// The DataManager actor.
pub struct DataManager {
    cfg: DataManagerConfig,
    agg: Aggregator,
    history: Vec<VecDeque<Candle>>,
    candles_to: TrackedRecipient<CandlesUpdated>,
    history_to: TrackedRecipient<HistoryLoaded>,
    /// PositionManager: gets every batch's events before Strategy, so its view of prices is
    /// never behind a signal's time.
    positions_to: Option<TrackedRecipient<CandlesUpdated>>,
    db: Tracked<DbWriter>,
    stats: DataStats,
    restarts: u64,
    m: &'static ActorMetrics,
}

impl DataManager {
    /// A DataManager publishing to Strategy and persisting through `db`.
    pub fn new(
        cfg: DataManagerConfig,
        candles_to: TrackedRecipient<CandlesUpdated>,
        history_to: TrackedRecipient<HistoryLoaded>,
        db: Tracked<DbWriter>,
        m: &'static ActorMetrics,
    ) -> Self {
        let n = cfg.symbols.len();
        DataManager {
            agg: Aggregator::new(cfg.timeframe, cfg.session, n, cfg.include_incomplete),
            history: (0..n)
                .map(|_| VecDeque::with_capacity(cfg.periods))
                .collect(),
            cfg,
            candles_to,
            history_to,
            positions_to: None,
            db,
            stats: DataStats::default(),
            restarts: 0,
            m,
        }
    }

    fn count_drop(&mut self, r: Reject, what: &str, detail: impl FnOnce() -> String) {
        let s = &mut self.stats;
        let counter = match r {
            Reject::NotFinite => &mut s.dropped_not_finite,
            Reject::NonPositive => &mut s.dropped_non_positive,
            Reject::NegativeVolume => &mut s.dropped_negative_volume,
            Reject::Inconsistent => &mut s.dropped_inconsistent,
            Reject::OutOfOrder => &mut s.dropped_out_of_order,
            Reject::OutsideSession => &mut s.dropped_outside_session,
            Reject::UnknownSymbol => &mut s.dropped_unknown_symbol,
        };
        *counter += 1;
        // One line per drop for the first few of each reason, then every 1000th.
        if *counter <= 20 || *counter % 1000 == 0 {
            log::warn!(
                "{NAME}: dropped {what} ({r:?}, #{} of this reason): {}",
                *counter,
                detail()
            );
        }
    }

    /// Appends a closed candle to the ring (newer than the last only) and queues it for the store.
    fn on_closed(&mut self, c: &Candle, persist: &mut Vec<Row>) {
        self.stats.candles_closed += 1;
        let Some(ring) = self.history.get_mut(c.symbol.0 as usize) else {
            return;
        };
        if ring.back().is_some_and(|last| last.ts >= c.ts) {
            return;
        }
        if ring.len() == self.cfg.periods {
            ring.pop_front();
        }
        ring.push_back(*c);
        if self.cfg.persist_candles {
            persist.push(Row::Candle(CandleRow {
                symbol: self.cfg.symbols.name(c.symbol).to_string(),
                interval: self.cfg.timeframe,
                ts: c.ts,
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
            }));
        }
    }

    /// Also sends every batch's events to PositionManager.
    pub fn with_positions(mut self, to: TrackedRecipient<CandlesUpdated>) -> Self {
        self.positions_to = Some(to);
        self
    }

    /// Records the closed candles of one batch (history, store) and returns the events.
    fn finish_batch(&mut self, events: Vec<CandleEvent>) -> Vec<CandleEvent> {
        let mut persist = Vec::new();
        for e in &events {
            if e.state == CandleState::Closed {
                self.on_closed(&e.candle, &mut persist);
            }
        }
        if !persist.is_empty() {
            self.db.do_send(Persist(persist));
        }
        events
    }

    fn ingest_ticks(&mut self, msg: TicksReceived) -> (IngestReport, Vec<CandleEvent>) {
        let mut events = Vec::new();
        let mut report = IngestReport::default();
        for t in &msg.0 {
            self.stats.ticks += 1;
            match self.agg.push_tick(t, &mut |e| events.push(e)) {
                Ok(()) => report.accepted += 1,
                Err(r) => {
                    report.dropped += 1;
                    // The text is built only when the drop is logged.
                    let symbols = self.cfg.symbols.clone();
                    let t = *t;
                    self.count_drop(r, "tick", move || {
                        format!(
                            "{} ts={} price={} volume={}",
                            symbols.name(t.symbol),
                            t.ts,
                            t.price,
                            t.volume
                        )
                    });
                }
            }
        }
        (report, self.finish_batch(events))
    }

    fn ingest_bars(&mut self, msg: BarsReceived) -> (IngestReport, Vec<CandleEvent>) {
        let mut events = Vec::with_capacity(msg.bars.len());
        let mut report = IngestReport::default();
        for b in &msg.bars {
            self.stats.bars += 1;
            match self
                .agg
                .push_bar(msg.symbol, b, msg.bar_secs, &mut |e| events.push(e))
            {
                Ok(()) => report.accepted += 1,
                Err(r) => {
                    report.dropped += 1;
                    let symbols = self.cfg.symbols.clone();
                    let sym = msg.symbol;
                    self.count_drop(r, "bar", move || format!("{} {b:?}", symbols.name(sym)));
                }
            }
        }
        (report, self.finish_batch(events))
    }

    /// Loads `periods` candles per symbol from the store, merges them in front of what is held,
    /// and hands them to Strategy for warm-up. Blocks other messages until done.
    fn load_history(&mut self, ctx: &mut Context<Self>) {
        if !self.cfg.load_history {
            return;
        }
        for (id, name) in self.cfg.symbols.iter() {
            let req = self.db.send(LoadHistory {
                symbol: name.to_string(),
                interval: self.cfg.timeframe,
                limit: self.cfg.periods,
            });
            let name = name.to_string();
            ctx.wait(req.into_actor(self).map(move |res, act, _| match res {
                Ok(Ok(rows)) => {
                    let loaded: Vec<Candle> = rows
                        .iter()
                        .map(|r| Candle {
                            symbol: id,
                            ts: r.ts,
                            open: r.open,
                            high: r.high,
                            low: r.low,
                            close: r.close,
                            volume: r.volume,
                        })
                        .collect();
                    let n = act.merge_history(id.0 as usize, &loaded);
                    log::info!(
                        "{NAME}: loaded {} {} candles of {name} from the store ({n} new)",
                        loaded.len(),
                        act.cfg.timeframe
                    );
                    if !loaded.is_empty() {
                        act.history_to.do_send(HistoryLoaded {
                            symbol: id,
                            candles: loaded,
                        });
                    }
                }
                Ok(Err(e)) => {
                    log::error!("{NAME}: cannot load history of {name}: {e}; starting without it")
                }
                Err(e) => log::error!("{NAME}: DbWriter unreachable for history of {name}: {e}"),
            }));
        }
    }

    /// Merges stored candles (oldest first) with the ring: keeps one candle per time, newest
    /// `periods`. Returns how many were new.
    fn merge_history(&mut self, idx: usize, loaded: &[Candle]) -> usize {
        let Some(ring) = self.history.get_mut(idx) else {
            return 0;
        };
        let mut all: Vec<Candle> = ring.drain(..).collect();
        let before = all.len();
        all.extend_from_slice(loaded);
        all.sort_by_key(|c| c.ts);
        all.dedup_by_key(|c| c.ts);
        let new = all.len() - before;
        let skip = all.len().saturating_sub(self.cfg.periods);
        ring.extend(all.into_iter().skip(skip));
        new
    }
}

impl Actor for DataManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        self.load_history(ctx);
    }
}

impl Supervised for DataManager {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
        // The history ring holds only closed candles and is kept; `started()` reloads and
        // merges the store's history again (idempotent by candle time).
    }
}

impl Handler<TicksReceived> for DataManager {
    type Result = ResponseFuture<IngestReport>;

    fn handle(&mut self, msg: TicksReceived, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| self.ingest_ticks(msg));
        forward(out, &self.candles_to, self.positions_to.as_ref())
    }
}

impl Handler<BarsReceived> for DataManager {
    type Result = ResponseFuture<IngestReport>;

    fn handle(&mut self, msg: BarsReceived, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| self.ingest_bars(msg));
        forward(out, &self.candles_to, self.positions_to.as_ref())
    }
}

/// Sends the batch's events to Strategy; the reply waits until Strategy has taken them, so a
/// feed that awaits it never outruns the pipeline.
fn forward(
    out: Option<(IngestReport, Vec<CandleEvent>)>,
    to: &TrackedRecipient<CandlesUpdated>,
    positions: Option<&TrackedRecipient<CandlesUpdated>>,
) -> ResponseFuture<IngestReport> {
    let Some((mut report, events)) = out else {
        return Box::pin(async { IngestReport::default() });
    };
    if events.is_empty() {
        return Box::pin(async move { report });
    }
    if let Some(p) = positions {
        p.do_send(CandlesUpdated(events.clone()));
    }
    let req = to.send(CandlesUpdated(events));
    Box::pin(async move {
        match req.await {
            Ok(n) => report.signals = n as u64,
            Err(e) => log::error!("{NAME}: Strategy did not take a candle batch: {e}"),
        }
        report
    })
}

impl Handler<RunningCandlesLoaded> for DataManager {
    type Result = ResponseFuture<IngestReport>;

    fn handle(&mut self, msg: RunningCandlesLoaded, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| {
            let mut events = Vec::new();
            let mut report = IngestReport::default();
            for c in &msg.candles {
                match self.agg.resume_forming(c, msg.at, &mut |e| events.push(e)) {
                    Ok(()) => {
                        report.accepted += 1;
                        log::info!(
                            "{NAME}: {} candle of {} at {} is still running: resumed as forming (o {} h {} l {} c {} v {})",
                            self.cfg.timeframe,
                            self.cfg.symbols.name(c.symbol),
                            c.ts,
                            c.open,
                            c.high,
                            c.low,
                            c.close,
                            c.volume
                        );
                    }
                    Err(r) => {
                        report.dropped += 1;
                        let symbols = self.cfg.symbols.clone();
                        let c = *c;
                        self.count_drop(r, "running candle", move || {
                            format!("{} {c:?}", symbols.name(c.symbol))
                        });
                    }
                }
            }
            (report, self.finish_batch(events))
        });
        forward(out, &self.candles_to, self.positions_to.as_ref())
    }
}

impl Handler<AdvanceClock> for DataManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: AdvanceClock, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| {
            let mut events = Vec::new();
            self.agg.advance(msg.now, &mut |e| events.push(e));
            (IngestReport::default(), self.finish_batch(events))
        });
        let f = forward(out, &self.candles_to, self.positions_to.as_ref());
        Box::pin(async move {
            f.await;
        })
    }
}

impl Handler<GetCandles> for DataManager {
    type Result = StrategyData;

    fn handle(&mut self, msg: GetCandles, _ctx: &mut Context<Self>) -> StrategyData {
        let closed = self
            .history
            .get(msg.symbol.0 as usize)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        let forming = if self.cfg.include_incomplete {
            self.agg.forming(msg.symbol)
        } else {
            None
        };
        StrategyData { closed, forming }
    }
}

impl Handler<GetDataStats> for DataManager {
    type Result = DataStats;

    fn handle(&mut self, _: GetDataStats, _ctx: &mut Context<Self>) -> DataStats {
        self.stats.clone()
    }
}

impl Handler<InjectPanic> for DataManager {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for DataManager {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {}
}

impl Handler<GetRestarts> for DataManager {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.restarts
    }
}
