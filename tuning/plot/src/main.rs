//! Draws the PNGs of a `tuning/sweep.sh` results directory and prints a Markdown table of the medians.
//!
//!   cargo run --release --manifest-path tuning/plot/Cargo.toml -- tuning/results/<timestamp>... [--out OUT_DIR]
//!   cargo run --release --manifest-path tuning/plot/Cargo.toml -- soak SOAK.csv [--events EVENTS.tsv] [--out PNG]
//!
//! The second form draws a `tuning/soak.sh` run (module `soak`).
//!
//! Several results directories are merged (their runs count as more repetitions of the same points).
//! OUT_DIR defaults to tuning/plots (next to this crate). Each run's JSON is named `<point>-r<rep>.json`;
//! the point names are `pf-<scenario>-w<workers>-p<prefetch>`, `strategy-<name>`, `ring-<capacity>`.
//! Lines and bars are the median over repetitions; every repetition is also drawn as a small dot.

use anyhow::{bail, Context};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod soak;

/// One measured run.
#[derive(Debug, Clone)]
struct Run {
    point: String,
    points_per_sec: f64,
    p99_ms: f64,
    ratio: f64,
    ceiling: f64,
    workers: u64,
    prefetch: u64,
    strategy: String,
    ring: u64,
    load1: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn load(dir: &Path) -> anyhow::Result<Vec<Run>> {
    // loadavg.tsv: run name → 1-minute load average at the start of the run.
    let mut loads = BTreeMap::new();
    if let Ok(text) = std::fs::read_to_string(dir.join("loadavg.tsv")) {
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() > 1 {
                if let Ok(l) = f[1].parse::<f64>() {
                    loads.insert(f[0].to_string(), l);
                }
            }
        }
    }
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else { continue };
        if path.extension().and_then(|e| e.to_str()) != Some("json") || stem.starts_with("warmup") {
            continue;
        }
        let Some((point, _rep)) = stem.rsplit_once("-r") else { continue };
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .with_context(|| format!("parsing {}", path.display()))?;
        let row = &v["rows"][0];
        let k = &v["knobs"];
        runs.push(Run {
            point: point.to_string(),
            points_per_sec: row["points_per_sec"].as_f64().unwrap_or(f64::NAN),
            p99_ms: row["latency_receive"]["p99_ms"].as_f64().unwrap_or(f64::NAN),
            ratio: row["ratio_to_ceiling"].as_f64().unwrap_or(f64::NAN),
            ceiling: v["ceiling"]["drain_points_per_sec"].as_f64().unwrap_or(f64::NAN),
            workers: k["workers"].as_u64().unwrap_or(0),
            prefetch: k["prefetch"].as_u64().unwrap_or(0),
            strategy: k["strategy"].as_str().unwrap_or("?").to_string(),
            ring: k["ring_capacity"].as_u64().unwrap_or(0),
            load1: loads.get(stem).copied(),
        });
    }
    if runs.is_empty() {
        bail!("no result JSON in {}", dir.display());
    }
    Ok(runs)
}

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// What one value vs prefetch chart plots and how it is labelled.
struct PrefetchChart<'a> {
    /// The chart covers the `pf-<scenario>-…` points.
    scenario: &'a str,
    /// The plotted value of one run.
    metric: fn(&Run) -> f64,
    y_desc: &'a str,
    title: &'a str,
    y_fmt: fn(&f64) -> String,
    legend: SeriesLabelPosition,
}

