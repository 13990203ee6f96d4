//! Finding metrics in the whisper tree: graphite's `a.b.*` queries, walked one directory level per component as
//! graphite-web's StandardFinder does, and the list of every metric.
//!
//! Owns: directory walking and name ↔ path mapping for reads. Never touches: file contents, the cache.

use super::glob::{GlobError, Pattern};
use crate::metric;
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".wsp";

/// One match of a find query.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    /// The full dotted path (`a.b.c`).
    pub path: String,
    /// The last component (`c`).
    pub name: String,
    /// A metric (a `.wsp` file) rather than a branch (a directory).
    pub is_leaf: bool,
}

/// Every node matching `query` (`.`-separated glob components) under `data_dir`, sorted by path; a name that is
/// both a directory and a file yields two nodes, as in graphite-web. Unreadable directories count as empty.
/// Errors: a component refused by [`Pattern::new`].
pub fn find(data_dir: &Path, query: &str) -> Result<Vec<Node>, GlobError> {
    let patterns = query.split('.').map(Pattern::new).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    walk(data_dir, "", &patterns, &mut out);
    out.sort();
    out.dedup();
    Ok(out)
}

/// The leaf (metric) names matching `query`, sorted.
pub fn find_leaves(data_dir: &Path, query: &str) -> Result<Vec<String>, GlobError> {
    Ok(find(data_dir, query)?.into_iter().filter(|n| n.is_leaf).map(|n| n.path).collect())
}

fn walk(dir: &Path, prefix: &str, patterns: &[Pattern], out: &mut Vec<Node>) {
    let Some((pattern, rest)) = patterns.split_first() else { return };
    let join = |name: &str| if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
    let (dirs, files) = match pattern.literal() {
        // No wildcard: test the one name instead of listing the directory (graphite-web does the same).
        Some(lit) => {
            if metric::validate(lit.as_bytes()).is_err() || lit.contains('.') {
                return;
            }
            let d = if dir.join(lit).is_dir() { vec![lit.to_string()] } else { vec![] };
            let f = if rest.is_empty() && dir.join(format!("{lit}{SUFFIX}")).is_file() {
                vec![lit.to_string()]
            } else {
                vec![]
            };
            (d, f)
        }
        None => {
            let (mut d, mut f) = (Vec::new(), Vec::new());
            let Ok(entries) = std::fs::read_dir(dir) else { return };
            for e in entries.flatten() {
                let Ok(name) = e.file_name().into_string() else { continue };
                let Ok(ft) = e.file_type() else { continue };
                // Follow symlinks as graphite-web's scandir().is_dir()/is_file() do.
                let (is_dir, is_file) = if ft.is_symlink() {
                    let p = e.path();
                    (p.is_dir(), p.is_file())
                } else {
                    (ft.is_dir(), ft.is_file())
                };
                if is_dir && !name.contains('.') && pattern.matches(&name) {
                    d.push(name);
                } else if is_file && rest.is_empty() {
                    if let Some(stem) = name.strip_suffix(SUFFIX) {
                        if !stem.contains('.') && pattern.matches(stem) {
                            f.push(stem.to_string());
                        }
                    }
                }
            }
            (d, f)
        }
    };
    for name in dirs {
        if rest.is_empty() {
            out.push(Node { path: join(&name), name, is_leaf: false });
        } else {
            walk(&dir.join(&name), &join(&name), rest, out);
        }
    }
    for name in files {
        out.push(Node { path: join(&name), name, is_leaf: true });
    }
}

/// The nodes that metrics known only by name (cached, no file yet) add to a find of `query`: a leaf for a name with
/// as many components that matches every one, a branch for a longer name whose first components match. Sorted,
/// each node once. Errors: a component refused by [`Pattern::new`].
pub fn find_in_names<'a>(query: &str, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<Node>, GlobError> {
    let patterns = query.split('.').map(Pattern::new).collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::new();
    for name in names {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() < patterns.len() || !patterns.iter().zip(&parts).all(|(p, c)| p.matches(c)) {
            continue;
        }
        let k = patterns.len();
        out.push(Node { path: parts[..k].join("."), name: parts[k - 1].to_string(), is_leaf: parts.len() == k });
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Every metric under `data_dir` (every `.wsp` file that is the file of a valid name), sorted.
pub fn list_all(data_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(data_dir.join(&rel)) else { continue };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let child = rel.join(e.file_name());
            if ft.is_dir() {
                stack.push(child);
            } else if ft.is_file() {
                if let Some(name) = metric::name_from_relative_path(&child) {
                    out.push(name);
                }
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for n in names {
            let p = metric::file_path(dir.path(), n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"").unwrap();
        }
        dir
    }

    fn paths(nodes: &[Node]) -> Vec<(&str, bool)> {
        nodes.iter().map(|n| (n.path.as_str(), n.is_leaf)).collect()
    }

    #[test]
    fn find_walks_one_directory_level_per_component() {
        let d = tree(&["a.b.c", "a.b.d", "a.x.c", "a.c", "b.c"]);
        let got = find(d.path(), "a.*").unwrap();
        assert_eq!(paths(&got), [("a.b", false), ("a.c", true), ("a.x", false)]);
        let got = find(d.path(), "a.*.c").unwrap();
        assert_eq!(paths(&got), [("a.b.c", true), ("a.x.c", true)]);
        assert_eq!(got[0].name, "c");
        let got = find(d.path(), "a.{b,x}.[c]").unwrap();
        assert_eq!(paths(&got), [("a.b.c", true), ("a.x.c", true)]);
    }

    #[test]
    fn literal_queries_find_exactly_that_node() {
        let d = tree(&["a.b.c", "a.b"]);
        assert_eq!(paths(&find(d.path(), "a.b.c").unwrap()), [("a.b.c", true)]);
        // `a.b` is both a directory and a file: two nodes, as graphite-web shows them.
        assert_eq!(paths(&find(d.path(), "a.b").unwrap()), [("a.b", false), ("a.b", true)]);
        assert!(find(d.path(), "a.nope").unwrap().is_empty());
    }

    #[test]
    fn queries_cannot_leave_the_data_dir() {
        let d = tree(&["a.b"]);
        assert!(find(d.path(), "..").unwrap().is_empty());
        assert!(find(d.path(), "a..b").unwrap().is_empty());
        assert!(find_leaves(d.path(), "*").unwrap().is_empty());
    }

    #[test]
    fn names_without_files_give_leaves_and_branches() {
        let names = ["new.a.b", "new.a", "new.x.y.z", "old.q"];
        let got = find_in_names("new.*", names).unwrap();
        assert_eq!(paths(&got), [("new.a", false), ("new.a", true), ("new.x", false)]);
        assert_eq!(
            paths(&find_in_names("*.{a,q}", names).unwrap()),
            [("new.a", false), ("new.a", true), ("old.q", true)]
        );
        assert!(find_in_names("new.a.b.c", names).unwrap().is_empty());
    }

    #[test]
    fn list_all_names_every_metric_file() {
        let d = tree(&["a.b.c", "a.d", "z"]);
        std::fs::write(d.path().join("a/not-a-metric.txt"), b"").unwrap();
        assert_eq!(list_all(d.path()), ["a.b.c", "a.d", "z"]);
    }
}
