//! A protocol-2 pickle writer for answers that carry objects: graphite-web's cluster protocol sends
//! `graphite.intervals` objects, which Python pickles as `GLOBAL`, `EMPTY_TUPLE`, `NEWOBJ`, the instance dict and
//! `BUILD`. The caller emits opcodes in order (it knows the shape); this type owns their byte encoding. No memo is
//! written. Never touches: sockets, files.

/// A protocol-2 pickle under construction: `PROTO 2` already written, [`Writer::finish`] adds `STOP`.
pub struct Writer(Vec<u8>);

impl Writer {
    /// A pickle with room for about `capacity` bytes.
    pub fn new(capacity: usize) -> Writer {
        let mut out = Vec::with_capacity(capacity + 3);
        out.extend_from_slice(&[0x80, 2]);
        Writer(out)
    }
    /// Raw bytes (opcode sequences such as `](` or `}(`).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    /// One opcode byte (or any single raw byte).
    pub fn op(&mut self, op: u8) {
        self.0.push(op);
    }
    /// `NONE`.
    pub fn none(&mut self) {
        self.op(b'N');
    }
    /// `NEWTRUE` / `NEWFALSE`.
    pub fn bool(&mut self, b: bool) {
        self.op(if b { 0x88 } else { 0x89 });
    }
    /// The shortest of `BININT1`/`BININT2`/`BININT`, else `LONG1` with 8 bytes.
    pub fn int(&mut self, i: i64) {
        if let Ok(b) = u8::try_from(i) {
            self.0.extend_from_slice(&[b'K', b]);
        } else if let Ok(h) = u16::try_from(i) {
            self.op(b'M');
            self.0.extend_from_slice(&h.to_le_bytes());
        } else if let Ok(w) = i32::try_from(i) {
            self.op(b'J');
            self.0.extend_from_slice(&w.to_le_bytes());
        } else {
            // LONG1 with 8 little-endian two's-complement bytes: always a valid (if not minimal) encoding.
            self.0.extend_from_slice(&[0x8a, 8]);
            self.0.extend_from_slice(&i.to_le_bytes());
        }
    }
    /// `BINFLOAT` (exact).
    pub fn float(&mut self, f: f64) {
        self.op(b'G');
        self.0.extend_from_slice(&f.to_be_bytes());
    }
    /// `BINUNICODE` (strings under 4 GiB).
    pub fn str(&mut self, s: &str) {
        self.op(b'X');
        // Names and paths are far below 4 GiB (metric names are at most 1024 bytes).
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    /// `GLOBAL module\\nname\\n`.
    pub fn global(&mut self, module: &str, name: &str) {
        self.op(b'c');
        self.0.extend_from_slice(module.as_bytes());
        self.op(b'\n');
        self.0.extend_from_slice(name.as_bytes());
        self.op(b'\n');
    }
    /// `GLOBAL cls`, `EMPTY_TUPLE`, `NEWOBJ`, then `}` `(`: the caller writes the `__dict__` items, then
    /// [`Self::build`].
    pub fn object_start(&mut self, module: &str, class: &str) {
        self.global(module, class);
        self.raw(&[b')', 0x81, b'}', b'(']);
    }
    /// `SETITEMS`, `BUILD`.
    pub fn build(&mut self) {
        self.0.extend_from_slice(b"ub");
    }
    /// Bytes written so far may be extended with [`Self::raw`]; this adds `STOP` and hands them over.
    pub fn finish(mut self) -> Vec<u8> {
        self.op(b'.');
        self.0
    }
}
