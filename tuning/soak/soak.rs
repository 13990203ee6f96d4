//! The Rust half of `tuning/soak.sh` (built as `cargo build --release --example soak`; not part of warren).
//!
//! `soak publish` sends a synthetic load ([`warren::bench::load`], values `value_of(metric, point)`) at a fixed
//! rate with publisher confirms, for a fixed time, surviving broker restarts: on any connection error it
//! reconnects and publishes again from the first message not yet confirmed. Confirms arrive in order, so what the
//! broker confirmed is always a *prefix* of the load's message stream: the state file (JSON, rewritten every
//! second and at the end) records the load and that prefix's length, which names every confirmed point
//! (metric, timestamp, value) exactly. Messages past the prefix may have reached the broker twice (republished
//! after a reconnect); their points carry the same values, so that is harmless.
//!
//! `soak verify` reads the state file and checks every confirmed point in the whisper files (two independent
//! readers, exact values: [`warren::bench::verify::verify_first`]), then runs two negative controls that must
//! fail: one message past everything published (its points must be reported missing), and a few metrics checked
//! one second off (their values must be reported wrong).

use amiquip::{AmqpProperties, Confirm, ConfirmSmoother, Connection, Publish};
use anyhow::{bail, Context};
use clap::Parser;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use warren::bench::load::{Load, Message};
use warren::bench::{broker, verify};

#[derive(Parser)]
enum Cmd {
    /// Publish the load at --rate points/s for --duration seconds; keep the state file up to date.
    Publish(PublishArgs),
    /// Check every confirmed point of the state file on disk; print the counts and the negative controls.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
struct PublishArgs {
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "soak")]
    exchange: String,
    /// Durable queue declared and bound with `#` before publishing (warren consumes it).
    #[arg(long, default_value = "soak")]
    queue: String,
    #[arg(long, default_value = "soak")]
    prefix: String,
    #[arg(long, default_value_t = 1000)]
    metrics: u32,
    /// Points per message (name-in-body lines, point-major: as `warren bench body-100`).
    #[arg(long, default_value_t = 100)]
    per_msg: u32,
    /// Points per second.
    #[arg(long)]
    rate: f64,
    /// Seconds of publishing.
    #[arg(long)]
    duration: u64,
    /// Most unconfirmed messages.
    #[arg(long, default_value_t = 2000)]
    window: usize,
    /// The state file (JSON), rewritten every second.
    #[arg(long)]
    state: PathBuf,
}

#[derive(clap::Args)]
struct VerifyArgs {
    #[arg(long)]
    state: PathBuf,
    /// warren's data_dir.
    #[arg(long)]
    data_dir: PathBuf,
    /// Also write the counts here (JSON).
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    match Cmd::parse() {
        Cmd::Publish(a) => publish(&a),
        Cmd::Verify(a) => verify_state(&a),
    }
}

/// What the publisher has done so far.
#[derive(Default)]
struct Progress {
    /// Messages 0..confirmed are confirmed.
    confirmed: u64,
    confirmed_points: u64,
    /// Highest message index ever handed to the broker, plus one.
    sent_max: u64,
    /// Messages handed to the broker, republished ones included.
    published: u64,
    reconnects: u64,
    nacks: u64,
}

/// Points-per-second pacing. Falling behind (a broker outage) is forgiven beyond one second's worth, so a
/// reconnect is followed by at most a one-second burst, not by the whole outage's backlog.
struct Pacer {
    rate: f64,
    start: Instant,
    sent: f64,
}

impl Pacer {
    /// How long to wait before `points` more may go (zero: go now, and they are counted as sent).
    fn take(&mut self, points: u32) -> Duration {
        let due = self.rate * self.start.elapsed().as_secs_f64();
        if due - self.sent > self.rate {
            self.sent = due - self.rate;
        }
        let credit = due - self.sent;
        if credit >= f64::from(points) {
            self.sent += f64::from(points);
            Duration::ZERO
        } else {
            Duration::from_secs_f64((f64::from(points) - credit) / self.rate)
        }
    }
}

fn load_json(load: &Load) -> serde_json::Value {
    serde_json::to_value(load).expect("Load serializes")
}

