//! Supervision: every actor runs under actix's [`Supervisor`](actix::Supervisor), and every
//! handler body runs inside [`guard`].
//!
//! actix restarts a supervised actor only when it *stops itself*; a panic that unwinds out of
//! a handler drops the actor and its queued messages for good. [`guard`] catches the panic,
//! logs it, and stops the actor instead, so the supervisor restarts it with its mailbox intact
//! (only the message that panicked is lost — a poison message is not retried). The actor's
//! `restarting()` then rebuilds what it needs and `started()` re-registers its timers.
//! [`guard`] is also where the actor's mailbox metrics count a handled message.

use std::panic::{catch_unwind, AssertUnwindSafe};

use actix::prelude::*;

use crate::metrics::ActorMetrics;

/// Runs `f`, counting it in the actor's metrics (handled, sampled latency); on a panic logs
/// it, records it as the last error, stops the actor (→ supervisor restart) and returns `None`.
pub fn guard<A, R>(
    m: &ActorMetrics,
    ctx: &mut Context<A>,
    f: impl FnOnce(&mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    let t = m.on_handle();
    let out = catch_unwind(AssertUnwindSafe(|| f(ctx)));
    m.on_done(t);
    match out {
        Ok(r) => Some(r),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            log::error!(
                "{}: handler panicked ({what}); restarting the actor, its mailbox is kept",
                m.name
            );
            m.on_error(format!("panic: {what}"));
            ctx.stop();
            None
        }
    }
}

/// [`guard`] for work an actor scheduled itself (a timer tick, a completed future): counted
/// as a message it sent itself as well as one it handled, so that sent ≥ handled holds.
pub fn guard_wake<A, R>(
    m: &ActorMetrics,
    ctx: &mut Context<A>,
    f: impl FnOnce(&mut Context<A>) -> R,
) -> Option<R>
where
    A: Actor<Context = Context<A>>,
{
    m.on_send();
    guard(m, ctx, f)
}

/// Logs a restart in a uniform way and bumps the counters.
pub fn note_restart(m: &ActorMetrics, restarts: &mut u64) {
    *restarts += 1;
    m.on_restart();
    log::warn!(
        "{}: restarted by its supervisor (restart #{restarts})",
        m.name
    );
}
