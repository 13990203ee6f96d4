//! Tagged series end to end, with the real broker and a real graphite-web 1.1.8 using its local database tag DB:
//! warren takes tagged points from AMQP (routing key) and plaintext, stores them at carbon's `_tagged/` paths
//! (computed here by carbon's own `TaggedSeries.encode`), registers them with graphite-web
//! (`/tags/tagMultiSeries`), and graphite-web's `seriesByTag(...)` render returns exactly the published values,
//! including points still only in warren's cache (asked through CarbonLink by their tagged name). The AMQP binding
//! `app.*.example.com` selects the tagged series whose tag value holds dots (topic words split at every `.`) and
//! not the one without.

mod common;
mod query_support;

use common::*;
use query_support::*;
use std::io::Write;
use std::process::Command;
use std::sync::atomic::Ordering;
use warren::cache::writer::DefaultRules;
use warren::engine::Engine;

/// carbon's `TaggedSeries.encode(TaggedSeries.parse(name).path, '/', hash_only)` + `.wsp`.
fn carbon_path(name: &str, hash_only: bool) -> String {
    let hash = if hash_only { "True" } else { "False" };
    let script = format!(
        "from carbon.util import TaggedSeries as T\nimport sys\n\
         print(T.encode(T.parse(sys.argv[1]).path, sep='/', hash_only={hash}) + '.wsp')"
    );
    let out = Command::new("/usr/bin/python3").args(["-c", &script, name]).output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Percent-encode a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// (series name, non-null datapoints) of a graphite-web json render, sorted by name.
fn series(render: &serde_json::Value) -> Vec<(String, Vec<(u32, f64)>)> {
    let mut out: Vec<(String, Vec<(u32, f64)>)> = render
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let pts = s["datapoints"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| !d[0].is_null())
                .map(|d| (d[1].as_u64().unwrap() as u32, d[0].as_f64().unwrap()))
                .collect();
            (s["target"].as_str().unwrap().to_string(), pts)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn tagged_series_from_amqp_and_plaintext_render_in_graphite_web_by_tag() {
    let dir = tempfile::tempdir().unwrap();
    let (ex, q) = (unique("ex"), unique("q"));
    let _declared = Declared::new(BROKER, &[&ex], &[&q]);
    let patterns = ["cpu.#", "app.*.example.com"];
    let publisher = Publisher::new(BROKER, &ex, &q, &patterns);
    // graphite-web needs CarbonLink's port and warren graphite-web's URL: fix CarbonLink's port first.
    let cl_port = free_port();
    let cl: std::net::SocketAddr = format!("127.0.0.1:{cl_port}").parse().unwrap();
    let gw = GraphiteWeb::start_with(
        dir.path(),
        cl,
        "TAGDB = 'graphite.tags.localdatabase.LocalDatabaseTagDB'\nTAGDB_CACHE_DURATION = 0\n",
    );
    let mut s = settings(dir.path(), BROKER, &ex, &q, &patterns);
    s.query.carbonlink = Some(cl.to_string());
    s.receivers.enabled = true;
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.receivers.pickle = None;
    s.tags.enabled = true;
    s.tags.graphite_url = format!("http://{}", gw.addr);
    s.tags.batch_size = 2;
    s.stats.metric_interval_secs = 0;
    let engine = Engine::start(&s, Box::new(DefaultRules)).unwrap();
    let t0 = now() / 60 * 60 - 120;
    let t1 = t0 + 60;

    // Names as clients send them (tags in any order); carbon's normal forms are what is stored and registered.
    let east = ("cpu.usage;host=web01;dc=us-east", "cpu.usage;dc=us-east;host=web01");
    let west = ("cpu.usage;host=web02;dc=us-west", "cpu.usage;dc=us-west;host=web02");
    let eu = ("cpu.usage;dc=eu;host=web03", "cpu.usage;dc=eu;host=web03");
    let dotted = ("app.req;host=web01.example.com", "app.req;host=web01.example.com");
    let undotted = "app.req;host=web02";
    publisher.publish(east.0, format!("1.5 {t0}").as_bytes());
    publisher.publish(dotted.0, format!("7 {t0}").as_bytes());
    publisher.publish(undotted, format!("8 {t0}").as_bytes());
    let mut line = std::net::TcpStream::connect(engine.receivers.line_tcp.unwrap()).unwrap();
    line.write_all(format!("{} 2.5 {t0}\n{} 9 {t0}\n", west.0, eu.0).as_bytes()).unwrap();
    line.flush().unwrap();
    assert!(wait_until(30, || engine.stats.committed_points.load(Ordering::Relaxed) == 4));

    // Each file is where carbon puts it (hashed names, carbon's default), and nowhere else.
    let mut files = Vec::new();
    for (_, normal) in [east, west, eu, dotted] {
        let p = carbon_path(normal, true);
        assert!(p.starts_with("_tagged/"), "{p}");
        assert!(dir.path().join(&p).is_file(), "{normal} at {p}");
        assert_eq!(warren::metric::file_path(dir.path(), normal), dir.path().join(&p));
        files.push(p);
    }
    files.sort();
    let mut on_disk: Vec<String> = walk(dir.path()).into_iter().filter(|f| f.ends_with(".wsp")).collect();
    on_disk.sort();
    assert_eq!(on_disk, files, "the binding app.*.example.com does not select {undotted}");
    assert_eq!(python_fetch(dir.path(), east.1, 600), [(t0, 1.5)]);

    // Registration: graphite-web's tag DB knows the normal forms.
    assert!(wait_until(30, || engine.stats.tags_registered.load(Ordering::Relaxed) >= 4));
    let found = gw.json(&format!("/tags/findSeries?expr={}", enc("name=cpu.usage")));
    let mut found: Vec<String> = found.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    found.sort();
    assert_eq!(found, [eu.1, east.1, west.1]);

    // Hold writes: the next points stay in warren's cache, where graphite-web finds them through CarbonLink.
    engine.hold_writes.store(true, Ordering::Release);
    publisher.publish(east.0, format!("3.5 {t1}").as_bytes());
    line.write_all(format!("{} 4.5 {t1}\n{} 10 {t1}\n", west.0, eu.0).as_bytes()).unwrap();
    line.flush().unwrap();
    assert!(wait_until(30, || engine.stats.points_received.load(Ordering::Relaxed) >= 7));
    assert_eq!(python_fetch(dir.path(), east.1, 600), [(t0, 1.5)], "t1 is only in the cache");

    let window = format!("from={}&until={}", t0 - 300, t1 + 60);
    let render = |target: &str| gw.json(&format!("/render?target={}&{window}&format=json", enc(target)));
    assert_eq!(
        series(&render("seriesByTag('name=cpu.usage','dc=us-east')")),
        [(east.1.to_string(), vec![(t0, 1.5), (t1, 3.5)])],
        "exactly the published values, t1 from the cache"
    );
    assert_eq!(
        series(&render("seriesByTag('name=cpu.usage','dc=~us-.*')")),
        [(east.1.to_string(), vec![(t0, 1.5), (t1, 3.5)]), (west.1.to_string(), vec![(t0, 2.5), (t1, 4.5)])],
        "dc=eu is not selected"
    );
    assert_eq!(series(&render("seriesByTag('name=cpu.usage','dc=nowhere')")), []);
    // warren's own CarbonLink and HTTP API answer by tagged name too (asked with the tags in another order).
    let ours =
        http_get(engine.query.http_addr().unwrap(), &format!("/render?target={}&{window}&format=json", enc(east.0)))
            .unwrap();
    assert_eq!(ours.0, 200, "{}", ours.1);
    let ours: serde_json::Value = serde_json::from_str(&ours.1).unwrap();
    assert_eq!(series(&ours), [(east.1.to_string(), vec![(t0, 1.5), (t1, 3.5)])], "{ours}");

    engine.hold_writes.store(false, Ordering::Release);
    assert!(wait_until(30, || engine.stats.committed_points.load(Ordering::Relaxed) == 7));
    engine.stop().unwrap();
    assert_eq!(python_fetch(dir.path(), east.1, 600), [(t0, 1.5), (t1, 3.5)]);
    drop(gw);
}

/// Every file under `root`, relative, with `/` separators.
fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[test]
fn schema_and_aggregation_rules_match_the_normalised_tagged_name() {
    use warren::cache::writer::ConfRules;
    use warren::config::{StorageAggregation, StorageSchemas};
    use warren::whisper::{AggregationMethod, WhisperFile};
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), BROKER, "unused", "unused", &["#"]);
    s.amqp.enabled = false;
    s.receivers.enabled = true;
    s.receivers.line_tcp = Some("127.0.0.1:0".into());
    s.receivers.pickle = None;
    s.stats.metric_interval_secs = 0;
    // carbon searches the normal form: `;dc=us-east;host=` only matches once the tags are sorted.
    let rules = ConfRules {
        schemas: StorageSchemas::parse("[east]\npattern = ;dc=us-east;host=\nretentions = 10:6\n", "s").unwrap(),
        aggregation: StorageAggregation::parse(
            "[east]\npattern = ^cpu;dc=us-east;\nxFilesFactor = 0.1\naggregationMethod = max\n",
            "a",
        )
        .unwrap(),
    };
    let engine = Engine::start(&s, Box::new(rules)).unwrap();
    let t = now() / 10 * 10 - 10;
    let mut line = std::net::TcpStream::connect(engine.receivers.line_tcp.unwrap()).unwrap();
    line.write_all(format!("cpu;host=a;dc=us-east 1 {t}\ncpu;host=a;dc=us-west 2 {t}\n").as_bytes()).unwrap();
    line.flush().unwrap();
    assert!(wait_until(30, || engine.stats.committed_points.load(Ordering::Relaxed) == 2));
    engine.stop().unwrap();
    let east = WhisperFile::open_read_only(&warren::metric::file_path(dir.path(), "cpu;dc=us-east;host=a")).unwrap();
    let h = east.header();
    assert_eq!((h.archives.len(), h.archives[0].seconds_per_point, h.archives[0].points), (1, 10, 6));
    assert_eq!((h.aggregation, h.x_files_factor), (AggregationMethod::Max, 0.1));
    // The negative control: the same series in another dc gets carbon's defaults.
    let west = WhisperFile::open_read_only(&warren::metric::file_path(dir.path(), "cpu;dc=us-west;host=a")).unwrap();
    let h = west.header();
    assert_eq!((h.archives[0].seconds_per_point, h.archives[0].points), (60, 10080));
    assert_eq!((h.aggregation, h.x_files_factor), (AggregationMethod::Average, 0.5));
}
