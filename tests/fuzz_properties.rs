//! Property tests for every parser through the invariants the fuzz targets check (`fuzz/checks.rs`), not just
//! "does not panic": arbitrary bytes, and the committed seeds (`fuzz/corpus/<target>/*`) mutated and truncated.
//! A short, deterministic-by-seed cousin of the fuzzers that plain `cargo test` runs.

#[path = "../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;
use std::sync::OnceLock;

/// The seed corpus of each target, in `checks::TARGETS` order.
fn seeds() -> &'static Vec<Vec<Vec<u8>>> {
    static SEEDS: OnceLock<Vec<Vec<Vec<u8>>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        checks::TARGETS
            .iter()
            .map(|t| {
                let mut files: Vec<_> = std::fs::read_dir(root.join(t)).unwrap().map(|e| e.unwrap().path()).collect();
                files.sort();
                let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
                assert!(!seeds.is_empty(), "no seeds for {t}");
                seeds
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_keep_every_targets_invariants(
        target in 0..checks::TARGETS.len(),
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        prop_assert!(checks::run(checks::TARGETS[target], &data));
    }

    #[test]
    fn mutated_seeds_keep_every_targets_invariants(
        target in 0..checks::TARGETS.len(),
        pick in any::<usize>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
    ) {
        let seeds = &seeds()[target];
        let mut data = seeds[pick % seeds.len()].clone();
        if !data.is_empty() {
            for (at, b) in edits {
                let at = at % data.len();
                data[at] = b;
            }
            data.truncate(cut % (data.len() + 1));
        }
        prop_assert!(checks::run(checks::TARGETS[target], &data));
    }
}
