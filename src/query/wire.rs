//! graphite-web's cluster wire formats for `/metrics/find` and `/render` with `format=pickle|msgpack`: the shapes
//! graphite-web 1.1.8 writes in `metrics/views.py` (`pickle_nodes`, `msgpack_nodes`) and `render/views.py`
//! (`TimeSeries.getInfo`), and that its `RemoteFinder`/`RemoteReader` read back.
//!
//! The find pickle carries `graphite.intervals.IntervalSet` and `Interval` objects. They are written as Python's
//! protocol-2 pickler writes any plain object: `GLOBAL module name`, `EMPTY_TUPLE`, `NEWOBJ`, the instance
//! `__dict__`, `BUILD`. Those two classes are on graphite-web's safe-unpickler allow list, so its `unpickle.loads`
//! rebuilds real `IntervalSet`s. Everything else is plain lists, dicts, strings, ints, floats, None and bools.
//!
//! Owns: the shapes of these answers (the bytes come from [`crate::pickle::Writer`] and `rmpv`). Never touches:
//! files, the cache, HTTP.

use crate::pickle::Writer as Pickle;

/// One node of a find answer.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundNode {
    /// Dotted path.
    pub path: String,
    /// Leaf (a metric) or branch.
    pub is_leaf: bool,
    /// For leaves: the (start, end) intervals graphite-web's finder would report, in seconds.
    pub intervals: Vec<(f64, f64)>,
}

/// One series of a render answer (graphite-web's `TimeSeries.getInfo()`).
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo<'a> {
    /// The metric.
    pub name: &'a str,
    /// The target that matched it.
    pub path_expression: &'a str,
    /// First timestamp.
    pub start: u32,
    /// End (exclusive).
    pub end: u32,
    /// Seconds per value.
    pub step: u32,
    /// Values (`None` = gap).
    pub values: &'a [Option<f64>],
    /// The request's xFilesFactor.
    pub x_files_factor: f64,
}

fn interval(p: &mut Pickle, (start, end): (f64, f64)) {
    p.object_start("graphite.intervals", "Interval");
    p.str("start");
    p.float(start);
    p.str("end");
    p.float(end);
    p.str("tuple");
    p.float(start);
    p.float(end);
    p.op(0x86); // TUPLE2
    p.str("size");
    p.float(end - start);
    p.build();
}

fn interval_set(p: &mut Pickle, intervals: &[(f64, f64)]) {
    p.object_start("graphite.intervals", "IntervalSet");
    p.str("intervals");
    p.raw(b"](");
    for &i in intervals {
        interval(p, i);
    }
    p.op(b'e');
    p.str("size");
    p.float(intervals.iter().map(|(s, e)| e - s).sum());
    p.build();
}

/// `pickle_nodes`: a list of `{'path', 'is_leaf'[, 'intervals': IntervalSet]}`.
pub fn find_pickle(nodes: &[FoundNode]) -> Vec<u8> {
    let mut p = Pickle::new(nodes.len() * 160);
    p.raw(b"](");
    for n in nodes {
        p.raw(b"}(");
        p.str("path");
        p.str(&n.path);
        p.str("is_leaf");
        p.bool(n.is_leaf);
        if n.is_leaf {
            p.str("intervals");
            interval_set(&mut p, &n.intervals);
        }
        p.op(b'u');
    }
    p.op(b'e');
    p.finish()
}

/// `msgpack_nodes`: a list of `{'path', 'is_leaf'[, 'intervals': [[start, end], ...]]}`.
pub fn find_msgpack(nodes: &[FoundNode]) -> Vec<u8> {
    use rmpv::Value;
    let list = nodes
        .iter()
        .map(|n| {
            let mut m = vec![("path".into(), Value::from(n.path.as_str())), ("is_leaf".into(), Value::from(n.is_leaf))];
            if n.is_leaf {
                let iv = n.intervals.iter().map(|&(s, e)| Value::Array(vec![s.into(), e.into()])).collect();
                m.push(("intervals".into(), Value::Array(iv)));
            }
            Value::Map(m)
        })
        .collect();
    msgpack(&Value::Array(list))
}

/// `renderViewPickle`: a list of `TimeSeries.getInfo()` dicts.
pub fn render_pickle(series: &[SeriesInfo<'_>]) -> Vec<u8> {
    let values: usize = series.iter().map(|s| s.values.len()).sum();
    let mut p = Pickle::new(series.len() * 200 + values * 9);
    p.raw(b"](");
    for s in series {
        p.raw(b"}(");
        p.str("name");
        p.str(s.name);
        p.str("start");
        p.int(s.start.into());
        p.str("end");
        p.int(s.end.into());
        p.str("step");
        p.int(s.step.into());
        p.str("values");
        p.raw(b"](");
        for v in s.values {
            match v {
                Some(x) => p.float(*x),
                None => p.none(),
            }
        }
        p.op(b'e');
        p.str("pathExpression");
        p.str(s.path_expression);
        p.str("valuesPerPoint");
        p.int(1);
        p.str("consolidationFunc");
        p.str("average");
        p.str("xFilesFactor");
        p.float(s.x_files_factor);
        p.op(b'u');
    }
    p.op(b'e');
    p.finish()
}

/// `renderViewMsgPack`: the same dicts as [`render_pickle`], in msgpack.
pub fn render_msgpack(series: &[SeriesInfo<'_>]) -> Vec<u8> {
    use rmpv::Value;
    let list = series
        .iter()
        .map(|s| {
            let values = s.values.iter().map(|v| v.map(Value::from).unwrap_or(Value::Nil)).collect();
            Value::Map(vec![
                ("name".into(), s.name.into()),
                ("start".into(), s.start.into()),
                ("end".into(), s.end.into()),
                ("step".into(), s.step.into()),
                ("values".into(), Value::Array(values)),
                ("pathExpression".into(), s.path_expression.into()),
                ("valuesPerPoint".into(), 1.into()),
                ("consolidationFunc".into(), "average".into()),
                ("xFilesFactor".into(), s.x_files_factor.into()),
            ])
        })
        .collect();
    msgpack(&Value::Array(list))
}

fn msgpack(v: &rmpv::Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, v);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_set_is_an_object_built_from_its_dict() {
        let b = find_pickle(&[FoundNode { path: "a.b".into(), is_leaf: true, intervals: vec![(1.0, 3.0)] }]);
        let text = String::from_utf8_lossy(&b);
        assert!(text.contains("cgraphite.intervals\nIntervalSet\n)\u{fffd}}("), "{text:?}");
        assert!(text.contains("cgraphite.intervals\nInterval\n"));
        assert_eq!(&b[..2], &[0x80, 2]);
        assert_eq!(b.last(), Some(&b'.'));
    }

    #[test]
    fn msgpack_render_answers_use_str_keys_and_nil_gaps() {
        let v = [Some(1.5), None];
        let s = SeriesInfo {
            name: "a",
            path_expression: "a",
            start: 60,
            end: 180,
            step: 60,
            values: &v,
            x_files_factor: 0.0,
        };
        let b = render_msgpack(&[s]);
        let back = rmpv::decode::read_value(&mut &b[..]).unwrap();
        let m = back[0].as_map().unwrap();
        assert_eq!(m[0].0.as_str(), Some("name"));
        assert_eq!(m[4].1[1], rmpv::Value::Nil);
        assert_eq!(m[4].1[0].as_f64(), Some(1.5));
    }
}
