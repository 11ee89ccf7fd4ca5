//! What the code `#[observe]` emits calls into. Not a public API: names and signatures may
//! change in any release. docs/MACRO_CONTRACT.md describes the expansion.
//!
//! Only glue: the names the emitted code uses, re-exported from where they live (the span's
//! life in `crate::span`, streams in `crate::stream`), and the autoref specializations
//! that pick, by a value's type, how it is captured, reported or observed.

use std::any::type_name;
use std::cell::Cell;
use std::fmt::{Debug, Display};
use std::pin::Pin;

use serde::Serialize;

pub use crate::capture_buf::Scalar;
pub use crate::model::{Json, ObservationType};
pub use crate::span::{
    InputWriter, Instrumented, InstrumentedOpen, Meta, OutputSink, Span, SyncSpan,
};
pub use crate::stream::{ItemSink, Observed, TextChunk};

/// Autoref specialization: `(&&&&&Capture(&value))` captures a scalar (a copy of its bits)
/// or text (its bytes) for the worker to write as JSON, else serializes by `Serialize` now,
/// else `Debug`, else the type's name.
pub struct Capture<'a, T: ?Sized>(pub &'a T);

/// A primitive whose value the worker writes as JSON: a copy of it goes with the record, so
/// its formatting leaves the caller's thread.
///
/// Implemented for the primitive numbers, `bool` and `char`, and references to them. A
/// trait of its own rather than a bound on `Copy + Send + 'static`: trait selection does not
/// see lifetimes, so a `'static` bound would be chosen for a `&'a T` too and then refused by
/// the borrow checker instead of falling through to `Serialize`.
pub trait ScalarValue {
    /// The value as the worker will write it.
    fn scalar(&self) -> Scalar;
}

macro_rules! scalar_value {
    ($($variant:ident($as:ty): $($t:ty),*;)*) => {$($(
        impl ScalarValue for $t {
            // Widening, or the same type: lossless.
            #[allow(clippy::unnecessary_cast, clippy::cast_lossless)]
            #[inline]
            fn scalar(&self) -> Scalar {
                Scalar::$variant(*self as $as)
            }
        }
    )*)*};
}

scalar_value! {
    U64(u64): u8, u16, u32, u64, usize;
    I64(i64): i8, i16, i32, i64, isize;
    U128(u128): u128;
    I128(i128): i128;
    F32(f32): f32;
    F64(f64): f64;
}

impl ScalarValue for bool {
    #[inline]
    fn scalar(&self) -> Scalar {
        Scalar::Bool(*self)
    }
}

impl ScalarValue for char {
    #[inline]
    fn scalar(&self) -> Scalar {
        Scalar::Char(*self)
    }
}

impl<T: ScalarValue + ?Sized> ScalarValue for &T {
    #[inline]
    fn scalar(&self) -> Scalar {
        (**self).scalar()
    }
}

impl<T: ScalarValue + ?Sized> ScalarValue for &mut T {
    #[inline]
    fn scalar(&self) -> Scalar {
        (**self).scalar()
    }
}

/// Text whose `Serialize` form is the JSON string of its characters: its bytes go with the
/// record as they are, and the worker escapes them.
pub trait TextValue {
    /// The text.
    fn text(&self) -> &str;
}

impl TextValue for str {
    #[inline]
    fn text(&self) -> &str {
        self
    }
}

impl TextValue for String {
    #[inline]
    fn text(&self) -> &str {
        self
    }
}

impl TextValue for Box<str> {
    #[inline]
    fn text(&self) -> &str {
        self
    }
}

impl TextValue for std::borrow::Cow<'_, str> {
    #[inline]
    fn text(&self) -> &str {
        self
    }
}

impl<T: TextValue + ?Sized> TextValue for &T {
    #[inline]
    fn text(&self) -> &str {
        (**self).text()
    }
}

impl<T: TextValue + ?Sized> TextValue for &mut T {
    #[inline]
    fn text(&self) -> &str {
        (**self).text()
    }
}

