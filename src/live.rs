//! `run`: the engine on a live feed until Ctrl-C, SIGTERM or `--duration`.
//!
//! Without a broker the feed is the simulated market (seeded GBM ticks for every valid
//! underlying on an accelerated clock), announced in a banner. It resumes where stored history
//! ends (its clock starts after the last stored candle and each price at its last close), so
//! consecutive runs extend one continuous market.
//!
//! With `dashboard.listen` set (loopback by default) it serves the read-only web dashboard
//! ([`crate::dashboard`]).
//!
//! With `alerts` on, the loop raises its own alarms: the broker refusing the access token, the
//! broker's feed silent while the market is open (`alerts.feed_silent_seconds`), and the store
//! disconnected with its outbox growing.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Actor;
use actors::alerts::limit::{Lasting, OutboxWatch};
use actors::config::Config;
use actors::feed::sim::SimMarket;
use actors::logic::calendar::{Holiday, TradingCalendar};
use actors::logic::clock::LiveClock;
use actors::logic::coalesce::{Coalescer, Gate};
use actors::logic::session::Session;
use actors::options_executor::Clock;
use actors::sim_feed::SimFeed;
use chrono::SubsecRound;
use messages::msg::*;
use messages::{Alarm, AlarmKind, Mode, Symbols};

use crate::error::AppError;
use crate::kite_feed::nfo::RefreshOutcome;
use crate::system::{Engine, EngineOptions};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    /// Stop after this long (wall clock); run until a signal when absent.
    pub duration: Option<Duration>,
    /// Store backend override (`--store`).
    pub store: Option<actors::config::StorageBackend>,
    /// Accept `ctl crash ACTOR`.
    pub allow_fault_injection: bool,
    /// Market data from Kite Connect instead of the simulated market.
    pub kite: bool,
    /// The engine's time with a broker feed (the machine's clock, or a rehearsal clock).
    pub clock: LiveClock,
    /// Trade on days the calendar says are closed (`--ignore-calendar`).
    pub ignore_calendar: bool,
}

/// `ALPHASTOCKS_IGNORE_CALENDAR=1` is `run --ignore-calendar`.
pub const ENV_IGNORE_CALENDAR: &str = "ALPHASTOCKS_IGNORE_CALENDAR";

/// DataManager depth above which the live feed coalesces: it keeps only the latest tick per
/// symbol until the mailbox drains (counted as drops). Nothing persisted is ever dropped: ticks
/// are not persisted, candles and everything after them travel through counted, unbounded sends.
pub const FEED_MAX_DEPTH: u64 = 64;

/// How long the periodic status line may wait for the actors' counters.
const REPORT_WAIT: Duration = Duration::from_secs(1);

/// The outbox grew at this many looks in a row while disconnected: an alarm.
const OUTBOX_GROWING_CHECKS: u32 = 3;

