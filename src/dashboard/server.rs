//! The dashboard's HTTP server on a tokio `TcpListener` (as the Prometheus endpoint is): one
//! task per connection, at most [`MAX_CONNECTIONS`] at once, each reading one request head
//! and answering it; the event stream writes each new snapshot the Dashboard actor publishes
//! (at most one a second) until the browser goes away or the engine stops.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::http::{self, Access, Route};

/// Connections served at once (open pages hold one each for their event stream).
pub const MAX_CONNECTIONS: usize = 32;

/// How long a client may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The latest snapshot (JSON; empty before the first).
pub type Snapshots = watch::Receiver<Arc<str>>;

/// Serves `listener` until the engine stops.
pub fn serve(listener: TcpListener, access: Access, snapshots: Snapshots) {
    let access = Arc::new(access);
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    actix_rt::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                actix_rt::spawn(async move {
                    let _ = stream
                        .write_all(&http::refusal(503, "Service Unavailable"))
                        .await;
                });
                continue;
            };
            let (access, snapshots) = (access.clone(), snapshots.clone());
            actix_rt::spawn(async move {
                connection(stream, &access, snapshots).await;
                drop(slot);
            });
        }
    });
}

/// Reads up to the blank line ending the head: `None` when the client sent a head too long
/// (answered 431), nothing, or too slowly.
async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                buf.truncate(end + 4);
                return Some(true);
            }
            if buf.len() > http::MAX_HEAD_BYTES {
                return Some(false);
            }
        }
    };
    match tokio::time::timeout(HEAD_TIMEOUT, read).await {
        Ok(Some(true)) => Some(buf),
        Ok(Some(false)) => {
            if write(
                stream,
                &http::refusal(431, "Request Header Fields Too Large"),
            )
            .await
            {
                // Said and closed for writing; what the client still sends is read and dropped
                // (a little, briefly), so that closing does not reset the connection before
                // the client has read why.
                let _ = stream.shutdown().await;
                let drain = async {
                    let mut left = 64 * 1024usize;
                    while left > 0 {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => left = left.saturating_sub(n),
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
            }
            None
        }
        _ => None,
    }
}

async fn connection(mut stream: TcpStream, access: &Access, snapshots: Snapshots) {
    let Some(head) = read_head(&mut stream).await else {
        return;
    };
    let req = match http::parse_head(&head) {
        Ok(r) => r,
        Err(e) => {
            let body = format!("400 Bad Request: {e}\n");
            let _ = stream
                .write_all(&http::reply(
                    400,
                    "Bad Request",
                    "text/plain; charset=utf-8",
                    body.as_bytes(),
                    false,
                ))
                .await;
            return;
        }
    };
    let head_only = req.method == "HEAD";
    let out = match http::route(&req, access) {
        Route::Refused(code, reason) => http::refusal(code, reason),
        Route::Page => http::reply(
            200,
            "OK",
            "text/html; charset=utf-8",
            http::PAGE_HTML.as_bytes(),
            head_only,
        ),
        Route::Style => http::reply(
            200,
            "OK",
            "text/css; charset=utf-8",
            http::PAGE_CSS.as_bytes(),
            head_only,
        ),
        Route::Script => http::reply(
            200,
            "OK",
            "text/javascript; charset=utf-8",
            http::PAGE_JS.as_bytes(),
            head_only,
        ),
        Route::Snapshot => {
            let s = snapshots.borrow().clone();
            if s.is_empty() {
                http::reply(
                    503,
                    "Service Unavailable",
                    "text/plain; charset=utf-8",
                    b"503: no snapshot yet (the engine is starting); try again in a second\n",
                    head_only,
                )
            } else {
                http::reply(200, "OK", "application/json", s.as_bytes(), head_only)
            }
        }
        Route::Events => {
            if head_only {
                http::EVENTS_HEAD.to_vec()
            } else {
                events(stream, snapshots).await;
                return;
            }
        }
    };
    if write(&mut stream, &out).await {
        let _ = stream.shutdown().await;
    }
}

/// The event stream: the current snapshot, then each new one, until a write fails or stalls
/// for [`WRITE_TIMEOUT`] (the page was closed, or a client does not read: its slot is freed)
/// or the publisher is gone (the engine stopped).
async fn events(mut stream: TcpStream, mut snapshots: Snapshots) {
    if !write(&mut stream, http::EVENTS_HEAD).await || !write(&mut stream, http::EVENTS_RETRY).await
    {
        return;
    }
    loop {
        let s = snapshots.borrow_and_update().clone();
        if !s.is_empty() && !write(&mut stream, &http::event(&s)).await {
            return;
        }
        if snapshots.changed().await.is_err() {
            return;
        }
    }
}

/// The longest one write to a page may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}
