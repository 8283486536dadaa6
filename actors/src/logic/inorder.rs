//! A FIFO of items whose asynchronous work may finish in any order but must be released in the
//! order they arrived (signals are published, and decided, in data order).

use std::collections::VecDeque;

/// Items waiting for completion, released strictly in arrival order.
#[derive(Debug)]
pub struct InOrder<T, R> {
    next_seq: u64,
    head_seq: u64,
    slots: VecDeque<(T, Option<R>)>,
}

impl<T, R> Default for InOrder<T, R> {
    fn default() -> Self {
        InOrder {
            next_seq: 0,
            head_seq: 0,
            slots: VecDeque::new(),
        }
    }
}

impl<T, R> InOrder<T, R> {
    /// Enqueues an item; returns its sequence number for [`InOrder::complete`].
    pub fn push(&mut self, item: T) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.slots.push_back((item, None));
        seq
    }

    /// Records the result of item `seq` and returns every item now releasable, in order.
    pub fn complete(&mut self, seq: u64, result: R) -> Vec<(T, R)> {
        if let Some(idx) = seq.checked_sub(self.head_seq) {
            if let Some(slot) = self.slots.get_mut(idx as usize) {
                slot.1 = Some(result);
            }
        }
        let mut out = Vec::new();
        while matches!(self.slots.front(), Some((_, Some(_)))) {
            if let Some((item, Some(r))) = self.slots.pop_front() {
                out.push((item, r));
                self.head_seq += 1;
            }
        }
        out
    }

    /// Items still waiting for their result, with their sequence numbers.
    pub fn waiting(&self) -> impl Iterator<Item = (u64, &T)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, (_, r))| r.is_none())
            .map(move |(i, (t, _))| (self.head_seq + i as u64, t))
    }

    /// Items not yet released.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_in_arrival_order() {
        let mut q = InOrder::default();
        let a = q.push("a");
        let b = q.push("b");
        let c = q.push("c");
        assert!(q.complete(b, 2).is_empty());
        assert!(q.complete(c, 3).is_empty());
        assert_eq!(q.complete(a, 1), vec![("a", 1), ("b", 2), ("c", 3)]);
        assert!(q.is_empty());
        let d = q.push("d");
        assert_eq!(q.complete(d, 4), vec![("d", 4)]);
        assert!(q.complete(99, 0).is_empty());
    }
}