fn write_state(path: &PathBuf, load: &Load, p: &Progress, done: bool) -> anyhow::Result<()> {
    let v = serde_json::json!({
        "load": load_json(load),
        "confirmed_messages": p.confirmed,
        "confirmed_points": p.confirmed_points,
        "sent_max": p.sent_max,
        "published": p.published,
        "reconnects": p.reconnects,
        "nacks": p.nacks,
        "unix_time": warren::lifecycle::unix_now(),
        "done": done,
    });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{v}\n")).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

fn publish(a: &PublishArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.rate > 0.0 && a.metrics > 0 && a.per_msg > 0, "--rate, --metrics, --per-msg must be > 0");
    // Enough points per metric for the whole run at the full rate, plus 5 % (so some message is never sent: the
    // negative control needs one). Timestamps end now, one second apart, so all are in the past.
    let total = a.rate * a.duration as f64 * 1.05;
    let points = (total / f64::from(a.metrics)).ceil() as u32 + 1;
    anyhow::ensure!(
        points < 1 << 20,
        "{points} points per metric: value_of is unique only below 2^20; raise --metrics"
    );
    let load = Load::ending_at(&a.prefix, a.metrics, points, a.per_msg, 1, warren::lifecycle::unix_now(), true);
    let patterns = ["#".to_string()];
    broker::declare(&a.url, &a.exchange, Some((&a.queue, &patterns))).context("declaring the soak queue")?;
    let mut p = Progress::default();
    write_state(&a.state, &load, &p, false)?;
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let mut pacer = Pacer { rate: a.rate, start: Instant::now(), sent: 0.0 };
    loop {
        match session(a, &load, &mut p, &mut pacer, deadline) {
            Ok(()) => break,
            Err(e) => {
                eprintln!("soak publish: {e:#}; reconnecting (confirmed {} messages)", p.confirmed);
                write_state(&a.state, &load, &p, false)?;
                if Instant::now() >= deadline + Duration::from_secs(60) {
                    eprintln!("soak publish: giving up on the unconfirmed tail after the deadline");
                    break;
                }
                p.reconnects += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    write_state(&a.state, &load, &p, true)?;
    eprintln!(
        "soak publish: confirmed {} messages, {} points; sent up to message {}; {} publishes, {} reconnects, {} nacks",
        p.confirmed, p.confirmed_points, p.sent_max, p.published, p.reconnects, p.nacks
    );
    Ok(())
}

/// One connection: publish from the confirmed prefix on, until the deadline and every confirm, or an error.
fn session(a: &PublishArgs, load: &Load, p: &mut Progress, pacer: &mut Pacer, deadline: Instant) -> anyhow::Result<()> {
    let mut conn = Connection::insecure_open(&a.url).context("connect")?;
    let channel = conn.open_channel(None).context("open channel")?;
    let confirms = channel.listen_for_publisher_confirms().context("listen for confirms")?;
    channel.enable_publisher_confirms().context("enable confirms")?;
    let mut smoother = ConfirmSmoother::new();
    let props = AmqpProperties::default().with_delivery_mode(2);
    // Points of each unconfirmed message, in publish (= delivery tag) order; the first is message p.confirmed.
    let mut unconfirmed = VecDeque::<u32>::new();
    let mut next = p.confirmed;
    let mut msg = Message::default();
    let mut last_state = Instant::now();
    let mut last_confirm = Instant::now();
    let total = load.messages();
    loop {
        let mut got = |c: Confirm, p: &mut Progress, unconfirmed: &mut VecDeque<u32>| -> anyhow::Result<()> {
            for c in smoother.process(c) {
                match c {
                    Confirm::Ack(_) => {
                        p.confirmed += 1;
                        p.confirmed_points += u64::from(unconfirmed.pop_front().unwrap_or(0));
                    }
                    Confirm::Nack(n) => {
                        p.nacks += 1;
                        bail!("broker nacked delivery tag {}", n.delivery_tag);
                    }
                }
            }
            Ok(())
        };
        while let Ok(c) = confirms.try_recv() {
            got(c, p, &mut unconfirmed)?;
            last_confirm = Instant::now();
        }
        if last_state.elapsed() >= Duration::from_secs(1) {
            last_state = Instant::now();
            write_state(&a.state, load, p, false)?;
        }
        let publishing = Instant::now() < deadline && next < total;
        if !publishing && unconfirmed.is_empty() {
            drop(channel);
            let _ = conn.close();
            return Ok(());
        }
        let mut wait = Duration::from_millis(20);
        if publishing && unconfirmed.len() < a.window {
            load.message(next, &mut msg);
            let w = pacer.take(msg.points);
            if w.is_zero() {
                channel
                    .basic_publish(
                        a.exchange.as_str(),
                        Publish::with_properties(&msg.body, msg.key.as_str(), props.clone()),
                    )
                    .context("publish")?;
                unconfirmed.push_back(msg.points);
                next += 1;
                p.published += 1;
                p.sent_max = p.sent_max.max(next);
                continue;
            }
            wait = wait.min(w);
        }
        if unconfirmed.is_empty() {
            std::thread::sleep(wait);
            continue;
        }
        match confirms.recv_timeout(wait) {
            Ok(c) => {
                got(c, p, &mut unconfirmed)?;
                last_confirm = Instant::now();
            }
            Err(crossbeam_timeout) if crossbeam_timeout.is_timeout() => {
                if last_confirm.elapsed() > Duration::from_secs(30) {
                    bail!("no confirm for 30 s with {} unconfirmed", unconfirmed.len());
                }
            }
            Err(_) => bail!("the connection's confirm channel closed"),
        }
    }
}

fn field(v: &serde_json::Value, k: &str) -> anyhow::Result<u64> {
    v[k].as_u64().with_context(|| format!("state file: no integer {k}"))
}

fn verify_state(a: &VerifyArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.state).with_context(|| format!("reading {}", a.state.display()))?;
    let s: serde_json::Value = serde_json::from_str(&text)?;
    let l = &s["load"];
    let load = Load {
        prefix: l["prefix"].as_str().context("load.prefix")?.to_string(),
        metrics: field(l, "metrics")? as u32,
        points: field(l, "points")? as u32,
        per_msg: field(l, "per_msg")? as u32,
        interval: field(l, "interval")? as u32,
        end: field(l, "end")? as u32,
        name_in_body: l["name_in_body"].as_bool().context("load.name_in_body")?,
    };
    let (confirmed, sent_max) = (field(&s, "confirmed_messages")?, field(&s, "sent_max")?);
    let started = Instant::now();
    let v = verify::verify_first(&load, &a.data_dir, |m| load.points_in_first(confirmed, m), |_| {});
    let secs = started.elapsed().as_secs_f64();
    println!(
        "confirmed points: {} ({} messages); verified: {}; missing: {}; mismatched: {}; missing files: {}; \
         reader disagreements: {} ({secs:.0} s)",
        v.expected, confirmed, v.ok, v.missing, v.mismatched, v.missing_files, v.reader_disagreements
    );
    anyhow::ensure!(v.expected == field(&s, "confirmed_points")?, "the prefix count disagrees with the publisher's");

    // Control 1: the prefix one message longer than anything ever published. That message's points were never
    // sent, so they must be reported missing (exactly them when every published message was confirmed).
    let never = sent_max;
    let extra: u64 =
        (0..load.metrics).map(|m| u64::from(load.points_in_first(never + 1, m) - load.points_in_first(never, m))).sum();
    let c1 = verify::verify_first(&load, &a.data_dir, |m| load.points_in_first(never + 1, m), |_| {});
    let c1_ok = extra > 0 && c1.missing >= extra && (confirmed < sent_max || c1.missing == extra);
    println!(
        "negative control 1 (message {never}, never published, {extra} points): reported missing {} -> {}",
        c1.missing,
        if c1_ok { "FAILS AS IT MUST" } else { "DID NOT FAIL" }
    );
    // Control 2: three metrics' confirmed points checked one second early (each slot then holds the previous
    // point's value, or nothing): not one may pass.
    let shifted = Load { end: load.end - 1, ..load.clone() };
    let c2 = verify::verify_first(
        &shifted,
        &a.data_dir,
        |m| if m < 3 { load.points_in_first(confirmed, m) } else { 0 },
        |_| {},
    );
    let c2_ok = c2.expected > 0 && c2.ok == 0 && c2.mismatched + c2.missing == c2.expected;
    println!(
        "negative control 2 (3 metrics, {} points, checked 1 s off): ok {}, mismatched {}, missing {} -> {}",
        c2.expected,
        c2.ok,
        c2.mismatched,
        c2.missing,
        if c2_ok { "FAILS AS IT MUST" } else { "DID NOT FAIL" }
    );
    if let Some(j) = &a.json {
        let out = serde_json::json!({
            "confirmed_messages": confirmed, "sent_max": sent_max, "verification": v, "seconds": secs,
            "control_never_published": {"points": extra, "result": c1, "fails_as_it_must": c1_ok},
            "control_one_second_off": {"result": c2, "fails_as_it_must": c2_ok},
        });
        std::fs::write(j, format!("{out:#}\n"))?;
    }
    if !v.passed() || !c1_ok || !c2_ok {
        bail!("soak verification FAILED");
    }
    println!("soak verification passed: every confirmed point is on disk with its value, and both controls fail");
    Ok(())
}
