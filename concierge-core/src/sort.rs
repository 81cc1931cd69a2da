//! One stable sort for the crate's vectors.
//!
//! `slice::sort_by` and `sort_by_key` compile the standard library's stable sort once per
//! element type and comparator: each copy is 3–4 KB of the Worker's wasm (docs/benchmarks.md,
//! "Worker bundle"). [`by_key`] and [`by`] sort a permutation of indices through a `dyn`
//! comparator instead, so every caller shares one copy, then move the elements into that
//! order. The result is exactly `sort_by`'s: stable, equal elements keep their order.
//!
//! Only worth it where a sort is compiled into the Worker; elsewhere use the slice methods.

use std::cmp::Ordering;

/// `items.sort_by_key(key)`, through the shared sort.
pub(crate) fn by_key<T, K: Ord>(items: &mut Vec<T>, key: impl Fn(&T) -> K) {
    by(items, |a, b| key(a).cmp(&key(b)));
}

/// `items.sort_by(compare)`, through the shared sort.
pub(crate) fn by<T>(items: &mut Vec<T>, compare: impl Fn(&T, &T) -> Ordering) {
    let order = stable_order(items.len(), &|a, b| compare(&items[a], &items[b]));
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// The indices `0..len` in the stable order `compare` gives them; the one sort compiled.
fn stable_order(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| compare(a, b));
    order
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sorts_exactly_as_the_slice_methods_do(
            items in proptest::collection::vec((0u8..6, any::<u16>()), 0..64),
        ) {
            // Keys with many ties, so stability shows.
            let mut ours = items.clone();
            super::by_key(&mut ours, |&(k, _)| k);
            let mut std = items.clone();
            std.sort_by_key(|&(k, _)| k);
            prop_assert_eq!(&ours, &std);

            let mut ours = items.clone();
            super::by(&mut ours, |a, b| b.0.cmp(&a.0));
            let mut std = items;
            std.sort_by_key(|a| std::cmp::Reverse(a.0));
            prop_assert_eq!(ours, std);
        }
    }
}