/// Runs the engine inside a running actix `System` until asked to stop.
pub async fn run(mut cfg: Config, opts: RunOptions) -> Result<(), AppError> {
    let names = cfg.options_trading.entry_filters.valid_underlyings.clone();
    let symbols = Symbols::new(names.iter().cloned());
    let session = Session::new(
        &cfg.market
            .session()
            .map_err(|(p, v, r)| AppError::Usage(format!("config: at `{p}`: value {v} {r}")))?,
    );
    // The trading calendar: the session's weekdays minus the holidays (files and config). The
    // files' holidays also move option expiries (instruments.holidays).
    let file_holidays = cfg.market.load_holidays()?;
    let mut holidays: Vec<Holiday> = cfg
        .instruments
        .holidays
        .iter()
        .map(|d| Holiday {
            date: *d,
            name: String::new(),
        })
        .collect();
    holidays.extend(file_holidays);
    cfg.instruments.holidays = holidays.iter().map(|h| h.date).collect();
    cfg.instruments.holidays.sort();
    cfg.instruments.holidays.dedup();
    let calendar = TradingCalendar::new(&session, holidays);
    let sim = cfg.feed.simulated.clone();
    let tf = cfg.strategies.finest();
    let backend = opts.store.unwrap_or(cfg.storage.backend);
    // The dashboard's address and token are checked before anything starts.
    let dashboard = crate::dashboard::plan(&cfg.dashboard)?;
    // The broker: instruments into the config, history into the store, before the actors start.
    let mut kite = if opts.kite {
        Some(
            // The instrument refresh's schedule: every day when told to ignore the calendar
            // (a special session on a holiday still refreshes before its open).
            crate::kite_feed::KiteFeed::prepare(
                &mut cfg,
                &symbols,
                backend,
                opts.clock,
                &session,
                &if opts.ignore_calendar {
                    calendar.every_day()
                } else {
                    calendar.clone()
                },
            )
            .await?,
        )
    } else {
        None
    };
    let engine = Engine::start_watched(
        EngineOptions {
            config: cfg.clone(),
            symbols: symbols.clone(),
            mode: opts.mode,
            clock: if opts.kite {
                Clock::Wall(opts.clock)
            } else {
                Clock::Data
            },
            load_history: cfg.data_collection.historical.enabled,
            persist_candles: cfg.storage.persist_candles,
            backend: opts.store.unwrap_or(cfg.storage.backend),
            metrics: cfg.metrics.enabled,
            broker: kite.as_ref().map(|k| k.broker_setup()),
            replay: false,
            event_level: log::Level::Info,
        },
        dashboard.as_ref().map(|d| d.alarms()),
    )?;

    // Resume after stored history: start prices at the last closes, clock after the last candle.
    let mut start = match sim.start_date {
        Some(d) => d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp())
            .unwrap_or_else(|| chrono::Utc::now().timestamp()),
        None => chrono::Utc::now().timestamp(),
    };
    let mut prices = Vec::with_capacity(symbols.len());
    for (id, name) in symbols.iter() {
        let d = engine
            .data
            .send(GetCandles {
                symbol: id,
                timeframe: tf,
            })
            .await?;
        let base = sim.start_prices.get(name).copied().unwrap_or(1000.0);
        match d.closed.last() {
            Some(c) => {
                start = start.max(c.ts + tf.seconds());
                prices.push(c.close);
            }
            None => prices.push(base),
        }
    }
    let market = SimMarket::new(
        sim.seed ^ start as u64,
        session,
        sim.annual_volatility,
        sim.tick_seconds as i64,
        prices,
        start,
    );

    crate::outln!("================================================================");
    crate::outln!(" alphastocks engine");
    let poll_every = Duration::from_secs(cfg.data_collection.realtime.interval_seconds);
    if opts.kite {
        crate::outln!(
            " feed:  KITE Connect quotes, {} underlyings polled every {} s",
            symbols.len(),
            poll_every.as_secs()
        );
    } else {
        crate::outln!(
            " feed:  SIMULATED market (no broker configured) — seeded GBM, seed {}, {}x speed,",
            sim.seed,
            sim.speed
        );
        crate::outln!(
            "        {} underlyings, a tick every {} s of data time",
            symbols.len(),
            sim.tick_seconds
        );
    }
    if opts.clock.is_rehearsal() {
        crate::outln!(
            " clock: REHEARSAL — starts at {} and runs faster than the wall clock",
            opts.clock.now_utc().to_rfc3339()
        );
    }
    crate::outln!(" mode:  {}", opts.mode.as_str().to_uppercase());
    let w = engine.db.send(GetWriterStats).await?;
    crate::outln!(
        " store: {}{}{}",
        w.health.backend,
        w.health
            .server_version
            .as_deref()
            .map(|v| format!(" (server {v})"))
            .unwrap_or_default(),
        if w.health.connected {
            String::new()
        } else {
            format!(
                " — DISCONNECTED, {} rows in the local outbox",
                w.health.outbox_pending
            )
        }
    );
    crate::outln!("================================================================");
    // The control socket (the CLI actor) and the optional Prometheus endpoint.
    let socket = cfg.storage.resolve(&cfg.control.socket);
    let listener = crate::control::bind(&socket)?;
    let _socket_guard = crate::control::SocketGuard(socket.clone());
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::unbounded_channel();
    // `ctl kite token` asks the loop to restart the feed with the new token.
    let (resumed_tx, mut resumed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut control = crate::control::ControlActor::new(
        &engine,
        cfg.kite.live_trading_enabled,
        opts.mode,
        if opts.kite { "kite" } else { "simulated" },
        opts.allow_fault_injection,
        stop_tx,
    );
    if let Some(k) = kite.as_ref() {
        control = control.with_kite(crate::control::KiteControl {
            client: k.client(),
            resumed: resumed_tx,
        });
    }
    let control = control.start();
    // On the broker's clock, a day the calendar says is closed takes no trades (the simulated
    // market keeps its own data time, where the calendar does not apply).
    let mut calendar_day = None;
    let enforce_calendar = opts.kite && !opts.ignore_calendar;
    // The market is open: session hours of a day the calendar opens (silence is normal on a
    // holiday: no silence alarm, no resubscribing).
    let market_open = |t: i64| {
        session.contains(t) && (!enforce_calendar || calendar.is_open(calendar.date_of(t)))
    };
    if enforce_calendar {
        check_calendar(&calendar, opts.clock.now(), &mut calendar_day, &control);
    } else if opts.kite {
        let day = calendar.date_of(opts.clock.now());
        log::warn!(
            "calendar: IGNORED (--ignore-calendar): trading whatever the calendar says ({})",
            calendar
                .closed_reason(day)
                .unwrap_or_else(|| format!("{day} is a trading day"))
        );
    }
    crate::control::serve(listener, control.clone());
    if let Some(addr) = &cfg.metrics.listen {
        crate::control::serve_prometheus(addr, engine.metrics.clone()).await?;
    }
    crate::outln!(
        " ctl:   {}{}",
        socket.display(),
        if opts.allow_fault_injection {
            " (fault injection allowed)"
        } else {
            ""
        }
    );
    if let Some(d) = dashboard {
        // Read-only and not needed to trade: a port taken is reported, the engine runs on.
        match d.start(&engine, control.clone()).await {
            Ok((addr, locked)) => crate::outln!(
                " web:   http://{addr}/{} (read-only dashboard)",
                if locked {
                    "?token=… (the token in ALPHASTOCKS_DASHBOARD_TOKEN)"
                } else {
                    ""
                }
            ),
            Err(e) => {
                log::error!("dashboard: {e}; the engine runs without it");
                crate::outln!(" web:   NOT serving: {e}");
            }
        }
    }
    log::info!("SYSTEM READY");

    let streaming = kite.as_ref().is_some_and(|k| k.streams());
    let step = if streaming {
        // Ticks arrive on their own: hand them on four times a second; options poll as before.
        Duration::from_millis(250)
    } else if opts.kite {
        poll_every
    } else {
        Duration::from_secs_f64(sim.tick_seconds as f64 / sim.speed)
    };
    let mut ticker = actix_rt::time::interval(step);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = opts.duration.map(|d| Instant::now() + d);
    // Both listeners live for the whole loop: a signal arriving while the loop is busy is kept,
    // not lost between two `select!`s (a fresh `ctrl_c()` per iteration would miss it).
    let mut int = actix_rt::signal::unix::signal(actix_rt::signal::unix::SignalKind::interrupt())
        .map_err(|source| AppError::Io {
        context: "cannot listen for SIGINT".into(),
        source,
    })?;
    let mut term = actix_rt::signal::unix::signal(actix_rt::signal::unix::SignalKind::terminate())
        .map_err(|source| AppError::Io {
            context: "cannot listen for SIGTERM".into(),
            source,
        })?;
    let mut last_report = Instant::now();
    let mut last_poll = Instant::now();
    let mut last_sample = Instant::now();
    let sample_every = (cfg.metrics.persist_every_seconds > 0)
        .then(|| Duration::from_secs(cfg.metrics.persist_every_seconds));
    let mut ticks = Vec::with_capacity(symbols.len());
    let mut gate = Coalescer::new(symbols.len());
    // Alarms of the loop itself.
    let alarms = engine.alarms.clone();
    let began = Instant::now();
    let mut silent = Lasting::new(Duration::from_secs(cfg.alerts.feed_silent_seconds));
    let mut token_alarmed = false;
    if alarms.is_on() {
        // Its own task: the feed never waits for the store's answer.
        actix_rt::spawn(watch_store(
            engine.db.clone(),
            alarms.clone(),
            Duration::from_secs(cfg.alerts.store_check_seconds),
        ));
    }
    let feed = engine.feed();
    if let Some(a) = kite.as_mut().and_then(|k| k.take_start_alarm()) {
        alarms.raise(a);
    }
    if let (Some(k), Some(broker)) = (kite.as_mut(), engine.broker.clone()) {
        if let Some(mut pushed) = k.take_order_updates() {
            // Order updates reach the Broker the moment the stream reads them, not at the
            // loop's next turn.
            actix_rt::spawn(async move {
                while let Some(m) = pushed.recv().await {
                    broker.do_send(m);
                }
            });
        }
    }
    if let Some(k) = kite.as_mut() {
        // History ended mid-interval: that candle continues as the forming one.
        for (timeframe, candles) in k.take_running() {
            if !candles.is_empty() {
                feed.do_send(RunningCandlesLoaded {
                    timeframe,
                    candles,
                    at: opts.clock.now(),
                });
            }
        }
    }
    // The simulated market steps on the pipeline's arbiter, DataManager's thread: its ticks
    // reach DataManager without waking another thread. Its data time is for the status line.
    let sim_now = Arc::new(AtomicI64::new(0));
    let sim_feed = (!opts.kite).then(|| {
        let (to, data_m, ticks_m, now) = (
            feed.clone(),
            engine.metrics.data_manager,
            engine.metrics.ticks(),
            sim_now.clone(),
        );
        let n = symbols.len();
        // In the registry: the control socket's metrics, Prometheus and the dashboard list it.
        let m = engine.metrics.sim_feed;
        engine.metrics.sim_feed_started();
        let addr = actix::Supervisor::start_in_arbiter(&engine.pipeline_arbiter(), move |_| {
            SimFeed::new(market, n, to, step, FEED_MAX_DEPTH, data_m, now, m)
                .with_tick_metrics(ticks_m)
        });
        // Requests to it are counted sent, as its handlers count them handled.
        actors::metrics::Tracked::new(addr, m)
    });
    if let Some(f) = &sim_feed {
        control.do_send(crate::control::SimFeedStarted(f.clone()));
    }
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = int.recv() => { log::info!("run: Ctrl-C received, shutting down"); break; }
            _ = term.recv() => { log::info!("run: SIGTERM received, shutting down"); break; }
            _ = stop_rx.recv() => { log::info!("run: shutdown requested on the control socket"); break; }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            log::info!("run: duration reached, shutting down");
            break;
        }
        if enforce_calendar {
            check_calendar(&calendar, opts.clock.now(), &mut calendar_day, &control);
        }
        ticks.clear();
        match kite.as_mut() {
            // The simulated market's ticks go from its own actor (above).
            None => {}
            Some(k) => {
                while resumed_rx.try_recv().is_ok() {
                    log::info!("kite: a new access token was accepted: the feed resumes");
                    if let Err(e) = k.restart_ticker(&cfg) {
                        log::error!(
                            "kite ticker: cannot restart ({e}); the underlyings are not streamed"
                        );
                    }
                }
                match k.poll_instruments(opts.clock.now(), &cfg) {
                    Some(RefreshOutcome::Refreshed {
                        summary,
                        differences,
                    }) => {
                        log::info!("kite: instrument dump NFO refreshed: {summary}");
                        for d in differences {
                            log::warn!("kite: the refreshed instrument dump disagrees with the running config: {d} (new orders take the contract's own lot and tick; the config's values change at the next start)");
                        }
                    }
                    Some(RefreshOutcome::Failed { message, alarm }) => {
                        log::error!("kite: {}{message}", if alarm { "ALARM " } else { "" });
                        if alarm {
                            alarms.raise(Alarm::new(AlarmKind::InstrumentsRefreshFailed, message));
                        }
                    }
                    None => {}
                }
                let open = engine.positions.send(GetOpenOptions).await?;
                let now_ms = began.elapsed().as_millis() as u64;
                if streaming {
                    k.follow_options(&open);
                    let (t, marks) = k.drain_ticker(now_ms);
                    ticks = t;
                    mark_options(&engine, marks, opts.clock.now());
                    // A quiet stream: resubscribe, reconnect, REST fallback (market hours only).
                    let market_open = market_open(opts.clock.now());
                    for (symbol, msg) in k.watch_stream(now_ms, market_open, engine.metrics.feed) {
                        alarms.raise(Alarm::new(AlarmKind::FeedSilent, msg).symbol(symbol));
                    }
                }
                // Polled: everything (no stream), or the options held (streaming).
                if !streaming || last_poll.elapsed() >= poll_every {
                    last_poll = Instant::now();
                    match k.poll(&cfg.kite.exchange, &open, now_ms).await {
                        Ok((t, marks)) => {
                            ticks.extend(t);
                            mark_options(&engine, marks, opts.clock.now());
                        }
                        // Recorded by the client: halted and alarmed below.
                        Err(e) if e.is_token_error() => {}
                        Err(e) => {
                            log::warn!("kite: quote poll failed ({e}); retrying next interval")
                        }
                    }
                }
            }
        }
        if let Some(k) = kite.as_ref() {
            // Any refused call (the quote poll, the Broker's orders): halt and alarm, once per
            // refusal; a new token (`ctl kite token`) ends it.
            let st = k.client().token_status();
            if !st.is_rejected() {
                token_alarmed = false;
            } else if !token_alarmed {
                token_alarmed = true;
                let why = st.reason.unwrap_or_default();
                let msg = format!("the broker refused the access token ({why}): trading HALTED until a new token is given (`alphastocks kite login`, then `alphastocks ctl kite token`)");
                log::error!("kite: {msg}");
                control.do_send(crate::control::BrokerHalt(why));
                alarms.raise(Alarm::new(AlarmKind::TokenRejected, msg));
            }
        }
        let now = if opts.kite {
            opts.clock.now()
        } else {
            sim_now.load(Relaxed)
        };
        if opts.kite
            && alarms.is_on()
            && silent.observe(
                ticks.is_empty() && market_open(now),
                began.elapsed().as_millis() as u64,
            )
        {
            let msg = format!(
                "no tick from the broker's feed for {} s while the market is open: check the connection and `ctl status`",
                cfg.alerts.feed_silent_seconds
            );
            log::error!("feed: ALARM {msg}");
            alarms.raise(Alarm::new(AlarmKind::FeedSilent, msg));
        }
        if opts.kite {
            if let Some(f) = engine.metrics.ticks() {
                let at = std::time::SystemTime::now();
                for t in &ticks {
                    f.tick(t.symbol.0 as usize, at);
                }
            }
            // Behind: keep only the latest tick per symbol until the mailbox drains; then
            // whatever was kept, and every new tick in order.
            let behind = engine.metrics.data_manager.depth() >= FEED_MAX_DEPTH;
            match gate.offer(&ticks, behind) {
                Gate::Send(batch) => {
                    feed.do_send(TicksReceived(batch));
                    feed.do_send(AdvanceClock { now });
                }
                Gate::Held { dropped } => engine.metrics.data_manager.on_drop(dropped),
            }
        }
        if sample_every.is_some_and(|every| last_sample.elapsed() >= every) {
            last_sample = Instant::now();
            persist_sample(&engine).await;
        }
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            // Never hold up the feed for a report: the executor may be waiting for a live fill.
            let asked = async {
                Ok::<_, actix::MailboxError>((
                    engine.data.send(GetDataStats).await?,
                    engine.executor.send(GetExecutorStats).await?,
                    engine.db.send(GetWriterStats).await?,
                ))
            };
            let (d, x, w) = match tokio::time::timeout(REPORT_WAIT, asked).await {
                Ok(r) => r?,
                Err(_) => {
                    log::info!("status: skipped (an actor is busy, e.g. the executor waiting for a live fill)");
                    continue;
                }
            };
            let store = if w.health.connected {
                format!("{} ok", w.health.backend)
            } else {
                format!(
                    "{} DOWN, {} rows in the outbox",
                    w.health.backend, w.health.outbox_pending
                )
            };
            log::info!(
                "status: data time {} | ticks {} (dropped {}) | candles {} | signals {} | logged {} | rejected {} | store {}",
                chrono::DateTime::from_timestamp(now, 0).map(|t| t.to_rfc3339()).unwrap_or_default(),
                d.ticks,
                d.dropped(),
                d.candles_closed,
                x.received,
                x.logged,
                x.rejected,
                store
            );
        }
    }
    if let Some(f) = &sim_feed {
        // No tick after this: the drain below is the last word.
        if let Err(e) = f.send(StopFeed).await {
            log::error!("run: the simulated feed did not stop cleanly: {e}");
        }
    }
    if streaming {
        log::info!(
            "kite ticker: silence watch {}",
            engine.metrics.feed.to_json()
        );
    }
    if sample_every.is_some() {
        // The last sample, so a short run is on record too.
        persist_sample(&engine).await;
    }
    // Count after the drain: signals still in flight when the stop came are handled by then.
    if let Err(e) = engine.drain().await {
        log::error!("engine: drain before the final count failed: {e}");
    }
    let d = engine.data.send(GetDataStats).await?;
    let x = engine.executor.send(GetExecutorStats).await?;
    engine.shutdown().await;
    crate::outln!(
        "stopped: this run handled {} ticks, {} candles, {} signals ({} logged, {} opened, {} rejected); store flushed",
        d.ticks, d.candles_closed, x.received, x.logged, x.opened, x.rejected
    );
    Ok(())
}

