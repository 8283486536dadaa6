//! `run --feed kite`: Kite Connect as the market-data source of the live engine.
//!
//! At start: credentials from the environment (never logged); the NFO instrument dump (cached
//! under the data directory, refreshed atomically before each trading day's open: [`nfo`])
//! sets each underlying's lot size, tick and strike step — data, not constants, disagreements
//! with the config logged; the NSE dump gives the
//! quote instruments' tokens; history is backfilled to `default_lookback_days` at the strategy
//! timeframe through a DbWriter, so DataManager starts warm. Then quotes of every underlying's
//! quote instrument are polled every `data_collection.realtime.interval_seconds` (at most 500 a
//! call, rate-limited by the client) and fed to DataManager as ticks (volume = the change of
//! Kite's cumulative day volume).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actors::config::{Config, StorageBackend};
use actors::db_writer::DbWriter;
use actors::kite::{
    load_or_fetch_instruments, Credentials, Instrument, KiteClient, KiteError, RateLimits,
};
use actors::kite::{OrderState, Position};
use actors::logic::backfill::{day_volume, split_running};
use actors::logic::clock::LiveClock;
use actors::logic::session::Session;
use messages::msg::{Flush, Persist};
use messages::{
    Candle, CandleRow, PositionRecord, PositionStatus, Row, SymbolId, Symbols, Tick, Timeframe,
};

use crate::error::AppError;

pub mod nfo;
mod ticker;
use nfo::NfoDump;
use ticker::{creds_for_ticker, start_ticker, TickerFeed};

/// The broker feed, ready to poll.
pub struct KiteFeed {
    client: Arc<KiteClient>,
    /// With `kite.ticker`: the WebSocket's ticks.
    ticker: Option<TickerFeed>,
    /// The NFO dump, refreshed before each open.
    nfo: NfoDump,
    /// The alarm of a refresh that failed at start (raised once the Notifier runs).
    start_alarm: Option<messages::Alarm>,
    /// (symbol id, quote instrument key such as `NSE:NIFTY 50`).
    keys: Vec<(SymbolId, String)>,
    last_volume: HashMap<SymbolId, f64>,
    /// The engine's time (stamps quotes that carry none).
    clock: LiveClock,
    /// History candles whose interval was still running at start, per timeframe: DataManager
    /// resumes them as forming ([`KiteFeed::take_running`]).
    running: Vec<(Timeframe, Vec<Candle>)>,
    /// `kite.ticker_silence_seconds`.
    silence: u64,
    /// With `kite.ticker`: the order updates the stream is pushed, until taken.
    order_updates: Option<tokio::sync::mpsc::UnboundedReceiver<messages::msg::OrderPushed>>,
}

/// KiteTicker's address: `KITE_TICKER_URL` if set and not empty, else `kite.ticker_url`.
pub fn ticker_url_from_env(cfg: &Config) -> String {
    std::env::var("KITE_TICKER_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| cfg.kite.ticker_url.clone())
}

fn kite_err(context: &str) -> impl FnOnce(KiteError) -> AppError + '_ {
    move |e| AppError::Usage(format!("kite: {context}: {e}"))
}

/// What the dump says of one underlying's options: the lot and tick of its contracts, the
/// strike step (the smallest gap between strikes of the nearest expiry), and whether weekly
/// expiries are listed (three or more within 35 days).
#[derive(Debug, Clone, PartialEq)]
pub struct DumpValues {
    pub lot_size: u32,
    pub tick_size: f64,
    pub strike_step: Option<f64>,
    pub weekly: bool,
}

