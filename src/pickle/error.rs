//! [`PickleError`]: why a frame was refused, with the opcode and its offset.

use super::Op;
use thiserror::Error;

/// Why a frame was refused. Offsets are byte offsets of the opcode inside the frame (0 = first byte after the
/// length prefix). A refused frame yields no value and no points.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PickleError {
    /// The frame is longer than [`Limits::max_frame_len`](crate::pickle::Limits::max_frame_len).
    #[error("pickle frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Declared or actual frame length, in bytes.
        len: u64,
        /// The limit, in bytes.
        max: usize,
    },
    /// An opcode outside the plain-data subset (or an unknown byte).
    #[error("pickle opcode {op} at offset {offset} is not allowed")]
    Forbidden {
        /// The refused opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
    },
    /// An opcode's fixed or declared-length argument runs past the end of the frame.
    #[error("pickle opcode {op} at offset {offset} needs {needed} bytes of argument but only {remaining} remain")]
    Truncated {
        /// The opcode whose argument is cut.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
        /// Bytes the argument needs (may be a hostile declared length).
        needed: u64,
        /// Bytes left in the frame after the opcode (and its length field).
        remaining: usize,
    },
    /// A protocol-0 text argument has no terminating newline.
    #[error("pickle opcode {op} at offset {offset} has no newline-terminated argument")]
    UnterminatedLine {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
    },
    /// The frame ends without a `STOP` opcode.
    #[error("pickle ends at offset {offset} without STOP")]
    MissingStop {
        /// The frame length.
        offset: usize,
    },
    /// An opcode needs more values than the stack holds above the innermost `MARK`.
    #[error("pickle opcode {op} at offset {offset} finds too few values on the stack")]
    StackUnderflow {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
    },
    /// An opcode needs an open `MARK` and there is none.
    #[error("pickle opcode {op} at offset {offset} needs a MARK but none is open")]
    NoMark {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
    },
    /// More nested `MARK`s than [`Limits::max_depth`](crate::pickle::Limits::max_depth).
    #[error("pickle opcode {op} at offset {offset} nests deeper than {max} levels")]
    TooDeep {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
        /// The depth limit.
        max: usize,
    },
    /// An opcode's argument is malformed (bad number text, negative length, unsupported protocol, …).
    #[error("pickle opcode {op} at offset {offset} has an invalid argument: {reason}")]
    BadArgument {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `APPEND`/`APPENDS` on something that is not a list, or `SETITEM`/`SETITEMS` on a non-dict.
    #[error("pickle opcode {op} at offset {offset} needs a {expected} below its arguments")]
    WrongTarget {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
        /// `"list"` or `"dict"`.
        expected: &'static str,
    },
    /// A memo read (`GET`, `BINGET`, `LONG_BINGET`) of a key never stored.
    #[error("pickle opcode {op} at offset {offset} reads memo key {key}, which was never stored")]
    MemoMissing {
        /// The opcode.
        op: Op,
        /// Its offset in the frame.
        offset: usize,
        /// The missing key.
        key: u64,
    },
    /// A text string is not valid UTF-8 (only reported by [`decode`](crate::pickle::decode); [`decode_points`](crate::pickle::decode_points) hands names over as bytes).
    #[error("pickle string created at offset {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Offset of the opcode that created the string.
        offset: usize,
    },
    /// A container contains itself (Python can pickle that; plain values cannot hold it).
    #[error("pickle container created at offset {offset} contains itself")]
    Recursive {
        /// Offset of the opcode that created the container.
        offset: usize,
    },
    /// A container sits deeper than [`Limits::max_depth`](crate::pickle::Limits::max_depth) in the decoded value.
    #[error("pickle container created at offset {offset} is nested deeper than {max} levels")]
    ValueTooDeep {
        /// Offset of the opcode that created the container.
        offset: usize,
        /// The depth limit.
        max: usize,
    },
    /// The decoded value would hold more values than [`Limits::value_budget`](crate::pickle::Limits::value_budget) allows.
    #[error("pickle expands to more than {max} values")]
    TooManyValues {
        /// The budget for this frame.
        max: usize,
    },
    /// The decoded value's strings, bytes and big integers, counted once per reference (a memoized one as many
    /// times as it is referenced), would exceed [`Limits::byte_budget`](crate::pickle::Limits::byte_budget).
    #[error("pickle expands to more than {max} bytes of strings (shared strings counted once per reference)")]
    TooManyBytes {
        /// The budget for this frame.
        max: usize,
    },
    /// [`decode_points`](crate::pickle::decode_points) found a top-level value that is not a list or tuple.
    #[error("pickle value returned by STOP at offset {offset} is not a list or tuple of points")]
    NotASequence {
        /// Offset of the `STOP` opcode.
        offset: usize,
    },
}

/// A [`PickleError::BadArgument`] for `op` at `offset`.
pub(super) fn bad(op: Op, offset: usize, reason: &'static str) -> PickleError {
    PickleError::BadArgument { op, offset, reason }
}
