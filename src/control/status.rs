//! `ctl status` and the dashboard's trading state: one answer built by the ControlActor from
//! its own state (mode, paused, halted) and the actors' answers to queries.

use actix::{ActorFutureExt, Context, Handler, Message, ResponseActFuture, WrapFuture};
use actors::metrics::Tracked;
use actors::strategy::Strategy;
use messages::msg::*;
use serde_json::{json, Value};

use super::ControlActor;

/// Ask the ControlActor for what `ctl status` shows (the dashboard's trading state).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Value")]
pub struct GetStatus;

impl Handler<GetStatus> for ControlActor {
    type Result = ResponseActFuture<Self, Value>;

    fn handle(&mut self, _: GetStatus, _ctx: &mut Context<Self>) -> Self::Result {
        self.status()
    }
}

impl ControlActor {
    /// The status: the trading state, the feed's data time and last prices, each instance's
    /// progress, the store's health and the book's P&L (a part whose actor does not answer
    /// is left out; the executor is given a second, as a live entry may hold it).
    pub(super) fn status(&self) -> ResponseActFuture<Self, Value> {
        let (db, pm, broker) = (self.db.clone(), self.positions.clone(), self.broker.clone());
        let (ex, info, metrics) = (
            self.executor.clone(),
            self.strategy_info.clone(),
            self.metrics.clone(),
        );
        let (data, strategies) = (self.data.clone(), self.strategies.clone());
        let mut base = json!({
            "mode": self.mode.as_str(),
            "feed": self.feed,
            "trading": self.trading_state(),
            "paused": self.paused,
            "halted": self.halted || self.broker_halted,
            "uptime_secs": self.started.elapsed().as_secs(),
        });
        if let Some(why) = &self.closed {
            base["market_closed"] = json!(why);
        }
        if let Some(k) = &self.kite {
            base["kite_token"] = k.client.token_status().to_json();
            base["kite_ticker"] = self.metrics.feed.to_json();
        }
        Box::pin(
            async move {
                let w = db.send(GetWriterStats).await;
                let p = pm.send(GetPositionSummary).await;
                let b = match broker {
                    Some(b) => b.send(GetBrokerStats).await.ok(),
                    None => None,
                };
                // A live entry holds the executor: never hold the status for it.
                let x = tokio::time::timeout(
                    std::time::Duration::from_secs(1),
                    ex.send(GetExecutorStats),
                )
                .await
                .ok()
                .and_then(Result::ok);
                let market = data.send(GetMarketStatus).await.ok();
                let progress = progress_of(&strategies).await;
                (w, p, b, x, market, progress)
            }
            .into_actor(self)
            .map(move |(w, p, b, x, market, progress), _, _| {
                let mut v = base;
                if let Some(m) = market {
                    v["data_time"] = json!(m.data_time.map(ist_time));
                    v["last_prices"] = m
                        .symbols
                        .iter()
                        .filter_map(|s| Some((s.symbol.clone(), json!(s.last_price?))))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                    // When each symbol's newest tick or bar arrived (its data time, IST).
                    v["last_ticks"] = m
                        .symbols
                        .iter()
                        .filter_map(|s| Some((s.symbol.clone(), json!(ist_time(s.last_at?)))))
                        .collect::<serde_json::Map<_, _>>()
                        .into();
                }
                v["warming_up"] = json!(warming_up(&progress));
                if let Some(x) = x {
                    v["strategies"] = json!(strategy_rows(&info, &x, &metrics, &progress));
                    v["daily_caps"] = json!(x.daily_caps);
                }
                if let Some(b) = b {
                    v["broker"] = json!(b);
                }
                if let Ok(w) = w {
                    v["storage"] = json!(w.health);
                    v["storage_pending_rows"] = json!(w.pending);
                }
                if let Ok(p) = p {
                    v["open_positions"] = json!(p.open_positions);
                    // Net of charges; the gross and the charges beside.
                    v["realized_pnl"] = json!(p.realized_pnl);
                    v["realized_pnl_gross"] = json!(p.realized_pnl_gross);
                    v["charges"] = json!(p.charges);
                    v["day_realized_pnl"] = json!(p.day_realized_pnl);
                    v["day_realized_pnl_gross"] = json!(p.day_realized_pnl_gross);
                    v["day_charges"] = json!(p.day_charges);
                    v["unrealized_pnl"] = json!(p.unrealized_pnl);
                }
                v
            }),
        )
    }
}

/// One row per strategy instance: what it is, whether it is paused, what became of its
/// signals, and its actor's restarts.
pub(super) fn strategy_rows(
    info: &[crate::system::StrategyInfo],
    x: &messages::ExecutorStats,
    metrics: &actors::metrics::Registry,
    progress: &[(String, Vec<SymbolProgress>)],
) -> Vec<Value> {
    info.iter()
        .map(|i| {
            let counts = x.by_strategy.get(&i.name).cloned().unwrap_or_default();
            let restarts = metrics
                .get(&format!("strategy:{}", i.name))
                .map(|m| m.snapshot().restarts)
                .unwrap_or(0);
            json!({
                "name": i.name,
                "kind": i.kind,
                "timeframe": i.timeframe,
                "symbols": i.symbols,
                "paused": x.paused_strategies.contains(&i.name),
                "signals": counts,
                "restarts": restarts,
                // Per symbol: closed candles taken against the warm-up, signals detected,
                // the newest candle's start (IST).
                "progress": progress
                    .iter()
                    .find(|(n, _)| *n == i.name)
                    .map(|(_, p)| p.iter().map(progress_row).collect::<Vec<_>>())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Each instance's progress (an instance that does not answer is left out).
pub(super) async fn progress_of(
    strategies: &[(String, Tracked<Strategy>)],
) -> Vec<(String, Vec<SymbolProgress>)> {
    let mut out = Vec::with_capacity(strategies.len());
    for (name, s) in strategies {
        if let Ok(p) = s.send(GetStrategyProgress).await {
            out.push((name.clone(), p));
        }
    }
    out
}

fn progress_row(s: &SymbolProgress) -> Value {
    json!({
        "symbol": s.symbol,
        "candles": s.candles,
        "warmup": s.warmup,
        "warmed_up": s.candles >= s.warmup,
        "signals": s.signals,
        "last_candle": s.last_candle.map(ist_time),
    })
}

/// A Unix time as RFC 3339 in IST (the exchange's time).
fn ist_time(t: i64) -> String {
    chrono::FixedOffset::east_opt(19_800)
        .zip(chrono::DateTime::from_timestamp(t, 0))
        .map(|(ist, t)| t.with_timezone(&ist).to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

/// The symbols still warming up, as "NAME: SYMBOL 23/50 candles" (empty once all are warm).
fn warming_up(progress: &[(String, Vec<SymbolProgress>)]) -> Vec<String> {
    progress
        .iter()
        .flat_map(|(name, p)| {
            p.iter()
                .filter(|s| s.candles < s.warmup)
                .map(move |s| format!("{name}: {} {}/{} candles", s.symbol, s.candles, s.warmup))
        })
        .collect()
}
