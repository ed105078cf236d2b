//! Properties of `group_by` + `flat_map` over random keys, group limits and demand: the multiset
//! of items out equals the multiset in, and each key's items come out in their input order.
//! With a flat_map concurrency below the number of keys the run ends with the stall error (never
//! a hang), and what came out before it is still per-key ordered.

use std::collections::BTreeMap;
use std::time::Duration;

use backflow::prelude::*;
use proptest::prelude::*;

fn check(keys: &[u8], prefetch: usize, concurrency: usize, inner_prefetch: usize, batch: u64) {
    let items: Vec<(u8, usize)> = keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let distinct = {
        let mut k = keys.to_vec();
        k.sort();
        k.dedup();
        k.len()
    };
    let (sub, probe) = TestSubscriber::builder()
        .initial_request(batch)
        .request_after_each(1)
        .build();
    backflow::from_iter(items.clone())
        .group_by_with(|(k, _)| *k, 64, prefetch)
        .flat_map_with(|g| g, concurrency, inner_prefetch)
        .subscribe(sub);
    let terminal = probe
        .await_terminal(Duration::from_secs(20))
        .expect("never a hang");
    let out = probe.values();
    // Per key, in input order (a prefix of it if the run stalled).
    let mut by_key: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (k, i) in &out {
        by_key.entry(*k).or_default().push(*i);
    }
    for (k, seen) in &by_key {
        let expected: Vec<usize> = items
            .iter()
            .filter(|(kk, _)| kk == k)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(
            seen.as_slice(),
            &expected[..seen.len()],
            "key {k}: in order"
        );
    }
    if concurrency >= distinct {
        assert!(probe.is_complete(), "{terminal:?}: {:?}", probe.error());
        let (mut sorted_out, mut sorted_in) = (out.clone(), items.clone());
        sorted_out.sort();
        sorted_in.sort();
        assert!(
            sorted_out == sorted_in,
            "the multiset out differs from the multiset in"
        );
    } else if let Some(error) = probe.error() {
        assert_eq!(error.kind(), ErrorKind::Overflow);
        assert!(error.to_string().contains("group_by stalled"), "{error}");
    }
    probe.assert_protocol();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn group_by_flat_map_loses_nothing_and_keeps_per_key_order(
        keys in prop::collection::vec(0..12u8, 0..400),
        prefetch in 1..64usize,
        inner_prefetch in 1..16usize,
        batch in 1..20u64,
    ) {
        check(&keys, prefetch, 64, inner_prefetch, batch);
    }

    #[test]
    fn too_little_concurrency_stalls_with_an_error_not_a_hang(
        keys in prop::collection::vec(0..6u8, 0..300),
        prefetch in 1..32usize,
        concurrency in 1..4usize,
        inner_prefetch in 1..8usize,
    ) {
        check(&keys, prefetch, concurrency, inner_prefetch, u64::MAX);
    }
}