/// Capture of a scalar, written by the worker (preferred).
pub trait CaptureScalar {
    /// Writes `key` (see [`InputWriter`]) and the value into the input object.
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter);
    /// Records the value as the output.
    fn capture_output(&self, sink: &mut OutputSink<'_>);
}

/// Capture of text, escaped by the worker.
pub trait CaptureText {
    /// Writes `key` (see [`InputWriter`]) and the text into the input object.
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter);
    /// Records the text as the output.
    fn capture_output(&self, sink: &mut OutputSink<'_>);
}

/// Capture through `Serialize`, on the caller's thread.
pub trait CaptureSerialize {
    /// Writes `key` (see [`InputWriter`]) and the value into the input object.
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter);
    /// Records the value as the output.
    fn capture_output(&self, sink: &mut OutputSink<'_>);
}

/// Capture through `Debug`: the value's debug text as a JSON string.
pub trait CaptureDebug {
    /// Writes `key` (see [`InputWriter`]) and the debug text into the input object.
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter);
    /// Records the debug text as the output.
    fn capture_output(&self, sink: &mut OutputSink<'_>);
}

/// Neither: the type's name, so the user sees what was left out.
pub trait CaptureOpaque {
    /// Writes `key` (see [`InputWriter`]) and `"<not captured: Type>"`.
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter);
    /// Records `"<not captured: Type>"` as the output.
    fn capture_output(&self, sink: &mut OutputSink<'_>);
}

impl<T: ScalarValue + ?Sized> CaptureScalar for &&&&Capture<'_, T> {
    #[inline]
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter) {
        writer.scalar(key, self.0.scalar());
    }
    #[inline]
    fn capture_output(&self, sink: &mut OutputSink<'_>) {
        sink.scalar(self.0.scalar());
    }
}

impl<T: TextValue + ?Sized> CaptureText for &&&Capture<'_, T> {
    #[inline]
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter) {
        writer.text(key, self.0.text());
    }
    #[inline]
    fn capture_output(&self, sink: &mut OutputSink<'_>) {
        sink.text(self.0.text());
    }
}

impl<T: Serialize + ?Sized> CaptureSerialize for &&Capture<'_, T> {
    #[inline]
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter) {
        writer.serialize(key, self.0);
    }
    #[inline]
    fn capture_output(&self, sink: &mut OutputSink<'_>) {
        sink.value(self.0);
    }
}

impl<T: Debug + ?Sized> CaptureDebug for &Capture<'_, T> {
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter) {
        writer.debug(key, self.0);
    }
    fn capture_output(&self, sink: &mut OutputSink<'_>) {
        sink.debug(self.0);
    }
}

impl<T: ?Sized> CaptureOpaque for Capture<'_, T> {
    fn capture_into(&self, key: &'static str, writer: &mut InputWriter) {
        writer.text(key, &opaque::<T>());
    }
    fn capture_output(&self, sink: &mut OutputSink<'_>) {
        sink.text(&opaque::<T>());
    }
}

fn opaque<T: ?Sized>() -> String {
    format!(
        "<not captured: {} is neither Serialize nor Debug>",
        type_name::<T>()
    )
}

/// Autoref specialization for error text: `(&&&ErrorText(&err)).error_text()` uses `Display`,
/// else `Debug`, else the type's name.
pub struct ErrorText<'a, T: ?Sized>(pub &'a T);

/// Error text through `Display` (preferred).
pub trait ErrorDisplay {
    /// The error's text.
    fn error_text(&self) -> String;
}

/// Error text through `Debug`.
pub trait ErrorDebug {
    /// The error's debug text.
    fn error_text(&self) -> String;
}

/// Error text when the error is neither `Display` nor `Debug`.
pub trait ErrorOpaque {
    /// The error type's name.
    fn error_text(&self) -> String;
}

impl<T: Display + ?Sized> ErrorDisplay for &&ErrorText<'_, T> {
    fn error_text(&self) -> String {
        self.0.to_string()
    }
}

