use super::*;

fn with(mutate: impl FnOnce(&mut serde_json::Value)) -> Result<Config> {
    let mut v: serde_json::Value = serde_json::from_str(DEFAULT_JSON).unwrap();
    mutate(&mut v);
    Config::parse(&v.to_string(), Path::new("test.json"))
}

#[test]
fn default_config_is_valid_and_logging_only() {
    let c = Config::default_config().unwrap();
    assert_eq!(c.options_trading.mode(), Mode::Logging);
    assert_eq!(
        c.strategies.0["ma_crossover"].timeframe,
        messages::Timeframe::Minute15
    );
    assert_eq!(
        c.strategies.0["ma_crossover"].historical_lookback.periods,
        1000
    );
    assert_eq!(c.options_trading.position_sizing.account_capital, 100000.0);
}

#[test]
fn unknown_field_names_its_path() {
    let e = with(|v| v["options_trading"]["entry_filters"]["min_strength"] = 1.into())
        .unwrap_err()
        .to_string();
    assert!(e.contains("options_trading.entry_filters"), "{e}");
    assert!(e.contains("min_strength"), "{e}");
}

#[test]
fn kite_order_settings_are_checked() {
    let c = with(|v| {
        v["kite"] = serde_json::json!({"entry_order_type": "MARKET", "market_protection": 5})
    })
    .unwrap();
    assert_eq!(c.kite.entry_order_type, LiveOrderType::Market);
    assert_eq!(c.kite.exit_order_type, LiveOrderType::Market);
    assert!(!c.kite.live_trading_enabled, "live is off unless asked for");
    for (field, value, says) in [
        ("product", serde_json::json!("BO"), "MIS, NRML or CNC"),
        (
            "market_protection",
            serde_json::json!(101),
            "-1 (automatic)",
        ),
        ("order_poll_millis", serde_json::json!(10), ">= 100"),
        (
            "ticker_silence_seconds",
            serde_json::json!(0),
            "must be 1 to 3600",
        ),
        (
            "ticker_silence_seconds",
            serde_json::json!(3601),
            "must be 1 to 3600",
        ),
        ("entry_fill_timeout_seconds", serde_json::json!(0), ">= 1"),
        ("reconcile_seconds", serde_json::json!(86_401), "<= 86400"),
        (
            "reconcile_seconds",
            serde_json::json!(-5),
            "reconcile_seconds",
        ),
        (
            "exit_retry_initial_seconds",
            serde_json::json!(0.0),
            "must be > 0",
        ),
    ] {
        let e = with(|v| v["kite"] = serde_json::json!({ field: value }))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("kite.{field}")) && e.contains(says),
            "{e}"
        );
    }
    let e = with(|v| v["kite"] = serde_json::json!({"exit_order_type": "SL"}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kite.exit_order_type") && e.contains("SL"),
        "{e}"
    );
}

#[test]
fn bad_timeframe_names_path_and_value() {
    let e = with(|v| v["strategies"]["ma_crossover"]["timeframe"] = "7minute".into())
        .unwrap_err()
        .to_string();
    assert!(e.contains("strategies.ma_crossover.timeframe"), "{e}");
    assert!(e.contains("7minute"), "{e}");
}

#[test]
fn out_of_range_values_are_rejected() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "options_trading.position_sizing.risk_per_trade_pct",
            Box::new(|v| {
                v["options_trading"]["position_sizing"]["risk_per_trade_pct"] = 0.0.into()
            }),
        ),
        (
            "options_trading.risk_management.stop_loss_pct",
            Box::new(|v| v["options_trading"]["risk_management"]["stop_loss_pct"] = 150.0.into()),
        ),
        (
            "options_trading.position_sizing.account_capital",
            Box::new(|v| {
                v["options_trading"]["position_sizing"]["account_capital"] = (-5.0).into()
            }),
        ),
        (
            "options_trading.entry_filters.valid_underlyings",
            Box::new(|v| {
                v["options_trading"]["entry_filters"]["valid_underlyings"] = serde_json::json!([])
            }),
        ),
        (
            "market.session_open",
            Box::new(|v| v["market"]["session_open"] = "9h15".into()),
        ),
    ];
    for (path, m) in cases {
        let e = with(|v| m(v)).unwrap_err().to_string();
        assert!(e.contains(path), "expected {path} in {e}");
    }
}

#[test]
fn risk_modes_apply_the_originals_presets() {
    let c = Config::default_config().unwrap();
    let e = c.effective();
    assert_eq!(
        (e.stop_loss_pct, e.target_multiplier, e.risk_per_trade_pct),
        (30.0, 2.0, 2.0)
    );
    assert_eq!(
        e.rules,
        Rules::default(),
        "CUSTOM: the file as written, every rule off"
    );
    assert!(!e.trailing_stop_enabled);
    let e = with(|v| v["rules"]["risk_mode"] = "CONSERVATIVE".into())
        .unwrap()
        .effective();
    assert_eq!(
        (e.stop_loss_pct, e.target_multiplier, e.risk_per_trade_pct),
        (30.0, 1.5, 2.0)
    );
    assert_eq!((e.min_signal_strength, e.min_expected_move_pct), (0.7, 1.5));
    assert_eq!(e.rules.max_hold_hours, Some(4.0));
    assert_eq!(
        e.rules.partial_booking,
        Some(PartialBooking {
            at_pct: 45.0,
            size_pct: 60.0
        })
    );
    assert!(e.trailing_stop_enabled);
    assert_eq!(
        e.rules.trailing,
        Trailing {
            after_pct: 25.0,
            keep_pct: 50.0
        }
    );
    let e = with(|v| v["rules"]["risk_mode"] = "AGGRESSIVE".into())
        .unwrap()
        .effective();
    assert!(!e.selection.prefer_atm, "out of the money");
    assert_eq!(e.target_multiplier, 2.0);
    let e = with(|v| v["rules"]["risk_mode"] = "ULTRA_SAFE".into())
        .unwrap()
        .effective();
    assert_eq!(
        (
            e.stop_loss_pct,
            e.rules.partial_booking,
            e.trailing_stop_enabled
        ),
        (20.0, None, false)
    );
    let err = with(|v| v["rules"]["risk_mode"] = "YOLO".into())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rules.risk_mode") && err.contains("YOLO"),
        "{err}"
    );
}

#[test]
fn a_freeze_quantity_below_one_lot_names_the_field() {
    let c = Config::default_config().unwrap();
    let nifty = &c.instruments.underlyings["NIFTY"];
    assert_eq!((nifty.lot_size, nifty.freeze_qty), (65, Some(1800)));
    assert_eq!(c.instruments.underlyings["RELIANCE"].freeze_qty, None);
    let e = with(|v| v["instruments"]["underlyings"]["NIFTY"]["freeze_qty"] = 64.into())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("instruments.underlyings.NIFTY.freeze_qty")
            && e.contains("value 64")
            && e.contains("below one lot (65)"),
        "{e}"
    );
    let e = with(|v| v["instruments"]["underlyings"]["NIFTY"]["freeze_qty"] = (-5).into())
        .unwrap_err()
        .to_string();
    assert!(e.contains("freeze_qty"), "{e}");
    // Exactly one lot is allowed.
    assert!(with(|v| v["instruments"]["underlyings"]["NIFTY"]["freeze_qty"] = 65.into()).is_ok());
}

#[test]
fn invalid_json_names_location() {
    let e = Config::parse("{\"options_trading\": ", Path::new("x.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.json"), "{e}");
}
