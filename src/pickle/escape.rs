//! Protocol-0 text escapes: `codecs.escape_decode` (`STRING`) and `raw_unicode_escape` (`UNICODE`).

use super::error::bad;
use super::{Op, PickleError};

/// Decodes Python's `codecs.escape_decode` escapes of a protocol-0 `STRING` argument into `out`.
pub(super) fn escape_decode(src: &[u8], out: &mut Vec<u8>, op: Op, offset: usize) -> Result<(), PickleError> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = src.get(i) else {
            return Err(bad(op, offset, "trailing backslash in string"));
        };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(0x0b),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match src.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8); // Python keeps the low byte of \400..\777
            }
            b'x' => match (src.get(i).copied().and_then(hex), src.get(i + 1).copied().and_then(hex)) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => return Err(bad(op, offset, "invalid \\x escape in string")),
            },
            _ => {
                out.push(b'\\');
                out.push(e);
            }
        }
    }
    Ok(())
}

/// Decodes Python's `raw-unicode-escape` (latin-1 bytes plus `\uXXXX`/`\UXXXXXXXX`) into UTF-8 in `out`.
pub(super) fn raw_unicode_escape_decode(
    src: &[u8],
    out: &mut Vec<u8>,
    op: Op,
    offset: usize,
) -> Result<(), PickleError> {
    let push = |out: &mut Vec<u8>, c: char| {
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    };
    let mut i = 0;
    while i < src.len() {
        let c = src[i];
        i += 1;
        if c != b'\\' || i >= src.len() {
            push(out, char::from(c));
            continue;
        }
        let e = src[i];
        i += 1;
        let count = match e {
            b'u' => 4,
            b'U' => 8,
            _ => {
                push(out, '\\');
                push(out, char::from(e));
                continue;
            }
        };
        let digits = src.get(i..i + count).ok_or_else(|| bad(op, offset, "truncated \\u escape"))?;
        let code = std::str::from_utf8(digits)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            .ok_or_else(|| bad(op, offset, "truncated \\u escape"))?;
        let ch = char::from_u32(code).ok_or_else(|| bad(op, offset, "\\u escape is a surrogate or out of range"))?;
        push(out, ch);
        i += count;
    }
    Ok(())
}
