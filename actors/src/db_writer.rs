//! **DbWriter** — the only writer to the store.
//!
//! - Owns: the [`Store`] (SQLite by default), the rows pending commit, and the callers waiting
//!   for their rows to be committed.
//! - Handles: [`Persist`], [`PersistCandles`] (rows made here, off the market-data path),
//!   [`PersistSignals`], [`Flush`], [`AreSignalsProcessed`],
//!   [`QuerySignals`], [`CountSignals`], [`LoadHistory`], [`LoadRecovery`], [`LoadBook`],
//!   [`GetWriterStats`],
//!   [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: nothing; it answers.
//!
//! Rows are batched into one transaction (group commit). An awaited write is committed as
//! soon as the mailbox is empty: SignalManager's [`PersistSignals`] (signals wait for their
//! commit before they are published) in a transaction of the signals alone, an awaited
//! [`Persist`] (`send`) together with every row that arrived before it. Rows sent without
//! awaiting (`do_send`: candles, decisions, positions) are committed oldest first, at most
//! `CHUNK_ROWS` to a transaction (a replay's or an import's: `batch_rows`), when a message
//! takes them to `batch_rows` and every `flush_interval` (the rest of the interval's a chunk
//! at a time after the messages that came meanwhile): an awaited signal never waits behind a
//! thousand candles. Everything pending is committed in one transaction on [`Flush`] (and the
//! queries, which read what was accepted), for an awaited [`Persist`], and when the actor
//! stops. A write is answered only once its rows are committed. A failed commit keeps every
//! row pending and retries on the next tick: nothing accepted is dropped. The store is
//! blocking, so DbWriter runs on its own arbiter (thread) and never stalls the market-data
//! path.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;
use std::time::Duration;

use actix::dev::{MessageResponse, OneshotSender};
use actix::prelude::*;
use messages::msg::*;
use messages::{CandleRow, Row, SignalKey};
use uuid::Uuid;

use crate::metrics::ActorMetrics;
use crate::store::Store;
use crate::supervisor::{guard, guard_wake, note_restart};

const NAME: &str = "db_writer";
/// How often at most DbWriter publishes the store's state for the metrics endpoint (asking the
/// store for its outbox is a query).
const STORE_GAUGES_EVERY: Duration = Duration::from_secs(1);
/// How often the store gives back its cached clean pages (between commits). SQLite's 64 MiB
/// cache is sized for a big batch's dirty pages; left alone, the pages a long run's commits
/// touch (1,000 symbols' candles land on 1,000 different leaves) fill it, ~5 MB a minute.
const RELEASE_MEMORY_EVERY: Duration = Duration::from_secs(30);

/// The most rows a commit nobody waits for carries (the batch threshold's and the interval's):
/// a signal that arrives meanwhile waits for one such commit (~0.4 ms for 256 candles on
/// different symbols) instead of a whole batch's (1.5–2.8 ms for 1,000).
const CHUNK_ROWS: usize = 256;

/// A sender awaiting a commit, with what it is answered on success.
enum Waiter {
    Rows(OneshotSender<Result<(), StoreFailure>>),
    /// [`PersistSignals`]: whether each signal was already decided.
    Signals(
        OneshotSender<Result<Option<Vec<bool>>, StoreFailure>>,
        Option<Vec<bool>>,
    ),
}

impl Waiter {
    fn committed(self) {
        // A sender that stopped waiting is no error.
        match self {
            Waiter::Rows(tx) => drop(tx.send(Ok(()))),
            Waiter::Signals(tx, processed) => drop(tx.send(Ok(processed))),
        }
    }
}

/// The senders awaiting a commit, shared with the replies (actix hands a reply the sender's
/// channel after the handler ran, and none for `do_send`).
#[derive(Default)]
struct Acks {
    waiters: Vec<Waiter>,
    /// A commit is scheduled for when the mailbox is empty.
    commit_scheduled: bool,
}

impl Acks {
    /// `w` waits for the next commit, which happens once the mailbox is empty: the context
    /// polls its spawned items after draining it, so every message already queued is
    /// accepted first and committed in the same transaction.
    fn wait(acks: &Rc<RefCell<Acks>>, ctx: &mut Context<DbWriter>, w: Waiter) {
        let mut a = acks.borrow_mut();
        a.waiters.push(w);
        if !a.commit_scheduled {
            a.commit_scheduled = true;
            ctx.spawn(actix::fut::ready(()).map(|(), act: &mut DbWriter, ctx| {
                let rows_waiting = {
                    let mut a = act.acks.borrow_mut();
                    a.commit_scheduled = false;
                    a.waiters.iter().any(|w| matches!(w, Waiter::Rows(_)))
                };
                // Scheduled by the actor itself: counted as sent too (sent ≥ handled).
                guard_wake(act.m, ctx, |_| {
                    // Only SignalManager waits: its signals alone, a small transaction.
                    let _ = if rows_waiting {
                        act.flush()
                    } else {
                        act.flush_signals()
                    };
                });
            }));
        }
    }
}

