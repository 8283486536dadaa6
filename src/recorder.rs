//! **SignalRecorder** — writes every published signal as one JSON line (`signals.jsonl`).
//!
//! - Owns: the output file.
//! - Handles: [`SignalsPublished`] (subscribed at SignalManager: each commit's signals in one
//!   message), [`Finish`].
//! - Sends: nothing.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use actix::{Actor, Context, Handler, Message};
use messages::msg::SignalsPublished;

/// Flushes the file; replies with the number of lines written.
#[derive(Message)]
#[rtype(result = "std::io::Result<u64>")]
pub struct Finish;

/// The recorder actor.
pub struct SignalRecorder {
    out: BufWriter<File>,
    lines: u64,
    error: Option<std::io::Error>,
}

impl SignalRecorder {
    /// Creates (truncating) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        Ok(SignalRecorder {
            out: BufWriter::new(File::create(path)?),
            lines: 0,
            error: None,
        })
    }
}

impl Actor for SignalRecorder {
    type Context = Context<Self>;
}

impl Handler<SignalsPublished> for SignalRecorder {
    type Result = ();

    fn handle(&mut self, msg: SignalsPublished, _ctx: &mut Context<Self>) {
        for signal in &msg.0 {
            if self.error.is_some() {
                return;
            }
            let res = serde_json::to_writer(&mut self.out, signal.as_ref())
                .map_err(std::io::Error::other)
                .and_then(|_| self.out.write_all(b"\n"));
            match res {
                Ok(()) => self.lines += 1,
                Err(e) => {
                    log::error!("recorder: cannot write signals.jsonl: {e}");
                    self.error = Some(e);
                }
            }
        }
    }
}

impl Handler<Finish> for SignalRecorder {
    type Result = std::io::Result<u64>;

    fn handle(&mut self, _: Finish, _ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.lines)
    }
}
