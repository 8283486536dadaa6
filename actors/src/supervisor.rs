//! Supervision: every actor runs under actix's [`Supervisor`](actix::Supervisor), and every
//! handler body runs inside [`guard`].
//!
//! actix restarts a supervised actor only when it *stops itself*; a panic that unwinds out of
//! a handler drops the actor and its queued messages for good. [`guard`] catches the panic,
//! logs it, and stops the actor instead, so the supervisor restarts it with its mailbox intact
//! (only the message that panicked is lost — a poison message is not retried). The actor's
//! `restarting()` then rebuilds what it needs and `started()` re-registers its timers.

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::prelude::*;

/// Runs `f`; on a panic logs it, stops the actor (→ supervisor restart) and returns `None`.
pub fn guard<A, R>(
    name: &str,
    ctx: &mut Context<A>,
    f: impl FnOnce(&mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    match catch_unwind(AssertUnwindSafe(|| f(ctx))) {
        Ok(r) => Some(r),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            log::error!(
                "{name}: handler panicked ({what}); restarting the actor, its mailbox is kept"
            );
            ctx.stop();
            None
        }
    }
}

/// Logs a restart in a uniform way and bumps the counter.
pub fn note_restart(name: &str, restarts: &mut u64) {
    *restarts += 1;
    log::warn!("{name}: restarted by its supervisor (restart #{restarts})");
}
