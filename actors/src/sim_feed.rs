//! **SimFeed** — the simulated market's feed for `run` without a broker: steps the seeded
//! market on its wall-clock interval and hands each step's ticks to DataManager.
//!
//! - Owns: the [`SimMarket`] (its prices and data clock), the [`Coalescer`] that keeps the
//!   latest tick per symbol while DataManager's mailbox is deeper than the limit, and the data
//!   time of the last step (shared with `run`'s status line).
//! - Handles: [`StopFeed`] (no step after it), [`InjectPanic`], [`GetRestarts`].
//! - Sends: [`TicksReceived`] then [`AdvanceClock`] to DataManager every step (what was
//!   coalesced while it was behind, then every new tick in order); counts each tick in the
//!   feed's tick metrics and each coalesced one as a DataManager drop.
//!
//! It runs on the pipeline's arbiter (`Engine::pipeline_arbiter`), DataManager's thread: a
//! step's ticks reach DataManager as a same-thread hop, not a wake-up of another thread (10 to
//! 25 µs on a 2-core machine, more than the rest of the tick's way to a signal).

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix::prelude::*;
use messages::msg::*;
use messages::Tick;

use crate::data_manager::DataManager;
use crate::feed::sim::SimMarket;
use crate::logic::coalesce::{Coalescer, Gate};
use crate::metrics::trading::FeedTicks;
use crate::metrics::{ActorMetrics, Tracked};
use crate::supervisor::{guard, guard_wake, note_restart};

const NAME: &str = "sim_feed";

/// The SimFeed actor.
pub struct SimFeed {
    market: SimMarket,
    to: Tracked<DataManager>,
    every: Duration,
    /// DataManager's mailbox depth above which ticks are coalesced.
    max_depth: u64,
    gate: Coalescer,
    /// The step's ticks (the buffer is kept from step to step).
    ticks: Vec<Tick>,
    /// DataManager's counters: its depth, and the coalesced ticks as its drops.
    data_m: &'static ActorMetrics,
    feed_ticks: Option<&'static FeedTicks>,
    /// The data time of the last step (epoch seconds).
    now: Arc<AtomicI64>,
    stopped: bool,
    restarts: u64,
    m: &'static ActorMetrics,
}

impl SimFeed {
    /// Steps `market` (of `symbols` symbol ids) every `every` into `to` (DataManager, whose
    /// counters are `data_m`); the last step's data time goes to `now`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        market: SimMarket,
        symbols: usize,
        to: Tracked<DataManager>,
        every: Duration,
        max_depth: u64,
        data_m: &'static ActorMetrics,
        now: Arc<AtomicI64>,
        m: &'static ActorMetrics,
    ) -> Self {
        SimFeed {
            gate: Coalescer::new(symbols),
            ticks: Vec::with_capacity(symbols),
            market,
            to,
            every: every.max(Duration::from_micros(100)),
            max_depth,
            data_m,
            feed_ticks: None,
            now,
            stopped: false,
            restarts: 0,
            m,
        }
    }

    /// Counts every tick in the feed's per-symbol tick metrics.
    pub fn with_tick_metrics(mut self, f: Option<&'static FeedTicks>) -> Self {
        self.feed_ticks = f;
        self
    }

    fn step(&mut self) {
        if self.stopped {
            return;
        }
        self.ticks.clear();
        self.market.step(&mut self.ticks);
        let now = self.ticks.iter().map(|t| t.ts).max().unwrap_or(0);
        self.now.store(now, Relaxed);
        if let Some(f) = self.feed_ticks {
            let at = SystemTime::now();
            for t in &self.ticks {
                f.tick(t.symbol.0 as usize, at);
            }
        }
        match self
            .gate
            .offer(&self.ticks, self.data_m.depth() >= self.max_depth)
        {
            Gate::Send(batch) => {
                self.to.do_send(TicksReceived(batch));
                self.to.do_send(AdvanceClock { now });
            }
            Gate::Held { dropped } => self.data_m.on_drop(dropped),
        }
    }
}

impl Actor for SimFeed {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.every, |act, ctx| {
            let m = act.m;
            guard_wake(m, ctx, |_| act.step());
        });
    }
}

impl Supervised for SimFeed {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        note_restart(self.m, &mut self.restarts);
        // The market is kept: the feed continues where it was.
    }
}

impl Handler<StopFeed> for SimFeed {
    type Result = ();

    fn handle(&mut self, _: StopFeed, _ctx: &mut Context<Self>) {
        self.m.count_handled();
        self.stopped = true;
    }
}

impl Handler<InjectPanic> for SimFeed {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Context<Self>) {
        guard(self.m, ctx, |_| panic!("fault injected into {NAME}"));
    }
}

impl Handler<GetRestarts> for SimFeed {
    type Result = u64;

    fn handle(&mut self, _: GetRestarts, _ctx: &mut Context<Self>) -> u64 {
        self.m.count_handled();
        self.restarts
    }
}
