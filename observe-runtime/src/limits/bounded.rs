//! Serializing a value the application hands over, bounded while it happens: nesting depth,
//! recursion and bytes are counted as serde walks the value, and the walk stops at the first
//! limit, with the value replaced by the truncation marker.
//!
//! The worker cuts values nested too deep (see [`super::limit_depth`]), but only once they
//! are JSON text: by then the caller's thread has recursed once per level of the value to
//! write it, and a value 10,000 levels deep overflows its stack. Here every level goes
//! through [`Guarded`], which refuses to go deeper than [`MAX_JSON_DEPTH`] levels of JSON, or
//! [`MAX_RECURSION`] nested calls (newtypes and `Some` recurse without nesting the JSON), and
//! a writer that refuses bytes past the record limit. A refusal is an error serde carries
//! back up the stack like any other, so the walk unwinds by returning, never by recursing
//! further.

use std::cell::Cell;
use std::fmt::Display;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::ser::{self, Serialize, Serializer};

use super::text::{depth_reason, marker, size_reason};
use super::MAX_JSON_DEPTH;
use crate::model::Json;

/// Nested `serialize` calls a value may make: several per JSON level are common (a struct
/// field, an `Option`, a newtype), far more are a value that recurses without nesting.
pub(crate) const MAX_RECURSION: usize = 4 * MAX_JSON_DEPTH;

/// The largest `max_record_bytes` of any pipeline started in this process: a capture larger
/// than this would be replaced by a marker on the worker anyway.
static CAPTURE_BYTES: AtomicUsize = AtomicUsize::new(1_000_000);

/// Raises the capture bound to a pipeline's record limit (the largest one wins: a capture
/// does not know which pipeline it records into until it ends).
pub(crate) fn allow_capture_bytes(max_record_bytes: usize) {
    CAPTURE_BYTES.fetch_max(max_record_bytes, Ordering::Relaxed);
}

/// Why the walk stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Depth,
    Recursion,
    Bytes,
}

/// The walk's counters, shared by every level of one value.
struct Walk {
    /// JSON levels open, counting those around the value.
    depth: Cell<usize>,
    /// `serialize` calls nested now.
    calls: Cell<usize>,
    stop: Cell<Option<Stop>>,
}

impl Walk {
    fn stop<E: ser::Error>(&self, why: Stop) -> E {
        self.stop.set(Some(why));
        E::custom("observe: value over a capture limit")
    }

    /// Opens `levels` JSON levels, or stops the walk past the depth limit.
    fn open<E: ser::Error>(&self, levels: usize) -> Result<(), E> {
        let depth = self.depth.get() + levels;
        if depth > MAX_JSON_DEPTH {
            return Err(self.stop(Stop::Depth));
        }
        self.depth.set(depth);
        Ok(())
    }

    fn close(&self, levels: usize) {
        self.depth.set(self.depth.get().saturating_sub(levels));
    }
}

/// Writes `value` as JSON at the end of `buf`, inside `depth` levels the caller opened; when
/// it is nested deeper than [`MAX_JSON_DEPTH`] in all, recurses more than [`MAX_RECURSION`]
/// calls, or takes more bytes than a record may, writes the truncation marker in its place.
/// `Err` is the value's own serialization error, with nothing written.
pub(crate) fn write_bounded<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
    depth: usize,
) -> Result<(), serde_json::Error> {
    write_within(buf, value, depth, CAPTURE_BYTES.load(Ordering::Relaxed))
}

/// `value` as JSON, bounded in depth and recursion as [`write_bounded`] says but not in
/// bytes: values handed over explicitly (an update's input or output) are cut by size on the
/// worker, which says by how much. A value that fails to serialize becomes a string saying
/// why.
pub(crate) fn bounded_json<T: Serialize + ?Sized>(value: &T) -> Json {
    let mut buf = Vec::new();
    match write_within(&mut buf, value, 0, usize::MAX) {
        // serde_json writes valid UTF-8; checked anyway, off the hot path.
        Ok(()) => match String::from_utf8(buf) {
            Ok(text) => Json::from_raw(text),
            Err(e) => Json::string(&format!("<not serializable: {e}>")),
        },
        Err(e) => Json::string(&format!("<not serializable: {e}>")),
    }
}

