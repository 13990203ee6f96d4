//! A driver for counting the syscalls (and instructions) of the benchmark's update_many, outside criterion.
//!
//! `whisper_syscalls create DIR FILES` creates FILES files (10s:6h,1m:7d) in DIR;
//! `whisper_syscalls update DIR FILES ROUND` writes round ROUND (100 consecutive 10 s points, as `bench/whisper.rs`)
//! into each of them, opening each file per call. Run the create untraced, then e.g.
//! `strace -c -f target/release/examples/whisper_syscalls update DIR 100 1` and divide by FILES.

use std::path::PathBuf;

use warren::whisper::{ArchiveSpec, CreateOptions, OpenOptions, Point, UpdateScratch, WhisperFile};

const POINTS: u32 = 100;
const STEP: u32 = 10;
const START: u32 = 1_700_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: whisper_syscalls create DIR FILES | update DIR FILES ROUND";
    let dir = PathBuf::from(args.get(2).expect(usage));
    let files: usize = args.get(3).expect(usage).parse().expect(usage);
    let paths: Vec<PathBuf> = (0..files).map(|i| dir.join(format!("m{i}.wsp"))).collect();
    match args[1].as_str() {
        "create" => {
            let archives = [
                ArchiveSpec { seconds_per_point: 10, points: 2160 },
                ArchiveSpec { seconds_per_point: 60, points: 10080 },
            ];
            for path in &paths {
                WhisperFile::create(path, &archives, &CreateOptions::default(), OpenOptions::default()).unwrap();
            }
        }
        "update" => {
            let round: u32 = args.get(4).expect(usage).parse().expect(usage);
            let first = START + round * POINTS * STEP;
            let now = first + POINTS * STEP;
            let mut scratch = UpdateScratch::default();
            let mut batch = Vec::with_capacity(POINTS as usize);
            for path in &paths {
                batch.clear();
                batch.extend((0..POINTS).map(|i| Point { timestamp: first + i * STEP, value: f64::from(i) }));
                let mut wf = WhisperFile::open(path, OpenOptions::default()).unwrap();
                wf.update_many(&mut batch, now, &mut scratch).unwrap();
            }
        }
        _ => panic!("{usage}"),
    }
}
