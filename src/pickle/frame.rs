//! Framing and bounds: the 4-byte length prefix of ports 2004 and 7002, and the [`Limits`] applied to one frame.

use super::PickleError;

/// Default largest accepted frame, in bytes (1 MiB), as carbon's pickle receiver (`MAX_LENGTH = 2 ** 20`).
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// Default deepest nesting, in levels, of open `MARK`s while decoding and of containers in a decoded [`Value`](crate::pickle::Value).
pub const MAX_DEPTH: usize = 64;

/// Default number of decoded values allowed per input byte by [`decode`](crate::pickle::decode) (see [`Limits::value_budget`]).
pub const VALUES_PER_INPUT_BYTE: usize = 2;

/// Values [`decode`](crate::pickle::decode) always allows, whatever the frame length, so tiny frames with some sharing still decode.
pub const MIN_VALUE_BUDGET: usize = 4096;

/// Default bytes of strings, bytes and big integers allowed per input byte (see [`Limits::byte_budget`]).
///
/// Chosen so that every carbon point list whose names are valid metric names passes: a name is at most 1024
/// bytes (`metric::MAX_NAME_LEN`), and Python's pickler spends at least 10 bytes on a point that repeats a
/// memoized name (protocols 4-5: `BINGET` 2, two `BININT1` 2 + 2, two `TUPLE2` and their `MEMOIZE` 4; protocols
/// 0-3 spend more), so such a frame needs at most 1024 / 10 ≈ 103 bytes per input byte (`tests/pickle_budget.rs`:
/// Python's own pickles at protocols 0-5 pass with 1.26x to 6x to spare). 128 leaves that margin and bounds what
/// a hostile 1 MiB frame can make a consumer copy to 128 MiB.
pub const BYTES_PER_INPUT_BYTE: usize = 128;

/// Bytes of strings [`decode`](crate::pickle::decode) always allows, whatever the frame length (64 KiB).
pub const MIN_BYTE_BUDGET: usize = 64 << 10;

/// Longest integer accepted, in bytes of two's complement (2048 bits; Python's `float()` overflows far earlier).
pub const MAX_INT_BYTES: usize = 256;

/// Highest pickle protocol number accepted in a `PROTO` opcode (Python 3.8+ writes at most 5).
pub const MAX_PROTOCOL: u8 = 5;

/// Bounds applied to one frame. Construct with [`Limits::default`] (the receiver's bounds) and adjust fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame accepted, in bytes; longer frames fail with [`PickleError::FrameTooLarge`] before decoding.
    pub max_frame_len: usize,
    /// Deepest nesting accepted, in levels (open `MARK`s, and containers inside containers for [`decode`](crate::pickle::decode)).
    /// [`decode`](crate::pickle::decode) recurses once per level, so keep this in the hundreds at most.
    pub max_depth: usize,
    /// Expansion factor for [`decode`](crate::pickle::decode): see [`Limits::value_budget`].
    pub values_per_input_byte: usize,
    /// Expansion factor for string bytes: see [`Limits::byte_budget`].
    pub bytes_per_input_byte: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_len: MAX_FRAME_LEN,
            max_depth: MAX_DEPTH,
            values_per_input_byte: VALUES_PER_INPUT_BYTE,
            bytes_per_input_byte: BYTES_PER_INPUT_BYTE,
        }
    }
}

impl Limits {
    /// Most values (scalars and containers, counting every reference to a shared one) that [`decode`](crate::pickle::decode) builds
    /// from a frame of `input_len` bytes: `MIN_VALUE_BUDGET + values_per_input_byte * input_len`. This is what
    /// bounds "memo bombs" (one list referenced a thousand times in a list referenced a thousand times …).
    pub fn value_budget(&self, input_len: usize) -> usize {
        MIN_VALUE_BUDGET.saturating_add(self.values_per_input_byte.saturating_mul(input_len))
    }

    /// Most bytes of strings, bytes and big integers (two's complement length) that a decoded frame of
    /// `input_len` bytes may hold, counting every reference to a shared one, as [`Limits::value_budget`] does:
    /// `MIN_BYTE_BUDGET + bytes_per_input_byte * input_len`. The value budget bounds how many values a consumer
    /// walks; this bounds how many bytes it copies, formats or re-encodes when it walks them (a memoized string of
    /// length L costs one value but L bytes per reference). [`decode`](crate::pickle::decode) counts every string
    /// it reaches, [`decode_points`](crate::pickle::decode_points) the names and numeric texts of the entries.
    pub fn byte_budget(&self, input_len: usize) -> usize {
        MIN_BYTE_BUDGET.saturating_add(self.bytes_per_input_byte.saturating_mul(input_len))
    }
}

/// Reads a frame's 4-byte big-endian length prefix (the framing of ports 2004 and 7002).
pub fn read_frame_len(hdr: [u8; 4]) -> u32 {
    u32::from_be_bytes(hdr)
}

/// Checks a frame length read by [`read_frame_len`] against `limits.max_frame_len` before the caller allocates a
/// buffer for it. Returns the length as `usize`, or [`PickleError::FrameTooLarge`].
pub fn check_frame_len(len: u32, limits: &Limits) -> Result<usize, PickleError> {
    match usize::try_from(len) {
        Ok(n) if n <= limits.max_frame_len => Ok(n),
        _ => Err(PickleError::FrameTooLarge { len: u64::from(len), max: limits.max_frame_len }),
    }
}
