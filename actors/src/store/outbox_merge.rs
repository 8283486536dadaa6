//! What a restarted engine sees: the server's rows merged with the rows still waiting in the
//! local outbox, newest version winning. Pure functions, no I/O.
//!
//! Keys and "newest" per table:
//! - positions: by `position_id`, the highest `version` (on a tie the outbox row, written later);
//! - signals: by `signal_id`, the first stored one (the store never stores a second version of
//!   a signal id, so a tie only happens after a shipment interrupted halfway — same contents);
//! - decisions: by `signal_id` (a set of ids);
//! - candles: by open time within one symbol and interval, the highest write stamp (the
//!   ReplacingMergeTree `version`; on a tie the outbox row).

use std::collections::{BTreeMap, HashMap, HashSet};

use messages::{CandleRow, PositionRecord, PositionStatus, Signal, SignalQuery};
use uuid::Uuid;

/// The latest version of each position among `server` and `outbox`, ordered by position id.
pub fn latest_positions(
    server: Vec<PositionRecord>,
    outbox: Vec<PositionRecord>,
) -> Vec<PositionRecord> {
    let mut by_id: BTreeMap<Uuid, PositionRecord> = BTreeMap::new();
    for p in server.into_iter().chain(outbox) {
        match by_id.get(&p.position_id) {
            Some(held) if held.version > p.version => {}
            _ => {
                by_id.insert(p.position_id, p);
            }
        }
    }
    by_id.into_values().collect()
}

/// The positions whose latest version (server or outbox) is open, ordered by position id.
/// `server` must hold the server's latest version of every position that is open there *and*
/// of every position the outbox mentions (an outbox row may be older than the server's).
pub fn open_positions(
    server: Vec<PositionRecord>,
    outbox: Vec<PositionRecord>,
) -> Vec<PositionRecord> {
    latest_positions(server, outbox)
        .into_iter()
        .filter(|p| p.status == PositionStatus::Open)
        .collect()
}

/// True when `s` matches the query's filters.
pub fn signal_matches(q: &SignalQuery, s: &Signal) -> bool {
    q.symbol.as_ref().is_none_or(|x| *x == s.symbol)
        && q.strategy.as_ref().is_none_or(|x| *x == s.strategy)
        && q.start.is_none_or(|t| s.timestamp >= t)
        && q.end.is_none_or(|t| s.timestamp <= t)
}

/// The server's signals for `q` plus the outbox signals matching it, one per id (the server's
/// when both have it), newest first (then by id), as the stores order them.
pub fn signals(server: Vec<Signal>, outbox: Vec<Signal>, q: &SignalQuery) -> Vec<Signal> {
    let mut seen: HashSet<Uuid> = HashSet::with_capacity(server.len() + outbox.len());
    let mut out: Vec<Signal> = server
        .into_iter()
        .chain(outbox.into_iter().filter(|s| signal_matches(q, s)))
        .filter(|s| seen.insert(s.signal_id))
        .collect();
    out.sort_by(|a, b| {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| a.signal_id.cmp(&b.signal_id))
    });
    out
}

/// The union of two id lists, without repeats, in first-seen order.
pub fn ids(server: Vec<Uuid>, outbox: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    let mut seen = HashSet::new();
    server
        .into_iter()
        .chain(outbox)
        .filter(|id| seen.insert(*id))
        .collect()
}

