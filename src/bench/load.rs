//! The synthetic load: which metrics, which points, which values, and how they are packed into messages.
//!
//! A load is `metrics` metrics named `<prefix>.m000123`, each with `points` points `interval` seconds apart;
//! the last point of every metric is at `end` (a multiple of `interval`). The value of point `p` of metric `m` is
//! [`value_of`]`(m, p)`, so whoever reads the whisper files back can check every slot without remembering what
//! was sent.
//!
//! The stream is *point-major*, as real collectors report: every metric's first chunk of points, then every
//! metric's second chunk, and so on. Routing-key mode: message `j` is metric `j % metrics`, points
//! `(j / metrics) * per_msg ..` (up to `per_msg` of them), key = the metric name, body = `value timestamp` lines.
//! Name-in-body mode: the stream of (metric, point) pairs in that point-major order is cut into messages of
//! `per_msg` consecutive `metric value timestamp` lines (the routing key is the first line's metric).
//!
//! Owns: the arithmetic of the load. Never touches: sockets, files.

use std::fmt::Write as _;

/// The value of point `point_idx` of metric `metric_idx`: `metric_idx * 2^20 + point_idx + 0.25`.
///
/// Exactly representable in an f64 for every `metric_idx < 2^32` and `point_idx < 2^20`, printed by Rust's
/// shortest round-trip formatting and parsed back bit-identical, and different for every (metric, point) pair in
/// that range, so a value in the wrong file or the wrong slot is caught. The `.25` makes sure the fractional path
/// of the parser is exercised.
#[inline]
pub fn value_of(metric_idx: u32, point_idx: u32) -> f64 {
    f64::from(metric_idx) * 1_048_576.0 + f64::from(point_idx) + 0.25
}

/// A synthetic load (see the module documentation for the layout).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Load {
    /// Metric name prefix; names are `<prefix>.m<index, 6 digits or more>`.
    pub prefix: String,
    /// Number of metrics.
    pub metrics: u32,
    /// Points per metric.
    pub points: u32,
    /// Points per message (≥ 1).
    pub per_msg: u32,
    /// Seconds between two points of one metric (≥ 1).
    pub interval: u32,
    /// Timestamp of every metric's last point; a multiple of `interval`.
    pub end: u32,
    /// `metric value timestamp` lines in the body instead of `value timestamp` with the name as routing key.
    pub name_in_body: bool,
}

/// One message of a load, in buffers the caller reuses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// The routing key.
    pub key: String,
    /// The body: newline-terminated lines.
    pub body: Vec<u8>,
    /// Points in the body.
    pub points: u32,
}

impl Load {
    /// A load whose last points are at the latest multiple of `interval` not after `now`.
    /// `per_msg` and `interval` of 0 are taken as 1.
    pub fn ending_at(
        prefix: &str,
        metrics: u32,
        points: u32,
        per_msg: u32,
        interval: u32,
        now: u32,
        name_in_body: bool,
    ) -> Load {
        let interval = interval.max(1);
        Load {
            prefix: prefix.to_string(),
            metrics,
            points,
            per_msg: per_msg.max(1),
            interval,
            end: now - now % interval,
            name_in_body,
        }
    }

    /// Total points of the load.
    pub fn total_points(&self) -> u64 {
        u64::from(self.metrics) * u64::from(self.points)
    }

    /// Messages per metric in routing-key mode.
    fn chunks(&self) -> u64 {
        u64::from(self.points).div_ceil(u64::from(self.per_msg))
    }

    /// Total messages of the load.
    pub fn messages(&self) -> u64 {
        if self.name_in_body {
            self.total_points().div_ceil(u64::from(self.per_msg))
        } else {
            u64::from(self.metrics) * self.chunks()
        }
    }

    /// How many points of metric `metric_idx` the first `messages` messages of the stream hold (they are always
    /// that metric's first points, 0..n): what a publisher whose first `messages` messages were confirmed has
    /// sent of it.
    pub fn points_in_first(&self, messages: u64, metric_idx: u32) -> u32 {
        let (metrics, per_msg) = (u64::from(self.metrics), u64::from(self.per_msg));
        if metric_idx >= self.metrics {
            return 0;
        }
        let n = if self.name_in_body {
            // Stream position of (metric, point) is point * metrics + metric.
            let sent = messages.saturating_mul(per_msg).min(self.total_points());
            sent.saturating_sub(u64::from(metric_idx)).div_ceil(metrics)
        } else {
            // Message j is metric j % metrics, chunk j / metrics.
            let chunks = messages / metrics + u64::from(messages % metrics > u64::from(metric_idx));
            chunks.saturating_mul(per_msg)
        };
        n.min(u64::from(self.points)) as u32
    }

    /// Timestamp of point `point_idx` (of any metric). Saturates at 0 for loads longer than the epoch.
    pub fn timestamp_of(&self, point_idx: u32) -> u32 {
        let back = u64::from(self.points - 1 - point_idx.min(self.points.saturating_sub(1))) * u64::from(self.interval);
        u64::from(self.end).saturating_sub(back) as u32
    }

    /// Append the name of metric `metric_idx` to `out`.
    pub fn write_name(&self, metric_idx: u32, out: &mut String) {
        // Invariant: writing to a String cannot fail.
        write!(out, "{}.m{:06}", self.prefix, metric_idx).expect("fmt to String");
    }

    /// The name of metric `metric_idx`.
    pub fn name(&self, metric_idx: u32) -> String {
        let mut s = String::new();
        self.write_name(metric_idx, &mut s);
        s
    }

