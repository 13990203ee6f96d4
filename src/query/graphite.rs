//! graphite-web 1.1.8's `find_view` and `renderView` as one of its own cluster members answers them with
//! `local=1`, so a graphite-web whose `CLUSTER_SERVERS` lists warren nodes reads them like graphite-web nodes:
//! - `/metrics/find/?query=…&format=treejson|json|completer|nodelist|pickle|msgpack[&from&until&now]
//!   [&leavesOnly=1]`: the whisper tree, plus the metrics that are only in the cache (no file yet);
//! - `/render/?target=…[&target=…]&from&until[&now]&format=json|raw|csv|pickle|msgpack`: plain path expressions
//!   (globs, braces, classes; no functions), each file's values merged with the cache, and cache-only metrics
//!   rendered as the file the writer will create would read.
//!
//! Errors follow graphite-web: a bad parameter is a 400 with the reason (graphite-web's `InputParameterError`),
//! no match is 200 with an empty list. The parameters are the query string and the form body together.
//!
//! Owns: the views' parameter handling and output shapes. Never touches: the cache (asks the writer through the
//! context) or any file write.

use super::http_server::{Request, Response};
use super::series::{self, Series};
use super::tree::{self, Node};
use super::wire::{self, FoundNode, SeriesInfo};
use super::{attime, QueryContext};
use crate::metric;
use std::collections::BTreeMap;

fn unix_now() -> i64 {
    i64::from(crate::lifecycle::unix_now())
}

fn bad(reason: impl std::fmt::Display) -> Response {
    Response::text(400, format!("{reason}\n"))
}

fn int_param(req: &Request, name: &str, default: i64) -> Result<i64, Response> {
    match req.get(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| bad(format!("Invalid int value '{v}' for param {name}: {e}"))),
    }
}

fn time_param(req: &Request, name: &str, now: i64) -> Result<Option<i64>, Response> {
    match req.get(name) {
        None => Ok(None),
        Some(v) => {
            attime::parse(v, now).map(Some).map_err(|e| bad(format!("Invalid value '{v}' for param {name}: {e}")))
        }
    }
}

/// A metric a pattern matched: with a file, or only in the cache.
struct Leaf {
    path: String,
    has_file: bool,
}

/// Files and cache-only metrics matching `pattern`, leaves and branches, as (node, has_file) sorted by path.
fn find_nodes(ctx: &QueryContext, pattern: &str, unwritten: &[String]) -> Result<Vec<(Node, bool)>, Response> {
    let on_disk = tree::find(&ctx.data_dir, pattern).map_err(bad)?;
    let cached = tree::find_in_names(pattern, unwritten.iter().map(String::as_str)).map_err(bad)?;
    let mut all: BTreeMap<(String, bool), bool> = BTreeMap::new();
    for n in on_disk {
        all.insert((n.path, n.is_leaf), true);
    }
    for n in cached {
        let has_file = n.is_leaf && metric::file_path(&ctx.data_dir, &n.path).is_file();
        all.entry((n.path, n.is_leaf)).or_insert(has_file);
    }
    Ok(all
        .into_iter()
        .map(|((path, is_leaf), has_file)| {
            let name = path.rsplit('.').next().unwrap_or(&path).to_string();
            (Node { path, name, is_leaf }, has_file)
        })
        .collect())
}

/// The writer's metrics without a file (asked once per request: the writer walks its cache to answer).
fn unwritten(ctx: &QueryContext) -> Vec<String> {
    ctx.cache.unwritten(ctx.cache_timeout).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "no answer from the cache; files only");
        Vec::new()
    })
}

fn leaves(ctx: &QueryContext, pattern: &str, unwritten: &[String]) -> Result<Vec<Leaf>, Response> {
    if let Some(leaf) = tagged_leaf(ctx, pattern, unwritten) {
        return Ok(leaf);
    }
    Ok(find_nodes(ctx, pattern, unwritten)?
        .into_iter()
        .filter(|(n, _)| n.is_leaf)
        .map(|(n, has_file)| Leaf { path: n.path, has_file })
        .collect())
}