/// A value vs prefetch chart, one line per workers value, for the `pf-<scenario>-…` points.
fn prefetch_chart(runs: &[Run], spec: PrefetchChart, out: &Path) -> anyhow::Result<()> {
    let PrefetchChart { scenario, metric, y_desc, title, y_fmt, legend } = spec;
    let prefix = format!("pf-{scenario}-");
    let mine: Vec<&Run> = runs.iter().filter(|r| r.point.starts_with(&prefix)).collect();
    if mine.is_empty() {
        return Ok(());
    }
    let mut by_workers: BTreeMap<u64, BTreeMap<u64, Vec<f64>>> = BTreeMap::new();
    for r in &mine {
        by_workers.entry(r.workers).or_default().entry(r.prefetch).or_default().push(metric(r));
    }
    let ymax = mine.iter().map(|r| metric(r)).filter(|v| v.is_finite()).fold(0.0, f64::max) * 1.12;
    let mut ticks: Vec<f64> = mine.iter().map(|r| r.prefetch as f64).collect();
    ticks.sort_by(|a, b| a.total_cmp(b));
    ticks.dedup();
    let xmin = mine.iter().map(|r| r.prefetch).min().unwrap_or(100) as f64 / 1.5;
    let xmax = mine.iter().map(|r| r.prefetch).max().unwrap_or(100_000) as f64 * 1.5;

    let root = BitMapBackend::new(out, (1000, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(18)
        .x_label_area_size(55)
        .y_label_area_size(95)
        .build_cartesian_2d((xmin..xmax).log_scale().with_key_points(ticks), 0.0..ymax.max(1.0))?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(235, 235, 235))
        .x_desc("prefetch per worker (basic.qos, log scale; line = median, x = each run)")
        .y_desc(y_desc)
        .x_label_formatter(&|x| format!("{:.0}", x))
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 17))
        .axis_desc_style(("sans-serif", 19))
        .draw()?;
    for (i, (w, by_pf)) in by_workers.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let line: Vec<(f64, f64)> = by_pf.iter().map(|(pf, v)| (*pf as f64, median(v.clone()))).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(3)))?
            .label(format!("{w} worker{} (median)", if *w == 1 { "" } else { "s" }))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3)));
        chart.draw_series(line.iter().map(|&(x, y)| Circle::new((x, y), 5, color.filled())))?;
        // Every repetition, slightly offset per workers value so both sets stay visible.
        let off = 1.0 + 0.04 * (i as f64 - 0.5);
        chart.draw_series(
            by_pf
                .iter()
                .flat_map(|(pf, v)| v.iter().map(move |y| (*pf as f64 * off, *y)))
                .map(|(x, y)| Cross::new((x, y), 4, color.mix(0.6).stroke_width(1))),
        )?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .label_font(("sans-serif", 18))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    println!("wrote {}", out.display());
    Ok(())
}

/// Bars (median) with a cross per repetition, one bar per (label, values).
fn bar_chart(groups: &[(String, Vec<f64>)], title: &str, x_desc: &str, y_desc: &str, out: &Path) -> anyhow::Result<()> {
    if groups.is_empty() {
        return Ok(());
    }
    let n = groups.len();
    let ymax = groups.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite()).fold(0.0, f64::max) * 1.15;
    let root = BitMapBackend::new(out, (1000, 620)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 26))
        .margin(18)
        .x_label_area_size(55)
        .y_label_area_size(95)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0.0..ymax.max(1.0))?;
    let labels: Vec<String> = groups.iter().map(|(l, _)| l.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 0.01 && i >= 0.0 && (i as usize) < labels.len() {
                labels[i as usize].clone()
            } else {
                String::new()
            }
        })
        .x_desc(format!("{x_desc} (bar = median, x = each run)"))
        .y_desc(y_desc)
        .y_label_formatter(&|y| fmt_rate(y))
        .label_style(("sans-serif", 17))
        .axis_desc_style(("sans-serif", 19))
        .draw()?;
    for (i, (_, v)) in groups.iter().enumerate() {
        let m = median(v.clone());
        let x = i as f64;
        let color = COLORS[i % COLORS.len()];
        chart.draw_series(std::iter::once(Rectangle::new([(x - 0.3, 0.0), (x + 0.3, m)], color.mix(0.75).filled())))?;
        let top = v.iter().copied().fold(m, f64::max);
        let style = TextStyle::from(("sans-serif", 19).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        chart.draw_series(std::iter::once(Text::new(
            format!("median {}", fmt_rate(&m)),
            (x, top + ymax * 0.02),
            style,
        )))?;
        chart.draw_series(v.iter().map(|y| Cross::new((x, *y), 5, BLACK.stroke_width(2))))?;
    }
    root.present()?;
    println!("wrote {}", out.display());
    Ok(())
}