/// The latest `limit` candles of one symbol and interval, oldest first, from the server's rows
/// and the outbox's, each as (write stamp, candle). Per open time the highest stamp wins; on a
/// tie the outbox row.
pub fn candles(
    server: Vec<(u64, CandleRow)>,
    outbox: Vec<(u64, CandleRow)>,
    limit: usize,
) -> Vec<CandleRow> {
    let mut by_ts: HashMap<i64, (u64, CandleRow)> = HashMap::new();
    for (stamp, c) in server.into_iter().chain(outbox) {
        match by_ts.get(&c.ts) {
            Some((held, _)) if *held > stamp => {}
            _ => {
                by_ts.insert(c.ts, (stamp, c));
            }
        }
    }
    let mut out: Vec<CandleRow> = by_ts.into_values().map(|(_, c)| c).collect();
    out.sort_by_key(|c| c.ts);
    let skip = out.len().saturating_sub(limit);
    out.drain(..skip);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};
    use messages::{Action, Mode, OptionType, SignalMetadata, Timeframe};

    fn pos(id: u128, version: u64, status: PositionStatus) -> PositionRecord {
        PositionRecord {
            position_id: Uuid::from_u128(id),
            version,
            signal_id: Uuid::from_u128(1000 + id),
            symbol: "NIFTY".into(),
            option_symbol: "NIFTY24JAN24000CE".into(),
            strike: 24_000.0,
            option_type: OptionType::CE,
            expiry: NaiveDate::from_ymd_opt(2024, 1, 25).unwrap(),
            mode: Mode::Paper,
            status,
            lots: 1,
            lot_size: 50,
            quantity: 50,
            remaining_quantity: 50,
            entry_time: Utc.timestamp_opt(1_704_170_000, 0).unwrap(),
            entry_premium: 120.5,
            stop_loss_premium: 84.35,
            target_premium: 192.8,
            current_premium: 100.0 + version as f64,
            unrealized_pnl: 0.0,
            exit_time: None,
            exit_premium: 0.0,
            exit_reason: String::new(),
            realized_pnl: 0.0,
            updated_at: Utc.timestamp_opt(1_704_170_000, 0).unwrap(),
            strategy: String::new(),
            charges: Default::default(),
            net_pnl: 0.0,
        }
    }

    fn sig(n: i64, symbol: &str) -> Signal {
        let ts = 1_704_166_200 + n * 900;
        Signal {
            signal_id: messages::signal_id(
                symbol,
                "ma_crossover",
                messages::Timeframe::Minute15,
                ts,
                Action::Buy,
            ),
            timestamp: Utc.timestamp_opt(ts, 0).unwrap(),
            symbol: symbol.into(),
            strategy: "ma_crossover".into(),
            action: Action::Buy,
            price: 24_000.0 + n as f64,
            stop_loss: 23_760.0,
            target: 24_480.0,
            confidence: 0.7,
            expected_move_pct: 2.0,
            metadata: SignalMetadata {
                candle_time: Utc.timestamp_opt(ts, 0).unwrap(),
                ema_fast: 1.0,
                ema_slow: 0.5,
            },
        }
    }

    fn candle(ts: i64, close: f64) -> CandleRow {
        CandleRow {
            symbol: "NIFTY".into(),
            interval: Timeframe::Minute15,
            ts,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close,
            volume: 10.0,
        }
    }

    #[test]
    fn a_position_closed_in_the_outbox_is_not_open() {
        // Open on the server (v2), closed during the outage (v5 in the outbox).
        let open = open_positions(
            vec![pos(1, 2, PositionStatus::Open)],
            vec![
                pos(1, 3, PositionStatus::Open),
                pos(1, 5, PositionStatus::Closed),
            ],
        );
        assert!(open.is_empty(), "{open:?}");
    }

    #[test]
    fn a_position_opened_in_the_outbox_is_open_at_its_latest_version() {
        let open = open_positions(
            vec![pos(1, 2, PositionStatus::Open)],
            vec![
                pos(2, 1, PositionStatus::Open),
                pos(2, 4, PositionStatus::Open),
                pos(3, 1, PositionStatus::Open),
                pos(3, 2, PositionStatus::Closed),
            ],
        );
        let got: Vec<(u128, u64)> = open
            .iter()
            .map(|p| (p.position_id.as_u128(), p.version))
            .collect();
        assert_eq!(got, vec![(1, 2), (2, 4)]);
        assert_eq!(open[1].current_premium, 104.0);
    }

    #[test]
    fn an_outbox_row_older_than_the_server_loses() {
        // Shipped halfway: the server already has the close (v6), the outbox still the open v4.
        let latest = latest_positions(
            vec![pos(7, 6, PositionStatus::Closed)],
            vec![pos(7, 4, PositionStatus::Open)],
        );
        assert_eq!(latest.len(), 1);
        assert_eq!(
            (latest[0].version, latest[0].status),
            (6, PositionStatus::Closed)
        );
        assert!(open_positions(
            vec![pos(7, 6, PositionStatus::Closed)],
            vec![pos(7, 4, PositionStatus::Open)]
        )
        .is_empty());
    }

    #[test]
    fn equal_versions_take_the_outbox_row() {
        let mut o = pos(9, 3, PositionStatus::Open);
        o.current_premium = 55.0;
        let latest = latest_positions(vec![pos(9, 3, PositionStatus::Open)], vec![o]);
        assert_eq!(latest[0].current_premium, 55.0);
    }

    #[test]
    fn signals_merge_by_id_filter_and_order_newest_first() {
        let (a, b, c) = (sig(0, "NIFTY"), sig(1, "NIFTY"), sig(2, "BANKNIFTY"));
        let mut b_other = b.clone();
        b_other.price = 1.0;
        let q = SignalQuery {
            symbol: Some("NIFTY".into()),
            ..Default::default()
        };
        // The server's copy of b wins; c does not match the query.
        let got = signals(vec![b.clone()], vec![a.clone(), b_other, c.clone()], &q);
        assert_eq!(got, vec![b.clone(), a.clone()]);
        let q = SignalQuery {
            start: Some(b.timestamp),
            ..Default::default()
        };
        assert_eq!(
            signals(vec![], vec![a.clone(), b.clone(), c.clone()], &q),
            vec![c.clone(), b.clone()]
        );
        let q = SignalQuery {
            end: Some(a.timestamp),
            strategy: Some("ma_crossover".into()),
            ..Default::default()
        };
        assert_eq!(signals(vec![], vec![a.clone(), b, c], &q), vec![a]);
    }

    #[test]
    fn ids_union_without_repeats() {
        let (x, y, z) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        assert_eq!(ids(vec![x, y], [y, z, z]), vec![x, y, z]);
    }

    #[test]
    fn candles_newest_stamp_wins_and_latest_limit_oldest_first() {
        let server = vec![(10, candle(0, 1.0)), (10, candle(900, 2.0))];
        let outbox = vec![
            (5, candle(900, 99.0)), // older write of 900: loses
            (20, candle(1800, 3.0)),
            (20, candle(2700, 4.0)),
        ];
        let got = candles(server.clone(), outbox.clone(), 3);
        assert_eq!(
            got.iter().map(|c| (c.ts, c.close)).collect::<Vec<_>>(),
            vec![(900, 2.0), (1800, 3.0), (2700, 4.0)]
        );
        let all = candles(server, outbox, 100);
        assert_eq!(all.len(), 4);
        // Equal stamps: the outbox row.
        let got = candles(vec![(7, candle(0, 1.0))], vec![(7, candle(0, 8.0))], 1);
        assert_eq!(got[0].close, 8.0);
        assert!(candles(vec![], vec![], 5).is_empty());
        assert!(candles(vec![(1, candle(0, 1.0))], vec![], 0).is_empty());
    }
}
