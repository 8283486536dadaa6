//! The Notifier's bookkeeping, as plain state machines over a millisecond clock the caller
//! passes in: the per-kind rate limit, the retry schedule, restart storms, and the watches
//! that turn a lasting condition (a silent feed, a growing outbox) into one alarm.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use messages::AlarmKind;

/// At most `max` alarms of one kind per window; the others are counted, and the count is
/// reported with the next alarm of that kind let through, or on its own once the window ends
/// ([`RateLimiter::due`]).
#[derive(Debug)]
pub struct RateLimiter {
    max: u32,
    window_ms: u64,
    kinds: HashMap<AlarmKind, Window>,
}

#[derive(Debug, Default)]
struct Window {
    start_ms: u64,
    sent: u32,
    suppressed: u32,
}

impl RateLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max: max.max(1),
            window_ms: window.as_millis() as u64,
            kinds: HashMap::new(),
        }
    }

    /// An alarm of `kind` at `now_ms`: `Some(k)` to post it (with `k` suppressed before it),
    /// `None` when it is suppressed.
    pub fn admit(&mut self, kind: AlarmKind, now_ms: u64) -> Option<u32> {
        let w = self.kinds.entry(kind).or_insert(Window {
            start_ms: now_ms,
            ..Window::default()
        });
        if now_ms.saturating_sub(w.start_ms) >= self.window_ms {
            w.start_ms = now_ms;
            w.sent = 0;
        }
        if w.sent < self.max {
            w.sent += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed = w.suppressed.saturating_add(1);
            None
        }
    }

    /// Kinds whose window has ended with alarms suppressed: each with its count (taken: it is
    /// reported once).
    pub fn due(&mut self, now_ms: u64) -> Vec<(AlarmKind, u32)> {
        let mut out: Vec<(AlarmKind, u32)> = self
            .kinds
            .iter_mut()
            .filter(|(_, w)| {
                w.suppressed > 0 && now_ms.saturating_sub(w.start_ms) >= self.window_ms
            })
            .map(|(k, w)| (*k, std::mem::take(&mut w.suppressed)))
            .collect();
        out.sort();
        out
    }
}

/// The wait before retry `n` (1 = the first retry): `initial`, doubled each time, at most `max`.
pub fn backoff(n: u32, initial: Duration, max: Duration) -> Duration {
    initial
        .saturating_mul(1u32 << n.saturating_sub(1).min(20))
        .min(max)
}

/// What to do after an attempt that got HTTP `status` (`None`: no answer at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Done,
    Retry,
    /// The request itself is wrong (4xx other than 408/429): another attempt would fail too.
    GiveUp,
}

pub fn after_attempt(status: Option<u16>) -> AfterAttempt {
    match status {
        None => AfterAttempt::Retry,
        Some(s) if (200..300).contains(&s) => AfterAttempt::Done,
        Some(408 | 429) => AfterAttempt::Retry,
        Some(s) if s >= 500 => AfterAttempt::Retry,
        Some(_) => AfterAttempt::GiveUp,
    }
}

/// Restart storms: more than `limit` restarts of one actor within `window` is one alarm
/// (then none for that actor until a full window has passed).
#[derive(Debug)]
pub struct RestartStorm {
    limit: u32,
    window_ms: u64,
    actors: HashMap<String, Restarts>,
}

#[derive(Debug, Default)]
struct Restarts {
    /// Restarts counted so far (the actor's counter).
    seen: u64,
    /// When recent restarts were noticed, and how many each time.
    at: VecDeque<(u64, u64)>,
    alarmed_ms: Option<u64>,
}

impl RestartStorm {
    pub fn new(limit: u32, window: Duration) -> Self {
        RestartStorm {
            limit,
            window_ms: window.as_millis() as u64,
            actors: HashMap::new(),
        }
    }

    /// `actor` has restarted `total` times since start (as of `now_ms`): `Some(n)` when this is
    /// a storm (`n` restarts within the window).
    pub fn observe(&mut self, actor: &str, total: u64, now_ms: u64) -> Option<u32> {
        let r = self.actors.entry(actor.to_string()).or_default();
        let new = total.saturating_sub(r.seen);
        r.seen = r.seen.max(total);
        if new > 0 {
            r.at.push_back((now_ms, new));
        }
        while r
            .at
            .front()
            .is_some_and(|(t, _)| now_ms.saturating_sub(*t) >= self.window_ms)
        {
            r.at.pop_front();
        }
        let in_window: u64 = r.at.iter().map(|(_, n)| n).sum();
        let storm = in_window > u64::from(self.limit);
        let quiet = r
            .alarmed_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= self.window_ms);
        if storm && quiet {
            r.alarmed_ms = Some(now_ms);
            Some(in_window.min(u64::from(u32::MAX)) as u32)
        } else {
            None
        }
    }
}

/// A condition that is an alarm once it has lasted (`FeedSilent`): raised once when it first
/// holds past `after`, armed again when it clears.
#[derive(Debug)]
pub struct Lasting {
    after_ms: u64,
    since_ms: Option<u64>,
    raised: bool,
}

impl Lasting {
    pub fn new(after: Duration) -> Self {
        Lasting {
            after_ms: after.as_millis() as u64,
            since_ms: None,
            raised: false,
        }
    }

    /// The condition holds (`true`) or not at `now_ms`: true when the alarm is due now.
    pub fn observe(&mut self, holds: bool, now_ms: u64) -> bool {
        if !holds {
            self.since_ms = None;
            self.raised = false;
            return false;
        }
        let since = *self.since_ms.get_or_insert(now_ms);
        if !self.raised && now_ms.saturating_sub(since) >= self.after_ms {
            self.raised = true;
            return true;
        }
        false
    }
}

