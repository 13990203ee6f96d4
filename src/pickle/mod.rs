//! Safe pickle: the decoder for the pickle receiver (port 2004) and CarbonLink requests (port 7002), and the
//! encoder for CarbonLink replies. A leaf codec: ingest and query both use it, it uses nothing of the crate.
//!
//! The decoder is a small, handwritten pickle virtual machine that understands exactly the opcodes needed for
//! plain data — `None`, booleans, integers, floats, strings, bytes, lists, tuples and dicts, with the memo — in
//! protocols 0 to 5. Every opcode that can name, build or call a Python object (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`,
//! `BUILD`, `INST`, `OBJ`, `NEWOBJ`, `PERSID`, `EXT*`, sets, out-of-band buffers, …) and every unknown byte is
//! refused with a [`PickleError`] naming the opcode and its offset. It never touches sockets, the cache or files:
//! callers hand it one complete frame (the bytes after the 4-byte length prefix).
//!
//! Safety properties, for any input bytes: no panic; no allocation driven by a length field before that length
//! has been checked against the bytes that remain; memory proportional to the frame length (memo references are
//! shared, not copied, while decoding); [`decode`] refuses values whose expansion of shared references would
//! exceed [`Limits::value_budget`], or whose strings, counted once per reference, would exceed
//! [`Limits::byte_budget`] (so is what a consumer copies), and nesting deeper than [`Limits::max_depth`].
//!
//! Two entry points: [`decode`] gives a generic [`Value`] (CarbonLink requests), [`decode_points`] walks a list of
//! `(name, (timestamp, value))` entries straight out of the VM's arena without building values (the receiver's hot
//! path). A [`Decoder`] keeps its scratch buffers between frames so a connection allocates only while it warms up.
//!
//! Code map: [`frame`] (length prefix and bounds), [`op`] (opcode names), [`error`], [`bigint`], [`value`],
//! `decode` (the VM; its `points` and `build` children walk the arena), `escape` (protocol-0 text escapes),
//! [`encode`] (the writer side, for CarbonLink replies), [`writer`] (protocol-2 opcodes one by one, objects
//! included, for graphite-web's cluster answers).

pub mod bigint;
mod decode;
pub mod encode;
pub mod error;
mod escape;
pub mod frame;
pub mod op;
pub mod value;
pub mod writer;

pub use bigint::{BigInt, ParseBigIntError};
pub use decode::{decode, decode_points, Decoder, PointCounts};
pub use encode::{encode, encode_datapoints, encode_datapoints_by_metric, EncodeError, MAX_ENCODE_DEPTH};
pub use error::PickleError;
pub use frame::{
    check_frame_len, read_frame_len, Limits, BYTES_PER_INPUT_BYTE, MAX_DEPTH, MAX_FRAME_LEN, MAX_INT_BYTES,
    MAX_PROTOCOL, MIN_BYTE_BUDGET, MIN_VALUE_BUDGET, VALUES_PER_INPUT_BYTE,
};
pub use op::Op;
pub use value::Value;
pub use writer::Writer;
