//! The dashboard's HTTP, pure: a request head parsed, routed and checked (method, path, Host,
//! token), and the bytes of each reply. Read-only by construction: only GET and HEAD exist.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The longest request head read (request line and headers); longer is refused with 431.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// The page, its style and its script, served from the binary.
pub const PAGE_HTML: &str = include_str!("page.html");
pub const PAGE_CSS: &str = include_str!("page.css");
pub const PAGE_JS: &str = include_str!("page.js");

/// What a browser may load: only this server's own page, style, script and data.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// One request head, as much of it as the dashboard uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without its query.
    pub path: String,
    /// `Authorization: Bearer …`, else the query's `token=`.
    pub token: Option<String>,
    pub host: Option<String>,
}

/// Parses a request head (up to the blank line). The error says what is wrong.
pub fn parse_head(head: &[u8]) -> Result<Request, String> {
    let text = std::str::from_utf8(head).map_err(|_| "request head is not UTF-8".to_string())?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => return Err("bad request line (expected METHOD PATH HTTP/1.x)".into()),
    };
    if !version.starts_with("HTTP/1.") {
        return Err("only HTTP/1.x is spoken here".into());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !path.starts_with('/') {
        return Err("the path must start with /".into());
    }
    let mut token = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned());
    let mut host = None;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err("bad header line (expected Name: value)".into());
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("host") {
            host = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("authorization") {
            if let Some(t) = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
            {
                token = Some(t.trim().to_string());
            }
        }
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        token,
        host,
    })
}

/// Who may see the dashboard.
#[derive(Debug, Clone)]
pub struct Access {
    /// Required when set (always off loopback).
    pub token: Option<String>,
}

/// What a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Page,
    Style,
    Script,
    /// The current snapshot as JSON.
    Snapshot,
    /// Server-Sent Events: a snapshot per update (at most one a second).
    Events,
    /// An error status with its reason.
    Refused(u16, &'static str),
}

/// Routes `req`: unknown paths 404, other methods 405, a Host that is not loopback 421 when no
/// token is required (a web page elsewhere cannot reach a loopback dashboard through a
/// rebound DNS name), a missing or wrong token 401. The style and the script are code, not
/// data: they need no token.
pub fn route(req: &Request, access: &Access) -> Route {
    let r = match req.path.as_str() {
        "/" | "/index.html" => Route::Page,
        "/dashboard.css" => Route::Style,
        "/dashboard.js" => Route::Script,
        "/snapshot" => Route::Snapshot,
        "/events" => Route::Events,
        _ => return Route::Refused(404, "Not Found"),
    };
    if req.method != "GET" && req.method != "HEAD" {
        return Route::Refused(405, "Method Not Allowed");
    }
    if matches!(r, Route::Style | Route::Script) {
        return r;
    }
    match &access.token {
        None => {
            if !req.host.as_deref().is_some_and(host_is_loopback) {
                return Route::Refused(421, "Misdirected Request");
            }
        }
        Some(want) => {
            if !req.token.as_deref().is_some_and(|t| token_matches(t, want)) {
                return Route::Refused(401, "Unauthorized");
            }
        }
    }
    r
}

/// Whether `given` is the token, compared in constant time (over both SHA-256 digests, so
/// neither the content nor the length of the token shows in the time taken).
pub fn token_matches(given: &str, expected: &str) -> bool {
    let (a, b) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    a.ct_eq(&b).into()
}

