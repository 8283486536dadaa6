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
}
