//! carbon's filter and rewrite stage: `whitelist.conf` / `blacklist.conf` (carbon's `USE_WHITELIST`) and
//! `rewrite-rules.conf` (`[pre]` and `[post]` sections of `regex = replacement`), applied to every point an input
//! accepts, before it reaches the writer (or, in `warren relay`, the broker).
//!
//! Semantics are carbon 1.1's (`carbon/protocols.py`, `carbon/regexlist.py`, `carbon/rewrite.py`):
//! - with `use_whitelist`, a name any blacklist pattern *searches* successfully is dropped (counted as a blacklist
//!   match); then, when the whitelist is not empty, a name no whitelist pattern searches is dropped (a whitelist
//!   reject). Without `use_whitelist` neither list is consulted (carbon does not even read them);
//! - then every `[pre]` rule, then every `[post]` rule (carbon-aggregator runs its aggregation between the two;
//!   warren has none), each `re.sub(pattern, replacement, name)` on the result of the previous one;
//! - a name a rewrite turned into one warren refuses (`crate::metric::validate`) is dropped and counted.
//!
//! The files are read as carbon reads them: list files skip lines that *start* with `#` and blank lines, the rest
//! stripped is the pattern; the rules file skips stripped lines starting with `#`, a `[section]` line starts (and
//! empties) that section, other lines split at the first `=`, both sides stripped. carbon logs and skips a bad
//! pattern; warren refuses to start, naming the file, line and reason (see [`pyregex`] for the constructs refused
//! because Python and Rust would read them differently). A missing file is an empty list, as in carbon.
//!
//! Owns: the compiled rules and renaming points of a batch. Never touches: sockets, the broker, files after load.

pub mod live;
pub mod pyregex;

pub use crate::config::front::FilterSettings;
use crate::pipe::batch::{Batch, NameRef};
use crate::stats::Stats;
use pyregex::PyRegex;
use regex::RegexSet;
use std::path::Path;

/// A filter or rewrite file (or setting) that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// A pattern or rule that is refused, with where it came from.
    #[error("{source_name} line {line}: '{text}': {reason}")]
    Rule { source_name: String, line: usize, text: String, reason: String },
    /// A file that exists but cannot be read.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Where a pattern came from, for error messages.
#[derive(Debug, Clone)]
struct Origin {
    source_name: String,
    line: usize,
}

/// Compiled rules.
#[derive(Debug, Clone)]
pub struct Filter {
    use_whitelist: bool,
    whitelist: Option<RegexSet>,
    blacklist: Option<RegexSet>,
    rewrites: Vec<PyRegex>,
}

/// The last body name decided in a batch: its range, where it now points (`None` = dropped), its count slot.
type LastName = ((usize, usize), Option<NameRef>, Option<usize>);

/// What the filter decided for one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Unchanged.
    Keep,
    /// Renamed to this (valid) name.
    Rename(String),
    /// Matched the blacklist.
    Blacklisted,
    /// Not matched by a non-empty whitelist.
    NotWhitelisted,
    /// Rewritten into a name warren refuses.
    BadRewrite(String),
}

fn rule_err(o: &Origin, text: &str, reason: impl ToString) -> FilterError {
    FilterError::Rule {
        source_name: o.source_name.clone(),
        line: o.line,
        text: text.to_string(),
        reason: reason.to_string(),
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, FilterError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FilterError::Io { path: path.display().to_string(), source }),
    }
}

/// The patterns of a whitelist/blacklist file, as `carbon.regexlist` reads them.
pub fn parse_list(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let pattern = py_strip(line);
        if line.starts_with('#') || pattern.is_empty() {
            continue;
        }
        out.push((i + 1, pattern.to_string()));
    }
    out
}

/// The `[pre]` and `[post]` rules of a rewrite-rules file, as `carbon.rewrite` reads them (other sections and
/// rules before any section are ignored; a repeated section starts over). Lines that are neither are refused.
#[allow(clippy::type_complexity)]
pub fn parse_rules(
    text: &str,
    source_name: &str,
) -> Result<(Vec<(usize, String, String)>, Vec<(usize, String, String)>), FilterError> {
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    let mut section: Option<String> = None;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = py_strip(raw);
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            let s = line[1..line.len() - 1].to_lowercase();
            match s.as_str() {
                "pre" => pre.clear(),
                "post" => post.clear(),
                _ => {}
            }
            section = Some(s);
        } else if let Some((p, r)) = line.split_once('=') {
            let rule = (i + 1, py_strip(p).to_string(), py_strip(r).to_string());
            match section.as_deref() {
                Some("pre") => pre.push(rule),
                Some("post") => post.push(rule),
                _ => {}
            }
        } else {
            let o = Origin { source_name: source_name.to_string(), line: i + 1 };
            return Err(rule_err(&o, line, "not a section heading or a 'pattern = replacement' rule"));
        }
    }
    Ok((pre, post))
}

