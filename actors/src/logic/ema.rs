//! The exponential moving average, updated in O(1) per value.
//!
//! Seeding follows TA-Lib: the first value is the simple mean of the first `period` inputs,
//! then `ema += alpha × (x − ema)` with `alpha = 2 / (period + 1)`. Nothing is ever recomputed
//! over a window.

/// An incremental EMA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ema {
    period: usize,
    alpha: f64,
    count: usize,
    sum: f64,
    value: f64,
}

impl Ema {
    /// A new EMA of `period` (≥ 1) values.
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Ema {
            period,
            alpha: 2.0 / (period as f64 + 1.0),
            count: 0,
            sum: 0.0,
            value: f64::NAN,
        }
    }

    /// Adds a value; returns the EMA once `period` values have been seen.
    #[inline]
    pub fn update(&mut self, x: f64) -> Option<f64> {
        self.count += 1;
        if self.count < self.period {
            self.sum += x;
            None
        } else if self.count == self.period {
            self.sum += x;
            self.value = self.sum / self.period as f64;
            Some(self.value)
        } else {
            self.value += self.alpha * (x - self.value);
            Some(self.value)
        }
    }

    /// The EMA that `update(x)` would give, without changing state.
    #[inline]
    pub fn peek(&self, x: f64) -> Option<f64> {
        let n = self.count + 1;
        if n < self.period {
            None
        } else if n == self.period {
            Some((self.sum + x) / self.period as f64)
        } else {
            Some(self.value + self.alpha * (x - self.value))
        }
    }

    /// The current EMA, once seeded.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.count >= self.period).then_some(self.value)
    }

    /// Values seen so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The period.
    pub fn period(&self) -> usize {
        self.period
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_with_the_simple_mean_then_smooths() {
        // Period 3, alpha = 0.5. Hand-computed:
        // closes 1,2,3 → seed (1+2+3)/3 = 2; then 4 → 2 + 0.5·(4−2) = 3; 10 → 3 + 0.5·7 = 6.5.
        let mut e = Ema::new(3);
        assert_eq!(e.update(1.0), None);
        assert_eq!(e.update(2.0), None);
        assert_eq!(e.value(), None);
        assert_eq!(e.update(3.0), Some(2.0));
        assert_eq!(e.update(4.0), Some(3.0));
        assert_eq!(e.peek(10.0), Some(6.5));
        assert_eq!(e.value(), Some(3.0), "peek must not change state");
        assert_eq!(e.update(10.0), Some(6.5));
    }

    #[test]
    fn period_9_matches_hand_computation() {
        // alpha = 0.2; seed = mean(1..=9) = 5; next 15 → 5 + 0.2·10 = 7; next 7 → 7.
        let mut e = Ema::new(9);
        for i in 1..=8 {
            assert_eq!(e.update(i as f64), None);
        }
        assert_eq!(e.update(9.0), Some(5.0));
        assert_eq!(e.update(15.0), Some(7.0));
        assert_eq!(e.update(7.0), Some(7.0));
    }

    #[test]
    fn peek_before_seed() {
        let mut e = Ema::new(2);
        assert_eq!(e.peek(4.0), None);
        e.update(2.0);
        assert_eq!(e.peek(4.0), Some(3.0));
    }
}