/// Tells the control actor whether the engine's day trades, when the day changes (and at the
/// first look): a closed day is logged as an error and takes no new orders.
fn check_calendar(
    calendar: &TradingCalendar,
    now: i64,
    seen: &mut Option<chrono::NaiveDate>,
    control: &actix::Addr<crate::control::ControlActor>,
) {
    let day = calendar.date_of(now);
    if *seen == Some(day) {
        return;
    }
    *seen = Some(day);
    let closed = calendar.closed_reason(day);
    match &closed {
        Some(why) => log::error!(
            "calendar: MARKET CLOSED: {why}: the engine takes no trades today (`ctl status` says closed; the holidays are in market.holiday_files)"
        ),
        None => log::info!("calendar: {day} is a trading day"),
    }
    control.do_send(crate::control::MarketClosed(closed));
}

/// Looks at the store's health every `every` until the engine stops: the server down and the
/// outbox grown at [`OUTBOX_GROWING_CHECKS`] looks in a row is an alarm (once per outage).
async fn watch_store(
    db: actors::metrics::Tracked<actors::db_writer::DbWriter>,
    alarms: actors::alerts::AlarmSink,
    every: Duration,
) {
    let mut outbox = OutboxWatch::new(OUTBOX_GROWING_CHECKS);
    let mut tick = actix_rt::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Ok(w) = db.send(GetWriterStats).await else {
            return; // the engine has stopped
        };
        if outbox.observe(w.health.connected, w.health.outbox_pending) {
            let msg = format!(
                "store {} disconnected and its local outbox keeps growing ({} rows wait): nothing is lost, but check the server",
                w.health.backend, w.health.outbox_pending
            );
            log::error!("store: ALARM {msg}");
            alarms.raise(Alarm::new(AlarmKind::StoreDisconnected, msg));
        }
    }
}