fn write_within<T: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    value: &T,
    depth: usize,
    max_bytes: usize,
) -> Result<(), serde_json::Error> {
    let at = buf.len();
    let walk = Walk {
        depth: Cell::new(depth),
        calls: Cell::new(0),
        stop: Cell::new(None),
    };
    // The writer by value, not `&mut`: std's forwarding impl for `&mut W` is not inlined.
    let mut serializer = serde_json::Serializer::new(Capped {
        buf: &mut *buf,
        end: at.saturating_add(max_bytes),
        refused: 0,
    });
    let result = Guarded { value, walk: &walk }.serialize(&mut serializer);
    let refused = serializer.into_inner().refused;
    // A refused write stops the walk even when the value's own code swallowed the error.
    let stop = walk.stop.get().or((refused > 0).then_some(Stop::Bytes));
    match stop {
        None => {
            if result.is_err() {
                buf.truncate(at);
            }
            result
        }
        Some(stop) => {
            // What was written before the stop: the marker says "at least" this much.
            let seen = buf.len() - at + refused;
            buf.truncate(at);
            write_marker(buf, stop, seen, max_bytes);
            Ok(())
        }
    }
}

/// Writes the marker for a value the walk stopped in, and says so once per process.
#[cold]
#[inline(never)]
fn write_marker(buf: &mut Vec<u8>, stop: Stop, seen: usize, max_bytes: usize) {
    let reason = match stop {
        Stop::Depth => depth_reason(),
        Stop::Recursion => format!("serialization recursed deeper than {MAX_RECURSION} calls"),
        Stop::Bytes => size_reason(max_bytes),
    };
    buf.extend_from_slice(marker(seen, &reason).as_str().as_bytes());
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "observe: a captured value was replaced by a truncation marker while it was \
             serialized ({reason}); later ones are not logged (limits in docs/CONFIGURATION.md)"
        );
    }
}

/// A writer that takes bytes up to `end` of the buffer, and refuses the rest.
struct Capped<'a> {
    buf: &'a mut Vec<u8>,
    end: usize,
    /// Bytes refused.
    refused: usize,
}

impl io::Write for Capped<'_> {
    #[inline]
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.refused > 0 || self.buf.len() + data.len() > self.end {
            self.refused += data.len();
            return Err(io::Error::other("observe: value over the record limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    #[inline]
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.write(data).map(|_| ())
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// One level of the value: counts the call, and serializes through [`Bounded`].
struct Guarded<'a, T: ?Sized> {
    value: &'a T,
    walk: &'a Walk,
}

impl<T: Serialize + ?Sized> Serialize for Guarded<'_, T> {
    #[inline]
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let walk = self.walk;
        let calls = walk.calls.get() + 1;
        if calls > MAX_RECURSION {
            return Err(walk.stop(Stop::Recursion));
        }
        walk.calls.set(calls);
        let result = self.value.serialize(Bounded {
            inner: serializer,
            walk,
        });
        walk.calls.set(calls - 1);
        result
    }
}

/// A serializer that forwards to `inner`, with every value inside a compound (and inside a
/// newtype or `Some`) wrapped in [`Guarded`], and every compound counted as levels.
struct Bounded<'a, S> {
    inner: S,
    walk: &'a Walk,
}

/// A compound of [`Bounded`]: its elements guarded, its levels closed at its end.
struct Compound<'a, C> {
    inner: C,
    walk: &'a Walk,
    levels: usize,
}

impl<'a, S: Serializer> Bounded<'a, S> {
    fn compound<C>(
        walk: &'a Walk,
        levels: usize,
        open: impl FnOnce() -> Result<C, S::Error>,
    ) -> Result<Compound<'a, C>, S::Error> {
        walk.open::<S::Error>(levels)?;
        Ok(Compound {
            inner: open()?,
            walk,
            levels,
        })
    }
}

impl<C> Compound<'_, C> {
    fn guard<'v, T: ?Sized>(&self, value: &'v T) -> Guarded<'v, T>
    where
        Self: 'v,
    {
        Guarded {
            value,
            walk: self.walk,
        }
    }

    fn end(&self) {
        self.walk.close(self.levels);
    }
}

/// Forwards a scalar `serialize_*` method unchanged.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(#[inline]
        fn $name(self, $($arg: $ty),*) -> Result<S::Ok, S::Error> {
            self.inner.$name($($arg),*)
        })*
    };
}

