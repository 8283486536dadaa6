//! What each sink is sent: the generic JSON body, Telegram's `sendMessage` body, the text
//! both share, and the scrubbing of secrets out of any text.

use messages::Alarm;
use serde_json::{json, Value};

/// Telegram refuses a message text longer than this (characters).
pub const TELEGRAM_MAX_CHARS: usize = 4096;

const REDACTED: &str = "<redacted>";

/// The alarm as lines of text: a headline, the message, the fields, and how many alarms of
/// its kind the rate limit held back before it (`suppressed`).
pub fn text(a: &Alarm, suppressed: u32) -> String {
    let mut s = format!(
        "[{}] alphastocks {}: {}",
        a.severity.as_str().to_uppercase(),
        a.kind.as_str(),
        a.message
    );
    for (k, v) in a.fields() {
        s.push_str(&format!("\n{k}: {v}"));
    }
    s.push_str(&format!("\nat: {}", a.at.to_rfc3339()));
    if suppressed > 0 {
        s.push_str(&format!(
            "\n({suppressed} more {} alarm{} suppressed by the rate limit)",
            a.kind.as_str(),
            if suppressed == 1 { "" } else { "s" }
        ));
    }
    s
}

/// The generic webhook's JSON body: every field of the alarm, the rendered `text`, and
/// `suppressed` (alarms of this kind the rate limit held back before this one).
pub fn json_body(a: &Alarm, suppressed: u32) -> Value {
    let mut v = json!({
        "source": "alphastocks",
        "kind": a.kind.as_str(),
        "severity": a.severity.as_str(),
        "at": a.at.to_rfc3339(),
        "message": a.message,
        "suppressed": suppressed,
        "text": text(a, suppressed),
    });
    for (k, val) in a.fields() {
        v[k] = Value::String(val.to_string());
    }
    v
}

/// Telegram's `sendMessage` body: plain text (no `parse_mode`, so nothing in a message needs
/// escaping), cut to Telegram's limit.
pub fn telegram_body(chat_id: &str, a: &Alarm, suppressed: u32) -> Value {
    let mut t = text(a, suppressed);
    if t.chars().count() > TELEGRAM_MAX_CHARS {
        t = t.chars().take(TELEGRAM_MAX_CHARS - 1).collect();
        t.push('…');
    }
    json!({
        "chat_id": chat_id,
        "text": t,
        "disable_web_page_preview": true,
    })
}

/// `s` with every secret in `secrets` (empty ones ignored) replaced by `<redacted>`.
pub fn redact(s: &str, secrets: &[String]) -> String {
    let mut out = s.to_string();
    for sec in secrets.iter().filter(|x| !x.is_empty()) {
        if out.contains(sec.as_str()) {
            out = out.replace(sec.as_str(), REDACTED);
        }
    }
    out
}

/// The alarm with every secret scrubbed out of its words and fields.
pub fn scrubbed(a: &Alarm, secrets: &[String]) -> Alarm {
    let r = |o: &Option<String>| o.as_deref().map(|v| redact(v, secrets));
    Alarm {
        message: redact(&a.message, secrets),
        symbol: r(&a.symbol),
        position_id: r(&a.position_id),
        signal_id: r(&a.signal_id),
        order: r(&a.order),
        actor: r(&a.actor),
        ..a.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use messages::{AlarmKind, Severity};

    fn alarm() -> Alarm {
        let mut a = Alarm::new(
            AlarmKind::ExitNotFilled,
            "exit of NIFTY24JUN23500CE × 75 failed: rejected",
        )
        .symbol("NIFTY24JUN23500CE")
        .position("p-1")
        .order("tag-1");
        a.at = chrono::DateTime::from_timestamp(1_718_000_000, 0).unwrap();
        a
    }

    #[test]
    fn json_body_has_every_field() {
        let v = json_body(&alarm(), 0);
        assert_eq!(v["source"], "alphastocks");
        assert_eq!(v["kind"], "exit_not_filled");
        assert_eq!(v["severity"], "critical");
        assert_eq!(v["at"], "2024-06-10T06:13:20+00:00");
        assert_eq!(v["symbol"], "NIFTY24JUN23500CE");
        assert_eq!(v["position_id"], "p-1");
        assert_eq!(v["order"], "tag-1");
        assert_eq!(v["suppressed"], 0);
        assert!(v.get("actor").is_none());
        assert_eq!(
            v["text"],
            "[CRITICAL] alphastocks exit_not_filled: exit of NIFTY24JUN23500CE × 75 failed: rejected\nsymbol: NIFTY24JUN23500CE\nposition_id: p-1\norder: tag-1\nat: 2024-06-10T06:13:20+00:00"
        );
        assert_eq!(AlarmKind::DailyLossHalt.severity(), Severity::Warning);
    }

    #[test]
    fn telegram_body_is_send_message_and_cut_to_the_limit() {
        let v = telegram_body("-100", &alarm(), 3);
        assert_eq!(v["chat_id"], "-100");
        let t = v["text"].as_str().unwrap();
        assert!(t.starts_with("[CRITICAL] alphastocks exit_not_filled: "));
        assert!(
            t.ends_with("(3 more exit_not_filled alarms suppressed by the rate limit)"),
            "{t}"
        );
        assert!(v.get("parse_mode").is_none());
        let long = Alarm::new(AlarmKind::FeedSilent, "é".repeat(10_000));
        let t = telegram_body("1", &long, 0)["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(t.chars().count(), TELEGRAM_MAX_CHARS);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn secrets_are_scrubbed_everywhere() {
        let secrets = vec![String::new(), "123:ABC".to_string()];
        let a = Alarm::new(AlarmKind::TokenRejected, "token 123:ABC refused").order("x123:ABCx");
        let s = scrubbed(&a, &secrets);
        assert_eq!(s.message, "token <redacted> refused");
        assert_eq!(s.order.as_deref(), Some("x<redacted>x"));
        assert!(!json_body(&s, 0).to_string().contains("123:ABC"));
        assert_eq!(redact("nothing here", &secrets), "nothing here");
    }
}
