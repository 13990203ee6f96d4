//! The INI dialect of carbon's configuration files, read as Python's `configparser.ConfigParser` reads them
//! (carbon uses it for carbon.conf, storage-schemas.conf and storage-aggregation.conf).
//!
//! Owns: turning text into sections of `key = value` entries with their line numbers. Never touches: what a key
//! means (the callers decide), files (the callers read them).
//!
//! What is reproduced from Python's parser: `[section]` headers (section names are case-sensitive), `key = value`
//! or `key: value` split at the first `=` or `:`, keys folded to lowercase, values trimmed, full-line comments
//! starting with `#` or `;` (no inline comments: `a = b # c` has the value `b # c`), indented lines continuing the
//! previous value (joined with `\n`), entries of a `[DEFAULT]` section inherited by every other section, and the
//! strict mode's refusal of duplicate sections and of duplicate keys in one section. Of the interpolation syntax
//! only the `%%` escape is understood (it reads as `%`); `%(name)s` references are refused with a clear error and a
//! lone `%` is kept literally.

use super::ConfigError;

/// The name of the section whose entries every other section inherits.
const DEFAULT_SECTION: &str = "DEFAULT";

/// One `key = value` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key, folded to lowercase.
    pub key: String,
    /// The value, trimmed, continuation lines joined with `\n`, `%%` read as `%`.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
}

/// One `[name]` section and its own entries (without inherited `[DEFAULT]` ones), in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The name between the brackets, trimmed, case kept.
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    entries: Vec<Entry>,
}

/// A parsed file: its sections in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Ini {
    sections: Vec<Section>,
}

impl Ini {
    /// Parse `text`; errors name `source_name` and the offending line.
    pub fn parse(text: &str, source_name: &str) -> Result<Ini, ConfigError> {
        let err =
            |line: usize, message: String| ConfigError::File { source_name: source_name.to_string(), line, message };
        let mut ini = Ini::default();
        // Indentation of the current entry's key: a line indented deeper continues its value.
        let mut current_indent: Option<usize> = None;
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim_end();
            let content = line.trim_start();
            if content.is_empty() {
                // Python keeps blank lines inside a multi-line value only if more indented text follows; values
                // are trimmed anyway, so ending the value here differs only in inner blank lines.
                current_indent = None;
                continue;
            }
            if content.starts_with('#') || content.starts_with(';') {
                continue;
            }
            let indent = line.len() - content.len();
            if let Some(key_indent) = current_indent {
                if indent > key_indent {
                    // Invariant: current_indent is Some only while the last section has a last entry.
                    let entry = ini
                        .sections
                        .last_mut()
                        .and_then(|s| s.entries.last_mut())
                        .ok_or_else(|| err(line_no, "continuation line without an entry".into()))?;
                    let more = unescape(content).map_err(|m| err(line_no, m))?;
                    entry.value.push('\n');
                    entry.value.push_str(&more);
                    continue;
                }
            }
            if content.starts_with('[') && content.ends_with(']') && content.len() >= 2 {
                let name = content[1..content.len() - 1].trim();
                if name.is_empty() {
                    return Err(err(line_no, "empty section name '[]'".into()));
                }
                if let Some(first) = ini.sections.iter().find(|s| s.name == name) {
                    return Err(err(line_no, format!("section [{name}] already defined at line {}", first.line)));
                }
                ini.sections.push(Section { name: name.to_string(), line: line_no, entries: Vec::new() });
                current_indent = None;
                continue;
            }
            let Some(split) = content.find(['=', ':']) else {
                return Err(err(line_no, format!("expected '[section]' or 'key = value', found '{content}'")));
            };
            let key = content[..split].trim().to_lowercase();
            if key.is_empty() {
                return Err(err(line_no, format!("missing key before '=' in '{content}'")));
            }
            let value = unescape(content[split + 1..].trim()).map_err(|m| err(line_no, m))?;
            let Some(section) = ini.sections.last_mut() else {
                return Err(err(line_no, format!("key '{key}' appears before any [section] header")));
            };
            if let Some(first) = section.entries.iter().find(|e| e.key == key) {
                return Err(err(
                    line_no,
                    format!("key '{key}' already set in section [{}] at line {}", section.name, first.line),
                ));
            }
            section.entries.push(Entry { key, value, line: line_no });
            current_indent = Some(indent);
        }
        for section in &mut ini.sections {
            for entry in &mut section.entries {
                let trimmed = entry.value.trim_end();
                if trimmed.len() != entry.value.len() {
                    entry.value.truncate(trimmed.len());
                }
            }
        }
        Ok(ini)
    }

    /// The sections in file order, `[DEFAULT]` included where it appears (as Python's parser used by carbon
    /// lists it).
    pub fn sections(&self) -> impl Iterator<Item = &Section> {
        self.sections.iter()
    }

    /// The section called `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The entries of `section` followed by the `[DEFAULT]` entries it does not override.
    pub fn entries<'a>(&'a self, section: &'a Section) -> impl Iterator<Item = &'a Entry> + 'a {
        let defaults = self
            .section(DEFAULT_SECTION)
            .filter(|d| d.name != section.name)
            .map(|d| d.entries.as_slice())
            .unwrap_or(&[]);
        section.entries.iter().chain(defaults.iter().filter(|d| section.entries.iter().all(|e| e.key != d.key)))
    }

    /// The entry for `key` (lowercase) in `section`, falling back to `[DEFAULT]`.
    pub fn get<'a>(&'a self, section: &'a Section, key: &str) -> Option<&'a Entry> {
        self.entries(section).find(|e| e.key == key)
    }
}

