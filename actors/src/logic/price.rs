//! Prices in rupees on the exchange tick.

/// The NSE tick for equity, index and option prices: ₹0.05.
pub const TICK: f64 = 0.05;

/// Rounds `x` to the nearest multiple of `tick` (half away from zero).
///
/// Divides by the tick's inverse rather than multiplying by the tick, so the result is the
/// double nearest the decimal value (₹24 012.35 prints as `24012.35`, not `24012.350000000002`).
pub fn round_to_tick(x: f64, tick: f64) -> f64 {
    let inv = (1.0 / tick).round();
    (x * inv).round() / inv
}

/// Rounds to `digits` decimal places (for ratios and percentages in reports).
pub fn round_dp(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_the_tick_and_prints_short() {
        assert_eq!(round_to_tick(24012.37, TICK), 24012.35);
        assert_eq!(round_to_tick(24012.38, TICK), 24012.4);
        assert_eq!(round_to_tick(24012.375, TICK), 24012.4);
        assert_eq!(format!("{}", round_to_tick(24012.349999, TICK)), "24012.35");
        assert_eq!(round_to_tick(0.024, TICK), 0.0);
        assert_eq!(round_to_tick(0.026, TICK), 0.05);
    }

    #[test]
    fn rounds_decimals() {
        assert_eq!(round_dp(0.123456, 4), 0.1235);
        assert_eq!(round_dp(2.0, 4), 2.0);
    }
}
