//! The texts a row formats for itself (its times, usage, cost and metadata), kept inside
//! the row rather than each in an allocation of its own. A request of 512 spans formatted
//! about 2,000 small `String`s only to bind each once and free it; the times have a fixed
//! length, and usage and cost nearly always fit in a few dozen bytes, so a row now holds
//! them, and only a longer text (large metadata) still takes a heap block.

use std::io;
use std::ops::Deref;

use observe_model::model::{Timestamp, RFC3339_LEN};

/// A time as RFC 3339 text, or empty when the piece did not give it.
#[derive(Clone, Copy)]
pub(crate) struct Rfc3339Text {
    /// `0` or [`RFC3339_LEN`].
    len: u8,
    bytes: [u8; RFC3339_LEN],
}

impl Rfc3339Text {
    /// The text of `t`, empty for `None`.
    pub(crate) fn of(t: Option<Timestamp>) -> Self {
        let mut text = Rfc3339Text {
            len: 0,
            bytes: [0; RFC3339_LEN],
        };
        if let Some(t) = t {
            t.write_rfc3339(&mut text.bytes);
            text.len = RFC3339_LEN as u8;
        }
        text
    }
}

impl Deref for Rfc3339Text {
    type Target = str;

    fn deref(&self) -> &str {
        // ASCII written by `write_rfc3339`, or nothing.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

/// Bytes held in the row; longer text goes to the heap.
const INLINE: usize = 94;

/// Text of any length, held in the row up to [`INLINE`] bytes.
pub(crate) enum ShortText {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl ShortText {
    /// `value` as JSON; `None` if it cannot be encoded.
    pub(crate) fn json<T: serde::Serialize + ?Sized>(value: &T) -> Option<Self> {
        let mut out = Builder::default();
        serde_json::to_writer(&mut out, value).ok()?;
        out.finish()
    }

    /// A copy of `text`.
    pub(crate) fn copy(text: &str) -> Self {
        let mut out = Builder::default();
        out.push(text.as_bytes());
        // Whole UTF-8 text in, the same out.
        out.finish().unwrap_or(ShortText::Heap(text.into()))
    }
}

impl Deref for ShortText {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            ShortText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            ShortText::Heap(text) => text,
        }
    }
}

/// Fills the row's bytes first, and moves to a `Vec` once they are not enough.
struct Builder {
    len: usize,
    bytes: [u8; INLINE],
    spilled: Option<Vec<u8>>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            len: 0,
            bytes: [0; INLINE],
            spilled: None,
        }
    }
}

impl Builder {
    fn push(&mut self, more: &[u8]) {
        if let Some(spilled) = &mut self.spilled {
            spilled.extend_from_slice(more);
            return;
        }
        match self.bytes.get_mut(self.len..self.len + more.len()) {
            Some(room) => {
                room.copy_from_slice(more);
                self.len += more.len();
            }
            None => {
                let mut spilled = Vec::with_capacity(2 * (self.len + more.len()));
                spilled.extend_from_slice(&self.bytes[..self.len]);
                spilled.extend_from_slice(more);
                self.spilled = Some(spilled);
            }
        }
    }

    /// The text, `None` if it is not UTF-8.
    fn finish(self) -> Option<ShortText> {
        match self.spilled {
            Some(bytes) => String::from_utf8(bytes)
                .ok()
                .map(|s| ShortText::Heap(s.into_boxed_str())),
            None => {
                std::str::from_utf8(&self.bytes[..self.len]).ok()?;
                Some(ShortText::Inline {
                    len: self.len as u8,
                    bytes: self.bytes,
                })
            }
        }
    }
}

impl io::Write for Builder {
    fn write(&mut self, more: &[u8]) -> io::Result<usize> {
        self.push(more);
        Ok(more.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use observe_model::model::{Cost, Usage};

    #[test]
    fn short_and_long_texts_read_back_as_written() {
        for len in [0, 1, INLINE - 1, INLINE, INLINE + 1, 10 * INLINE] {
            let text: String = "é".repeat(len / 2) + &"x".repeat(len % 2);
            assert_eq!(&*ShortText::copy(&text), text);
            let json = serde_json::to_string(&text).unwrap();
            assert_eq!(&*ShortText::json(&text).unwrap(), json);
        }
    }

    #[test]
    fn usage_and_cost_fit_in_the_row_and_match_serde_json() {
        let usage = Usage::new(812, 164);
        let cost = Cost::new(0.000_121_8, 0.000_098_4);
        for (text, json) in [
            (ShortText::json(&usage), serde_json::to_string(&usage)),
            (ShortText::json(&cost), serde_json::to_string(&cost)),
        ] {
            let text = text.unwrap();
            assert!(matches!(text, ShortText::Inline { .. }));
            assert_eq!(&*text, json.unwrap());
        }
    }

    #[test]
    fn times_are_rfc3339_or_empty() {
        let t = Timestamp(1_764_282_066_094_913_000);
        assert_eq!(&*Rfc3339Text::of(Some(t)), t.to_rfc3339());
        assert!(Rfc3339Text::of(None).is_empty());
    }
}
