//! A parameter sweep's results in ClickHouse's `sweep_results` table (`alphastocks sweep
//! --store clickhouse`): one row per run, every shard of a sweep under one `sweep_id`, so runs
//! spread over many machines meet in one table of the shared server.
//!
//! Written straight to the server, not through the engine's outbox: the schema is applied
//! when the table is opened, before the sweep runs anything (a server that does not answer
//! stops the sweep at the start), and the rows go in one INSERT at the end. The sweep's
//! `sweep.csv` is the local record; rows written again (a sweep run twice) replace their
//! earlier version (ReplacingMergeTree on `(sweep_id, run)`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::clickhouse::{apply_migrations, client, insert_all, Worker};
use crate::config::ClickHouse as ChConfig;
use crate::error::Result;
use crate::stats::tearsheet::Tearsheet;

/// One row of `sweep_results` (column order of `schema/015_sweep_results.sql`).
#[derive(Debug, Clone, PartialEq, ::clickhouse::Row, Serialize, Deserialize)]
pub struct SweepResult {
    #[serde(with = "::clickhouse::serde::uuid")]
    pub sweep_id: Uuid,
    pub run: u32,
    /// `I/N` of the shard that ran it.
    pub shard: String,
    pub host: String,
    pub param_paths: Vec<String>,
    pub param_values: Vec<f64>,
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub win_rate_pct: f64,
    pub gross_pnl: f64,
    pub charges: f64,
    pub net_pnl: f64,
    pub profit_factor: Option<f64>,
    pub expectancy: f64,
    pub avg_win: f64,
    pub avg_loss: f64,
    pub payoff_ratio: Option<f64>,
    pub max_consecutive_wins: u64,
    pub max_consecutive_losses: u64,
    pub max_drawdown: f64,
    pub max_drawdown_pct: f64,
    pub max_drawdown_days: u64,
    pub cagr_pct: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub calmar: Option<f64>,
    pub exposure_pct: f64,
    pub trades_per_day: f64,
    #[serde(with = "::clickhouse::serde::chrono::datetime")]
    pub finished_at: DateTime<Utc>,
}

/// Who ran a row, and with what.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOf {
    pub sweep_id: Uuid,
    pub run: u32,
    pub shard: String,
    pub host: String,
    pub params: Vec<(String, f64)>,
    pub finished_at: DateTime<Utc>,
}

impl SweepResult {
    pub fn new(r: RunOf, f: Tearsheet) -> SweepResult {
        let (param_paths, param_values) = r.params.into_iter().unzip();
        SweepResult {
            sweep_id: r.sweep_id,
            run: r.run,
            shard: r.shard,
            host: r.host,
            param_paths,
            param_values,
            trades: f.trades,
            wins: f.wins,
            losses: f.losses,
            win_rate_pct: f.win_rate_pct,
            gross_pnl: f.gross_pnl,
            charges: f.charges,
            net_pnl: f.net_pnl,
            profit_factor: f.profit_factor,
            expectancy: f.expectancy,
            avg_win: f.avg_win,
            avg_loss: f.avg_loss,
            payoff_ratio: f.payoff_ratio,
            max_consecutive_wins: f.max_consecutive_wins,
            max_consecutive_losses: f.max_consecutive_losses,
            max_drawdown: f.max_drawdown,
            max_drawdown_pct: f.max_drawdown_pct,
            max_drawdown_days: f.max_drawdown_days,
            cagr_pct: f.cagr_pct,
            sharpe: f.sharpe,
            sortino: f.sortino,
            calmar: f.calmar,
            exposure_pct: f.exposure_pct,
            trades_per_day: f.trades_per_day,
            finished_at: r.finished_at,
        }
    }
}

/// The `sweep_results` table of one server and database, schema applied.
pub struct SweepTable {
    worker: Worker,
    db: String,
}

impl SweepTable {
    /// Connects, creates the database and applies the migrations (as `db init` does).
    pub fn open(cfg: &ChConfig) -> Result<SweepTable> {
        let worker = Worker::spawn(client(cfg), Duration::from_secs(cfg.timeout_seconds))?;
        apply_migrations(&worker, &cfg.database)?;
        Ok(SweepTable {
            worker,
            db: cfg.database.clone(),
        })
    }

    /// `database.sweep_results`.
    pub fn name(&self) -> String {
        format!("{}.sweep_results", self.db)
    }

    /// Inserts `rows` in one INSERT.
    pub fn insert(&self, rows: Vec<SweepResult>) -> Result<()> {
        let db = self.db.clone();
        self.worker
            .call("insert sweep_results", move |c| async move {
                insert_all(&c.with_database(db), "sweep_results", rows).await
            })
    }
}
