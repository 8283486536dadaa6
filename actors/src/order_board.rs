//! The Broker's board of pushed order updates: the latest state KiteTicker pushed for each
//! order, which orders are being followed right now, and a wake-up for the followers.
//!
//! The Broker writes to it (each [`OrderUpdate`] as it arrives); the futures following its
//! orders ([`crate::live_orders`]) read it: a follower sleeps until its next REST poll or until
//! a final state (COMPLETE, CANCELLED, REJECTED) is pushed for its order, whichever is first,
//! and then reads the order over REST — the REST answer is the one acted on. An update may
//! arrive before the placement's reply gives the order id: it is kept, and the follower finds
//! it at once. The board keeps the latest update of the last [`KEEP`] orders.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use messages::msg::OrderUpdate;
use tokio::sync::watch;

/// How many orders' latest updates are kept (Kite allows 5000 orders a day).
pub const KEEP: usize = 10_000;

/// What a push changed: the status pushed before for this order, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub previous: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Increases with every push.
    seq: u64,
    /// Order id → (the push's sequence number, the update).
    latest: HashMap<String, (u64, OrderUpdate)>,
    /// Ids in the order they were first pushed (the oldest is dropped past [`KEEP`]).
    arrival: VecDeque<String>,
    /// Order id → how many followers.
    followed: HashMap<String, usize>,
    /// (order id, push sequence) pairs already counted as a disagreement.
    disagreed: HashSet<(String, u64)>,
    /// Pushed final states REST did not confirm.
    disagreements: u64,
    /// Orders finished on a push before their next poll.
    finished_by_push: u64,
    /// Tags of the orders whose rejection was pushed (and raised).
    rejected_tags: HashSet<String>,
}

/// The board (shared: `Arc<OrderBoard>`).
pub struct OrderBoard {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

impl Default for OrderBoard {
    fn default() -> Self {
        OrderBoard {
            inner: Mutex::default(),
            changed: watch::channel(0).0,
        }
    }
}

/// Unregisters a follower when dropped (the follow ended, or its future was dropped).
pub struct Following {
    board: Arc<OrderBoard>,
    id: String,
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut g = self.board.lock();
        if let Some(n) = g.followed.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                g.followed.remove(&self.id);
            }
        }
    }
}

