//! The bytes `#[observe]` captures an observation's input or output into, and the JSON the
//! worker makes of them.
//!
//! Most of a capture is JSON text written on the caller's thread (a borrowed value can be
//! read only there, while the borrow lasts). Two kinds of value are left raw instead, for
//! the thread that reads the record (the worker) to write as JSON: a scalar (a copy of its
//! bits, so no number formatting on the caller) and text (its bytes copied as they are, so
//! no escaping on the caller). Each raw value sits where its JSON goes, behind a [`RAW`]
//! byte that serde_json never writes (it escapes control bytes inside strings, and writes
//! none outside them); [`Part::to_json`] and [`resolve`] write them.
//!
//! The buffers come from a small per-thread pool and go back to it when dropped, so a
//! capture allocates nothing once the pool is warm: the bytes are copied into the thread's
//! ring with the record, and the buffer is reused by the next observation. A scalar or
//! short text output goes into the input's buffer, after the input
//! ([`CaptureBuf::begin_output`]): one buffer per observation, copied into the ring in one
//! piece ([`Captures`]).

use crate::box_stack::BoxStack;
use std::borrow::Cow;
use std::cell::Cell;
use std::fmt::Write as _;
use std::mem::ManuallyDrop;

use serde::Serialize;

use crate::limits::write_bounded;
use crate::model::Json;

/// Marks a raw value in the bytes: a tag and its payload follow.
const RAW: u8 = 0;

/// Text longer than this is escaped on the caller's thread: a large capture goes to the
/// worker on the heap (not in the ring) as JSON made on the caller, so deferring its
/// escaping would only add a copy.
const RAW_TEXT_MAX: usize = 1024;

/// A scalar captured by value, for the worker to write as JSON.
///
/// `#[observe]` makes one for a parameter or return value of a primitive type (what
/// `__private::ScalarValue` is implemented for); it is a copy of the value's bits, whatever
/// the value borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    /// Any unsigned integer up to 64 bits.
    U64(u64),
    /// Any signed integer up to 64 bits.
    I64(i64),
    /// `u128`.
    U128(u128),
    /// `i128`.
    I128(i128),
    /// `f32` (written with `f32`'s shortest form, as serde_json writes it).
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `bool`.
    Bool(bool),
    /// `char`, a one-character JSON string.
    Char(char),
}

/// Tags of the raw values.
mod tag {
    pub(super) const U64: u8 = 1;
    pub(super) const I64: u8 = 2;
    pub(super) const U128: u8 = 3;
    pub(super) const I128: u8 = 4;
    pub(super) const F32: u8 = 5;
    pub(super) const F64: u8 = 6;
    pub(super) const BOOL: u8 = 7;
    pub(super) const CHAR: u8 = 8;
    pub(super) const TEXT: u8 = 9;
}

/// A capture being written or on its way to the ring: JSON text with raw values in it.
///
/// A pointer wide, so that an open observation's fields (which hold two) stay small; the
/// bytes live in a pooled box (see the module's documentation).
pub(crate) struct CaptureBuf(ManuallyDrop<Box<Inner>>);

struct Inner {
    bytes: Vec<u8>,
    /// True once a raw value was written into the part being written (the output after
    /// [`CaptureBuf::begin_output`], else the input): only then does it need [`resolve`].
    raw: bool,
    /// Where the output starts, when one was appended after the input
    /// ([`CaptureBuf::begin_output`]); [`NO_OUTPUT`] when the bytes are all one capture.
    output_at: usize,
    /// `raw` of the input, kept when the output began.
    input_raw: bool,
}

/// [`Inner::output_at`] of a buffer that holds one capture.
const NO_OUTPUT: usize = usize::MAX;

/// One capture's bytes (the input or the output) and whether raw values are in them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Part<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) raw: bool,
}

