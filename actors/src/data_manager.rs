//! **DataManager** — owns per-symbol candle history and realtime aggregation, at every
//! timeframe a strategy instance uses.
//!
//! - Owns: per timeframe, an [`Aggregator`] (ticks/bars → candles aligned to the session open)
//!   and the last `periods` closed candles per symbol ([`History`]: the store's merged with
//!   realtime); the routes to the strategy instances; the counters of accepted and
//!   dropped input.
//! - Handles: [`TicksReceived`], [`BarsReceived`], [`MixedBarsReceived`] (several symbols'
//!   bars in time order), [`RunningCandlesLoaded`] (the broker's
//!   candle of a running interval, resumed as forming), [`AdvanceClock`], [`GetCandles`],
//!   [`GetDataStats`], [`GetMarketStatus`] (data time, last prices), [`InjectPanic`], [`Drain`],
//!   [`GetRestarts`].
//! - Sends: [`JudgeCandles`] and [`HistoryLoaded`] to each Strategy instance (its timeframe
//!   and its symbols only); their replies, merged in time order, as one [`SignalsDetected`]
//!   to SignalManager; the finest timeframe's [`CandlesUpdated`] to PositionManager (after
//!   the instances' asks, before their detections go on); [`LoadHistory`] and
//!   [`PersistCandles`] (a batch's closed candles, when `persist_candles`, once its
//!   detections are with SignalManager) to DbWriter.
//!
//! Invalid ticks and bars (NaN, price ≤ 0, negative volume, out of order, outside the session)
//! are counted by reason and dropped with a log line; they never stop the actor.

use actix::prelude::*;
use messages::msg::*;
use messages::{Bar, Candle, CandleEvent, CandleState, SymbolId, Symbols, Timeframe};

use crate::db_writer::DbWriter;
use crate::logic::aggregator::{Aggregator, Reject};
use crate::logic::history::History;
use crate::logic::session::Session;
use crate::metrics::{ActorMetrics, Tracked, TrackedRecipient};
use crate::supervisor::{guard, note_restart};

const NAME: &str = "data_manager";

/// One timeframe DataManager aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSpec {
    pub timeframe: Timeframe,
    /// Closed candles kept per symbol (the most any instance of this timeframe keeps).
    pub periods: usize,
    /// Report every update of the forming candle (some instance judges forming candles).
    pub include_incomplete: bool,
}

/// What DataManager needs to know.
#[derive(Debug, Clone)]
pub struct DataManagerConfig {
    pub symbols: Symbols,
    pub session: Session,
    /// Every timeframe in use, finest first (at least one).
    pub frames: Vec<FrameSpec>,
    pub persist_candles: bool,
    pub load_history: bool,
}

/// Where one strategy instance's candles go.
pub struct CandleRoute {
    pub timeframe: Timeframe,
    /// Per symbol id, whether the instance trades it.
    pub symbols: Vec<bool>,
    pub candles: TrackedRecipient<JudgeCandles>,
    pub history: TrackedRecipient<HistoryLoaded>,
}

/// One timeframe's state.
struct Frame {
    spec: FrameSpec,
    agg: Aggregator,
    history: History,
    /// Routes fed by this frame (indices into `routes`).
    routes: Vec<usize>,
}

/// The DataManager actor.
pub struct DataManager {
    cfg: DataManagerConfig,
    frames: Vec<Frame>,
    routes: Vec<CandleRoute>,
    /// PositionManager: gets every batch's events of the finest timeframe before the batch's
    /// detections go to SignalManager, so its view of prices is never behind a signal's time.
    positions_to: Option<TrackedRecipient<CandlesUpdated>>,
    /// SignalManager: the instances' detections of each batch, merged in time order.
    signals_to: TrackedRecipient<SignalsDetected>,
    db: Tracked<DbWriter>,
    /// Closed candles of the batch being finished, for the store (sent by [`Self::forward`]).
    to_persist: Vec<(Timeframe, Candle)>,
    stats: DataStats,
    restarts: u64,
    m: &'static ActorMetrics,
}