/// graphite-web's StandardFinder for a tagged pattern (one with `;`, not under `_tagged.`): no globbing, the one
/// series by its `_tagged/` file (hashed or readable), or in the cache. Named by its normal form.
fn tagged_leaf(ctx: &QueryContext, pattern: &str, unwritten: &[String]) -> Option<Vec<Leaf>> {
    if pattern.starts_with("_tagged.") || !pattern.contains(';') {
        return None;
    }
    let Ok(name) = metric::validate(pattern.as_bytes()) else { return Some(Vec::new()) };
    let has_file = super::locate(&ctx.data_dir, &name).is_file();
    let cached = || unwritten.iter().any(|n| *n == name);
    Some(if has_file || cached() { vec![Leaf { path: name.into_owned(), has_file }] } else { Vec::new() })
}

/// graphite-web's `find_view`.
pub fn find(req: &Request, ctx: &QueryContext) -> Response {
    match find_inner(req, ctx) {
        Ok(r) | Err(r) => r,
    }
}

fn find_inner(req: &Request, ctx: &QueryContext) -> Result<Response, Response> {
    let format = req.get("format").unwrap_or("treejson");
    let leaves_only = int_param(req, "leavesOnly", 0)? != 0;
    int_param(req, "local", 0)?;
    let wildcards = int_param(req, "wildcards", 0)? != 0;
    let position = int_param(req, "position", -1)?;
    let real_now = unix_now();
    let now = time_param(req, "now", real_now)?.unwrap_or(real_now);
    for p in ["from", "until"] {
        if req.get(p) != Some("-1") {
            time_param(req, p, now)?;
        }
    }
    let mut query = match req.get("query") {
        None => return Err(bad("Missing required parameter 'query'")),
        Some("") => return Err(bad("Required parameter 'query' is empty")),
        Some(q) => q.to_string(),
    };
    let base = query.rsplit_once('.').map(|(b, _)| format!("{b}.")).unwrap_or_default();
    if format == "completer" {
        query = query.replace("..", "*.");
        if !query.ends_with('*') {
            query.push('*');
        }
    }
    if !matches!(format, "treejson" | "json" | "completer" | "nodelist" | "pickle" | "msgpack") {
        return Err(bad("Invalid value for 'format' parameter"));
    }
    let mut nodes = find_nodes(ctx, &query, &unwritten(ctx))?;
    if leaves_only {
        nodes.retain(|(n, _)| n.is_leaf);
    }
    // graphite-web sorts by the last component (stably); ties keep path order here.
    nodes.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    Ok(match format {
        "treejson" => Response::json(&tree_json(&nodes, &base, wildcards)),
        "nodelist" => {
            let mut found: Vec<&str> = nodes
                .iter()
                .filter_map(|(n, _)| {
                    let parts: Vec<&str> = n.path.split('.').collect();
                    let i = if position < 0 { parts.len() as i64 + position } else { position };
                    usize::try_from(i).ok().and_then(|i| parts.get(i).copied())
                })
                .collect();
            found.sort_unstable();
            found.dedup();
            Response::json(&serde_json::json!({ "nodes": found }))
        }
        "completer" => {
            let mut v: Vec<_> = nodes
                .iter()
                .map(|(n, _)| {
                    let path = if n.is_leaf { n.path.clone() } else { format!("{}.", n.path) };
                    serde_json::json!({"path": path, "name": n.name, "is_leaf": if n.is_leaf { "1" } else { "0" }})
                })
                .collect();
            if v.len() > 1 && wildcards {
                v.push(serde_json::json!({"name": "*"}));
            }
            Response::json(&serde_json::json!({ "metrics": v }))
        }
        _ => {
            let found = with_intervals(ctx, &nodes);
            match format {
                "pickle" => {
                    Response { status: 200, content_type: "application/pickle", body: wire::find_pickle(&found) }
                }
                "msgpack" => {
                    Response { status: 200, content_type: "application/x-msgpack", body: wire::find_msgpack(&found) }
                }
                _ => {
                    let mut found = found;
                    found.sort_by(|a, b| a.path.cmp(&b.path));
                    let v: Vec<_> = found
                        .iter()
                        .map(|n| {
                            let mut o = serde_json::json!({"path": n.path, "is_leaf": n.is_leaf});
                            if n.is_leaf {
                                let iv: Vec<_> = n
                                    .intervals
                                    .iter()
                                    .map(|(s, e)| serde_json::json!({"start": s, "end": e}))
                                    .collect();
                                o["intervals"] = iv.into();
                            }
                            o
                        })
                        .collect();
                    Response::json(&v.into())
                }
            }
        }
    })
}

