//! The KiteTicker side of [`KiteFeed`]: the stream, the options followed on it, the silence
//! watch it drives (resubscribe, reconnect, REST fallback: `actors::kite::silence`), and the
//! order updates it is pushed (handed on as they arrive: [`KiteFeed::take_order_updates`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use actors::config::Config;
use actors::kite::silence::{SilenceWatch, Step};
use actors::kite::ticker::TickerCommand;
use actors::kite::{Credentials, KiteClient};
use messages::{SymbolId, Tick};

use super::{kite_err, KiteFeed};
use crate::error::AppError;

/// The KiteTicker stream's ticks, each index token's symbol, and the silence watch.
pub(super) struct TickerFeed {
    pub(super) rx: tokio::sync::mpsc::UnboundedReceiver<Vec<actors::kite::TickerTick>>,
    /// Index token → (symbol, its index in `streamed` and in the watch).
    pub(super) symbols: HashMap<u32, (SymbolId, usize)>,
    /// The streamed underlyings: (symbol, index token).
    pub(super) streamed: Vec<(SymbolId, u32)>,
    /// Asks the stream to subscribe, resubscribe, reconnect.
    pub(super) add: tokio::sync::mpsc::UnboundedSender<TickerCommand>,
    /// The options streamed, token → tradingsymbol.
    pub(super) options: HashMap<u32, String>,
    /// Each option's last streamed tick (watch milliseconds).
    pub(super) option_last: HashMap<String, u64>,
    /// The escalation when an underlying goes quiet.
    pub(super) watch: SilenceWatch,
    pub(super) steps: Vec<(usize, Step)>,
    /// Where the stream hands the order updates it is pushed (to the Broker).
    pub(super) orders: tokio::sync::mpsc::UnboundedSender<messages::msg::OrderPushed>,
}

pub(super) fn creds_for_ticker() -> Result<Credentials, AppError> {
    Credentials::from_env().map_err(kite_err("credentials"))
}

/// Starts the KiteTicker stream (on the caller's arbiter) for the underlyings' index tokens;
/// the order updates it is pushed go to `orders`.
pub(super) fn start_ticker(
    cfg: &Config,
    client: &Arc<KiteClient>,
    creds: &Credentials,
    keys: &[(SymbolId, String)],
    tokens: &BTreeMap<String, u64>,
    orders: tokio::sync::mpsc::UnboundedSender<messages::msg::OrderPushed>,
) -> Result<TickerFeed, AppError> {
    let mut symbols = HashMap::new();
    let mut streamed = Vec::new();
    for (id, key) in keys {
        match tokens.get(key) {
            Some(t) => {
                symbols.insert(*t as u32, (*id, streamed.len()));
                streamed.push((*id, *t as u32));
            }
            None => log::warn!("kite ticker: no instrument token for {key}; not streamed"),
        }
    }
    let (rx, add) = spawn_stream(
        cfg,
        client,
        creds,
        streamed.iter().map(|(_, t)| *t).collect(),
        orders.clone(),
    )?;
    Ok(TickerFeed {
        rx,
        watch: SilenceWatch::new(
            streamed.len(),
            Duration::from_secs(cfg.kite.ticker_silence_seconds),
            0,
        ),
        symbols,
        streamed,
        add,
        options: HashMap::new(),
        option_last: HashMap::new(),
        steps: Vec::new(),
        orders,
    })
}

type TickerChannels = (
    tokio::sync::mpsc::UnboundedReceiver<Vec<actors::kite::TickerTick>>,
    tokio::sync::mpsc::UnboundedSender<TickerCommand>,
);

