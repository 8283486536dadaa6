//! The NFO instrument dump of `run --feed kite`, kept current.
//!
//! At start the cached dump (`instruments_NFO.csv` under the data directory) is used when it
//! was written since the last refresh instant (`kite.instruments_refresh_at` of the latest
//! trading day) and is younger than `kite.instruments_max_age_hours`, both on the engine's clock
//! (a rehearsal's `--clock-start` time, not the machine's);
//! otherwise it is refreshed first. While the engine runs, the dump is refreshed at that time
//! of every trading day, before the open. A refresh is atomic
//! ([`actors::kite::refresh_dump`]): downloaded to a temporary file beside the cache, parsed
//! and checked (rows, every traded underlying's options, nothing expired), only then renamed
//! over it. A failed refresh leaves the cached file as it was, keeps trading from it and raises
//! an `instruments_refresh_failed` alarm (once per refresh instant) and is retried every
//! [`RETRY_SECS`] until one succeeds — a failure at start too, and after the open (yesterday's
//! dump lacks the day's new contracts). Only with no usable cached dump at all is a failure at
//! start fatal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actors::config::Config;
use actors::kite::refresh::{last_due, next_due, written_since};
use actors::kite::{
    check_dump, parse_instruments, refresh_dump, Instrument, KiteClient, KiteError, SharedDump,
};
use actors::logic::calendar::TradingCalendar;
use actors::logic::clock::LiveClock;
use chrono::NaiveDate;
use messages::{Alarm, AlarmKind};
use tokio::sync::oneshot;

use super::kite_err;
use crate::error::AppError;

/// After a failed refresh, the next try is this much later (engine seconds) while before the
/// open.
pub const RETRY_SECS: i64 = 300;

type Refreshed = Result<(Vec<Instrument>, String), KiteError>;

/// What a refresh that finished while the engine runs came to.
#[derive(Debug)]
pub enum RefreshOutcome {
    /// The cache and the Broker's dump were replaced; the check's summary and what the new
    /// dump says differently from the running config.
    Refreshed {
        summary: String,
        differences: Vec<String>,
    },
    /// Kept the cached dump; the alarm to raise (the first failure of this refresh instant).
    Failed { message: String, alarm: bool },
}

/// The dump, where it is cached, and when it is refreshed next.
pub struct NfoDump {
    /// The dump the Broker trades from.
    pub shared: SharedDump,
    cache: PathBuf,
    /// The traded underlyings: each must have option contracts in a new dump.
    underlyings: Vec<String>,
    /// `kite.instruments_refresh_at`, seconds after local midnight.
    at: i64,
    calendar: TradingCalendar,
    /// The next refresh, Unix seconds on the engine's clock.
    next: i64,
    /// The refresh instant whose failure was alarmed (one alarm per instant).
    alarmed: Option<i64>,
    inflight: Option<oneshot::Receiver<Refreshed>>,
}

/// The cached dump, parsed, with its file's modification time.
fn read_cache(cache: &Path) -> Result<Vec<Instrument>, String> {
    let bytes = std::fs::read(cache).map_err(|e| e.to_string())?;
    let list = parse_instruments(&bytes).map_err(|e| e.to_string())?;
    if list.is_empty() {
        return Err("no rows".into());
    }
    Ok(list)
}

fn written_at(cache: &Path) -> String {
    std::fs::metadata(cache)
        .and_then(|m| m.modified())
        .map(|t| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339())
        .unwrap_or_else(|_| "at an unknown time".into())
}

fn younger_than(cache: &Path, max_age: Duration, now: i64) -> bool {
    std::fs::metadata(cache)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .is_some_and(|written| now.saturating_sub(written) < max_age.as_secs() as i64)
}

