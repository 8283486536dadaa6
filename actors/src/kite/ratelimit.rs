//! Client-side rate limits, so Kite never has to answer 429.
//!
//! One token bucket per endpoint class ([`EndpointClass`]): quotes 1/s, historical 3/s,
//! orders 10/s, everything else 10/s (an aggregate). Each per-second bucket holds a single
//! token, so requests are evenly spaced and no one-second window ever sees more than the
//! limit. Orders are further capped at 400 per minute and 5000 per day, counted over sliding
//! windows (the day window is a rolling 24 h, stricter than Kite's calendar day). When the
//! day cap is used up, [`Limiter::acquire`] fails with [`KiteError::DailyCapExhausted`]
//! instead of waiting for hours.
//!
//! The bookkeeping ([`RateLimiter`]) is pure: it takes "now" as a [`Duration`] since an
//! arbitrary origin, so it is tested with an injected clock. [`Limiter`] wraps it with the
//! real clock and `tokio::time::sleep`.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::KiteError;

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Which of Kite's rate limits a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndpointClass {
    /// `/quote`, `/quote/ltp`, `/quote/ohlc`.
    Quote,
    /// `/instruments/historical/…`.
    Historical,
    /// Placing, modifying and cancelling orders.
    Order,
    /// Every other endpoint, counted together.
    Other,
}

/// The configurable limits. Missing fields take Kite's documented defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Quote requests per second (default 1).
    pub quote_per_sec: f64,
    /// Historical-candle requests per second (default 3).
    pub historical_per_sec: f64,
    /// Order requests per second (default 10).
    pub order_per_sec: f64,
    /// Order requests per sliding minute (default 400).
    pub order_per_minute: u32,
    /// Order requests per rolling 24 hours (default 5000).
    pub order_per_day: u32,
    /// All other requests per second, together (default 10).
    pub other_per_sec: f64,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            quote_per_sec: 1.0,
            historical_per_sec: 3.0,
            order_per_sec: 10.0,
            order_per_minute: 400,
            order_per_day: 5000,
            other_per_sec: 10.0,
        }
    }
}

