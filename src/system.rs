//! System wiring: starts every actor under a supervisor and connects them.
//!
//! Arbiters: the market-data path (DataManager → Strategy → SignalManager → OptionsExecutor →
//! PositionManager) shares one arbiter, so a candle's trip is a same-thread hop; DbWriter,
//! which blocks on the store, has its own; the Notifier (alarms to webhooks, `alerts`) shares
//! it, so no post ever waits in the pipeline. `run`'s simulated feed runs on the pipeline's
//! arbiter too (its ticks reach DataManager without waking another thread); the broker's
//! feed and the replays' readers run on the caller's (the System's).

use std::collections::HashSet;
use std::time::Duration;

use actix::{Addr, Arbiter, MailboxError, Supervisor};
use actors::alerts::AlarmSink;
use actors::broker::{Broker, BrokerConfig};
use actors::config::Config;
use actors::config::StorageBackend;
use actors::data_manager::{CandleRoute, DataManager, DataManagerConfig, FrameSpec};
use actors::db_writer::DbWriter;
use actors::logic::session::Session;
use actors::metrics::{ActorMetrics, Registry, Tracked, TrackedRecipient};
use actors::notifier::{Notifier, NotifierConfig};
use actors::options::position::ExitRules;
use actors::options_executor::{BrokerLink, Clock, ExecutorConfig, OptionsExecutor, TradeConfig};
use actors::position_manager::{DailyPerformance, PositionManager, PositionManagerConfig};
use actors::signal_manager::SignalManager;
use actors::store::clickhouse::ClickHouseStore;
use actors::store::sqlite::SqliteStore;
use actors::store::Store;
use actors::strategy::{Strategy, StrategySpec};
use messages::msg::*;
use messages::{GetNotifierStats, Mode, Symbols};

/// The longest a shutdown waits for alarms still being posted.
pub const ALARMS_AT_SHUTDOWN: Duration = Duration::from_secs(10);

/// How to start the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub config: Config,
    pub symbols: Symbols,
    pub mode: Mode,
    pub clock: Clock,
    /// Load `periods` candles per symbol from the store at start.
    pub load_history: bool,
    /// Persist closed candles into `historical_data`.
    pub persist_candles: bool,
    /// The store backend (the config's, or the command line's override).
    pub backend: StorageBackend,
    /// Count mailbox metrics (on unless measuring their cost).
    pub metrics: bool,
    /// A broker connection (`--feed kite`): listed chains, real marks, live orders.
    pub broker: Option<BrokerSetup>,
    /// A replay: every signal is derived again from the file, so a signal stored but never
    /// decided by an interrupted earlier run is decided when it comes again.
    pub replay: bool,
    /// The level of the lines logged per signal, decision and position (opened, closed):
    /// `Info` for `run`; a replay prints a summary and logs them at `Debug` unless asked
    /// (`replay --verbose`). Warnings and errors are not affected.
    pub event_level: log::Level,
}

/// What the Broker actor needs: the client and the NFO instrument dump.
#[derive(Clone)]
pub struct BrokerSetup {
    pub client: std::sync::Arc<actors::kite::KiteClient>,
    /// The NFO dump (the daily refresh replaces it in place).
    pub nfo: actors::kite::SharedDump,
}

impl std::fmt::Debug for BrokerSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BrokerSetup({} NFO instruments)", self.nfo.get().len())
    }
}

/// One running strategy instance, as the operator sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StrategyInfo {
    pub name: String,
    pub kind: String,
    pub timeframe: messages::Timeframe,
    /// The underlyings it trades.
    pub symbols: Vec<String>,
}

/// Addresses of the running actors. Every send through them is counted in the receiver's
/// metrics (sent ≥ handled, depth = sent − handled): feeds, control, drains and queries alike.
pub struct Engine {
    pub symbols: Symbols,
    pub metrics: Registry,
    pub data: Tracked<DataManager>,
    /// The strategy instances, by name (config order).
    pub strategies: Vec<(String, Tracked<Strategy>)>,
    /// What each instance is (for `ctl strategy list` and `ctl status`).
    pub strategy_info: Vec<StrategyInfo>,
    pub signals: Tracked<SignalManager>,
    pub executor: Tracked<OptionsExecutor>,
    pub positions: Tracked<PositionManager>,
    pub db: Tracked<DbWriter>,
    /// With a broker connection only.
    pub broker: Option<Tracked<Broker>>,
    /// With `alerts` configured only (and, for a replay, `alerts.replays`).
    pub notifier: Option<Addr<Notifier>>,
    /// Where alarms go (nowhere when alerts are off): for the `run` loop's own alarms.
    pub alarms: AlarmSink,
    pipeline: Arbiter,
    io: Arbiter,
    net: Option<Arbiter>,
}

