//! **ControlActor** — the CLI actor: operator commands to the running engine.
//!
//! - Owns: the trading state (mode, paused, halted by the operator or by the broker refusing
//!   the access token), the engine start time, the control socket
//!   (a Unix socket, mode 0600, removed on exit; a stale socket left by a crash is replaced, a
//!   live one is never stolen, and a path holding anything but a socket is refused, never
//!   removed) and the optional Prometheus endpoint.
//! - Handles: [`ControlLine`] — one line of JSON from `alphastocks ctl`, answered with one line;
//!   [`BrokerHalt`] from the run loop (the access token refused); [`MarketClosed`] from the run
//!   loop (the trading calendar says today is closed, or open again); [`SimFeedStarted`] from
//!   the run loop (the simulated feed's address, for `ctl crash sim_feed`).
//! - Sends: [`SetTrading`] to OptionsExecutor; [`FlattenAll`] to PositionManager;
//!   [`InjectPanic`] to any actor (only with `--allow-fault-injection`); [`Persist`] of an
//!   [`AuditEvent`] for every command to DbWriter; [`GetWriterStats`], [`GetPositionSummary`]
//!   for `status`; the shutdown request to the run loop; for `kite_token`, the broker's
//!   positions and orders read with the new token, [`GetOpenPositions`] to PositionManager and
//!   the resume signal to the run loop.
//!
//! Requests are `{"cmd": "status"}`, `{"cmd": "metrics"}`, `{"cmd": "pause"}`, `{"cmd":
//! "resume"}`, `{"cmd": "mode", "mode": "paper", "confirm": false}`, `{"cmd": "halt"}`, `{"cmd":
//! "flatten"}`, `{"cmd": "shutdown"}`, `{"cmd": "crash", "actor": "strategy"}`, `{"cmd":
//! "kite_token", "token": "…"}` (a new access token: checked, used, never logged or echoed;
//! see [`kite`]). Replies are
//! `{"ok": true, "result": …}` or `{"ok": false, "error": "…"}`. A request line is at most
//! [`MAX_REQUEST_BYTES`]; error replies quote at most a clipped part of the request.

use std::path::{Path, PathBuf};
use std::time::Instant;

use actix::{
    fut, Actor, ActorFutureExt, Addr, Context, Handler, Message, ResponseActFuture, WrapFuture,
};
use actors::data_manager::DataManager;
use actors::db_writer::DbWriter;
use actors::metrics::{Registry, Tracked};
use actors::options_executor::OptionsExecutor;
use actors::position_manager::PositionManager;
use actors::signal_manager::SignalManager;
use actors::strategy::Strategy;
use messages::msg::*;
use messages::{AuditEvent, Mode, Row};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::error::AppError;
use crate::system::Engine;

mod kite;
mod status;
pub use kite::KiteControl;
pub use status::GetStatus;
use status::{progress_of, strategy_rows};

/// One request line; the reply is one line.
#[derive(Message)]
#[rtype(result = "String")]
pub struct ControlLine(pub String);

/// The trading calendar's verdict on the engine's day: `Some(why)` closed (a holiday or a
/// weekend: no new orders, `ctl status` says `closed`), `None` open.
#[derive(Message, Debug, Clone, PartialEq)]
#[rtype(result = "()")]
pub struct MarketClosed(pub Option<String>);

/// `run`'s simulated feed runs (started after the control socket): `ctl crash sim_feed` reaches
/// it.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SimFeedStarted(pub Tracked<actors::sim_feed::SimFeed>);

/// The broker refused the session (token error): halt, as the kill switch does, until a new
/// token is accepted (`ctl kite token`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct BrokerHalt(pub String);

/// One parsed request (see the module doc for the wire form).
#[derive(Debug, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    Status,
    Metrics,
    Pause,
    Resume,
    Mode {
        mode: Mode,
        #[serde(default)]
        confirm: bool,
    },
    Halt,
    Flatten,
    Positions,
    Close {
        position: String,
        price: f64,
    },
    Shutdown,
    Crash {
        actor: String,
    },
    Strategy {
        action: StrategyAction,
        #[serde(default)]
        name: Option<String>,
    },
    /// A new access token for the broker (never logged, never echoed).
    KiteToken {
        token: SecretToken,
    },
}

