//! Checkpoints the store's WAL from a second connection on a thread of its own, so that a
//! commit never waits for a checkpoint.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold: it copies
//! the WAL's pages into the database file and syncs both, on DbWriter's thread — a commit that
//! a signal waits for took milliseconds more (30 ms fsyncs were seen at 1,000 symbols). Here a
//! `PASSIVE` checkpoint runs every [`EVERY`] when something was committed since the last one;
//! it never blocks the writer nor waits for it. The writer keeps an automatic checkpoint at a
//! higher threshold as a backstop, should this one fall behind.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the checkpointer looks for new commits.
pub(super) const EVERY: Duration = Duration::from_millis(250);

/// The checkpointing thread of one store file; stopped (and joined) when dropped.
pub(super) struct Checkpointer {
    commits: Arc<AtomicU64>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path`; `None` (and a warning) when the second connection cannot
    /// be opened: the writer's own automatic checkpoint then does the work, as before.
    pub(super) fn start(path: &Path) -> Option<Self> {
        let conn = match Connection::open(path).and_then(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            Ok(c)
        }) {
            Ok(c) => c,
            Err(e) => {
                log::warn!(
                    "sqlite: no checkpointer for {} ({e}); commits checkpoint themselves",
                    path.display()
                );
                return None;
            }
        };
        let commits = Arc::new(AtomicU64::new(0));
        let seen = commits.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let name = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut last = 0;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
                    let now = seen.load(Ordering::Relaxed);
                    if now == last {
                        continue;
                    }
                    last = now;
                    if let Err(e) = checkpoint(&conn) {
                        log::warn!("sqlite: checkpoint of {name} failed: {e}; retried later");
                        last = 0;
                    }
                }
            });
        match thread {
            Ok(t) => Some(Checkpointer {
                commits,
                stop: Some(stop),
                thread: Some(t),
            }),
            Err(e) => {
                log::warn!("sqlite: no checkpointer thread ({e}); commits checkpoint themselves");
                None
            }
        }
    }

    /// The writer committed: the next look checkpoints.
    pub(super) fn committed(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One passive checkpoint: (frames in the WAL, frames checkpointed).
pub(super) fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}