/// Opens the store `backend` selects: SQLite, ClickHouse (with the SQLite file as its outbox),
/// or, for `auto`, ClickHouse when it answers now and SQLite otherwise.
pub fn open_store(cfg: &Config, backend: StorageBackend) -> actors::Result<Box<dyn Store>> {
    let path = cfg.storage.resolve(&cfg.storage.sqlite_file);
    let ch = cfg.storage.clickhouse.from_env();
    let use_ch = match backend {
        StorageBackend::Sqlite => false,
        StorageBackend::Clickhouse => true,
        StorageBackend::Auto => match ClickHouseStore::ping(&ch) {
            Ok(v) => {
                log::info!("store: auto → ClickHouse {v} at {}", ch.url);
                true
            }
            Err(e) => {
                // Rows waiting for ClickHouse in the outbox: this file is ClickHouse's outbox,
                // and SQLite alone would be a partial view of the store.
                let waiting = SqliteStore::open(&path)?.outbox_len()?;
                if waiting > 0 {
                    log::warn!(
                        "store: auto → ClickHouse at {} although it is not reachable ({e}): {waiting} rows in {} wait for it",
                        ch.url,
                        path.display()
                    );
                    true
                } else {
                    log::warn!(
                        "store: auto → SQLite at {} (ClickHouse at {} not reachable: {e})",
                        path.display(),
                        ch.url
                    );
                    false
                }
            }
        },
    };
    let local = SqliteStore::open(&path)?;
    if use_ch {
        Ok(Box::new(ClickHouseStore::open(&ch, local)?))
    } else {
        Ok(Box::new(local))
    }
}

impl Engine {
    /// Starts every actor (inside a running actix `System`).
    pub fn start(opts: EngineOptions) -> actors::Result<Engine> {
        Engine::start_watched(opts, None)
    }

    /// [`Engine::start`], every alarm also told to `watcher` (the dashboard), with or without
    /// webhooks configured.
    pub fn start_watched(
        opts: EngineOptions,
        watcher: Option<actix::Recipient<messages::RaiseAlarm>>,
    ) -> actors::Result<Engine> {
        let cfg = &opts.config;
        let mut store = open_store(cfg, opts.backend)?;
        // Recovery reads the server's rows plus the outbox: without the server the view is
        // partial, and the engine does not start trading on it (docs/reliability.md).
        let h = store.health();
        if !h.connected {
            return Err(actors::Error::StoreUnavailableAtStart {
                backend: h.backend,
                reason: format!("{} not answering", cfg.storage.clickhouse.from_env().url),
                pending: h.outbox_pending,
            });
        }
        let pipeline = Arbiter::new();
        let io = Arbiter::new();

        let (batch_rows, flush) = (
            cfg.storage.batch_rows,
            Duration::from_millis(cfg.storage.flush_interval_ms),
        );
        let mut reg = Registry::new(opts.metrics);
        // Every strategy instance's counters first, so that every clone of the registry (the
        // Notifier's restart watch) lists them.
        let strategy_metrics: Vec<&'static ActorMetrics> = cfg
            .strategies
            .enabled()
            .map(|(name, _)| reg.add_strategy(name))
            .collect();
        // Ticks per underlying, and the broker client's calls, for the metrics endpoint.
        reg.set_symbols(opts.symbols.iter().map(|(_, s)| s.to_string()).collect());
        if let Some(b) = &opts.broker {
            reg.attach_kite(b.client.api_counters().clone());
        }
        let r = reg.clone();
        let replay = opts.replay;
        let db = Supervisor::start_in_arbiter(&io.handle(), move |_| {
            let db = DbWriter::new(store, batch_rows, flush, r.db_writer).with_trading(r.trading);
            if replay {
                db.bulk_load()
            } else {
                db
            }
        });
        let tdb = Tracked::new(db.clone(), reg.db_writer);

        // Alarms to webhooks, on the I/O arbiter; secrets from the environment.
        let (notifier, alarms) = if cfg.alerts.enabled() && (!opts.replay || cfg.alerts.replays) {
            let ncfg = NotifierConfig::from_config(&cfg.alerts, |k| std::env::var(k).ok())?;
            let (r, m) = (reg.clone(), notifier_metrics());
            let addr = Supervisor::start_in_arbiter(&io.handle(), move |_| {
                Notifier::new(ncfg, Some(r), m)
            });
            log::info!(
                "alerts: alarms posted to {} webhook{}",
                cfg.alerts.webhooks.len(),
                if cfg.alerts.webhooks.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
            (Some(addr.clone()), AlarmSink::new(addr.recipient()))
        } else {
            (None, AlarmSink::off())
        };
        let alarms = match watcher {
            Some(w) => alarms.and(w),
            None => alarms,
        };

        let session = Session::new(&cfg.market.session().map_err(|(p, v, r)| {
            actors::Error::ConfigInvalid {
                path: "config".into(),
                json_path: p.into(),
                value: v,
                reason: r,
            }
        })?);
        let eff = cfg.effective();
        let trade = TradeConfig::from_config(cfg, session);
        let pm_cfg = PositionManagerConfig {
            symbols: opts.symbols.clone(),
            chain: trade.chain.clone(),
            exits: ExitRules {
                slippage_ticks: cfg.paper.slippage_ticks,
                trailing: eff.trailing_stop_enabled.then_some(eff.rules.trailing),
                partial: eff.rules.partial_booking,
                max_hold_secs: eff.rules.max_hold_hours.map(|h| (h * 3600.0) as i64),
                exit_before_expiry_secs: (cfg.paper.exit_before_expiry_hours * 3600.0) as i64,
            },
            monitor_interval: Duration::from_secs(cfg.positions.monitor_interval_seconds),
            // A mark-only version is for a restart of a live book (its last price); a replay's
            // positions are derived again from the file, so it stores only what changes them:
            // the opening, stop moves, partial exits and the close (a tenth of the rows).
            persist_marks_every: if opts.replay {
                i64::MAX
            } else {
                cfg.positions.persist_marks_every_seconds as i64
            },
            clock: opts.clock,
            real_marks: opts.broker.is_some(),
            daily_performance: (!opts.replay).then_some(DailyPerformance {
                capital: cfg.options_trading.position_sizing.account_capital,
                mode: opts.mode,
            }),
            event_level: opts.event_level,
            costs: trade.costs.clone(),
            freeze: actors::options::slicing::FreezeLimits::from_instruments(&cfg.instruments),
        };
        let (db5, r, sink) = (tdb.clone(), reg.clone(), alarms.clone());
        let positions = Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
            PositionManager::new(pm_cfg, db5, r.position_manager)
                .with_alarms(sink)
                .with_trading(r.trading)
                .with_broker_metrics(r.broker)
        });
        let pm = reg.position_manager;