/// The store is down and its outbox grows: an alarm when the outbox has grown in `checks`
/// consecutive observations while disconnected; armed again once reconnected.
#[derive(Debug)]
pub struct OutboxWatch {
    checks: u32,
    last: Option<u64>,
    growing: u32,
    raised: bool,
}

impl OutboxWatch {
    pub fn new(checks: u32) -> Self {
        OutboxWatch {
            checks: checks.max(1),
            last: None,
            growing: 0,
            raised: false,
        }
    }

    /// One look at the store: true when the alarm is due now.
    pub fn observe(&mut self, connected: bool, pending: u64) -> bool {
        if connected {
            *self = OutboxWatch::new(self.checks);
            return false;
        }
        if self.last.is_some_and(|l| pending > l) {
            self.growing += 1;
        } else if self.last.is_some() {
            self.growing = 0;
        }
        self.last = Some(pending);
        if !self.raised && self.growing >= self.checks {
            self.raised = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn rate_limit_per_kind_with_the_suppressed_count() {
        let mut r = RateLimiter::new(2, Duration::from_secs(60));
        let k = AlarmKind::ExitNotFilled;
        assert_eq!(r.admit(k, 0), Some(0));
        assert_eq!(r.admit(k, 1), Some(0));
        assert_eq!(r.admit(k, 2), None);
        assert_eq!(r.admit(k, 3), None);
        // Another kind has its own budget.
        assert_eq!(r.admit(AlarmKind::FeedSilent, 4), Some(0));
        assert!(r.due(MIN - 1).is_empty(), "the window has not ended");
        // The next one let through carries the count ...
        assert_eq!(r.admit(k, MIN), Some(2));
        assert_eq!(r.admit(k, MIN + 1), Some(0));
        assert_eq!(r.admit(k, MIN + 2), None);
        // ... or it is reported on its own once the window ends, once.
        assert_eq!(r.due(2 * MIN), vec![(k, 1)]);
        assert!(r.due(2 * MIN).is_empty());
        assert_eq!(r.admit(k, 2 * MIN), Some(0));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (i, m) = (Duration::from_millis(100), Duration::from_millis(500));
        let got: Vec<u128> = (1..=5).map(|n| backoff(n, i, m).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 500, 500]);
        assert_eq!(backoff(u32::MAX, i, Duration::MAX), i * (1 << 20));
    }

    #[test]
    fn which_answers_are_retried() {
        assert_eq!(after_attempt(Some(200)), AfterAttempt::Done);
        assert_eq!(after_attempt(Some(204)), AfterAttempt::Done);
        assert_eq!(after_attempt(None), AfterAttempt::Retry);
        assert_eq!(after_attempt(Some(500)), AfterAttempt::Retry);
        assert_eq!(after_attempt(Some(503)), AfterAttempt::Retry);
        assert_eq!(after_attempt(Some(429)), AfterAttempt::Retry);
        assert_eq!(after_attempt(Some(400)), AfterAttempt::GiveUp);
        assert_eq!(after_attempt(Some(401)), AfterAttempt::GiveUp);
        assert_eq!(after_attempt(Some(404)), AfterAttempt::GiveUp);
    }

    #[test]
    fn restart_storm_is_more_than_n_in_the_window_once() {
        let mut s = RestartStorm::new(3, Duration::from_secs(600));
        let w = 600_000;
        assert_eq!(s.observe("db_writer", 0, 0), None);
        assert_eq!(s.observe("db_writer", 1, 1000), None);
        assert_eq!(
            s.observe("db_writer", 3, 2000),
            None,
            "3 is not more than 3"
        );
        assert_eq!(s.observe("db_writer", 4, 3000), Some(4));
        // Still storming: not again within the window.
        assert_eq!(s.observe("db_writer", 9, 4000), None);
        // Another actor is counted apart.
        assert_eq!(s.observe("broker", 2, 4000), None);
        // Restarts spread wider than the window are no storm.
        let mut s = RestartStorm::new(2, Duration::from_secs(600));
        for (i, t) in [0, w / 2, w + 1, w * 2].into_iter().enumerate() {
            assert_eq!(s.observe("x", i as u64 + 1, t), None, "restart {i}");
        }
        // A burst of many at once is one storm.
        assert_eq!(s.observe("x", 100, w * 2 + 1), Some(97));
    }

    #[test]
    fn lasting_condition_alarms_once_per_episode() {
        let mut l = Lasting::new(Duration::from_secs(60));
        assert!(!l.observe(true, 0));
        assert!(!l.observe(true, 59_999));
        assert!(l.observe(true, 60_000));
        assert!(!l.observe(true, 120_000));
        assert!(!l.observe(false, 130_000));
        assert!(!l.observe(true, 140_000));
        assert!(l.observe(true, 200_000));
    }

    #[test]
    fn outbox_alarm_when_it_grows_while_disconnected() {
        let mut o = OutboxWatch::new(2);
        assert!(!o.observe(false, 10));
        assert!(!o.observe(false, 20));
        assert!(!o.observe(false, 20), "not growing resets the count");
        assert!(!o.observe(false, 30));
        assert!(o.observe(false, 40));
        assert!(!o.observe(false, 50), "once");
        assert!(!o.observe(true, 0));
        assert!(!o.observe(false, 1));
        assert!(!o.observe(false, 2));
        assert!(o.observe(false, 3), "armed again after reconnecting");
    }
}
