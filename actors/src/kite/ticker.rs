//! KiteTicker, the WebSocket market feed: its binary tick packets and its subscription
//! messages (`wss://ws.kite.trade?api_key=…&access_token=…`).
//!
//! A binary frame is `u16 packet count`, then per packet `u16 length` and that many bytes; a
//! frame shorter than 2 bytes is a heartbeat. Integers are big-endian; prices are integers
//! divided by 100 (10⁷ for currency segment 3, 10⁴ for segment 6; the segment is `token & 0xff`).
//! Packet layouts by length:
//!
//! | bytes | what | fields read |
//! |---|---|---|
//! | 8 | LTP | token, last price |
//! | 28 | index quote | token, last price, high, low, open, close |
//! | 32 | index full | the 28, exchange timestamp at 28 |
//! | 44 | quote | token, last price, last qty, average, volume, buy/sell qty, open, high, low, close |
//! | 184 | full | the 44, last trade time at 44, OI at 48, exchange timestamp at 60, depth from 64 |
//!
//! Text frames carry order updates and errors (`{"type":"order"|"error", …}`): read by
//! [`super::order_updates::parse_text`] and handed, the moment they arrive, to the connection's
//! `orders` channel (the Broker follows its orders with them; a frame that cannot be read is
//! logged and handed on as [`OrderPushed::Unreadable`], to be counted).
//!
//! [`stream`] keeps one connection: it subscribes every token in full mode, adds tokens asked
//! for later, hands each frame's ticks to a channel, and reconnects with a doubling wait (1 s
//! to 60 s), subscribing everything again, when the server closes, errs or falls silent (Kite
//! sends a heartbeat every second).

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_tungstenite::tungstenite::Message;

use messages::msg::OrderPushed;

use super::error::KiteError;
use super::order_updates::{parse_text, TickerText};

/// How long the connection may stay silent before it is taken as dead.
const SILENCE: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// What one packet says (fields its mode does not carry are `None`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickerTick {
    pub token: u32,
    pub last_price: f64,
    /// Cumulative traded volume of the day.
    pub volume: Option<u64>,
    pub oi: Option<u64>,
    /// Exchange time, epoch seconds.
    pub exchange_ts: Option<i64>,
    /// Best bid and ask (full mode).
    pub bid: Option<f64>,
    pub ask: Option<f64>,
}

/// Subscription modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerMode {
    Ltp,
    Quote,
    Full,
}

impl TickerMode {
    fn as_str(self) -> &'static str {
        match self {
            TickerMode::Ltp => "ltp",
            TickerMode::Quote => "quote",
            TickerMode::Full => "full",
        }
    }
}

/// `{"a":"subscribe","v":[tokens]}`.
pub fn subscribe_message(tokens: &[u32]) -> String {
    serde_json::json!({"a": "subscribe", "v": tokens}).to_string()
}