impl Part<'_> {
    /// The JSON the bytes stand for; `None` when there are none (nothing captured).
    pub(crate) fn to_json(self) -> Option<Json> {
        (!self.bytes.is_empty()).then(|| resolve(self.bytes, self.raw))
    }
}

/// An observation's captured input and output, as they go into the ring.
///
/// Usually one buffer holds both (the output appended after the input), so they are
/// adjacent in memory and copied in one piece; [`Captures::joined`] says so.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Captures<'a> {
    pub(crate) input: Part<'a>,
    pub(crate) output: Part<'a>,
    /// Both, in one slice, when they come from one buffer.
    joined: Option<&'a [u8]>,
}

impl<'a> Captures<'a> {
    /// The captures of an observation whose fields hold `input` (which may carry the
    /// output after it) and `output` (which, when present, wins over an output in `input`:
    /// it was set later, by a stream's end).
    #[inline]
    pub(crate) fn of(input: Option<&'a CaptureBuf>, output: Option<&'a CaptureBuf>) -> Self {
        let (whole, input, carried) = match input {
            Some(buf) => {
                let (input, carried) = buf.parts();
                (buf.bytes(), input, carried)
            }
            None => (&[][..], Part::default(), None),
        };
        match output {
            // Separate buffers: the input alone, then the output.
            Some(buf) => Captures {
                input,
                output: buf.parts().1.unwrap_or_else(|| buf.parts().0),
                joined: None,
            },
            None => Captures {
                input,
                output: carried.unwrap_or_default(),
                joined: Some(whole),
            },
        }
    }

    /// Bytes of both.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.input.bytes.len() + self.output.bytes.len()
    }

    /// The input's bytes followed by the output's, in one slice, when they are adjacent.
    #[inline]
    pub(crate) fn joined(&self) -> Option<&'a [u8]> {
        self.joined
    }
}

/// Spare buffers kept per thread, at most.
const POOL_MAX: usize = 32;
/// A buffer that grew past this is freed rather than kept.
const KEEP_CAPACITY: usize = 4096;

thread_local! {
    static POOL: BoxStack<Inner, POOL_MAX> = const { BoxStack::new() };
}

impl CaptureBuf {
    /// An empty buffer, from this thread's pool when it has one.
    #[inline]
    pub(crate) fn new() -> CaptureBuf {
        let inner = POOL.try_with(BoxStack::take).ok().flatten();
        CaptureBuf(ManuallyDrop::new(inner.unwrap_or_else(|| {
            Box::new(Inner {
                bytes: Vec::with_capacity(128),
                raw: false,
                output_at: NO_OUTPUT,
                input_raw: false,
            })
        })))
    }

    /// A buffer holding `json`'s text.
    pub(crate) fn from_json(json: &Json) -> CaptureBuf {
        let mut buf = CaptureBuf::new();
        buf.push_bytes(json.as_str().as_bytes());
        buf
    }

    #[inline]
    fn inner(&self) -> &Inner {
        &self.0
    }

    #[inline]
    fn inner_mut(&mut self) -> &mut Inner {
        &mut self.0
    }