/// A secret from a request: its `Debug` never shows it.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct SecretToken(pub String);

impl std::fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What `{"cmd": "strategy"}` asks: the list, or to pause or resume the instance `name`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyAction {
    List,
    Pause,
    Resume,
}

/// The CLI actor.
pub struct ControlActor {
    data: Tracked<DataManager>,
    /// The strategy instances by name.
    strategies: Vec<(String, Tracked<Strategy>)>,
    strategy_info: Vec<crate::system::StrategyInfo>,
    signals: Tracked<SignalManager>,
    executor: Tracked<OptionsExecutor>,
    positions: Tracked<PositionManager>,
    db: Tracked<DbWriter>,
    audit_to: Tracked<DbWriter>,
    metrics: Registry,
    mode: Mode,
    paused: bool,
    /// The operator's kill switch.
    halted: bool,
    /// The broker refused the token: lifted only by a new token the broker accepts.
    broker_halted: bool,
    /// Today is closed by the trading calendar (why): no new orders until an open day.
    closed: Option<String>,
    kite: Option<KiteControl>,
    started: Instant,
    feed: String,
    allow_faults: bool,
    shutdown: mpsc::UnboundedSender<()>,
    broker: Option<Tracked<actors::broker::Broker>>,
    sim_feed: Option<Tracked<actors::sim_feed::SimFeed>>,
    live_enabled: bool,
}

impl ControlActor {
    /// A control actor over `engine`.
    pub fn new(
        engine: &Engine,
        live_enabled: bool,
        mode: Mode,
        feed: &str,
        allow_faults: bool,
        shutdown: mpsc::UnboundedSender<()>,
    ) -> Self {
        ControlActor {
            data: engine.data.clone(),
            strategies: engine.strategies.clone(),
            strategy_info: engine.strategy_info.clone(),
            signals: engine.signals.clone(),
            executor: engine.executor.clone(),
            positions: engine.positions.clone(),
            db: engine.db.clone(),
            audit_to: engine.db.clone(),
            metrics: engine.metrics.clone(),
            mode,
            paused: false,
            halted: false,
            broker_halted: false,
            closed: None,
            kite: None,
            started: Instant::now(),
            feed: feed.to_string(),
            allow_faults,
            shutdown,
            broker: engine.broker.clone(),
            sim_feed: None,
            live_enabled,
        }
    }

    /// With the broker: `ctl kite token` and the token's state in `ctl status`.
    pub fn with_kite(mut self, kite: KiteControl) -> Self {
        self.kite = Some(kite);
        self
    }

    fn trading_state(&self) -> &'static str {
        if self.halted || self.broker_halted {
            "halted"
        } else if self.closed.is_some() {
            "closed"
        } else if self.paused {
            "paused"
        } else {
            "active"
        }
    }

    fn audit(&self, action: &str, detail: String, ok: bool) {
        log::warn!(
            "control: {action} {detail} ({})",
            if ok { "done" } else { "refused" }
        );
        self.audit_to
            .do_send(Persist(vec![Row::Audit(Box::new(AuditEvent {
                timestamp: chrono::Utc::now(),
                action: action.to_string(),
                detail,
                ok,
            }))]));
    }

    fn set_trading(&self) {
        self.executor.do_send(SetTrading {
            paused: Some(self.paused),
            halted: Some(self.halted || self.broker_halted || self.closed.is_some()),
            mode: Some(self.mode),
        });
    }
}

/// Parses one request line. The error is the reply's text: it quotes at most 120 characters
/// of the request and 200 of the parser's message.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| {
        if line.to_ascii_lowercase().contains("token") {
            // It may hold an access token: neither the request nor the parser's words (which
            // can quote values) are repeated.
            return format!(
                "bad request (not quoted: it may hold a secret): a {} error at column {}; expected {{\"cmd\":\"kite_token\",\"token\":\"…\"}}",
                match e.classify() {
                    serde_json::error::Category::Io => "read",
                    serde_json::error::Category::Syntax => "JSON syntax",
                    serde_json::error::Category::Data => "field",
                    serde_json::error::Category::Eof => "truncated JSON",
                },
                e.column()
            );
        }
        format!(
            "bad request {:?}: {} (expected e.g. {{\"cmd\":\"status\"}}; commands: status, metrics, pause, resume, mode, halt, flatten, positions, close, shutdown, crash, strategy, kite_token)",
            clip(line.trim(), 120),
            clip(&e.to_string(), 200)
        )
    })
}

