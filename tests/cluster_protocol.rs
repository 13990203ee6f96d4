//! Differential test of graphite-web's cluster protocol: over one whisper tree written by python3-whisper, warren
//! and a real graphite-web 1.1.8 (serving the same tree locally) get the same `local=1` find and render requests
//! — pickle, msgpack and json, GET and POST — and their answers, decoded the way graphite-web's RemoteFinder and
//! RemoteReader decode them (its own safe unpickler, the msgpack module), must be equal. Bad requests must get the
//! same status from both.

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::process::Command;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

/// Files with two archives (60 s for 2 h, 600 s for a day), several aggregation methods, gaps, and points old
/// enough to live only in the second archive.
fn write_tree(dir: &std::path::Path, now: u32) {
    let script = r#"
import os, sys, whisper
root, now = sys.argv[1], int(sys.argv[2])
metrics = {
    'srv.web1.cpu': 'average', 'srv.web2.cpu': 'average', 'srv.web10.cpu': 'max', 'srv.db1.cpu': 'average',
    'srv.web1.mem': 'last', 'app.req.count': 'sum', 'app.req.err': 'max', 'solo': 'average',
    'deep.a.b.c': 'min', 'deep.a.x.c': 'average',
}
for k, (name, agg) in enumerate(sorted(metrics.items())):
    path = os.path.join(root, *name.split('.')) + '.wsp'
    os.makedirs(os.path.dirname(path), exist_ok=True)
    whisper.create(path, [(60, 120), (600, 144)], xFilesFactor=0.0, aggregationMethod=agg)
    old = [(now - 36000 + 600 * i, 100.0 + k + i * 0.25) for i in range(40)]
    recent = [(now - 6000 + 60 * i, i * 1.5 + k) for i in range(100) if i % 7 != 3 and (k + i) % 11 != 0]
    if name == 'app.req.err':
        recent = recent[::9]
    whisper.update_many(path, old, now=now)
    whisper.update_many(path, recent, now=now)
"#;
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(now.to_string())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn case(path: &str, kind: &str, method: &str, params: &[(&str, String)]) -> serde_json::Value {
    serde_json::json!({"path": path, "kind": kind, "method": method, "nonempty": kind != "status",
        "params": params.iter().map(|(k, v)| [k.to_string(), v.clone()]).collect::<Vec<_>>()})
}

#[test]
fn local_find_and_render_answers_equal_graphite_webs_own() {
    let dir = tempfile::tempdir().unwrap();
    let now = now() / 60 * 60 + 17;
    write_tree(dir.path(), now);
    let mut s = settings(dir.path(), BROKER, &unique("ex"), &unique("q"), &["#"]);
    s.amqp.enabled = false;
    s.receivers.enabled = false;
    s.stats.metric_interval_secs = 0;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let gw = GraphiteWeb::start(dir.path(), engine.query.carbonlink_addr().unwrap());

    let n = |x: u32| x.to_string();
    let mut cases = Vec::new();
    let finds = [
        "*",
        "srv.*",
        "srv.web*.cpu",
        "srv.{web1,db1}.*",
        "srv.web[12].cpu",
        "srv.web?.cpu",
        "srv.[!w]*.cpu",
        "deep.*.*.c",
        "deep.a.*",
        "solo",
        "srv.web1.cpu",
        "{app,deep}.*",
    ];
    for q in finds {
        for format in ["pickle", "msgpack", "json"] {
            let p = [("local", n(1)), ("format", format.into()), ("query", q.into())];
            cases.push(case("/metrics/find/", "find", "GET", &p));
        }
        let p = [
            ("local", n(1)),
            ("format", "pickle".into()),
            ("query", q.into()),
            ("from", n(now - 3600)),
            ("until", n(now)),
        ];
        cases.push(case("/metrics/find/", "find", "POST", &p));
    }
    let windows = [
        (now - 3600, now, now),         // the 60 s archive
        (now - 7000, now - 2000, now),  // the 60 s archive, ending in the past
        (now - 30000, now - 7200, now), // only the 600 s archive covers it
        (now - 86000, now, now),        // the whole second archive
        (now - 3000, now - 1000, now - 600),
    ];
    let target_sets: [&[&str]; 6] = [
        &["srv.*.cpu", "app.req.*"],
        &["srv.web{1,2}.cpu"],
        &["srv.web[12].cpu", "solo", "deep.a.*.c"],
        &["srv.web?.*", "srv.web1.cpu"],
        &["srv.[!w]*.cpu"],
        &["solo"],
    ];
    for (i, targets) in target_sets.iter().enumerate() {
        for (j, &(from, until, t)) in windows.iter().enumerate() {
            let format = ["pickle", "msgpack", "json"][(i + j) % 3];
            let method = if (i + j) % 4 == 1 { "POST" } else { "GET" };
            let mut p = vec![
                ("format", format.to_string()),
                ("local", n(1)),
                ("noCache", n(1)),
                ("from", n(from)),
                ("until", n(until)),
            ];
            p.extend(targets.iter().map(|t| ("target", t.to_string())));
            p.push(("now", n(t)));
            cases.push(case("/render/", "render", method, &p));
        }
    }
    // Relative times against an explicit `now`; the other format of the first set.
    for format in ["pickle", "msgpack"] {
        let p = [
            ("format", format.into()),
            ("local", n(1)),
            ("target", "srv.*.cpu".into()),
            ("from", "-2h".into()),
            ("until", "-10min".into()),
            ("now", n(now)),
        ];
        cases.push(case("/render/", "render", "GET", &p));
    }
    // Answers graphite-web gives as an empty list, and requests it refuses.
    let empty = [
        case("/render/", "status", "GET", &[("format", "pickle".into()), ("target", "nope.*".into())]),
        case(
            "/render/",
            "status",
            "GET",
            &[
                ("format", "pickle".into()),
                ("target", "solo".into()),
                ("from", n(now - 300_000)),
                ("until", n(now - 200_000)),
                ("now", n(now)),
            ],
        ),
        case("/metrics/find/", "status", "GET", &[("format", "pickle".into()), ("query", "nope.*".into())]),
        case("/metrics/find/", "status", "GET", &[("format", "pickle".into())]),
        case("/metrics/find/", "status", "GET", &[("format", "pickle".into()), ("query", String::new())]),
        case("/metrics/find/", "status", "GET", &[("format", "bogus".into()), ("query", "*".into())]),
        case("/metrics/find/", "status", "GET", &[("query", "*".into()), ("leavesOnly", "x".into())]),
        case(
            "/render/",
            "status",
            "GET",
            &[("format", "pickle".into()), ("target", "solo".into()), ("from", n(now)), ("until", n(now))],
        ),
        case(
            "/render/",
            "status",
            "GET",
            &[("format", "pickle".into()), ("target", "solo".into()), ("xFilesFactor", "x".into())],
        ),
    ];
    cases.extend(empty);

    let spec = serde_json::json!({
        "warren": format!("http://{}", engine.query.http_addr().unwrap()),
        "graphite": format!("http://{}", gw.addr),
        "cases": cases,
    });
    let file = dir.path().join("cases.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/cluster_diff.py");
    let out = Command::new("/usr/bin/python3").arg(script).arg(&file).envs(gw.python_env()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(results.len(), cases.len(), "every case answered");
    let failed: Vec<String> = results
        .iter()
        .filter(|r| r["ok"] != true)
        .map(|r| format!("case {} {}: {}", r["case"], cases[r["case"].as_u64().unwrap() as usize], r["detail"]))
        .collect();
    assert!(failed.is_empty(), "{} of {} cases differ:\n{}", failed.len(), cases.len(), failed.join("\n"));
    drop(gw);
    engine.stop().unwrap();
}
