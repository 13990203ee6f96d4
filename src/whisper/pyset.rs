//! The iteration order of CPython 3.11's `set(list_of_ints)`.
//!
//! The reference propagates the lower intervals of a batch by iterating `set(lowerIntervals)`. The order matters
//! for the bytes on disk: the first propagation into an empty lower archive decides its base (slot 0), and two
//! intervals a ring apart land on the same slot (the later write wins). To be byte-identical warren replays
//! CPython's open-addressing table (Objects/setobject.c: linear probes of 9, perturbed probing, resize to 4×used
//! when 3/5 full) for integer keys, whose hash is the integer itself below 2^61 - 1.

const EMPTY: u64 = u64::MAX;
const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
const MIN_SIZE: usize = 8;

/// Insert `key` into the open-addressing `table` (length = mask + 1, a power of two); false if already present.
fn insert(table: &mut [u64], key: u32, check_duplicate: bool) -> bool {
    let mask = table.len() - 1;
    let hash = key as usize;
    let mut perturb = hash;
    let mut i = hash & mask;
    loop {
        let probes = if i + LINEAR_PROBES <= mask { LINEAR_PROBES } else { 0 };
        for slot in &mut table[i..=i + probes] {
            if *slot == EMPTY {
                *slot = u64::from(key);
                return true;
            }
            if check_duplicate && *slot == u64::from(key) {
                return false;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = i.wrapping_mul(5).wrapping_add(1).wrapping_add(perturb) & mask;
    }
}

/// Reusable buffers for [`set_order`].
#[derive(Debug, Default)]
pub(crate) struct PySetScratch {
    table: Vec<u64>,
    spare: Vec<u64>,
}

/// Write into `out` the distinct values of `keys` in the order `list(set(keys))` yields them in CPython 3.11.
/// Allocates only when the scratch tables must grow beyond any earlier call.
pub(crate) fn set_order(keys: &[u32], scratch: &mut PySetScratch, out: &mut Vec<u32>) {
    let table = &mut scratch.table;
    table.clear();
    table.resize(MIN_SIZE, EMPTY);
    let mut used = 0usize;
    let mut previous = None;
    for &key in keys {
        // A repeat of the key just inserted changes nothing (batches repeat each lower interval many times in a
        // row): skip its probe.
        if previous.replace(key) == Some(key) || !insert(table, key, true) {
            continue;
        }
        used += 1;
        let mask = table.len() - 1;
        if used * 5 >= mask * 3 {
            let min_used = if used > 50_000 { used * 2 } else { used * 4 };
            let mut new_size = MIN_SIZE;
            while new_size <= min_used {
                new_size <<= 1;
            }
            let spare = &mut scratch.spare;
            spare.clear();
            spare.resize(new_size, EMPTY);
            for &old in table.iter().filter(|&&e| e != EMPTY) {
                // Keys come from u32s, so `old` fits.
                insert(spare, old as u32, false);
            }
            std::mem::swap(table, spare);
        }
    }
    out.clear();
    out.extend(table.iter().filter(|&&e| e != EMPTY).map(|&e| e as u32));
}

/// `list(set(keys))` as CPython 3.11 orders it. Exposed (hidden) so the differential tests can check the
/// emulation against the real interpreter; not part of the engine's contract.
#[doc(hidden)]
pub fn python_set_order(keys: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    set_order(keys, &mut PySetScratch::default(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ints_iterate_by_hash_slot() {
        // In an 8-slot table 1 collides with 9 at slot 1; near the table's end there is no linear probing, so
        // it goes to slot (1 * 5 + 1) & 7 = 6.
        assert_eq!(python_set_order(&[9, 1, 3]), vec![9, 3, 1]);
        assert_eq!(python_set_order(&[3, 1, 9]), vec![1, 3, 9]);
    }

    #[test]
    fn duplicates_are_kept_once() {
        assert_eq!(python_set_order(&[60, 60, 120, 60]), vec![120, 60]);
    }

    #[test]
    fn growing_past_five_keys_rehashes_into_a_larger_table() {
        // 5 keys fill 8 slots past 3/5: the table becomes 32 slots; 1 then probes linearly past 33 to slot 2.
        // Expected values printed by CPython 3.11: list(set([40, 33, 5, 1, 64])).
        assert_eq!(python_set_order(&[40, 33, 5, 1, 64]), vec![64, 33, 1, 5, 40]);
    }
}
