//! storage-schemas.conf: which archive list a new whisper file gets.
//!
//! Owns: parsing the file and matching a metric name to its rule, as carbon-cache 1.1 does
//! (`carbon/storage.py`): sections are tried in file order, the first whose `pattern` regex *searches*
//! successfully in the name wins, and a name no section matches gets carbon's default, 60-second points kept
//! 7 days (`60:10080`). Never touches: files, threads.
//!
//! Carbon 1.1 behaviours kept: a section without `pattern` (or with an empty one) or without `retentions` is
//! skipped, not fatal; `match-all = true` (carbon 0.9's catch-all) is not understood by carbon 1.1 either, so such
//! a section is skipped too. Skipped sections are reported by [`StorageSchemas::warnings`] for the caller to log.
//! An archive list is sorted by precision before it is checked, as whisper does.
//!
//! Where warren is stricter: an archive list that breaks whisper's rules is an error naming the file and line
//! (carbon logs it and skips the section, silently sending those metrics to a later rule), and so is a pattern
//! that does not compile. Patterns are compiled by the `regex` crate, whose syntax is Python's minus lookaround
//! and backreferences (refused with the compiler's message).

use std::path::Path;

use regex::Regex;

use super::archive_list::validate_archive_list;
use super::ini::Ini;
use super::retention::parse_retentions;
use super::ConfigError;
use crate::whisper::ArchiveSpec;

/// The archive list of a metric that no rule matches: 60-second points kept 7 days, as carbon.
pub const DEFAULT_ARCHIVES: [ArchiveSpec; 1] = [ArchiveSpec { seconds_per_point: 60, points: 10080 }];

/// The rule name reported for metrics that no section matches (carbon's `defaultSchema` name).
pub const DEFAULT_RULE_NAME: &str = "default";

/// One usable section of storage-schemas.conf.
#[derive(Debug, Clone)]
struct SchemaRule {
    name: String,
    pattern: Regex,
    archives: Vec<ArchiveSpec>,
}

/// The parsed rules of a storage-schemas.conf, in file order. `Default` is an empty file: every metric gets
/// [`DEFAULT_ARCHIVES`].
#[derive(Debug, Clone, Default)]
pub struct StorageSchemas {
    rules: Vec<SchemaRule>,
    warnings: Vec<String>,
}

impl StorageSchemas {
    /// Parse the text of a storage-schemas.conf. `source_name` (usually the file name) prefixes every error, e.g.
    /// `storage-schemas.conf line 12: invalid retention '10x:1d': unknown unit 'x'`.
    ///
    /// Errors: INI syntax, a pattern that does not compile, a retention that does not parse, an archive list that
    /// breaks whisper's rules.
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let ini = Ini::parse(text, source_name)?;
        let err =
            |line: usize, message: String| ConfigError::File { source_name: source_name.to_string(), line, message };
        let mut schemas = StorageSchemas::default();
        for section in ini.sections() {
            let name = &section.name;
            let pattern = ini.get(section, "pattern").filter(|e| !e.value.is_empty());
            let Some(retentions) = ini.get(section, "retentions") else {
                schemas
                    .warnings
                    .push(format!("{source_name} line {}: schema [{name}] has no 'retentions', skipped", section.line));
                continue;
            };
            let mut archives = parse_retentions(&retentions.value).map_err(|e| err(retentions.line, e.to_string()))?;
            archives.sort_by_key(|a| a.seconds_per_point);
            validate_archive_list(&archives).map_err(|reason| {
                err(retentions.line, format!("invalid retentions '{}' in [{name}]: {reason}", retentions.value))
            })?;
            let Some(pattern) = pattern else {
                let why = if ini.get(section, "match-all").is_some() {
                    "'match-all' is not supported by carbon 1.1 (use 'pattern = .*')"
                } else {
                    "has no 'pattern'"
                };
                schemas.warnings.push(format!("{source_name} line {}: schema [{name}] {why}, skipped", section.line));
                continue;
            };
            let regex = Regex::new(&pattern.value)
                .map_err(|e| err(pattern.line, format!("invalid pattern '{}' in [{name}]: {e}", pattern.value)))?;
            schemas.rules.push(SchemaRule { name: name.clone(), pattern: regex, archives });
        }
        Ok(schemas)
    }

    /// Read and parse the file at `path` (errors name the path).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = super::read_config_file(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The archive list for a new file of `metric`: the first matching rule's, else [`DEFAULT_ARCHIVES`].
    /// Always non-empty, sorted by precision and valid by whisper's rules.
    pub fn archives_for(&self, metric: &str) -> &[ArchiveSpec] {
        self.rule_for(metric).1
    }

    /// The name of the rule that gives `metric` its archive list (the section name, or [`DEFAULT_RULE_NAME`]) and
    /// that list, for logs.
    pub fn rule_for(&self, metric: &str) -> (&str, &[ArchiveSpec]) {
        self.rules
            .iter()
            .find(|r| r.pattern.is_match(metric))
            .map(|r| (r.name.as_str(), r.archives.as_slice()))
            .unwrap_or((DEFAULT_RULE_NAME, &DEFAULT_ARCHIVES))
    }

    /// The usable rules in match order: (section name, pattern, archive list).
    pub fn rules(&self) -> impl Iterator<Item = (&str, &str, &[ArchiveSpec])> {
        self.rules.iter().map(|r| (r.name.as_str(), r.pattern.as_str(), r.archives.as_slice()))
    }

    /// Sections skipped as carbon skips them (no pattern, no retentions, `match-all`), one message each with the
    /// source and line, for the caller to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: u32, p: u32) -> ArchiveSpec {
        ArchiveSpec { seconds_per_point: s, points: p }
    }

    const SHIPPED_STYLE: &str = r"
