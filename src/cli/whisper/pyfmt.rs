//! Python's float formatting, for outputs that scripts written against the reference parse.
fn special(v: f64) -> Option<&'static str> {
    match v {
        v if v.is_nan() => Some("nan"),
        f64::INFINITY => Some("inf"),
        f64::NEG_INFINITY => Some("-inf"),
        _ => None,
    }
}

/// `"%f" % v`.
pub fn fixed6(v: f64) -> String {
    special(v).map_or_else(|| format!("{v:.6}"), str::to_string)
}

/// `repr(v)`: the shortest digits that read back as `v`, always with a `.0` or an exponent. Of two shortest
/// candidates equally near `v`, Python takes the even one (Rust's `{}` may take the other): the digit count comes
/// from Rust's shortest form, the digits from exact, half-even rounding to that count.
pub fn repr(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0.0");
    }
    let a = v.abs();
    let shortest = format!("{a:e}");
    let count = shortest.split('e').next().unwrap_or("").bytes().filter(u8::is_ascii_digit).count().max(1);
    let mut exact = format!("{a:.*e}", count - 1);
    if exact.parse::<f64>() != Ok(a) {
        exact = shortest;
    }
    let (mantissa, exp) = exact.split_once('e').unwrap_or((&exact, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    // Python's decpt: the value is 0.DIGITS × 10^decpt.
    let decpt = exp + 1;
    let n = digits.len() as i64;
    let body = if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            format!("{}.{}", &digits[..decpt as usize], &digits[decpt as usize..])
        }
    } else {
        let rest = if n > 1 { format!(".{}", &digits[1..]) } else { String::new() };
        format!("{}{rest}e{}{:02}", &digits[..1], if exp < 0 { '-' } else { '+' }, exp.abs())
    };
    format!("{sign}{body}")
}

/// `"%.{precision}g" % v` (precision >= 1).
pub fn general(v: f64, precision: usize) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let sci = format!("{v:.*e}", precision - 1);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= precision as i64 {
        format!("{}e{}{:02}", trim(mantissa), if exp < 0 { '-' } else { '+' }, exp.abs())
    } else {
        trim(&format!("{v:.*}", (precision as i64 - 1 - exp) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// `repr` reads back as the same float, with no more digits than Rust's shortest form.
        #[test]
        fn repr_round_trips_with_the_shortest_digits(bits in proptest::prelude::any::<u64>()) {
            let v = f64::from_bits(bits);
            if v.is_finite() {
                let r = repr(v);
                proptest::prop_assert_eq!(r.parse::<f64>().map(f64::to_bits), Ok(bits), "{}", r);
                // Significant digits of the mantissa: leading and trailing zeros do not count
                // (`1807882034896680.0` has the same 15 as `1.80788203489668e15`).
                let digits = |s: &str| {
                    let m: String = s.split('e').next().unwrap_or("").bytes().filter(u8::is_ascii_digit).map(char::from).collect();
                    m.trim_matches('0').len()
                };
                proptest::prop_assert!(digits(&r) <= digits(&format!("{:e}", v.abs())).max(1), "{} vs {:e}", r, v);
            }
        }
    }

    #[test]
    fn formats_floats_as_python_does() {
        assert_eq!(fixed6(1.5), "1.500000");
        assert_eq!(fixed6(f64::NAN), "nan");
        assert_eq!(repr(0.0), "0.0");
        assert_eq!(repr(0.5), "0.5");
        assert_eq!(repr(f64::from(0.1f32)), "0.10000000149011612");
        assert_eq!(repr(1e16), "1e+16");
        // A tie: exactly ...373.25, half-way between two 17-digit candidates.
        assert_eq!(repr(f64::from_bits(14054781312640212010)), "-1006759358954373.2");
        assert_eq!(repr(-0.0), "-0.0");
        assert_eq!(repr(1e-4), "0.0001");
        assert_eq!(repr(1.5e-5), "1.5e-05");
        assert_eq!(repr(123456.0), "123456.0");
        assert_eq!(repr(9999999999999998.0), "9999999999999998.0");
        assert_eq!(repr(1.2345e100), "1.2345e+100");
        assert_eq!(general(0.5, 6), "0.5");
        assert_eq!(general(0.0, 35), "0");
        assert_eq!(general(0.1, 35), "0.1000000000000000055511151231257827");
        assert_eq!(general(1e300, 35), "1.0000000000000000525047602552044202e+300");
        assert_eq!(general(-2.5e-7, 6), "-2.5e-07");
        assert_eq!(general(123456789.0, 6), "1.23457e+08");
    }
}
