//! What a read of a replay file decides about its rows: the policy for a refused row, the
//! refusals themselves, the options of a read, and the time-order judgement (the longest
//! strictly increasing run of times).

use crate::logic::session::Session;
use chrono::DateTime;

/// A price more than this many times above or below the previous kept close is refused.
pub const MAX_JUMP: f64 = 10.0;

/// What to do with a row that is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RowPolicy {
    /// The first refused row (by line) stops the read with its line, field and value.
    #[default]
    Strict,
    /// Refused rows are left out and reported in [`ReplayData::skipped`].
    Skip,
}

/// A refused row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    /// Why, naming the field and value.
    pub reason: String,
}

/// How to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    pub policy: RowPolicy,
    /// Refuse rows outside this session (intraday bars: the time; daily bars: the day).
    pub session: Option<Session>,
}

/// `t` as RFC 3339 UTC for messages (the number when out of chrono's range).
pub(crate) fn show_time(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

/// Indices (into `ts`) of a longest strictly increasing subsequence, in order: the rows that
/// keep the file in time order while refusing as few as possible. O(n log n).
pub(crate) fn longest_increasing(ts: &[i64]) -> Vec<usize> {
    // tails[k]: index of the smallest last time of an increasing run of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut prev: Vec<Option<usize>> = vec![None; ts.len()];
    for i in 0..ts.len() {
        let k = tails.partition_point(|&j| ts[j] < ts[i]);
        prev[i] = k.checked_sub(1).map(|k| tails[k]);
        if k == tails.len() {
            tails.push(i);
        } else {
            tails[k] = i;
        }
    }
    let mut out = Vec::with_capacity(tails.len());
    let mut cur = tails.last().copied();
    while let Some(i) = cur {
        out.push(i);
        cur = prev[i];
    }
    out.reverse();
    out
}
