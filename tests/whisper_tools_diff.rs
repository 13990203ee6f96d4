//! Differential tests of the whisper toolset: `warren whisper fill | merge | diff | set-xff | resize` against the
//! scripts Debian's python3-whisper ships (/usr/bin/whisper-fill, -merge, -diff, -set-xfilesfactor, -resize),
//! run by `/usr/bin/python3` through `tests/support/whisper_script.py`, which pins `time.time()` to the same clock
//! warren gets with `--now`. Many generated scenarios per tool; for each: the same starting files, both programs
//! run in their own copy, then the files must be byte-identical, stdout identical, and both must succeed or both
//! fail.

mod common;

use common::rng::{Generator, SplitMix64 as Rng};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use warren::whisper::{
    validate_archives, AggregationMethod, ArchiveSpec, CreateMode, CreateOptions, OpenOptions, Point, UpdateScratch,
    WhisperFile,
};

const PYTHON: &str = "/usr/bin/python3";
const WARREN: &str = env!("CARGO_BIN_EXE_warren");

/// Mostly ordinary values; zeros (a "gap" to whisper-fill), NaN and infinities sometimes.
fn random_value(rng: &mut Rng) -> f64 {
    match rng.next() % 16 {
        0 => rng.pick(&[0.0, -0.0, f64::NAN, f64::INFINITY]),
        1..=5 => rng.range(-5, 5) as f64,
        _ => (rng.next() as i64 as f64) / (1u64 << rng.range(8, 40)) as f64,
    }
}

/// A valid archive list with small rings, 1 to 3 archives.
fn archive_list(rng: &mut Rng) -> Vec<ArchiveSpec> {
    let mut archives =
        vec![ArchiveSpec { seconds_per_point: rng.pick(&[1, 2, 5, 10, 60]), points: rng.range(4, 60) as u32 }];
    for _ in 0..rng.range(0, 2) {
        let prev = *archives.last().unwrap();
        let factor = rng.range(2, 6.min(i64::from(prev.points))) as u32;
        archives.push(ArchiveSpec {
            seconds_per_point: prev.seconds_per_point * factor,
            points: prev.points / factor + 1 + rng.range(0, 30) as u32,
        });
    }
    validate_archives(&archives).expect("generator makes valid lists");
    archives
}

fn create(path: &Path, archives: &[ArchiveSpec], rng: &mut Rng) {
    let aggregation = rng.pick(&AggregationMethod::ALL);
    let xff = rng.pick(&[0.0, 0.5, 1.0, 0.3]);
    let opts = CreateOptions { x_files_factor: xff, aggregation, mode: CreateMode::Zero };
    WhisperFile::create(path, archives, &opts, OpenOptions::default()).unwrap();
}

/// Write points over the file's whole retention (and a little beyond), some dense runs and some scattered, with
/// holes in between: `density` percent of the steps of each run get a value.
fn populate(path: &Path, rng: &mut Rng, now: u32, density: u64) {
    let mut wf = WhisperFile::open(path, OpenOptions::default()).unwrap();
    let archives = wf.header().archives.clone();
    let max = i64::from(wf.header().max_retention);
    let step = i64::from(archives[0].seconds_per_point);
    let mut points = Vec::new();
    for _ in 0..rng.range(0, 4) {
        let end = rng.range(0, max);
        let len = rng.range(1, i64::from(archives[0].points) + 5);
        for i in 0..len {
            if rng.chance(density) {
                let age = end + i * step;
                points.push(Point { timestamp: (i64::from(now) - age) as u32, value: random_value(rng) });
            }
        }
    }
    for _ in 0..rng.range(0, 15) {
        let age = rng.range(0, max * 9 / 8);
        points.push(Point { timestamp: (i64::from(now) - age) as u32, value: random_value(rng) });
    }
    wf.update_many(&mut points, now, &mut UpdateScratch::default()).unwrap();
}

/// A fresh scenario directory with the given files copied into `ours/` and `theirs/`.
struct Case {
    _dir: tempfile::TempDir,
    ours: PathBuf,
    theirs: PathBuf,
}

