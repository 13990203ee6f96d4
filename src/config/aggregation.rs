//! storage-aggregation.conf: which aggregation method and xFilesFactor a new whisper file gets.
//!
//! Owns: parsing the file and matching a metric to its rule, as carbon-cache 1.1 does (`carbon/storage.py`):
//! sections in file order, the first whose `pattern` regex *searches* successfully in the name wins, even if it
//! sets only one of `xFilesFactor` / `aggregationMethod` (the other then takes whisper's default, 0.5 or
//! `average`), and even if it sets neither. No match: 0.5 and `average`. Never touches: files, threads.
//!
//! A section without `pattern` (or with an empty one) is skipped as carbon skips it, and reported by
//! [`StorageAggregation::warnings`]. An `xFilesFactor` that is not a number in [0, 1], an unknown
//! `aggregationMethod` and a pattern that does not compile are errors naming the file and line (carbon stops on the
//! last two, and skips a section whose xFilesFactor is not a number).

use std::path::Path;

use regex::Regex;

use super::aggregation_name::parse_aggregation_method;
use super::ini::Ini;
use super::ConfigError;
use crate::whisper::AggregationMethod;

/// xFilesFactor of a metric whose rule sets none (whisper's default).
pub const DEFAULT_X_FILES_FACTOR: f32 = 0.5;

/// Aggregation method of a metric whose rule sets none (whisper's default).
pub const DEFAULT_AGGREGATION_METHOD: AggregationMethod = AggregationMethod::Average;

/// One usable section of storage-aggregation.conf.
#[derive(Debug, Clone)]
struct AggregationRule {
    name: String,
    pattern: Regex,
    method: Option<AggregationMethod>,
    x_files_factor: Option<f32>,
}

/// The parsed rules of a storage-aggregation.conf, in file order. `Default` is an empty file: every metric gets
/// (`average`, 0.5).
#[derive(Debug, Clone, Default)]
pub struct StorageAggregation {
    rules: Vec<AggregationRule>,
    warnings: Vec<String>,
}

impl StorageAggregation {
    /// Parse the text of a storage-aggregation.conf; `source_name` prefixes every error
    /// (`storage-aggregation.conf line 4: invalid xFilesFactor '2' in [sum]: must be between 0 and 1`).
    pub fn parse(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let ini = Ini::parse(text, source_name)?;
        let err =
            |line: usize, message: String| ConfigError::File { source_name: source_name.to_string(), line, message };
        let mut conf = StorageAggregation::default();
        for section in ini.sections() {
            let name = &section.name;
            let x_files_factor = match ini.get(section, "xfilesfactor") {
                None => None,
                Some(e) => match e.value.parse::<f32>() {
                    Ok(x) if (0.0..=1.0).contains(&x) => Some(x),
                    Ok(_) => {
                        return Err(err(
                            e.line,
                            format!("invalid xFilesFactor '{}' in [{name}]: must be between 0 and 1", e.value),
                        ))
                    }
                    Err(_) => {
                        return Err(err(
                            e.line,
                            format!("invalid xFilesFactor '{}' in [{name}]: not a number", e.value),
                        ))
                    }
                },
            };
            let method = match ini.get(section, "aggregationmethod") {
                None => None,
                Some(e) => Some(parse_aggregation_method(&e.value).ok_or_else(|| {
                    err(
                        e.line,
                        format!(
                            "invalid aggregationMethod '{}' in [{name}]: expected one of average, sum, last, max, \
                             min, avg_zero, absmax, absmin",
                            e.value
                        ),
                    )
                })?),
            };
            let Some(pattern) = ini.get(section, "pattern").filter(|e| !e.value.is_empty()) else {
                conf.warnings.push(format!(
                    "{source_name} line {}: aggregation rule [{name}] has no 'pattern', skipped",
                    section.line
                ));
                continue;
            };
            let regex = Regex::new(&pattern.value)
                .map_err(|e| err(pattern.line, format!("invalid pattern '{}' in [{name}]: {e}", pattern.value)))?;
            conf.rules.push(AggregationRule { name: name.clone(), pattern: regex, method, x_files_factor });
        }
        Ok(conf)
    }

    /// Read and parse the file at `path` (errors name the path).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = super::read_config_file(path)?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The aggregation method and xFilesFactor (in [0, 1]) for a new file of `metric`.
    pub fn for_metric(&self, metric: &str) -> (AggregationMethod, f32) {
        let (_, method, xff) = self.rule_for(metric);
        (method, xff)
    }