/// graphite-web's `tree_json`: an optional wildcard node, branches, then leaves, each name once.
fn tree_json(nodes: &[(Node, bool)], base: &str, wildcards: bool) -> serde_json::Value {
    let branch = |text: &str, id: String| serde_json::json!({"text": text, "id": id, "leaf": 0, "expandable": 1, "allowChildren": 1});
    let leaf = |text: &str, id: String| serde_json::json!({"text": text, "id": id, "leaf": 1, "expandable": 0, "allowChildren": 0});
    let mut out = Vec::new();
    if nodes.len() > 1 && wildcards {
        let id = format!("{base}*");
        out.push(if nodes.iter().any(|(n, _)| !n.is_leaf) { branch("*", id) } else { leaf("*", id) });
    }
    let mut seen = std::collections::HashSet::new();
    let (mut branches, mut leaves) = (Vec::new(), Vec::new());
    for (n, _) in nodes {
        if !seen.insert(n.name.as_str()) {
            continue;
        }
        let id = format!("{base}{}", n.name);
        if n.is_leaf {
            leaves.push(leaf(&n.name, id));
        } else {
            branches.push(branch(&n.name, id));
        }
    }
    out.extend(branches);
    out.extend(leaves);
    out.into()
}

/// The nodes with their intervals, as graphite-web's `WhisperReader.get_intervals`: from now minus the file's
/// longest retention to the file's modification time. A cache-only leaf gets the retention its file will have,
/// up to now.
fn with_intervals(ctx: &QueryContext, nodes: &[(Node, bool)]) -> Vec<FoundNode> {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let unwritten: Vec<String> =
        nodes.iter().filter(|(n, has_file)| n.is_leaf && !has_file).map(|(n, _)| n.path.clone()).collect();
    let rules = if unwritten.is_empty() {
        Vec::new()
    } else {
        ctx.cache.rules(unwritten.clone(), ctx.cache_timeout).unwrap_or_default()
    };
    let retention_of: BTreeMap<&str, u64> = unwritten
        .iter()
        .zip(&rules)
        .map(|(n, (archives, _))| (n.as_str(), archives.iter().map(|a| a.retention()).max().unwrap_or(0)))
        .collect();
    nodes
        .iter()
        .map(|(n, has_file)| {
            let intervals = if !n.is_leaf {
                Vec::new()
            } else if *has_file {
                let path = metric::file_path(&ctx.data_dir, &n.path);
                let retention = crate::whisper::WhisperFile::open_read_only(&path)
                    .map(|f| f64::from(f.header().max_retention))
                    .unwrap_or(0.0);
                let mtime = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                let start = now - retention;
                vec![(start, mtime.max(start))]
            } else {
                let retention = retention_of.get(n.path.as_str()).copied().unwrap_or(0) as f64;
                vec![(now - retention, now)]
            };
            FoundNode { path: n.path.clone(), is_leaf: n.is_leaf, intervals }
        })
        .collect()
}

/// graphite-web's `renderView` for path-expression targets.
pub fn render(req: &Request, ctx: &QueryContext) -> Response {
    match render_inner(req, ctx) {
        Ok(r) | Err(r) => r,
    }
}

