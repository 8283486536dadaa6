//! The streamed reader against the whole-file reader it replaced, and its memory bounds.

use super::*;
use crate::feed::fields::{parse_row, parse_timestamp, HEADER};
use crate::feed::replay::{read_with, ReplayData};
use crate::feed::spill::scan_file_spilled;
use crate::logic::session::Session;
use proptest::prelude::*;

fn p() -> &'static Path {
    Path::new("t.csv")
}

/// The reader as it was when it read the whole file at once (kept verbatim): the streamed
/// reader must give the same bars, counts, skipped rows and errors.
fn reference_read(r: &[u8], path: &Path, opts: ReadOptions) -> Result<ReplayData> {
    let row_err = |line: u64, message: String| Error::DataRow {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(r);
    let header = rdr
        .byte_headers()
        .map_err(|e| row_err(1, format!("cannot read the header: {e}")))?
        .clone();
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .to_string()
        })
        .collect();
    if names != HEADER {
        let shown: String = names.join(",").chars().take(200).collect();
        return Err(row_err(
            1,
            format!("header is {shown:?}, expected \"{}\"", HEADER.join(",")),
        ));
    }
    // 1. Each row on its own.
    let mut bars: Vec<Bar> = Vec::new();
    let mut lines: Vec<u64> = Vec::new();
    let mut skipped: Vec<SkippedRow> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    loop {
        let more = rdr.read_byte_record(&mut rec).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            row_err(line, format!("unreadable row: {e}"))
        })?;
        if !more {
            break;
        }
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        match parse_row(&rec) {
            Ok(b) => {
                bars.push(b);
                lines.push(line);
            }
            Err(reason) => {
                if opts.policy == RowPolicy::Strict {
                    return Err(row_err(line, reason));
                }
                skipped.push(SkippedRow { line, reason });
            }
        }
    }
    let rows = (bars.len() + skipped.len()) as u64;
    // 2. Time order over the whole file.
    let ts: Vec<i64> = bars.iter().map(|b| b.ts).collect();
    let keep = longest_increasing(&ts);
    let mut rejected: Vec<SkippedRow> = Vec::new();
    if keep.len() < bars.len() {
        let mut k = keep.iter().peekable();
        let mut last_kept: Option<usize> = None;
        for i in 0..bars.len() {
            if k.peek() == Some(&&i) {
                k.next();
                last_kept = Some(i);
                continue;
            }
            let next_kept = k.peek().map(|&&j| j);
            let why = match (last_kept, next_kept) {
                (Some(p), _) if ts[i] <= ts[p] => format!(
                    "timestamp {} is not after line {}'s {}: rows must be in time order",
                    show_time(ts[i]),
                    lines[p],
                    show_time(ts[p])
                ),
                (_, Some(n)) => format!(
                    "timestamp {} is not before line {}'s {}: rows must be in time order",
                    show_time(ts[i]),
                    lines[n],
                    show_time(ts[n])
                ),
                _ => format!("timestamp {} is out of time order", show_time(ts[i])),
            };
            rejected.push(SkippedRow {
                line: lines[i],
                reason: why,
            });
        }
    }
    let mut kept: Vec<(u64, Bar)> = keep.into_iter().map(|i| (lines[i], bars[i])).collect();
    drop(bars);
    let bar_secs = kept
        .windows(2)
        .take(5000)
        .map(|w| w[1].1.ts - w[0].1.ts)
        .filter(|d| *d > 0)
        .min()
        .unwrap_or(60)
        .min(86_400);
    // 3. The session, and 4. jumps against the previous kept close.
    let mut prev_close: Option<(u64, f64)> = None;
    kept.retain(|(line, b)| {
        if let Some(s) = &opts.session {
            let inside = if bar_secs >= 86_400 {
                s.is_trading_day(b.ts)
            } else {
                s.contains(b.ts)
            };
            if !inside {
                rejected.push(SkippedRow {
                    line: *line,
                    reason: format!(
                        "timestamp {} is outside the trading session",
                        show_time(b.ts)
                    ),
                });
                return false;
            }
        }
        if let Some((pl, pc)) = prev_close {
            let ratio = (b.high / pc).max(pc / b.low);
            if ratio > MAX_JUMP {
                rejected.push(SkippedRow {
                    line: *line,
                    reason: format!(
                        "prices {}..{} are more than {MAX_JUMP}x away from line {pl}'s close {pc}",
                        b.low, b.high
                    ),
                });
                return false;
            }
        }
        prev_close = Some((*line, b.close));
        true
    });
    if !rejected.is_empty() {
        rejected.sort_by_key(|r| r.line);
        if opts.policy == RowPolicy::Strict {
            let n = rejected.len();
            let first = rejected.swap_remove(0);
            let more = if n > 1 {
                format!(" ({} more rows refused)", n - 1)
            } else {
                String::new()
            };
            return Err(row_err(first.line, format!("{}{more}", first.reason)));
        }
        skipped.extend(rejected);
        skipped.sort_by_key(|r| r.line);
    }
    Ok(ReplayData {
        bars: kept.into_iter().map(|(_, b)| b).collect(),
        bar_secs,
        rows,
        skipped,
    })
}

