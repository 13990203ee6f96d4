//! `fdlimit::presize_table` in a process of its own: a process's descriptor table only grows, and the library's
//! other tests (any engine start sets the open-file budget) grow it to the limit, so only a fresh process shows it
//! growing. This file holds one test so that nothing else runs in its process.

use warren::cache::fdlimit::presize_table;

/// The kernel's size of this process's descriptor table (`FDSize` in /proc/self/status).
fn table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
    line["FDSize:".len()..].trim().parse().unwrap()
}

/// The soft limit on open files (`Max open files` in /proc/self/limits).
fn soft_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line["Max open files".len()..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_descriptor_table_is_grown_to_the_size_asked_for_at_once() {
    let (before, limit) = (table_size(), soft_limit());
    let want = (before * 4).min(limit);
    assert!(before < want, "a fresh process's table ({before}) is already at the limit ({limit})");
    assert_eq!(presize_table(want), Some(want));
    assert!(table_size() >= want, "table {} after asking for {want} (before: {before})", table_size());
    // Within the limit only: past it, the table is grown to the limit and no further.
    assert_eq!(presize_table(limit + 1000), Some(limit));
    assert_eq!(presize_table(0), None);
}
