//! Records as other senders deliver them: in pieces, out of order, with ids as text.
//!
//! The library's own [`Observation`]s are whole: one record per finished span, with 8- and
//! 16-byte ids. What `observe serve` receives is not. Langfuse's ingestion API sends a
//! `span-create` and later a `span-update` with the same id, a `trace-create` with no
//! observation, scores on their own; OpenTelemetry senders may send the same span twice or a
//! child before its parent; and ids are whatever the sender chose (a UUID, `my-trace-1`).
//!
//! A [`Piece`] is one such record. Every field the sender may leave out is an `Option` (or
//! an empty collection), and `None` means *the sender did not say*: a store merges a piece
//! into what it holds for the same id, the fields the piece gives replacing the stored
//! ones and the rest kept. Ids are kept exactly as the sender spelled them.
//!
//! ```
//! use observe_model::model::{Level, ObservationType, Timestamp};
//! use observe_model::piece::{ObservationPiece, Piece};
//!
//! // A `span-update` that arrived before its `span-create`: only the end and the level.
//! let update = ObservationPiece {
//!     end: Some(Timestamp(2_000)),
//!     level: Some(Level::Error),
//!     ..ObservationPiece::new("my-trace-1", "4f9c2d1e-0b7a-4c1e-9d3f-5a6b7c8d9e0f")
//! };
//! assert_eq!(update.name, None);
//! let create = ObservationPiece {
//!     name: Some("retrieve".into()),
//!     kind: Some(ObservationType::Retriever),
//!     start: Some(Timestamp(1_000)),
//!     ..ObservationPiece::new("my-trace-1", "4f9c2d1e-0b7a-4c1e-9d3f-5a6b7c8d9e0f")
//! };
//! let request = [Piece::Observation(update), Piece::Observation(create)];
//! assert_eq!(request.len(), 2);
//! ```

use std::sync::Arc;

use crate::model::{
    Level, Observation, ObservationDetails, ObservationType, Score, ScoreValue, SpanId, Timestamp,
    TraceAttributes, TraceId,
};

/// One record as a sender delivered it; see the [module docs](self).
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    /// All or part of one observation.
    Observation(ObservationPiece),
    /// A trace's attributes, with or without observations (Langfuse's `trace-create`).
    Trace(TracePiece),
    /// A score.
    Score(ScorePiece),
}

/// All or part of one observation. Only its ids are required; every other field is `None`
/// (or empty) when the sender did not give it.
///
/// ```
/// use std::sync::Arc;
/// use observe_model::model::*;
/// use observe_model::piece::ObservationPiece;
///
/// let o = Observation {
///     trace_id: TraceId(7), id: SpanId(2), parent_id: Some(SpanId(1)), name: "chat".into(),
///     kind: ObservationType::Generation, level: Level::Default, start: Timestamp(1),
///     end: Timestamp(2), details: None, trace: Arc::new(TraceAttributes::default()),
/// };
/// let piece = ObservationPiece::from(&o);
/// assert_eq!(&*piece.trace_id, "00000000000000000000000000000007");
/// assert_eq!(&*piece.id, "0000000000000002");
/// assert_eq!(piece.parent_id.as_deref(), Some("0000000000000001"));
/// assert_eq!(piece.kind, Some(ObservationType::Generation));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservationPiece {
    /// The trace it belongs to, as the sender spelled it.
    pub trace_id: Box<str>,
    /// Its own id, as the sender spelled it; unique within its trace.
    pub id: Box<str>,
    /// The observation it is nested in. `None` says nothing: a piece cannot take a stored
    /// parent away, as in Langfuse.
    pub parent_id: Option<Box<str>>,
    /// Display name.
    pub name: Option<String>,
    /// Span, generation, agent...
    pub kind: Option<ObservationType>,
    /// Severity.
    pub level: Option<Level>,
    /// Start, wall clock.
    pub start: Option<Timestamp>,
    /// End, wall clock.
    pub end: Option<Timestamp>,
    /// Input, output, model, usage, cost, metadata, status message, completion start,
    /// prompt link, version: each `None` (metadata: empty) when not given. Metadata merges
    /// by key into the stored metadata. `computed_cost` is ignored: the store prices what
    /// arrives without cost itself.
    pub details: Option<Box<ObservationDetails>>,
    /// Trace attributes this piece carried (session, user, tags...); the default (all
    /// `None`, no tags, no metadata) when it carried none.
    pub trace: Arc<TraceAttributes>,
}