/// The answer to a [`Persist`]: when its sender awaits it, the sender waits for the commit,
/// and a commit is scheduled for when the mailbox is empty.
pub struct AwaitCommit(Rc<RefCell<Acks>>);

impl MessageResponse<DbWriter, Persist> for AwaitCommit {
    fn handle(
        self,
        ctx: &mut Context<DbWriter>,
        tx: Option<OneshotSender<Result<(), StoreFailure>>>,
    ) {
        // `do_send`: nobody waits; the rows wait for the next full commit.
        if let Some(tx) = tx {
            Acks::wait(&self.0, ctx, Waiter::Rows(tx));
        }
    }
}

/// The answer to a [`PersistSignals`]: as [`AwaitCommit`], answered with whether each signal
/// was already decided.
pub struct AwaitSignals(Rc<RefCell<Acks>>, Option<Vec<bool>>);

impl MessageResponse<DbWriter, PersistSignals> for AwaitSignals {
    fn handle(
        self,
        ctx: &mut Context<DbWriter>,
        tx: Option<OneshotSender<Result<Option<Vec<bool>>, StoreFailure>>>,
    ) {
        if let Some(tx) = tx {
            Acks::wait(&self.0, ctx, Waiter::Signals(tx, self.1));
        }
    }
}

/// The DbWriter actor.
pub struct DbWriter {
    store: Box<dyn Store>,
    batch_rows: usize,
    flush_interval: Duration,
    pending: Vec<Row>,
    /// Signals waiting to be published ([`PersistSignals`]): committed on their own as soon
    /// as the mailbox is empty, ahead of the rows in `pending` nobody waits for.
    signals: Vec<Row>,
    pending_decisions: HashSet<Uuid>,
    acks: Rc<RefCell<Acks>>,
    /// The most rows in a commit nobody waits for ([`CHUNK_ROWS`]; a replay's, `batch_rows`).
    chunk_rows: usize,
    /// The rest of an interval's commit is scheduled, a chunk at a time, after the mailbox.
    trickling: bool,
    last_release: std::time::Instant,
    stats: WriterStats,
    restarts: u64,
    /// Where the store's state is published for the metrics endpoint (at most once a
    /// [`STORE_GAUGES_EVERY`]), and when it last was.
    trading: Option<&'static crate::metrics::trading::Trading>,
    published: Option<std::time::Instant>,
    m: &'static ActorMetrics,
}

impl DbWriter {
    /// A DbWriter over `store`.
    pub fn new(
        store: Box<dyn Store>,
        batch_rows: usize,
        flush_interval: Duration,
        m: &'static ActorMetrics,
    ) -> Self {
        DbWriter {
            stats: WriterStats {
                backend: store.backend().to_string(),
                ..Default::default()
            },
            store,
            batch_rows: batch_rows.max(1),
            flush_interval,
            pending: Vec::new(),
            signals: Vec::new(),
            pending_decisions: HashSet::new(),
            acks: Rc::default(),
            chunk_rows: CHUNK_ROWS,
            trickling: false,
            last_release: std::time::Instant::now(),
            restarts: 0,
            trading: None,
            published: None,
            m,
        }
    }

    /// Publishes the store's state (connected, outbox, pending rows, commits) in `t` (the
    /// registry's trading series), at most once a [`STORE_GAUGES_EVERY`].
    pub fn with_trading(mut self, t: &'static crate::metrics::trading::Trading) -> Self {
        self.trading = Some(t);
        self
    }

    /// Commits nobody waits for carry up to `batch_rows` each, and the store writes in bulk
    /// ([`Store::bulk_writes`]): for a replay or an import, where no signal's latency is
    /// measured by the clock and fewer, bigger transactions are faster (7% of a signal-heavy
    /// paper replay's wall time).
    pub fn bulk_load(mut self) -> Self {
        self.chunk_rows = self.batch_rows;
        self.store.bulk_writes();
        self
    }

