//! Replays, without cargo-fuzz, every input a fuzzer crashed on (`fuzz/regressions/<target>/*`) and the committed
//! seed corpora (`fuzz/corpus/<target>/*`) through the same invariant checks the fuzz targets run
//! (`fuzz/checks.rs`), so `cargo test` keeps protecting them.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Runs every file under `root/<target>/` through its target's checks; returns how many files ran per target.
fn replay(root: &Path) -> Vec<(String, usize)> {
    let mut ran = Vec::new();
    let dirs = std::fs::read_dir(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    let mut dirs: Vec<_> = dirs.map(|d| d.unwrap().path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(checks::TARGETS.contains(&target.as_str()), "{}: no fuzz target named {target}", dir.display());
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()).collect();
        files.sort();
        for file in &files {
            let data = std::fs::read(file).unwrap();
            let result = std::panic::catch_unwind(|| checks::run(&target, &data));
            assert!(matches!(result, Ok(true)), "{} breaks the {target} invariants", file.display());
        }
        assert!(!files.is_empty(), "{}: an empty folder replays nothing", dir.display());
        ran.push((target, files.len()));
    }
    ran
}

#[test]
fn inputs_that_once_crashed_a_fuzzer_pass_its_invariants() {
    let ran = replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions"));
    // The crashes found so far were in whisper_file and pickle_encode; each target folder that exists replayed files.
    for target in ["whisper_file", "pickle_encode"] {
        assert!(ran.iter().any(|(t, n)| t == target && *n > 0), "regressions replayed: {ran:?}");
    }
}

#[test]
fn every_fuzz_target_has_seeds_and_they_pass_its_invariants() {
    let ran = replay(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus"));
    for target in checks::TARGETS {
        assert!(ran.iter().any(|(t, n)| t == target && *n > 0), "no seeds for {target}: {ran:?}");
    }
}