/// The reply line for an error (its text clipped to 512 characters).
pub fn error_reply(e: impl std::fmt::Display) -> String {
    err(e)
}

fn ok(v: Value) -> String {
    json!({"ok": true, "result": v}).to_string()
}

fn err(e: impl std::fmt::Display) -> String {
    json!({"ok": false, "error": clip(&e.to_string(), MAX_ERROR_CHARS)}).to_string()
}

/// `s` cut to `max` characters, saying how much was left out.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}… ({} more bytes not shown)", &s[..at], s.len() - at),
    }
}

impl Actor for ControlActor {
    type Context = Context<Self>;
}

impl Handler<BrokerHalt> for ControlActor {
    type Result = ();

    fn handle(&mut self, msg: BrokerHalt, _ctx: &mut Context<Self>) {
        if !self.broker_halted {
            self.broker_halted = true;
            self.set_trading();
            self.audit("halt", format!("broker: {}", msg.0), true);
        }
    }
}

impl Handler<SimFeedStarted> for ControlActor {
    type Result = ();

    fn handle(&mut self, msg: SimFeedStarted, _ctx: &mut Context<Self>) {
        self.sim_feed = Some(msg.0);
    }
}

impl Handler<MarketClosed> for ControlActor {
    type Result = ();

    fn handle(&mut self, msg: MarketClosed, _ctx: &mut Context<Self>) {
        if self.closed != msg.0 {
            let detail = match &msg.0 {
                Some(why) => format!("calendar: {why}: no trading today"),
                None => "calendar: an open trading day".to_string(),
            };
            self.closed = msg.0;
            self.set_trading();
            self.audit("calendar", detail, true);
        }
    }
}

impl Handler<ControlLine> for ControlActor {
    type Result = ResponseActFuture<Self, String>;