impl RateLimits {
    /// Reject zero, negative or non-finite limits.
    pub fn validate(&self) -> Result<(), KiteError> {
        let rates = [
            ("quote_per_sec", self.quote_per_sec),
            ("historical_per_sec", self.historical_per_sec),
            ("order_per_sec", self.order_per_sec),
            ("other_per_sec", self.other_per_sec),
        ];
        for (name, rate) in rates {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(KiteError::Config(format!(
                    "rate limit {name} must be a positive number, got {rate}"
                )));
            }
        }
        if self.order_per_minute == 0 || self.order_per_day == 0 {
            return Err(KiteError::Config(
                "rate limits order_per_minute and order_per_day must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A token bucket refilled continuously; time is a [`Duration`] since an arbitrary origin.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_sec: f64,
    last: Duration,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `per_sec`.
    pub fn new(capacity: f64, per_sec: f64, now: Duration) -> TokenBucket {
        TokenBucket {
            capacity,
            tokens: capacity,
            per_sec,
            last: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        if now > self.last {
            let gained = (now - self.last).as_secs_f64() * self.per_sec;
            self.tokens = (self.tokens + gained).min(self.capacity);
            self.last = now;
        }
    }

    /// How long until a token is available (zero if one is available now).
    pub fn wait_time(&mut self, now: Duration) -> Duration {
        self.refill(now);
        // A hair of tolerance so float rounding never asks for a nanosecond sleep.
        let missing = 1.0 - self.tokens;
        if missing <= 1e-9 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.per_sec)
        }
    }

    /// Reserve the next token now, even one not yet refilled (the bucket goes into debt), and
    /// say how long to wait for it. Callers are served in the order they reserve: a steady
    /// caller cannot starve an occasional one the way retrying after `wait_time` can.
    pub fn reserve(&mut self, now: Duration) -> Duration {
        let wait = self.wait_time(now);
        self.tokens -= 1.0;
        wait
    }

    /// Take a token (call only after `wait_time` returned zero).
    pub fn take(&mut self, now: Duration) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

/// At most `limit` events in any sliding window of `window`.
#[derive(Debug, Clone)]
pub struct WindowCap {
    limit: u32,
    window: Duration,
    events: VecDeque<Duration>,
}

impl WindowCap {
    /// An empty window.
    pub fn new(limit: u32, window: Duration) -> WindowCap {
        WindowCap {
            limit,
            window,
            events: VecDeque::new(),
        }
    }

    /// How long until one more event fits (zero if it fits now).
    pub fn wait_time(&mut self, now: Duration) -> Duration {
        while let Some(&oldest) = self.events.front() {
            if oldest + self.window <= now {
                self.events.pop_front();
            } else {
                break;
            }
        }
        if self.events.len() < self.limit as usize {
            return Duration::ZERO;
        }
        match self.events.front() {
            Some(&oldest) => (oldest + self.window).saturating_sub(now),
            None => Duration::ZERO,
        }
    }

    /// Record an event.
    pub fn record(&mut self, now: Duration) {
        self.events.push_back(now);
    }
}

/// The pure limiter state for all classes.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    quote: TokenBucket,
    historical: TokenBucket,
    order: TokenBucket,
    order_minute: WindowCap,
    order_day: WindowCap,
    other: TokenBucket,
    day_limit: u32,
}

impl RateLimiter {
    /// Buckets for `limits`, all full at `now`.
    pub fn new(limits: &RateLimits, now: Duration) -> Result<RateLimiter, KiteError> {
        limits.validate()?;
        Ok(RateLimiter {
            quote: TokenBucket::new(1.0, limits.quote_per_sec, now),
            historical: TokenBucket::new(1.0, limits.historical_per_sec, now),
            order: TokenBucket::new(1.0, limits.order_per_sec, now),
            order_minute: WindowCap::new(limits.order_per_minute, MINUTE),
            order_day: WindowCap::new(limits.order_per_day, DAY),
            other: TokenBucket::new(1.0, limits.other_per_sec, now),
            day_limit: limits.order_per_day,
        })
    }

    /// Reserve the next token of a read class (quote, historical, other) and say how long to
    /// wait for it (see [`TokenBucket::reserve`]). Orders go through [`Self::try_acquire`].
    pub fn reserve(&mut self, class: EndpointClass, now: Duration) -> Duration {
        match class {
            EndpointClass::Quote => self.quote.reserve(now),
            EndpointClass::Historical => self.historical.reserve(now),
            EndpointClass::Other | EndpointClass::Order => self.other.reserve(now),
        }
    }

    /// Take a token for `class` if one is free (`Ok(None)`), else say how long to wait
    /// (`Ok(Some(wait))`, nothing taken). Fails when the order day cap is used up.
    pub fn try_acquire(
        &mut self,
        class: EndpointClass,
        now: Duration,
    ) -> Result<Option<Duration>, KiteError> {
        let bucket = match class {
            EndpointClass::Quote => &mut self.quote,
            EndpointClass::Historical => &mut self.historical,
            EndpointClass::Other => &mut self.other,
            EndpointClass::Order => {
                let day_wait = self.order_day.wait_time(now);
                if !day_wait.is_zero() {
                    return Err(KiteError::DailyCapExhausted {
                        limit: self.day_limit,
                        retry_after_secs: day_wait.as_secs().max(1),
                    });
                }
                let wait = self
                    .order
                    .wait_time(now)
                    .max(self.order_minute.wait_time(now));
                if !wait.is_zero() {
                    return Ok(Some(wait));
                }
                self.order.take(now);
                self.order_minute.record(now);
                self.order_day.record(now);
                return Ok(None);
            }
        };
        let wait = bucket.wait_time(now);
        if wait.is_zero() {
            bucket.take(now);
            Ok(None)
        } else {
            Ok(Some(wait))
        }
    }
}

/// The shared, clocked limiter used by the client.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<RateLimiter>,
    origin: Instant,
}

impl Limiter {
    /// A limiter for `limits`, starting with every bucket full.
    pub fn new(limits: &RateLimits) -> Result<Limiter, KiteError> {
        Ok(Limiter {
            state: Mutex::new(RateLimiter::new(limits, Duration::ZERO)?),
            origin: Instant::now(),
        })
    }