    /// The rule that decides for `metric` (section name, or `"default"` when none matches), with its method and
    /// xFilesFactor after defaults are applied, for logs.
    pub fn rule_for(&self, metric: &str) -> (&str, AggregationMethod, f32) {
        match self.rules.iter().find(|r| r.pattern.is_match(metric)) {
            Some(r) => (
                r.name.as_str(),
                r.method.unwrap_or(DEFAULT_AGGREGATION_METHOD),
                r.x_files_factor.unwrap_or(DEFAULT_X_FILES_FACTOR),
            ),
            None => ("default", DEFAULT_AGGREGATION_METHOD, DEFAULT_X_FILES_FACTOR),
        }
    }

    /// Sections skipped as carbon skips them (no pattern), with source and line, for the caller to log.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AggregationMethod::*;

    const EXAMPLE_STYLE: &str = r"
[min]
pattern = \.min$
xFilesFactor = 0.1
aggregationMethod = min

[max]
pattern = \.max$
xFilesFactor = 0.1
aggregationMethod = max

[sum]
pattern = \.count$
xFilesFactor = 0
aggregationMethod = sum

[default_average]
pattern = .*
xFilesFactor = 0.5
aggregationMethod = average
";

    #[test]
    fn the_first_matching_section_wins() {
        let a = StorageAggregation::parse(EXAMPLE_STYLE, "storage-aggregation.conf").unwrap();
        assert_eq!(a.for_metric("stats.requests.count"), (Sum, 0.0));
        assert_eq!(a.for_metric("latency.min"), (Min, 0.1));
        assert_eq!(a.for_metric("latency.max"), (Max, 0.1));
        assert_eq!(a.for_metric("latency.max.p99"), (Average, 0.5));
        assert_eq!(a.rule_for("x.count"), ("sum", Sum, 0.0));
        assert!(a.warnings().is_empty());
    }

    #[test]
    fn unmatched_metrics_get_average_and_half() {
        let a = StorageAggregation::default();
        assert_eq!(a.for_metric("a.b"), (Average, 0.5));
        let a = StorageAggregation::parse("[s]\npattern = \\.count$\naggregationMethod = sum\n", "f").unwrap();
        assert_eq!(a.rule_for("a.b"), ("default", Average, 0.5));
    }

    #[test]
    fn a_section_setting_one_key_still_wins_and_the_other_takes_the_default() {
        let text = "[only_method]\npattern = ^a\\.\naggregationMethod = last\n\
                    [only_xff]\npattern = ^b\\.\nxFilesFactor = 0.2\n\
                    [neither]\npattern = ^c\\.\n\
                    [all]\npattern = .*\nxFilesFactor = 1\naggregationMethod = max\n";
        let a = StorageAggregation::parse(text, "f").unwrap();
        assert_eq!(a.for_metric("a.x"), (Last, 0.5));
        assert_eq!(a.for_metric("b.x"), (Average, 0.2));
        assert_eq!(a.for_metric("c.x"), (Average, 0.5));
        assert_eq!(a.for_metric("d.x"), (Max, 1.0));
    }

    #[test]
    fn all_eight_methods_are_accepted() {
        for (name, m) in [
            ("average", Average),
            ("sum", Sum),
            ("last", Last),
            ("max", Max),
            ("min", Min),
            ("avg_zero", AvgZero),
            ("absmax", AbsMax),
            ("absmin", AbsMin),
        ] {
            let a = StorageAggregation::parse(&format!("[s]\npattern = .\naggregationMethod = {name}\n"), "f").unwrap();
            assert_eq!(a.for_metric("x").0, m);
        }
    }

    #[test]
    fn bad_values_are_errors_naming_file_line_and_value() {
        for (text, expect) in [
            ("[s]\npattern = .\nxFilesFactor = 2\n", "f line 3: invalid xFilesFactor '2' in [s]: must be between"),
            ("[s]\npattern = .\nxFilesFactor = -0.1\n", "f line 3: invalid xFilesFactor '-0.1'"),
            ("[s]\npattern = .\nxFilesFactor = NaN\n", "f line 3: invalid xFilesFactor 'NaN'"),
            ("[s]\npattern = .\nxFilesFactor = half\n", "f line 3: invalid xFilesFactor 'half' in [s]: not a number"),
            ("[s]\npattern = .\naggregationMethod = median\n", "f line 3: invalid aggregationMethod 'median'"),
            ("[s]\npattern = (\n", "f line 2: invalid pattern '('"),
        ] {
            let e = StorageAggregation::parse(text, "f").unwrap_err().to_string();
            assert!(e.starts_with(expect), "{text:?}: {e}");
        }
    }

    #[test]
    fn sections_without_pattern_are_skipped_like_carbon() {
        let a = StorageAggregation::parse("[nopat]\naggregationMethod = sum\n", "f").unwrap();
        assert_eq!(a.for_metric("x"), (Average, 0.5));
        assert!(a.warnings()[0].contains("[nopat] has no 'pattern'"));
    }
}
