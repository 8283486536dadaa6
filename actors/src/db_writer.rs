//! **DbWriter** — the only writer to the store.
//!
//! - Owns: the [`Store`] (SQLite by default), the rows pending commit, and the callers waiting
//!   for their rows to be committed.
//! - Handles: [`Persist`], [`Flush`], [`AreSignalsProcessed`], [`QuerySignals`],
//!   [`CountSignals`], [`LoadHistory`], [`LoadRecovery`], [`LoadBook`], [`GetWriterStats`],
//!   [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: nothing; it answers.
//!
//! Rows are batched into one transaction, committed when `batch_rows` are pending, every
//! `flush_interval`, on [`Flush`], and when the actor stops. A [`Persist`] is answered only
//! once its rows are committed. A failed commit keeps every row pending and retries on the next
//! tick: nothing accepted is dropped. The store is blocking, so DbWriter runs on its own
//! arbiter (thread) and never stalls the market-data path.

use std::collections::HashSet;
use std::time::Duration;

use actix::prelude::*;
use messages::msg::*;
use messages::Row;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::metrics::ActorMetrics;
use crate::store::Store;
use crate::supervisor::{guard, guard_wake, note_restart};

const NAME: &str = "db_writer";
/// How often the store gives back its cached clean pages (between commits). SQLite's 64 MiB
/// cache is sized for a big batch's dirty pages; left alone, the pages a long run's commits
/// touch (1,000 symbols' candles land on 1,000 different leaves) fill it, ~5 MB a minute.
const RELEASE_MEMORY_EVERY: Duration = Duration::from_secs(30);

type Waiter = oneshot::Sender<Result<(), StoreFailure>>;

/// The DbWriter actor.
pub struct DbWriter {
    store: Box<dyn Store>,
    batch_rows: usize,
    flush_interval: Duration,
    pending: Vec<Row>,
    pending_decisions: HashSet<Uuid>,
    waiters: Vec<Waiter>,
    last_release: std::time::Instant,
    stats: WriterStats,
    restarts: u64,
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
            pending_decisions: HashSet::new(),
            waiters: Vec::new(),
            last_release: std::time::Instant::now(),
            restarts: 0,
            m,
        }
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

    /// Commits everything pending. On failure the rows stay pending for the next attempt.
    fn flush(&mut self) -> Result<u64, StoreFailure> {
        if self.pending.is_empty() {
            for w in self.waiters.drain(..) {
                let _ = w.send(Ok(()));
            }
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
                for w in self.waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
                log::trace!("{NAME}: committed {n} rows");
                Ok(n)
            }
            Err(e) => {
                self.stats.failed_commits += 1;
                log::error!(
                    "{NAME}: commit of {} rows failed: {e}; kept pending, retrying",
                    self.pending.len()
                );
                Err(StoreFailure(e.to_string()))
            }
        }
    }

    fn accept(&mut self, rows: Vec<Row>) {
        for r in &rows {
            if let Row::Decision(d) = r {
                self.pending_decisions.insert(d.signal_id);
            }
        }
        self.pending.extend(rows);
        if self.pending.len() >= self.batch_rows {
            let _ = self.flush();
        }
    }
}

impl Actor for DbWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(self.flush_interval, |act, ctx| {
            if !act.pending.is_empty() || !act.waiters.is_empty() {
                guard_wake(act.m, ctx, |_| {
                    let _ = act.flush();
                });
            }
            if act.pending.is_empty() && act.last_release.elapsed() >= RELEASE_MEMORY_EVERY {
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
    type Result = ResponseFuture<Result<(), StoreFailure>>;

    fn handle(&mut self, msg: Persist, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        guard(self.m, ctx, |_| self.accept(msg.0));
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(StoreFailure("DbWriter stopped before the commit".into())))
        })
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
        guard(self.m, ctx, |_| {
            // Pending decisions answer without the store; the rest in one read.
            let ask: Vec<_> = msg
                .0
                .iter()
                .filter(|k| !self.pending_decisions.contains(&k.id))
                .copied()
                .collect();
            let mut stored = self
                .store
                .signals_processed(&ask)
                .map_err(|e| StoreFailure(e.to_string()))?
                .into_iter();
            Ok(msg
                .0
                .iter()
                .map(|k| self.pending_decisions.contains(&k.id) || stored.next().unwrap_or(false))
                .collect())
        })
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
            pending: self.pending.len() as u64,
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