    /// Wait until `class` has a token and take it; returns how long it waited. Fails only when
    /// the order day cap is used up. Reads reserve their slot first and then sleep until it
    /// (first come, first served); orders, with their per-minute and per-day windows, retry
    /// after the wait.
    pub async fn acquire(&self, class: EndpointClass) -> Result<Duration, KiteError> {
        if class != EndpointClass::Order {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.reserve(class, self.origin.elapsed())
            };
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            return Ok(wait);
        }
        let mut waited = Duration::ZERO;
        loop {
            let wait = {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.try_acquire(class, self.origin.elapsed())?
            };
            match wait {
                None => return Ok(waited),
                Some(d) => {
                    tokio::time::sleep(d).await;
                    waited += d;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn about(wait: Option<Duration>, expected: Duration) -> bool {
        wait.is_some_and(|w| w.abs_diff(expected) < Duration::from_micros(1))
    }

    #[test]
    fn defaults_and_config_parsing() {
        let d = RateLimits::default();
        assert_eq!(
            (
                d.quote_per_sec,
                d.historical_per_sec,
                d.order_per_sec,
                d.other_per_sec
            ),
            (1.0, 3.0, 10.0, 10.0)
        );
        assert_eq!((d.order_per_minute, d.order_per_day), (400, 5000));
        let partial: RateLimits = serde_json::from_str(r#"{"quote_per_sec": 2}"#).unwrap();
        assert_eq!(partial.quote_per_sec, 2.0);
        assert_eq!(partial.order_per_day, 5000);
        assert!(serde_json::from_str::<RateLimits>(r#"{"quotes": 2}"#).is_err());
        let bad = RateLimits {
            other_per_sec: 0.0,
            ..RateLimits::default()
        };
        assert!(matches!(bad.validate(), Err(KiteError::Config(_))));
    }

    #[test]
    fn quote_bucket_spaces_requests_one_second_apart() {
        let mut rl = RateLimiter::new(&RateLimits::default(), ms(0)).unwrap();
        assert_eq!(rl.try_acquire(EndpointClass::Quote, ms(0)).unwrap(), None);
        let wait = rl.try_acquire(EndpointClass::Quote, ms(0)).unwrap();
        assert!(about(wait, ms(1000)), "{wait:?}");
        let wait = rl.try_acquire(EndpointClass::Quote, ms(400)).unwrap();
        assert!(about(wait, ms(600)), "{wait:?}");
        assert_eq!(
            rl.try_acquire(EndpointClass::Quote, ms(1000)).unwrap(),
            None
        );
        // Classes are independent.
        assert_eq!(
            rl.try_acquire(EndpointClass::Other, ms(1000)).unwrap(),
            None
        );
        assert_eq!(
            rl.try_acquire(EndpointClass::Historical, ms(1000)).unwrap(),
            None
        );
    }

    #[test]
    fn reservations_are_served_in_order_so_a_steady_poller_cannot_starve_others() {
        let mut rl = RateLimiter::new(&RateLimits::default(), ms(0)).unwrap();
        // The poller takes the token at 0; the chain lookup arrives at 100 ms and is next in
        // line (900 ms); the poller's next call at 1000 ms queues behind it (1900 ms).
        assert_eq!(rl.reserve(EndpointClass::Quote, ms(0)), ms(0));
        let chain = rl.reserve(EndpointClass::Quote, ms(100));
        assert!(about(Some(chain), ms(900)), "{chain:?}");
        let poll = rl.reserve(EndpointClass::Quote, ms(1000));
        assert!(about(Some(poll), ms(1000)), "{poll:?}");
        // Still one a second on average, and other classes are untouched.
        assert_eq!(rl.reserve(EndpointClass::Other, ms(1000)), ms(0));
        let late = rl.reserve(EndpointClass::Quote, ms(5000));
        assert_eq!(late, ms(0), "idle time repays the debt");
    }

    #[test]
    fn historical_allows_three_per_second() {
        let mut rl = RateLimiter::new(&RateLimits::default(), ms(0)).unwrap();
        let mut granted = 0;
        let mut t = ms(0);
        while t < ms(1000) {
            if rl
                .try_acquire(EndpointClass::Historical, t)
                .unwrap()
                .is_none()
            {
                granted += 1;
            }
            t += ms(10);
        }
        assert_eq!(granted, 3);
    }

    #[test]
    fn idle_time_does_not_bank_a_burst() {
        let mut rl = RateLimiter::new(&RateLimits::default(), ms(0)).unwrap();
        assert_eq!(
            rl.try_acquire(EndpointClass::Other, ms(60_000)).unwrap(),
            None
        );
        let wait = rl.try_acquire(EndpointClass::Other, ms(60_000)).unwrap();
        assert!(about(wait, ms(100)), "{wait:?}");
    }

    #[test]
    fn order_minute_cap_waits_for_the_window() {
        let limits = RateLimits {
            order_per_sec: 1000.0,
            order_per_minute: 3,
            ..RateLimits::default()
        };
        let mut rl = RateLimiter::new(&limits, ms(0)).unwrap();
        for t in [0, 10, 20] {
            assert_eq!(rl.try_acquire(EndpointClass::Order, ms(t)).unwrap(), None);
        }
        assert_eq!(
            rl.try_acquire(EndpointClass::Order, ms(30)).unwrap(),
            Some(ms(59_970))
        );
        assert_eq!(
            rl.try_acquire(EndpointClass::Order, ms(60_000)).unwrap(),
            None
        );
    }

    #[test]
    fn order_day_cap_is_an_error_not_a_wait() {
        let limits = RateLimits {
            order_per_sec: 1000.0,
            order_per_minute: 1000,
            order_per_day: 2,
            ..RateLimits::default()
        };
        let mut rl = RateLimiter::new(&limits, ms(0)).unwrap();
        assert_eq!(rl.try_acquire(EndpointClass::Order, ms(0)).unwrap(), None);
        assert_eq!(rl.try_acquire(EndpointClass::Order, ms(5)).unwrap(), None);
        let e = rl.try_acquire(EndpointClass::Order, ms(10)).unwrap_err();
        assert_eq!(
            e,
            KiteError::DailyCapExhausted {
                limit: 2,
                retry_after_secs: 86_399
            }
        );
        // The rolling window frees the first slot a day later.
        let later = DAY + ms(1);
        assert_eq!(rl.try_acquire(EndpointClass::Order, later).unwrap(), None);
    }

    #[test]
    fn a_refused_order_consumes_nothing() {
        let limits = RateLimits {
            order_per_sec: 1.0,
            order_per_minute: 2,
            ..RateLimits::default()
        };
        let mut rl = RateLimiter::new(&limits, ms(0)).unwrap();
        assert_eq!(rl.try_acquire(EndpointClass::Order, ms(0)).unwrap(), None);
        for t in [100, 200, 300] {
            assert!(rl
                .try_acquire(EndpointClass::Order, ms(t))
                .unwrap()
                .is_some());
        }
        assert_eq!(
            rl.try_acquire(EndpointClass::Order, ms(1000)).unwrap(),
            None
        );
    }

    #[actix_rt::test]
    async fn acquire_sleeps_until_a_token_is_free() {
        let limits = RateLimits {
            quote_per_sec: 200.0,
            ..RateLimits::default()
        };
        let limiter = Limiter::new(&limits).unwrap();
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire(EndpointClass::Quote).await.unwrap();
        }
        // Two waits of 5 ms each.
        assert!(start.elapsed() >= ms(9), "{:?}", start.elapsed());
    }
}