/// [`DumpValues`] of `name`, or `None` when the dump lists no options of it.
pub fn dump_values(nfo: &[Instrument], name: &str, today: chrono::NaiveDate) -> Option<DumpValues> {
    let opts: Vec<&Instrument> = nfo
        .iter()
        .filter(|i| i.name == name && (i.instrument_type == "CE" || i.instrument_type == "PE"))
        .collect();
    let nearest = opts
        .iter()
        .filter_map(|i| i.expiry)
        .filter(|e| *e >= today)
        .min();
    // The lot and tick of the nearest expiry's contracts (after a lot revision, far months
    // may still carry the old lot), else of any.
    let first = opts
        .iter()
        .find(|i| nearest.is_some() && i.expiry == nearest)
        .or(opts.first())?;
    let mut strikes: Vec<f64> = opts
        .iter()
        .filter(|i| i.expiry == nearest)
        .map(|i| i.strike)
        .collect();
    strikes.sort_by(|a, b| a.total_cmp(b));
    strikes.dedup();
    let step = strikes
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0.0)
        .fold(f64::INFINITY, f64::min);
    let expiries: std::collections::BTreeSet<_> = opts
        .iter()
        .filter_map(|i| i.expiry)
        .filter(|e| *e >= today && (*e - today).num_days() <= 35)
        .collect();
    Some(DumpValues {
        lot_size: first.lot_size,
        tick_size: first.tick_size,
        strike_step: step.is_finite().then_some(step),
        weekly: expiries.len() >= 3,
    })
}

/// Sets lot size, tick and strike step of each underlying from the NFO dump (the config's
/// values stay for an underlying the dump does not list; the freeze quantity always comes
/// from the config: Kite's dump has none). Where the dump disagrees with the config, a
/// warning says so. Returns one note per underlying changed.
pub fn apply_instruments(
    cfg: &mut Config,
    nfo: &[Instrument],
    today: chrono::NaiveDate,
) -> Vec<String> {
    for d in nfo::differences(cfg, nfo, today) {
        log::warn!("kite: the instrument dump disagrees with the config: {d} (the dump's is used)");
    }
    let mut notes = Vec::new();
    for (name, spec) in cfg.instruments.underlyings.iter_mut() {
        let Some(d) = dump_values(nfo, name, today) else {
            continue;
        };
        let before = (spec.lot_size, spec.strike_step, spec.tick_size, spec.weekly);
        spec.lot_size = d.lot_size;
        spec.tick_size = d.tick_size;
        if let Some(step) = d.strike_step {
            spec.strike_step = step;
        }
        spec.weekly = d.weekly;
        let after = (spec.lot_size, spec.strike_step, spec.tick_size, spec.weekly);
        if before != after {
            notes.push(format!(
                "{name}: lot {} step {} tick {} weekly {} (from the instrument dump)",
                after.0, after.1, after.2, after.3
            ));
        }
    }
    notes
}