/// `n` clean 15-minute NSE bars from 2024-01-02 09:15 IST, closes 100, 101, … (wrapping
/// to stay far from the jump limit).
fn clean(n: usize) -> Vec<String> {
    let s = Session::nse();
    let mut t = parse_timestamp("2024-01-02T09:15:00+05:30").unwrap();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        if s.contains(t) {
            let c = 100.0 + (out.len() % 50) as f64;
            out.push(format!("{t},{c},{},{},{c},10", c + 1.0, c - 1.0));
        }
        t += 900;
    }
    out
}

fn csv(rows: &[String]) -> String {
    format!(
        "timestamp,open,high,low,close,volume\n{}\n",
        rows.join("\n")
    )
}

fn opts(policy: RowPolicy) -> ReadOptions {
    ReadOptions {
        policy,
        session: Some(Session::nse()),
    }
}

fn same(f: &str, o: ReadOptions) {
    let new = read_with(f.as_bytes(), p(), o).map_err(|e| e.to_string());
    let old = reference_read(f.as_bytes(), p(), o).map_err(|e| e.to_string());
    assert_eq!(new, old);
}

/// Damage of one kind at row `at`.
fn damage(rows: &mut [String], at: usize, kind: u8) {
    let Some(row) = rows.get(at).cloned() else {
        return;
    };
    // A row damaged before (not a number, or no fields) is left as it is.
    let Some((ts, rest)) = row.split_once(',') else {
        return;
    };
    let Ok(t) = ts.parse::<i64>() else {
        return;
    };
    let prices = rest.split_once(',').map_or("", |(_, r)| r);
    rows[at] = match kind % 7 {
        0 => format!("{ts},1e308,{prices}"),
        1 => format!("9999-01-02T09:15:00+05:30,{rest}"),
        2 => format!("2030-01-02T10:15:00+05:30,{rest}"),
        3 => format!("{ts},100,10400,99,100,1"),
        4 => format!("{},{rest}", t - 3600 * 24 * 3),
        5 => "garbage".into(),
        _ => format!("{},{rest}", t + 4 * 3600),
    };
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn streamed_reading_judges_as_the_whole_file_reader_did(
        n in 0usize..120,
        hits in prop::collection::vec((0usize..120, any::<u8>()), 0..6),
        swaps in prop::collection::vec(0usize..120, 0..3),
    ) {
        let mut rows = clean(n);
        for (at, kind) in hits {
            damage(&mut rows, at, kind);
        }
        for s in swaps {
            if s + 1 < rows.len() {
                rows.swap(s, s + 1);
            }
        }
        let f = csv(&rows);
        for policy in [RowPolicy::Strict, RowPolicy::Skip] {
            same(&f, opts(policy));
            same(&f, ReadOptions { policy, session: None });
        }
    }
}

#[test]
fn rows_past_the_bar_length_look_ahead_are_judged_as_before() {
    // Damage on both sides of the rows that decide the bar length, and a file whose only
    // disorder comes after them.
    for kinds in [[0u8, 3, 6], [1, 4, 5], [2, 2, 2], [4, 4, 4]] {
        let mut rows = clean(BAR_SECS_ROWS + 700);
        for (at, kind) in [
            (10, kinds[0]),
            (BAR_SECS_ROWS - 1, kinds[1]),
            (BAR_SECS_ROWS + 300, kinds[2]),
        ] {
            damage(&mut rows, at, kind);
        }
        let f = csv(&rows);
        for policy in [RowPolicy::Strict, RowPolicy::Skip] {
            same(&f, opts(policy));
        }
    }
}

#[test]
fn the_stream_holds_a_bounded_number_of_rows_whatever_the_files_length() {
    let mut peaks = Vec::new();
    for n in [BAR_SECS_ROWS + 1000, 12 * BAR_SECS_ROWS] {
        let f = csv(&clean(n));
        let o = opts(RowPolicy::Strict);
        let scan = scan(|| Ok(f.as_bytes()), p(), o, 10).unwrap();
        assert_eq!(
            scan.counts,
            Counts {
                rows: n as u64,
                bars: n as u64,
                skipped: 0
            }
        );
        assert_eq!(scan.bar_secs, 900);
        let mut s = BarStream::checked(f.as_bytes(), p(), &scan).unwrap();
        let mut total = 0;
        loop {
            let batch = s.next_batch(500).unwrap();
            assert!(batch.len() <= 500);
            if batch.is_empty() {
                break;
            }
            total += batch.len();
        }
        assert_eq!(total, n);
        assert_eq!(s.counts(), scan.counts);
        assert_eq!(s.held_peak(), 0, "the checked stream holds nothing ahead");
        peaks.push(scan.held_peak);
    }
    // The validating pass holds the rows that decide the bar length, and no more, for a
    // file twelve times longer alike.
    assert_eq!(peaks, [BAR_SECS_ROWS, BAR_SECS_ROWS]);
}

