//! The engine's time on a live feed: the machine's clock, or a rehearsal clock that starts at a
//! chosen instant and runs a chosen number of times faster (a trading day compressed into
//! minutes against a scripted broker). Replays and the simulated market use data time instead.

use std::time::Instant;

/// Now, in Unix seconds. `Copy`: every actor that needs the time holds its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveClock {
    /// `None`: the machine's clock. `Some`: (the instant it reads `start_ms`, `start_ms`, speed).
    rehearsal: Option<(Instant, i64, f64)>,
}

impl LiveClock {
    /// The machine's clock.
    pub fn system() -> Self {
        LiveClock { rehearsal: None }
    }

    /// A clock that reads `start` (Unix seconds) now and advances `speed` seconds per second.
    /// `speed` must be finite and positive (checked where it is read from the user).
    pub fn rehearsal(start: i64, speed: f64) -> Self {
        LiveClock {
            rehearsal: Some((Instant::now(), start.saturating_mul(1000), speed)),
        }
    }

    /// True for a rehearsal clock.
    pub fn is_rehearsal(&self) -> bool {
        self.rehearsal.is_some()
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self.rehearsal {
            None => chrono::Utc::now().timestamp_millis(),
            Some((origin, start_ms, speed)) => {
                let ms = origin.elapsed().as_secs_f64() * 1000.0 * speed;
                start_ms.saturating_add(ms as i64)
            }
        }
    }

    /// Now, in whole Unix seconds.
    pub fn now(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Now, as a UTC time (whole seconds).
    pub fn now_utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(self.now(), 0).unwrap_or_default()
    }
}

/// Whether a rehearsal clock may run with live orders: only against a stand-in on this machine.
/// `base_url` is the Kite REST address (`kite.base_url` or `KITE_BASE_URL`), `ticker_url` the
/// KiteTicker one (`kite.ticker_url` or `KITE_TICKER_URL`); each must name a loopback host
/// (`localhost`, 127.0.0.0/8, `::1`), so a real account is never traded on a fake clock. The
/// error names `--clock-start`, the setting and its value.
pub fn live_rehearsal_allowed(base_url: &str, ticker_url: &str) -> Result<(), String> {
    for (field, value) in [("kite.base_url", base_url), ("kite.ticker_url", ticker_url)] {
        if !is_loopback_url(value) {
            return Err(format!(
                "--clock-start: a rehearsal clock trades live only against a local stand-in of Kite, and {field} is {value:?}, not a loopback address (localhost, 127.0.0.1, ::1); use --mode logging or paper"
            ));
        }
    }
    Ok(())
}

/// True when `url` parses and its host is loopback.
fn is_loopback_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url.trim()) else {
        return false;
    };
    let Some(host) = u.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl Default for LiveClock {
    fn default() -> Self {
        LiveClock::system()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_the_machine_time() {
        let before = chrono::Utc::now().timestamp();
        let now = LiveClock::system().now();
        assert!(now >= before && now <= before + 1);
    }

    #[test]
    fn a_rehearsal_clock_starts_where_asked_and_runs_faster() {
        let c = LiveClock::rehearsal(1_764_560_400, 600.0);
        assert!(c.is_rehearsal());
        let t0 = c.now();
        assert!((1_764_560_400..1_764_560_400 + 60).contains(&t0), "{t0}");
        std::thread::sleep(std::time::Duration::from_millis(100));
        // 0.1 s of wall time at 600× is a minute of engine time.
        assert!(c.now() - t0 >= 59, "{} → {}", t0, c.now());
    }

    #[test]
    fn live_rehearsal_only_against_a_loopback_stand_in() {
        for (base, ticker) in [
            ("http://127.0.0.1:41234", "ws://127.0.0.1:41235"),
            ("http://localhost:8080/", "ws://LOCALHOST:1"),
            ("http://127.5.6.7", "ws://[::1]:9000"),
        ] {
            assert_eq!(
                live_rehearsal_allowed(base, ticker),
                Ok(()),
                "{base} {ticker}"
            );
        }
        for (base, ticker, names) in [
            (
                "https://api.kite.trade",
                "ws://127.0.0.1:1",
                "kite.base_url is \"https://api.kite.trade\"",
            ),
            (
                "http://127.0.0.1:1",
                "wss://ws.kite.trade",
                "kite.ticker_url is \"wss://ws.kite.trade\"",
            ),
            // A name that merely starts like a loopback one, or an address that embeds one.
            (
                "http://127.0.0.1.example.com",
                "ws://127.0.0.1:1",
                "kite.base_url",
            ),
            (
                "http://localhost.evil.net",
                "ws://127.0.0.1:1",
                "kite.base_url",
            ),
            ("http://user@10.0.0.1", "ws://127.0.0.1:1", "kite.base_url"),
            ("http://0.0.0.0:80", "ws://127.0.0.1:1", "kite.base_url"),
            (
                "http://[::ffff:8.8.8.8]",
                "ws://127.0.0.1:1",
                "kite.base_url",
            ),
            (
                "not a url",
                "ws://127.0.0.1:1",
                "kite.base_url is \"not a url\"",
            ),
            ("", "ws://127.0.0.1:1", "kite.base_url is \"\""),
        ] {
            let e = live_rehearsal_allowed(base, ticker).unwrap_err();
            assert!(
                e.starts_with("--clock-start: ")
                    && e.contains(names)
                    && e.contains("not a loopback address"),
                "{base} {ticker}: {e}"
            );
        }
    }
}