impl KiteFeed {
    /// Connects, loads instruments (into `cfg`), backfills history into the store.
    pub async fn prepare(
        cfg: &mut Config,
        symbols: &Symbols,
        backend: StorageBackend,
        clock: LiveClock,
        session: &Session,
        calendar: &actors::logic::calendar::TradingCalendar,
    ) -> Result<KiteFeed, AppError> {
        let creds = Credentials::from_env().map_err(kite_err("credentials"))?;
        creds
            .require_access_token()
            .map_err(kite_err("credentials"))?;
        let base = KiteClient::base_url_from_env(&cfg.kite.base_url);
        let client = Arc::new(
            KiteClient::new(
                &base,
                creds,
                RateLimits::default(),
                Duration::from_secs(cfg.kite.timeout_seconds),
            )
            .map_err(kite_err("client"))?,
        );
        let max_age = Duration::from_secs(cfg.kite.instruments_max_age_hours * 3600);
        let dir = cfg.storage.data_dir.clone();
        let (nfo, start_alarm) = NfoDump::load(cfg, &client, clock, calendar.clone()).await?;
        let today = calendar.date_of(clock.now());
        for n in apply_instruments(cfg, &nfo.shared.get(), today) {
            log::info!("kite: {n}");
        }
        let c = client.clone();
        let nse =
            load_or_fetch_instruments(&dir.join("instruments_NSE.csv"), max_age, || async move {
                c.instruments_csv(Some("NSE")).await
            })
            .await
            .map_err(kite_err("instrument dump NSE"))?;
        let tokens: BTreeMap<String, u64> = nse
            .iter()
            .map(|i| {
                (
                    format!("{}:{}", i.exchange, i.tradingsymbol),
                    i.instrument_token,
                )
            })
            .collect();
        let keys: Vec<(SymbolId, String)> = symbols
            .iter()
            .map(|(id, name)| (id, cfg.kite.quote_instrument(name)))
            .collect();
        let mut running = Vec::new();
        let mut last_volume = HashMap::new();
        if cfg.data_collection.historical.enabled {
            let at = clock.now();
            for tf in cfg.strategies.timeframes() {
                let got = backfill(
                    cfg, tf, &client, &keys, symbols, &tokens, backend, at, session,
                )
                .await?;
                let mut of_tf = Vec::new();
                for b in got {
                    // The day's cumulative volume so far: the first live quote's change
                    // continues it (the same at every timeframe).
                    last_volume.insert(b.symbol, b.day_volume);
                    of_tf.extend(b.running);
                }
                running.push((tf, of_tf));
            }
        }
        // Reconciliation: what the broker holds against what the engine knows.
        // The book the store holds (the server's rows plus the outbox's); never an empty one
        // standing in for a store that cannot be read.
        let mut known = crate::system::open_store(cfg, backend)?.open_positions()?;
        match (client.positions().await, client.orders().await) {
            (Ok(p), Ok(o)) => {
                let costs =
                    actors::charges::Costs::new(cfg.charges.schedule.clone(), session.offset);
                let freeze =
                    actors::options::slicing::FreezeLimits::from_instruments(&cfg.instruments);
                let settled = settle_exits(&client, &o, &known, &costs, &freeze).await;
                if !settled.is_empty() {
                    let db = Writer::open(cfg, backend, "reconciled positions")?;
                    db.write(
                        settled
                            .iter()
                            .map(|r| Row::Position(Box::new(r.clone())))
                            .collect(),
                    );
                    db.commit().await?;
                    known.retain(|k| !settled.iter().any(|s| s.position_id == k.position_id));
                    known.extend(
                        settled
                            .into_iter()
                            .filter(|s| s.status == PositionStatus::Open),
                    );
                }
                for line in reconcile(&p.net, &o, &known) {
                    log::warn!("kite: reconcile: {line}");
                }
            }
            (Err(e), _) | (_, Err(e)) => {
                log::warn!("kite: reconcile: cannot read the broker's positions and orders ({e}); nothing adopted or flagged")
            }
        }
        let (ticker, order_updates) = if cfg.kite.ticker {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let t = start_ticker(cfg, &client, &creds_for_ticker()?, &keys, &tokens, tx)?;
            (Some(t), Some(rx))
        } else {
            (None, None)
        };
        Ok(KiteFeed {
            client,
            ticker,
            nfo,
            start_alarm,
            keys,
            last_volume,
            clock,
            running,
            silence: cfg.kite.ticker_silence_seconds,
            order_updates,
        })
    }

    /// The alarm of an instrument refresh that failed at start (once).
    pub fn take_start_alarm(&mut self) -> Option<messages::Alarm> {
        self.start_alarm.take()
    }

    /// Starts the NFO dump's refresh when due; the outcome of one that finished.
    pub fn poll_instruments(&mut self, now: i64, cfg: &Config) -> Option<nfo::RefreshOutcome> {
        let client = self.client.clone();
        self.nfo.poll(now, &client, cfg)
    }

    /// The client (shared with the Broker): its access token and the token's state.
    pub fn client(&self) -> Arc<KiteClient> {
        self.client.clone()
    }

    /// The order updates KiteTicker pushes, as they arrive (once; `None` after, or without
    /// the ticker).
    pub fn take_order_updates(
        &mut self,
    ) -> Option<tokio::sync::mpsc::UnboundedReceiver<messages::msg::OrderPushed>> {
        self.order_updates.take()
    }

    /// The history candles whose interval was still running at start, per timeframe (once;
    /// empty after).
    pub fn take_running(&mut self) -> Vec<(Timeframe, Vec<Candle>)> {
        std::mem::take(&mut self.running)
    }

    /// The Broker actor's client and instrument dump.
    pub fn broker_setup(&self) -> crate::system::BrokerSetup {
        crate::system::BrokerSetup {
            client: self.client.clone(),
            nfo: self.nfo.shared.clone(),
        }
    }