    /// The bytes as they travel (JSON text with raw values in it): the input and, after
    /// it, the output appended by [`CaptureBuf::begin_output`], if any.
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.inner().bytes
    }

    /// The capture these bytes start with, and the output appended after it, if any.
    #[inline]
    fn parts(&self) -> (Part<'_>, Option<Part<'_>>) {
        let inner = self.inner();
        if inner.output_at == NO_OUTPUT {
            let whole = Part {
                bytes: &inner.bytes,
                raw: inner.raw,
            };
            return (whole, None);
        }
        let (input, output) = inner.bytes.split_at(inner.output_at.min(inner.bytes.len()));
        (
            Part {
                bytes: input,
                raw: inner.input_raw,
            },
            Some(Part {
                bytes: output,
                raw: inner.raw,
            }),
        )
    }

    /// Starts the output after what this buffer holds (the input), so that one buffer
    /// carries both: one buffer taken from the pool and given back, one copy into the
    /// ring. An output begun before is dropped: the new one replaces it.
    #[inline]
    pub(crate) fn begin_output(&mut self) {
        let inner = self.inner_mut();
        if inner.output_at == NO_OUTPUT {
            inner.output_at = inner.bytes.len();
            inner.input_raw = inner.raw;
        } else {
            inner.bytes.truncate(inner.output_at);
        }
        inner.raw = false;
    }

    /// Their length: what the capture is charged against the queue's byte budget.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.inner().bytes.len()
    }

    /// True when raw values are in the part being written (they need [`resolve`]).
    #[cfg(test)]
    pub(crate) fn has_raw(&self) -> bool {
        self.inner().raw
    }

    /// Appends JSON text (punctuation, a key) as it is.
    #[inline]
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) {
        self.inner_mut().bytes.extend_from_slice(bytes);
    }

    /// Appends `value` as JSON, inside `depth` levels already open, bounded as
    /// [`write_bounded`] says; a value whose `Serialize` fails becomes a string saying why.
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T, depth: usize) {
        let bytes = &mut self.inner_mut().bytes;
        if let Err(e) = write_bounded(bytes, value, depth) {
            let _ = serde_json::to_writer(&mut *bytes, &format!("<not serializable: {e}>"));
        }
    }

    /// Appends a scalar, raw: the worker writes its JSON.
    ///
    /// One capacity check and one fixed-size copy: the widest raw scalar is written whole
    /// into reserved room, and the length advances by the bytes this one takes.
    #[inline]
    pub(crate) fn scalar(&mut self, value: Scalar) {
        let inner = self.inner_mut();
        inner.raw = true;
        let (raw, len) = encode_scalar(value);
        push_fixed(&mut inner.bytes, &raw, len);
    }

    /// Appends `text` as a JSON string: its bytes raw, for the worker to escape, when it is
    /// short; escaped now (and bounded in bytes) when it is not.
    #[inline]
    pub(crate) fn text(&mut self, text: &str) {
        if text.len() > RAW_TEXT_MAX {
            self.value(text, 0);
        } else {
            let inner = self.inner_mut();
            inner.raw = true;
            // At most `RAW_TEXT_MAX` bytes: the length fits in two.
            let [lo, hi] = (text.len() as u16).to_le_bytes();
            let bytes = &mut inner.bytes;
            bytes.reserve(TEXT_HEADER + text.len());
            push_fixed(bytes, &[RAW, tag::TEXT, lo, hi], TEXT_HEADER);
            bytes.extend_from_slice(text.as_bytes());
        }
    }

    /// Appends `value`'s `Debug` text as a JSON string.
    pub(crate) fn debug<T: std::fmt::Debug + ?Sized>(&mut self, value: &T) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.text(&text);
    }

    /// The JSON of the capture these bytes start with, raw values written (the output
    /// appended after it, if any, is [`Captures::of`]'s to read).
    #[cfg(test)]
    pub(crate) fn to_json(&self) -> Json {
        let (first, _) = self.parts();
        resolve(first.bytes, first.raw)
    }
}

impl Drop for CaptureBuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and nothing reads `self.0` after it.
        let mut inner = unsafe { ManuallyDrop::take(&mut self.0) };
        if inner.bytes.capacity() <= KEEP_CAPACITY {
            inner.bytes.clear();
            inner.raw = false;
            inner.output_at = NO_OUTPUT;
            // During the thread's exit the pool may be gone: the box is freed then.
            let _ = POOL.try_with(move |pool| pool.give(inner));
        }
    }
}

impl std::fmt::Debug for CaptureBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (first, output) = self.parts();
        f.debug_tuple("CaptureBuf")
            .field(&first.to_json())
            .field(&output.and_then(Part::to_json))
            .finish()
    }
}