impl<T: Debug + ?Sized> ErrorDebug for &ErrorText<'_, T> {
    fn error_text(&self) -> String {
        format!("{:?}", self.0)
    }
}

impl<T: ?Sized> ErrorOpaque for ErrorText<'_, T> {
    fn error_text(&self) -> String {
        format!("error of type {}", type_name::<T>())
    }
}

/// Autoref specialization on a return value's type: `(&&ResultOf(&value)).as_result()` is the
/// `Result` itself when the value is one (whatever alias names it), else `Ok(&value)`.
pub struct ResultOf<'a, T: ?Sized>(pub &'a T);

/// See [`ResultOf`].
pub trait AsResult<'a> {
    /// The success type (the value's own type when it is not a `Result`).
    type Ok: ?Sized + 'a;
    /// The error type (`Infallible` when the value is not a `Result`).
    type Err: ?Sized + 'a;
    /// The value as a `Result` of references.
    fn as_result(&self) -> Result<&'a Self::Ok, &'a Self::Err>;
}

impl<'a, T: 'a, E: 'a> AsResult<'a> for &ResultOf<'a, Result<T, E>> {
    type Ok = T;
    type Err = E;
    #[inline]
    fn as_result(&self) -> Result<&'a T, &'a E> {
        self.0.as_ref()
    }
}

impl<'a, T: ?Sized + 'a> AsResult<'a> for ResultOf<'a, T> {
    type Ok = T;
    type Err = std::convert::Infallible;
    #[inline]
    fn as_result(&self) -> Result<&'a T, &'a std::convert::Infallible> {
        Ok(self.0)
    }
}

/// Autoref specialization: `(&&UnitOf(&value)).is_unit()` is true for `()`, which records no
/// output.
pub struct UnitOf<'a, T: ?Sized>(pub &'a T);

/// See [`UnitOf`].
pub trait IsUnit {
    /// True for `()`.
    fn is_unit(&self) -> bool;
}

impl IsUnit for &UnitOf<'_, ()> {
    #[inline]
    fn is_unit(&self) -> bool {
        true
    }
}

impl<T: ?Sized> IsUnit for UnitOf<'_, T> {
    #[inline]
    fn is_unit(&self) -> bool {
        false
    }
}

/// Autoref specialization for one stream item: `(&&&&Chunk(&item)).record_chunk(sink)`
/// appends its text ([`TextChunk`]), else its `Serialize` form, else its `Debug` text, else
/// its type name.
pub struct Chunk<'a, T: ?Sized>(pub &'a T);

/// Text items (preferred).
pub trait ChunkText {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

/// Items with a `Serialize` form.
pub trait ChunkSerialize {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

/// Items with `Debug` text.
pub trait ChunkDebug {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

/// Anything else: the type name.
pub trait ChunkOpaque {
    /// Appends the item to the output.
    fn record_chunk(&self, sink: &mut ItemSink<'_>);
}

impl<T: TextChunk + ?Sized> ChunkText for &&&Chunk<'_, T> {
    #[inline]
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.text(self.0.chunk_text());
    }
}

impl<T: Serialize + ?Sized> ChunkSerialize for &&Chunk<'_, T> {
    #[inline]
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.json(self.0);
    }
}

impl<T: Debug + ?Sized> ChunkDebug for &Chunk<'_, T> {
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.json(&format!("{:?}", self.0));
    }
}

impl<T: ?Sized> ChunkOpaque for Chunk<'_, T> {
    fn record_chunk(&self, sink: &mut ItemSink<'_>) {
        sink.json(&opaque::<T>());
    }
}