    /// One poll: a tick per quoted underlying, and the last price of each of `options`
    /// (tradingsymbols on `exchange`, the open positions' contracts). Quotes without data are
    /// skipped.
    ///
    /// Streaming, only what the stream does not carry is polled: the underlyings on REST
    /// fallback, and the options that have not streamed within `kite.ticker_silence_seconds`
    /// (at `now_ms`, the watch's clock).
    pub async fn poll(
        &mut self,
        exchange: &str,
        options: &[String],
        now_ms: u64,
    ) -> Result<(Vec<Tick>, Vec<(String, f64)>), KiteError> {
        let (options, underlyings): (Vec<&String>, Vec<(SymbolId, String)>) = match &self.ticker {
            None => (options.iter().collect(), self.keys.clone()),
            Some(f) => (
                options
                    .iter()
                    .filter(|o| !f.watch.live(f.option_last.get(*o).copied(), now_ms))
                    .collect(),
                f.streamed
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| f.watch.on_rest(*i))
                    .filter_map(|(_, (id, _))| self.keys.iter().find(|(k, _)| k == id).cloned())
                    .collect(),
            ),
        };
        let option_keys: Vec<String> = options.iter().map(|o| format!("{exchange}:{o}")).collect();
        let underlyings = &underlyings[..];
        let names: Vec<&str> = underlyings
            .iter()
            .map(|(_, k)| k.as_str())
            .chain(option_keys.iter().map(String::as_str))
            .collect();
        if names.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let quotes = self.client.quote(&names).await?;
        let marks: Vec<(String, f64)> = options
            .iter()
            .zip(&option_keys)
            .filter_map(|(o, k)| quotes.get(k).map(|q| ((*o).clone(), q.last_price)))
            .collect();
        let now = self.clock.now();
        let mut ticks = Vec::with_capacity(underlyings.len());
        for (id, key) in underlyings {
            let Some(q) = quotes.get(key) else {
                continue;
            };
            let ts = q
                .timestamp
                .as_deref()
                .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
                .map(|t| t.and_utc().timestamp() - 19_800)
                .unwrap_or(now);
            let cum = q.volume.unwrap_or(0.0);
            let prev = self.last_volume.insert(*id, cum).unwrap_or(cum);
            ticks.push(Tick {
                symbol: *id,
                ts,
                price: q.last_price,
                volume: (cum - prev).max(0.0),
            });
        }
        Ok((ticks, marks))
    }
}

/// What the history of one underlying gave besides its stored candles.
struct Backfilled {
    symbol: SymbolId,
    /// The candle of the interval still running at start (see `logic::backfill`).
    running: Option<Candle>,
    /// The cumulative volume of the day so far, as the history tells it.
    day_volume: f64,
}

/// Fetches `default_lookback_days` of candles up to `now` for every underlying and stores the
/// closed ones; the candle of a running interval is returned, never stored as closed.
#[allow(clippy::too_many_arguments)]
async fn backfill(
    cfg: &Config,
    tf: Timeframe,
    client: &KiteClient,
    keys: &[(SymbolId, String)],
    symbols: &Symbols,
    tokens: &BTreeMap<String, u64>,
    backend: StorageBackend,
    now: i64,
    session: &Session,
) -> Result<Vec<Backfilled>, AppError> {
    let to = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .naive_utc()
        + chrono::Duration::seconds(session.offset);
    let from =
        to - chrono::Duration::days(cfg.data_collection.historical.default_lookback_days as i64);
    let db = Writer::open(cfg, backend, "history")?;
    let mut out = Vec::with_capacity(keys.len());
    for (id, key) in keys {
        let Some(token) = tokens.get(key) else {
            log::warn!(
                "kite: no instrument token for {key}; {} starts without history",
                symbols.name(*id)
            );
            continue;
        };
        let mut candles: Vec<Candle> = client
            .historical_range(*token, tf.as_str(), from, to)
            .await
            .map_err(kite_err("historical candles"))?
            .iter()
            .map(|c| Candle {
                symbol: *id,
                ts: c.ts,
                open: c.open,
                high: c.high,
                low: c.low,
                close: c.close,
                volume: c.volume,
            })
            .collect();
        let name = symbols.shared_name(*id).unwrap_or_else(|| "?".into());
        let (running, future) = split_running(&mut candles, now, session, tf);
        if future > 0 {
            log::warn!("kite: {future} {tf} candles of {name} open after the engine's time; ignored (is this machine's clock behind?)");
        }
        let rows: Vec<Row> = candles
            .iter()
            .map(|c| Row::Candle(CandleRow::of(&name, tf, c)))
            .collect();
        log::info!(
            "kite: backfilled {} closed {tf} candles of {name} ({key}){}",
            rows.len(),
            if running.is_some() {
                "; the last one is still running and continues live"
            } else {
                ""
            }
        );
        out.push(Backfilled {
            symbol: *id,
            day_volume: day_volume(&candles, running.as_ref(), now, session),
            running,
        });
        db.write(rows);
    }
    db.commit().await?;
    Ok(out)
}