fn fmt_rate(y: &f64) -> String {
    if *y >= 1e6 {
        format!("{:.2} M", y / 1e6)
    } else if *y >= 1e3 {
        format!("{:.0} k", y / 1e3)
    } else {
        format!("{:.0}", y)
    }
}

fn fmt_ms(y: &f64) -> String {
    format!("{:.0}", y)
}

fn main() -> anyhow::Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("soak") {
        return soak::run(&all[1..]);
    }
    let mut dirs = Vec::new();
    let mut out = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        if a == "--out" || a == "-o" {
            out = args.next().map(PathBuf::from);
        } else {
            dirs.push(PathBuf::from(a));
        }
    }
    if dirs.is_empty() {
        bail!("usage: warren-tuning-plot RESULTS_DIR... [--out OUT_DIR]");
    }
    let out = out.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../plots"));
    std::fs::create_dir_all(&out)?;
    let mut runs = Vec::new();
    for d in &dirs {
        runs.extend(load(d)?);
    }

    for sc in ["body-100", "rk-1"] {
        let throughput = PrefetchChart {
            scenario: sc,
            metric: |r| r.points_per_sec,
            y_desc: "points/s (backlog drain, steady state)",
            title: &format!("{sc}: throughput vs prefetch"),
            y_fmt: fmt_rate,
            legend: SeriesLabelPosition::UpperLeft,
        };
        prefetch_chart(&runs, throughput, &out.join(format!("throughput-vs-prefetch-{sc}.png")))?;
        let p99 = PrefetchChart {
            scenario: sc,
            metric: |r| r.p99_ms,
            y_desc: "p99 receive→durable latency (ms)",
            title: &format!("{sc}: p99 latency vs prefetch"),
            y_fmt: fmt_ms,
            legend: SeriesLabelPosition::UpperLeft,
        };
        prefetch_chart(&runs, p99, &out.join(format!("p99-vs-prefetch-{sc}.png")))?;
    }
    let group = |prefix: &str, order: &[&str]| -> Vec<(String, Vec<f64>)> {
        order
            .iter()
            .filter_map(|name| {
                let v: Vec<f64> =
                    runs.iter().filter(|r| r.point == format!("{prefix}{name}")).map(|r| r.points_per_sec).collect();
                (!v.is_empty()).then(|| (name.to_string(), v))
            })
            .collect()
    };
    bar_chart(
        &group("strategy-", &["sorted", "max", "naive", "timesorted"]),
        "body-100: throughput per write strategy (2 workers, prefetch 10000)",
        "write strategy",
        "points/s (steady state)",
        &out.join("throughput-per-strategy.png"),
    )?;
    bar_chart(
        &group("ring-", &["64", "1024"]),
        "body-100: throughput per ring capacity (2 workers, prefetch 10000)",
        "batches per producer ring",
        "points/s (steady state)",
        &out.join("throughput-per-ring.png"),
    )?;

    // The medians, as a Markdown table.
    let mut points: BTreeMap<&str, Vec<&Run>> = BTreeMap::new();
    for r in &runs {
        points.entry(&r.point).or_default().push(r);
    }
    println!();
    println!("| point | workers | prefetch | strategy | ring | reps | points/s median (min–max) | p99 ms median | ratio to ceiling | ceiling points/s | load1 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (p, rs) in &points {
        let pps: Vec<f64> = rs.iter().map(|r| r.points_per_sec).collect();
        let lo = pps.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = pps.iter().copied().fold(0.0, f64::max);
        let loads: Vec<f64> = rs.iter().filter_map(|r| r.load1).collect();
        println!(
            "| {p} | {} | {} | {} | {} | {} | {} ({}–{}) | {:.0} | {:.2} | {} | {:.1} |",
            rs[0].workers,
            rs[0].prefetch,
            rs[0].strategy,
            rs[0].ring,
            rs.len(),
            fmt_rate(&median(pps.clone())),
            fmt_rate(&lo),
            fmt_rate(&hi),
            median(rs.iter().map(|r| r.p99_ms).collect()),
            median(rs.iter().map(|r| r.ratio).collect()),
            fmt_rate(&median(rs.iter().map(|r| r.ceiling).collect())),
            median(loads),
        );
    }
    Ok(())
}
