//! Invariants of carbon's filter files as warren reads them: rewrite-rules.conf and list files, and Python `re`
//! patterns with `re.sub` replacements (`filter::pyregex`). Part of `checks.rs`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use warren::filter::{parse_list, parse_rules, pyregex};

/// Longest pattern compiled per input: compiling is what costs here (≈ 3 k inputs/s uncapped); rule files hold
/// short patterns, and the parsers' structure is reached long before this length.
pub const MAX_PATTERN: usize = 200;

/// `rewrite_rules`: byte 0 picks the check. 0: the text is a rewrite-rules file: rules come from lines
/// inside the text, in order, one per `=` line of a `[pre]`/`[post]` section, stripped, the pattern without `=`;
/// list files keep exactly the non-comment non-blank lines. 1–3: pattern, 0 byte, replacement, 0 byte, names:
/// `check` never panics and `compile` refuses whatever `check` refuses; with a compiled pattern, (1) `\g<0>` as
/// replacement gives every name back unchanged (empty matches included); (2) for a pattern that cannot match
/// the empty string, a replacement of literal text and group numbers agrees with the `regex` crate's
/// `replace_all` of the same template; (3) any replacement: a name without a match comes back borrowed.
pub fn rewrite_rules(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    if mode % 4 == 0 {
        return rules_file(&text);
    }
    let mut parts = text.split('\0');
    let pattern = parts.next().unwrap_or("");
    let replacement = parts.next().unwrap_or("");
    let names: Vec<&str> = parts.take(6).collect();
    let checked = pyregex::check(pattern);
    if pattern.len() > MAX_PATTERN {
        return;
    }
    let c = compiled(pattern, mode % 4, replacement);
    let (groups, min_len, template) = (c.groups, c.min_len, &c.template);
    let py = match &c.py {
        Ok(py) => py,
        Err(e) => {
            assert!(!e.0.is_empty());
            return;
        }
    };
    assert!(checked.is_ok(), "compile accepted what check refuses: {pattern:?}");
    assert_eq!(groups, py.regex().captures_len(), "{pattern:?}");
    for name in names {
        let got = py.sub(name);
        if !py.regex().is_match(name) {
            assert!(matches!(got, std::borrow::Cow::Borrowed(s) if s == name), "no match, name unchanged");
        }
        match mode % 4 {
            1 => assert_eq!(got, name, "\\g<0> replaces every match by itself: {pattern:?}"),
            2 if min_len.is_some_and(|n| n > 0) => {
                let (_, rust) = python_template(replacement, groups);
                let want = py.regex().replace_all(name, rust.as_str());
                assert_eq!(got, want, "re.sub({pattern:?}, {template:?}, {name:?}) = regex's replace_all");
            }
            _ => {}
        }
    }
}

/// What `rewrite_rules` derives from (pattern, mode, replacement) alone: the pattern's groups and shortest match
/// from its parse, the Python template, and `PyRegex::new(pattern, template)`.
struct Compiled {
    groups: usize,
    min_len: Option<usize>,
    template: String,
    py: Result<pyregex::PyRegex, pyregex::PatternError>,
}

/// Most entries kept in [`COMPILED`] (then it starts again empty).
const COMPILED_ENTRIES: usize = 4096;

thread_local! {
    /// Compiled patterns by (pattern, mode, replacement), kept across inputs: compiling (and the coverage
    /// instrumentation of the `regex` crates it runs through) is ≈ 90 % of an input's time, and most mutations
    /// leave the pattern alone (they change the names, the replacement, the mode byte). Every result is a pure
    /// function of its key, so an input sees exactly what compiling afresh would give; only the first input
    /// with a pattern runs (and shows libFuzzer the coverage of) the compiler.
    static COMPILED: RefCell<HashMap<(String, u8, String), Rc<Compiled>>> = RefCell::new(HashMap::new());
}

fn compiled(pattern: &str, mode: u8, replacement: &str) -> Rc<Compiled> {
    // Mode 1 does not read the replacement.
    let key = (pattern.to_string(), mode, if mode == 1 { String::new() } else { replacement.to_string() });
    if let Some(c) = COMPILED.with(|m| m.borrow().get(&key).cloned()) {
        return c;
    }
    // Groups and shortest match from the parse alone (cheap beside compiling).
    let hir = regex_syntax::Parser::new().parse(pattern).ok();
    let groups = hir.as_ref().map_or(1, |h| h.properties().explicit_captures_len() + 1);
    let min_len = hir.as_ref().and_then(|h| h.properties().minimum_len());
    let template = match mode {
        1 => r"\g<0>".to_string(),
        2 => python_template(replacement, groups).0,
        _ => replacement.to_string(),
    };
    let py = pyregex::PyRegex::new(pattern, &template);
    let c = Rc::new(Compiled { groups, min_len, template, py });
    COMPILED.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() >= COMPILED_ENTRIES {
            m.clear();
        }
        m.insert(key, Rc::clone(&c));
    });
    c
}

/// A replacement written in Python's syntax and in the `regex` crate's, from fuzz text: a digit below `groups`
/// is that group, other characters are literal (escaped for each syntax).
fn python_template(text: &str, groups: usize) -> (String, String) {
    let (mut py, mut rust) = (String::new(), String::new());
    for c in text.chars() {
        match c.to_digit(10) {
            Some(d) if (d as usize) < groups => {
                py.push_str(&format!(r"\g<{d}>"));
                rust.push_str(&format!("${{{d}}}"));
            }
            _ => {
                match c {
                    '\\' => py.push_str(r"\\"),
                    c => py.push(c),
                }
                match c {
                    '$' => rust.push_str("$$"),
                    c => rust.push(c),
                }
            }
        }
    }
    (py, rust)
}

fn rules_file(text: &str) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    match parse_rules(text, "fuzz-rewrite.conf") {
        Ok((pre, post)) => {
            for rules in [&pre, &post] {
                assert!(rules.windows(2).all(|w| w[0].0 < w[1].0), "rules in line order");
                for (line, pattern, replacement) in rules.iter() {
                    let raw = lines.get(line - 1).expect("a rule comes from a line of the text");
                    assert!(raw.contains('=') && !pattern.contains('='), "{raw:?}");
                    for s in [pattern, replacement] {
                        assert_eq!(s.trim(), s.as_str(), "stripped");
                        assert!(raw.contains(s.as_str()));
                    }
                }
            }
            assert!(pre.len() + post.len() <= lines.iter().filter(|l| l.contains('=')).count());
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz-rewrite.conf line "), "{msg}");
        }
    }
    let list = parse_list(text);
    let kept = lines.iter().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count();
    assert!(list.len() <= kept);
    for (line, pattern) in &list {
        let raw = lines[line - 1];
        assert!(!raw.starts_with('#') && !pattern.is_empty() && raw.contains(pattern.as_str()));
    }
}
