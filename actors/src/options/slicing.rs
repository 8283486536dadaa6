//! The exchange's freeze quantity: the most one order may carry (`instruments.underlyings.*.
//! freeze_qty`). A larger entry, exit or flatten is sent as several orders ("slices"), each in
//! whole lots and within the limit; paper mode fills the same slices, so it pays the same
//! brokerage per order as live. Plain functions, no actix.
//!
//! Each slice has its own deterministic order tag ([`slice_tag`]), derived from the position
//! (or the exit attempt) and the slice's index only, so a re-run re-derives the same tags and
//! finds the orders it already placed instead of sending them again.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

/// The slices (order quantities, in order) that carry `quantity` of a contract of `lot_size`
/// when one order may hold at most `freeze_qty` (`None`: no limit known, one order).
///
/// Every slice but the last is the largest whole number of lots within the limit; the last
/// takes what remains. A quantity in whole lots gives slices in whole lots; a quantity that is
/// not (a broker's odd holding) leaves its odd units in the last slice, still within the
/// limit. Nothing to send is no slice. Errors: a lot size of 0, or a freeze quantity below one
/// lot (no order could be placed at all).
pub fn slices(quantity: u32, lot_size: u32, freeze_qty: Option<u32>) -> Result<Vec<u32>, String> {
    if lot_size == 0 {
        return Err("lot size 0: cannot slice in whole lots".into());
    }
    let Some(freeze) = freeze_qty else {
        return Ok(if quantity == 0 {
            vec![]
        } else {
            vec![quantity]
        });
    };
    if freeze < lot_size {
        return Err(format!(
            "freeze quantity {freeze} is below one lot of {lot_size}: no order could be placed"
        ));
    }
    let per = freeze / lot_size * lot_size;
    let full = quantity / per;
    let rest = quantity % per;
    let mut out = vec![per; full as usize];
    if rest > 0 {
        out.push(rest);
    }
    Ok(out)
}

/// The order tag of slice `index` (from 0) of the order set named `name` of a position (for
/// example `entry`, or `exit:{remaining}:{attempt}`), given the tag of its first slice
/// (`first`): slice 0 keeps that tag, so an order that needs no slicing is tagged as it always
/// was, and slice `i ≥ 1` hashes the position, the set and `i` into Kite's 20 characters.
pub fn slice_tag(first: &str, position_id: &Uuid, name: &str, index: usize) -> String {
    if index == 0 {
        return first.to_string();
    }
    let key = format!("{name}:slice:{index}");
    crate::kite::tag_for(&Uuid::new_v5(position_id, key.as_bytes()))
}

/// The freeze quantities by underlying, from `instruments.underlyings` (cheap to clone).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FreezeLimits(Arc<BTreeMap<String, u32>>);

impl FreezeLimits {
    /// The limits the config sets (underlyings without `freeze_qty` have none).
    pub fn from_instruments(ins: &crate::config::Instruments) -> Self {
        FreezeLimits(Arc::new(
            ins.underlyings
                .iter()
                .filter_map(|(name, u)| u.freeze_qty.map(|f| (name.clone(), f)))
                .collect(),
        ))
    }

    /// A table of its own (tests).
    pub fn of_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, u32)>) -> Self {
        FreezeLimits(Arc::new(
            pairs.into_iter().map(|(n, f)| (n.to_string(), f)).collect(),
        ))
    }

    /// The freeze quantity of `underlying`, if one is configured.
    pub fn get(&self, underlying: &str) -> Option<u32> {
        self.0.get(underlying).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn at_the_limit_is_one_order_above_it_several() {
        // NIFTY: lot 65, freeze 1800 → 27 lots (1755) per order.
        assert_eq!(slices(1755, 65, Some(1800)).unwrap(), vec![1755]);
        assert_eq!(slices(65, 65, Some(1800)).unwrap(), vec![65]);
        assert_eq!(slices(1820, 65, Some(1800)).unwrap(), vec![1755, 65]);
        assert_eq!(
            slices(3 * 1755, 65, Some(1800)).unwrap(),
            vec![1755, 1755, 1755]
        );
        // A limit that is a whole number of lots is used exactly (BANKNIFTY 600 = 20 × 30).
        assert_eq!(slices(600, 30, Some(600)).unwrap(), vec![600]);
        assert_eq!(slices(630, 30, Some(600)).unwrap(), vec![600, 30]);
        // The remainder slice.
        assert_eq!(slices(1300, 65, Some(520)).unwrap(), vec![520, 520, 260]);
        // A freeze of exactly one lot: one lot per order.
        assert_eq!(slices(195, 65, Some(65)).unwrap(), vec![65, 65, 65]);
    }

    #[test]
    fn no_limit_nothing_to_send_and_bad_limits() {
        assert_eq!(slices(100_000, 65, None).unwrap(), vec![100_000]);
        assert!(slices(0, 65, None).unwrap().is_empty());
        assert!(slices(0, 65, Some(1800)).unwrap().is_empty());
        let e = slices(130, 65, Some(64)).unwrap_err();
        assert!(
            e.contains("freeze quantity 64 is below one lot of 65"),
            "{e}"
        );
        assert!(slices(130, 0, Some(1800)).is_err());
        // An odd holding keeps its odd units in the last slice, within the limit.
        assert_eq!(slices(1760, 65, Some(1800)).unwrap(), vec![1755, 5]);
    }

    #[test]
    fn tags_are_deterministic_distinct_and_fit_kite() {
        let p = Uuid::from_u128(42);
        let first = crate::kite::tag_for(&Uuid::from_u128(7));
        assert_eq!(slice_tag(&first, &p, "entry", 0), first);
        let t: Vec<String> = (0..40).map(|i| slice_tag(&first, &p, "entry", i)).collect();
        let again: Vec<String> = (0..40).map(|i| slice_tag(&first, &p, "entry", i)).collect();
        assert_eq!(t, again, "re-derived identically");
        let distinct: std::collections::HashSet<&String> = t.iter().collect();
        assert_eq!(distinct.len(), 40);
        for tag in &t {
            assert!(
                tag.len() == 20 && tag.bytes().all(|b| b.is_ascii_alphanumeric()),
                "Kite takes at most 20 letters or digits: {tag}"
            );
        }
        // Another set of the same position, or another position, tags differently.
        assert_ne!(
            slice_tag(&first, &p, "exit:130:1", 1),
            slice_tag(&first, &p, "entry", 1)
        );
        assert_ne!(
            slice_tag(&first, &Uuid::from_u128(43), "entry", 1),
            slice_tag(&first, &p, "entry", 1)
        );
    }

    proptest! {
        #[test]
        fn slices_add_up_in_whole_lots_within_the_limit(
            lots in 0u32..500,
            lot in 1u32..2_000,
            extra_lots in 0u32..60,
            spare in 0u32..2_000,
        ) {
            let quantity = lots * lot;
            let freeze = lot * (extra_lots + 1) + spare % lot;
            let s = slices(quantity, lot, Some(freeze)).unwrap();
            prop_assert_eq!(s.iter().map(|&q| u64::from(q)).sum::<u64>(), u64::from(quantity));
            let per = freeze / lot * lot;
            prop_assert_eq!(s.len() as u32, quantity.div_ceil(per));
            for (i, q) in s.iter().enumerate() {
                prop_assert!(*q > 0 && *q <= freeze && q % lot == 0);
                if i + 1 < s.len() {
                    prop_assert_eq!(*q, per, "only the last slice is smaller");
                }
            }
        }
    }
}