impl Case {
    fn new(setup: impl FnOnce(&Path)) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let (ours, theirs) = (dir.path().join("ours"), dir.path().join("theirs"));
        std::fs::create_dir(&ours).unwrap();
        setup(&ours);
        std::fs::create_dir(&theirs).unwrap();
        for e in std::fs::read_dir(&ours).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), theirs.join(e.file_name())).unwrap();
        }
        Case { _dir: dir, ours, theirs }
    }

    /// Run warren in `ours/` and the script in `theirs/`, with relative paths, so that printed paths agree.
    fn run(
        &self,
        now: f64,
        warren_args: &[String],
        script: &str,
        script_args: &[String],
        py3_fixes: bool,
    ) -> (Output, Output) {
        let mut cmd = Command::new(WARREN);
        cmd.current_dir(&self.ours).arg("whisper").args(warren_args);
        if warren_args[0] != "set-xff" {
            cmd.args(["--now".to_string(), fmt_now(now, warren_args)]);
        }
        let ours = cmd.output().unwrap();
        let helper = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/whisper_script.py");
        let theirs = Command::new(PYTHON)
            .current_dir(&self.theirs)
            .env("WHISPER_PY3_FIXES", if py3_fixes { "1" } else { "0" })
            .arg(helper)
            .arg(format!("{now:.3}"))
            .arg(format!("/usr/bin/{script}"))
            .args(script_args)
            .output()
            .unwrap();
        (ours, theirs)
    }

    /// Every file of both sides (same names, same bytes).
    fn assert_same_files(&self, context: &str) {
        let names = |d: &Path| {
            let mut v: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name()).collect();
            v.sort();
            v
        };
        assert_eq!(names(&self.ours), names(&self.theirs), "{context}: the same files");
        for n in names(&self.ours) {
            let (a, b) = (std::fs::read(self.ours.join(&n)).unwrap(), std::fs::read(self.theirs.join(&n)).unwrap());
            if a != b {
                let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                panic!(
                    "{context}: {n:?} differs (lengths {} / {}, first difference at byte {first})",
                    a.len(),
                    b.len()
                );
            }
        }
    }
}

/// `--now` as warren's subcommand takes it: fill keeps the fraction, the others take whole seconds as the
/// scripts' `int(time.time())`.
fn fmt_now(now: f64, args: &[String]) -> String {
    if args[0] == "fill" {
        format!("{now:.3}")
    } else {
        format!("{}", now as i64)
    }
}

fn assert_same_outcome(ours: &Output, theirs: &Output, context: &str, compare_stdout: bool) {
    assert_eq!(
        ours.status.success(),
        theirs.status.success(),
        "{context}: warren {:?} (stderr {}), reference {:?} (stderr {})",
        ours.status,
        String::from_utf8_lossy(&ours.stderr),
        theirs.status,
        String::from_utf8_lossy(&theirs.stderr)
    );
    if compare_stdout {
        assert_eq!(String::from_utf8_lossy(&ours.stdout), String::from_utf8_lossy(&theirs.stdout), "{context}: stdout");
    }
}