/// A batch's candle events, per frame.
type Batch = Vec<Vec<CandleEvent>>;

impl DataManager {
    /// A DataManager feeding `routes` and persisting through `db`.
    pub fn new(
        cfg: DataManagerConfig,
        routes: Vec<CandleRoute>,
        signals_to: TrackedRecipient<SignalsDetected>,
        db: Tracked<DbWriter>,
        m: &'static ActorMetrics,
    ) -> Self {
        let n = cfg.symbols.len();
        let frames = cfg
            .frames
            .iter()
            .map(|spec| Frame {
                spec: *spec,
                agg: Aggregator::new(spec.timeframe, cfg.session, n, spec.include_incomplete),
                history: History::new(n, spec.periods),
                routes: routes
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.timeframe == spec.timeframe)
                    .map(|(i, _)| i)
                    .collect(),
            })
            .collect();
        DataManager {
            cfg,
            frames,
            routes,
            positions_to: None,
            signals_to,
            db,
            to_persist: Vec::new(),
            stats: DataStats::default(),
            restarts: 0,
            m,
        }
    }

    fn frame_of(&self, tf: Timeframe) -> Option<usize> {
        self.frames.iter().position(|f| f.spec.timeframe == tf)
    }

    fn empty_batch(&self) -> Batch {
        self.frames.iter().map(|_| Vec::new()).collect()
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

    /// Appends a closed candle of frame `f` to its ring (newer than the last only) and queues it
    /// for the store (a copy: the DbWriter makes its row).
    fn on_closed(&mut self, f: usize, c: &Candle, persist: &mut Vec<(Timeframe, Candle)>) {
        self.stats.candles_closed += 1;
        let Some(frame) = self.frames.get_mut(f) else {
            return;
        };
        if !frame.history.push(*c) {
            return;
        }
        if self.cfg.persist_candles {
            persist.push((frame.spec.timeframe, *c));
        }
    }

    /// Also sends every batch's events of the finest timeframe to PositionManager.
    pub fn with_positions(mut self, to: TrackedRecipient<CandlesUpdated>) -> Self {
        self.positions_to = Some(to);
        self
    }

    /// Records the closed candles of one batch (history, and the rows `forward` sends to the
    /// store) and returns the events.
    fn finish_batch(&mut self, batch: Batch) -> Batch {
        let mut persist = std::mem::take(&mut self.to_persist);
        if self.cfg.persist_candles {
            // At most every event is a close: one allocation for the batch (the buffer goes
            // to the DbWriter with them, so it cannot be kept).
            persist.reserve(batch.iter().map(Vec::len).sum());
        }
        for (f, events) in batch.iter().enumerate() {
            for e in events {
                if e.state == CandleState::Closed {
                    self.on_closed(f, &e.candle, &mut persist);
                }
            }
        }
        self.to_persist = persist;
        batch
    }

    fn ingest_ticks(&mut self, msg: TicksReceived) -> (IngestReport, Batch) {
        let mut batch = self.empty_batch();
        let mut report = IngestReport::default();
        for t in &msg.0 {
            self.stats.ticks += 1;
            // Every frame validates alike: the first one's verdict counts.
            let mut verdict = Ok(());
            for (f, frame) in self.frames.iter_mut().enumerate() {
                let out = &mut batch[f];
                let r = frame.agg.push_tick(t, &mut |e| out.push(e));
                if f == 0 {
                    verdict = r;
                }
            }
            match verdict {
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
        (report, self.finish_batch(batch))
    }

    /// Bars of one or several symbols, each with its length in seconds, in data order.
    fn ingest_bars<'a>(
        &mut self,
        n: usize,
        bars: impl Iterator<Item = (SymbolId, &'a Bar, Option<i64>)>,
    ) -> (IngestReport, Batch) {
        let mut batch = self.empty_batch();
        if let Some(first) = batch.first_mut() {
            first.reserve(n);
        }
        let mut report = IngestReport::default();
        for (sym, b, bar_secs) in bars {
            self.stats.bars += 1;
            let Some(bar_secs) = bar_secs else {
                report.dropped += 1;
                self.count_drop(Reject::UnknownSymbol, "bar", || {
                    format!("symbol id {}", sym.0)
                });
                continue;
            };
            // Every frame validates alike: the first one's verdict counts.
            let mut verdict = Ok(());
            for (f, frame) in self.frames.iter_mut().enumerate() {
                let out = &mut batch[f];
                let r = frame.agg.push_bar(sym, b, bar_secs, &mut |e| out.push(e));
                if f == 0 {
                    verdict = r;
                }
            }
            match verdict {
                Ok(()) => report.accepted += 1,
                Err(r) => {
                    report.dropped += 1;
                    let symbols = self.cfg.symbols.clone();
                    let b = *b;
                    self.count_drop(r, "bar", move || format!("{} {b:?}", symbols.name(sym)));
                }
            }
        }
        (report, self.finish_batch(batch))
    }

    /// Loads `periods` candles per symbol and timeframe from the store, merges them in front of
    /// what is held, and hands them to the instances of that timeframe for warm-up. Blocks
    /// other messages until done. One symbol is asked at a time: asking for all at once left
    /// every symbol's rows waiting in replies together (80 MB at 1 000 symbols × 1 000
    /// candles, on top of the rings they fill).
    fn load_history(&mut self, ctx: &mut Context<Self>) {
        if self.cfg.load_history {
            self.load_history_from(0, ctx);
        }
    }

    /// Asks for the history of the `k`-th (frame, symbol) pair, frames outermost; its reply
    /// asks for the next.
    fn load_history_from(&mut self, k: usize, ctx: &mut Context<Self>) {
        let n = self.cfg.symbols.len();
        if n == 0 || k >= n * self.frames.len() {
            return;
        }
        let (f, id) = (k / n, SymbolId((k % n) as u16));
        let FrameSpec {
            timeframe, periods, ..
        } = self.frames[f].spec;
        let name = self.cfg.symbols.name(id).to_string();
        let req = self.db.send(LoadHistory {
            symbol: name.clone(),
            interval: timeframe,
            limit: periods,
        });
        ctx.wait(req.into_actor(self).map(move |res, act, ctx| {
            match res {
                Ok(Ok(rows)) => {
                    let loaded: Vec<Candle> = rows.iter().map(|r| r.candle(id)).collect();
                    drop(rows);
                    let new = act.merge_history(f, id, &loaded);
                    log::info!(
                        "{NAME}: loaded {} {timeframe} candles of {name} from the store ({new} new)",
                        loaded.len(),
                    );
                    if !loaded.is_empty() {
                        for &r in &act.frames[f].routes {
                            let route = &act.routes[r];
                            if route.symbols.get(id.0 as usize) == Some(&true) {
                                route.history.do_send(HistoryLoaded {
                                    symbol: id,
                                    candles: loaded.clone(),
                                });
                            }
                        }
                    }
                }
                Ok(Err(e)) => log::error!(
                    "{NAME}: cannot load {timeframe} history of {name}: {e}; starting without it"
                ),
                Err(e) => log::error!(
                    "{NAME}: DbWriter unreachable for {timeframe} history of {name}: {e}"
                ),
            }
            act.load_history_from(k + 1, ctx);
        }));
    }

    /// Merges stored candles (oldest first) with frame `f`'s ring: keeps one candle per time,
    /// newest `periods`. Returns how many were new.
    fn merge_history(&mut self, f: usize, sym: SymbolId, loaded: &[Candle]) -> usize {
        let Some(frame) = self.frames.get_mut(f) else {
            return 0;
        };
        // What is held first: on equal times the held candle stays (stable sort, first kept).
        let mut all: Vec<Candle> = frame.history.iter(sym).copied().collect();
        let before = all.len();
        all.extend_from_slice(loaded);
        all.sort_by_key(|c| c.ts);
        all.dedup_by_key(|c| c.ts);
        let new = all.len() - before;
        frame.history.replace(sym, &all);
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
        self.forward(out)
    }
}

impl Handler<BarsReceived> for DataManager {
    type Result = ResponseFuture<IngestReport>;

    fn handle(&mut self, msg: BarsReceived, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| {
            let bars = msg.bars.iter().map(|b| (msg.symbol, b, Some(msg.bar_secs)));
            self.ingest_bars(msg.bars.len(), bars)
        });
        self.forward(out)
    }
}

impl Handler<MixedBarsReceived> for DataManager {
    type Result = ResponseFuture<IngestReport>;

    fn handle(&mut self, msg: MixedBarsReceived, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| {
            let secs = &msg.bar_secs;
            let bars = msg
                .bars
                .iter()
                .map(|(s, b)| (*s, b, secs.get(s.0 as usize).copied()));
            self.ingest_bars(msg.bars.len(), bars)
        });
        self.forward(out)
    }
}

