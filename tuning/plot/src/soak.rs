//! `warren-tuning-plot soak CSV [--events EVENTS.tsv] [--out PNG]`: the PNG of a `tuning/soak.sh` run: warren's
//! RSS over time (top) and its committed points/s beside the publisher's confirmed points/s (bottom), with the
//! run's events (kill -9, broker restart, read-only window) as vertical lines. Prints the figures the README
//! quotes: peak and final RSS, points/s mean and median over the run.

use anyhow::{bail, Context};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

struct Sample {
    t: f64,
    rss_mb: f64,
    committed_per_s: f64,
    confirmed_points: f64,
}

fn read_csv(path: &Path) -> anyhow::Result<Vec<Sample>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty CSV")?.split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).with_context(|| format!("no column {name}"));
    let (t, rss, pps, conf) = (col("t_s")?, col("rss_kb")?, col("points_per_s")?, col("confirmed_points")?);
    let mut out = Vec::new();
    for l in lines {
        let f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap_or(0.0)).collect();
        if f.len() == header.len() {
            out.push(Sample { t: f[t], rss_mb: f[rss] / 1024.0, committed_per_s: f[pps], confirmed_points: f[conf] });
        }
    }
    Ok(out)
}

fn read_events(path: &Path) -> anyhow::Result<Vec<(f64, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once('\t'))
        .filter_map(|(t, e)| Some((t.parse().ok()?, e.to_string())))
        .collect())
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The colour of an event's line, or None for events not drawn.
fn event_color(e: &str) -> Option<RGBColor> {
    if e.starts_with("kill -9") {
        Some(RED)
    } else if e.starts_with("private broker: rabbitmqctl stop") || e.starts_with("private broker up") {
        Some(BLUE)
    } else if e.starts_with("data dir") {
        Some(RGBColor(230, 140, 0))
    } else if e.contains("UNEXPECTEDLY") {
        Some(MAGENTA)
    } else {
        None
    }
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let (mut csv, mut events, mut out) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--events" => events = it.next().map(PathBuf::from),
            "--out" | "-o" => out = it.next().map(PathBuf::from),
            _ => csv = Some(PathBuf::from(a)),
        }
    }
    let Some(csv) = csv else { bail!("usage: warren-tuning-plot soak CSV [--events EVENTS.tsv] [--out PNG]") };
    let out = out.unwrap_or_else(|| csv.with_extension("png"));
    let samples = read_csv(&csv)?;
    if samples.len() < 2 {
        bail!("{}: fewer than two samples", csv.display());
    }
    let events = match &events {
        Some(p) => read_events(p)?,
        None => Vec::new(),
    };
    // The publisher's confirmed points/s, from its cumulative count.
    let confirmed_per_s: Vec<(f64, f64)> = samples
        .windows(2)
        .map(|w| (w[1].t, (w[1].confirmed_points - w[0].confirmed_points).max(0.0) / (w[1].t - w[0].t).max(1.0)))
        .collect();
    let tmax = samples.last().map_or(1.0, |s| s.t).max(1.0);
    let rss_max = samples.iter().map(|s| s.rss_mb).fold(0.0, f64::max);
    let pps_max =
        samples.iter().map(|s| s.committed_per_s).chain(confirmed_per_s.iter().map(|c| c.1)).fold(0.0, f64::max);

    let root = BitMapBackend::new(&out, (1400, 900)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(420);
    let mut c1 = ChartBuilder::on(&top)
        .caption("warren soak: RSS", ("sans-serif", 26))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..tmax, 0.0..rss_max * 1.15 + 1.0)?;
    c1.configure_mesh().x_desc("seconds since start").y_desc("RSS (MB)").label_style(("sans-serif", 16)).draw()?;
    let mut c2 = ChartBuilder::on(&bottom)
        .caption("points/s: committed by warren, confirmed to the publisher", ("sans-serif", 26))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..tmax, 0.0..pps_max * 1.15 + 1.0)?;
    c2.configure_mesh()
        .x_desc("seconds since start (red: kill -9, blue: broker stop/up, orange: data dir read-only/writable)")
        .y_desc("points/s")
        .y_label_formatter(&|y| crate::fmt_rate(y))
        .label_style(("sans-serif", 16))
        .draw()?;
    for (t, e) in &events {
        if let Some(color) = event_color(e) {
            c1.draw_series(LineSeries::new([(*t, 0.0), (*t, rss_max * 1.15 + 1.0)], color.stroke_width(1)))?;
            c2.draw_series(LineSeries::new([(*t, 0.0), (*t, pps_max * 1.15 + 1.0)], color.stroke_width(1)))?;
        }
    }
    c1.draw_series(LineSeries::new(samples.iter().map(|s| (s.t, s.rss_mb)), BLACK.stroke_width(2)))?;
    c2.draw_series(LineSeries::new(confirmed_per_s.iter().copied(), GREEN.mix(0.8).stroke_width(1)))?
        .label("confirmed to the publisher")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], GREEN.stroke_width(3)));
    c2.draw_series(LineSeries::new(samples.iter().map(|s| (s.t, s.committed_per_s)), BLACK.stroke_width(1)))?
        .label("committed by warren")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK.stroke_width(3)));
    c2.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .draw()?;
    root.present()?;

    let pps: Vec<f64> = samples.iter().map(|s| s.committed_per_s).collect();
    let conf: Vec<f64> = confirmed_per_s.iter().map(|c| c.1).collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let peak = samples.iter().max_by(|a, b| a.rss_mb.total_cmp(&b.rss_mb)).expect("two samples");
    println!("samples: {} over {tmax:.0} s", samples.len());
    println!(
        "peak RSS: {:.0} MB at t = {:.0} s; final RSS {:.0} MB",
        peak.rss_mb,
        peak.t,
        samples[samples.len() - 1].rss_mb
    );
    println!(
        "committed points/s: mean {}, median {}; confirmed points/s: mean {}, median {}",
        crate::fmt_rate(&mean(&pps)),
        crate::fmt_rate(&median(pps.clone())),
        crate::fmt_rate(&mean(&conf)),
        crate::fmt_rate(&median(conf.clone()))
    );
    println!("wrote {}", out.display());
    Ok(())
}