    /// Fill `msg` with message `j` (< [`Load::messages`]); returns false (and leaves `msg` empty) past the end.
    pub fn message(&self, j: u64, msg: &mut Message) -> bool {
        msg.key.clear();
        msg.body.clear();
        msg.points = 0;
        if j >= self.messages() || self.metrics == 0 {
            return false;
        }
        let mut line = String::with_capacity(64);
        if self.name_in_body {
            let first = j * u64::from(self.per_msg);
            let last = (first + u64::from(self.per_msg)).min(self.total_points());
            for i in first..last {
                let (m, p) = ((i % u64::from(self.metrics)) as u32, (i / u64::from(self.metrics)) as u32);
                if i == first {
                    self.write_name(m, &mut msg.key);
                }
                line.clear();
                self.write_name(m, &mut line);
                // Invariant: writing to a String cannot fail.
                writeln!(line, " {} {}", value_of(m, p), self.timestamp_of(p)).expect("fmt to String");
                msg.body.extend_from_slice(line.as_bytes());
                msg.points += 1;
            }
        } else {
            let m = (j % u64::from(self.metrics)) as u32;
            let chunk = (j / u64::from(self.metrics)) as u32;
            self.write_name(m, &mut msg.key);
            let first = chunk * self.per_msg;
            let last = first.saturating_add(self.per_msg).min(self.points);
            for p in first..last {
                line.clear();
                // Invariant: writing to a String cannot fail.
                writeln!(line, "{} {}", value_of(m, p), self.timestamp_of(p)).expect("fmt to String");
                msg.body.extend_from_slice(line.as_bytes());
                msg.points += 1;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_points(load: &Load) -> Vec<(String, u32, f64)> {
        let mut out = Vec::new();
        let mut msg = Message::default();
        for j in 0..load.messages() {
            assert!(load.message(j, &mut msg));
            let text = std::str::from_utf8(&msg.body).unwrap();
            assert_eq!(text.lines().count() as u32, msg.points);
            for l in text.lines() {
                let f: Vec<&str> = l.split(' ').collect();
                let (name, v, t) = if load.name_in_body { (f[0], f[1], f[2]) } else { (msg.key.as_str(), f[0], f[1]) };
                out.push((name.to_string(), t.parse().unwrap(), v.parse().unwrap()));
            }
        }
        assert!(!load.message(load.messages(), &mut msg));
        out.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out
    }

    fn expected(load: &Load) -> Vec<(String, u32, f64)> {
        let mut out = Vec::new();
        for m in 0..load.metrics {
            for p in 0..load.points {
                out.push((load.name(m), load.timestamp_of(p), value_of(m, p)));
            }
        }
        out.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out
    }

    #[test]
    fn every_point_is_sent_exactly_once_in_both_modes() {
        for name_in_body in [false, true] {
            for per_msg in [1, 3, 7, 100] {
                let load = Load::ending_at("t", 5, 7, per_msg, 10, 1_700_000_005, name_in_body);
                assert_eq!(all_points(&load), expected(&load), "name_in_body={name_in_body} per_msg={per_msg}");
            }
        }
    }

    #[test]
    fn points_in_first_counts_what_a_stream_prefix_holds() {
        for name_in_body in [false, true] {
            for per_msg in [1, 3, 7, 100] {
                let load = Load::ending_at("t", 5, 23, per_msg, 10, 1_700_000_005, name_in_body);
                let mut seen = vec![0u32; 5];
                let mut msg = Message::default();
                for j in 0..=load.messages() {
                    for m in 0..5 {
                        assert_eq!(load.points_in_first(j, m), seen[m as usize], "{name_in_body} {per_msg} {j} {m}");
                    }
                    if load.message(j, &mut msg) {
                        for l in std::str::from_utf8(&msg.body).unwrap().lines() {
                            let name = if name_in_body { l.split(' ').next().unwrap() } else { msg.key.as_str() };
                            seen[name[3..].parse::<usize>().unwrap()] += 1;
                        }
                    }
                }
                assert_eq!(seen, vec![23; 5]);
                assert_eq!(load.points_in_first(u64::MAX, 4), 23);
                assert_eq!(load.points_in_first(3, 5), 0, "no such metric");
            }
        }
    }

    #[test]
    fn timestamps_end_at_the_aligned_now_and_are_interval_apart() {
        let load = Load::ending_at("t", 1, 4, 1, 10, 1_700_000_007, false);
        assert_eq!(load.end, 1_700_000_000);
        assert_eq!(
            (0..4).map(|p| load.timestamp_of(p)).collect::<Vec<_>>(),
            [1_699_999_970, 1_699_999_980, 1_699_999_990, 1_700_000_000]
        );
    }

    #[test]
    fn values_survive_text_round_trip_and_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for m in [0, 1, 2, 999_999, 4_000_000] {
            for p in [0, 1, 99, 10_000] {
                let v = value_of(m, p);
                assert_eq!(v.to_string().parse::<f64>().unwrap().to_bits(), v.to_bits());
                assert!(seen.insert(v.to_bits()));
            }
        }
    }

    #[test]
    fn message_count_matches_the_mode() {
        assert_eq!(Load::ending_at("t", 10, 5, 1, 10, 100, false).messages(), 50);
        assert_eq!(Load::ending_at("t", 10, 5, 2, 10, 100, false).messages(), 30);
        assert_eq!(Load::ending_at("t", 10, 5, 100, 10, 100, true).messages(), 1);
        assert_eq!(Load::ending_at("t", 10, 5, 7, 10, 100, true).messages(), 8);
    }
}
