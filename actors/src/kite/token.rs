//! The access token's state as the broker last judged it: accepted, refused since a time, or
//! replaced by the operator (`ctl kite token`) at a time; and the check a new token must pass
//! before it is used. Pure: the client records each answer, `ctl status` shows the result.
//!
//! Nothing here holds or prints the token itself.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Shortest and longest access token taken (Kite's are 32 characters).
pub const TOKEN_MIN_CHARS: usize = 8;
pub const TOKEN_MAX_CHARS: usize = 256;

/// Where the token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Accepted (or not judged yet).
    Ok,
    /// The broker refused it (TokenException) since then.
    Rejected { since: DateTime<Utc> },
    /// The operator gave a new one then, and the broker accepted it.
    Replaced { at: DateTime<Utc> },
}

/// The token's state, when it was last accepted, why it was last refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    pub state: TokenState,
    pub last_accepted: Option<DateTime<Utc>>,
    /// The broker's words for the last refusal (credentials already scrubbed).
    pub reason: Option<String>,
    /// Refusals seen (every refused call).
    pub rejections: u64,
}

impl Default for TokenStatus {
    fn default() -> Self {
        TokenStatus {
            state: TokenState::Ok,
            last_accepted: None,
            reason: None,
            rejections: 0,
        }
    }
}

impl TokenStatus {
    /// A call succeeded at `at`: a refused token that works again counts as accepted.
    pub fn accepted(&mut self, at: DateTime<Utc>) {
        self.last_accepted = Some(at);
        if matches!(self.state, TokenState::Rejected { .. }) {
            self.state = TokenState::Ok;
        }
    }

    /// A call was refused at `at` with `reason`. True when this starts a refusal (the first
    /// since the token was last good): that is when trading halts and the alarm goes out.
    pub fn rejected(&mut self, at: DateTime<Utc>, reason: &str) -> bool {
        self.rejections += 1;
        self.reason = Some(reason.chars().take(200).collect());
        if self.is_rejected() {
            return false;
        }
        self.state = TokenState::Rejected { since: at };
        true
    }

    /// The operator's new token was accepted at `at`.
    pub fn replaced(&mut self, at: DateTime<Utc>) {
        self.state = TokenState::Replaced { at };
        self.last_accepted = Some(at);
    }

    pub fn is_rejected(&self) -> bool {
        matches!(self.state, TokenState::Rejected { .. })
    }

    /// For `ctl status`: `{"state": "ok"|"rejected"|"replaced", "since"|"at": …,
    /// "last_accepted": …, "rejections": n, "reason": …}`.
    pub fn to_json(&self) -> Value {
        let t = |d: &DateTime<Utc>| d.to_rfc3339();
        let mut v = match &self.state {
            TokenState::Ok => json!({"state": "ok"}),
            TokenState::Rejected { since } => json!({"state": "rejected", "since": t(since)}),
            TokenState::Replaced { at } => json!({"state": "replaced", "at": t(at)}),
        };
        v["last_accepted"] = json!(self.last_accepted.as_ref().map(t));
        v["rejections"] = json!(self.rejections);
        if let Some(r) = &self.reason {
            v["last_refusal"] = json!(r);
        }
        v
    }
}

/// Checks a new access token without ever quoting it: not empty, printable ASCII with no
/// space, [`TOKEN_MIN_CHARS`] to [`TOKEN_MAX_CHARS`] characters. The error names the field and
/// what is wrong (its length or the position of a bad character), never the value.
pub fn validate_access_token(token: &str) -> Result<(), String> {
    let n = token.chars().count();
    if n == 0 {
        return Err("token: empty; give the day's access token (`alphastocks kite login`)".into());
    }
    if let Some((i, _)) = token
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_graphic())
    {
        return Err(format!(
            "token: character {} of {n} is not printable ASCII (spaces and control characters are refused)",
            i + 1
        ));
    }
    if !(TOKEN_MIN_CHARS..=TOKEN_MAX_CHARS).contains(&n) {
        return Err(format!(
            "token: {n} characters; an access token has {TOKEN_MIN_CHARS} to {TOKEN_MAX_CHARS}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_560_000 + s, 0).unwrap()
    }

    #[test]
    fn a_refusal_starts_once_and_a_replacement_ends_it() {
        let mut s = TokenStatus::default();
        s.accepted(at(0));
        assert!(s.rejected(at(10), "Incorrect `api_key` or `access_token`."));
        assert!(!s.rejected(at(11), "again"), "the same refusal goes on");
        assert_eq!(s.state, TokenState::Rejected { since: at(10) });
        assert_eq!((s.rejections, s.last_accepted), (2, Some(at(0))));
        s.replaced(at(20));
        assert_eq!(s.state, TokenState::Replaced { at: at(20) });
        s.accepted(at(25));
        assert_eq!(s.state, TokenState::Replaced { at: at(20) });
        assert_eq!(s.last_accepted, Some(at(25)));
        assert!(
            s.rejected(at(30), "expired"),
            "a new refusal of the new token"
        );
        let v = s.to_json();
        assert_eq!(v["state"], "rejected");
        assert_eq!(v["since"], at(30).to_rfc3339());
        assert_eq!(v["last_accepted"], at(25).to_rfc3339());
        assert_eq!(v["last_refusal"], "expired");
    }

    #[test]
    fn status_json_of_each_state() {
        let mut s = TokenStatus::default();
        assert_eq!(s.to_json()["state"], "ok");
        assert!(s.to_json()["last_accepted"].is_null());
        s.replaced(at(5));
        assert_eq!(s.to_json()["at"], at(5).to_rfc3339());
    }

    #[test]
    fn validation_names_the_problem_never_the_value() {
        assert!(validate_access_token("abcdEFGH1234abcdEFGH1234abcdEFGH").is_ok());
        let cases = [
            ("", "empty"),
            ("short", "5 characters"),
            ("secret token here", "character 7 of 17 is not printable"),
            ("secret\ttokenvalue", "character 7 of 17"),
            ("sécrettokenvalue", "character 2 of 16"),
        ];
        for (bad, want) in cases {
            let e = validate_access_token(bad).unwrap_err();
            assert!(e.starts_with("token: ") && e.contains(want), "{bad:?}: {e}");
            if !bad.is_empty() {
                assert!(!e.contains(bad), "{e}");
            }
        }
        let long = "a".repeat(TOKEN_MAX_CHARS + 1);
        assert!(validate_access_token(&long)
            .unwrap_err()
            .contains("257 characters"));
        assert!(validate_access_token(&"a".repeat(TOKEN_MAX_CHARS)).is_ok());
    }
}
