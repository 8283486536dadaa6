//! A scripted KiteTicker of the stand-in (tokio-tungstenite on its own thread): rounds of
//! binary frames, an option answered when subscribed, and text frames pushed on demand (order
//! updates).

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::UnboundedReceiver;

use super::market::option_full;

/// What a scripted KiteTicker saw: each connection's URI and the text messages it received.
pub type TickerLog = Arc<Mutex<Vec<(String, Vec<String>)>>>;

/// Accepts a KiteTicker connection on `tcp`, recording its URI (the credentials in it) in
/// `log` with no messages yet.
pub async fn accept_logged(
    tcp: tokio::net::TcpStream,
    log: &TickerLog,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    tokio_tungstenite::tungstenite::Error,
> {
    let entry = log.clone();
    // tungstenite's callback signature has a large error type: not ours to shrink.
    #[allow(clippy::result_large_err)]
    let keep_uri = move |req: &tokio_tungstenite::tungstenite::handshake::server::Request, resp| {
        entry
            .lock()
            .unwrap()
            .push((req.uri().to_string(), Vec::new()));
        Ok(resp)
    };
    tokio_tungstenite::accept_hdr_async(tcp, keep_uri).await
}

/// A KiteTicker of our own on its own thread. Each round is one connection: it takes the two
/// subscription messages, sends the round's frames, then closes — except the last round, which
/// heartbeats until the engine goes, and answers a later subscription of `option.0` with that
/// option at `option.1` paise.
pub fn ticker_server(rounds: Vec<Vec<Vec<u8>>>) -> (String, TickerLog) {
    ticker_server_with(rounds, None)
}

pub fn ticker_server_with(
    rounds: Vec<Vec<Vec<u8>>>,
    option: Option<(u32, u32)>,
) -> (String, TickerLog) {
    serve(rounds, option, None)
}

/// [`ticker_server_with`] that also sends each text of `pushes` (order updates) on the last
/// round's connection the moment it is given.
pub fn ticker_server_pushing(
    rounds: Vec<Vec<Vec<u8>>>,
    option: Option<(u32, u32)>,
    pushes: UnboundedReceiver<String>,
) -> (String, TickerLog) {
    serve(rounds, option, Some(pushes))
}

/// The next text to push (never, without pushes or once they end).
async fn next_push(pushes: &mut Option<UnboundedReceiver<String>>) -> String {
    if let Some(p) = pushes.as_mut() {
        if let Some(t) = p.recv().await {
            return t;
        }
    }
    *pushes = None;
    std::future::pending().await
}

/// A server on a loopback port, for the stand-in's sockets: `body` runs with its listener on a
/// thread of its own (a current-thread runtime); returns the `ws://` URL.
pub fn serve_loopback<F, Fut>(body: F) -> String
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            body(tokio::net::TcpListener::from_std(listener).unwrap()).await;
        });
    });
    url
}

fn serve(
    rounds: Vec<Vec<Vec<u8>>>,
    option: Option<(u32, u32)>,
    mut pushes: Option<UnboundedReceiver<String>>,
) -> (String, TickerLog) {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let seen: TickerLog = Arc::default();
    let log = seen.clone();
    let url = serve_loopback(move |listener| async move {
        let last = rounds.len() - 1;
        for (n, frames) in rounds.into_iter().enumerate() {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut ws = accept_logged(tcp, &log).await.unwrap();
            for _ in 0..2 {
                if let Some(Ok(Message::Text(t))) = ws.next().await {
                    if let Some(c) = log.lock().unwrap().last_mut() {
                        c.1.push(t.to_string());
                    }
                }
            }
            for f in frames {
                if ws.send(Message::binary(f)).await.is_err() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            if n < last {
                let _ = ws.close(None).await;
                continue;
            }
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(Message::Text(t))) => {
                            let t = t.to_string();
                            if let Some(c) = log.lock().unwrap().last_mut() {
                                c.1.push(t.clone());
                            }
                            if let Some((token, paise)) = option {
                                if t.contains("subscribe") && t.contains(&token.to_string()) {
                                    let _ = ws.send(Message::binary(option_full(token, paise))).await;
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    },
                    t = next_push(&mut pushes) => {
                        if ws.send(Message::text(t)).await.is_err() {
                            break;
                        }
                    }
                    _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {
                        if ws.send(Message::binary(vec![0u8])).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    (url, seen)
}
