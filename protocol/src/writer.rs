//! Reply documents written once, for two outputs: a [`Value`] tree (then encoded as
//! JSON or CBOR) or JSON bytes straight away (the typed fast path). A reply's shape
//! (its members, their order, which are left out) lives in one function generic over
//! [`DocWriter`], so the two outputs cannot drift; and [`JsonWriter`] writes every
//! value exactly as [`encode`](crate::value::encode) writes its tree.
//!
//! ```
//! use freshet_protocol::value::{encode, Encoding};
//! use freshet_protocol::writer::{DocWriter, JsonWriter, ValueWriter};
//!
//! fn reply<W: DocWriter>(w: &mut W) {
//!     w.begin_structure();
//!     w.member("Count");
//!     w.int(2);
//!     w.member("Names");
//!     w.begin_list();
//!     w.str("a");
//!     w.str("b");
//!     w.end_list();
//!     w.end_structure();
//! }
//! let mut json = JsonWriter::with_capacity(64);
//! reply(&mut json);
//! let mut tree = ValueWriter::default();
//! reply(&mut tree);
//! assert_eq!(json.into_bytes(), encode(Encoding::Json, &tree.finish()));
//! ```

use bytes::Bytes;

use crate::value::{write_json_base64, write_json_str, write_json_timestamp, Value};

/// A sink for a reply document, written depth first. A structure's members are each
/// announced by [`member`](DocWriter::member) before their value.
pub trait DocWriter {
    /// Opens a structure.
    fn begin_structure(&mut self);
    /// Closes the innermost structure.
    fn end_structure(&mut self);
    /// Opens a list.
    fn begin_list(&mut self);
    /// Closes the innermost list.
    fn end_list(&mut self);
    /// Names the next value, a member of the innermost structure. Names are the
    /// API's identifiers and are written as they are: none may hold a quote, a
    /// backslash or a control character.
    fn member(&mut self, name: &'static str);
    /// A text value.
    fn str(&mut self, s: &str);
    /// A number written as decimal text (sequence numbers).
    fn decimal_str(&mut self, n: u128);
    /// An integer.
    fn int(&mut self, n: i128);
    /// A boolean.
    fn bool(&mut self, b: bool);
    /// A blob.
    fn blob(&mut self, b: &Bytes);
    /// A timestamp, epoch milliseconds.
    fn timestamp(&mut self, ms: i64);
}

/// Writes JSON bytes.
#[derive(Debug, Default)]
pub struct JsonWriter {
    out: Vec<u8>,
    /// Per open container: whether it holds a value yet (a comma goes before the next).
    filled: Vec<bool>,
    /// A member name was just written: its value takes no comma.
    after_name: bool,
}

impl JsonWriter {
    /// A writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        JsonWriter {
            out: Vec::with_capacity(capacity),
            filled: Vec::with_capacity(4),
            after_name: false,
        }
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    /// Before a value: the comma that separates it from the previous one in a list.
    #[inline]
    fn value_start(&mut self) {
        if self.after_name {
            self.after_name = false;
            return;
        }
        if let Some(filled) = self.filled.last_mut() {
            if *filled {
                self.out.push(b',');
            }
            *filled = true;
        }
    }
}

impl DocWriter for JsonWriter {
    #[inline]
    fn begin_structure(&mut self) {
        self.value_start();
        self.out.push(b'{');
        self.filled.push(false);
    }
    #[inline]
    fn end_structure(&mut self) {
        self.filled.pop();
        self.out.push(b'}');
    }
    #[inline]
    fn begin_list(&mut self) {
        self.value_start();
        self.out.push(b'[');
        self.filled.push(false);
    }
    #[inline]
    fn end_list(&mut self) {
        self.filled.pop();
        self.out.push(b']');
    }
    #[inline]
    fn member(&mut self, name: &'static str) {
        // Member names are the API's own identifiers: nothing in them needs escaping.
        debug_assert!(!name.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\'));
        self.value_start();
        self.out.reserve(name.len() + 3);
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.after_name = true;
    }
    #[inline]
    fn str(&mut self, s: &str) {
        self.value_start();
        write_json_str(s, &mut self.out);
    }
    #[inline]
    fn decimal_str(&mut self, n: u128) {
        self.value_start();
        self.out.push(b'"');
        // itoa's 64-bit path is several times faster than its 128-bit one.
        match u64::try_from(n) {
            Ok(small) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(small).as_bytes()),
            Err(_) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        }
        self.out.push(b'"');
    }
    #[inline]
    fn int(&mut self, n: i128) {
        self.value_start();
        match i64::try_from(n) {
            Ok(small) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(small).as_bytes()),
            Err(_) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
        }
    }
    #[inline]
    fn bool(&mut self, b: bool) {
        self.value_start();
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
    }
    #[inline]
    fn blob(&mut self, b: &Bytes) {
        self.value_start();
        write_json_base64(b, &mut self.out);
    }
    #[inline]
    fn timestamp(&mut self, ms: i64) {
        self.value_start();
        write_json_timestamp(ms, &mut self.out);
    }
}

