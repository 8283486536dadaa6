use super::*;
use OptionType::{CE, PE};

const KINDS: [OptionType; 2] = [CE, PE];

fn input(spot: f64, strike: f64, t: f64, rate: f64, q: f64, vol: f64) -> BsInput {
    BsInput {
        spot,
        strike,
        t_years: t,
        rate,
        div_yield: q,
        vol,
    }
}

fn close(a: f64, b: f64, abs: f64, rel: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

#[test]
fn norm_cdf_known_values() {
    assert_eq!(norm_cdf(0.0), 0.5);
    assert!((norm_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 2e-16);
    assert!((norm_cdf(-1.959_963_984_540_054) - 0.025).abs() < 1e-17);
    // Lower tail keeps relative precision: N(−10) = 7.619853024160527e-24.
    assert!((norm_cdf(-10.0) / 7.619_853_024_160_527e-24 - 1.0).abs() < 1e-14);
    assert!((norm_pdf(0.0) - FRAC_1_SQRT_2PI).abs() < 1e-17);
    for i in 0..200 {
        let p = (i as f64 + 0.5) / 200.0;
        let tail = p.min(1.0 - p);
        assert!(
            (norm_cdf(inverse_norm_cdf(p)) - p).abs() < 1e-8 * tail,
            "{p}"
        );
    }
    let p = 1e-200;
    assert!((norm_cdf(inverse_norm_cdf(p)) / p - 1.0).abs() < 1e-6);
    for p in [1e-300, 1e-20, 0.01, 0.02425, 0.1, 0.5, 0.9] {
        let (a, b) = (inverse_norm_cdf(p), inverse_norm_cdf_from_ln(p.ln()));
        assert!((a - b).abs() <= 1e-14 * a.abs().max(1.0), "{p}: {a} vs {b}");
    }
}

#[test]
fn cody_functions_match_references_and_libm() {
    // erfcx(u) = e^{u²}·erfc(u) and erf(u), from 30-digit arithmetic rounded to doubles.
    for (u, want) in [
        (0.5, 0.6156903441929259),
        (1.0, 0.427583576155807),
        (2.5, 0.2108063640611436),
        (3.9, 0.14031418160068973),
        (4.1, 0.13383411641865198),
        (7.0, 0.07980005432915294),
        (30.0, 0.01879588886141675),
        (1e5, 5.6418958351954685e-06),
    ] {
        let got = erfcx_tail(u);
        assert!(
            (got / want - 1.0).abs() < 5e-16,
            "erfcx({u}) = {got}, want {want}"
        );
    }
    for (u, want) in [
        (0.1, 0.1124629160182849),
        (-0.3, -0.32862675945912745),
        (0.46, 0.4846553900016797),
    ] {
        let got = erf_small(u);
        assert!(
            (got / want - 1.0).abs() < 5e-16,
            "erf({u}) = {got}, want {want}"
        );
    }
    // The normal distribution used by the pricer agrees with 0.5·erfc(−d/√2) (libm) to a
    // few ulps relative, plus the rounding of the exponent −d²/2 in the tails (down to
    // N(−37) ≈ 6e-300, above the subnormal range).
    for k in -3700..=3700 {
        let d = k as f64 * 0.01;
        let g = (-0.5 * d * d).exp();
        let fast = half_erfc(-d * FRAC_1_SQRT_2, g, 1.0);
        let slow = norm_cdf(d);
        let tol = (8.0 + d * d) * f64::EPSILON * slow;
        assert!((fast - slow).abs() <= tol, "N({d}): {fast:e} vs {slow:e}");
    }
}

#[test]
fn textbook_values() {
    let i = input(100.0, 100.0, 1.0, 0.05, 0.0, 0.2);
    assert!((price(CE, &i) - 10.450_583_572_185_565).abs() < 1e-9);
    assert!((price(PE, &i) - 5.573_526_022_256_971).abs() < 1e-9);
    assert_eq!(greeks(CE, &i).price, price(CE, &i));
    assert_eq!(greeks(PE, &i).price, price(PE, &i));
    // Hull, Options, Futures and Other Derivatives: S=42, K=40, r=10 %, σ=20 %, T=0.5 →
    // c = 4.76, p = 0.81 (digits below from 40-digit arithmetic).
    let h = input(42.0, 40.0, 0.5, 0.1, 0.0, 0.2);
    assert!((price(CE, &h) - 4.759_422_392_871_533).abs() < 1e-9);
    assert!((price(PE, &h) - 0.808_599_372_900_093_7).abs() < 1e-9);
    // Haug, The Complete Guide to Option Pricing Formulas (generalised BSM with yield):
    // S=100, K=95, T=0.5, r=10 %, q=5 %, σ=20 % → put 2.4648.
    let g = input(100.0, 95.0, 0.5, 0.1, 0.05, 0.2);
    assert!((price(PE, &g) - 2.464_787_646_755_821).abs() < 1e-9);
    assert!((price(CE, &g) - 9.628_983_522_021_257).abs() < 1e-9);
    // Textbook greeks of the first case: call delta N(d1) with d1 = 0.35.
    let gc = greeks(CE, &i);
    assert!((gc.delta - norm_cdf(0.35)).abs() < 1e-15);
    assert!((gc.delta - 0.636_830_651_175_619).abs() < 1e-12);
    assert!((gc.gamma - norm_pdf(0.35) / (100.0 * 0.2)).abs() < 1e-15);
    assert!((gc.vega - 0.375_240_346_916_938_4).abs() < 1e-12);
    assert_eq!(years(365.0), 1.0);
    assert_eq!(years(7.0), 7.0 / 365.0);
}

#[test]
fn put_call_parity_on_a_grid() {
    let mut n = 0;
    for &spot in &[50.0, 100.0, 24_000.0] {
        for &m in &[0.5, 0.8, 0.95, 1.0, 1.05, 1.25, 2.0] {
            for &t in &[years(1.0 / 24.0), years(1.0), years(7.0), 0.25, 1.0, 2.0] {
                for &vol in &[0.01, 0.1, 0.3, 1.0, 3.0] {
                    for &(r, q) in &[(0.0, 0.0), (0.065, 0.0), (0.05, 0.02), (-0.01, 0.03)] {
                        let i = input(spot, spot * m, t, r, q, vol);
                        let c = price(CE, &i);
                        let p = price(PE, &i);
                        let fwd = spot * (-q * t).exp() - spot * m * (-r * t).exp();
                        // Relative to the size of the terms (the spot), not of a possibly
                        // vanishing difference.
                        assert!(
                            close(c - p, fwd, 0.0, 1e-10 * spot / fwd.abs().max(1e-300)),
                            "{i:?}: c {c} p {p} c−p {} vs {fwd}",
                            c - p
                        );
                        assert!((c - p - fwd).abs() <= 1e-10 * spot, "{i:?}");
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(n, 3 * 7 * 6 * 5 * 4);
}

/// Central finite differences of `price` for every greek.
fn finite_difference_greeks(kind: OptionType, i: &BsInput) -> Greeks {
    let p = |j: &BsInput| price(kind, j);
    // Steps scaled by the width of the distribution, σ√T, so that the truncation error
    // stays ~1e-7 relative even one day from expiry.
    let width = i.spot * i.vol * i.t_years.sqrt();
    let hs = width * 1e-3;
    let up = BsInput {
        spot: i.spot + hs,
        ..*i
    };
    let dn = BsInput {
        spot: i.spot - hs,
        ..*i
    };
    let delta = (p(&up) - p(&dn)) / (2.0 * hs);
    let hg = width * 5e-3;
    let upg = BsInput {
        spot: i.spot + hg,
        ..*i
    };
    let dng = BsInput {
        spot: i.spot - hg,
        ..*i
    };
    let gamma = (p(&upg) - 2.0 * p(i) + p(&dng)) / (hg * hg);
    // T in days/365: theta per day is −dV/d(days).
    let days = i.t_years * 365.0;
    let hd = days * 1e-4;
    let later = BsInput {
        t_years: years(days - hd),
        ..*i
    };
    let earlier = BsInput {
        t_years: years(days + hd),
        ..*i
    };
    let theta = (p(&later) - p(&earlier)) / (2.0 * hd);
    let hv = 1e-5;
    let vu = BsInput {
        vol: i.vol + hv,
        ..*i
    };
    let vd = BsInput {
        vol: i.vol - hv,
        ..*i
    };
    let vega = (p(&vu) - p(&vd)) / (2.0 * hv) * 0.01;
    let hr = 1e-5;
    let ru = BsInput {
        rate: i.rate + hr,
        ..*i
    };
    let rd = BsInput {
        rate: i.rate - hr,
        ..*i
    };
    let rho = (p(&ru) - p(&rd)) / (2.0 * hr) * 0.01;
    Greeks {
        price: p(i),
        delta,
        gamma,
        theta,
        vega,
        rho,
    }
}

#[test]
fn greeks_match_finite_differences() {
    let mut n = 0;
    for kind in KINDS {
        for &q in &[0.0, 0.02] {
            for &m in &[0.8, 0.95, 1.0, 1.05, 1.2] {
                for &t in &[years(1.0), years(7.0), 0.25, 1.0, 2.0] {
                    for &vol in &[0.1, 0.3, 0.8] {
                        for &r in &[0.0, 0.065] {
                            let i = input(100.0, 100.0 * m, t, r, q, vol);
                            let g = greeks(kind, &i);
                            let fd = finite_difference_greeks(kind, &i);
                            let checks = [
                                ("price", g.price, fd.price, 0.0),
                                ("delta", g.delta, fd.delta, 1e-7),
                                ("gamma", g.gamma, fd.gamma, 1e-6),
                                ("theta", g.theta, fd.theta, 1e-7),
                                ("vega", g.vega, fd.vega, 1e-8),
                                ("rho", g.rho, fd.rho, 1e-8),
                            ];
                            for (name, a, b, abs) in checks {
                                assert!(
                                    close(a, b, abs, 1e-5),
                                    "{kind:?} {i:?}: {name} analytic {a} vs finite \
                                     difference {b}"
                                );
                            }
                            n += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(n, 2 * 2 * 5 * 5 * 3 * 2);
}

#[test]
fn expiry_and_zero_vol_are_finite() {
    for kind in KINDS {
        for &m in &[0.9, 1.0, 1.1] {
            for &(t, vol) in &[(0.0, 0.2), (0.5, 0.0), (0.0, 0.0), (-1.0, 0.2), (0.5, -0.1)] {
                let i = input(100.0, 100.0 * m, t, 0.05, 0.02, vol);
                let g = greeks(kind, &i);
                for v in [g.price, g.delta, g.gamma, g.theta, g.vega, g.rho] {
                    assert!(v.is_finite(), "{kind:?} {i:?}: {g:?}");
                }
                assert_eq!(g.price, price(kind, &i));
                assert_eq!(g.gamma, 0.0);
                assert_eq!(g.vega, 0.0);
            }
        }
    }
    // At expiry: the payoff.
    let i = input(110.0, 100.0, 0.0, 0.05, 0.0, 0.2);
    assert_eq!(price(CE, &i), 10.0);
    assert_eq!(price(PE, &i), 0.0);
    assert_eq!(greeks(CE, &i).delta, 1.0);
    assert_eq!(greeks(PE, &i).delta, 0.0);
    // No volatility: the discounted forward payoff and its rate/time derivatives.
    let i = input(100.0, 100.0, 1.0, 0.05, 0.0, 0.0);
    let c = greeks(CE, &i);
    assert!((c.price - (100.0 - 100.0 * (-0.05f64).exp())).abs() < 1e-12);
    assert!((c.delta - 1.0).abs() < 1e-15);
    assert!((c.theta - (-0.05 * 100.0 * (-0.05f64).exp() / 365.0)).abs() < 1e-15);
    assert!((c.rho - 100.0 * (-0.05f64).exp() * 0.01).abs() < 1e-12);
    assert_eq!(price(PE, &i), 0.0);
    // Exactly at the money at expiry: half the delta.
    let i = input(100.0, 100.0, 0.0, 0.05, 0.0, 0.2);
    assert_eq!(greeks(CE, &i).delta, 0.5);
    assert_eq!(greeks(PE, &i).delta, -0.5);
    // NaN in, NaN out, no panic.
    assert!(price(CE, &input(f64::NAN, 100.0, 1.0, 0.05, 0.0, 0.2)).is_nan());
    assert!(greeks(PE, &input(100.0, 100.0, 1.0, 0.05, 0.0, f64::NAN))
        .delta
        .is_nan());
}

/// How far the rounding of `price(kind, i)` itself (ε times the size of its two terms) can
/// move σ: the best any inversion can do from that double.
fn sigma_noise(kind: OptionType, i: &BsInput) -> f64 {
    let t = i.t_years;
    let s = i.vol * t.sqrt();
    let d1 = ((i.spot / i.strike).ln() + (i.rate - i.div_yield) * t) / s + 0.5 * s;
    let d2 = d1 - s;
    let sign = match kind {
        CE => 1.0,
        PE => -1.0,
    };
    let terms = i.spot * (-i.div_yield * t).exp() * norm_cdf(sign * d1)
        + i.strike * (-i.rate * t).exp() * norm_cdf(sign * d2);
    f64::EPSILON * terms / (greeks(kind, i).vega * 100.0)
}

#[test]
fn implied_vol_round_trip_on_a_grid() {
    let moneyness = [
        0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0, 1.01, 1.05, 1.1, 1.25, 1.5, 1.75, 2.0,
    ];
    let vols = [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0];
    let times = [
        years(1.0 / 24.0),
        years(1.0),
        years(7.0),
        years(30.0),
        0.25,
        1.0,
        2.0,
    ];
    let (mut tested, mut skipped, mut worst) = (0, 0, 0.0f64);
    // Tested points with K/S < 0.7 or ≥ 1.5, one hour from expiry, and priced below 1e-6 of
    // the spot.
    let (mut tested_deep, mut tested_hour, mut tested_tiny) = (0, 0, 0);
    for kind in KINDS {
        for &(r, q) in &[(0.065, 0.0), (0.05, 0.02)] {
            for &m in &moneyness {
                for &t in &times {
                    for &vol in &vols {
                        let spot = 100.0;
                        let strike = spot * m;
                        let i = input(spot, strike, t, r, q, vol);
                        let p = price(kind, &i);
                        let sq = spot * (-q * t).exp();
                        let kd = strike * (-r * t).exp();
                        let intrinsic = match kind {
                            CE => (sq - kd).max(0.0),
                            PE => (kd - sq).max(0.0),
                        };
                        // Skipped: the price equals the intrinsic value to double precision
                        // (no time value left, e.g. σ = 1 % one hour from expiry 10 % out
                        // of the money, where the price underflows to 0, or is subnormal),
                        // or the rounding of the price itself moves σ by more than 1e-10, so
                        // that no inversion could recover σ to 1e-9 from that double (deep
                        // in the money with a time value below ~1e-12 of the spot).
                        let has_time_value = p - intrinsic > 1e-12 * p;
                        let well_conditioned = sigma_noise(kind, &i) < 1e-10;
                        if !has_time_value || p < f64::MIN_POSITIVE || !well_conditioned {
                            skipped += 1;
                            continue;
                        }
                        let iv = implied_vol(kind, spot, strike, t, r, q, p)
                            .unwrap_or_else(|e| panic!("{kind:?} {i:?} price {p}: {e}"));
                        let err = (iv - vol).abs();
                        let noise = sigma_noise(kind, &i);
                        assert!(
                            err < 1e-9,
                            "{kind:?} {i:?} price {p}: iv {iv}, error {err:e}"
                        );
                        // And close to what the double price allows.
                        assert!(
                            err <= 1e-12 + 2.0 * noise,
                            "{kind:?} {i:?} price {p}: iv {iv}, error {err:e}, noise {noise:e}"
                        );
                        if p < 1e-6 * spot {
                            tested_tiny += 1;
                        }
                        worst = worst.max(err);
                        tested += 1;
                        if !(0.7..1.5).contains(&m) {
                            tested_deep += 1;
                        }
                        if t == times[0] {
                            tested_hour += 1;
                        }
                    }
                }
            }
        }
    }
    let total = 2 * 2 * moneyness.len() * times.len() * vols.len();
    assert_eq!(tested + skipped, total);
    // 2542 of the 3780 points are tested: 622 deep (K/S ≤ 0.6 or ≥ 1.5), 160 one hour from
    // expiry, 507 priced below 1e-6 of the spot; the worst error is ~2e-11.
    assert!(tested >= 2400, "tested {tested} of {total}");
    assert!(
        tested_deep >= 550,
        "only {tested_deep} deep ITM/OTM points tested"
    );
    assert!(
        tested_hour >= 140,
        "only {tested_hour} points one hour out tested"
    );
    assert!(tested_tiny >= 450, "only {tested_tiny} tiny prices tested");
    assert!(worst < 1e-10, "worst {worst:e}");
}

#[test]
fn implied_vol_round_trip_nse_and_extremes() {
    // NSE-like weekly: deep OTM/ITM an hour from expiry, both wings, at and around the money.
    for &m in &[0.97, 0.99, 0.995, 1.0, 1.005, 1.01, 1.03] {
        for &t in &[years(1.0 / 24.0), years(1.0), years(7.0)] {
            for &vol in &[0.08, 0.12, 0.3] {
                for kind in KINDS {
                    let i = input(24_000.0, 24_000.0 * m, t, 0.065, 0.0, vol);
                    let p = price(kind, &i);
                    let well_conditioned = sigma_noise(kind, &i) < 1e-10;
                    if !well_conditioned || p < f64::MIN_POSITIVE {
                        continue;
                    }
                    let iv = implied_vol(kind, 24_000.0, 24_000.0 * m, t, 0.065, 0.0, p);
                    assert!(
                        matches!(iv, Ok(v) if (v - vol).abs() < 1e-9),
                        "{i:?}: {iv:?}"
                    );
                }
            }
        }
    }
    // Very large volatility, close to the upper bound.
    let i = input(100.0, 100.0, 2.0, 0.0, 0.0, 8.0);
    let p = price(CE, &i);
    let iv = implied_vol(CE, 100.0, 100.0, 2.0, 0.0, 0.0, p);
    assert!(matches!(iv, Ok(v) if (v - 8.0).abs() < 1e-8), "{iv:?}");
    // Tiny but representable OTM price.
    let i = input(100.0, 200.0, 0.25, 0.0, 0.0, 0.05);
    let p = price(CE, &i);
    assert!(p > 0.0 && p < 1e-100, "{p:e}");
    let iv = implied_vol(CE, 100.0, 200.0, 0.25, 0.0, 0.0, p);
    assert!(matches!(iv, Ok(v) if (v - 0.05).abs() < 1e-12), "{iv:?}");
}

#[test]
fn implied_vol_errors_are_clear() {
    // Call S=100, K=85, 30 days, r=0: intrinsic 15.
    let t = years(30.0);
    match implied_vol(CE, 100.0, 85.0, t, 0.0, 0.0, 12.3) {
        Err(e @ IvError::BelowIntrinsic { price, intrinsic }) => {
            assert_eq!(price, 12.3);
            assert_eq!(intrinsic, 15.0);
            assert_eq!(
                e.to_string(),
                "price 12.3 is below the intrinsic value 15.0: no volatility fits"
            );
        }
        other => panic!("{other:?}"),
    }
    // With a rate the intrinsic value is discounted: 100 − 85·e^{−0.05·30/365}.
    let intrinsic = 100.0 - 85.0 * (-0.05 * t).exp();
    match implied_vol(CE, 100.0, 85.0, t, 0.05, 0.0, 15.0) {
        Err(IvError::BelowIntrinsic { intrinsic: got, .. }) => assert_eq!(got, intrinsic),
        other => panic!("{other:?}"),
    }
    match implied_vol(CE, 100.0, 85.0, t, 0.0, 0.0, 15.0) {
        Err(e @ IvError::NoTimeValue { .. }) => {
            assert!(e.to_string().contains("15.0"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Upper bounds: the discounted spot for calls, the discounted strike for puts.
    match implied_vol(CE, 100.0, 85.0, t, 0.0, 0.0, 100.0) {
        Err(e @ IvError::AboveUpperBound { price, bound, .. }) => {
            assert_eq!((price, bound), (100.0, 100.0));
            let msg = e.to_string();
            assert!(
                msg.contains("price 100.0") && msg.contains("upper bound 100.0"),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }
    let kd = 120.0 * (-0.05f64).exp();
    match implied_vol(PE, 100.0, 120.0, 1.0, 0.05, 0.0, 115.0) {
        Err(IvError::AboveUpperBound { bound, .. }) => assert_eq!(bound, kd),
        other => panic!("{other:?}"),
    }
    assert!(implied_vol(PE, 100.0, 120.0, 1.0, 0.05, 0.0, kd - 1e-3).is_ok());
    // Time.
    for bad_t in [0.0, -0.1] {
        match implied_vol(CE, 100.0, 100.0, bad_t, 0.05, 0.0, 5.0) {
            Err(e @ IvError::NonPositiveTime { .. }) => {
                assert!(e.to_string().contains("must be positive"), "{e}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Non-finite and non-positive inputs name the input.
    match implied_vol(CE, f64::NAN, 100.0, 1.0, 0.05, 0.0, 5.0) {
        Err(e @ IvError::NonFinite { name: "spot", .. }) => {
            assert_eq!(e.to_string(), "spot must be a finite number, got NaN");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        implied_vol(CE, 100.0, 100.0, 1.0, 0.05, 0.0, f64::INFINITY),
        Err(IvError::NonFinite { name: "price", .. })
    ));
    assert!(matches!(
        implied_vol(CE, 100.0, 100.0, f64::NAN, 0.05, 0.0, 5.0),
        Err(IvError::NonFinite {
            name: "t_years",
            ..
        })
    ));
    let e = implied_vol(CE, 100.0, -5.0, 1.0, 0.05, 0.0, 5.0);
    assert_eq!(
        e,
        Err(IvError::NonPositive {
            name: "strike",
            value: -5.0
        })
    );
    assert_eq!(
        e.map_err(|e| e.to_string()),
        Err("strike must be positive, got -5.0".to_string())
    );
    assert!(matches!(
        implied_vol(PE, 0.0, 100.0, 1.0, 0.05, 0.0, 5.0),
        Err(IvError::NonPositive { name: "spot", .. })
    ));
    assert!(matches!(
        implied_vol(PE, 100.0, 100.0, 1.0, 0.05, 0.0, -1.0),
        Err(IvError::BelowIntrinsic { .. })
    ));
    assert!(matches!(
        implied_vol(PE, 1e300, 1e-300, 1.0, 0.0, 0.0, 1.0),
        Err(IvError::OutOfRange { .. }) | Err(IvError::AboveUpperBound { .. })
    ));
}

#[test]
fn implied_vol_never_panics_and_never_returns_garbage() {
    let spots = [1e-300, 1.0, 100.0, 1e300, f64::NAN];
    let strikes = [0.0, 1e-300, 1.0, 100.0, 1e300, f64::INFINITY];
    let times = [0.0, 1e-300, 1e-8, 1.0, 1e6, f64::NAN];
    let rates = [-5.0, 0.0, 0.05, 50.0];
    let yields = [0.0, 0.05, 50.0];
    let prices = [-1.0, 0.0, 1e-300, 1e-10, 0.5, 50.0, 99.99, 1e300];
    let mut ok = 0;
    for kind in KINDS {
        for &spot in &spots {
            for &strike in &strikes {
                for &t in &times {
                    for &r in &rates {
                        for &q in &yields {
                            for &p in &prices {
                                if let Ok(v) = implied_vol(kind, spot, strike, t, r, q, p) {
                                    assert!(
                                        v.is_finite() && v > 0.0,
                                        "{kind:?} {spot} {strike} {t} {r} {q} {p}: {v}"
                                    );
                                    ok += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(ok > 0);
    // Greeks of odd inputs never panic either.
    for &spot in &spots {
        for &t in &times {
            let g = greeks(CE, &input(spot, 100.0, t, 0.05, 0.0, 0.2));
            assert!(!g.price.is_nan() || spot.is_nan() || t.is_nan(), "{g:?}");
        }
    }
}

#[test]
fn nse_weekly_atm() {
    let i = input(24_000.0, 24_000.0, years(7.0), 0.065, 0.0, 0.12);
    let c = greeks(CE, &i);
    let p = greeks(PE, &i);
    assert!(c.price.is_finite() && c.price > 0.0, "{c:?}");
    assert!(p.price.is_finite() && p.price > 0.0, "{p:?}");
    assert!(c.delta > 0.5 && c.delta < 0.6, "{c:?}");
    assert!(p.delta < 0.0 && p.delta > -0.5, "{p:?}");
    // ATM weekly ≈ 0.4·S·σ·√T ≈ 159 plus carry; theta is a loss of several points a day.
    assert!((c.price - 171.0).abs() < 10.0, "{c:?}");
    assert!(c.theta < -5.0 && c.theta > -20.0, "{c:?}");
    assert!((c.delta - p.delta - 1.0).abs() < 1e-12);
    let iv = implied_vol(CE, 24_000.0, 24_000.0, years(7.0), 0.065, 0.0, c.price);
    assert!(matches!(iv, Ok(v) if (v - 0.12).abs() < 1e-12), "{iv:?}");
}