/// `{"a":"mode","v":["full",[tokens]]}`.
pub fn mode_message(mode: TickerMode, tokens: &[u32]) -> String {
    serde_json::json!({"a": "mode", "v": [mode.as_str(), tokens]}).to_string()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn i32_at(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The price divisor of a token's segment.
pub fn divisor(token: u32) -> f64 {
    match token & 0xff {
        3 => 10_000_000.0,
        6 => 10_000.0,
        _ => 100.0,
    }
}

/// One packet (without its length prefix); `None` for a length this parser does not know.
pub fn parse_packet(p: &[u8]) -> Option<TickerTick> {
    let token = u32_at(p, 0)?;
    let d = divisor(token);
    let px = |at: usize| i32_at(p, at).map(|v| v as f64 / d);
    let mut t = TickerTick {
        token,
        last_price: px(4)?,
        volume: None,
        oi: None,
        exchange_ts: None,
        bid: None,
        ask: None,
    };
    match p.len() {
        8 | 28 => {}
        32 => t.exchange_ts = u32_at(p, 28).map(i64::from),
        44 => t.volume = u32_at(p, 16).map(u64::from),
        184 => {
            t.volume = u32_at(p, 16).map(u64::from);
            t.oi = u32_at(p, 48).map(u64::from);
            t.exchange_ts = u32_at(p, 60).map(i64::from);
            // Depth: five buy levels from 64, five sell levels from 124, 12 bytes each.
            t.bid = px(64 + 4).filter(|v| *v > 0.0);
            t.ask = px(124 + 4).filter(|v| *v > 0.0);
        }
        _ => return None,
    }
    Some(t)
}

/// The ticks of one binary frame; a heartbeat (shorter than 2 bytes) has none. A frame whose
/// lengths run past its end is a [`KiteError::Data`] naming where.
pub fn parse_frame(frame: &[u8]) -> Result<Vec<TickerTick>, KiteError> {
    if frame.len() < 2 {
        return Ok(Vec::new());
    }
    let count = u16_at(frame, 0).unwrap_or(0) as usize;
    let mut out = Vec::with_capacity(count);
    let mut at = 2;
    for i in 0..count {
        let len = u16_at(frame, at).ok_or_else(|| {
            KiteError::data(format!(
                "ticker frame of {} bytes ends in packet {i}'s length",
                frame.len()
            ))
        })? as usize;
        let body = frame.get(at + 2..at + 2 + len).ok_or_else(|| {
            KiteError::data(format!(
                "ticker frame of {} bytes: packet {i} of {len} bytes runs past its end",
                frame.len()
            ))
        })?;
        if let Some(t) = parse_packet(body) {
            out.push(t);
        }
        at += 2 + len;
    }
    Ok(out)
}

/// What the feed asks of a running [`stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickerCommand {
    /// Stream these tokens too (from now on, and at every reconnection).
    Subscribe(Vec<u32>),
    /// Subscribe these (already streamed) tokens again on the live connection.
    Resubscribe(Vec<u32>),
    /// Drop the connection and connect again at once, subscribing everything.
    Reconnect,
}

/// Where and what [`stream`] connects to.
pub struct TickerConnection {
    /// The full URL, credentials in its query (never logged).
    pub url: String,
    /// Subscribed at every (re)connection.
    pub tokens: Vec<u32>,
    /// Scrubs credentials out of error text.
    pub redact: Box<dyn Fn(&str) -> String + Send>,
    /// Called when the server refuses the handshake with 403 (the access token refused).
    pub refused: Box<dyn Fn() + Send>,
    /// Where the order updates of text frames go (`None`: logged only).
    pub orders: Option<UnboundedSender<OrderPushed>>,
}

/// Reads one text frame and hands what it says about orders to `orders`: an update, the
/// ticker's error, or why the frame could not be read (logged here, counted there). `redact`
/// scrubs credentials out of what is logged.
pub fn route_text(
    text: &str,
    orders: Option<&UnboundedSender<OrderPushed>>,
    redact: &dyn Fn(&str) -> String,
) {
    let pushed = match parse_text(text) {
        Ok(TickerText::Order(u)) => {
            log::debug!(
                "kite ticker: order {} {} (filled {}/{})",
                u.order_id,
                u.status,
                u.filled_quantity,
                u.quantity
            );
            OrderPushed::Update(u)
        }
        Ok(TickerText::Error(e)) => {
            let e = redact(&e);
            log::warn!("kite ticker: the server says: {e}");
            OrderPushed::TickerError(e)
        }
        Ok(TickerText::Other(kind)) => {
            log::debug!("kite ticker: a {kind:?} message, not acted on");
            return;
        }
        Err(e) => {
            let e = redact(&e.to_string());
            log::warn!("kite ticker: {e}; frame skipped");
            OrderPushed::Unreadable(e)
        }
    };
    if let Some(tx) = orders {
        let _ = tx.send(pushed);
    }
}

/// Streams ticks into `out` until `out` or `add` is closed, doing what `add` asks
/// ([`TickerCommand`]).
pub async fn stream(
    conn: TickerConnection,
    mut add: UnboundedReceiver<TickerCommand>,
    out: UnboundedSender<Vec<TickerTick>>,
) {
    let mut tokens: BTreeSet<u32> = conn.tokens.iter().copied().collect();
    let mut backoff = Duration::from_secs(1);
    while !out.is_closed() {
        match tokio_tungstenite::connect_async(conn.url.as_str()).await {
            Err(e) => {
                log::warn!(
                    "kite ticker: cannot connect ({}); trying again in {backoff:?}",
                    (conn.redact)(&e.to_string())
                );
                if let tokio_tungstenite::tungstenite::Error::Http(r) = &e {
                    if r.status().as_u16() == 403 {
                        (conn.refused)();
                    }
                }
            }
            Ok((mut ws, _)) => {
                backoff = Duration::from_secs(1);
                let all: Vec<u32> = tokens.iter().copied().collect();
                log::info!(
                    "kite ticker: connected; {} instruments in full mode",
                    all.len()
                );
                let mut ok = ws
                    .send(Message::text(subscribe_message(&all)))
                    .await
                    .is_ok()
                    && ws
                        .send(Message::text(mode_message(TickerMode::Full, &all)))
                        .await
                        .is_ok();
                while ok {
                    tokio::select! {
                        msg = tokio::time::timeout(SILENCE, ws.next()) => match msg {
                            Err(_) => {
                                log::warn!("kite ticker: silent for {SILENCE:?}; reconnecting");
                                ok = false;
                            }
                            Ok(Some(Ok(Message::Binary(b)))) => match parse_frame(&b) {
                                Ok(t) if t.is_empty() => {}
                                Ok(t) => {
                                    if out.send(t).is_err() {
                                        return;
                                    }
                                }
                                Err(e) => log::warn!("kite ticker: {e}; frame skipped"),
                            },
                            Ok(Some(Ok(Message::Text(t)))) => {
                                route_text(t.as_str(), conn.orders.as_ref(), &conn.redact)
                            }
                            Ok(Some(Ok(Message::Close(_)))) | Ok(None) => {
                                log::warn!("kite ticker: closed by the server; reconnecting");
                                ok = false;
                            }
                            Ok(Some(Ok(_))) => {}
                            Ok(Some(Err(e))) => {
                                log::warn!(
                                    "kite ticker: {}; reconnecting",
                                    (conn.redact)(&e.to_string())
                                );
                                ok = false;
                            }
                        },
                        more = add.recv() => match more {
                            // The feed that asked is gone (replaced or stopped).
                            None => return,
                            Some(TickerCommand::Reconnect) => {
                                log::warn!("kite ticker: reconnecting (asked: the stream went quiet)");
                                backoff = Duration::ZERO;
                                ok = false;
                            }
                            Some(TickerCommand::Resubscribe(v)) => {
                                let v: Vec<u32> = v.into_iter().filter(|t| tokens.contains(t)).collect();
                                if !v.is_empty() {
                                    log::warn!("kite ticker: subscribing {} quiet instruments again", v.len());
                                    ok = ws
                                        .send(Message::text(subscribe_message(&v)))
                                        .await
                                        .is_ok()
                                        && ws
                                            .send(Message::text(mode_message(TickerMode::Full, &v)))
                                            .await
                                            .is_ok();
                                }
                            }
                            Some(TickerCommand::Subscribe(v)) => {
                                let fresh: Vec<u32> =
                                    v.into_iter().filter(|t| tokens.insert(*t)).collect();
                                if !fresh.is_empty() {
                                    ok = ws
                                        .send(Message::text(subscribe_message(&fresh)))
                                        .await
                                        .is_ok()
                                        && ws
                                            .send(Message::text(mode_message(
                                                TickerMode::Full,
                                                &fresh,
                                            )))
                                            .await
                                            .is_ok();
                                }
                            }
                        },
                    }
                }
            }
        }
        if out.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).clamp(Duration::from_secs(1), BACKOFF_MAX);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Big-endian packet bytes from (offset, u32) pairs, `len` long.
    pub(crate) fn packet(len: usize, fields: &[(usize, u32)]) -> Vec<u8> {
        let mut p = vec![0u8; len];
        for (at, v) in fields {
            p[*at..*at + 4].copy_from_slice(&v.to_be_bytes());
        }
        p
    }

    /// A frame of `packets`.
    pub(crate) fn frame(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut f = (packets.len() as u16).to_be_bytes().to_vec();
        for p in packets {
            f.extend((p.len() as u16).to_be_bytes());
            f.extend(p);
        }
        f
    }

    #[test]
    fn every_packet_length_parses() {
        // NIFTY 50 (token 256265, segment 9 = indices), full: 24 010.55 at 1 733 891 400.
        let index = packet(32, &[(0, 256_265), (4, 2_401_055), (28, 1_733_891_400)]);
        // An NFO option (segment 2), full: ltp 101.05, volume 12 345, OI 67 890, bid/ask.
        let mut opt = packet(
            184,
            &[
                (0, 12_345_602),
                (4, 10_105),
                (16, 12_345),
                (48, 67_890),
                (60, 1_733_891_401),
            ],
        );
        opt[68..72].copy_from_slice(&10_100u32.to_be_bytes());
        opt[128..132].copy_from_slice(&10_110u32.to_be_bytes());
        let ltp = packet(8, &[(0, 408_065), (4, 150_025)]);
        let quote = packet(44, &[(0, 408_065), (4, 150_025), (16, 999)]);
        let got = parse_frame(&frame(&[index, opt, ltp, quote])).unwrap();
        assert_eq!(got.len(), 4);
        assert_eq!(
            (got[0].token, got[0].last_price, got[0].exchange_ts),
            (256_265, 24_010.55, Some(1_733_891_400))
        );
        assert_eq!(
            got[1],
            TickerTick {
                token: 12_345_602,
                last_price: 101.05,
                volume: Some(12_345),
                oi: Some(67_890),
                exchange_ts: Some(1_733_891_401),
                bid: Some(101.0),
                ask: Some(101.1),
            }
        );
        assert_eq!((got[2].last_price, got[2].volume), (1500.25, None));
        assert_eq!(got[3].volume, Some(999));
    }

    #[test]
    fn heartbeats_unknown_lengths_and_bad_frames() {
        assert!(parse_frame(&[0]).unwrap().is_empty(), "heartbeat");
        let odd = packet(12, &[(0, 1), (4, 100)]);
        assert!(parse_frame(&frame(&[odd])).unwrap().is_empty(), "skipped");
        let mut cut = frame(&[packet(8, &[(0, 1), (4, 100)])]);
        cut.truncate(7);
        let e = parse_frame(&cut).unwrap_err().to_string();
        assert!(e.contains("runs past its end"), "{e}");
        // Currency segment (3) prices have 7 decimals.
        let cds = parse_packet(&packet(8, &[(0, 0x0100_0003), (4, 832_512_500)])).unwrap();
        assert!((cds.last_price - 83.25125).abs() < 1e-9);
    }

    #[test]
    fn text_frames_are_routed_as_typed_order_messages() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let redact = |s: &str| s.replace("SECRET", "***");
        route_text(
            r#"{"type":"order","data":{"order_id":"7","status":"REJECTED","quantity":75,
                "status_message":"RMS: blocked"}}"#,
            Some(&tx),
            &redact,
        );
        route_text("{not json", Some(&tx), &redact);
        route_text(
            r#"{"type":"error","data":"token SECRET invalid"}"#,
            Some(&tx),
            &redact,
        );
        route_text(r#"{"type":"message","data":"hi"}"#, Some(&tx), &redact);
        // Without a channel: logged only, nothing breaks.
        route_text("{not json", None, &redact);
        let mut got = Vec::new();
        while let Ok(m) = rx.try_recv() {
            got.push(m);
        }
        assert_eq!(got.len(), 3, "{got:?}");
        match &got[0] {
            OrderPushed::Update(u) => assert_eq!(
                (
                    u.order_id.as_str(),
                    u.status.as_str(),
                    u.status_message.as_deref()
                ),
                ("7", "REJECTED", Some("RMS: blocked"))
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&got[1], OrderPushed::Unreadable(e) if e.contains("not a JSON message")),
            "{got:?}"
        );
        assert_eq!(
            got[2],
            OrderPushed::TickerError("token *** invalid".into()),
            "scrubbed"
        );
    }

    #[test]
    fn subscription_messages() {
        assert_eq!(
            subscribe_message(&[256_265, 260_105]),
            r#"{"a":"subscribe","v":[256265,260105]}"#
        );
        assert_eq!(
            mode_message(TickerMode::Full, &[256_265]),
            r#"{"a":"mode","v":["full",[256265]]}"#
        );
    }
}
