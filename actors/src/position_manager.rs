//! **PositionManager** — monitors option positions (seed §4.7, §5.2).
//!
//! - Owns: the book of open positions (none are opened in logging-only mode), the count of
//!   activations seen, and the monitor loop on an actix interval (5 s by default).
//! - Handles: [`SignalActivated`] (from OptionsExecutor), [`GetPositionSummary`],
//!   [`InjectPanic`], [`Drain`], [`GetRestarts`].
//! - Sends: nothing yet — paper positions, exits and their persistence through DbWriter arrive
//!   with the options and paper-trading issue.

use std::time::Duration;

use actix::prelude::*;
use messages::msg::*;

use crate::supervisor::{guard, note_restart};

const NAME: &str = "position_manager";

/// The PositionManager actor.
pub struct PositionManager {
    interval: Duration,
    summary: PositionSummary,
    restarts: u64,
}

impl PositionManager {
    /// A PositionManager monitoring every `interval`.
    pub fn new(interval: Duration) -> Self {
        PositionManager {
            interval,
            summary: PositionSummary::default(),
            restarts: 0,
        }
    }

    fn monitor(&mut self) {
        self.summary.monitor_runs += 1;
        log::trace!(
            "{NAME}: monitor run {} ({} open positions)",
            self.summary.monitor_runs,
            self.summary.open_positions
        );
    }
}

impl Actor for PositionManager {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        // Registered here so that it comes back after a restart (actix cancels intervals).
        ctx.run_interval(self.interval, |act, ctx| {
            guard(NAME, ctx, |_| act.monitor());
        });
    }
}

impl Supervised for PositionManager {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(NAME, &mut self.restarts);
    }
}

impl Handler<SignalActivated> for PositionManager {
    type Result = ();

    fn handle(&mut self, msg: SignalActivated, ctx: &mut Context<Self>) {
        guard(NAME, ctx, |_| {
            self.summary.activations_seen += 1;
            log::debug!(
                "{NAME}: activation {} in {} mode: no position opened",
                msg.signal.signal_id,
                msg.mode.as_str()
            );
        });
    }
}

impl Handler<GetPositionSummary> for PositionManager {
    type Result = PositionSummary;

    fn handle(&mut self, _: GetPositionSummary, _ctx: &mut Context<Self>) -> PositionSummary {
        self.summary.clone()
    }
}

impl Handler<InjectPanic> for PositionManager {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(NAME, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<Drain> for PositionManager {
    type Result = ();

    fn handle(&mut self, _: Drain, _ctx: &mut Context<Self>) {}
}

impl Handler<GetRestarts> for PositionManager {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.restarts
    }
}