/// Stores one sample of every actor's metrics and of the book's P&L in `performance_metrics`.
/// Never holds up the feed: the book's figures are skipped when PositionManager is busy.
async fn persist_sample(engine: &Engine) {
    let at = chrono::Utc::now().trunc_subsecs(0);
    let mut rows: Vec<messages::Row> = actors::metrics::samples(&engine.metrics.snapshot(), at)
        .into_iter()
        .map(|m| messages::Row::Metric(Box::new(m)))
        .collect();
    if let Ok(Ok(p)) =
        tokio::time::timeout(REPORT_WAIT, engine.positions.send(GetPositionSummary)).await
    {
        for (metric, value) in [
            ("open_positions", p.open_positions as f64),
            ("realized_pnl", p.realized_pnl),
            ("realized_pnl_gross", p.realized_pnl_gross),
            ("charges", p.charges),
            ("unrealized_pnl", p.unrealized_pnl),
        ] {
            rows.push(messages::Row::Metric(Box::new(messages::MetricSample {
                timestamp: at,
                component: "book".into(),
                metric: metric.into(),
                value,
                labels: String::new(),
            })));
        }
    }
    engine.db.do_send(Persist(rows));
}

/// Real option prices for PositionManager's marks.
fn mark_options(engine: &Engine, marks: Vec<(String, f64)>, at: i64) {
    if !marks.is_empty() {
        engine.positions.do_send(OptionMarks { at, ltps: marks });
    }
}
