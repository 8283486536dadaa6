//! A KiteTicker stream that is connected but delivers no tick for an underlying: the
//! escalation, as a plain state machine over a millisecond clock the caller passes in.
//!
//! During market hours, an underlying whose stream gave no tick for `quiet` is taken as dead:
//! 1. **resubscribe** its token on the same connection;
//! 2. still nothing after another `quiet`: **reconnect** the socket;
//! 3. still nothing after another `quiet`: **fall back** to REST quotes for it (and raise one
//!    alarm: its data now comes from polling), while the stream is **retried** (a reconnect
//!    after `quiet`, then after a wait that doubles up to [`RETRY_MAX_MS`]);
//! 4. a streamed tick at any stage: **recovered**, back to the stream alone.
//!
//! Outside market hours silence is normal: nothing is raised and the count starts again at the
//! open. Ticks cost O(1) and allocate nothing ([`SilenceWatch::on_tick`]); the decisions are
//! taken once per loop turn ([`SilenceWatch::check`]) into a vector the caller reuses.

use std::time::Duration;

/// Longest wait between two reconnects while on REST quotes.
pub const RETRY_MAX_MS: u64 = 60_000;

/// What the driver does for one underlying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Subscribe its token again on the live connection.
    Resubscribe,
    /// Drop the socket and connect again (subscribing everything).
    Reconnect,
    /// Poll its quote over REST from now on, and raise the alarm (once per silence).
    Fallback,
    /// Drop the socket and connect again, while its quotes come over REST.
    Retry,
    /// Its stream ticks again: stop polling it.
    Recovered,
}

/// Where one underlying stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Live,
    Resubscribed {
        at: u64,
    },
    Reconnected {
        at: u64,
    },
    Fallback {
        since: u64,
        retry_at: u64,
        wait: u64,
    },
}

/// Steps taken so far (for logs, `ctl status` and the metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub resubscribes: u64,
    pub reconnects: u64,
    pub fallbacks: u64,
    pub retries: u64,
    pub recoveries: u64,
}

/// The escalation of every underlying of one stream.
#[derive(Debug, Clone)]
pub struct SilenceWatch {
    quiet_ms: u64,
    /// The last streamed tick of each underlying (by index), or when watching began.
    last: Vec<u64>,
    stage: Vec<Stage>,
    pub counts: Counts,
}

impl SilenceWatch {
    /// `n` underlyings (indices `0..n`), silent after `quiet`, watched from `now_ms`.
    pub fn new(n: usize, quiet: Duration, now_ms: u64) -> Self {
        SilenceWatch {
            quiet_ms: (quiet.as_millis() as u64).max(1),
            last: vec![now_ms; n],
            stage: vec![Stage::Live; n],
            counts: Counts::default(),
        }
    }

    /// A streamed tick of underlying `i` at `now_ms` (an index out of range is ignored).
    #[inline]
    pub fn on_tick(&mut self, i: usize, now_ms: u64) {
        if let Some(l) = self.last.get_mut(i) {
            *l = now_ms;
        }
    }

    /// The stage of underlying `i`.
    pub fn stage(&self, i: usize) -> Stage {
        self.stage.get(i).copied().unwrap_or(Stage::Live)
    }

    /// True while underlying `i`'s quotes come over REST.
    pub fn on_rest(&self, i: usize) -> bool {
        matches!(self.stage(i), Stage::Fallback { .. })
    }

    /// True when a stream whose last tick was at `last_ms` is proven live at `now_ms` (ticked
    /// within `quiet`): what it carries need not be polled.
    pub fn live(&self, last_ms: Option<u64>, now_ms: u64) -> bool {
        last_ms.is_some_and(|l| now_ms.saturating_sub(l) < self.quiet_ms)
    }

