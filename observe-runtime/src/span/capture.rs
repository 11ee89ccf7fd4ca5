//! What `#[observe]` captures: the input object built in one reusable buffer
//! ([`InputWriter`]), and the output through the sink the emitted closure writes to
//! ([`OutputSink`]).

use std::cell::Cell;

use serde::Serialize;

use crate::context::Frame;
use crate::limits::write_bounded;
use crate::model::{Json, Level};

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
    /// Records the output; `value` runs only when output capture is on.
    #[inline]
    pub fn output(&mut self, value: impl FnOnce() -> Json) {
        if self.capture {
            let value = value();
            self.frame.with_open(|open| open.output = Some(value));
        }
    }

    /// Sets level `ERROR` and the status message, whatever capture says.
    pub fn error(&mut self, message: String) {
        self.frame.with_open(|open| {
            open.level = Level::Error;
            open.details_mut().status_message = Some(message);
        });
    }
}

/// Builds the input object `{"arg": value, ...}` in one buffer.
#[derive(Debug)]
pub struct InputWriter {
    buf: Vec<u8>,
}

impl Default for InputWriter {
    fn default() -> Self {
        Self::new()
    }
}

thread_local! {
    /// A buffer reused for the JSON that `#[observe]` captures on this thread, so that a
    /// capture allocates only its exact-size result (no growth, no shrinking copy).
    static SCRATCH: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The thread's scratch buffer, empty; a fresh one when it is in use (a `Serialize` impl
/// that itself calls observed code).
fn take_scratch() -> Vec<u8> {
    // `try_with`: during the thread's exit the buffer may be gone; a fresh one then.
    let mut buf = SCRATCH.try_with(Cell::take).unwrap_or_default();
    buf.clear();
    buf
}

/// Gives the buffer back for the next capture, unless one huge value made it too big to keep.
fn return_scratch(buf: Vec<u8>) {
    if buf.capacity() <= 64 * 1024 {
        let _ = SCRATCH.try_with(|s| s.set(buf));
    }
}

/// Exactly-sized JSON from bytes that serde_json wrote (or a truncation marker), with only
/// ASCII punctuation and `&str` keys around them.
fn json_from_bytes(buf: &[u8]) -> Json {
    // SAFETY: serde_json's writer emits valid UTF-8 (it copies `str` data and escapes, and
    // formats numbers in ASCII); the rest is ASCII and `&str` bytes. Checking again costs
    // more than the copy on a small capture.
    Json::from_raw(unsafe { std::str::from_utf8_unchecked(buf) })
}

/// `Json::from_value` through the scratch buffer, bounded in depth and bytes while it
/// serializes (see [`write_bounded`]).
pub(crate) fn json_of<T: Serialize + ?Sized>(value: &T) -> Json {
    let mut buf = take_scratch();
    let json = match write_bounded(&mut buf, value, 0) {
        Ok(()) => json_from_bytes(&buf),
        Err(e) => Json::string(&format!("<not serializable: {e}>")),
    };
    return_scratch(buf);
    json
}

impl InputWriter {
    /// An empty object.
    pub fn new() -> InputWriter {
        let mut buf = take_scratch();
        buf.push(b'{');
        InputWriter { buf }
    }

    fn key(&mut self, name: &str) -> usize {
        let mark = self.buf.len();
        if self.buf.len() > 1 {
            self.buf.push(b',');
        }
        // Parameter names are Rust identifiers: no escaping needed.
        self.buf.push(b'"');
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\":");
        mark
    }

    pub(crate) fn serialize<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) {
        let mark = self.key(name);
        let at = self.buf.len();
        // Inside the input object: one level is open around the value.
        if let Err(e) = write_bounded(&mut self.buf, value, 1) {
            self.buf.truncate(at);
            let _ = serde_json::to_writer(&mut self.buf, &format!("<not serializable: {e}>"));
        }
        debug_assert!(mark < self.buf.len());
    }

    pub(crate) fn text(&mut self, name: &str, text: &str) {
        self.key(name);
        let _ = serde_json::to_writer(&mut self.buf, text);
    }

    #[inline]
    pub(crate) fn finish(mut self) -> Json {
        self.buf.push(b'}');
        // Built from a brace, identifier keys and serde_json output: valid JSON, valid UTF-8.
        let json = json_from_bytes(&self.buf);
        return_scratch(self.buf);
        json
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
