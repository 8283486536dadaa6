//! The binary library's one error type.

/// What can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Config, data or store errors from the actors crate (they carry their own context).
    #[error(transparent)]
    Actors(#[from] actors::Error),
    /// The command line asks for something impossible.
    #[error("{0}")]
    Usage(String),
    /// An actor stopped answering.
    #[error("an actor stopped answering: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// A replay skipped or dropped more of its input than allowed (its summary was printed).
    #[error("{0}")]
    Incomplete(String),
    /// Part of a command's work failed (what did not is written; the message says what).
    #[error("{0}")]
    Failed(String),
    /// A file could not be written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl AppError {
    /// The process exit code: 2 for bad input (config, command line, data file), 3 for a
    /// replay that lost more of its input than allowed, 75 (try again later) when the store's
    /// server does not answer at start, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Actors(actors::Error::StoreUnavailableAtStart { .. }) => 75,
            AppError::Usage(_) => 2,
            AppError::Incomplete(_) => 3,
            AppError::Actors(
                actors::Error::ConfigRead { .. }
                | actors::Error::ConfigParse { .. }
                | actors::Error::ConfigInvalid { .. }
                | actors::Error::DataRead { .. }
                | actors::Error::DataRow { .. },
            ) => 2,
            _ => 1,
        }
    }
}