    fn publish(&mut self) {
        let Some(t) = self.trading else { return };
        if self
            .published
            .is_some_and(|at| at.elapsed() < STORE_GAUGES_EVERY)
        {
            return;
        }
        self.published = Some(std::time::Instant::now());
        let h = self.store.health();
        t.set_store(&crate::metrics::trading::Store {
            connected: h.connected,
            outbox_pending: h.outbox_pending,
            pending_rows: self.pending_rows() as u64,
            rows_committed: self.stats.rows_committed,
            commits: self.stats.commits,
            failed_commits: self.stats.failed_commits,
        });
    }

    /// An unsupervised DbWriter over an in-memory SQLite store (unit tests).
    #[doc(hidden)]
    pub fn start_unsupervised_for_tests() -> Addr<DbWriter> {
        let store =
            crate::store::sqlite::SqliteStore::in_memory().map(|s| Box::new(s) as Box<dyn Store>);
        match store {
            Ok(s) => DbWriter::new(
                s,
                100,
                Duration::from_millis(10),
                crate::metrics::Registry::new(true).db_writer,
            )
            .start(),
            Err(e) => panic!("in-memory sqlite: {e}"),
        }
    }

    /// Commits everything pending, in one transaction. On failure the rows stay pending for
    /// the next attempt.
    fn flush(&mut self) -> Result<u64, StoreFailure> {
        let own = self.pending.len();
        self.pending.append(&mut self.signals);
        if self.pending.is_empty() {
            self.answer_waiters();
            return Ok(0);
        }
        let t0 = std::time::Instant::now();
        let res = self.store.write(&self.pending);
        self.stats.commit_micros += t0.elapsed().as_micros() as u64;
        match res {
            Ok(()) => {
                let n = self.pending.len() as u64;
                self.stats.rows_committed += n;
                self.stats.commits += 1;
                self.pending.clear();
                self.pending_decisions.clear();
                self.answer_waiters();
                log::trace!("{NAME}: committed {n} rows");
                Ok(n)
            }
            Err(e) => {
                self.stats.failed_commits += 1;
                log::error!(
                    "{NAME}: commit of {} rows failed: {e}; kept pending, retrying",
                    self.pending.len()
                );
                // The signals go back to their own queue: a later commit of the signals alone
                // must include them before it answers their waiters.
                self.signals = self.pending.split_off(own);
                Err(StoreFailure(e.to_string()))
            }
        }
    }

    /// Commits the signals waiting to be published, and only them; answers every waiting
    /// sender, so it is called only when no [`Persist`] waits. On failure they stay pending.
    fn flush_signals(&mut self) -> Result<u64, StoreFailure> {
        if self.signals.is_empty() {
            self.answer_waiters();
            return Ok(0);
        }
        let t0 = std::time::Instant::now();
        let res = self.store.write(&self.signals);
        self.stats.commit_micros += t0.elapsed().as_micros() as u64;
        match res {
            Ok(()) => {
                let n = self.signals.len() as u64;
                self.stats.rows_committed += n;
                self.stats.commits += 1;
                self.signals.clear();
                self.answer_waiters();
                Ok(n)
            }
            Err(e) => {
                self.stats.failed_commits += 1;
                log::error!(
                    "{NAME}: commit of {n} signals failed: {e}; kept pending, retrying",
                    n = self.signals.len()
                );
                Err(StoreFailure(e.to_string()))
            }
        }
    }

    fn pending_rows(&self) -> usize {
        self.pending.len() + self.signals.len()
    }

    /// Commits the oldest `chunk_rows` rows nobody waits for (in the order they came), in one
    /// transaction; answers nobody. On failure they stay pending.
    fn commit_chunk(&mut self) -> Result<u64, StoreFailure> {
        let k = self.pending.len().min(self.chunk_rows);
        if k == 0 {
            return Ok(0);
        }
        let t0 = std::time::Instant::now();
        let res = self.store.write(&self.pending[..k]);
        self.stats.commit_micros += t0.elapsed().as_micros() as u64;
        match res {
            Ok(()) => {
                self.stats.rows_committed += k as u64;
                self.stats.commits += 1;
                for r in self.pending.drain(..k) {
                    if let Row::Decision(d) = r {
                        self.pending_decisions.remove(&d.signal_id);
                    }
                }
                Ok(k as u64)
            }
            Err(e) => {
                self.stats.failed_commits += 1;
                log::error!("{NAME}: commit of {k} rows failed: {e}; kept pending, retrying");
                Err(StoreFailure(e.to_string()))
            }
        }
    }