    /// Decides at `now_ms` (`market_open`: the session is open now); the steps to take go into
    /// `out` (cleared first), each with its underlying's index.
    pub fn check(&mut self, now_ms: u64, market_open: bool, out: &mut Vec<(usize, Step)>) {
        out.clear();
        let q = self.quiet_ms;
        for (i, (last, stage)) in self.last.iter_mut().zip(self.stage.iter_mut()).enumerate() {
            if !market_open {
                // Silence is normal: the count starts again at the open.
                *last = now_ms;
                *stage = Stage::Live;
                continue;
            }
            let since = |t: u64| now_ms.saturating_sub(t);
            let entered = match *stage {
                Stage::Live => None,
                Stage::Resubscribed { at } | Stage::Reconnected { at } => Some(at),
                Stage::Fallback { since, .. } => Some(since),
            };
            if entered.is_some_and(|at| *last > at) {
                *stage = Stage::Live;
                self.counts.recoveries += 1;
                out.push((i, Step::Recovered));
                continue;
            }
            match *stage {
                Stage::Live if since(*last) >= q => {
                    *stage = Stage::Resubscribed { at: now_ms };
                    self.counts.resubscribes += 1;
                    out.push((i, Step::Resubscribe));
                }
                Stage::Resubscribed { at } if since(at) >= q => {
                    *stage = Stage::Reconnected { at: now_ms };
                    self.counts.reconnects += 1;
                    out.push((i, Step::Reconnect));
                }
                Stage::Reconnected { at } if since(at) >= q => {
                    *stage = Stage::Fallback {
                        since: now_ms,
                        retry_at: now_ms + q,
                        wait: q,
                    };
                    self.counts.fallbacks += 1;
                    out.push((i, Step::Fallback));
                }
                Stage::Fallback {
                    since: s,
                    retry_at,
                    wait,
                } if now_ms >= retry_at => {
                    let wait = (wait * 2).min(RETRY_MAX_MS.max(q));
                    *stage = Stage::Fallback {
                        since: s,
                        retry_at: now_ms + wait,
                        wait,
                    };
                    self.counts.retries += 1;
                    out.push((i, Step::Retry));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake clock: the watch checked every 250 ms from `from` to `to` (ms), steps collected
    /// with their time.
    fn run(
        w: &mut SilenceWatch,
        from: u64,
        to: u64,
        open: bool,
        ticks: &[(usize, u64)],
    ) -> Vec<(u64, usize, Step)> {
        let mut got = Vec::new();
        let mut out = Vec::new();
        let mut t = from;
        while t <= to {
            for (i, at) in ticks {
                if *at > t.saturating_sub(250) && *at <= t {
                    w.on_tick(*i, *at);
                }
            }
            w.check(t, open, &mut out);
            got.extend(out.iter().map(|(i, s)| (t, *i, *s)));
            t += 250;
        }
        got
    }

    #[test]
    fn silence_escalates_resubscribe_reconnect_fallback_then_retries() {
        let mut w = SilenceWatch::new(2, Duration::from_secs(2), 0);
        // Underlying 1 ticks every second throughout; underlying 0 never.
        let ticks: Vec<(usize, u64)> = (1..=40).map(|k| (1, k * 1000)).collect();
        let got = run(&mut w, 0, 20_000, true, &ticks);
        assert!(got.iter().all(|(_, i, _)| *i == 0), "{got:?}");
        let steps: Vec<(u64, Step)> = got.iter().map(|(t, _, s)| (*t, *s)).collect();
        assert_eq!(
            steps,
            vec![
                (2000, Step::Resubscribe),
                (4000, Step::Reconnect),
                (6000, Step::Fallback),
                (8000, Step::Retry),
                (12_000, Step::Retry),
                (20_000, Step::Retry),
            ]
        );
        assert!(w.on_rest(0) && !w.on_rest(1));
        assert_eq!(
            w.counts,
            Counts {
                resubscribes: 1,
                reconnects: 1,
                fallbacks: 1,
                retries: 3,
                recoveries: 0
            }
        );
    }

    #[test]
    fn a_tick_at_any_stage_recovers() {
        for (tick_at, stage_before) in [
            (2100, "resubscribed"),
            (4100, "reconnected"),
            (9000, "fallback"),
        ] {
            let mut w = SilenceWatch::new(1, Duration::from_secs(2), 0);
            let got = run(&mut w, 0, tick_at + 250, true, &[(0, tick_at)]);
            let last = got.last().unwrap();
            assert_eq!(last.2, Step::Recovered, "{stage_before}: {got:?}");
            assert_eq!(w.stage(0), Stage::Live);
            assert!(!w.on_rest(0));
            // And the next silence starts over from a resubscribe.
            let got = run(&mut w, tick_at + 500, tick_at + 2500, true, &[]);
            assert_eq!(
                got,
                vec![(tick_at + 2000, 0, Step::Resubscribe)],
                "{stage_before}"
            );
        }
    }

    #[test]
    fn outside_market_hours_silence_raises_nothing_and_counts_from_the_open() {
        let mut w = SilenceWatch::new(1, Duration::from_secs(2), 0);
        assert!(run(&mut w, 0, 60_000, false, &[]).is_empty());
        // A fallback in progress when the market closes is dropped too.
        let mut w = SilenceWatch::new(1, Duration::from_secs(1), 0);
        run(&mut w, 0, 5_000, true, &[]);
        assert!(w.on_rest(0));
        run(&mut w, 5_250, 6_000, false, &[]);
        assert!(!w.on_rest(0));
        // The open: a full `quiet` before the first step.
        let got = run(&mut w, 6_250, 7_250, true, &[]);
        assert_eq!(got, vec![(7_000, 0, Step::Resubscribe)]);
    }

    #[test]
    fn a_stream_is_live_while_it_ticked_within_quiet() {
        let w = SilenceWatch::new(0, Duration::from_secs(2), 0);
        assert!(!w.live(None, 10_000));
        assert!(w.live(Some(9_000), 10_000));
        assert!(!w.live(Some(8_000), 10_000));
        // An index out of range is ignored, never a panic.
        let mut w = SilenceWatch::new(1, Duration::from_secs(2), 0);
        w.on_tick(7, 5);
        assert_eq!(w.stage(7), Stage::Live);
    }
}