impl NfoDump {
    /// The dump at start: the cached one when current, else refreshed (see the module doc).
    /// Returns the dump's keeper and the alarm of a failed refresh, if any.
    pub async fn load(
        cfg: &Config,
        client: &Arc<KiteClient>,
        clock: LiveClock,
        calendar: TradingCalendar,
    ) -> Result<(NfoDump, Option<Alarm>), AppError> {
        let cache = cfg.storage.data_dir.join("instruments_NFO.csv");
        let at = cfg.kite.refresh_at_secs().unwrap_or(8 * 3600 + 45 * 60);
        let underlyings = cfg.options_trading.entry_filters.valid_underlyings.clone();
        let now = clock.now();
        let today = calendar.date_of(now);
        let due = last_due(&calendar, now, at);
        let max_age = Duration::from_secs(cfg.kite.instruments_max_age_hours * 3600);
        let mut dump = NfoDump {
            shared: SharedDump::default(),
            cache,
            underlyings,
            at,
            next: next_due(&calendar, now, at),
            calendar,
            alarmed: None,
            inflight: None,
        };
        let current = written_since(&dump.cache, due) && younger_than(&dump.cache, max_age, now);
        if current {
            match read_cache(&dump.cache)
                .and_then(|l| check_dump(&l, &dump.underlyings, today).map(|s| (l, s)))
            {
                Ok((list, summary)) => {
                    log::info!(
                        "kite: instrument dump NFO: the cached one is current (written {}): {summary}",
                        written_at(&dump.cache)
                    );
                    dump.shared.replace(Arc::new(list));
                    return Ok((dump, None));
                }
                Err(why) => log::warn!(
                    "kite: instrument dump NFO: the cached one is not usable ({why}); refreshing"
                ),
            }
        }
        match dump.fetch_now(client, today).await {
            Ok((list, summary)) => {
                log::info!("kite: instrument dump NFO refreshed: {summary}");
                dump.shared.replace(Arc::new(list));
                Ok((dump, None))
            }
            Err(e) => match read_cache(&dump.cache) {
                Ok(list) => {
                    let msg = dump.failed_message(&e);
                    log::error!("kite: ALARM {msg}");
                    dump.shared.replace(Arc::new(list));
                    dump.alarmed = Some(due);
                    dump.next = now + RETRY_SECS;
                    Ok((
                        dump,
                        Some(Alarm::new(AlarmKind::InstrumentsRefreshFailed, msg)),
                    ))
                }
                Err(why) => {
                    log::error!(
                        "kite: instrument dump NFO: no cached dump to fall back on ({why})"
                    );
                    Err(kite_err("instrument dump NFO")(e))
                }
            },
        }
    }

    fn failed_message(&self, e: &KiteError) -> String {
        format!(
            "the NFO instrument dump could not be refreshed ({e}); trading continues from the cached dump written {} ({}): today's new contracts and lot changes are missing until a refresh succeeds",
            written_at(&self.cache),
            self.cache.display()
        )
    }

    async fn fetch_now(&self, client: &Arc<KiteClient>, today: NaiveDate) -> Refreshed {
        let c = client.clone();
        refresh_dump(
            &self.cache,
            || async move { c.instruments_csv(Some("NFO")).await },
            &self.underlyings,
            today,
        )
        .await
    }

    /// Called every turn of the run loop: starts the refresh when it is due (in its own task,
    /// so the feed never waits for the download) and returns the outcome of one that finished.
    pub fn poll(
        &mut self,
        now: i64,
        client: &Arc<KiteClient>,
        cfg: &Config,
    ) -> Option<RefreshOutcome> {
        if let Some(rx) = self.inflight.as_mut() {
            let got = match rx.try_recv() {
                Ok(r) => r,
                Err(oneshot::error::TryRecvError::Empty) => return None,
                Err(oneshot::error::TryRecvError::Closed) => {
                    Err(KiteError::data("the refresh task stopped"))
                }
            };
            self.inflight = None;
            return Some(self.finished(now, got, cfg));
        }
        if now < self.next {
            return None;
        }
        let today = self.calendar.date_of(now);
        let (tx, rx) = oneshot::channel();
        let c = client.clone();
        let cache = self.cache.clone();
        let underlyings = self.underlyings.clone();
        log::info!("kite: instrument dump NFO: refreshing before the open");
        actix_rt::spawn(async move {
            let r = refresh_dump(
                &cache,
                || async move { c.instruments_csv(Some("NFO")).await },
                &underlyings,
                today,
            )
            .await;
            let _ = tx.send(r);
        });
        self.inflight = Some(rx);
        None
    }