    /// Brings the rows pending back under `batch_rows`, a chunk at a time: what a handler
    /// does when a message took them over it.
    fn trim(&mut self) {
        while self.pending_rows() >= self.batch_rows {
            if self.pending.is_empty() {
                // Signals alone over the threshold (sent without awaiting): all at once.
                let _ = self.flush();
                return;
            }
            if self.commit_chunk().is_err() {
                return;
            }
        }
    }

    /// The interval's commit: a chunk now, the rest a chunk at a time, each after the messages
    /// that arrived meanwhile (an awaited signal's commit goes between two chunks).
    fn trickle(&mut self, ctx: &mut Context<Self>) {
        if self.commit_chunk().is_err() || self.pending.is_empty() || self.trickling {
            return;
        }
        self.trickling = true;
        ctx.spawn(actix::fut::ready(()).map(|(), act: &mut DbWriter, ctx| {
            act.trickling = false;
            guard_wake(act.m, ctx, |ctx| act.trickle(ctx));
        }));
    }

    /// Everything accepted is committed: every waiting sender is answered.
    fn answer_waiters(&mut self) {
        for w in self.acks.borrow_mut().waiters.drain(..) {
            w.committed();
        }
    }

    /// Has the executor decided signal `id` (a decision pending here or stored)?
    /// Whether each signal was decided: a decision pending here answers without the store,
    /// the rest in one read.
    fn processed(&mut self, keys: &[SignalKey]) -> Result<Vec<bool>, StoreFailure> {
        let ask: Vec<SignalKey> = keys
            .iter()
            .filter(|k| !self.pending_decisions.contains(&k.id))
            .copied()
            .collect();
        let mut stored = self
            .store
            .signals_processed(&ask)
            .map_err(|e| StoreFailure(e.to_string()))?
            .into_iter();
        Ok(keys
            .iter()
            .map(|k| self.pending_decisions.contains(&k.id) || stored.next().unwrap_or(false))
            .collect())
    }

    fn accept(&mut self, rows: Vec<Row>) {
        for r in &rows {
            if let Row::Decision(d) = r {
                self.pending_decisions.insert(d.signal_id);
            }
        }
        self.pending.extend(rows);
        self.trim();
    }
}

impl Actor for DbWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        // A restart cancelled the scheduled commit, if any: the next awaited Persist schedules
        // one again (the waiters themselves are answered by `restarting()`'s flush).
        self.acks.borrow_mut().commit_scheduled = false;
        self.trickling = false;
        self.published = None;
        self.publish();
        ctx.run_interval(self.flush_interval, |act, ctx| {
            if !act.signals.is_empty() || !act.acks.borrow().waiters.is_empty() {
                // Someone waits (a commit failed and is retried): everything, answered.
                guard_wake(act.m, ctx, |_| {
                    let _ = act.flush();
                });
            } else if !act.pending.is_empty() {
                guard_wake(act.m, ctx, |ctx| act.trickle(ctx));
            }
            act.publish();
            if act.pending_rows() == 0 && act.last_release.elapsed() >= RELEASE_MEMORY_EVERY {
                act.last_release = std::time::Instant::now();
                act.store.release_memory();
            }
        });
    }

    fn stopping(&mut self, _ctx: &mut Context<Self>) -> Running {
        let _ = self.flush();
        Running::Stop
    }
}

impl Supervised for DbWriter {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
        // Pending rows and waiters live in the struct and survive; commit them now.
        let _ = self.flush();
    }
}

impl Handler<Persist> for DbWriter {
    type Result = AwaitCommit;

    fn handle(&mut self, msg: Persist, ctx: &mut Context<Self>) -> AwaitCommit {
        guard(self.m, ctx, |_| self.accept(msg.0));
        AwaitCommit(self.acks.clone())
    }
}

impl Handler<PersistCandles> for DbWriter {
    type Result = ();

    fn handle(&mut self, msg: PersistCandles, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| {
            let PersistCandles { symbols, candles } = msg;
            let rows = candles
                .iter()
                .filter_map(|(tf, c)| {
                    let name = symbols.shared_name(c.symbol);
                    if name.is_none() {
                        log::error!(
                            "{NAME}: a candle of unknown symbol id {} not stored",
                            c.symbol.0
                        );
                    }
                    Some(Row::Candle(CandleRow::of(&name?, *tf, c)))
                })
                .collect();
            self.accept(rows);
        });
    }
}