/// Whether a Host header names this machine (`127.0.0.1:9180`, `localhost`, `[::1]:9180`).
pub fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A whole reply: status line, headers (no caching, no sniffing, no referrer, the page's
/// content security policy) and `body` (left out for HEAD).
pub fn reply(
    status: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\nContent-Security-Policy: {CSP}\r\n{}Connection: close\r\n\r\n",
        body.len(),
        if status == 401 {
            "WWW-Authenticate: Bearer realm=\"alphastocks dashboard\"\r\n"
        } else {
            ""
        }
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

/// A refusal with its reason as plain text.
pub fn refusal(status: u16, reason: &str) -> Vec<u8> {
    let body = match status {
        401 => "401 Unauthorized: this dashboard needs its token: open it as /?token=… (ALPHASTOCKS_DASHBOARD_TOKEN) or send Authorization: Bearer …\n".to_string(),
        421 => "421 Misdirected Request: open the dashboard by a loopback address (127.0.0.1, localhost)\n".to_string(),
        _ => format!("{status} {reason}\n"),
    };
    reply(
        status,
        reason,
        "text/plain; charset=utf-8",
        body.as_bytes(),
        false,
    )
}

/// The head of the event stream.
pub const EVENTS_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nX-Accel-Buffering: no\r\nConnection: keep-alive\r\n\r\n";

/// The stream's first line: a page that lost it reconnects after 3 s.
pub const EVENTS_RETRY: &[u8] = b"retry: 3000\n\n";

/// One Server-Sent Event carrying a snapshot (JSON has no raw newline, so one `data:` line).
pub fn event(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() + 32);
    out.extend_from_slice(b"event: snapshot\ndata: ");
    for line in json.split('\n') {
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"\n\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(head: &str) -> Request {
        parse_head(head.as_bytes()).unwrap()
    }

    #[test]
    fn heads_are_parsed_with_their_token_and_host() {
        let r = req("GET /events?x=1&token=a%2Bb%20c HTTP/1.1\r\nHost: 127.0.0.1:9180\r\nAccept: text/event-stream\r\n\r\n");
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/events");
        assert_eq!(r.token.as_deref(), Some("a+b c"));
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:9180"));
        let r = req("HEAD / HTTP/1.0\r\nauthorization: Bearer  s3cret \r\n\r\n");
        assert_eq!(r.token.as_deref(), Some("s3cret"));
        assert_eq!(r.host, None);
        for bad in [
            "",
            "GET\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "GET relative HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1 extra\r\n\r\n",
            "GET / HTTP/1.1\r\nno colon here\r\n\r\n",
        ] {
            assert!(parse_head(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse_head(b"GET /\xff HTTP/1.1\r\n\r\n").is_err());
    }

    #[test]
    fn routes_refuse_what_is_not_read_only_or_not_allowed() {
        let open = Access { token: None };
        let local = |line: &str| req(&format!("{line}\r\nHost: localhost:9180\r\n\r\n"));
        assert_eq!(route(&local("GET / HTTP/1.1"), &open), Route::Page);
        assert_eq!(
            route(&local("HEAD /snapshot HTTP/1.1"), &open),
            Route::Snapshot
        );
        assert_eq!(route(&local("GET /events HTTP/1.1"), &open), Route::Events);
        assert_eq!(
            route(&local("GET /dashboard.js HTTP/1.1"), &open),
            Route::Script
        );
        assert_eq!(
            route(&local("POST /events HTTP/1.1"), &open),
            Route::Refused(405, "Method Not Allowed")
        );
        assert_eq!(
            route(&local("GET /../etc/passwd HTTP/1.1"), &open),
            Route::Refused(404, "Not Found")
        );
        // A rebound DNS name (or no Host) is refused without a token.
        let far = req("GET /snapshot HTTP/1.1\r\nHost: evil.example:9180\r\n\r\n");
        assert_eq!(
            route(&far, &open),
            Route::Refused(421, "Misdirected Request")
        );
        assert_eq!(
            route(&req("GET / HTTP/1.0\r\n\r\n"), &open),
            Route::Refused(421, "Misdirected Request")
        );

        let locked = Access {
            token: Some("the-right-token-0123".into()),
        };
        let with = |t: &str| {
            req(&format!(
                "GET /events?token={t} HTTP/1.1\r\nHost: 10.0.0.5:9180\r\n\r\n"
            ))
        };
        assert_eq!(route(&with("the-right-token-0123"), &locked), Route::Events);
        assert_eq!(
            route(&with("the-right-token-0124"), &locked),
            Route::Refused(401, "Unauthorized")
        );
        assert_eq!(
            route(&with(""), &locked),
            Route::Refused(401, "Unauthorized")
        );
        assert_eq!(
            route(&req("GET / HTTP/1.1\r\nHost: 10.0.0.5\r\n\r\n"), &locked),
            Route::Refused(401, "Unauthorized")
        );
        // The page's code needs no token; its data does.
        assert_eq!(
            route(&req("GET /dashboard.css HTTP/1.1\r\n\r\n"), &locked),
            Route::Style
        );
    }

    #[test]
    fn tokens_and_hosts_compare_as_they_should() {
        assert!(token_matches("abc", "abc"));
        assert!(!token_matches("abc", "abd"));
        assert!(!token_matches("ab", "abc"));
        assert!(!token_matches("", "abc"));
        for h in [
            "127.0.0.1:9180",
            "127.0.0.1",
            "localhost",
            "LOCALHOST:1",
            "[::1]:9180",
            "127.8.9.10:80",
        ] {
            assert!(host_is_loopback(h), "{h}");
        }
        for h in [
            "10.0.0.1:9180",
            "example.com",
            "localhost.evil.com:9180",
            "[::2]:1",
            "",
        ] {
            assert!(!host_is_loopback(h), "{h}");
        }
    }

    #[test]
    fn replies_carry_their_length_policy_and_no_body_for_head() {
        let r = String::from_utf8(reply(200, "OK", "text/html", b"hello", false)).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 5\r\n"));
        assert!(r.contains(&format!("Content-Security-Policy: {CSP}\r\n")));
        assert!(r.ends_with("\r\n\r\nhello"));
        let h = String::from_utf8(reply(200, "OK", "text/html", b"hello", true)).unwrap();
        assert!(h.contains("Content-Length: 5\r\n") && h.ends_with("\r\n\r\n"));
        let u = String::from_utf8(refusal(401, "Unauthorized")).unwrap();
        assert!(
            u.starts_with("HTTP/1.1 401 Unauthorized\r\n")
                && u.contains("WWW-Authenticate: Bearer")
        );
        assert_eq!(event("{\"a\":1}"), b"event: snapshot\ndata: {\"a\":1}\n\n");
        assert_eq!(event("{\n}"), b"event: snapshot\ndata: {}\n\n");
    }

    #[test]
    fn the_page_is_self_contained() {
        for bad in ["http://", "https://", "//cdn", "@import", "url(http"] {
            assert!(!PAGE_HTML.contains(bad), "page.html: {bad}");
            assert!(!PAGE_CSS.contains(bad), "page.css: {bad}");
            assert!(!PAGE_JS.contains(bad), "page.js: {bad}");
        }
        assert!(PAGE_HTML.contains("src=\"/dashboard.js\""));
        assert!(PAGE_HTML.contains("href=\"/dashboard.css\""));
        // Data is set as text, never parsed as HTML.
        assert!(!PAGE_JS.contains("innerHTML"));
    }
}