/// Bytes a raw text value takes before its own: [`RAW`], the tag, the length (two bytes).
const TEXT_HEADER: usize = 4;
/// Bytes the widest raw scalar takes: [`RAW`], the tag, 16 bytes of payload.
const SCALAR_MAX: usize = 18;

/// A scalar as it travels: [`RAW`], its tag and its bits, in an array as wide as the widest,
/// with the bytes this one takes.
#[inline]
fn encode_scalar(value: Scalar) -> ([u8; SCALAR_MAX], usize) {
    fn raw<const N: usize>(tag: u8, payload: [u8; N]) -> ([u8; SCALAR_MAX], usize) {
        let mut out = [0; SCALAR_MAX];
        out[0] = RAW;
        out[1] = tag;
        out[2..2 + N].copy_from_slice(&payload);
        (out, 2 + N)
    }
    match value {
        Scalar::U64(v) => raw(tag::U64, v.to_le_bytes()),
        Scalar::I64(v) => raw(tag::I64, v.to_le_bytes()),
        Scalar::U128(v) => raw(tag::U128, v.to_le_bytes()),
        Scalar::I128(v) => raw(tag::I128, v.to_le_bytes()),
        Scalar::F32(v) => raw(tag::F32, v.to_le_bytes()),
        Scalar::F64(v) => raw(tag::F64, v.to_le_bytes()),
        Scalar::Bool(v) => raw(tag::BOOL, [u8::from(v)]),
        Scalar::Char(v) => raw(tag::CHAR, u32::from(v).to_le_bytes()),
    }
}

/// Appends the first `len` bytes of `fixed`: the whole array is copied into reserved room
/// (a copy of a size known when compiling, so no `memcpy` call), then the length set.
#[inline]
fn push_fixed<const N: usize>(bytes: &mut Vec<u8>, fixed: &[u8; N], len: usize) {
    assert!(len <= N);
    bytes.reserve(N);
    let at = bytes.len();
    // SAFETY: `reserve(N)` made room for `N` bytes after the `at` initialized ones, so the
    // copy stays inside the allocation; `fixed` is a separate array, so they do not
    // overlap. The first `len <= N` of the copied bytes are then initialized, and the
    // length covers no more.
    unsafe {
        std::ptr::copy_nonoverlapping(fixed.as_ptr(), bytes.as_mut_ptr().add(at), N);
        bytes.set_len(at + len);
    }
}

/// The JSON that captured bytes stand for: the text as it is when `raw` is false, else
/// with every raw value written as JSON. Bytes that do not parse (which only a bug could
/// make) end the value where they start, never read out of bounds.
///
/// The JSON is written into a per-thread scratch buffer that is reused, then copied once
/// into an allocation of its exact size: one allocation per capture, no reallocation.
pub(crate) fn resolve(bytes: &[u8], raw: bool) -> Json {
    if !raw {
        return Json::from_raw(text_of(bytes));
    }
    let mut out = SCRATCH.try_with(Cell::take).unwrap_or_default();
    out.clear();
    let mut rest = bytes;
    while let Some(at) = rest.iter().position(|&b| b == RAW) {
        out.extend_from_slice(&rest[..at]);
        rest = write_raw(&rest[at + 1..], &mut out).unwrap_or_default();
    }
    out.extend_from_slice(rest);
    let json = Json::from_raw(text_of(&out));
    if out.capacity() <= KEEP_CAPACITY {
        // During the thread's exit the scratch may be gone: the buffer is freed then.
        let _ = SCRATCH.try_with(move |scratch| scratch.set(out));
    }
    json
}