/// Live positions whose exit order filled while the engine was down (a SELL with one of the
/// position's exit tags, filled): sold now at that order's trades. Returns their new versions
/// (closed, or still open with what remains), each sale charged by `costs` as of now.
pub async fn settle_exits(
    client: &KiteClient,
    orders: &[OrderState],
    known: &[PositionRecord],
    costs: &actors::charges::Costs,
    freeze: &actors::options::slicing::FreezeLimits,
) -> Vec<PositionRecord> {
    use actors::broker::{filled_value, EXIT_ATTEMPTS_MATCHED};
    use actors::live_orders::exit_slice_tag;
    use actors::options::position::order_slices;
    use actors::options::position::{ExitReason, PaperPosition};
    let mut out = Vec::new();
    for k in known.iter().filter(|k| k.mode == messages::Mode::Live) {
        let held = match k.remaining_quantity {
            0 => k.quantity,
            n => n,
        };
        // Every slice of every attempt at what was held (the freeze quantity slices it as the
        // broker did).
        let slices = order_slices(held, k.lot_size, freeze.get(&k.symbol)).len();
        let tags: Vec<String> = (1..=EXIT_ATTEMPTS_MATCHED)
            .flat_map(|a| (0..slices).map(move |i| exit_slice_tag(&k.position_id, held, a, i)))
            .collect();
        let fills: Vec<&OrderState> = orders
            .iter()
            .filter(|o| o.transaction_type == "SELL" && o.filled_quantity > 0)
            .filter(|o| tags.iter().any(|t| o.has_tag(t)))
            .collect();
        if fills.is_empty() {
            continue;
        }
        let mut pos = PaperPosition::resume(
            k.clone(),
            k.lot_size,
            actors::logic::price::TICK,
            0,
            costs,
            None,
        );
        let now = chrono::Utc::now().timestamp();
        for o in fills {
            let (qty, value) = filled_value(client, o).await;
            pos.fill_sell(now, qty, value, ExitReason::Reconciled);
            log::warn!(
                "kite: reconcile: exit order {} sold {} × {qty} while the engine was down: position {} {} (realized ₹{:.2})",
                o.order_id,
                k.option_symbol,
                k.position_id,
                if pos.is_open() { "still open" } else { "closed" },
                pos.record.realized_pnl
            );
        }
        out.push(pos.record);
    }
    out
}

/// A DbWriter of its own for what the broker gives before the engine starts (history,
/// reconciled positions); `what` names it in errors.
struct Writer {
    db: actix::Addr<DbWriter>,
    what: &'static str,
}

impl Writer {
    fn open(cfg: &Config, backend: StorageBackend, what: &'static str) -> Result<Writer, AppError> {
        let store = crate::system::open_store(cfg, backend)?;
        let db = DbWriter::new(
            store,
            10_000,
            Duration::from_millis(200),
            actors::metrics::Registry::new(false).db_writer,
        )
        .bulk_load()
        .start();
        Ok(Writer { db, what })
    }

    fn failed(&self) -> impl Fn(messages::msg::StoreFailure) -> AppError + '_ {
        move |e| AppError::Usage(format!("kite: storing {}: {e}", self.what))
    }

    /// Hands `rows` over; [`Writer::commit`] commits them (or says why not).
    fn write(&self, rows: Vec<Row>) {
        self.db.do_send(Persist(rows));
    }

    /// Commits everything handed over.
    async fn commit(&self) -> Result<(), AppError> {
        self.db.send(Flush).await?.map_err(self.failed())?;
        Ok(())
    }
}

/// `alphastocks kite login --request-token T`: the session exchange; prints the access token.
pub async fn login(cfg: &Config, request_token: &str) -> Result<String, AppError> {
    let creds = Credentials::from_env().map_err(kite_err("credentials"))?;
    creds
        .require_api_secret()
        .map_err(kite_err("credentials"))?;
    let base = KiteClient::base_url_from_env(&cfg.kite.base_url);
    let client = KiteClient::new(
        &base,
        creds,
        RateLimits::default(),
        Duration::from_secs(cfg.kite.timeout_seconds),
    )
    .map_err(kite_err("client"))?;
    let s = client
        .generate_session(request_token)
        .await
        .map_err(kite_err("login"))?;
    Ok(s.access_token)
}

