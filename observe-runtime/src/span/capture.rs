//! What `#[observe]` captures: the input object built in a pooled buffer
//! ([`InputWriter`]), and the output through the sink the emitted closure writes to
//! ([`OutputSink`]). Scalars and short text go into the buffer raw, for the worker to write
//! as JSON (see [`crate::capture_buf`]); everything else is serialized here, on the caller's
//! thread, while the value can still be read.

use serde::Serialize;

use crate::capture_buf::{CaptureBuf, Scalar};
use crate::context::Frame;
use crate::model::Level;

/// Where the emitted `on_output` closure records the result.
///
/// It holds the frame, not its fields: the user code that builds the output may itself update
/// the observation, and the fields are borrowed (`Frame::with_open`) only once that code
/// has returned.
pub struct OutputSink<'a> {
    frame: &'a Frame,
    capture: bool,
}

impl OutputSink<'_> {
    /// True when output capture is on (a reducer folds the value only then).
    #[inline]
    pub fn captures(&self) -> bool {
        self.capture
    }

    /// Records the output written by `write`, which runs only when output capture is on,
    /// in a buffer of its own: `write` may run user code (`Serialize`, `Debug`), which may
    /// reach this observation, so the fields are borrowed only once it has returned.
    #[inline]
    fn output_with(&mut self, write: impl FnOnce(&mut CaptureBuf)) {
        if self.capture {
            let mut buf = CaptureBuf::new();
            write(&mut buf);
            self.frame.set_captured_output(buf);
        }
    }

    /// Records a `Serialize` value as the output, serialized now.
    #[inline]
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.output_with(|buf| buf.value(value, 0));
    }

    /// Records a scalar as the output, for the worker to write.
    #[inline]
    pub(crate) fn scalar(&mut self, value: Scalar) {
        self.append_output(|buf| buf.scalar(value));
    }

    /// Records text as the output (a JSON string).
    #[inline]
    pub(crate) fn text(&mut self, text: &str) {
        self.append_output(|buf| buf.text(text));
    }

    /// Records the output written by `write`, which runs only when output capture is on,
    /// after the input in the input's buffer (see [`Frame::append_captured_output`]).
    /// `write` runs no user code: the fields are borrowed while it runs.
    #[inline]
    fn append_output(&mut self, write: impl FnOnce(&mut CaptureBuf)) {
        if self.capture {
            self.frame.append_captured_output(write);
        }
    }

    /// Records a value's `Debug` text as the output (a JSON string).
    pub(crate) fn debug<T: std::fmt::Debug + ?Sized>(&mut self, value: &T) {
        self.output_with(|buf| buf.debug(value));
    }

    /// Sets level `ERROR` and the status message, whatever capture says.
    pub fn error(&mut self, message: String) {
        self.frame.with_open(|open| {
            open.level = Level::Error;
            open.details_mut().status_message = Some(message);
        });
    }
}

/// Builds the input object `{"arg": value, ...}` in one pooled buffer.
///
/// Each value comes after its key: the JSON text before the value, which `#[observe]`
/// writes out when it expands (`{"first":` for the first parameter, `,"next":` for each
/// one after it), so that a key is one copy with no punctuation to work out.
#[derive(Debug)]
pub struct InputWriter {
    buf: CaptureBuf,
}

impl Default for InputWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl InputWriter {
    /// An empty object.
    #[inline]
    pub fn new() -> InputWriter {
        InputWriter {
            buf: CaptureBuf::new(),
        }
    }

    #[inline]
    fn key(&mut self, key: &str) {
        self.buf.push_bytes(key.as_bytes());
    }

    /// `key` and the value, serialized now.
    #[inline]
    pub(crate) fn serialize<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        // Inside the input object: one level is open around the value.
        self.buf.value(value, 1);
    }

    /// `key` and a scalar, written by the worker.
    #[inline]
    pub(crate) fn scalar(&mut self, key: &str, value: Scalar) {
        self.key(key);
        self.buf.scalar(value);
    }

    /// `key` and text, as a JSON string.
    #[inline]
    pub(crate) fn text(&mut self, key: &str, text: &str) {
        self.key(key);
        self.buf.text(text);
    }

    /// `key` and a value's debug text, as a JSON string.
    pub(crate) fn debug<T: std::fmt::Debug + ?Sized>(&mut self, key: &str, value: &T) {
        self.key(key);
        self.buf.debug(value);
    }

    /// The object, closed (`{}` when nothing was written).
    #[inline]
    pub(crate) fn finish(mut self) -> CaptureBuf {
        if self.buf.len() == 0 {
            self.buf.push_bytes(b"{");
        }
        self.buf.push_bytes(b"}");
        self.buf
    }
}

/// Calls `on_output` with a sink over `frame`'s fields. The caller has entered the frame, so
/// that the user code `on_output` runs (`Serialize`, `Display`) sees this observation as the
/// current one; the sink touches the fields only after that code has returned.
#[inline]
pub(crate) fn record_output<R>(
    frame: &Frame,
    value: &R,
    on_output: impl FnOnce(&R, &mut OutputSink<'_>),
) {
    let Some(capture) = frame.captures_output() else {
        return;
    };
    on_output(value, &mut OutputSink { frame, capture });
}