impl DataManager {
    /// Sends the batch's events to each instance (its timeframe, its symbols) and to
    /// PositionManager (the finest timeframe); the reply waits until every instance has taken
    /// them, so a feed that awaits it never outruns the pipeline.
    ///
    /// The instances are asked first: on this thread they judge before PositionManager takes
    /// the prices, and a detection does not wait for that. PositionManager still has the
    /// batch's prices in its mailbox before any signal of the batch reaches SignalManager
    /// (which is sent only once the instances answered), so no question about a signal of the
    /// batch can reach PositionManager ahead of the prices up to it.
    ///
    /// The batch's detections go to SignalManager in one message; its closed candles go to the
    /// store after that (and, when there were signals, after SignalManager had its turn on
    /// this thread): waking DbWriter's thread is a system call that need not come before a
    /// signal, and the DbWriter makes the rows.
    fn forward(&mut self, out: Option<(IngestReport, Batch)>) -> ResponseFuture<IngestReport> {
        let Some((mut report, mut batch)) = out else {
            return Box::pin(async { IngestReport::default() });
        };
        let closed = std::mem::take(&mut self.to_persist);
        let persist = (!closed.is_empty()).then(|| PersistCandles {
            symbols: self.cfg.symbols.clone(),
            candles: closed,
        });
        if batch.iter().all(Vec::is_empty) {
            if let Some(p) = persist {
                self.db.do_send(p);
            }
            return Box::pin(async move { report });
        }
        // PositionManager's copy is taken first: the last route takes the batch itself.
        let prices = match (&self.positions_to, batch.first()) {
            (Some(p), Some(finest)) if !finest.is_empty() => Some((p, finest.clone())),
            _ => None,
        };
        let mut asks = Vec::new();
        for (frame, events) in self.frames.iter().zip(batch.iter_mut()) {
            if events.is_empty() {
                continue;
            }
            let n = frame.routes.len();
            for (k, &r) in frame.routes.iter().enumerate() {
                let route = &self.routes[r];
                let mine: Vec<CandleEvent> = if route.symbols.iter().all(|b| *b) {
                    if k + 1 == n {
                        // The last route of the frame takes the batch itself.
                        std::mem::take(events)
                    } else {
                        events.clone()
                    }
                } else {
                    events
                        .iter()
                        .filter(|e| route.symbols.get(e.candle.symbol.0 as usize) == Some(&true))
                        .copied()
                        .collect()
                };
                if !mine.is_empty() {
                    asks.push(route.candles.send(JudgeCandles(mine)));
                }
            }
        }
        if let Some((p, events)) = prices {
            p.do_send(CandlesUpdated(events));
        }
        let (signals_to, db) = (self.signals_to.clone(), self.db.clone());
        Box::pin(async move {
            let mut found: Vec<SignalDetected> = Vec::new();
            for req in asks {
                match req.await {
                    Ok(d) => found.extend(d),
                    Err(e) => log::error!("{NAME}: a strategy did not take a candle batch: {e}"),
                }
            }
            // In time order across instances; one instance's own order is kept (stable sort,
            // instances in config order): the same batch always gives the same sequence.
            found.sort_by_key(|d| d.at);
            report.signals = found.len() as u64;
            if !found.is_empty() {
                signals_to.do_send(SignalsDetected(found));
            }
            if let Some(p) = persist {
                if report.signals > 0 {
                    tokio::task::yield_now().await;
                }
                db.do_send(p);
            }
            report
        })
    }
}