#[test]
fn spilled_bars_are_the_bars_kept_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f.csv");
    // In order, and with rows out of order (the scan starts again, and so does the spill).
    for swap in [None, Some(BAR_SECS_ROWS + 50), Some(7)] {
        let mut rows = clean(BAR_SECS_ROWS + 400);
        damage(&mut rows, 3, 0);
        damage(&mut rows, BAR_SECS_ROWS + 10, 3);
        if let Some(i) = swap {
            rows.swap(i, i + 1);
        }
        rows[100] = rows[100].replace(",10", ",0.1234567890123");
        std::fs::write(&f, csv(&rows)).unwrap();
        let o = opts(RowPolicy::Skip);
        let want = read_with(std::fs::File::open(&f).unwrap(), &f, o).unwrap();
        let (sc, mut spilled) = scan_file_spilled(&f, o, 10).unwrap();
        assert_eq!(sc.counts.bars as usize, want.bars.len());
        assert_eq!(sc.skipped[..], want.skipped[..sc.skipped.len()]);
        // Batches of every size (several read blocks, part of one, one bar) and single bars.
        let mut got = Vec::new();
        for k in 0.. {
            let b = match k % 4 {
                0 => spilled.next_batch(1000).unwrap(),
                1 => spilled.next_bar().unwrap().into_iter().collect(),
                2 => spilled.next_batch(1).unwrap(),
                _ => spilled.next_batch(37).unwrap(),
            };
            if b.is_empty() {
                break;
            }
            got.extend(b);
        }
        let bits = |v: &[Bar]| -> Vec<[u64; 6]> {
            v.iter()
                .map(|b| {
                    [
                        b.ts as u64,
                        b.open.to_bits(),
                        b.high.to_bits(),
                        b.low.to_bits(),
                        b.close.to_bits(),
                        b.volume.to_bits(),
                    ]
                })
                .collect()
        };
        assert_eq!(bits(&got), bits(&want.bars), "swap {swap:?}");
        assert_eq!(spilled.last_ts(), want.bars.last().map(|b| b.ts));
    }
    // A strict scan of a bad file is refused before any bar is given.
    let mut rows = clean(50);
    damage(&mut rows, 40, 0);
    std::fs::write(&f, csv(&rows)).unwrap();
    let e = scan_file_spilled(&f, opts(RowPolicy::Strict), 10)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("line 42"), "{e}");
}

#[test]
fn several_streams_merge_in_time_order_ties_by_index() {
    let a = csv(&clean(300));
    let b: Vec<String> = clean(600).into_iter().skip(1).step_by(2).collect();
    let b = csv(&b);
    let o = opts(RowPolicy::Strict);
    let files = [a.as_bytes(), b.as_bytes(), a.as_bytes()];
    let mut streams = Vec::new();
    let mut all = Vec::new();
    for (k, f) in files.iter().enumerate() {
        let sc = scan(|| Ok(*f), p(), o, 0).unwrap();
        streams.push(BarStream::checked(*f, p(), &sc).unwrap());
        all.extend(
            read_with(*f, p(), o)
                .unwrap()
                .bars
                .into_iter()
                .map(|b| (SymbolId(k as u16), b)),
        );
    }
    all.sort_by_key(|(s, b)| (b.ts, s.0));
    let mut m = Merge::new(streams).unwrap();
    let mut got = Vec::new();
    loop {
        let batch = m.next_batch(97).unwrap();
        assert!(batch.len() <= 97);
        if batch.is_empty() {
            break;
        }
        got.extend(batch);
    }
    assert_eq!(got, all);
    assert_eq!(m.streams()[1].counts().bars, 300);
}

#[test]
fn a_file_changed_after_its_scan_is_an_error_not_other_bars() {
    let rows = clean(50);
    let f = csv(&rows);
    let o = opts(RowPolicy::Strict);
    let sc = scan(|| Ok(f.as_bytes()), p(), o, 0).unwrap();
    let mut bad = rows.clone();
    damage(&mut bad, 20, 0);
    let g = csv(&bad);
    let mut s = BarStream::checked(g.as_bytes(), p(), &sc).unwrap();
    let e = loop {
        match s.next_bar() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the changed row was given or skipped"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("line 22"), "{e}");
    // Fewer rows than scanned: the count at the end says so.
    let g = csv(&rows[..40]);
    let mut s = BarStream::checked(g.as_bytes(), p(), &sc).unwrap();
    let e = loop {
        match s.next_bar() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("a shorter file ended quietly"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(e.contains("changed while it was replayed"), "{e}");
}