/// A clock for a case: whole seconds or with a fraction (whisper-fill.py uses the fraction).
fn clock(rng: &mut Rng) -> f64 {
    let base = 1_700_000_000.0 + rng.range(0, 1_000_000) as f64;
    base + rng.pick(&[0.0, 0.0, 0.25, 0.5, 0.999])
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn fill_writes_the_same_bytes_as_whisper_fill() {
    let mut rng = Rng(13);
    let mut filled = 0;
    for case in 0..100 {
        let now = clock(&mut rng);
        let t = now as u32;
        let same = rng.chance(60);
        let src_archives = archive_list(&mut rng);
        let dst_archives = if same { src_archives.clone() } else { archive_list(&mut rng) };
        let c = Case::new(|d| {
            create(&d.join("src.wsp"), &src_archives, &mut rng);
            create(&d.join("dst.wsp"), &dst_archives, &mut rng);
            let src_density = rng.pick(&[100, 90, 50]);
            populate(&d.join("src.wsp"), &mut rng, t, src_density);
            // The destination: empty, sparse, or the moved metric's new life (only the recent past).
            match rng.next() % 3 {
                0 => {}
                1 => populate(&d.join("dst.wsp"), &mut rng, t, 30),
                _ => {
                    let mut wf = WhisperFile::open(&d.join("dst.wsp"), OpenOptions::default()).unwrap();
                    let step = wf.header().archives[0].seconds_per_point;
                    let mut pts: Vec<Point> =
                        (0..rng.range(1, 8)).map(|i| Point { timestamp: t - i as u32 * step, value: 1.0 }).collect();
                    wf.update_many(&mut pts, t, &mut UpdateScratch::default()).unwrap();
                }
            }
        });
        let before = std::fs::read(c.ours.join("dst.wsp")).unwrap();
        let lock = rng.chance(20);
        let mut args = vec![s("fill"), s("src.wsp"), s("dst.wsp")];
        let mut script_args = vec![s("src.wsp"), s("dst.wsp")];
        if lock {
            args.push(s("--lock"));
            script_args.insert(0, s("--lock"));
        }
        let (ours, theirs) = c.run(now, &args, "whisper-fill", &script_args, false);
        let context = format!("fill case {case} (now {now}, archives {src_archives:?} -> {dst_archives:?})");
        assert_same_outcome(&ours, &theirs, &context, true);
        c.assert_same_files(&context);
        if std::fs::read(c.ours.join("dst.wsp")).unwrap() != before {
            filled += 1;
        }
    }
    // The scenarios exercise the copy, not only no-ops.
    assert!(filled >= 40, "only {filled} of 100 fills wrote anything");
}

#[test]
fn merge_writes_the_same_bytes_as_whisper_merge() {
    let mut rng = Rng(18);
    let mut merged = 0;
    for case in 0..100 {
        let now = clock(&mut rng).floor();
        let t = now as u32;
        let archives = archive_list(&mut rng);
        let other = if rng.chance(10) { archive_list(&mut rng) } else { archives.clone() };
        let c = Case::new(|d| {
            create(&d.join("src.wsp"), &archives, &mut rng);
            create(&d.join("dst.wsp"), &other, &mut rng);
            populate(&d.join("src.wsp"), &mut rng, t, 80);
            if rng.chance(50) {
                populate(&d.join("dst.wsp"), &mut rng, t, 40);
            }
        });
        let before = std::fs::read(c.ours.join("dst.wsp")).unwrap();
        let max = archives.iter().map(|a| a.retention() as i64).max().unwrap();
        let mut opts = Vec::new();
        if rng.chance(50) {
            opts.push(format!("--from={}", i64::from(t) - rng.range(-10, max + 50)));
        }
        if rng.chance(50) {
            opts.push(format!("--until={}", i64::from(t) - rng.range(-5, max + 50)));
        }
        let mut args = vec![s("merge")];
        args.extend(opts.iter().cloned());
        args.extend([s("src.wsp"), s("dst.wsp")]);
        let mut script_args = opts.clone();
        script_args.extend([s("src.wsp"), s("dst.wsp")]);
        let (ours, theirs) = c.run(now, &args, "whisper-merge", &script_args, false);
        let context = format!("merge case {case} (now {now}, {opts:?}, archives {archives:?} / {other:?})");
        assert_same_outcome(&ours, &theirs, &context, true);
        c.assert_same_files(&context);
        if std::fs::read(c.ours.join("dst.wsp")).unwrap() != before {
            merged += 1;
        }
    }
    assert!(merged >= 40, "only {merged} of 100 merges wrote anything");
}

#[test]
fn diff_prints_what_whisper_diff_prints() {
    let mut rng = Rng(1318);
    let mut differing = 0;
    for case in 0..80 {
        let now = clock(&mut rng).floor();
        let t = now as u32;
        let archives = archive_list(&mut rng);
        let c = Case::new(|d| {
            create(&d.join("a.wsp"), &archives, &mut rng);
            create(
                &d.join("b.wsp"),
                if rng.chance(5) { &[ArchiveSpec { seconds_per_point: 7, points: 9 }] } else { &archives },
                &mut rng,
            );
            populate(&d.join("a.wsp"), &mut rng, t, 70);
            if rng.chance(50) {
                std::fs::copy(d.join("a.wsp"), d.join("b.wsp")).unwrap();
            }
            populate(&d.join("b.wsp"), &mut rng, t, 20);
        });
        let mut opts = Vec::new();
        for flag in ["--summary", "--ignore-empty", "--columns", "--no-headers", "--json"] {
            if rng.chance(35) {
                opts.push(s(flag));
            }
        }
        if rng.chance(30) {
            let max = archives.iter().map(|a| a.retention() as i64).max().unwrap();
            opts.push(format!("--until={}", i64::from(t) - rng.range(0, max)));
        }
        let mut args = vec![s("diff")];
        args.extend(opts.iter().cloned());
        args.extend([s("a.wsp"), s("b.wsp")]);
        let mut script_args = opts.clone();
        script_args.extend([s("a.wsp"), s("b.wsp")]);
        let (ours, theirs) = c.run(now, &args, "whisper-diff", &script_args, false);
        let context = format!("diff case {case} (now {now}, {opts:?}, archives {archives:?})");
        assert_same_outcome(&ours, &theirs, &context, true);
        c.assert_same_files(&context);
        if ours.status.success() && String::from_utf8_lossy(&ours.stdout).contains("None") {
            differing += 1;
        }
    }
    eprintln!("diff: {differing} of 80 printed differences");
    assert!(differing >= 10, "only {differing} diffs printed a difference");
}

#[test]
fn set_xff_writes_and_prints_as_whisper_set_xfilesfactor() {
    let mut rng = Rng(7);
    for (case, xff) in ["0", "1", "0.5", "0.1", "1e-1", "0.333333", "-0.0", "1.5", "-0.2", "0.7000000000000001", "abc"]
        .into_iter()
        .enumerate()
    {
        let archives = archive_list(&mut rng);
        let c = Case::new(|d| create(&d.join("m.wsp"), &archives, &mut rng));
        let (ours, theirs) =
            c.run(1e9, &[s("set-xff"), s("m.wsp"), s(xff)], "whisper-set-xfilesfactor", &[s("m.wsp"), s(xff)], false);
        let context = format!("set-xff case {case} ({xff})");
        assert_same_outcome(&ours, &theirs, &context, true);
        c.assert_same_files(&context);
    }
}

#[test]
fn resize_writes_and_prints_as_whisper_resize() {
    let mut rng = Rng(2026);
    let (mut succeeded, mut aggregated) = (0, 0);
    for case in 0..60 {
        let now = clock(&mut rng).floor();
        let t = now as u32;
        let old = archive_list(&mut rng);
        let new = archive_list(&mut rng);
        let c = Case::new(|d| {
            create(&d.join("m.wsp"), &old, &mut rng);
            populate(&d.join("m.wsp"), &mut rng, t, 80);
            if rng.chance(20) {
                std::fs::write(d.join("m.wsp.tmp"), b"stale").unwrap();
            }
        });
        let mut opts = Vec::new();
        let aggregate = rng.chance(40);
        if aggregate {
            opts.push(s("--aggregate"));
        }
        if rng.chance(40) {
            opts.push(format!("--xFilesFactor={}", rng.pick(&["0", "0.5", "1", "0.25"])));
        }
        if rng.chance(40) {
            opts.push(format!("--aggregationMethod={}", rng.pick(&AggregationMethod::ALL).name()));
        }
        if rng.chance(20) {
            opts.push(s("--newfile=n.wsp"));
        }
        if rng.chance(30) {
            opts.push(s("--nobackup"));
        }
        if rng.chance(20) {
            opts.push(s("--force"));
        }
        let defs: Vec<String> = new.iter().map(|a| format!("{}:{}", a.seconds_per_point, a.points)).collect();
        let mut args = vec![s("resize")];
        args.extend(opts.iter().cloned());
        args.push(s("m.wsp"));
        args.extend(defs.iter().cloned());
        let mut script_args = opts.clone();
        script_args.push(s("m.wsp"));
        script_args.extend(defs.iter().cloned());
        let (ours, theirs) = c.run(now, &args, "whisper-resize", &script_args, aggregate);
        let context = format!("resize case {case} (now {now}, {opts:?}, {old:?} -> {new:?})");
        assert_same_outcome(&ours, &theirs, &context, true);
        c.assert_same_files(&context);
        succeeded += usize::from(ours.status.success());
        aggregated += usize::from(ours.status.success() && aggregate);
    }
    eprintln!("resize: {succeeded} of 60 succeeded on both sides, {aggregated} with --aggregate");
    assert!(succeeded >= 40 && aggregated >= 15, "{succeeded} resizes succeeded, {aggregated} aggregated");
}

/// `warren whisper fetch f.wsp | head -1`: when the reader goes away, the tool ends as coreutils do (killed by
/// SIGPIPE, nothing on stderr) instead of panicking in `println!` with "Broken pipe" and exit code 101, which
/// turned a shell pipeline with `pipefail` (`fetch | grep -q`) into a failure even though grep had matched. The
/// fetch prints a week of 60 s steps (10,080 lines, ~160 KB), more than a pipe holds, so the tool is still writing
/// when the pipe closes.
#[test]
fn fetch_into_a_closed_pipe_ends_quietly() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("week.wsp");
    let opts = CreateOptions { x_files_factor: 0.5, aggregation: AggregationMethod::Average, mode: CreateMode::Sparse };
    WhisperFile::create(&path, &[ArchiveSpec { seconds_per_point: 60, points: 10_080 }], &opts, OpenOptions::default())
        .unwrap();
    let now: u32 = 1_700_000_000;
    let mut child = Command::new(WARREN)
        .args(["whisper", "fetch"])
        .arg(&path)
        .args(["--from", &(now - 7 * 86_400).to_string(), "--now", &now.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.ends_with("\tNone\n"), "first line of an empty file's fetch: {first:?}");
    // The reader is dropped here: the pipe has no reader left.
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "status {status:?}, stderr: {stderr}");
    assert_eq!(stderr, "", "nothing on stderr when the reader goes away");
}
