//! `ctl kite token`: a new access token for the broker, given over the control socket.

use actix::{fut, ActorFutureExt, ResponseActFuture, WrapFuture};
use messages::msg::GetOpenPositions;
use serde_json::json;
use tokio::sync::mpsc;

use super::{err, ok, ControlActor};

/// The broker and what `ctl kite token` needs: the client whose token it replaces, and the run
/// loop's channel to restart the feed with it.
pub struct KiteControl {
    pub client: std::sync::Arc<actors::kite::KiteClient>,
    pub resumed: mpsc::UnboundedSender<()>,
}

impl ControlActor {
    /// `ctl kite token`: the new token's form is checked (never quoted), the broker's positions
    /// and open orders are read with it (on a trial client) and reconciled with the book; only
    /// then does it replace the client's token, the broker's halt is lifted and the run loop
    /// restarts the feed with it. Refused or unreachable: the token in use and the trading
    /// state are unchanged, and the reply says why.
    pub(super) fn new_token(&mut self, token: String) -> ResponseActFuture<Self, String> {
        let Some(k) = &self.kite else {
            self.audit(
                "kite_token",
                "refused: no broker (started without --feed kite)".into(),
                false,
            );
            return Box::pin(fut::ready(err(
                "no broker: this engine was started without --feed kite",
            )));
        };
        if let Err(e) = actors::kite::validate_access_token(&token) {
            self.audit("kite_token", format!("refused: {e}"), false);
            return Box::pin(fut::ready(err(e)));
        }
        let (client, resumed) = (k.client.clone(), k.resumed.clone());
        // Tried on a client of its own: a token the broker refuses never replaces the one in
        // use (a typo must not halt an engine whose token still works).
        let trial = match client.with_trial_token(&token) {
            Ok(t) => t,
            Err(e) => {
                self.audit("kite_token", format!("not taken: {e}"), false);
                return Box::pin(fut::ready(err(e)));
            }
        };
        let pm = self.positions.clone();
        Box::pin(
            async move {
                let p = trial.positions().await;
                let o = trial.orders().await;
                let known = pm.send(GetOpenPositions).await;
                (p, o, known)
            }
            .into_actor(self)
            .map(move |(p, o, known), act, _| {
                let (p, o) = match (p, o) {
                    (Ok(p), Ok(o)) => (p, o),
                    (Err(e), _) | (_, Err(e)) => {
                        let why = if e.is_token_error() {
                            format!("the broker refused the new token ({e}); the token in use is unchanged")
                        } else {
                            format!("cannot read the broker's positions and orders with the new token ({e}); the token in use is unchanged: try again")
                        };
                        act.audit("kite_token", format!("not taken: {why}"), false);
                        return err(why);
                    }
                };
                let known = match known {
                    Ok(k) => k,
                    Err(e) => {
                        let why = format!("PositionManager did not answer ({e}); the token in use is unchanged: try again");
                        act.audit("kite_token", format!("not taken: {why}"), false);
                        return err(why);
                    }
                };
                let lines = crate::kite_feed::reconcile(&p.net, &o, &known);
                for l in &lines {
                    log::warn!("kite: reconcile: {l}");
                }
                client.set_access_token(token);
                client.mark_token_replaced();
                let lifted = std::mem::take(&mut act.broker_halted);
                act.set_trading();
                act.audit(
                    "kite_token",
                    format!(
                        "a new access token accepted; {} positions and {} orders at the broker reconciled ({} findings){}",
                        p.net.iter().filter(|x| x.quantity != 0).count(),
                        o.len(),
                        lines.len(),
                        if lifted { "; the broker's halt is lifted" } else { "" }
                    ),
                    true,
                );
                let _ = resumed.send(());
                ok(json!({
                    "kite_token": client.token_status().to_json(),
                    "trading": act.trading_state(),
                    "reconciled": lines,
                }))
            }),
        )
    }
}
