//! The whole Prometheus exposition of a [`Registry`]: the mailbox series of every running
//! actor (counters and gauges, as they always were), handler latency and time in mailbox as
//! histograms, the KiteTicker silence watch, and the trading series of [`super::trading`].

use super::prom::{self, Kind, Text};
use super::trading::KiteApiCounters;
use super::{ActorMetrics, ActorSnapshot, Registry};

impl Registry {
    /// The whole Prometheus exposition: per actor the mailbox series of [`prometheus`], handler
    /// latency and time in mailbox as histograms; the KiteTicker silence watch; signals,
    /// decisions, the book and the store; ticks per underlying; Kite calls and orders.
    pub fn prometheus(&self) -> String {
        let snaps = self.snapshot();
        let mut t = Text::default();
        t.raw(&prometheus(&snaps));
        let actors: Vec<&'static ActorMetrics> = snaps
            .iter()
            .filter_map(|s| self.all().into_iter().find(|m| m.name == s.actor))
            .collect();
        let buckets: Vec<_> = actors.iter().map(|m| (m.name, m.buckets())).collect();
        for (name, help, which) in [
            (
                "alphastocks_actor_handler_latency_seconds",
                "Handler time, of one handler in 64 (sampled).",
                0,
            ),
            (
                "alphastocks_actor_mailbox_time_seconds",
                "Time from send to handler start, of one message in 64 (sampled).",
                1,
            ),
        ] {
            t.family(name, Kind::Histogram, help);
            for (actor, (latency, mailbox)) in &buckets {
                let b = if which == 0 { latency } else { mailbox };
                t.histogram(name, &[("actor", actor)], b);
            }
        }
        t.raw(&self.feed.prometheus());
        // Read in the pipeline's reverse order — the book, then the decisions, then the
        // signals — so one scrape never shows more decisions than signals, nor more positions
        // opened than entries decided.
        self.trading.prometheus(&mut t);
        self.signals.prometheus(&mut t);
        if let Some(f) = self.ticks.get() {
            f.prometheus(&mut t, std::time::SystemTime::now());
        }
        // Without a broker the Kite series read zero (no call made), so a dashboard's panels
        // show 0 rather than no data.
        match self.kite_api.get() {
            Some(k) => k.prometheus(&mut t),
            None => KiteApiCounters::default().prometheus(&mut t),
        }
        t.finish()
    }
}

/// The Prometheus text exposition of `snaps`.
pub fn prometheus(snaps: &[ActorSnapshot]) -> String {
    let mut out = String::new();
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&ActorSnapshot) -> f64,
    );
    let series: [Series; 9] = [
        (
            "alphastocks_actor_messages_sent_total",
            "counter",
            "Messages queued for the actor.",
            |s| s.sent as f64,
        ),
        (
            "alphastocks_actor_messages_handled_total",
            "counter",
            "Messages the actor handled.",
            |s| s.handled as f64,
        ),
        (
            "alphastocks_actor_mailbox_depth",
            "gauge",
            "Messages queued and not yet handled.",
            |s| s.depth as f64,
        ),
        (
            "alphastocks_actor_mailbox_max_depth",
            "gauge",
            "Largest depth seen.",
            |s| s.max_depth as f64,
        ),
        (
            "alphastocks_actor_handler_latency_p50_seconds",
            "gauge",
            "Median handler time (sampled).",
            |s| s.latency_p50_ns as f64 / 1e9,
        ),
        (
            "alphastocks_actor_handler_latency_p99_seconds",
            "gauge",
            "99th percentile handler time (sampled).",
            |s| s.latency_p99_ns as f64 / 1e9,
        ),
        (
            "alphastocks_actor_handler_latency_max_seconds",
            "gauge",
            "Longest handler time (sampled).",
            |s| s.latency_max_ns as f64 / 1e9,
        ),
        (
            "alphastocks_actor_restarts_total",
            "counter",
            "Supervisor restarts.",
            |s| s.restarts as f64,
        ),
        (
            "alphastocks_actor_dropped_total",
            "counter",
            "Messages dropped or coalesced at a full mailbox.",
            |s| s.dropped as f64,
        ),
    ];
    for (name, kind, help, f) in series {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for s in snaps {
            out.push_str(&format!(
                "{name}{{actor=\"{}\"}} {}\n",
                prom::escape(s.actor),
                f(s)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_exposes_histograms_and_trading_series() {
        let mut reg = Registry::new(true);
        reg.add_strategy("ema");
        reg.set_symbols(vec!["NIFTY".into()]);
        for _ in 0..65 {
            reg.data_manager.on_send();
            let t = reg.data_manager.on_handle();
            reg.data_manager.on_done(t);
        }
        reg.signals.count("ema");
        reg.trading.decision(messages::Outcome::Logged);
        let p = reg.prometheus();
        for line in [
            "# TYPE alphastocks_actor_handler_latency_seconds histogram\n",
            "alphastocks_actor_handler_latency_seconds_bucket{actor=\"data_manager\",le=\"+Inf\"} 2\n",
            "alphastocks_actor_handler_latency_seconds_count{actor=\"data_manager\"} 2\n",
            "alphastocks_actor_mailbox_time_seconds_count{actor=\"data_manager\"} 2\n",
            "alphastocks_actor_mailbox_time_seconds_count{actor=\"strategy:ema\"} 0\n",
            "alphastocks_signals_total{strategy=\"ema\"} 1\n",
            "alphastocks_executor_decisions_total{outcome=\"logged\",reason=\"\"} 1\n",
            "alphastocks_feed_ticks_total{symbol=\"NIFTY\"} 0\n",
            "alphastocks_kite_api_calls_total{endpoint=\"order\",result=\"ok\"} 0\n",
            "alphastocks_actor_messages_sent_total{actor=\"data_manager\"} 65\n",
        ] {
            assert!(p.contains(line), "{line} in\n{p}");
        }
        // The broker's rows only once it runs.
        assert!(!p.contains("actor=\"broker\""));
    }
}