    fn finished(&mut self, now: i64, got: Refreshed, cfg: &Config) -> RefreshOutcome {
        let due = last_due(&self.calendar, now, self.at);
        match got {
            Ok((list, summary)) => {
                self.next = next_due(&self.calendar, now, self.at);
                self.alarmed = None;
                let today = self.calendar.date_of(now);
                let differences = differences(cfg, &list, today);
                self.shared.replace(Arc::new(list));
                RefreshOutcome::Refreshed {
                    summary,
                    differences,
                }
            }
            Err(e) => {
                self.next = now + RETRY_SECS;
                let alarm = self.alarmed != Some(due);
                self.alarmed = Some(due);
                RefreshOutcome::Failed {
                    message: self.failed_message(&e),
                    alarm,
                }
            }
        }
    }
}

/// Where the dump's contracts disagree with `cfg` (lot size, tick size, strike step), one line
/// each; the dump's values are what the contracts trade at.
pub fn differences(cfg: &Config, nfo: &[Instrument], today: NaiveDate) -> Vec<String> {
    let mut out = Vec::new();
    for (name, spec) in &cfg.instruments.underlyings {
        let Some(d) = super::dump_values(nfo, name, today) else {
            continue;
        };
        if d.lot_size != spec.lot_size {
            out.push(format!(
                "{name}: lot_size {} in the dump, {} in the config",
                d.lot_size, spec.lot_size
            ));
        }
        if (d.tick_size - spec.tick_size).abs() > 1e-9 {
            out.push(format!(
                "{name}: tick_size {} in the dump, {} in the config",
                d.tick_size, spec.tick_size
            ));
        }
        if let Some(step) = d.strike_step {
            if (step - spec.strike_step).abs() > 1e-9 {
                out.push(format!(
                    "{name}: strike_step {step} in the dump, {} in the config",
                    spec.strike_step
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// NIFTY options: the near expiry at lot 65 with strikes 50 apart, a far month still at
    /// the old lot 75 with strikes 100 apart.
    fn nfo() -> Vec<Instrument> {
        let mut text = String::from("instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,instrument_type,segment,exchange\n");
        let mut token = 1;
        for (expiry, lot, strikes) in [
            ("2026-12-29", 75, [24_000, 24_100, 24_200]),
            ("2026-12-08", 65, [24_000, 24_050, 24_100]),
        ] {
            for k in strikes {
                for t in ["CE", "PE"] {
                    text.push_str(&format!(
                        "{token},{token},NIFTYX{k}{t},NIFTY,0,{expiry},{k},0.05,{lot},{t},NFO-OPT,NFO\n"
                    ));
                    token += 1;
                }
            }
        }
        parse_instruments(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_nearest_expiry_sets_lot_tick_and_strike_step_and_differences_are_named() {
        let today = d("2026-12-01");
        let v = crate::kite_feed::dump_values(&nfo(), "NIFTY", today).unwrap();
        assert_eq!(v.lot_size, 65);
        assert_eq!(v.tick_size, 0.05);
        assert_eq!(v.strike_step, Some(50.0));
        assert!(!v.weekly);
        assert_eq!(
            crate::kite_feed::dump_values(&nfo(), "BANKNIFTY", today),
            None
        );
        let mut cfg = actors::config::Config::default_config().unwrap();
        cfg.instruments
            .underlyings
            .get_mut("NIFTY")
            .unwrap()
            .lot_size = 75;
        cfg.instruments
            .underlyings
            .get_mut("NIFTY")
            .unwrap()
            .strike_step = 100.0;
        assert_eq!(
            differences(&cfg, &nfo(), today),
            vec![
                "NIFTY: lot_size 65 in the dump, 75 in the config".to_string(),
                "NIFTY: strike_step 50 in the dump, 100 in the config".to_string(),
            ]
        );
        // Applied: the dump wins; BANKNIFTY (not in the dump) keeps the config's values.
        let bank = cfg.instruments.underlyings["BANKNIFTY"].clone();
        let notes = crate::kite_feed::apply_instruments(&mut cfg, &nfo(), today);
        assert_eq!(
            notes,
            vec!["NIFTY: lot 65 step 50 tick 0.05 weekly false (from the instrument dump)"]
        );
        assert_eq!(cfg.instruments.underlyings["NIFTY"].lot_size, 65);
        assert_eq!(cfg.instruments.underlyings["BANKNIFTY"], bank);
        assert!(differences(&cfg, &nfo(), today).is_empty());
    }
}