impl Handler<PersistSignals> for DbWriter {
    type Result = AwaitSignals;

    fn handle(&mut self, msg: PersistSignals, ctx: &mut Context<Self>) -> AwaitSignals {
        let processed = guard(self.m, ctx, |_| {
            // Asked before the rows are accepted: a decision of this run is among the pending
            // ones, an earlier run's is stored; a read that fails leaves it to the executor.
            let keys: Vec<SignalKey> = msg.0.iter().map(SignalKey::of).collect();
            let processed = self
                .processed(&keys)
                .map_err(|e| log::warn!("{NAME}: cannot tell whether signals were decided: {e}"))
                .ok();
            self.signals
                .extend(msg.0.into_iter().map(|s| Row::Signal(Box::new(s))));
            self.trim();
            processed
        })
        .flatten();
        AwaitSignals(self.acks.clone(), processed)
    }
}

impl Handler<Flush> for DbWriter {
    type Result = Result<u64, StoreFailure>;

    fn handle(&mut self, _: Flush, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| self.flush())
            .unwrap_or_else(|| Err(StoreFailure("flush panicked".into())))
    }
}

impl Handler<AreSignalsProcessed> for DbWriter {
    type Result = Result<Vec<bool>, StoreFailure>;

    fn handle(&mut self, msg: AreSignalsProcessed, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| self.processed(&msg.0))
            .unwrap_or_else(|| Err(StoreFailure("handler panicked".into())))
    }
}

impl Handler<QuerySignals> for DbWriter {
    type Result = Result<Vec<messages::Signal>, StoreFailure>;

    fn handle(&mut self, msg: QuerySignals, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| {
            // Reads see what was accepted: commit first.
            self.flush()?;
            self.store
                .signals(&msg.0)
                .map_err(|e| StoreFailure(e.to_string()))
        })
        .unwrap_or_else(|| Err(StoreFailure("handler panicked".into())))
    }
}

impl Handler<CountSignals> for DbWriter {
    type Result = Result<u64, StoreFailure>;

    fn handle(&mut self, msg: CountSignals, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| {
            // Counts what was accepted: commit first.
            self.flush()?;
            self.store
                .count_signals(&msg.0)
                .map_err(|e| StoreFailure(e.to_string()))
        })
        .unwrap_or_else(|| Err(StoreFailure("handler panicked".into())))
    }
}

impl Handler<LoadHistory> for DbWriter {
    type Result = Result<Vec<messages::CandleRow>, StoreFailure>;

    fn handle(&mut self, msg: LoadHistory, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| {
            self.flush()?;
            self.store
                .history(&msg.symbol, msg.interval, msg.limit)
                .map_err(|e| StoreFailure(e.to_string()))
        })
        .unwrap_or_else(|| Err(StoreFailure("handler panicked".into())))
    }
}

impl Handler<LoadRecovery> for DbWriter {
    type Result = Result<messages::Recovery, StoreFailure>;

    fn handle(&mut self, msg: LoadRecovery, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| {
            self.flush()?;
            self.store
                .recovery(msg.since)
                .map_err(|e| StoreFailure(e.to_string()))
        })
        .unwrap_or_else(|| Err(StoreFailure("handler panicked".into())))
    }
}

impl Handler<LoadBook> for DbWriter {
    type Result = Result<BookRecovery, StoreFailure>;

    fn handle(&mut self, msg: LoadBook, ctx: &mut Context<Self>) -> Self::Result {
        guard(self.m, ctx, |_| {
            self.flush()?;
            let fail = |e: crate::error::Error| StoreFailure(e.to_string());
            Ok(BookRecovery {
                open: self.store.open_positions().map_err(fail)?,
                closed: match msg.closed_since {
                    Some(t) => self.store.closed_positions_since(t).map_err(fail)?,
                    None => Vec::new(),
                },
            })
        })
        .unwrap_or_else(|| Err(StoreFailure("handler panicked".into())))
    }
}

impl Handler<GetWriterStats> for DbWriter {
    type Result = WriterStats;

    fn handle(&mut self, _: GetWriterStats, _ctx: &mut Context<Self>) -> WriterStats {
        self.m.count_handled();
        WriterStats {
            pending: self.pending_rows() as u64,
            health: self.store.health(),
            ..self.stats.clone()
        }
    }
}

impl Handler<InjectPanic> for DbWriter {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for DbWriter {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        let _ = self.flush();
    }
}

impl Handler<GetRestarts> for DbWriter {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}

#[cfg(test)]
mod tests;
