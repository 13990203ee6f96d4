//! Differential test of the filter/rewrite stage against carbon's own `carbon.regexlist` and `carbon.rewrite`
//! (Debian's graphite-carbon, run by /usr/bin/python3): the same whitelist.conf, blacklist.conf and
//! rewrite-rules.conf files, thousands of generated names, the same verdict and the same rewritten name.

mod common;

use common::rng::{Generator, XorShift64Star as Rng};

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use warren::filter::{Filter, FilterSettings, Verdict};

const WORDS: &[&str] = &[
    "web",
    "db",
    "cpu",
    "Web01",
    "db-2",
    "load_avg",
    "x",
    "servers",
    "01",
    "a1b2",
    "mem",
    "café",
    "DB",
    "eth0",
    "rx",
    "prod",
    "stage",
    "us-east-1",
    "A_b-C",
    "9",
];

fn gen_name(r: &mut Rng) -> String {
    let n = 1 + r.below(5);
    (0..n).map(|_| r.pick(WORDS)).collect::<Vec<_>>().join(".")
}

/// One atom of a pattern; `groups` counts the capturing groups made.
fn gen_atom(r: &mut Rng, depth: u32, groups: &mut usize) -> String {
    let simple = [
        "web", "db", "cpu", r"\.", ".", r"\d", r"\w", r"\W", "[a-z]", "[^.]", "[0-9]", "[A-Z_-]", "-", "_", r"\s",
        "01", "café", r"\b", "[]x]", r"[\w-]", r"\-",
    ];
    match r.below(if depth > 1 { 10 } else { 14 }) {
        0..=9 => r.pick(&simple).to_string(),
        10 => {
            *groups += 1;
            format!("({})", gen_seq(r, depth + 1, groups))
        }
        11 => {
            *groups += 1;
            let name = format!("n{}", groups);
            format!("(?P<{name}>{})", gen_seq(r, depth + 1, groups))
        }
        12 => format!("(?:{})", gen_seq(r, depth + 1, groups)),
        _ => format!("(?:{}|{})", gen_seq(r, depth + 1, groups), gen_seq(r, depth + 1, groups)),
    }
}

fn gen_seq(r: &mut Rng, depth: u32, groups: &mut usize) -> String {
    let mut s = String::new();
    for _ in 0..1 + r.below(3) {
        s.push_str(&gen_atom(r, depth, groups));
        let q = ["", "", "", "*", "+", "?", "{1,3}", "*?", "+?", "??", "{2}"];
        if !s.ends_with(r"\b") {
            s.push_str(r.pick(&q));
        }
    }
    s
}