fn render_inner(req: &Request, ctx: &QueryContext) -> Result<Response, Response> {
    let mut targets = req.get_all("target");
    if targets.is_empty() {
        targets = req.get_all("target[]");
    }
    let real_now = unix_now();
    let now = time_param(req, "now", real_now)?.unwrap_or(real_now);
    let until = time_param(req, "until", now)?.unwrap_or(now);
    let from = time_param(req, "from", now)?.unwrap_or(now - 86_400);
    let (start, end) = (from.min(until), from.max(until));
    if start == end {
        return Err(bad("Invalid empty time range"));
    }
    let xff = match req.get("xFilesFactor") {
        None => 0.0,
        Some(v) => v.trim().parse::<f64>().map_err(|e| bad(format!("Invalid xFilesFactor '{v}': {e}")))?,
    };
    let format = req.get("format").unwrap_or("json");
    if !matches!(format, "json" | "raw" | "csv" | "pickle" | "msgpack") {
        return Err(bad(format!(
            "format '{format}' is not served: warren answers json, raw, csv, pickle and msgpack (no images)"
        )));
    }
    // Per target, its leaves sorted by path (graphite-web's _merge_results order).
    let targets: Vec<&str> = targets.into_iter().filter(|t| !t.trim().is_empty()).collect();
    if let Some(t) = targets.iter().find(|t| t.contains('(')) {
        return Err(bad(format!("target '{t}': warren serves path expressions only, not functions")));
    }
    let known = if targets.is_empty() { Vec::new() } else { unwritten(ctx) };
    let mut per_target: Vec<(&str, Vec<Leaf>)> = Vec::new();
    for t in targets {
        per_target.push((t, leaves(ctx, t.trim(), &known)?));
    }
    let mut names: Vec<String> = per_target.iter().flat_map(|(_, l)| l.iter().map(|l| l.path.clone())).collect();
    names.sort();
    names.dedup();
    let cached = if names.is_empty() {
        Vec::new()
    } else {
        ctx.cache.points(names.clone(), ctx.cache_timeout).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "render: no answer from the cache; serving disk only");
            vec![Vec::new(); names.len()]
        })
    };
    let unwritten: Vec<String> = per_target
        .iter()
        .flat_map(|(_, l)| l.iter().filter(|l| !l.has_file).map(|l| l.path.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let rules = if unwritten.is_empty() {
        Vec::new()
    } else {
        ctx.cache.rules(unwritten.clone(), ctx.cache_timeout).unwrap_or_default()
    };
    let mut series: BTreeMap<&str, Option<Series>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let points = cached.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let s = match unwritten.binary_search(name) {
            Ok(j) => rules
                .get(j)
                .and_then(|(archives, method)| series::read_unwritten(archives, *method, start, end, now, points)),
            Err(_) => match series::read(&super::locate(&ctx.data_dir, name), start, end, now, points) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(metric = %name, error = %e, "render: cannot read");
                    None
                }
            },
        };
        series.insert(name.as_str(), s);
    }
    let mut out: Vec<SeriesInfo<'_>> = Vec::new();
    for (target, leaves) in &per_target {
        for l in leaves {
            if let Some(Some(s)) = series.get(l.path.as_str()) {
                out.push(SeriesInfo {
                    name: &l.path,
                    path_expression: target,
                    start: s.start,
                    end: s.end,
                    step: s.step,
                    values: &s.values,
                    x_files_factor: xff,
                });
            }
        }
    }
    Ok(match format {
        "pickle" => Response { status: 200, content_type: "application/pickle", body: wire::render_pickle(&out) },
        "msgpack" => Response { status: 200, content_type: "application/x-msgpack", body: wire::render_msgpack(&out) },
        "raw" => {
            let mut body = String::new();
            for s in &out {
                let vals: Vec<String> =
                    s.values.iter().map(|v| v.map(py_float).unwrap_or_else(|| "None".into())).collect();
                body.push_str(&format!("{},{},{},{}|{}\n", s.name, s.start, s.end, s.step, vals.join(",")));
            }
            Response::text(200, body)
        }
        "csv" => {
            let mut body = String::new();
            for s in &out {
                for (i, v) in s.values.iter().enumerate() {
                    let ts = format_utc(i64::from(s.start) + i as i64 * i64::from(s.step));
                    body.push_str(&format!("{},{ts},{}\r\n", s.name, v.map(py_float).unwrap_or_default()));
                }
            }
            Response { status: 200, content_type: "text/csv", body: body.into_bytes() }
        }
        _ => {
            let v: Vec<_> = out
                .iter()
                .map(|s| {
                    let dps: Vec<_> = s
                        .values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| serde_json::json!([v, s.start + i as u32 * s.step]))
                        .collect();
                    serde_json::json!({"target": s.name, "tags": {"name": s.name}, "datapoints": dps})
                })
                .collect();
            Response::json(&v.into())
        }
    })
}

/// Python's `repr(float)` for the common cases (shortest round-trip, `.0` on integers).
fn py_float(x: f64) -> String {
    if x.is_finite() && x == x.trunc() && x.abs() < 1e16 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// `YYYY-MM-DD HH:MM:SS` in UTC (graphite-web uses its TIME_ZONE; warren has no zone database).
fn format_utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_timestamps_are_utc_calendar_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00");
    }
}