/// Python's `str.strip()` for the whitespace a config line can hold.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

impl Filter {
    /// Compile `s` (and the files of `s.conf_dir`). `Ok(None)` when there is nothing to do, so inputs skip the
    /// stage entirely.
    pub fn load(s: &FilterSettings) -> Result<Option<Filter>, FilterError> {
        let toml = |what: &str, i: usize| Origin { source_name: format!("[filter] {what}"), line: i + 1 };
        let mut white: Vec<(Origin, String)> =
            s.whitelist.iter().enumerate().map(|(i, p)| (toml("whitelist", i), p.clone())).collect();
        let mut black: Vec<(Origin, String)> =
            s.blacklist.iter().enumerate().map(|(i, p)| (toml("blacklist", i), p.clone())).collect();
        let mut rules: Vec<(Origin, String, String)> = Vec::new();
        for (i, [p, r]) in s.rewrite_pre.iter().enumerate() {
            rules.push((toml("rewrite_pre", i), p.clone(), r.clone()));
        }
        let mut post: Vec<(Origin, String, String)> = Vec::new();
        for (i, [p, r]) in s.rewrite_post.iter().enumerate() {
            post.push((toml("rewrite_post", i), p.clone(), r.clone()));
        }
        if let Some(dir) = &s.conf_dir {
            if s.use_whitelist {
                for (name, list) in [("whitelist.conf", &mut white), ("blacklist.conf", &mut black)] {
                    let path = dir.join(name);
                    if let Some(text) = read_optional(&path)? {
                        let src = path.display().to_string();
                        list.extend(
                            parse_list(&text)
                                .into_iter()
                                .map(|(line, p)| (Origin { source_name: src.clone(), line }, p)),
                        );
                    }
                }
            }
            let path = dir.join("rewrite-rules.conf");
            if let Some(text) = read_optional(&path)? {
                let src = path.display().to_string();
                let (pre, post_rules) = parse_rules(&text, &src)?;
                let o = |line| Origin { source_name: src.clone(), line };
                rules.extend(pre.into_iter().map(|(l, p, r)| (o(l), p, r)));
                post.extend(post_rules.into_iter().map(|(l, p, r)| (o(l), p, r)));
            }
        }
        rules.extend(post);
        let set = |list: &[(Origin, String)]| -> Result<Option<RegexSet>, FilterError> {
            if list.is_empty() {
                return Ok(None);
            }
            for (o, p) in list {
                pyregex::compile(p).map_err(|e| rule_err(o, p, e))?;
            }
            let set =
                RegexSet::new(list.iter().map(|(_, p)| p.as_str())).map_err(|e| rule_err(&list[0].0, &list[0].1, e))?;
            Ok(Some(set))
        };
        let (whitelist, blacklist) = if s.use_whitelist { (set(&white)?, set(&black)?) } else { (None, None) };
        let mut rewrites = Vec::with_capacity(rules.len());
        for (o, p, r) in &rules {
            rewrites.push(PyRegex::new(p, r).map_err(|e| rule_err(o, &format!("{p} = {r}"), e))?);
        }
        let f = Filter { use_whitelist: s.use_whitelist, whitelist, blacklist, rewrites };
        Ok(f.is_active().then_some(f))
    }

    /// True when any rule can change or drop a name.
    pub fn is_active(&self) -> bool {
        self.use_whitelist && (self.whitelist.is_some() || self.blacklist.is_some()) || !self.rewrites.is_empty()
    }

    /// Carbon's verdict on `name` (a name the input has already validated).
    pub fn verdict(&self, name: &str) -> Verdict {
        if self.blacklist.as_ref().is_some_and(|b| b.is_match(name)) {
            return Verdict::Blacklisted;
        }
        if self.whitelist.as_ref().is_some_and(|w| !w.is_match(name)) {
            return Verdict::NotWhitelisted;
        }
        let mut cur = std::borrow::Cow::Borrowed(name);
        for r in &self.rewrites {
            if let std::borrow::Cow::Owned(s) = r.sub(&cur) {
                cur = std::borrow::Cow::Owned(s);
            }
        }
        match cur {
            std::borrow::Cow::Borrowed(_) => Verdict::Keep,
            std::borrow::Cow::Owned(s) if s == name => Verdict::Keep,
            // The new name is stored as carbon stores it: normalised (tags sorted …).
            std::borrow::Cow::Owned(s) => match crate::metric::validate(s.as_bytes()) {
                Ok(normal) if normal == s.as_str() => Verdict::Rename(s),
                Ok(normal) => Verdict::Rename(normal.into_owned()),
                Err(_) => Verdict::BadRewrite(s),
            },
        }
    }

