//! Framing helpers of the socket receivers: splitting a plaintext stream into complete lines, blanking lines
//! that are too long, and pickle timestamps as carbon reads them.

use super::{Conn, MAX_LINE};
use crate::pickle::PickleError;
use std::net::SocketAddr;

/// Append `data` to the connection's unfinished line and split off the complete lines. Returns the body of
/// complete lines (if any) and how many lines were dropped here for being longer than [`MAX_LINE`] while still
/// unfinished. At `eof` the unfinished line counts as complete.
pub(super) fn split_complete_lines(conn: &mut Conn, mut data: &[u8], eof: bool) -> (Option<Vec<u8>>, u64) {
    let mut too_long = 0;
    if conn.discarding {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                data = &data[i + 1..];
                conn.discarding = false;
            }
            None => return (None, 0),
        }
    }
    let body = match data.iter().rposition(|&b| b == b'\n') {
        Some(last) => {
            let mut body = Vec::with_capacity(conn.buf.len() + last + 1);
            body.extend_from_slice(&conn.buf);
            body.extend_from_slice(&data[..=last]);
            conn.buf.clear();
            conn.buf.extend_from_slice(&data[last + 1..]);
            Some(body)
        }
        None => {
            conn.buf.extend_from_slice(data);
            None
        }
    };
    if conn.buf.len() > MAX_LINE {
        too_long += 1;
        conn.buf.clear();
        conn.discarding = true;
    }
    if eof && !conn.buf.is_empty() {
        let mut body = body.unwrap_or_default();
        body.append(&mut conn.buf);
        body.push(b'\n');
        return (Some(body), too_long);
    }
    (body, too_long)
}

/// Overwrite every line of `body` longer than [`MAX_LINE`] bytes with spaces, so the line parser skips it as
/// blank. Returns how many lines were blanked.
pub fn blank_long_lines(body: &mut [u8]) -> usize {
    let mut blanked = 0;
    let mut start = 0;
    while start < body.len() {
        let end = body[start..].iter().position(|&b| b == b'\n').map_or(body.len(), |i| start + i);
        if end - start > MAX_LINE {
            body[start..end].fill(b' ');
            blanked += 1;
        }
        start = end + 1;
    }
    blanked
}

/// A pickle timestamp as carbon takes it (`int(float(t))`), `-1` meaning now; `None` outside whisper's u32 range.
pub(super) fn pickle_timestamp(t: f64, now: u32) -> Option<u32> {
    if t == -1.0 {
        return Some(now);
    }
    let t = t.trunc();
    (t.is_finite() && (0.0..=u32::MAX as f64).contains(&t)).then_some(t as u32)
}

pub(super) fn pickle_close_reason(peer: SocketAddr, e: &PickleError) -> String {
    format!("pickle connection from {peer} closed: {e}")
}