/// The value an observed function returned, before its observation ends. Autoref
/// specialization decides by the value's type how it ends:
/// `(&&&&Returned::new(value)).observe_returned(span, on_output, on_item)` gives
///
/// - a boxed stream or iterator (`Pin<Box<dyn Stream<Item = T> + Send + 'a>>`,
///   `Box<dyn Iterator<Item = T> + 'a>`, ...): the same type, observed until consumed;
/// - a `Stream`: an [`Observed`] stream;
/// - an `Iterator`: an [`Observed`] iterator;
/// - a `Result` or `Option` holding a stream (`Result<impl Stream, E>`): the stream in it
///   observed until consumed; an `Err` recorded, or a `None`, and the observation ended now;
/// - anything else: the value, its observation ended now.
///
/// The emitted code calls this only when the declared return type can hold a wrapper
/// (`impl Trait`, a boxed `dyn`), so the `Observed` levels never meet a named type.
pub struct Returned<R>(Cell<Option<R>>);

impl<R> Returned<R> {
    /// Holds the value until one of the levels takes it.
    #[inline]
    pub fn new(value: R) -> Self {
        Returned(Cell::new(Some(value)))
    }

    #[inline]
    fn take(&self) -> R {
        match self.0.take() {
            Some(value) => value,
            // The emitted code makes one `Returned` and takes it once.
            None => unreachable!("a returned value is taken once"),
        }
    }
}

