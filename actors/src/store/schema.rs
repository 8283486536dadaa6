//! The ClickHouse schema as versioned migrations, embedded from `schema/*.sql`.
//!
//! Each file is one migration, applied once and recorded in `schema_migrations`; a later change
//! to the data model is a new file (an `ALTER`, or a new table plus an `INSERT … SELECT`), never
//! an edit of an applied one. The files name the database `alphastocks.`; it is replaced by the
//! configured database when applied.

/// (version, name, SQL) of every migration, in order.
pub const MIGRATIONS: [(u32, &str, &str); 15] = [
    (
        1,
        "001_market_data",
        include_str!("../../../schema/001_market_data.sql"),
    ),
    (
        2,
        "002_historical_data",
        include_str!("../../../schema/002_historical_data.sql"),
    ),
    (
        3,
        "003_trading_signals",
        include_str!("../../../schema/003_trading_signals.sql"),
    ),
    (
        4,
        "004_options_data",
        include_str!("../../../schema/004_options_data.sql"),
    ),
    (
        5,
        "005_positions",
        include_str!("../../../schema/005_positions.sql"),
    ),
    (
        6,
        "006_performance_metrics",
        include_str!("../../../schema/006_performance_metrics.sql"),
    ),
    (
        7,
        "007_executor_decisions",
        include_str!("../../../schema/007_executor_decisions.sql"),
    ),
    (
        8,
        "008_decision_detail",
        include_str!("../../../schema/008_decision_detail.sql"),
    ),
    (
        9,
        "009_audit_events",
        include_str!("../../../schema/009_audit_events.sql"),
    ),
    (
        10,
        "010_positions_remaining",
        include_str!("../../../schema/010_positions_remaining.sql"),
    ),
    (
        11,
        "011_positions_strategy",
        include_str!("../../../schema/011_positions_strategy.sql"),
    ),
    (
        12,
        "012_decisions_strategy",
        include_str!("../../../schema/012_decisions_strategy.sql"),
    ),
    (
        13,
        "013_strategy_performance",
        include_str!("../../../schema/013_strategy_performance.sql"),
    ),
    (
        14,
        "014_positions_charges",
        include_str!("../../../schema/014_positions_charges.sql"),
    ),
    (
        15,
        "015_sweep_results",
        include_str!("../../../schema/015_sweep_results.sql"),
    ),
];

/// The tables the schema creates.
pub const TABLES: [&str; 7] = [
    "market_data",
    "historical_data",
    "trading_signals",
    "options_data",
    "positions",
    "performance_metrics",
    "executor_decisions",
];

/// The tables later migrations create (after [`TABLES`]).
pub const LATER_TABLES: [&str; 3] = ["audit_events", "strategy_performance", "sweep_results"];
/// The migration's SQL for database `db`, without comments or the trailing `;`.
pub fn statement(sql: &str, db: &str) -> String {
    let body: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.trim()
        .trim_end_matches(';')
        .replace("alphastocks.", &format!("{db}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_one_create_table_of_its_table() {
        // The first seven create the tables; later ones alter them.
        for ((v, name, sql), table) in MIGRATIONS.iter().zip(TABLES) {
            let st = statement(sql, "x");
            assert!(name.starts_with(&format!("{v:03}_")));
            assert!(
                st.starts_with(&format!("CREATE TABLE IF NOT EXISTS x.{table}")),
                "{st}"
            );
            assert!(!st.contains(';'), "one statement: {name}");
        }
        for (v, name, sql) in &MIGRATIONS[TABLES.len()..] {
            let st = statement(sql, "x");
            assert!(name.starts_with(&format!("{v:03}_")));
            assert!(
                st.starts_with("ALTER TABLE x.") || st.starts_with("CREATE TABLE IF NOT EXISTS x."),
                "{st}"
            );
            assert!(!st.contains(';'), "one statement: {name}");
        }
    }
}