/// An open container of a [`ValueWriter`].
#[derive(Debug)]
enum Frame {
    Structure(Vec<(String, Value)>, Option<&'static str>),
    List(Vec<Value>),
}

/// Builds a [`Value`] tree.
#[derive(Debug, Default)]
pub struct ValueWriter {
    stack: Vec<Frame>,
    done: Option<Value>,
}

impl ValueWriter {
    /// The document written (an empty structure if nothing was).
    pub fn finish(self) -> Value {
        self.done.unwrap_or(Value::Map(Vec::new()))
    }

    fn put(&mut self, v: Value) {
        match self.stack.last_mut() {
            Some(Frame::Structure(members, name)) => {
                if let Some(name) = name.take() {
                    members.push((name.to_string(), v));
                }
            }
            Some(Frame::List(items)) => items.push(v),
            None => self.done = Some(v),
        }
    }
}

impl DocWriter for ValueWriter {
    fn begin_structure(&mut self) {
        self.stack.push(Frame::Structure(Vec::new(), None));
    }
    fn end_structure(&mut self) {
        if let Some(Frame::Structure(members, _)) = self.stack.pop() {
            self.put(Value::Map(members));
        }
    }
    fn begin_list(&mut self) {
        self.stack.push(Frame::List(Vec::new()));
    }
    fn end_list(&mut self) {
        if let Some(Frame::List(items)) = self.stack.pop() {
            self.put(Value::List(items));
        }
    }
    fn member(&mut self, name: &'static str) {
        if let Some(Frame::Structure(_, pending)) = self.stack.last_mut() {
            *pending = Some(name);
        }
    }
    fn str(&mut self, s: &str) {
        self.put(Value::Str(s.to_string()));
    }
    fn decimal_str(&mut self, n: u128) {
        self.put(Value::Str(n.to_string()));
    }
    fn int(&mut self, n: i128) {
        self.put(Value::Int(n));
    }
    fn bool(&mut self, b: bool) {
        self.put(Value::Bool(b));
    }
    fn blob(&mut self, b: &Bytes) {
        self.put(Value::Bytes(b.clone()));
    }
    fn timestamp(&mut self, ms: i64) {
        self.put(Value::Timestamp(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{encode, Encoding};
    use proptest::prelude::*;

    /// A document as a sequence of writer calls.
    #[derive(Debug, Clone)]
    enum Doc {
        Str(String),
        Decimal(u128),
        Int(i128),
        Bool(bool),
        Blob(Vec<u8>),
        Time(i64),
        List(Vec<Doc>),
        Structure(Vec<(usize, Doc)>),
    }

    const NAMES: [&str; 4] = ["A", "Bb", "C-d", "é"];

    fn write<W: DocWriter>(d: &Doc, w: &mut W) {
        match d {
            Doc::Str(s) => w.str(s),
            Doc::Decimal(n) => w.decimal_str(*n),
            Doc::Int(n) => w.int(*n),
            Doc::Bool(b) => w.bool(*b),
            Doc::Blob(b) => w.blob(&Bytes::from(b.clone())),
            Doc::Time(ms) => w.timestamp(*ms),
            Doc::List(items) => {
                w.begin_list();
                for x in items {
                    write(x, w);
                }
                w.end_list();
            }
            Doc::Structure(members) => {
                w.begin_structure();
                for (i, x) in members {
                    w.member(NAMES[i % NAMES.len()]);
                    write(x, w);
                }
                w.end_structure();
            }
        }
    }

    fn doc() -> impl Strategy<Value = Doc> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Doc::Str),
            any::<u128>().prop_map(Doc::Decimal),
            any::<u64>().prop_map(|n| Doc::Decimal(u128::from(n))),
            any::<i128>().prop_map(Doc::Int),
            any::<i64>().prop_map(|n| Doc::Int(i128::from(n))),
            any::<bool>().prop_map(Doc::Bool),
            proptest::collection::vec(any::<u8>(), 0..20).prop_map(Doc::Blob),
            (-1_000_000_000_000_000i64..1_000_000_000_000_000).prop_map(Doc::Time),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Doc::List),
                proptest::collection::vec((0usize..4, inner), 0..6).prop_map(Doc::Structure),
            ]
        })
    }

    proptest! {
        #[test]
        fn json_writer_writes_what_encode_writes(d in doc()) {
            let root = Doc::Structure(vec![(0, d)]);
            let mut json = JsonWriter::with_capacity(16);
            write(&root, &mut json);
            let mut tree = ValueWriter::default();
            write(&root, &mut tree);
            prop_assert_eq!(json.into_bytes(), encode(Encoding::Json, &tree.finish()));
        }
    }
}
