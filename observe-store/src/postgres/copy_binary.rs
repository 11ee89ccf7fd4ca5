//! Rows in the binary format of PostgreSQL's `COPY ... FROM STDIN (FORMAT binary)`: each
//! value in the server's own representation (a timestamp as microseconds, a number as its
//! bytes), so the server parses no text. That parsing was a large part of its work per
//! batch.
//!
//! A binary field must have exactly its column's type (an `integer` column takes four
//! bytes, not eight), so the rows know their columns' types, read once per connection
//! from the table the `COPY` fills: a column added to a table later is written as its
//! type says without anything here changing.
//!
//! What PostgreSQL cannot store is made acceptable as in the text format
//! (`copy_text`): a NUL character becomes U+FFFD, with one warning.
//!
//! Why not tokio-postgres's `binary_copy::BinaryCopyInWriter`: on the same 512 observation
//! rows it took 2.3 times the client's CPU per batch (710-730 µs against 310-325 µs,
//! `cargo bench -p observe-store --features postgres --bench pg_copy_encoder`, which also
//! checks both store the same rows). It goes through a `dyn ToSql` per value with a type
//! check each time and sends every 4 kB through the connection's runtime; it also has no way
//! to give `jsonb` from the JSON text the writer holds (its `Json` serializes a value again)
//! and stores no NUL replacement, which a switch would have to add around it.

use observe_model::model::Timestamp;
use postgres::types::Type;

use super::copy_text::{has_nul_escape, replace_nul_escapes, warn_nul_once};
use crate::text::nanos;

/// What every binary `COPY` stream starts with: the signature, no flags, no extension.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// What ends a binary `COPY` stream: a row of `-1` fields.
const TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01 00:00 UTC.
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// The version byte that starts a `jsonb` value in binary.
const JSONB_VERSION: u8 = 1;

/// One binary `COPY` stream being built, row by row, for a table whose column types it was
/// given.
///
/// ```
/// use observe_store::postgres::copy_binary::BinaryRows;
/// use postgres::types::Type;
///
/// let mut rows = BinaryRows::new(vec![Type::INT8, Type::TEXT]);
/// rows.int(7);
/// rows.text("seven");
/// rows.end_row();
/// assert!(rows.finish().starts_with(b"PGCOPY\n"));
/// ```
#[derive(Default)]
pub struct BinaryRows {
    buf: Vec<u8>,
    /// The columns' types, in the order the rows give them.
    types: Vec<Type>,
    /// Where the next field goes in the current row.
    column: usize,
    rows: usize,
    /// The trailer is written: the stream is whole.
    finished: bool,
}

impl BinaryRows {
    /// Rows for columns of these types.
    pub fn new(types: Vec<Type>) -> BinaryRows {
        let mut rows = BinaryRows {
            buf: Vec::new(),
            types,
            column: 0,
            rows: 0,
            finished: false,
        };
        rows.clear();
        rows
    }