    fn handle(&mut self, msg: ControlLine, _ctx: &mut Context<Self>) -> Self::Result {
        let req = match parse_request(&msg.0) {
            Ok(r) => r,
            Err(e) => return Box::pin(fut::ready(err(e))),
        };
        let done = |s: String| -> Self::Result { Box::pin(fut::ready(s)) };
        match req {
            Request::Strategy { action, name } => {
                let known = |n: &str| self.strategy_info.iter().any(|i| i.name == n);
                let paused = match (action, name) {
                    (StrategyAction::List, _) => None,
                    (StrategyAction::Pause | StrategyAction::Resume, None) => {
                        return done(err("strategy pause/resume needs the instance's name"));
                    }
                    (a, Some(n)) if !known(&n) => {
                        let what = if matches!(a, StrategyAction::Pause) {
                            "strategy_pause"
                        } else {
                            "strategy_resume"
                        };
                        self.audit(what, format!("unknown instance {n:?}"), false);
                        return done(err(format!(
                            "unknown strategy instance {n:?}: running are {}",
                            self.strategy_info
                                .iter()
                                .map(|i| i.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    (a, Some(n)) => Some((n, matches!(a, StrategyAction::Pause))),
                };
                if let Some((n, p)) = &paused {
                    // Ahead of the listing below in the executor's mailbox.
                    self.executor.do_send(SetStrategyPaused {
                        strategy: n.clone(),
                        paused: *p,
                    });
                    self.audit(
                        if *p {
                            "strategy_pause"
                        } else {
                            "strategy_resume"
                        },
                        n.clone(),
                        true,
                    );
                }
                let (ex, info, metrics) = (
                    self.executor.clone(),
                    self.strategy_info.clone(),
                    self.metrics.clone(),
                );
                let strategies = self.strategies.clone();
                Box::pin(
                    async move {
                        let progress = progress_of(&strategies).await;
                        (ex.send(GetExecutorStats).await, progress)
                    }
                    .into_actor(self)
                    .map(move |(stats, progress), _, _| match stats {
                        Ok(x) => ok(json!(strategy_rows(&info, &x, &metrics, &progress))),
                        Err(e) => err(format!("the executor did not answer: {e}")),
                    }),
                )
            }
            Request::Metrics => done(ok(json!(self.metrics.snapshot()))),
            Request::Pause => {
                self.paused = true;
                self.set_trading();
                self.audit("pause", String::new(), true);
                done(ok(json!({"trading": self.trading_state()})))
            }
            Request::Resume => {
                self.paused = false;
                self.halted = false;
                self.set_trading();
                self.audit("resume", String::new(), true);
                let mut v = json!({"trading": self.trading_state()});
                if self.broker_halted {
                    v["note"] = json!("still halted: the broker refused the access token; give a new one with `ctl kite token`");
                } else if let Some(why) = &self.closed {
                    v["note"] = json!(format!(
                        "still closed: {why} (the trading calendar; market.holiday_files)"
                    ));
                }
                done(ok(v))
            }
            Request::KiteToken { token } => self.new_token(token.0),
            Request::Halt => {
                self.halted = true;
                self.set_trading();
                self.audit(
                    "halt",
                    "kill switch: no new orders until resume".into(),
                    true,
                );
                done(ok(json!({"trading": self.trading_state()})))
            }
            Request::Mode { mode, confirm } => {
                if mode == Mode::Live {
                    let why = if self.broker.is_none() {
                        Some("live mode needs the broker: this engine was started without --feed kite")
                    } else if !self.live_enabled {
                        Some("live mode is off in the config (kite.live_trading_enabled = false)")
                    } else if !confirm {
                        Some("live mode places real orders: repeat with --confirm")
                    } else {
                        None
                    };
                    if let Some(why) = why {
                        self.audit("mode", format!("live refused: {why}"), false);
                        return done(err(why));
                    }
                }
                let from = self.mode;
                self.mode = mode;
                self.set_trading();
                self.audit(
                    "mode",
                    format!("{} -> {}", from.as_str(), mode.as_str()),
                    true,
                );
                done(ok(json!({"mode": mode.as_str()})))
            }
            Request::Shutdown => {
                self.audit(
                    "shutdown",
                    "graceful: stop the feed, drain, flush".into(),
                    true,
                );
                let _ = self.shutdown.send(());
                done(ok(json!({"shutdown": "started"})))
            }
            Request::Crash { actor } => {
                if !self.allow_faults {
                    self.audit(
                        "crash",
                        format!("{actor} refused (no --allow-fault-injection)"),
                        false,
                    );
                    return done(err(
                        "fault injection is off: start the engine with --allow-fault-injection",
                    ));
                }
                let sent = match actor.as_str() {
                    "data_manager" => self.data.try_send(InjectPanic).is_ok(),
                    // `strategy` alone: the first instance; `strategy:NAME`: that one.
                    "strategy" => self
                        .strategies
                        .first()
                        .is_some_and(|(_, s)| s.try_send(InjectPanic).is_ok()),
                    name if name.starts_with("strategy:") => match self
                        .strategies
                        .iter()
                        .find(|(n, _)| Some(n.as_str()) == name.strip_prefix("strategy:"))
                    {
                        Some((_, s)) => s.try_send(InjectPanic).is_ok(),
                        None => {
                            self.audit("crash", format!("unknown actor {name:?}"), false);
                            return done(err(format!(
                                "unknown strategy instance {name:?}: running are {}",
                                self.strategies
                                    .iter()
                                    .map(|(n, _)| format!("strategy:{n}"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )));
                        }
                    },
                    "signal_manager" => self.signals.try_send(InjectPanic).is_ok(),
                    "options_executor" => self.executor.try_send(InjectPanic).is_ok(),
                    "position_manager" => self.positions.try_send(InjectPanic).is_ok(),
                    "db_writer" => self.db.try_send(InjectPanic).is_ok(),
                    "broker" => self
                        .broker
                        .as_ref()
                        .is_some_and(|b| b.try_send(InjectPanic).is_ok()),
                    "sim_feed" => self
                        .sim_feed
                        .as_ref()
                        .is_some_and(|f| f.try_send(InjectPanic).is_ok()),
                    other => {
                        self.audit("crash", format!("unknown actor {other:?}"), false);
                        return done(err(format!(
                            "unknown actor {other:?}: expected data_manager, strategy, strategy:NAME, signal_manager, options_executor, position_manager, db_writer, broker or sim_feed"
                        )));
                    }
                };
                self.audit("crash", actor.clone(), sent);
                if sent {
                    done(ok(json!({"crashed": actor})))
                } else {
                    done(err(format!("{actor}'s mailbox did not take the fault")))
                }
            }
            Request::Flatten => {
                self.audit(
                    "flatten",
                    "close every open position now (live ones: exit orders at the broker)".into(),
                    true,
                );
                Box::pin(
                    self.positions
                        .send(FlattenAll)
                        .into_actor(self)
                        .map(|r, _, _| match r {
                            Ok(n) => ok(json!({"closed": n})),
                            Err(e) => err(format!("PositionManager did not answer: {e}")),
                        }),
                )
            }
            Request::Positions => Box::pin(
                self.positions
                    .send(GetOpenPositions)
                    .into_actor(self)
                    .map(|r, _, _| match r {
                        Ok(list) => ok(json!(list)),
                        Err(e) => err(format!("PositionManager did not answer: {e}")),
                    }),
            ),
            Request::Close { position, price } => {
                let (lo, hi) = (actors::config::MIN_PRICE, actors::config::MAX_PRICE);
                if !(lo..=hi).contains(&price) {
                    self.audit(
                        "close",
                        format!("{} refused: price {price}", clip(&position, 40)),
                        false,
                    );
                    return done(err(format!(
                        "price {price} is out of range: a premium from {lo} to {hi}"
                    )));
                }
                let what = format!("{position} at {price} (operator-asserted, no order)");
                Box::pin(
                    self.positions
                        .send(ClosePosition { position, price })
                        .into_actor(self)
                        .map(move |r, act, _| match r {
                            Ok(Ok(rec)) => {
                                act.audit(
                                    "close",
                                    format!(
                                        "{what}: {} realized ₹{:.2}, charges ₹{:.2}, net ₹{:.2}",
                                        rec.option_symbol,
                                        rec.realized_pnl,
                                        rec.charges.total as f64 / 100.0,
                                        rec.net_pnl
                                    ),
                                    true,
                                );
                                ok(json!(rec))
                            }
                            Ok(Err(e)) => {
                                act.audit("close", format!("{what}: refused: {e}"), false);
                                err(e)
                            }
                            Err(e) => err(format!("PositionManager did not answer: {e}")),
                        }),
                )
            }
            Request::Status => Box::pin(self.status().map(|v, _, _| ok(v))),
        }
    }
}

/// The longest request line the socket reads (64 KiB; real requests are under 200 bytes). A
/// longer one is refused and its connection closed, without reading or echoing the rest.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Connections served at once: each may hold a request buffer of up to [`MAX_REQUEST_BYTES`],
/// so memory stays under MAX_CONNECTIONS × 64 KiB whatever a client does.
pub const MAX_CONNECTIONS: usize = 32;

/// The longest error text a reply carries (it may quote the request).
const MAX_ERROR_CHARS: usize = 512;

/// What is at the socket path before `run` binds it.
#[derive(Debug, PartialEq, Eq)]
pub enum SocketPath {
    /// Nothing: the socket can be created.
    Free,
    /// A socket nobody listens on (left by a crashed run): it can be replaced.
    Stale,
}

/// Checks the control socket's path without touching it: free, or a stale socket that may be
/// replaced. Anything else — a regular file (the database, say), a directory, a symlink, a
/// socket another engine answers on, a socket that cannot be probed — is an error naming the
/// path and what is there; such a file is never removed.
pub fn check_socket_path(path: &Path) -> Result<SocketPath, AppError> {
    use std::os::unix::fs::FileTypeExt;
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SocketPath::Free),
        Err(source) => {
            return Err(AppError::Io {
                context: format!("control.socket {}: cannot inspect it", path.display()),
                source,
            })
        }
    };
    let ft = meta.file_type();
    if !ft.is_socket() {
        let what = if ft.is_symlink() {
            "a symbolic link"
        } else if ft.is_dir() {
            "a directory"
        } else if ft.is_file() {
            "a regular file"
        } else {
            "not a socket"
        };
        return Err(AppError::Usage(format!(
            "control.socket {} exists and is {what} ({} bytes), not a socket: refusing to replace it; set control.socket to a free path",
            path.display(),
            meta.len()
        )));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(AppError::Usage(format!(
            "control.socket {}: another engine is listening on it: refusing to take its control socket",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(SocketPath::Stale),
        Err(e) => Err(AppError::Usage(format!(
            "control.socket {}: a socket that cannot be probed ({e}): refusing to replace it",
            path.display()
        ))),
    }
}

/// Binds the control socket at `path`: a stale socket (nothing answers) is replaced; a live one
/// or any file that is not a socket is an error (see [`check_socket_path`]); the file is made
/// 0600.
pub fn bind(path: &Path) -> Result<UnixListener, AppError> {
    use std::os::unix::fs::PermissionsExt;
    if check_socket_path(path)? == SocketPath::Stale {
        log::warn!(
            "control: removing the stale socket {} left by an earlier run",
            path.display()
        );
        std::fs::remove_file(path).map_err(|source| AppError::Io {
            context: format!("cannot remove the stale socket {}", path.display()),
            source,
        })?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| AppError::Io {
            context: format!("cannot create {}", dir.display()),
            source,
        })?;
    }
    let l = UnixListener::bind(path).map_err(|source| AppError::Io {
        context: format!("cannot listen on {}", path.display()),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        AppError::Io {
            context: format!("cannot set 0600 on {}", path.display()),
            source,
        }
    })?;
    Ok(l)
}

/// Removes the socket file when dropped (normal exit, error, or shutdown) — only while the
/// path still holds a socket: whatever replaced it meanwhile is left alone.
pub struct SocketGuard(pub PathBuf);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        use std::os::unix::fs::FileTypeExt;
        if std::fs::symlink_metadata(&self.0).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Serves the control socket: one task per connection, one reply line per request line.
pub fn serve(listener: UnixListener, control: Addr<ControlActor>) {
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    actix_rt::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                // Every slot is taken: say so and hang up, holding nothing for this one.
                actix_rt::spawn(async move {
                    let reply = err(format!(
                        "too many control connections (at most {MAX_CONNECTIONS} at a time): try again"
                    ));
                    let _ = stream.write_all(format!("{reply}\n").as_bytes()).await;
                });
                continue;
            };
            let control = control.clone();
            actix_rt::spawn(async move {
                connection(stream, control).await;
                drop(slot);
            });
        }
    });
}

async fn connection(stream: UnixStream, control: Addr<ControlActor>) {
    use tokio::io::AsyncReadExt;
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // At most one byte past the limit is read: a longer line is refused without holding it.
        let limit = MAX_REQUEST_BYTES as u64 + 1;
        match (&mut reader).take(limit).read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if buf.last() != Some(&b'\n') && buf.len() > MAX_REQUEST_BYTES {
            let reply = err(format!(
                "request longer than {MAX_REQUEST_BYTES} bytes refused (requests are one short JSON line); connection closed"
            ));
            let _ = w.write_all(format!("{reply}\n").as_bytes()).await;
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        if line.trim().is_empty() {
            continue;
        }
        let reply = control
            .send(ControlLine(line.into_owned()))
            .await
            .unwrap_or_else(|e| err(format!("control actor unavailable: {e}")));
        if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
            break;
        }
    }
}

/// Serves the Prometheus text exposition of `metrics` on a loopback TCP address.
pub async fn serve_prometheus(addr: &str, metrics: Registry) -> Result<(), AppError> {
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AppError::Io {
            context: format!("cannot listen on {addr} for metrics"),
            source,
        })?;
    log::info!("metrics: Prometheus text format on http://{addr}/metrics");
    actix_rt::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                continue;
            };
            let body = metrics.prometheus();
            actix_rt::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(())
}
