//! Pickle opcode bytes and their `pickletools` names, for error messages.

use std::fmt;

/// A pickle opcode byte, displayed as its `pickletools` name and hex code, e.g. `GLOBAL (0x63)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op(pub u8);

impl Op {
    /// The opcode's name as `pickletools` spells it, or `None` for a byte that is no pickle opcode.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            b'(' => "MARK",
            b'.' => "STOP",
            b'0' => "POP",
            b'1' => "POP_MARK",
            b'2' => "DUP",
            b'F' => "FLOAT",
            b'I' => "INT",
            b'J' => "BININT",
            b'K' => "BININT1",
            b'L' => "LONG",
            b'M' => "BININT2",
            b'N' => "NONE",
            b'P' => "PERSID",
            b'Q' => "BINPERSID",
            b'R' => "REDUCE",
            b'S' => "STRING",
            b'T' => "BINSTRING",
            b'U' => "SHORT_BINSTRING",
            b'V' => "UNICODE",
            b'X' => "BINUNICODE",
            b'a' => "APPEND",
            b'b' => "BUILD",
            b'c' => "GLOBAL",
            b'd' => "DICT",
            b'}' => "EMPTY_DICT",
            b'e' => "APPENDS",
            b'g' => "GET",
            b'h' => "BINGET",
            b'i' => "INST",
            b'j' => "LONG_BINGET",
            b'l' => "LIST",
            b']' => "EMPTY_LIST",
            b'o' => "OBJ",
            b'p' => "PUT",
            b'q' => "BINPUT",
            b'r' => "LONG_BINPUT",
            b's' => "SETITEM",
            b't' => "TUPLE",
            b')' => "EMPTY_TUPLE",
            b'u' => "SETITEMS",
            b'G' => "BINFLOAT",
            b'B' => "BINBYTES",
            b'C' => "SHORT_BINBYTES",
            0x80 => "PROTO",
            0x81 => "NEWOBJ",
            0x82 => "EXT1",
            0x83 => "EXT2",
            0x84 => "EXT4",
            0x85 => "TUPLE1",
            0x86 => "TUPLE2",
            0x87 => "TUPLE3",
            0x88 => "NEWTRUE",
            0x89 => "NEWFALSE",
            0x8a => "LONG1",
            0x8b => "LONG4",
            0x8c => "SHORT_BINUNICODE",
            0x8d => "BINUNICODE8",
            0x8e => "BINBYTES8",
            0x8f => "EMPTY_SET",
            0x90 => "ADDITEMS",
            0x91 => "FROZENSET",
            0x92 => "NEWOBJ_EX",
            0x93 => "STACK_GLOBAL",
            0x94 => "MEMOIZE",
            0x95 => "FRAME",
            0x96 => "BYTEARRAY8",
            0x97 => "NEXT_BUFFER",
            0x98 => "READONLY_BUFFER",
            _ => return None,
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:02x})", self.0),
            None => write!(f, "0x{:02x} (unknown)", self.0),
        }
    }
}