# Carbon's internal metrics.
[carbon]
pattern = ^carbon\.
retentions = 60:90d

[default_1min_for_1day]
pattern = .*
retentions = 60s:1d
";

    #[test]
    fn the_first_matching_section_wins_in_file_order() {
        let s = StorageSchemas::parse(SHIPPED_STYLE, "storage-schemas.conf").unwrap();
        assert_eq!(s.rule_for("carbon.agents.a.cpuUsage"), ("carbon", &[spec(60, 129600)][..]));
        assert_eq!(s.rule_for("servers.web01.cpu"), ("default_1min_for_1day", &[spec(60, 1440)][..]));
        // search, not full match: the pattern may match anywhere
        assert_eq!(s.archives_for("x.carbon.y"), &[spec(60, 1440)]);
        assert!(s.warnings().is_empty());
    }

    #[test]
    fn patterns_search_anywhere_in_the_name() {
        let s = StorageSchemas::parse("[a]\npattern = web\nretentions = 10:6\n", "f").unwrap();
        assert_eq!(s.archives_for("servers.web01.cpu"), &[spec(10, 6)]);
        assert_eq!(s.archives_for("servers.db01.cpu"), &DEFAULT_ARCHIVES);
    }

    #[test]
    fn unmatched_metrics_get_carbons_default_of_one_minute_for_a_week() {
        let s = StorageSchemas::default();
        assert_eq!(s.rule_for("anything"), ("default", &[spec(60, 10080)][..]));
        let s = StorageSchemas::parse("[only]\npattern = ^x\\.\nretentions = 1s:1h\n", "f").unwrap();
        assert_eq!(s.archives_for("y.z"), &[spec(60, 10080)]);
    }

    #[test]
    fn multi_archive_retentions_are_parsed_and_sorted_by_precision() {
        let s = StorageSchemas::parse("[d]\npattern = .*\nretentions = 1h:3y, 60s:1d,5m:30d\n", "f").unwrap();
        assert_eq!(s.archives_for("a"), &[spec(60, 1440), spec(300, 8640), spec(3600, 26280)]);
    }

    #[test]
    fn bad_retentions_are_errors_naming_file_line_and_text() {
        let text = "[carbon]\npattern = ^carbon\\.\nretentions = 60:90d\n\n[bad]\npattern = .*\nretentions = 10x:1d\n";
        let e = StorageSchemas::parse(text, "storage-schemas.conf").unwrap_err().to_string();
        assert_eq!(e, "storage-schemas.conf line 7: invalid retention '10x:1d': unknown unit 'x'");
    }

    #[test]
    fn archive_lists_breaking_whisper_rules_are_errors() {
        let e = StorageSchemas::parse("[s]\npattern = .*\nretentions = 180s:7d,300s:30d\n", "s.conf")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.conf line 3: invalid retentions '180s:7d,300s:30d' in [s]: "), "{e}");
        assert!(e.contains("does not divide"), "{e}");
        assert!(StorageSchemas::parse("[s]\npattern = .*\nretentions = \n", "f").is_err());
    }

    #[test]
    fn bad_patterns_are_errors_naming_the_pattern() {
        let e = StorageSchemas::parse("[s]\npattern = ^(carbon\nretentions = 60:1d\n", "f").unwrap_err().to_string();
        assert!(e.starts_with("f line 2: invalid pattern '^(carbon' in [s]"), "{e}");
    }

    #[test]
    fn sections_without_pattern_or_retentions_are_skipped_like_carbon() {
        let text = "[nopattern]\nretentions = 1:10\n[noretention]\npattern = .*\n\
                    [catchall]\nmatch-all = true\nretentions = 10:10\n[empty]\npattern =\nretentions = 1:5\n";
        let s = StorageSchemas::parse(text, "f").unwrap();
        assert_eq!(s.rules().count(), 0);
        assert_eq!(s.archives_for("a.b"), &DEFAULT_ARCHIVES);
        let w = s.warnings().join("\n");
        assert!(w.contains("[nopattern] has no 'pattern'"), "{w}");
        assert!(w.contains("[noretention] has no 'retentions'"), "{w}");
        assert!(w.contains("[catchall] 'match-all' is not supported"), "{w}");
        assert!(w.contains("[empty] has no 'pattern'"), "{w}");
    }

    #[test]
    fn keys_are_case_insensitive_and_colon_separated_values_work() {
        let s = StorageSchemas::parse("[s]\nPATTERN: ^a\nRetentions: 10s:1h\n", "f").unwrap();
        assert_eq!(s.archives_for("a.b"), &[spec(10, 360)]);
    }

    #[test]
    fn rules_are_listed_in_file_order() {
        let s = StorageSchemas::parse(SHIPPED_STYLE, "f").unwrap();
        let names: Vec<_> = s.rules().map(|(n, p, _)| (n, p)).collect();
        assert_eq!(names, vec![("carbon", r"^carbon\."), ("default_1min_for_1day", ".*")]);
    }

    #[test]
    fn load_reads_a_file_and_names_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage-schemas.conf");
        std::fs::write(&path, SHIPPED_STYLE).unwrap();
        let s = StorageSchemas::load(&path).unwrap();
        assert_eq!(s.rules().count(), 2);
        let e = StorageSchemas::load(&dir.path().join("nope.conf")).unwrap_err().to_string();
        assert!(e.contains("nope.conf"), "{e}");
    }
}
