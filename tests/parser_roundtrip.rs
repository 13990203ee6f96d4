//! Round-trip properties of the input parsers: points formatted as producers send them parse back unchanged.
//! AMQP bodies in both modes (`parse_body`), and pickle point lists (`pickle::encode` then `decode_points`
//! and `decode`).

use proptest::prelude::*;
use warren::ingest::parse::parse_body;
use warren::pickle::{self, decode, decode_points, Limits, Value};
use warren::pipe::batch::{BatchPoint, NameRef};

/// A metric name that validates: 1..6 components of safe characters, some non-ASCII.
fn valid_name() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9_*:-]{1,12}|[éü€]{1,3}", 1..6).prop_map(|parts| parts.join("."))
}

/// Any finite f64, from tiny subnormals to the extremes.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |v| v.is_finite()),
        -1e12f64..1e12,
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
        Just(0.0),
        Just(-0.0),
    ]
}

/// A value written as a collector may write it: shortest decimal, exponent form, or with a `+` sign.
fn formatted(v: f64, style: u8) -> String {
    match style % 3 {
        0 => format!("{v}"),
        1 => format!("{v:e}"),
        _ if v.is_sign_positive() => format!("+{v}"),
        _ => format!("{v}"),
    }
}

/// A run of field separators: spaces and tabs.
fn sep(n: u8) -> &'static str {
    [" ", "  ", "\t", " \t "][usize::from(n % 4)]
}

proptest! {
    #[test]
    fn name_in_body_points_parse_back_unchanged(
        points in proptest::collection::vec((valid_name(), finite(), any::<u32>(), any::<u8>(), any::<u8>()), 0..40),
        crlf in any::<bool>(),
    ) {
        let mut body = String::new();
        for (name, v, t, style, s) in &points {
            body.push_str(&format!("{}{name}{}{}{}{t}{}\n", sep(*s >> 4), sep(*s), formatted(*v, *style), sep(*s >> 2),
                                   if crlf { "\r" } else { "" }));
            if s % 5 == 0 {
                body.push_str(" \n\n");
            }
        }
        let mut out: Vec<BatchPoint> = Vec::new();
        let counts = parse_body(b"ignored", body.as_bytes(), true, 7, &mut out, &mut Vec::new(), |b| panic!("refused {b:?}"));
        prop_assert_eq!(counts.points, points.len());
        prop_assert_eq!(out.len(), points.len());
        for (p, (name, v, t, _, _)) in out.iter().zip(&points) {
            let NameRef::Body { start, len } = p.name else { return Err(TestCaseError::fail("name not in body")) };
            prop_assert_eq!(&body.as_bytes()[start as usize..(start + len) as usize], name.as_bytes());
            prop_assert_eq!(p.timestamp, *t);
            prop_assert_eq!(p.value.to_bits(), v.to_bits(), "{} vs {}", p.value, v);
        }
    }

    #[test]
    fn routing_key_points_parse_back_unchanged(
        key in valid_name(),
        points in proptest::collection::vec((finite(), any::<u32>(), any::<u8>(), any::<u8>()), 0..40),
    ) {
        let body: String =
            points.iter().map(|(v, t, style, s)| format!("{}{}{t}\n", formatted(*v, *style), sep(*s))).collect();
        let mut out = Vec::new();
        let counts = parse_body(key.as_bytes(), body.as_bytes(), false, 7, &mut out, &mut Vec::new(), |b| panic!("refused {b:?}"));
        prop_assert_eq!(counts.points, points.len());
        let got: Vec<_> = out.iter().map(|p| (p.name, p.timestamp, p.value.to_bits())).collect();
        let want: Vec<_> = points.iter().map(|(v, t, _, _)| (NameRef::Key, *t, v.to_bits())).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn minus_one_timestamps_become_now_in_both_modes(v in finite(), now in any::<u32>(), name_in_body in any::<bool>()) {
        let body = if name_in_body { format!("a.b {v} -1") } else { format!("{v} -1") };
        let mut out = Vec::new();
        parse_body(b"a.b", body.as_bytes(), name_in_body, now, &mut out, &mut Vec::new(), |b| panic!("refused {b:?}"));
        prop_assert_eq!(out.len(), 1);
        prop_assert_eq!(out[0].timestamp, now);
    }

    #[test]
    fn pickled_point_lists_decode_back_unchanged(
        points in proptest::collection::vec((valid_name(), any::<u32>(), finite(), any::<bool>()), 0..60),
    ) {
        // carbon's wire shape: [(name, (timestamp, value)), ...]; lists and tuples at either level are accepted.
        let items: Vec<Value> = points
            .iter()
            .map(|(name, t, v, as_list)| {
                let dp = vec![Value::Int(i64::from(*t)), Value::Float(*v)];
                let dp = if *as_list { Value::List(dp) } else { Value::Tuple(dp) };
                Value::Tuple(vec![Value::str(name), dp])
            })
            .collect();
        let list = Value::List(items);
        let mut frame = Vec::new();
        pickle::encode(&list, &mut frame).unwrap();

        let mut got = Vec::new();
        let counts = decode_points(&frame, &Limits::default(), &mut |n, t, v| got.push((n.to_vec(), t, v.to_bits())),
                                   &mut |i, r| panic!("entry {i} refused: {r}")).unwrap();
        prop_assert_eq!(counts.points, points.len());
        let want: Vec<_> =
            points.iter().map(|(n, t, v, _)| (n.as_bytes().to_vec(), f64::from(*t), v.to_bits())).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(decode(&frame, &Limits::default()).unwrap(), list);
    }
}