impl ObservationPiece {
    /// A piece that gives only the ids.
    ///
    /// ```
    /// use observe_model::piece::ObservationPiece;
    /// let p = ObservationPiece::new("t-1", "o-1");
    /// assert_eq!((&*p.trace_id, &*p.id, p.start), ("t-1", "o-1", None));
    /// ```
    pub fn new(trace_id: impl Into<Box<str>>, id: impl Into<Box<str>>) -> Self {
        ObservationPiece {
            trace_id: trace_id.into(),
            id: id.into(),
            ..ObservationPiece::default()
        }
    }
}

/// Everything given, ids in the text the store writes for the library's own records
/// (lowercase hex, 32 digits for a trace, 16 for an observation).
impl From<&Observation> for ObservationPiece {
    fn from(o: &Observation) -> Self {
        ObservationPiece::from(o.clone())
    }
}

/// As [`From<&Observation>`](#impl-From%3C%26Observation%3E-for-ObservationPiece), taking
/// the observation's details and name instead of copying them.
///
/// ```
/// use observe_model::model::*;
/// use observe_model::piece::ObservationPiece;
///
/// let o = Observation {
///     trace_id: TraceId(1), id: SpanId(2), parent_id: None, name: "step".into(),
///     kind: ObservationType::Span, level: Level::Default, start: Timestamp(1),
///     end: Timestamp(2), details: None, trace: Default::default(),
/// };
/// let by_ref = ObservationPiece::from(&o);
/// assert_eq!(ObservationPiece::from(o), by_ref);
/// ```
impl From<Observation> for ObservationPiece {
    fn from(o: Observation) -> Self {
        ObservationPiece {
            trace_id: hex_text::<32>(o.trace_id.0),
            id: hex_text::<16>(u128::from(o.id.0)),
            parent_id: o.parent_id.map(|p| hex_text::<16>(u128::from(p.0))),
            name: Some(o.name.into_owned()),
            kind: Some(o.kind),
            level: Some(o.level),
            start: Some(o.start),
            end: Some(o.end),
            details: o.details,
            trace: o.trace,
        }
    }
}

/// The low `N / 2` bytes of `value` as `N` lowercase hex digits, as `{:0N$x}` spells them,
/// with one allocation of the exact size: every span a server receives has three ids, and
/// the formatter's `String` (grown as it writes, then shrunk into the box) cost three.
fn hex_text<const N: usize>(value: u128) -> Box<str> {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; N];
    for (i, digit) in out.iter_mut().rev().enumerate() {
        *digit = DIGITS[((value >> (4 * i)) & 0xf) as usize];
    }
    // Hex digits are ASCII: the conversion cannot fail, and the fallback is never taken.
    Box::from(std::str::from_utf8(&out).unwrap_or_default())
}

/// A trace's own record (Langfuse's `trace-create`): its attributes, which merge into the
/// stored trace as observations' trace attributes do (metadata by key, tags as a union,
/// scalars replaced). Trace-level input and output are
/// [`TraceAttributes::input`] and [`TraceAttributes::output`].
///
/// ```
/// use observe_model::model::TraceAttributes;
/// use observe_model::piece::TracePiece;
///
/// let t = TracePiece {
///     attributes: TraceAttributes {
///         session_id: Some("chat-42".into()),
///         tags: vec!["beta".into()],
///         ..TraceAttributes::default()
///     },
///     ..TracePiece::new("my-trace-1")
/// };
/// assert_eq!(t.timestamp, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TracePiece {
    /// The trace's id, as the sender spelled it.
    pub id: Box<str>,
    /// When the trace started, if the sender said.
    pub timestamp: Option<Timestamp>,
    /// Name, session, user, tags, metadata, version, release, environment, public, input,
    /// output: each `None` (or empty) when not given.
    pub attributes: TraceAttributes,
}

impl TracePiece {
    /// A piece that gives only the id.
    pub fn new(id: impl Into<Box<str>>) -> Self {
        TracePiece {
            id: id.into(),
            ..TracePiece::default()
        }
    }
}