/// A generated pattern warren accepts; the ones it refuses (the documented empty-match shapes only) are counted.
fn gen_pattern(r: &mut Rng) -> (String, usize) {
    loop {
        let (p, g) = gen_any_pattern(r);
        match warren::filter::pyregex::compile(&p) {
            Ok(_) => return (p, g),
            Err(e) => {
                assert!(e.0.contains("can match the empty string"), "{p}: {e}");
                REFUSED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
}

static REFUSED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn gen_any_pattern(r: &mut Rng) -> (String, usize) {
    let mut groups = 0;
    let mut p = String::new();
    if r.below(8) == 0 {
        p.push_str("(?i)");
    }
    if r.below(3) == 0 {
        p.push('^');
    }
    p.push_str(&gen_seq(r, 0, &mut groups));
    if r.below(4) == 0 {
        p.push('$');
    }
    (p, groups)
}

fn gen_replacement(r: &mut Rng, groups: usize) -> String {
    let mut s = String::new();
    for _ in 0..r.below(4) {
        match r.below(6) {
            0 if groups > 0 => write!(s, "\\{}", 1 + r.below(groups)).unwrap(),
            1 if groups > 0 => write!(s, "\\g<{}>", 1 + r.below(groups)).unwrap(),
            2 => s.push_str(r"\g<0>"),
            3 => s.push('.'),
            _ => s.push_str(r.pick(&["x", "_", "new", "-", "Ö"])),
        }
    }
    s
}

/// carbon's verdicts for `names` under the files of `dir`, one line per name: `B`, `W` or `=` + the new name.
fn carbon_verdicts(dir: &Path, names: &Path) -> Vec<String> {
    let script = r#"
import sys
from carbon.regexlist import RegexList
from carbon.rewrite import _RewriteRuleManager, PRE, POST
d, names = sys.argv[1], sys.argv[2]
white, black = RegexList(), RegexList()
white.list_file, black.list_file = d + '/whitelist.conf', d + '/blacklist.conf'
white.read_list(); black.read_list()
rw = _RewriteRuleManager()
rw.rules_file = d + '/rewrite-rules.conf'
rw.read_rules()
out = []
for line in open(names, encoding='utf-8'):
    m = line.rstrip('\n')
    if black and m in black:
        out.append('B'); continue
    if white and m not in white:
        out.append('W'); continue
    for rule in rw.rules(PRE) + rw.rules(POST):
        m = rule.apply(m)
    out.append('=' + m)
sys.stdout.write('\n'.join(out) + '\n')
"#;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(names)
        .output()
        .expect("/usr/bin/python3 runs");
    assert!(
        out.status.success(),
        "carbon's regexlist/rewrite failed (apt-get install graphite-carbon): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

fn ours(f: &Filter, name: &str) -> String {
    match f.verdict(name) {
        Verdict::Blacklisted => "B".into(),
        Verdict::NotWhitelisted => "W".into(),
        Verdict::Keep => format!("={name}"),
        Verdict::Rename(s) | Verdict::BadRewrite(s) => format!("={s}"),
    }
}

#[test]
fn filter_and_rewrite_agree_with_carbon_on_generated_rules_and_names() {
    let mut r = Rng(0x5eed_1234_abcd_0001);
    let mut compared = 0;
    let mut changed = 0;
    let mut dropped = 0;
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let (mut white, mut black, mut rules) = (String::new(), String::new(), String::new());
        // Some rounds have an empty whitelist (everything passes it), as carbon treats an empty list.
        for _ in 0..r.below(3) * (round % 3) {
            writeln!(white, "{}", gen_pattern(&mut r).0).unwrap();
        }
        for _ in 0..r.below(3) {
            writeln!(black, "{}", gen_pattern(&mut r).0).unwrap();
        }
        writeln!(black, "# a comment\n\n   ").unwrap();
        for section in ["[pre]", "[POST]"] {
            writeln!(rules, "{section}\n# comment").unwrap();
            for _ in 0..1 + r.below(3) {
                let (p, g) = gen_pattern(&mut r);
                writeln!(rules, "{p} = {}", gen_replacement(&mut r, g)).unwrap();
            }
        }
        std::fs::write(dir.path().join("whitelist.conf"), &white).unwrap();
        std::fs::write(dir.path().join("blacklist.conf"), &black).unwrap();
        std::fs::write(dir.path().join("rewrite-rules.conf"), &rules).unwrap();
        let names: Vec<String> = (0..1000).map(|_| gen_name(&mut r)).collect();
        let names_file = dir.path().join("names.txt");
        std::fs::write(&names_file, names.join("\n") + "\n").unwrap();

        let settings =
            FilterSettings { use_whitelist: true, conf_dir: Some(dir.path().to_path_buf()), ..Default::default() };
        let filter = Filter::load(&settings)
            .unwrap_or_else(|e| panic!("round {round}: {e}\nwhitelist:\n{white}\nblacklist:\n{black}\nrules:\n{rules}"))
            .expect("rules present");
        let theirs = carbon_verdicts(dir.path(), &names_file);
        assert_eq!(theirs.len(), names.len());
        for (name, want) in names.iter().zip(&theirs) {
            let got = ours(&filter, name);
            assert_eq!(
                &got, want,
                "round {round}, name {name:?}\nwhitelist:\n{white}\nblacklist:\n{black}\nrules:\n{rules}"
            );
            compared += 1;
            if want.starts_with('=') && want[1..] != **name {
                changed += 1;
            }
            if !want.starts_with('=') {
                dropped += 1;
            }
        }
    }
    assert_eq!(compared, 20_000);
    let refused = REFUSED.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("compared {compared} names; {changed} renamed, {dropped} dropped; {refused} generated patterns refused");
    // Negative control: the generated rules really do drop and rename a good share of the names.
    assert!(changed > 2_000 && dropped > 1_000, "changed {changed}, dropped {dropped}");
}

#[test]
fn constructs_python_reads_differently_are_refused_at_load_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rewrite-rules.conf"), "[pre]\n^a = b\n[[:alpha:]]+ = x\n").unwrap();
    let settings = FilterSettings { conf_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let e = Filter::load(&settings).unwrap_err().to_string();
    assert!(e.contains("rewrite-rules.conf line 3") && e.contains("[[:alpha:]]+"), "{e}");
    // Without USE_WHITELIST the lists are not read at all, as in carbon.
    std::fs::write(dir.path().join("rewrite-rules.conf"), "").unwrap();
    std::fs::write(dir.path().join("blacklist.conf"), "web\\<\n").unwrap();
    assert!(Filter::load(&settings).unwrap().is_none());
    let on = FilterSettings { use_whitelist: true, ..settings };
    let e = Filter::load(&on).unwrap_err().to_string();
    assert!(e.contains("blacklist.conf line 1"), "{e}");
}
