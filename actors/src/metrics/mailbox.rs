//! Time in mailbox, sampled without touching the messages: a send stamps the clock for every
//! [`SAMPLE_EVERY`]th message, by its sequence number (the sent counter), in a small ring of
//! atomics; the handler of the message with the same sequence number (the handled counter)
//! reads the stamp with the clock read it already takes to time itself.
//!
//! This relies on the mailbox being first in, first out, which actix's is: the n-th message
//! queued is the n-th handled. Where the counters step out of line — a timer tick an actor
//! scheduled itself is counted sent and handled at once, a send from another thread may be
//! queued a few nanoseconds after one counted later — a sample is off by the gap to a
//! neighbouring message while a backlog lasts; at depth 0 the counters meet again. A stamp is
//! read only when its slot still holds that sequence number (the ring keeps the last
//! `RING × SAMPLE_EVERY` = 4 096 messages' stamps; deeper, the sample is skipped).
//!
//! Cost: per send one test of the sequence number; per 64 sends one clock read and two
//! atomic stores. No lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::SAMPLE_EVERY;

const RING: usize = 64;

/// The stamps of the sampled messages in flight to one actor.
pub struct MailboxClock {
    origin: Instant,
    at: [AtomicU64; RING],
    seq: [AtomicU64; RING],
}

impl Default for MailboxClock {
    fn default() -> Self {
        MailboxClock {
            origin: Instant::now(),
            at: std::array::from_fn(|_| AtomicU64::new(0)),
            // No sequence number yet: nothing matches until a send stamps the slot.
            seq: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
        }
    }
}

fn slot(seq: u64) -> usize {
    (seq / SAMPLE_EVERY) as usize % RING
}

impl MailboxClock {
    /// Nanoseconds since this clock's origin at `t` (0 before it).
    #[inline]
    pub fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.origin).as_nanos() as u64
    }

    /// Message `seq` (from 0) was queued: stamped when it is a sampled one.
    #[inline]
    pub fn sent(&self, seq: u64) {
        if seq.is_multiple_of(SAMPLE_EVERY) {
            let i = slot(seq);
            self.at[i].store(self.ns(Instant::now()), Ordering::Relaxed);
            self.seq[i].store(seq, Ordering::Release);
        }
    }

    /// How long message `seq` waited, its handler starting at `now`; `None` when it was not
    /// stamped (not a sampled one, or its stamp was overwritten by a deeper backlog).
    #[inline]
    pub fn waited(&self, seq: u64, now: Instant) -> Option<u64> {
        let i = slot(seq);
        if self.seq[i].load(Ordering::Acquire) != seq {
            return None;
        }
        let at = self.at[i].load(Ordering::Relaxed);
        // A send of a later lap may have restamped the slot meanwhile.
        (self.seq[i].load(Ordering::Acquire) == seq).then(|| self.ns(now).saturating_sub(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sampled_messages_are_stamped_and_read_back_in_order() {
        let c = MailboxClock::default();
        for seq in 0..200 {
            c.sent(seq);
        }
        std::thread::sleep(Duration::from_millis(2));
        let now = Instant::now();
        // 0, 64, 128 and 192 are sampled; the others were never stamped.
        for seq in [0, 64, 128, 192] {
            let w = c.waited(seq, now).unwrap();
            assert!(w >= 2_000_000, "{seq}: {w}");
        }
        for seq in [1, 63, 65, 199] {
            assert_eq!(c.waited(seq, now), None, "{seq}");
        }
        // Not yet sent: no stamp for it.
        assert_eq!(c.waited(256, now), None);
    }

    #[test]
    fn an_overwritten_stamp_is_skipped() {
        let c = MailboxClock::default();
        c.sent(0);
        // RING laps later the same slot belongs to another message.
        let later = RING as u64 * SAMPLE_EVERY;
        c.sent(later);
        let now = Instant::now();
        assert_eq!(c.waited(0, now), None);
        assert!(c.waited(later, now).is_some());
    }
}
