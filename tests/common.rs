//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use actors::config::Config;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed sample dataset.
pub fn sample() -> PathBuf {
    root().join("data/sample/nifty_15minute.csv")
}

/// The default config as JSON, for tests to modify.
pub fn default_json() -> serde_json::Value {
    serde_json::from_str(actors::config::DEFAULT_JSON).expect("default config is JSON")
}

/// The default config with its data directory moved into `dir`.
pub fn config_in(dir: &Path) -> Config {
    let mut v = default_json();
    v["storage"]["data_dir"] = dir.join("data").to_string_lossy().into_owned().into();
    serde_json::from_value(v).expect("config")
}

/// Writes `v` as a config file in `dir`.
pub fn write_config(dir: &Path, v: &serde_json::Value) -> PathBuf {
    let p = dir.join("config.json");
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

/// Row count of a table in the engine's SQLite store.
pub fn count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}