impl<'a, S: Serializer> Serializer for Bounded<'a, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<'a, S::SerializeSeq>;
    type SerializeTuple = Compound<'a, S::SerializeTuple>;
    type SerializeTupleStruct = Compound<'a, S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<'a, S::SerializeTupleVariant>;
    type SerializeMap = Compound<'a, S::SerializeMap>;
    type SerializeStruct = Compound<'a, S::SerializeStruct>;
    type SerializeStructVariant = Compound<'a, S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_f32(v: f32);
        serialize_f64(v: f64);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = Guarded {
            value,
            walk: self.walk,
        };
        self.inner.serialize_some(&value)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = Guarded {
            value,
            walk: self.walk,
        };
        self.inner.serialize_newtype_struct(name, &value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // `{"Variant": value}`: one level around the value.
        self.walk.open::<S::Error>(1)?;
        let value = Guarded {
            value,
            walk: self.walk,
        };
        let result = self
            .inner
            .serialize_newtype_variant(name, index, variant, &value);
        self.walk.close(1);
        result
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let inner = self.inner;
        Self::compound(self.walk, 1, || inner.serialize_seq(len))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let inner = self.inner;
        Self::compound(self.walk, 1, || inner.serialize_tuple(len))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let inner = self.inner;
        Self::compound(self.walk, 1, || inner.serialize_tuple_struct(name, len))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        // `{"Variant": [...]}`: two levels.
        let inner = self.inner;
        Self::compound(self.walk, 2, || {
            inner.serialize_tuple_variant(name, index, variant, len)
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let inner = self.inner;
        Self::compound(self.walk, 1, || inner.serialize_map(len))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let inner = self.inner;
        Self::compound(self.walk, 1, || inner.serialize_struct(name, len))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        // `{"Variant": {...}}`: two levels.
        let inner = self.inner;
        Self::compound(self.walk, 2, || {
            inner.serialize_struct_variant(name, index, variant, len)
        })
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

/// The compounds whose parts are values alone (sequences, tuples): each part guarded.
macro_rules! values_compound {
    ($($trait:ident :: $method:ident;)*) => {$(
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            #[inline]
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let value = self.guard(value);
                self.inner.$method(&value)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                Compound::end(&self);
                self.inner.end()
            }
        }
    )*};
}

values_compound! {
    SerializeSeq::serialize_element;
    SerializeTuple::serialize_element;
    SerializeTupleStruct::serialize_field;
    SerializeTupleVariant::serialize_field;
}

/// The compounds whose parts are named fields (structs): each value guarded.
macro_rules! fields_compound {
    ($($trait:ident;)*) => {$(
        impl<C: ser::$trait> ser::$trait for Compound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;
            #[inline]
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                let value = self.guard(value);
                self.inner.serialize_field(key, &value)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                Compound::end(&self);
                self.inner.end()
            }
        }
    )*};
}

fields_compound! {
    SerializeStruct;
    SerializeStructVariant;
}

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;
    #[inline]
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let key = self.guard(key);
        self.inner.serialize_key(&key)
    }
    #[inline]
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.guard(value);
        self.inner.serialize_value(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        Compound::end(&self);
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded<T: Serialize + ?Sized>(value: &T, depth: usize) -> serde_json::Value {
        let mut buf = Vec::new();
        write_bounded(&mut buf, value, depth).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    fn nested(levels: usize) -> serde_json::Value {
        let text = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn a_value_within_the_limits_is_written_as_serde_json_writes_it() {
        #[derive(serde::Serialize)]
        enum E {
            Tuple(u8, u8),
            Struct { a: Option<u8> },
            New(Vec<u8>),
            Unit,
        }
        let value = (
            vec![
                E::Tuple(1, 2),
                E::Struct { a: None },
                E::New(vec![3]),
                E::Unit,
            ],
            std::collections::BTreeMap::from([("k", [1.5, 2.0])]),
            Some("text"),
        );
        let mut buf = Vec::new();
        write_bounded(&mut buf, &value, 0).unwrap();
        assert_eq!(buf, serde_json::to_vec(&value).unwrap());
    }

    #[test]
    fn depth_counts_the_levels_around_the_value() {
        assert_eq!(bounded(&nested(MAX_JSON_DEPTH), 0), nested(MAX_JSON_DEPTH));
        let cut = bounded(&nested(MAX_JSON_DEPTH), 1);
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["reason"], depth_reason());
        // A variant's object counts as a level.
        #[derive(serde::Serialize)]
        enum Wrap {
            V(serde_json::Value),
        }
        let cut = bounded(&Wrap::V(nested(MAX_JSON_DEPTH)), 0);
        assert_eq!(cut["truncated"], true);
    }

    #[test]
    fn bytes_past_the_record_limit_stop_the_walk() {
        let big = vec!["x".repeat(1000); 2_000];
        let cut = bounded(&big, 0);
        assert_eq!(cut["truncated"], true);
        assert_eq!(cut["reason"], size_reason(1_000_000));
        assert!(cut["original_bytes"].as_u64().unwrap() > 1_000_000);
    }

    #[test]
    fn an_error_of_the_value_itself_writes_nothing() {
        struct Fails;
        impl Serialize for Fails {
            fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(ser::Error::custom("no"))
            }
        }
        let mut buf = b"[".to_vec();
        assert!(write_bounded(&mut buf, &vec![Fails], 0).is_err());
        assert_eq!(buf, b"[");
    }
}