/// A score, as Langfuse takes one, with text ids.
///
/// ```
/// use observe_model::model::*;
/// use observe_model::piece::ScorePiece;
///
/// let s = Score {
///     id: "a".repeat(32), trace_id: TraceId(7), observation_id: Some(SpanId(2)),
///     name: "quality".into(), value: ScoreValue::Numeric(0.9), comment: None,
///     timestamp: Timestamp(5), session_id: None,
/// };
/// let piece = ScorePiece::from(&s);
/// assert_eq!(piece.trace_id.as_deref(), Some("00000000000000000000000000000007"));
/// assert_eq!(piece.observation_id.as_deref(), Some("0000000000000002"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ScorePiece {
    /// Its id; a second score with the same id is the same score.
    pub id: Box<str>,
    /// The trace scored, if any (a score may be on a session alone).
    pub trace_id: Option<Box<str>>,
    /// The observation scored, if not the whole trace.
    pub observation_id: Option<Box<str>>,
    /// The session scored, or the scored trace's session when known.
    pub session_id: Option<String>,
    /// Score name (`quality`, `accuracy`...).
    pub name: String,
    /// The value, which carries its data type.
    pub value: ScoreValue,
    /// Free-text comment.
    pub comment: Option<String>,
    /// When it was given; `None` for "when it arrived".
    pub timestamp: Option<Timestamp>,
}

impl From<&Score> for ScorePiece {
    fn from(s: &Score) -> Self {
        ScorePiece {
            id: s.id.as_str().into(),
            trace_id: Some(hex_text::<32>(s.trace_id.0)),
            observation_id: s.observation_id.map(|o| hex_text::<16>(u128::from(o.0))),
            session_id: s.session_id.clone(),
            name: s.name.clone(),
            value: s.value.clone(),
            comment: s.comment.clone(),
            timestamp: Some(s.timestamp),
        }
    }
}

/// The [`TraceId`] a trace id given as text stands for: the id itself when it is 32 hex
/// digits (what OpenTelemetry and this library send), else a hash of the text, the same
/// in every process and every release, so a trace whose sender chose its own ids
/// (`my-trace-1`, a UUID) still groups and nests. Show the text, not the fold: only the
/// text names the trace to its sender.
///
/// ```
/// use observe_model::model::TraceId;
/// use observe_model::piece::fold_trace_id;
///
/// assert_eq!(fold_trace_id("0af7651916cd43dd8448eb211c80319c"), TraceId(0x0af7651916cd43dd8448eb211c80319c));
/// assert_eq!(fold_trace_id("my-trace-1"), fold_trace_id("my-trace-1"));
/// assert_ne!(fold_trace_id("my-trace-1"), fold_trace_id("my-trace-2"));
/// ```
pub fn fold_trace_id(text: &str) -> TraceId {
    text.parse()
        .unwrap_or_else(|_| TraceId(fnv1a_128(text.as_bytes())))
}

/// The [`SpanId`] an observation id given as text stands for: the id itself when it is 16
/// hex digits, else a stable hash of the text, as [`fold_trace_id`] does for traces.
///
/// ```
/// use observe_model::model::SpanId;
/// use observe_model::piece::fold_span_id;
///
/// assert_eq!(fold_span_id("b7ad6b7169203331"), SpanId(0xb7ad6b7169203331));
/// let uuid = "4f9c2d1e-0b7a-4c1e-9d3f-5a6b7c8d9e0f";
/// assert_eq!(fold_span_id(uuid), fold_span_id(uuid));
/// assert_ne!(fold_span_id(uuid), SpanId(0));
/// ```
pub fn fold_span_id(text: &str) -> SpanId {
    text.parse()
        .unwrap_or_else(|_| SpanId(fnv1a_128(text.as_bytes()) as u64))
}

/// FNV-1a, 128 bits: fixed by its specification, so a fold never changes between
/// releases (the standard library's hasher may).
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013b;
    bytes.iter().fold(OFFSET, |hash, &b| {
        (hash ^ u128::from(b)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_text_spells_ids_as_their_display_does() {
        for v in [0u128, 1, 0xf, 0x0af7651916cd43dd8448eb211c80319c, u128::MAX] {
            assert_eq!(&*hex_text::<32>(v), TraceId(v).to_string());
            let span = v as u64;
            assert_eq!(&*hex_text::<16>(u128::from(span)), SpanId(span).to_string());
        }
    }
}