        // The broker (own arbiter: its HTTP calls never wait behind the pipeline or the store).
        let (broker, net) = match &opts.broker {
            None => (None, None),
            Some(b) => {
                let net = Arbiter::new();
                let mut bcfg = BrokerConfig::from_config(cfg, trade.chain.clone());
                bcfg.alarms = alarms.clone();
                let (b, db6, r) = (b.clone(), tdb.clone(), reg.clone());
                let book = TrackedRecipient::new(positions.clone().recipient(), pm);
                let addr = Supervisor::start_in_arbiter(&net.handle(), move |_| {
                    Broker::new(bcfg, b.client, b.nfo, db6, r.broker)
                        .with_reply_metrics(r.position_manager)
                        .with_book(book.clone())
                });
                Tracked::new(positions.clone(), reg.position_manager).do_send(UseBroker(
                    addr.clone().recipient(),
                    addr.clone().recipient(),
                ));
                reg.broker_started();
                (Some(addr), Some(net))
            }
        };
        let link = broker.as_ref().map(|b| BrokerLink {
            chain: TrackedRecipient::new(b.clone().recipient(), reg.broker),
            entry: TrackedRecipient::new(b.clone().recipient(), reg.broker),
        });

        let o = &cfg.options_trading;
        let ex_cfg = ExecutorConfig {
            enabled: o.enabled,
            mode: opts.mode,
            valid_underlyings: o
                .entry_filters
                .valid_underlyings
                .iter()
                .cloned()
                .collect::<HashSet<_>>(),
            min_signal_strength: eff.min_signal_strength,
            min_expected_move_pct: eff.min_expected_move_pct,
            max_concurrent_positions: o.risk_management.max_concurrent_positions,
            max_age_secs: 24 * 3600,
            clock: opts.clock,
            decide_interrupted: !opts.replay,
            instance_risk: cfg
                .strategies
                .enabled()
                .filter_map(|(name, i)| i.risk.map(|r| (name.clone(), r)))
                .collect(),
            trade,
            event_level: opts.event_level,
        };
        let (db4, r, sink) = (tdb.clone(), reg.clone(), alarms.clone());
        let to_pm = (
            TrackedRecipient::new(positions.clone().recipient(), pm),
            TrackedRecipient::new(positions.clone().recipient(), pm),
            TrackedRecipient::new(positions.clone().recipient(), pm),
        );
        let executor = Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
            let ex = OptionsExecutor::new(ex_cfg, db4, to_pm, r.options_executor)
                .with_alarms(sink)
                .with_trading(r.trading);
            match link {
                Some(l) => ex.with_broker(l),
                None => ex,
            }
        });

        let export = cfg.storage.resolve(&cfg.storage.signals_export);
        let (db2, r) = (tdb.clone(), reg.clone());
        let to_ex = TrackedRecipient::new(executor.clone().recipient(), reg.options_executor);
        let event_level = opts.event_level;
        let signals = Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
            SignalManager::new(db2, to_ex, export, r.signal_manager)
                .with_event_level(event_level)
                .with_signal_counts(r.signals.clone())
        });

        // One supervised Strategy actor per enabled instance, each with its metrics row.
        let dm_m = reg.data_manager;
        let target_multiplier = o.risk_management.target_multiplier;
        let mut instances = Vec::new();
        let mut strategy_info = Vec::new();
        let mut routes = Vec::new();
        for ((name, inst), m) in cfg.strategies.enabled().zip(strategy_metrics) {
            let prototype =
                inst.build(name, target_multiplier)
                    .map_err(|e| actors::Error::ConfigInvalid {
                        path: "config".into(),
                        json_path: format!("strategies.{name}.parameters.{}", e.field),
                        value: e.value,
                        reason: e.reason,
                    })?;
            let trades: Vec<bool> = opts.symbols.iter().map(|(_, s)| inst.trades(s)).collect();
            let spec = StrategySpec {
                name: name.clone(),
                timeframe: inst.timeframe,
                symbols: opts.symbols.clone(),
                trades: trades.clone(),
                prototype,
                warmup: inst.historical_lookback.min_periods as u64,
                event_level: opts.event_level,
            };
            let to_signals = TrackedRecipient::new(signals.clone().recipient(), reg.signal_manager);
            let addr = Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
                Strategy::new(spec, session, to_signals, m).with_source_metrics(dm_m)
            });
            routes.push(CandleRoute {
                timeframe: inst.timeframe,
                symbols: trades,
                candles: TrackedRecipient::new(addr.clone().recipient(), m),
                history: TrackedRecipient::new(addr.clone().recipient(), m),
            });
            instances.push((name.clone(), Tracked::new(addr, m)));
            strategy_info.push(StrategyInfo {
                name: name.clone(),
                kind: inst.kind_name(name).to_string(),
                timeframe: inst.timeframe,
                symbols: opts
                    .symbols
                    .iter()
                    .filter(|(_, s)| inst.trades(s))
                    .map(|(_, s)| s.to_string())
                    .collect(),
            });
        }
        // Every timeframe in use, finest first, keeping what its most demanding instance needs.
        let frames = cfg
            .strategies
            .timeframes()
            .into_iter()
            .map(|tf| {
                let of_tf = || {
                    cfg.strategies
                        .enabled()
                        .filter(move |(_, i)| i.timeframe == tf)
                };
                FrameSpec {
                    timeframe: tf,
                    periods: of_tf()
                        .map(|(_, i)| i.historical_lookback.periods)
                        .max()
                        .unwrap_or(1),
                    include_incomplete: of_tf().any(|(_, i)| i.include_incomplete()),
                }
            })
            .collect();
        let dm_cfg = DataManagerConfig {
            symbols: opts.symbols.clone(),
            session,
            frames,
            persist_candles: opts.persist_candles,
            load_history: opts.load_history,
        };
        let (p_to, s_to, db3, r) = (
            TrackedRecipient::new(positions.clone().recipient(), pm),
            TrackedRecipient::new(signals.clone().recipient(), reg.signal_manager),
            tdb.clone(),
            reg.clone(),
        );
        let data = Supervisor::start_in_arbiter(&pipeline.handle(), move |_| {
            DataManager::new(dm_cfg, routes, s_to, db3, r.data_manager).with_positions(p_to)
        });
        for (_, s) in &instances {
            s.do_send(UseDataSource(data.clone().recipient()));
        }

        Ok(Engine {
            symbols: opts.symbols,
            data: Tracked::new(data, reg.data_manager),
            strategies: instances,
            strategy_info,
            signals: Tracked::new(signals, reg.signal_manager),
            executor: Tracked::new(executor, reg.options_executor),
            positions: Tracked::new(positions, reg.position_manager),
            db: tdb,
            broker: broker.map(|b| Tracked::new(b, reg.broker)),
            notifier,
            alarms,
            metrics: reg,
            pipeline,
            io,
            net,
        })
    }

    /// The arbiter (thread) the market-data path runs on: a feed spawned there hands its
    /// ticks to DataManager without a cross-thread wake-up (`run`'s simulated feed, the
    /// latency benchmark's feeder).
    pub fn pipeline_arbiter(&self) -> actix::ArbiterHandle {
        self.pipeline.handle()
    }

    /// DataManager's address with counted sends (for feeds).
    pub fn feed(&self) -> Tracked<DataManager> {
        self.data.clone()
    }

    /// Waits until everything sent into the engine so far has gone all the way through and
    /// is committed: a barrier passed down the pipeline in order.
    pub async fn drain(&self) -> Result<(), MailboxError> {
        self.settle().await?;
        self.db.send(Drain).await?;
        Ok(())
    }

    /// Waits until everything sent into the engine so far is decided: every signal committed
    /// and decided, every position it opened handed to PositionManager. The rows they wrote
    /// (decisions, positions) may still wait for DbWriter's next commit, which takes them in
    /// the order they were sent, ahead of anything sent later.
    pub async fn settle(&self) -> Result<(), MailboxError> {
        self.data.send(Drain).await?;
        for (_, s) in &self.strategies {
            s.send(Drain).await?;
        }
        self.settle_detected().await
    }

    /// Waits until every signal DataManager has already handed on is decided: each one
    /// committed and decided, every position it opened handed to PositionManager. Unlike
    /// [`Engine::settle`] it does not wait for DataManager or the strategies (a replay calls
    /// it for a batch DataManager has answered for, whose detections are therefore sent), and
    /// it owns what it needs, so it can be spawned and run while the next batch is worked on.
    /// SignalManager's barrier is queued at the call, behind what was detected so far and
    /// ahead of what DataManager detects next.
    pub fn settle_detected(
        &self,
    ) -> impl std::future::Future<Output = Result<(), MailboxError>> + 'static {
        let committed = self.signals.send(Drain);
        let (executor, positions) = (self.executor.clone(), self.positions.clone());
        async move {
            committed.await?;
            executor.send(Drain).await?;
            positions.send(Drain).await?;
            Ok(())
        }
    }

    /// Restart counts per actor (the broker's only when it runs).
    pub async fn restarts(&self) -> Result<Vec<(String, u64)>, MailboxError> {
        let mut v = vec![(
            "data_manager".to_string(),
            self.data.send(GetRestarts).await?,
        )];
        for (name, s) in &self.strategies {
            v.push((format!("strategy:{name}"), s.send(GetRestarts).await?));
        }
        let rest = [
            ("signal_manager", self.signals.send(GetRestarts).await?),
            ("options_executor", self.executor.send(GetRestarts).await?),
            ("position_manager", self.positions.send(GetRestarts).await?),
            ("db_writer", self.db.send(GetRestarts).await?),
        ];
        v.extend(rest.into_iter().map(|(n, k)| (n.to_string(), k)));
        if let Some(b) = &self.broker {
            v.push(("broker".to_string(), b.send(GetRestarts).await?));
        }
        if let Some(n) = &self.notifier {
            v.push(("notifier".to_string(), n.send(GetRestarts).await?));
        }
        Ok(v)
    }

    /// Drains, commits, and stops the actors' arbiters (after the alarms' posts under way
    /// end, waiting at most [`ALARMS_AT_SHUTDOWN`]).
    pub async fn shutdown(self) {
        if let Err(e) = self.drain().await {
            log::error!("engine: drain at shutdown failed: {e}");
        }
        if let Some(n) = &self.notifier {
            let give_up = std::time::Instant::now() + ALARMS_AT_SHUTDOWN;
            while let Ok(st) = n.send(GetNotifierStats).await {
                if (st.in_flight == 0 && st.queued == 0) || std::time::Instant::now() >= give_up {
                    break;
                }
                actix_rt::time::sleep(Duration::from_millis(50)).await;
            }
        }
        match self.db.send(Flush).await {
            Ok(Ok(n)) => log::info!("engine: final flush committed {n} rows"),
            Ok(Err(e)) => log::error!("engine: final flush failed: {e}"),
            Err(e) => log::error!("engine: DbWriter unreachable at shutdown: {e}"),
        }
        self.pipeline.stop();
        self.io.stop();
        let _ = self.pipeline.join();
        let _ = self.io.join();
        if let Some(net) = self.net {
            net.stop();
            let _ = net.join();
        }
    }
}

/// The Notifier's counters (not in the registry's table: it is not on the trading path).
fn notifier_metrics() -> &'static ActorMetrics {
    Box::leak(Box::new(ActorMetrics::new("notifier", true)))
}