/// A boxed stream or iterator: observed, boxed again as the same type.
pub trait ObserveBoxed {
    /// The boxed type.
    type Value;
    /// Its items.
    type Item;
    /// See [`Returned`].
    fn observe_returned<C, I>(&self, span: Span, on_output: C, on_item: I) -> Self::Value
    where
        C: FnOnce(&Self::Value, &mut OutputSink<'_>),
        I: FnMut(&Self::Item, &mut ItemSink<'_>) + Send + 'static;
}

/// A stream: observed until consumed.
pub trait ObserveStream {
    /// The stream's type.
    type Stream: futures_core::Stream;
    /// See [`Returned`].
    fn observe_returned<C, I>(
        &self,
        span: Span,
        on_output: C,
        on_item: I,
    ) -> Observed<Self::Stream, I>
    where
        C: FnOnce(&Self::Stream, &mut OutputSink<'_>),
        I: FnMut(&<Self::Stream as futures_core::Stream>::Item, &mut ItemSink<'_>);
}

/// An iterator: observed until consumed.
pub trait ObserveIterator {
    /// The iterator's type.
    type Iter: Iterator;
    /// See [`Returned`].
    fn observe_returned<C, I>(
        &self,
        span: Span,
        on_output: C,
        on_item: I,
    ) -> Observed<Self::Iter, I>
    where
        C: FnOnce(&Self::Iter, &mut OutputSink<'_>),
        I: FnMut(&<Self::Iter as Iterator>::Item, &mut ItemSink<'_>);
}

/// Any other value: recorded, and its observation ended, now.
pub trait ObserveValue {
    /// The value's type.
    type Value;
    /// See [`Returned`].
    fn observe_returned<C, I>(&self, span: Span, on_output: C, on_item: I) -> Self::Value
    where
        C: FnOnce(&Self::Value, &mut OutputSink<'_>),
        I: FnMut(&Self::Value, &mut ItemSink<'_>);
}

macro_rules! observe_boxed_stream {
    ($([$($bounds:tt)*];)*) => {$(
        impl<'a, T: 'a> ObserveBoxed
            for &&&Returned<Pin<Box<dyn futures_core::Stream<Item = T> $($bounds)* + 'a>>>
        {
            type Value = Pin<Box<dyn futures_core::Stream<Item = T> $($bounds)* + 'a>>;
            type Item = T;
            fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Self::Value
            where
                C: FnOnce(&Self::Value, &mut OutputSink<'_>),
                I: FnMut(&T, &mut ItemSink<'_>) + Send + 'static,
            {
                Box::pin(Observed::new(self.take(), span, on_item))
            }
        }
    )*};
}

observe_boxed_stream! {
    [+ Send];
    [];
}

macro_rules! observe_boxed_iter {
    ($([$($bounds:tt)*];)*) => {$(
        impl<'a, T: 'a> ObserveBoxed for &&&Returned<Box<dyn Iterator<Item = T> $($bounds)* + 'a>> {
            type Value = Box<dyn Iterator<Item = T> $($bounds)* + 'a>;
            type Item = T;
            fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Self::Value
            where
                C: FnOnce(&Self::Value, &mut OutputSink<'_>),
                I: FnMut(&T, &mut ItemSink<'_>) + Send + 'static,
            {
                Box::new(Observed::new(self.take(), span, on_item))
            }
        }
    )*};
}

observe_boxed_iter! {
    [+ Send];
    [];
}

impl<S: futures_core::Stream> ObserveStream for &&Returned<S> {
    type Stream = S;
    #[inline]
    fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Observed<S, I>
    where
        C: FnOnce(&S, &mut OutputSink<'_>),
        I: FnMut(&S::Item, &mut ItemSink<'_>),
    {
        Observed::new(self.take(), span, on_item)
    }
}

impl<It: Iterator> ObserveIterator for &Returned<It> {
    type Iter = It;
    #[inline]
    fn observe_returned<C, I>(&self, span: Span, _: C, on_item: I) -> Observed<It, I>
    where
        C: FnOnce(&It, &mut OutputSink<'_>),
        I: FnMut(&It::Item, &mut ItemSink<'_>),
    {
        Observed::new(self.take(), span, on_item)
    }
}

impl<R> ObserveValue for Returned<R> {
    type Value = R;
    #[inline]
    fn observe_returned<C, I>(&self, mut span: Span, on_output: C, _: I) -> R
    where
        C: FnOnce(&R, &mut OutputSink<'_>),
        I: FnMut(&R, &mut ItemSink<'_>),
    {
        let value = self.take();
        span.complete(&value, on_output);
        value
    }
}

/// A `Result` whose `Ok` is a stream (`-> Result<impl Stream<Item = T>, E>`, the usual
/// "validate, then stream"): `Ok` gives the stream observed until it ends; `Err` is recorded
/// (level ERROR) and its observation ended now.
pub trait ObserveOkStream {
    /// The stream in `Ok`.
    type Stream: futures_core::Stream;
    /// The error in `Err`.
    type Error;
    /// See [`Returned`].
    #[allow(clippy::type_complexity)]
    fn observe_returned<C, I>(
        &self,
        span: Span,
        on_output: C,
        on_item: I,
    ) -> Result<Observed<Self::Stream, I>, Self::Error>
    where
        C: FnOnce(&Result<Self::Stream, Self::Error>, &mut OutputSink<'_>),
        I: FnMut(&<Self::Stream as futures_core::Stream>::Item, &mut ItemSink<'_>);
}

/// An `Option` whose `Some` is a stream: `Some` gives the stream observed until it ends;
/// `None` ends its observation now, without an output.
pub trait ObserveSomeStream {
    /// The stream in `Some`.
    type Stream: futures_core::Stream;
    /// See [`Returned`].
    fn observe_returned<C, I>(
        &self,
        span: Span,
        on_output: C,
        on_item: I,
    ) -> Option<Observed<Self::Stream, I>>
    where
        C: FnOnce(&Option<Self::Stream>, &mut OutputSink<'_>),
        I: FnMut(&<Self::Stream as futures_core::Stream>::Item, &mut ItemSink<'_>);
}

impl<S: futures_core::Stream, E> ObserveOkStream for &&&Returned<Result<S, E>> {
    type Stream = S;
    type Error = E;
    fn observe_returned<C, I>(
        &self,
        mut span: Span,
        on_output: C,
        on_item: I,
    ) -> Result<Observed<S, I>, E>
    where
        C: FnOnce(&Result<S, E>, &mut OutputSink<'_>),
        I: FnMut(&S::Item, &mut ItemSink<'_>),
    {
        let value = self.take();
        if value.is_err() {
            span.complete(&value, on_output);
        }
        // On `Err` the closure does not run: the ended span is dropped with it.
        value.map(|stream| Observed::new(stream, span, on_item))
    }
}

impl<S: futures_core::Stream> ObserveSomeStream for &&&Returned<Option<S>> {
    type Stream = S;
    fn observe_returned<C, I>(&self, mut span: Span, _: C, on_item: I) -> Option<Observed<S, I>>
    where
        C: FnOnce(&Option<S>, &mut OutputSink<'_>),
        I: FnMut(&S::Item, &mut ItemSink<'_>),
    {
        let value = self.take();
        if value.is_none() {
            // Nothing was returned, so there is nothing to record as the output.
            span.complete(&value, |_, _| {});
        }
        value.map(|stream| Observed::new(stream, span, on_item))
    }
}

/// What `#[observe(stream = true)]` checks the returned value against.
#[diagnostic::on_unimplemented(
    message = "`#[observe(stream = true)]` needs a function that returns a `Stream` or an `Iterator`, not `{Self}`",
    label = "not a `Stream` or an `Iterator`"
)]
pub trait StreamLike<Marker> {}

/// Marks [`StreamLike`] through `Stream`.
pub struct ThroughStream;
/// Marks [`StreamLike`] through `Iterator`.
pub struct ThroughIterator;

impl<S: futures_core::Stream> StreamLike<ThroughStream> for S {}
impl<I: Iterator> StreamLike<ThroughIterator> for I {}

/// Fails to compile unless `value` is a stream or an iterator.
#[inline]
pub fn require_stream<M, T: StreamLike<M>>(_value: &T) {}

/// What `#[observe(stream = true)]` checks a named return type against: only a boxed `dyn`
/// stream or iterator can be observed and still be that type.
#[diagnostic::on_unimplemented(
    message = "`#[observe(stream = true)]` needs a function that returns a `Stream` or an `Iterator`, not `{Self}`",
    label = "not `impl Stream`, `impl Iterator`, or a boxed `dyn` one",
    note = "return `impl Stream<Item = T>`, `Pin<Box<dyn Stream<Item = T> + Send>>` (`BoxStream`), `impl Iterator<Item = T>` or `Box<dyn Iterator<Item = T>>`"
)]
pub trait BoxedStreamLike {}

impl<T> BoxedStreamLike for Pin<Box<dyn futures_core::Stream<Item = T> + Send + '_>> {}
impl<T> BoxedStreamLike for Pin<Box<dyn futures_core::Stream<Item = T> + '_>> {}
impl<T> BoxedStreamLike for Box<dyn Iterator<Item = T> + Send + '_> {}
impl<T> BoxedStreamLike for Box<dyn Iterator<Item = T> + '_> {}

/// Fails to compile unless `value` is a boxed `dyn` stream or iterator.
#[inline]
pub fn require_boxed_stream<T: BoxedStreamLike>(_value: &T) {}

/// A `Result` or an `Option`, and what its success holds.
#[diagnostic::on_unimplemented(
    message = "`#[observe(stream = true)]` needs a function that returns a `Stream`, an `Iterator`, or a `Result` or an `Option` holding a `Stream`, not `{Self}`",
    label = "not a `Result` or an `Option` holding a `Stream`"
)]
pub trait Holds {
    /// The `Ok` or `Some` type.
    type Inner;
}

impl<T, E> Holds for Result<T, E> {
    type Inner = T;
}

impl<T> Holds for Option<T> {
    type Inner = T;
}

/// What `#[observe(stream = true)]` checks the `impl Trait` in a `Result<impl Trait, E>` or
/// an `Option<impl Trait>` against.
#[diagnostic::on_unimplemented(
    message = "`#[observe(stream = true)]` needs a function that returns a `Stream` (here in a `Result` or an `Option`), not `{Self}`",
    label = "not a `Stream`"
)]
pub trait InnerStream {}

impl<S: futures_core::Stream> InnerStream for S {}

/// Fails to compile unless `value` is a `Result` or an `Option` holding a stream.
#[inline]
pub fn require_inner_stream<V: Holds>(_value: &V)
where
    V::Inner: InnerStream,
{
}