impl OrderBoard {
    pub fn new() -> Arc<OrderBoard> {
        Arc::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned lock's data is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `u` as its order's latest state and wakes the followers.
    pub fn push(&self, u: OrderUpdate) -> Pushed {
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        let id = u.order_id.clone();
        if u.status == "REJECTED" {
            if let Some(t) = &u.tag {
                g.rejected_tags.insert(t.clone());
            }
        }
        let previous = match g.latest.insert(id.clone(), (seq, u)) {
            Some((_, old)) => Some(old.status),
            None => {
                g.arrival.push_back(id);
                if g.arrival.len() > KEEP {
                    if let Some(old) = g.arrival.pop_front() {
                        g.latest.remove(&old);
                        g.disagreed.retain(|(o, _)| o != &old);
                    }
                }
                None
            }
        };
        drop(g);
        self.changed.send_replace(seq);
        Pushed { previous }
    }

    /// The latest update pushed for order `id`, with its sequence number.
    pub fn latest(&self, id: &str) -> Option<(u64, OrderUpdate)> {
        self.lock().latest.get(id).cloned()
    }

    /// The sequence number of order `id`'s latest push (0: none).
    pub fn seq_of(&self, id: &str) -> u64 {
        self.lock().latest.get(id).map(|(s, _)| *s).unwrap_or(0)
    }

    /// Registers a follower of order `id` until the returned guard is dropped.
    pub fn follow(self: &Arc<Self>, id: &str) -> Following {
        *self.lock().followed.entry(id.to_string()).or_default() += 1;
        Following {
            board: self.clone(),
            id: id.to_string(),
        }
    }

    /// Is order `id` being followed now?
    pub fn is_followed(&self, id: &str) -> bool {
        self.lock().followed.contains_key(id)
    }

    /// The orders followed now.
    pub fn followed(&self) -> HashSet<String> {
        self.lock().followed.keys().cloned().collect()
    }

    /// Resolves once a final state newer than push `after` is pushed for order `id` (at once
    /// if one already is); gives that push's sequence number.
    pub async fn final_pushed(&self, id: &str, after: u64) -> u64 {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some((seq, u)) = self.latest(id) {
                if seq > after && u.is_terminal() {
                    return seq;
                }
            }
            if rx.changed().await.is_err() {
                // The board is gone: nothing will ever be pushed.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Notes that push `seq` of order `id` said `pushed` while REST says `rest` (final or
    /// not): counted once per push. True the first time.
    pub fn disagree(&self, id: &str, seq: u64) -> bool {
        let mut g = self.lock();
        let fresh = g.disagreed.insert((id.to_string(), seq));
        if fresh {
            g.disagreements += 1;
        }
        fresh
    }

    /// Was the rejection of an order carrying one of `tags` pushed?
    pub fn rejection_raised(&self, tags: &[String]) -> bool {
        let g = self.lock();
        tags.iter().any(|t| g.rejected_tags.contains(t))
    }

    /// Notes an order finished on a push before its next REST poll.
    pub fn finished_by_push(&self) {
        self.lock().finished_by_push += 1;
    }

    /// (disagreements, orders finished by a push) so far.
    pub fn counts(&self) -> (u64, u64) {
        let g = self.lock();
        (g.disagreements, g.finished_by_push)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn update(id: &str, status: &str) -> OrderUpdate {
        OrderUpdate {
            order_id: id.into(),
            status: status.into(),
            quantity: 75,
            ..Default::default()
        }
    }

    #[test]
    fn pushes_keep_the_latest_state_and_say_what_came_before() {
        let b = OrderBoard::new();
        assert_eq!(b.push(update("A", "OPEN")), Pushed { previous: None });
        let g = b.follow("A");
        assert!(b.is_followed("A"));
        let second = b.push(update("A", "REJECTED"));
        assert_eq!(second.previous.as_deref(), Some("OPEN"));
        assert_eq!(b.latest("A").unwrap().1.status, "REJECTED");
        assert_eq!(b.seq_of("A"), 2);
        assert_eq!(b.followed(), HashSet::from(["A".to_string()]));
        assert!(!b.rejection_raised(&["t".into()]), "no tag");
        let mut tagged = update("B", "REJECTED");
        tagged.tag = Some("t".into());
        b.push(tagged);
        assert!(b.rejection_raised(&["x".into(), "t".into()]));
        drop(g);
        assert!(!b.is_followed("A"), "the guard unregisters");
    }

    #[test]
    fn only_the_last_orders_are_kept() {
        let b = OrderBoard::new();
        for i in 0..KEEP + 5 {
            b.push(update(&i.to_string(), "OPEN"));
        }
        assert!(b.latest("4").is_none());
        assert!(b.latest("5").is_some());
        assert_eq!(b.lock().latest.len(), KEEP);
    }

    #[test]
    fn a_disagreement_is_counted_once_per_push() {
        let b = OrderBoard::new();
        b.push(update("A", "COMPLETE"));
        assert!(b.disagree("A", 1));
        assert!(!b.disagree("A", 1));
        assert_eq!(b.counts(), (1, 0));
    }

    #[actix_rt::test]
    async fn a_follower_wakes_on_a_final_state_only() {
        let b = OrderBoard::new();
        b.push(update("A", "OPEN"));
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.final_pushed("A", 0).await })
        };
        // A state that is not final, and another order's, wake nobody.
        b.push(update("A", "OPEN"));
        b.push(update("B", "COMPLETE"));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        b.push(update("A", "COMPLETE"));
        let seq = tokio::time::timeout(Duration::from_secs(30), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seq, 4);
        // Already final when asked: at once.
        assert_eq!(b.final_pushed("A", 0).await, 4);
    }
}
