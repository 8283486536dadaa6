//! **Dashboard** — the read-only web dashboard of `run` (`dashboard.listen`).
//!
//! - Owns: the newest signals, decisions and alarms it was sent, the day's equity curve, the
//!   previous look at the mailbox counters (for messages per second), and the latest snapshot
//!   it published.
//! - Handles: [`SignalGenerated`] (from SignalManager), [`DecisionMade`] (from
//!   OptionsExecutor), [`RaiseAlarm`] (every alarm, beside the Notifier; scrubbed of the
//!   engine's secrets), and its own timer: once a second it asks for the snapshot's parts.
//! - Sends: [`GetStatus`] to the ControlActor (the trading state and what `ctl status` shows),
//!   [`GetOpenPositions`] to PositionManager (what `ctl positions` shows); it reads the
//!   mailbox metrics as `ctl metrics` does. Each snapshot is published to the HTTP server
//!   ([`server`]), whose event streams push it to the open pages.
//!
//! It changes nothing: control stays on the Unix socket. Off loopback it needs
//! `ALPHASTOCKS_DASHBOARD_TOKEN` (compared in constant time, [`http::token_matches`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::{Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, WrapFuture};
use actors::config::{dashboard_token, DashboardConfig, DASHBOARD_TOKEN_ENV};
use actors::metrics::{Registry, Tracked};
use actors::position_manager::PositionManager;
use messages::msg::{DecisionMade, GetOpenPositions, SignalGenerated};
use messages::RaiseAlarm;
use serde_json::Value;
use tokio::sync::watch;

use crate::control::{ControlActor, GetStatus};
use crate::error::AppError;

pub mod http;
pub mod server;
pub mod snapshot;

use snapshot::{EquityCurve, Inputs, Rates, Recent};

/// How often a snapshot is built and pushed (the pages never poll).
pub const EVERY: Duration = Duration::from_secs(1);

/// How long a snapshot waits for an actor's answer before going without it.
const ASK_WAIT: Duration = Duration::from_secs(3);

/// The dashboard actor.
pub struct Dashboard {
    control: Addr<ControlActor>,
    positions: Tracked<PositionManager>,
    metrics: Registry,
    recent: Recent,
    curve: EquityCurve,
    rates: Rates,
    last_look: Option<Instant>,
    /// The engine's secrets (from the environment), scrubbed from every alarm shown.
    secrets: Vec<String>,
    publish: watch::Sender<Arc<str>>,
    /// A snapshot is being asked for: the next tick waits for it.
    asking: bool,
}

impl Actor for Dashboard {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refresh(ctx);
        ctx.run_interval(EVERY, |act, ctx| act.refresh(ctx));
    }
}

impl Dashboard {
    fn refresh(&mut self, ctx: &mut Context<Self>) {
        if self.asking {
            return;
        }
        self.asking = true;
        let (control, positions) = (self.control.clone(), self.positions.clone());
        let ask = async move {
            let status = tokio::time::timeout(ASK_WAIT, control.send(GetStatus))
                .await
                .ok()
                .and_then(Result::ok);
            let open = tokio::time::timeout(ASK_WAIT, positions.send(GetOpenPositions))
                .await
                .ok()
                .and_then(Result::ok);
            (status, open)
        };
        ctx.spawn(ask.into_actor(self).map(|(status, open), act, _| {
            act.asking = false;
            act.publish(status.unwrap_or(Value::Null), open);
        }));
    }

    fn publish(&mut self, status: Value, open: Option<Vec<messages::PositionRecord>>) {
        let actors = self.metrics.snapshot();
        let secs = self
            .last_look
            .map(|t| t.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        self.last_look = Some(Instant::now());
        let rates = self.rates.update(&actors, secs);
        // The day's equity at the engine's data time: net realized today plus the open
        // positions' net (the figure the header and the position rows show).
        let data_time = status
            .get("data_time")
            .and_then(Value::as_str)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if let (Some(t), Some(v)) = (data_time, snapshot::day_net(&status, open.as_deref())) {
            self.curve.observe(t.timestamp(), v);
        }
        let json = snapshot::build(&Inputs {
            status: &status,
            actors: &actors,
            rates: &rates,
            positions: open.as_deref(),
            recent: &self.recent,
            curve: &self.curve,
            at: chrono::Utc::now(),
        });
        self.publish.send_replace(Arc::from(json.to_string()));
    }
}

impl Handler<SignalGenerated> for Dashboard {
    type Result = ();

    fn handle(&mut self, msg: SignalGenerated, _ctx: &mut Context<Self>) {
        self.recent.signal(msg.signal);
    }
}

impl Handler<DecisionMade> for Dashboard {
    type Result = ();

    fn handle(&mut self, msg: DecisionMade, _ctx: &mut Context<Self>) {
        self.recent.decision(msg.0);
    }
}

impl Handler<RaiseAlarm> for Dashboard {
    type Result = ();

    fn handle(&mut self, msg: RaiseAlarm, _ctx: &mut Context<Self>) {
        self.recent
            .alarm(actors::alerts::format::scrubbed(&msg.0, &self.secrets));
    }
}

/// The dashboard decided before the engine starts: where it listens and who may see it. Its
/// actor's mailbox exists from here on, so the engine's alarms can be told to it from the
/// start.
pub struct Plan {
    addr: SocketAddr,
    access: http::Access,
    ctx: Context<Dashboard>,
}

/// The dashboard `cfg` asks for, `None` when off. Off loopback without a token (or with a
/// token too short) is an error naming the setting and the variable, never the token.
pub fn plan(cfg: &DashboardConfig) -> Result<Option<Plan>, AppError> {
    let addr = cfg
        .address()
        .map_err(|(p, v, r)| AppError::Usage(format!("config: at `{p}`: value {v} {r}")))?;
    let Some(addr) = addr else {
        return Ok(None);
    };
    let token =
        dashboard_token(addr, std::env::var(DASHBOARD_TOKEN_ENV).ok()).map_err(AppError::Usage)?;
    Ok(Some(Plan {
        addr,
        access: http::Access { token },
        ctx: Context::new(),
    }))
}

impl Plan {
    /// Where the engine's alarms are to be told.
    pub fn alarms(&self) -> actix::Recipient<RaiseAlarm> {
        self.ctx.address().recipient()
    }

    /// Binds the address, starts the actor (subscribed to signals and decisions) and the
    /// server; returns the address bound (a port 0 resolved) and whether a token is needed.
    pub async fn start(
        self,
        engine: &crate::system::Engine,
        control: Addr<ControlActor>,
    ) -> Result<(SocketAddr, bool), AppError> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .map_err(|source| AppError::Io {
                context: format!("dashboard.listen {}: cannot listen", self.addr),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| AppError::Io {
            context: format!("dashboard.listen {}: no local address", self.addr),
            source,
        })?;
        let (tx, rx) = watch::channel::<Arc<str>>(Arc::from(""));
        let secrets = actors::alerts::ENGINE_SECRET_VARS
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let addr = self.ctx.address();
        self.ctx.run(Dashboard {
            control,
            positions: engine.positions.clone(),
            metrics: engine.metrics.clone(),
            recent: Recent::default(),
            curve: EquityCurve::default(),
            rates: Rates::default(),
            last_look: None,
            secrets,
            publish: tx,
            asking: false,
        });
        engine
            .signals
            .send(messages::msg::SubscribeSignals(addr.clone().recipient()))
            .await?;
        engine
            .executor
            .send(messages::msg::SubscribeDecisions(addr.recipient()))
            .await?;
        let locked = self.access.token.is_some();
        server::serve(listener, self.access, rx);
        Ok((bound, locked))
    }
}
