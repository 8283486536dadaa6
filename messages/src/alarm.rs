//! Alarms: what needs a person now (an exit that did not fill, a halt, a refused token, ...),
//! raised by the actor that sees it and posted by the Notifier to the configured webhooks.
//!
//! An alarm carries no secret: the words say what happened and what to do, the fields name
//! the symbol, position, order, signal or actor it is about.

use actix::prelude::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What kind of alarm (rate limiting is per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    /// A live exit order was rejected, cancelled or failed; the position is still held.
    ExitNotFilled,
    /// A live position must be sold and nothing can sell it here (no broker, or the exit
    /// filled for a position not open here): the operator acts at the broker.
    ExitUnmanaged,
    /// A sliced live entry filled only part of its slices.
    EntryShortfall,
    /// A live entry's outcome is unknown (the order may exist): check the order book.
    EntryUnknownOutcome,
    /// Today's net realized loss reached `max_daily_loss_pct`: no new entries today.
    DailyLossHalt,
    /// Today's net realized profit reached `rules.daily_profit_lock_pct`: no new entries today.
    ProfitLockHalt,
    /// `rules.halt_after_consecutive_losses` losing trades in a row today.
    ConsecutiveLossHalt,
    /// The broker refused the access token: trading halted.
    TokenRejected,
    /// No tick from the broker's feed for longer than allowed while the market is open.
    FeedSilent,
    /// The store's server is down and the local outbox keeps growing.
    StoreDisconnected,
    /// An actor restarted more than the allowed number of times in the window.
    RestartStorm,
    /// The exchange rejected an order (pushed over KiteTicker the moment it happened), with
    /// the exchange's reason.
    OrderRejected,
    /// Periodic reconciliation found the broker's positions or open orders differing from the
    /// book (the same difference at two looks in a row).
    BookDivergence,
    /// The daily refresh of the instrument dump failed (download, truncated or empty dump, an
    /// underlying missing, stale contracts): trading continues from the cached dump.
    InstrumentsRefreshFailed,
}

impl AlarmKind {
    /// Every kind, in declaration order.
    pub const ALL: [AlarmKind; 14] = [
        AlarmKind::ExitNotFilled,
        AlarmKind::ExitUnmanaged,
        AlarmKind::EntryShortfall,
        AlarmKind::EntryUnknownOutcome,
        AlarmKind::DailyLossHalt,
        AlarmKind::ProfitLockHalt,
        AlarmKind::ConsecutiveLossHalt,
        AlarmKind::TokenRejected,
        AlarmKind::FeedSilent,
        AlarmKind::StoreDisconnected,
        AlarmKind::RestartStorm,
        AlarmKind::OrderRejected,
        AlarmKind::BookDivergence,
        AlarmKind::InstrumentsRefreshFailed,
    ];

    /// The snake_case name (as in JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::ExitNotFilled => "exit_not_filled",
            AlarmKind::ExitUnmanaged => "exit_unmanaged",
            AlarmKind::EntryShortfall => "entry_shortfall",
            AlarmKind::EntryUnknownOutcome => "entry_unknown_outcome",
            AlarmKind::DailyLossHalt => "daily_loss_halt",
            AlarmKind::ProfitLockHalt => "profit_lock_halt",
            AlarmKind::ConsecutiveLossHalt => "consecutive_loss_halt",
            AlarmKind::TokenRejected => "token_rejected",
            AlarmKind::FeedSilent => "feed_silent",
            AlarmKind::StoreDisconnected => "store_disconnected",
            AlarmKind::RestartStorm => "restart_storm",
            AlarmKind::OrderRejected => "order_rejected",
            AlarmKind::BookDivergence => "book_divergence",
            AlarmKind::InstrumentsRefreshFailed => "instruments_refresh_failed",
        }
    }

    /// How urgent this kind is: critical when money is at risk or trading stopped unasked.
    pub fn severity(self) -> Severity {
        match self {
            AlarmKind::ExitNotFilled
            | AlarmKind::ExitUnmanaged
            | AlarmKind::EntryUnknownOutcome
            | AlarmKind::TokenRejected
            | AlarmKind::FeedSilent
            | AlarmKind::StoreDisconnected
            | AlarmKind::RestartStorm
            | AlarmKind::OrderRejected
            | AlarmKind::BookDivergence
            | AlarmKind::InstrumentsRefreshFailed => Severity::Critical,
            AlarmKind::EntryShortfall
            | AlarmKind::DailyLossHalt
            | AlarmKind::ProfitLockHalt
            | AlarmKind::ConsecutiveLossHalt => Severity::Warning,
        }
    }
}

impl std::fmt::Display for AlarmKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgent an alarm is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// One alarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alarm {
    pub kind: AlarmKind,
    pub severity: Severity,
    /// When it was raised (wall clock).
    pub at: DateTime<Utc>,
    /// What happened and what to do, in words.
    pub message: String,
    /// The underlying or option it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_id: Option<String>,
    /// Broker order ids or tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The actor it is about (restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

impl Alarm {
    /// An alarm of `kind` (its usual severity), now, saying `message`.
    pub fn new(kind: AlarmKind, message: impl Into<String>) -> Self {
        Alarm {
            kind,
            severity: kind.severity(),
            at: Utc::now(),
            message: message.into(),
            symbol: None,
            position_id: None,
            signal_id: None,
            order: None,
            actor: None,
        }
    }

    pub fn symbol(mut self, s: impl Into<String>) -> Self {
        self.symbol = Some(s.into());
        self
    }

    pub fn position(mut self, p: impl std::fmt::Display) -> Self {
        self.position_id = Some(p.to_string());
        self
    }

    pub fn signal(mut self, s: impl std::fmt::Display) -> Self {
        self.signal_id = Some(s.to_string());
        self
    }

    pub fn order(mut self, o: impl Into<String>) -> Self {
        self.order = Some(o.into());
        self
    }

    pub fn actor(mut self, a: impl Into<String>) -> Self {
        self.actor = Some(a.into());
        self
    }

    /// The named data fields that are set, in a fixed order.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("symbol", &self.symbol),
            ("position_id", &self.position_id),
            ("signal_id", &self.signal_id),
            ("order", &self.order),
            ("actor", &self.actor),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// An alarm for the Notifier (fire and forget).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RaiseAlarm(pub Alarm);

/// The Notifier's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifierStats {
    /// Alarms received.
    pub raised: u64,
    /// Alarms held back by the rate limit.
    pub suppressed: u64,
    /// Posts a webhook accepted (one per alarm and webhook).
    pub posted: u64,
    /// Posts given up (attempts exhausted or refused).
    pub failed: u64,
    /// Attempts after the first.
    pub retries: u64,
    /// Posts not tried because too many were under way and waiting.
    pub dropped: u64,
    /// Posts under way.
    pub in_flight: u64,
    /// Posts waiting for one under way to end.
    #[serde(default)]
    pub queued: u64,
}

/// The Notifier's counters, for `ctl` and tests.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "NotifierStats")]
pub struct GetNotifierStats;