/// Compares the broker's net positions and orders with the engine's open positions: known ones
/// are adopted (they keep being monitored), anything else is flagged for the operator. (While
/// running, the Broker compares them again every `kite.reconcile_seconds`:
/// `actors::reconcile`.)
pub fn reconcile(net: &[Position], orders: &[OrderState], known: &[PositionRecord]) -> Vec<String> {
    let mut out = Vec::new();
    // What the engine holds of a position: after partial exits, less than it bought.
    let held = actors::reconcile::held;
    for p in net.iter().filter(|p| p.quantity != 0) {
        match known.iter().find(|k| k.option_symbol == p.tradingsymbol) {
            Some(k) if held(k) == p.quantity => out.push(format!(
                "adopted {} × {} (position {})",
                p.tradingsymbol, p.quantity, k.position_id
            )),
            Some(k) => out.push(format!(
                "FLAG {}: broker holds {}, the engine expects {}",
                p.tradingsymbol,
                p.quantity,
                held(k)
            )),
            None => out.push(format!(
                "FLAG {} × {} ({}) at the broker is unknown to the engine: not managed",
                p.tradingsymbol, p.quantity, p.exchange
            )),
        }
    }
    for k in known.iter().filter(|k| k.mode == messages::Mode::Live) {
        if !net
            .iter()
            .any(|p| p.tradingsymbol == k.option_symbol && p.quantity != 0)
        {
            out.push(format!(
                "FLAG {}: the engine expects an open live position the broker does not hold",
                k.option_symbol
            ));
        }
    }
    for o in orders.iter().filter(|o| !o.is_terminal()) {
        out.push(format!(
            "FLAG open order {} {} {} × {} ({}), tag {:?}",
            o.order_id, o.transaction_type, o.tradingsymbol, o.quantity, o.status, o.tag
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(symbol: &str, qty: i64) -> Position {
        serde_json::from_value(
            serde_json::json!({"tradingsymbol": symbol, "exchange": "NFO",
            "product": "NRML", "quantity": qty}),
        )
        .unwrap()
    }

    fn open(symbol: &str, quantity: u32, remaining: u32) -> PositionRecord {
        let mut r: PositionRecord = serde_json::from_value(serde_json::json!({
            "position_id": "00000000-0000-0000-0000-000000000001", "version": 3,
            "signal_id": "00000000-0000-0000-0000-000000000002", "symbol": "NIFTY",
            "option_symbol": symbol, "strike": 24000.0, "option_type": "CE",
            "expiry": "2025-12-09", "mode": "live", "status": "OPEN", "lots": quantity / 75,
            "lot_size": 75, "quantity": quantity, "entry_time": "2025-12-02T04:00:00Z",
            "entry_premium": 100.0, "stop_loss_premium": 70.0, "target_premium": 160.0,
            "current_premium": 100.0, "unrealized_pnl": 0.0, "exit_time": null,
            "exit_premium": 0.0, "exit_reason": "", "realized_pnl": 0.0,
            "updated_at": "2025-12-02T04:00:00Z"}))
        .unwrap();
        r.remaining_quantity = remaining;
        r
    }

    #[test]
    fn reconciliation_compares_what_is_still_held() {
        // Bought 300, booked 150: the broker's 150 is what the engine expects.
        let lines = reconcile(&[held("A", 150)], &[], &[open("A", 300, 150)]);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("adopted A × 150"), "{lines:?}");
        // A row from before remaining_quantity existed: all of quantity.
        let lines = reconcile(&[held("A", 150)], &[], &[open("A", 300, 0)]);
        assert!(
            lines[0].contains("FLAG A: broker holds 150, the engine expects 300"),
            "{lines:?}"
        );
        // The engine's live position the broker does not hold is flagged.
        let lines = reconcile(&[], &[], &[open("B", 75, 75)]);
        assert!(
            lines[0].contains("FLAG B: the engine expects an open live position"),
            "{lines:?}"
        );
    }
}