impl Handler<RunningCandlesLoaded> for DataManager {
    type Result = ResponseFuture<IngestReport>;

    fn handle(&mut self, msg: RunningCandlesLoaded, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| {
            let mut batch = self.empty_batch();
            let mut report = IngestReport::default();
            let Some(f) = self.frame_of(msg.timeframe) else {
                log::warn!(
                    "{NAME}: running {} candles ignored: no strategy uses that timeframe",
                    msg.timeframe
                );
                return (report, batch);
            };
            for c in &msg.candles {
                let out = &mut batch[f];
                match self.frames[f]
                    .agg
                    .resume_forming(c, msg.at, &mut |e| out.push(e))
                {
                    Ok(()) => {
                        report.accepted += 1;
                        log::info!(
                            "{NAME}: {} candle of {} at {} is still running: resumed as forming (o {} h {} l {} c {} v {})",
                            msg.timeframe,
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
            (report, self.finish_batch(batch))
        });
        self.forward(out)
    }
}

impl Handler<AdvanceClock> for DataManager {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: AdvanceClock, ctx: &mut Context<Self>) -> Self::Result {
        let out = guard(self.m, ctx, |_| {
            let mut batch = self.empty_batch();
            for (frame, out) in self.frames.iter_mut().zip(batch.iter_mut()) {
                frame.agg.advance(msg.now, &mut |e| out.push(e));
            }
            (IngestReport::default(), self.finish_batch(batch))
        });
        let f = self.forward(out);
        Box::pin(async move {
            f.await;
        })
    }
}

impl Handler<GetCandles> for DataManager {
    type Result = StrategyData;

    fn handle(&mut self, msg: GetCandles, _ctx: &mut Context<Self>) -> StrategyData {
        self.m.count_handled();
        let Some(frame) = self.frame_of(msg.timeframe).map(|f| &self.frames[f]) else {
            return StrategyData::default();
        };
        let closed = frame.history.iter(msg.symbol).copied().collect();
        let forming = if frame.spec.include_incomplete {
            frame.agg.forming(msg.symbol)
        } else {
            None
        };
        StrategyData { closed, forming }
    }
}

impl DataManager {
    /// The data time and each symbol's last price, from the finest timeframe.
    fn market_status(&self) -> MarketStatus {
        let Some(frame) = self.frames.first() else {
            return MarketStatus::default();
        };
        let symbols: Vec<SymbolMarket> = self
            .cfg
            .symbols
            .iter()
            .map(|(id, name)| SymbolMarket {
                symbol: name.to_string(),
                last_price: frame
                    .agg
                    .forming(id)
                    .map(|c| c.close)
                    .or_else(|| frame.history.last(id).map(|c| c.close)),
                last_at: frame.agg.last_ts(id),
            })
            .collect();
        MarketStatus {
            data_time: symbols.iter().filter_map(|s| s.last_at).max(),
            symbols,
        }
    }
}

impl Handler<GetMarketStatus> for DataManager {
    type Result = MarketStatus;

    fn handle(&mut self, _: GetMarketStatus, _ctx: &mut Context<Self>) -> MarketStatus {
        self.m.count_handled();
        self.market_status()
    }
}

impl Handler<GetDataStats> for DataManager {
    type Result = DataStats;

    fn handle(&mut self, _: GetDataStats, _ctx: &mut Context<Self>) -> DataStats {
        self.m.count_handled();
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

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {
        self.m.count_handled();
    }
}

impl Handler<GetRestarts> for DataManager {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}