    /// Apply the verdicts to every point of `batch`: dropped points are removed, renamed ones point at their new
    /// name (appended to the body, or the routing key replaced). Counts go to `stats`.
    pub fn apply(&self, batch: &mut Batch, stats: &Stats) {
        // counts: blacklisted, not whitelisted, renamed, bad rewrite
        let mut counts = [0u64; 4];
        let slot = |v: &Verdict| match v {
            Verdict::Keep => None,
            Verdict::Blacklisted => Some(0),
            Verdict::NotWhitelisted => Some(1),
            Verdict::Rename(_) => Some(2),
            Verdict::BadRewrite(_) => Some(3),
        };
        let mut key_verdict: Option<Verdict> = None;
        // The last body name decided: its range, where it now points (None = dropped) and its count slot.
        let mut last: Option<LastName> = None;
        let mut points = std::mem::take(&mut batch.points);
        points.retain_mut(|p| match p.name {
            NameRef::Key => {
                let v = key_verdict.get_or_insert_with(|| self.verdict(&batch.key));
                if let Some(i) = slot(v) {
                    counts[i] += 1;
                }
                matches!(v, Verdict::Keep | Verdict::Rename(_))
            }
            NameRef::Body { start, len } => {
                let range = (start as usize, (start + len) as usize);
                let same = last.is_some_and(|(r, _, _)| batch.body[r.0..r.1] == batch.body[range.0..range.1]);
                if !same {
                    let name = std::str::from_utf8(&batch.body[range.0..range.1]).unwrap_or("");
                    let v = self.verdict(name);
                    let to = match &v {
                        Verdict::Keep => Some(p.name),
                        Verdict::Rename(new) => {
                            let s = batch.body.len() as u32;
                            batch.body.extend_from_slice(new.as_bytes());
                            Some(NameRef::Body { start: s, len: new.len() as u32 })
                        }
                        _ => None,
                    };
                    last = Some((range, to, slot(&v)));
                }
                // Invariant: `last` was set just above when it was not the same name.
                let Some((_, to, i)) = last else { return false };
                if let Some(i) = i {
                    counts[i] += 1;
                }
                match to {
                    Some(NameRef::Body { start, len }) if i == Some(2) => {
                        p.name = NameRef::Body { start, len };
                        true
                    }
                    Some(_) => true,
                    None => false,
                }
            }
        });
        batch.points = points;
        if let Some(Verdict::Rename(new)) = key_verdict {
            batch.key = new;
        }
        Stats::add(&stats.blacklist_matches, counts[0]);
        Stats::add(&stats.whitelist_rejects, counts[1]);
        Stats::add(&stats.names_rewritten, counts[2]);
        Stats::add(&stats.rewrite_refused, counts[3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::parse::parse_body;
    use std::time::Instant;

    fn filter() -> Filter {
        let s = FilterSettings {
            use_whitelist: true,
            whitelist: vec![r"^(web|db|old)\.".into()],
            blacklist: vec![r"\.secret$".into()],
            rewrite_pre: vec![[r"^old\.".into(), "web.".into()]],
            rewrite_post: vec![[r"^web\.(\w+)\.bad$".into(), r"web..\1".into()]],
            conf_dir: None,
        };
        Filter::load(&s).unwrap().unwrap()
    }

    #[test]
    fn a_batch_loses_refused_points_and_renamed_ones_point_at_their_new_name() {
        let body = b"web.a 1 10\nold.b 2 10\nold.b 3 20\nweb.x.secret 4 10\nother.c 5 10\nweb.h.bad 6 10\n".to_vec();
        let mut points = Vec::new();
        parse_body(b"", &body, true, 0, &mut points, &mut Vec::new(), |_| {});
        let mut batch =
            Batch { ack: None, key: String::new(), body, points, parts: Vec::new(), received: Instant::now() };
        let stats = Stats::default();
        filter().apply(&mut batch, &stats);
        let got: Vec<(String, f64)> =
            batch.points.iter().map(|p| (String::from_utf8(batch.name_of(p).to_vec()).unwrap(), p.value)).collect();
        assert_eq!(got, vec![("web.a".into(), 1.0), ("web.b".into(), 2.0), ("web.b".into(), 3.0)]);
        let n = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            (
                n(&stats.blacklist_matches),
                n(&stats.whitelist_rejects),
                n(&stats.names_rewritten),
                n(&stats.rewrite_refused)
            ),
            (1, 1, 2, 1)
        );
    }

    #[test]
    fn routing_key_batches_are_decided_once() {
        let mut points = Vec::new();
        parse_body(b"old.k", b"1 10\n2 20\n", false, 0, &mut points, &mut Vec::new(), |_| {});
        let mut batch = Batch {
            ack: None,
            key: "old.k".into(),
            body: b"1 10\n2 20\n".to_vec(),
            points,
            parts: Vec::new(),
            received: Instant::now(),
        };
        filter().apply(&mut batch, &Stats::default());
        assert_eq!((batch.key.as_str(), batch.points.len()), ("web.k", 2));
        assert!(Filter::load(&FilterSettings { blacklist: vec!["x".into()], ..Default::default() }).unwrap().is_none());
    }
}