/// Apply the part of Python's interpolation that a plain value can contain: `%%` is `%`; `%(name)s` is refused.
fn unescape(value: &str) -> Result<String, String> {
    if !value.contains('%') {
        return Ok(value.to_string());
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.peek() {
                Some('%') => {
                    chars.next();
                }
                Some('(') => {
                    return Err(format!(
                        "'%(...)s' interpolation is not supported in '{value}' (write '%%' for a literal '%')"
                    ))
                }
                _ => {}
            }
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Ini {
        Ini::parse(text, "test.conf").unwrap()
    }

    fn kv(ini: &Ini, section: &str) -> Vec<(String, String)> {
        let s = ini.section(section).unwrap();
        ini.entries(s).map(|e| (e.key.clone(), e.value.clone())).collect()
    }

    #[test]
    fn keys_fold_to_lowercase_and_values_are_trimmed() {
        let ini = parse("[cache]\nMAX_Cache_SIZE =   inf  \nfoo:bar = baz\n");
        assert_eq!(
            kv(&ini, "cache"),
            vec![("max_cache_size".into(), "inf".into()), ("foo".into(), "bar = baz".into())]
        );
    }

    #[test]
    fn sections_keep_file_order_and_lines() {
        let ini = parse("# c\n[b]\nx=1\n\n[a]\ny=2\n");
        let names: Vec<_> = ini.sections().map(|s| (s.name.as_str(), s.line)).collect();
        assert_eq!(names, vec![("b", 2), ("a", 5)]);
        assert_eq!(ini.get(ini.section("a").unwrap(), "y").unwrap().line, 6);
    }

    #[test]
    fn only_full_line_comments_are_comments() {
        let ini = parse("[s]\n  ; indented comment\n# hash\na = b # not a comment\n");
        assert_eq!(kv(&ini, "s"), vec![("a".into(), "b # not a comment".into())]);
    }

    #[test]
    fn indented_lines_continue_a_value() {
        let ini = parse("[s]\nlist = a,\n   b,\n   c\nnext = 1\n");
        assert_eq!(kv(&ini, "s"), vec![("list".into(), "a,\nb,\nc".into()), ("next".into(), "1".into())]);
    }

    #[test]
    fn default_section_entries_are_inherited_unless_overridden() {
        let ini = parse("[DEFAULT]\na = 1\nb = 2\n[s]\nb = 3\n");
        assert_eq!(kv(&ini, "s"), vec![("b".into(), "3".into()), ("a".into(), "1".into())]);
    }

    #[test]
    fn double_percent_reads_as_percent_and_interpolation_is_refused() {
        let ini = parse("[s]\na = 50%%\nb = 5%\n");
        assert_eq!(kv(&ini, "s"), vec![("a".into(), "50%".into()), ("b".into(), "5%".into())]);
        let e = Ini::parse("[s]\na = %(x)s\n", "f.conf").unwrap_err().to_string();
        assert!(e.contains("f.conf line 2") && e.contains("interpolation"), "{e}");
    }

    #[test]
    fn malformed_lines_are_errors_naming_file_and_line() {
        for (text, line, what) in [
            ("a = 1\n", 1, "before any [section]"),
            ("[s]\njust words\n", 2, "expected"),
            ("[s]\n= v\n", 2, "missing key"),
            ("[s]\na = 1\nA = 2\n", 3, "already set"),
            ("[s]\n[t]\n[s]\n", 3, "already defined"),
            ("[]\n", 1, "empty section"),
        ] {
            let e = Ini::parse(text, "x.conf").unwrap_err().to_string();
            assert!(e.starts_with(&format!("x.conf line {line}: ")), "{text:?}: {e}");
            assert!(e.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn crlf_line_endings_are_accepted() {
        let ini = parse("[s]\r\na = 1\r\n");
        assert_eq!(kv(&ini, "s"), vec![("a".into(), "1".into())]);
    }
}