    /// Forgets every row.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(HEADER);
        self.column = 0;
        self.rows = 0;
        self.finished = false;
    }

    /// Whether no row was written since the last [`clear`](Self::clear).
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The whole stream: the header, the rows so far, the trailer.
    pub fn finish(&mut self) -> &[u8] {
        if !self.finished {
            self.buf.extend_from_slice(TRAILER);
            self.finished = true;
        }
        &self.buf
    }

    /// Ends the current row.
    pub fn end_row(&mut self) {
        self.column = 0;
        self.rows += 1;
    }

    /// The type of the column the next field fills, starting the row when it is the first.
    fn next_column(&mut self) -> Type {
        if self.column == 0 {
            let fields = i16::try_from(self.types.len()).unwrap_or(i16::MAX);
            self.buf.extend_from_slice(&fields.to_be_bytes());
        }
        let ty = self.types.get(self.column).cloned().unwrap_or(Type::TEXT);
        self.column += 1;
        ty
    }

    /// A field of `bytes`.
    fn field(&mut self, bytes: &[u8]) {
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    /// A field whose bytes are written by `write`; its length is filled in after.
    fn field_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        write(&mut self.buf);
        let len = i32::try_from(self.buf.len() - at - 4).unwrap_or(i32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// A NULL field.
    pub fn null(&mut self) {
        self.next_column();
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// A `text` field (NUL characters replaced).
    pub fn text(&mut self, value: &str) {
        self.next_column();
        self.field_with(|buf| push_text(buf, value));
    }

    /// A `text` field, or NULL.
    pub fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// ASCII that needs no replacing (hex ids, type names).
    pub fn ascii(&mut self, value: &str) {
        self.next_column();
        self.field(value.as_bytes());
    }

    /// A `jsonb` (or `json`, or `text`) field from JSON text (the escape `\u0000`
    /// replaced).
    pub fn json(&mut self, value: &str) {
        let ty = self.next_column();
        self.field_with(|buf| {
            if ty == Type::JSONB {
                buf.push(JSONB_VERSION);
            }
            if has_nul_escape(value) {
                warn_nul_once();
                push_text(buf, &replace_nul_escapes(value));
            } else {
                push_text(buf, value);
            }
        });
    }

    /// A `jsonb` field, or NULL.
    pub fn opt_json(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.json(v),
            None => self.null(),
        }
    }

    /// A `text[]` field: one dimension (none when empty), no NULL element.
    pub fn text_array(&mut self, items: &[String]) {
        self.next_column();
        self.field_with(|buf| {
            let dimensions: i32 = if items.is_empty() { 0 } else { 1 };
            buf.extend_from_slice(&dimensions.to_be_bytes());
            buf.extend_from_slice(&0i32.to_be_bytes());
            buf.extend_from_slice(&Type::TEXT.oid().to_be_bytes());
            if !items.is_empty() {
                let len = i32::try_from(items.len()).unwrap_or(i32::MAX);
                buf.extend_from_slice(&len.to_be_bytes());
                buf.extend_from_slice(&1i32.to_be_bytes());
            }
            for item in items {
                let at = buf.len();
                buf.extend_from_slice(&[0; 4]);
                push_text(buf, item);
                let len = i32::try_from(buf.len() - at - 4).unwrap_or(i32::MAX);
                buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        });
    }

    /// An integer field, as wide as its column (`smallint`, `integer` or `bigint`). The
    /// caller keeps the value in the column's range; one outside it is clamped.
    pub fn int(&mut self, value: i64) {
        let ty = self.next_column();
        if ty == Type::INT4 {
            let v = i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX });
            self.field(&v.to_be_bytes());
        } else if ty == Type::INT2 {
            let v = i16::try_from(value).unwrap_or(if value < 0 { i16::MIN } else { i16::MAX });
            self.field(&v.to_be_bytes());
        } else if ty == Type::FLOAT8 {
            self.field(&(value as f64).to_be_bytes());
        } else {
            self.field(&value.to_be_bytes());
        }
    }

    /// An integer field, or NULL.
    pub fn opt_int(&mut self, value: Option<i64>) {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// A `double precision` field.
    pub fn float(&mut self, value: f64) {
        self.next_column();
        self.field(&value.to_be_bytes());
    }

    /// A `boolean` field.
    pub fn bool(&mut self, value: bool) {
        self.next_column();
        self.field(&[u8::from(value)]);
    }

    /// A `boolean` field, or NULL.
    pub fn opt_bool(&mut self, value: Option<bool>) {
        match value {
            Some(v) => self.bool(v),
            None => self.null(),
        }
    }

    /// A `timestamptz` field: microseconds since 2000-01-01 UTC, the nanoseconds truncated
    /// as the text form [`crate::text::TimeText`] writes them.
    pub fn time(&mut self, t: Timestamp) {
        self.next_column();
        let micros = nanos(t) / 1_000 - POSTGRES_EPOCH_MICROS;
        self.field(&micros.to_be_bytes());
    }

    /// A `timestamptz` field, or NULL.
    pub fn opt_time(&mut self, t: Option<Timestamp>) {
        match t {
            Some(t) => self.time(t),
            None => self.null(),
        }
    }
}

/// `value`'s UTF-8 bytes, each NUL character replaced by U+FFFD.
fn push_text(buf: &mut Vec<u8>, value: &str) {
    if !value.as_bytes().contains(&0) {
        buf.extend_from_slice(value.as_bytes());
        return;
    }
    warn_nul_once();
    for part in value.split('\0').enumerate() {
        if part.0 > 0 {
            buf.extend_from_slice("\u{fffd}".as_bytes());
        }
        buf.extend_from_slice(part.1.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(types: Vec<Type>, f: impl FnOnce(&mut BinaryRows)) -> Vec<u8> {
        let mut rows = BinaryRows::new(types);
        f(&mut rows);
        rows.end_row();
        let all = rows.finish().to_vec();
        assert!(all.starts_with(HEADER));
        assert!(all.ends_with(TRAILER));
        all[HEADER.len()..all.len() - TRAILER.len()].to_vec()
    }

    #[test]
    fn writes_each_field_as_its_column_type() {
        let bytes = row(vec![Type::INT4, Type::INT8, Type::TEXT, Type::BOOL], |r| {
            r.int(7);
            r.int(-2);
            r.null();
            r.bool(true);
        });
        let mut want = 4i16.to_be_bytes().to_vec();
        want.extend_from_slice(&4i32.to_be_bytes());
        want.extend_from_slice(&7i32.to_be_bytes());
        want.extend_from_slice(&8i32.to_be_bytes());
        want.extend_from_slice(&(-2i64).to_be_bytes());
        want.extend_from_slice(&(-1i32).to_be_bytes());
        want.extend_from_slice(&1i32.to_be_bytes());
        want.push(1);
        assert_eq!(bytes, want);
    }

    #[test]
    fn timestamps_count_microseconds_from_2000() {
        // 2000-01-01T00:00:01.000002999Z: the nanoseconds past the microsecond are cut.
        let t = Timestamp(946_684_801_000_002_999);
        let bytes = row(vec![Type::TIMESTAMPTZ], |r| r.time(t));
        assert_eq!(&bytes[6..], &1_000_002i64.to_be_bytes());
    }

    #[test]
    fn replaces_nul_in_text_and_json() {
        let bytes = row(vec![Type::TEXT, Type::JSONB], |r| {
            r.text("a\0b");
            r.json(r#"{"k":"x\u0000y"}"#);
        });
        let text = "a\u{fffd}b".as_bytes();
        let json = br#"{"k":"x\ufffdy"}"#;
        let mut want = 2i16.to_be_bytes().to_vec();
        want.extend_from_slice(&(text.len() as i32).to_be_bytes());
        want.extend_from_slice(text);
        want.extend_from_slice(&(json.len() as i32 + 1).to_be_bytes());
        want.push(JSONB_VERSION);
        want.extend_from_slice(json);
        assert_eq!(bytes, want);
    }

    #[test]
    fn arrays_have_one_dimension_or_none() {
        let empty = row(vec![Type::TEXT_ARRAY], |r| r.text_array(&[]));
        assert_eq!(&empty[2..6], &12i32.to_be_bytes());
        assert_eq!(&empty[6..10], &0i32.to_be_bytes());
        let two = row(vec![Type::TEXT_ARRAY], |r| {
            r.text_array(&["a".into(), "bc".into()])
        });
        // ndim, flags, oid, size, lower bound, then (length, bytes) per element.
        assert_eq!(&two[2..6], &(20 + 5 + 6i32).to_be_bytes());
        assert_eq!(&two[6..10], &1i32.to_be_bytes());
        assert_eq!(&two[18..22], &2i32.to_be_bytes());
        assert_eq!(&two[26..30], &1i32.to_be_bytes());
        assert_eq!(&two[30..31], b"a");
    }
}