thread_local! {
    /// Where [`resolve`] writes JSON before it is copied out at its exact size.
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The text, checked: the bytes are serde_json's output, a `Json`'s text and `&str` data
/// cut only at ASCII bytes, so valid UTF-8; anything else (a bug) is made valid, lossily.
fn text_of(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Writes the raw value at the start of `bytes` (after its [`RAW`] byte) as JSON; returns
/// the bytes after it, or `None` when they are cut short.
fn write_raw<'b>(bytes: &'b [u8], out: &mut Vec<u8>) -> Option<&'b [u8]> {
    let (&tag, rest) = bytes.split_first()?;
    let rest = match tag {
        tag::U64 => take(rest, |v| write_json(out, &u64::from_le_bytes(v)))?,
        tag::I64 => take(rest, |v| write_json(out, &i64::from_le_bytes(v)))?,
        tag::U128 => take(rest, |v| write_json(out, &u128::from_le_bytes(v)))?,
        tag::I128 => take(rest, |v| write_json(out, &i128::from_le_bytes(v)))?,
        tag::F32 => take(rest, |v| write_json(out, &f32::from_le_bytes(v)))?,
        tag::F64 => take(rest, |v| write_json(out, &f64::from_le_bytes(v)))?,
        tag::BOOL => take(rest, |[v]: [u8; 1]| write_json(out, &(v != 0)))?,
        tag::CHAR => take(rest, |v| {
            let c = char::from_u32(u32::from_le_bytes(v)).unwrap_or(char::REPLACEMENT_CHARACTER);
            write_json(out, &c)
        })?,
        tag::TEXT => {
            let mut len = 0;
            let rest = take(rest, |v| len = usize::from(u16::from_le_bytes(v)))?;
            write_json_string(out, rest.get(..len)?);
            rest.get(len..)?
        }
        _ => return None,
    };
    Some(rest)
}