/// Spawns one KiteTicker stream (on the caller's arbiter) of `tokens`, its order updates to
/// `orders`; it stops when the returned sender or receiver is dropped.
fn spawn_stream(
    cfg: &Config,
    client: &Arc<KiteClient>,
    creds: &Credentials,
    tokens: Vec<u32>,
    orders: tokio::sync::mpsc::UnboundedSender<messages::msg::OrderPushed>,
) -> Result<TickerChannels, AppError> {
    let base = super::ticker_url_from_env(cfg);
    let token = creds
        .require_access_token()
        .map_err(kite_err("credentials"))?;
    let mut url = url::Url::parse(&base).map_err(|e| {
        AppError::Usage(format!(
            "config: at `kite.ticker_url`: value {base:?} is not a URL ({e})"
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("api_key", &creds.api_key)
        .append_pair("access_token", token);
    let redactor = creds.clone();
    let (watcher, used) = (client.clone(), creds.access_token.clone());
    let n = tokens.len();
    let conn = actors::kite::ticker::TickerConnection {
        url: url.to_string(),
        tokens,
        redact: Box::new(move |s: &str| redactor.redact(s)),
        refused: Box::new(move || {
            watcher.note_token_refused(
                used.as_deref(),
                "KiteTicker refused the connection (HTTP 403)",
            )
        }),
        orders: Some(orders),
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (add, add_rx) = tokio::sync::mpsc::unbounded_channel();
    actix_rt::spawn(actors::kite::ticker::stream(conn, add_rx, tx));
    log::info!("kite ticker: streaming {n} instruments from {base}");
    Ok((rx, add))
}

impl KiteFeed {
    /// Starts the KiteTicker stream again with the client's current access token (after `ctl
    /// kite token`): the old connection is dropped, every token streamed so far is subscribed
    /// on the new one.
    pub fn restart_ticker(&mut self, cfg: &Config) -> Result<(), AppError> {
        let Some(old) = self.ticker.take() else {
            return Ok(());
        };
        let mut all: Vec<u32> = old.symbols.keys().copied().collect();
        all.extend(old.options.keys().copied());
        let (rx, add) = spawn_stream(
            cfg,
            &self.client,
            &self.client.credentials(),
            all,
            old.orders.clone(),
        )?;
        log::info!("kite ticker: restarted with the new access token");
        self.ticker = Some(TickerFeed { rx, add, ..old });
        Ok(())
    }

    /// True when ticks stream over KiteTicker (then [`KiteFeed::drain_ticker`] gives them and
    /// [`KiteFeed::poll`] is for the options held only).
    pub fn streams(&self) -> bool {
        self.ticker.is_some()
    }

    /// Streams the options in `open` (tradingsymbols of the open positions) too, from now on:
    /// their tokens come from the NFO dump.
    pub fn follow_options(&mut self, open: &[String]) {
        let Some(feed) = self.ticker.as_mut() else {
            return;
        };
        let mut fresh = Vec::new();
        for sym in open {
            if feed.options.values().any(|s| s == sym) {
                continue;
            }
            match self
                .nfo
                .shared
                .get()
                .iter()
                .find(|i| &i.tradingsymbol == sym)
            {
                Some(i) => {
                    let token = i.instrument_token as u32;
                    feed.options.insert(token, sym.clone());
                    fresh.push(token);
                }
                None => log::warn!("kite ticker: {sym} is not in the NFO dump; polled only"),
            }
        }
        if !fresh.is_empty() {
            log::info!("kite ticker: streaming {} more options", fresh.len());
            let _ = feed.add.send(TickerCommand::Subscribe(fresh));
        }
    }

    /// The ticks the WebSocket delivered since the last call (exchange time; volume = the
    /// change of the cumulative day volume), and the options' last prices (the latest per
    /// option). `now_ms` (the watch's clock) records when each streamed last.
    pub fn drain_ticker(&mut self, now_ms: u64) -> (Vec<Tick>, Vec<(String, f64)>) {
        let mut out = Vec::new();
        let mut marks: Vec<(String, f64)> = Vec::new();
        let Some(TickerFeed {
            rx,
            symbols,
            options,
            option_last,
            watch,
            ..
        }) = self.ticker.as_mut()
        else {
            return (out, marks);
        };
        let now = self.clock.now();
        while let Ok(batch) = rx.try_recv() {
            for t in batch {
                if let Some(sym) = options.get(&t.token) {
                    match option_last.get_mut(sym) {
                        Some(l) => *l = now_ms,
                        None => {
                            option_last.insert(sym.clone(), now_ms);
                        }
                    }
                    match marks.iter_mut().find(|(s, _)| s == sym) {
                        Some(m) => m.1 = t.last_price,
                        None => marks.push((sym.clone(), t.last_price)),
                    }
                    continue;
                }
                let Some((id, i)) = symbols.get(&t.token) else {
                    continue;
                };
                watch.on_tick(*i, now_ms);
                let cum = t.volume.unwrap_or(0) as f64;
                let prev = self.last_volume.insert(*id, cum).unwrap_or(cum);
                out.push(Tick {
                    symbol: *id,
                    ts: t.exchange_ts.unwrap_or(now),
                    price: t.last_price,
                    volume: (cum - prev).max(0.0),
                });
            }
        }
        (out, marks)
    }

    /// The silence watch's turn (see `actors::kite::silence`): at `now_ms`, with the market
    /// open or not, each step is taken (resubscribe, reconnect, REST fallback, retry), logged
    /// and counted into `counters`. Returns the alarm text of each underlying that fell back
    /// to REST quotes (once per silence).
    pub fn watch_stream(
        &mut self,
        now_ms: u64,
        market_open: bool,
        counters: &actors::metrics::FeedCounters,
    ) -> Vec<(String, String)> {
        let mut alarms = Vec::new();
        let Some(feed) = self.ticker.as_mut() else {
            return alarms;
        };
        feed.watch.check(now_ms, market_open, &mut feed.steps);
        if feed.steps.is_empty() {
            return alarms;
        }
        let quiet = self.silence;
        let mut resubscribe = Vec::new();
        let mut reconnect = false;
        for (i, step) in &feed.steps {
            let Some((id, token)) = feed.streamed.get(*i) else {
                continue;
            };
            let name = self
                .keys
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, n)| n.as_str())
                .unwrap_or("?");
            match step {
                Step::Resubscribe => {
                    log::warn!("kite ticker: no tick for {name} in {quiet} s while the market is open; subscribing it again");
                    resubscribe.push(*token);
                }
                Step::Reconnect => {
                    log::warn!(
                        "kite ticker: still no tick for {name} after resubscribing; reconnecting"
                    );
                    reconnect = true;
                }
                Step::Fallback => {
                    let msg = format!("KiteTicker gave no tick for {name} for {} s while the market is open (resubscribed, reconnected): its quotes now come from REST polls every interval while the stream is retried", 3 * quiet);
                    log::error!("kite ticker: ALARM {msg}");
                    alarms.push((name.to_string(), msg));
                }
                Step::Retry => {
                    log::warn!("kite ticker: {name} still on REST quotes; trying the stream again");
                    reconnect = true;
                }
                Step::Recovered => {
                    log::info!(
                        "kite ticker: {name} ticks again over the stream; its REST poll stops"
                    );
                }
            }
        }
        if !resubscribe.is_empty() {
            let _ = feed.add.send(TickerCommand::Resubscribe(resubscribe));
        }
        if reconnect {
            let _ = feed.add.send(TickerCommand::Reconnect);
        }
        let on_rest = (0..feed.streamed.len())
            .filter(|i| feed.watch.on_rest(*i))
            .count();
        counters.set(&feed.watch.counts, on_rest as u64);
        alarms
    }
}
