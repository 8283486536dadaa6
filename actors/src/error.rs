//! The actors crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the actors crate, with the context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    ConfigRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid JSON or does not fit the schema.
    #[error("config {path}: at `{json_path}`: {message}")]
    ConfigParse {
        path: PathBuf,
        json_path: String,
        message: String,
    },
    /// A config value is out of range.
    #[error("config {path}: at `{json_path}`: value {value} {reason}")]
    ConfigInvalid {
        path: PathBuf,
        json_path: String,
        value: String,
        reason: String,
    },
    /// A replay file could not be read.
    #[error("cannot read {path}: {source}")]
    DataRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The temporary file a replay keeps its checked bars in failed.
    #[error("replay of {path}: the temporary file of its checked bars: {source}")]
    Spill {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A replay file has a bad row.
    #[error("{path}: line {line}: {message}")]
    DataRow {
        path: PathBuf,
        line: u64,
        message: String,
    },
    /// The database of truth does not answer at start. The engine recovers its book, decided
    /// signals and history from the server's rows plus the local outbox; without the server
    /// that view is partial, and the engine does not trade on a partial view.
    #[error("store ({backend}): the server does not answer at start ({reason}); {pending} rows wait in the local outbox. Not starting: the engine recovers positions, decided signals and history from the server plus the outbox and never trades on a partial view. Start it again once the server answers (exit code 75: try again later)")]
    StoreUnavailableAtStart {
        backend: String,
        reason: String,
        pending: u64,
    },
    /// Alerts cannot start (the HTTP client).
    #[error("alerts: {0}")]
    Alerts(String),
    /// The store failed.
    #[error("store ({backend}): {context}: {message}")]
    Store {
        backend: &'static str,
        context: String,
        message: String,
    },
}

impl Error {
    /// A store error with its context.
    pub fn store(
        backend: &'static str,
        context: impl Into<String>,
        e: impl std::fmt::Display,
    ) -> Self {
        Error::Store {
            backend,
            context: context.into(),
            message: e.to_string(),
        }
    }
}

/// Result with the crate's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