/// Appends `text` (UTF-8 bytes) as a JSON string, escaped exactly as serde_json escapes a
/// `str`: a quote and a backslash behind a backslash, the control bytes below 0x20 by their
/// short escapes (`\n`, `\t`, ...) or as `\u00xx`, every other byte as it is. Working on
/// bytes rather than a `str` spares checking each text, which [`text_of`] does once for the
/// whole capture.
fn write_json_string(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in text.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&text[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    out.extend_from_slice(&text[run..]);
    out.push(b'"');
}

/// Hands the first `N` bytes to `read` as an array; returns the rest.
#[inline]
fn take<const N: usize>(bytes: &[u8], read: impl FnOnce([u8; N])) -> Option<&[u8]> {
    let head: [u8; N] = bytes.get(..N)?.try_into().ok()?;
    read(head);
    bytes.get(N..)
}

/// serde_json's form of `value`, appended (writing into a `Vec` does not fail).
#[inline]
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    let _ = serde_json::to_writer(out, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(buf: &CaptureBuf) -> serde_json::Value {
        buf.to_json().to_value()
    }

    #[test]
    fn scalars_are_written_as_serde_json_writes_them() {
        let cases = [
            (Scalar::U64(u64::MAX), serde_json::json!(u64::MAX)),
            (Scalar::I64(-7), serde_json::json!(-7)),
            (Scalar::F64(1.5), serde_json::json!(1.5)),
            (Scalar::F64(f64::NAN), serde_json::Value::Null),
            (Scalar::F32(0.1), serde_json::json!(0.1)),
            (Scalar::Bool(true), serde_json::json!(true)),
            (Scalar::Char('é'), serde_json::json!("é")),
        ];
        for (scalar, expected) in cases {
            let mut buf = CaptureBuf::new();
            buf.scalar(scalar);
            assert!(buf.has_raw());
            assert_eq!(json(&buf), expected, "{scalar:?}");
        }
        let mut buf = CaptureBuf::new();
        buf.scalar(Scalar::U128(u128::MAX));
        assert_eq!(buf.to_json().as_str(), u128::MAX.to_string());
        let mut buf = CaptureBuf::new();
        buf.scalar(Scalar::I128(i128::MIN));
        assert_eq!(buf.to_json().as_str(), i128::MIN.to_string());
    }

    #[test]
    fn raw_text_is_escaped_where_it_is_resolved() {
        let mut buf = CaptureBuf::new();
        buf.push_bytes(b"{\"q\":");
        buf.text("a \"quoted\"\n\u{0}line");
        buf.push_bytes(b",\"n\":");
        buf.scalar(Scalar::U64(10));
        buf.push_bytes(b"}");
        assert_eq!(
            json(&buf),
            serde_json::json!({"q": "a \"quoted\"\n\u{0}line", "n": 10})
        );
    }

    #[test]
    fn long_text_is_escaped_on_the_spot() {
        let long = "x\"".repeat(RAW_TEXT_MAX);
        let mut buf = CaptureBuf::new();
        buf.text(&long);
        assert!(!buf.has_raw());
        assert_eq!(json(&buf), serde_json::json!(long));
    }

    #[test]
    fn bytes_cut_short_end_the_value_without_reading_past_them() {
        let mut buf = CaptureBuf::new();
        buf.text("hello");
        let bytes = buf.bytes();
        for cut in 0..bytes.len() {
            // Any prefix resolves to something, never a panic.
            let _ = resolve(&bytes[..cut], true);
        }
        assert_eq!(resolve(&[RAW, 200, 1, 2], true).as_str(), "");
    }

    #[test]
    fn every_scalar_resolves_to_the_very_text_serde_json_writes() {
        fn text<T: Serialize>(v: T) -> String {
            serde_json::to_string(&v).unwrap()
        }
        let cases = [
            (Scalar::U64(0), text(0u64)),
            (Scalar::U64(u64::MAX), text(u64::MAX)),
            (Scalar::I64(i64::MIN), text(i64::MIN)),
            (Scalar::U128(u128::MAX), text(u128::MAX)),
            (Scalar::I128(i128::MIN), text(i128::MIN)),
            (Scalar::F32(0.1), text(0.1f32)),
            (Scalar::F32(f32::INFINITY), text(f32::INFINITY)),
            (Scalar::F64(-1e300), text(-1e300f64)),
            (Scalar::F64(2.0), text(2.0f64)),
            (Scalar::Bool(false), text(false)),
            (Scalar::Char('"'), text('"')),
            (Scalar::Char('\u{1}'), text('\u{1}')),
            (Scalar::Char('😀'), text('😀')),
        ];
        for (scalar, expected) in cases {
            let mut buf = CaptureBuf::new();
            buf.push_bytes(b"[");
            buf.scalar(scalar);
            buf.push_bytes(b"]");
            assert_eq!(
                buf.to_json().as_str(),
                format!("[{expected}]"),
                "{scalar:?}"
            );
        }
    }

    #[test]
    fn text_is_escaped_byte_for_byte_as_serde_json_escapes_it() {
        // Every ASCII byte, the control bytes among them, and characters of 2 to 4 bytes.
        let mut every: String = (0u8..0x80).map(char::from).collect();
        every.push_str("é\u{2028}😀");
        for text in [
            every.as_str(),
            "",
            "plain",
            "\"",
            "\\",
            "ends in a newline\n",
        ] {
            let mut out = Vec::new();
            write_json_string(&mut out, text.as_bytes());
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                serde_json::to_string(text).unwrap()
            );
            let mut buf = CaptureBuf::new();
            buf.text(text);
            assert!(buf.has_raw());
            assert_eq!(buf.to_json().as_str(), serde_json::to_string(text).unwrap());
        }
    }

    #[test]
    fn the_scratch_buffer_leaves_nothing_behind_between_captures() {
        let long = "y".repeat(RAW_TEXT_MAX);
        let mut big = CaptureBuf::new();
        for _ in 0..8 {
            big.text(&long);
        }
        // Past `KEEP_CAPACITY`: resolved, then the scratch is freed rather than kept.
        assert_eq!(big.to_json().len(), 8 * (RAW_TEXT_MAX + 2));
        let mut small = CaptureBuf::new();
        small.scalar(Scalar::U64(7));
        assert_eq!(small.to_json().as_str(), "7");
        let mut other = CaptureBuf::new();
        other.text("z");
        assert_eq!(other.to_json().as_str(), "\"z\"");
    }

    /// The input as `#[observe]` writes it: `{"q":"é \"x\"\n","n":7}`, text and a scalar raw.
    fn input_with_raw_values() -> CaptureBuf {
        let mut buf = CaptureBuf::new();
        buf.push_bytes(b"{\"q\":");
        buf.text("é \"x\"\n");
        buf.push_bytes(b",\"n\":");
        buf.scalar(Scalar::U64(7));
        buf.push_bytes(b"}");
        buf
    }

    #[test]
    fn an_output_appended_to_the_input_comes_back_as_its_own_json() {
        let mut buf = input_with_raw_values();
        buf.begin_output();
        buf.text("ünï \u{1}");
        let captures = Captures::of(Some(&buf), None);
        assert_eq!(captures.joined(), Some(buf.bytes()), "one piece to copy");
        assert_eq!(captures.len(), buf.len());
        assert_eq!(
            captures.input.to_json().unwrap().as_str(),
            r#"{"q":"é \"x\"\n","n":7}"#
        );
        assert_eq!(
            captures.output.to_json().unwrap().as_str(),
            serde_json::to_string("ünï \u{1}").unwrap()
        );
        assert_eq!(buf.to_json(), captures.input.to_json().unwrap());
    }

    #[test]
    fn each_part_keeps_its_own_raw_flag() {
        // Input without raw values, output with them: the input is read as it is.
        let mut buf = CaptureBuf::new();
        buf.push_bytes(b"{}");
        buf.begin_output();
        buf.scalar(Scalar::Bool(true));
        let captures = Captures::of(Some(&buf), None);
        assert!(!captures.input.raw);
        assert!(captures.output.raw);
        assert_eq!(captures.output.to_json().unwrap().as_str(), "true");
        // And the other way round.
        let mut buf = input_with_raw_values();
        buf.begin_output();
        buf.push_bytes(b"[1]");
        let captures = Captures::of(Some(&buf), None);
        assert!(captures.input.raw);
        assert!(!captures.output.raw);
        assert_eq!(captures.output.to_json().unwrap().as_str(), "[1]");
    }

    #[test]
    fn a_second_output_replaces_the_first_and_a_separate_one_wins() {
        let mut buf = input_with_raw_values();
        buf.begin_output();
        buf.scalar(Scalar::U64(1));
        buf.begin_output();
        buf.scalar(Scalar::I64(-2));
        let captures = Captures::of(Some(&buf), None);
        assert_eq!(captures.output.to_json().unwrap().as_str(), "-2");
        let mut separate = CaptureBuf::new();
        separate.push_bytes(b"\"later\"");
        let captures = Captures::of(Some(&buf), Some(&separate));
        assert_eq!(captures.joined(), None);
        assert_eq!(captures.output.to_json().unwrap().as_str(), "\"later\"");
        // Charged for what travels: the input, and the output that won.
        assert_eq!(captures.len(), captures.input.bytes.len() + separate.len());
    }

    #[test]
    fn an_output_alone_has_no_input() {
        let mut buf = CaptureBuf::new();
        buf.begin_output();
        buf.scalar(Scalar::F64(0.5));
        let captures = Captures::of(None, Some(&buf));
        assert!(captures.input.to_json().is_none());
        assert_eq!(captures.output.to_json().unwrap().as_str(), "0.5");
    }

    #[test]
    fn a_buffer_goes_back_to_the_pool_empty() {
        let mut buf = CaptureBuf::new();
        buf.text("left over");
        drop(buf);
        let mut buf = CaptureBuf::new();
        assert_eq!(buf.len(), 0);
        assert!(!buf.has_raw());
        buf.begin_output();
        drop(buf);
        let buf = CaptureBuf::new();
        assert!(buf.parts().1.is_none(), "no output begun");
    }
}
