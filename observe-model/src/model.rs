//! Plain data an exporter sees: finished observations, the trace attributes stamped on them,
//! and scores.
//!
//! Records are built on the instrumented path with as little work as possible: structured
//! values (input, output, metadata values, model parameters) are held as JSON text
//! ([`Json`]), serialized once when the user asked for them, so that every exporter can pass
//! them on without another round of encoding.
//!
//! ```
//! use observe_model::model::{Level, ObservationType};
//!
//! assert_eq!(ObservationType::Generation.as_str(), "generation");
//! assert_eq!("tool".parse::<ObservationType>().unwrap(), ObservationType::Tool);
//! assert_eq!(Level::Error.as_str(), "ERROR");
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A 16-byte trace id, printed as 32 lowercase hex characters (the OTLP and Langfuse form).
///
/// ```
/// use observe_model::model::TraceId;
/// let id: TraceId = "0af7651916cd43dd8448eb211c80319c".parse().unwrap();
/// assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub u128);

/// An 8-byte observation (span) id, printed as 16 lowercase hex characters.
///
/// ```
/// use observe_model::model::SpanId;
/// let id = SpanId(0xb7ad6b7169203331);
/// assert_eq!(id.to_string(), "b7ad6b7169203331");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub u64);

impl TraceId {
    /// A fresh random, non-zero id from the calling thread's fast generator.
    pub fn random() -> Self {
        loop {
            let id = fastrand::u128(..);
            if id != 0 {
                return TraceId(id);
            }
        }
    }

    /// The id as the 16 big-endian bytes OTLP carries.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

impl SpanId {
    /// A fresh random, non-zero id from the calling thread's fast generator.
    pub fn random() -> Self {
        loop {
            let id = fastrand::u64(..);
            if id != 0 {
                return SpanId(id);
            }
        }
    }

    /// The id as the 8 big-endian bytes OTLP carries.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The text was not an id of the expected length in lowercase or uppercase hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a {expected}-character hex id")]
pub struct ParseIdError {
    text: String,
    expected: usize,
}

fn parse_hex(text: &str, expected: usize) -> Result<u128, ParseIdError> {
    let err = || ParseIdError {
        text: text.to_owned(),
        expected,
    };
    if text.len() != expected || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err());
    }
    u128::from_str_radix(text, 16).map_err(|_| err())
}

impl FromStr for TraceId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s, 32).map(TraceId)
    }
}

impl FromStr for SpanId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s, 16).map(|v| SpanId(v as u64))
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling Langfuse uses.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s))
                    .ok_or_else(|| UnknownVariant {
                        kind: stringify!($name),
                        text: s.to_owned(),
                        valid: $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

/// A name that is none of an enum's variants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{text}`: expected one of {valid}")]
pub struct UnknownVariant {
    kind: &'static str,
    text: String,
    valid: String,
}

string_enum! {
    /// What an observation is, as Langfuse types it (`langfuse.observation.type`). Langfuse
    /// adds types over time, so match with a wildcard arm.
    #[derive(Default)]
    #[non_exhaustive]
    ObservationType {
        /// A unit of work with a duration (the default).
        #[default]
        Span => "span",
        /// An LLM call: model, usage and cost live here.
        Generation => "generation",
        /// A point in time, no duration.
        Event => "event",
        /// An agent deciding what to do next.
        Agent => "agent",
        /// A tool the agent calls.
        Tool => "tool",
        /// A link in a chain of steps.
        Chain => "chain",
        /// A retrieval step (search, vector store).
        Retriever => "retriever",
        /// A judge of another observation's output.
        Evaluator => "evaluator",
        /// An embedding model call.
        Embedding => "embedding",
        /// A safety check.
        Guardrail => "guardrail",
    }
}

string_enum! {
    /// Severity of an observation (`langfuse.observation.level`).
    #[derive(Default)]
    Level {
        /// Verbose detail.
        Debug => "DEBUG",
        /// The ordinary level.
        #[default]
        Default => "DEFAULT",
        /// Something worth a look: a cancelled call, a retry.
        Warning => "WARNING",
        /// The call failed or panicked.
        Error => "ERROR",
    }
}

/// A JSON value held as its encoded text.
///
/// Exporters embed it as-is: OTLP attributes carry JSON text, the ingestion API embeds it
/// raw, the store keeps it in a text column. A plain string is held encoded too (`"\"hi\""`);
/// [`Json::as_plain_str`] gives it back unquoted where Langfuse wants a string as-is.
///
/// ```
/// use observe_model::model::Json;
/// let v = Json::from_value(&serde_json::json!({"a": 1}));
/// assert_eq!(v.as_str(), r#"{"a":1}"#);
/// assert_eq!(Json::from_value(&"hi").as_plain_str(), Some("hi".into()));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Json(Box<str>);

impl Json {
    /// Encodes any `Serialize` value; a value whose `Serialize` fails becomes a JSON string
    /// that says why, so a capture never fails the user's call.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> Json {
        match serde_json::to_string(value) {
            Ok(text) => Json(text.into_boxed_str()),
            Err(e) => Json::string(&format!("<not serializable: {e}>")),
        }
    }

    /// A JSON string holding `text`.
    pub fn string(text: &str) -> Json {
        Json(
            serde_json::to_string(text)
                .expect("a str always encodes")
                .into_boxed_str(),
        )
    }

    /// Wraps text that is already valid JSON, without checking it (it is not `unsafe`: bad
    /// text makes bad output, never undefined behaviour). Use [`Json::parse_checked`] for
    /// text from outside.
    ///
    /// ```
    /// use observe_model::model::Json;
    /// assert_eq!(Json::from_raw(r#"{"a":1}"#).as_str(), r#"{"a":1}"#);
    /// ```
    pub fn from_raw(text: impl Into<Box<str>>) -> Json {
        Json(text.into())
    }

    /// Checks that `text` is JSON and wraps it.
    pub fn parse_checked(text: &str) -> Result<Json, serde_json::Error> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        Ok(Json(text.into()))
    }

    /// The encoded text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length of the encoded text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty text, which no constructor makes from a value.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value decoded into a `serde_json::Value` (for tests and readers).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// If the value is a JSON string, its contents; Langfuse takes a plain string as-is.
    pub fn as_plain_str(&self) -> Option<Cow<'_, str>> {
        if self.0.starts_with('"') {
            serde_json::from_str::<Cow<'_, str>>(&self.0).ok()
        } else {
            None
        }
    }

    /// The text Langfuse wants in an attribute: a plain string unquoted, anything else as JSON.
    pub fn to_attribute_text(&self) -> Cow<'_, str> {
        self.as_plain_str().unwrap_or(Cow::Borrowed(&self.0))
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Json {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Embedded raw: the text is valid JSON by construction.
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        Json::from_value(&value)
    }
}

/// Metadata: top-level keys to JSON values, ordered by key so output is stable.
pub type Metadata = BTreeMap<String, Json>;

/// Token (or other unit) counts of a generation: `{"input": n, "output": n, "total": n, ...}`.
///
/// ```
/// use observe_model::model::Usage;
/// let u = Usage::new(120, 30);
/// assert_eq!(u.get("total"), Some(150));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage(pub BTreeMap<String, u64>);

impl Usage {
    /// Input and output counts; `total` is their sum, saturating at `u64::MAX` rather than
    /// wrapping (a count that large is already meaningless; a panic would be worse).
    ///
    /// ```
    /// use observe_model::model::Usage;
    /// assert_eq!(Usage::new(u64::MAX, 1).get("total"), Some(u64::MAX));
    /// ```
    pub fn new(input: u64, output: u64) -> Self {
        let mut m = BTreeMap::new();
        m.insert("input".to_owned(), input);
        m.insert("output".to_owned(), output);
        m.insert("total".to_owned(), input.saturating_add(output));
        Usage(m)
    }

    /// Adds or replaces one count (e.g. `cache_read_input_tokens`).
    pub fn with(mut self, key: impl Into<String>, value: u64) -> Self {
        self.0.insert(key.into(), value);
        self
    }

    /// One count, if present.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.0.get(key).copied()
    }
}

/// Cost in USD: `{"input": x, "output": y, "total": z, ...}`.
///
/// ```
/// use observe_model::model::Cost;
/// let c = Cost::new(0.01, 0.02);
/// assert!((c.total() - 0.03).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost(pub BTreeMap<String, f64>);

impl Cost {
    /// Input and output cost; `total` is their sum.
    pub fn new(input: f64, output: f64) -> Self {
        let mut m = BTreeMap::new();
        m.insert("input".to_owned(), input);
        m.insert("output".to_owned(), output);
        m.insert("total".to_owned(), input + output);
        Cost(m)
    }

    /// Only a total.
    pub fn total_only(total: f64) -> Self {
        let mut m = BTreeMap::new();
        m.insert("total".to_owned(), total);
        Cost(m)
    }

    /// The `total` entry, or the sum of the others when there is none.
    pub fn total(&self) -> f64 {
        self.0
            .get("total")
            .copied()
            .unwrap_or_else(|| self.0.values().sum())
    }

    /// The first entry that is not a cost: not finite (NaN, infinite) or negative. The
    /// runtime drops a cost holding one, with a warning, and keeps the observation.
    ///
    /// ```
    /// use observe_model::model::Cost;
    /// assert_eq!(Cost::new(0.1, 0.2).invalid_entry(), None);
    /// assert_eq!(Cost::new(-0.1, 0.2).invalid_entry().map(|(k, _)| k), Some("input"));
    /// assert!(Cost::total_only(f64::NAN).invalid_entry().is_some());
    /// ```
    pub fn invalid_entry(&self) -> Option<(&str, f64)> {
        self.0
            .iter()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
            .map(|(k, v)| (k.as_str(), *v))
    }
}

/// A point in time as nanoseconds since the Unix epoch (UTC).
///
/// ```
/// use observe_model::model::Timestamp;
/// let t = Timestamp(1_764_282_066_094_913_000);
/// assert_eq!(t.to_rfc3339(), "2025-11-27T22:21:06.094913Z");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The wall clock now.
    pub fn now() -> Self {
        Timestamp::from(SystemTime::now())
    }

    /// Nanoseconds since the epoch.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// UTC ISO-8601 with microseconds and `Z`, as the Langfuse contract asks.
    pub fn to_rfc3339(self) -> String {
        let mut buf = [0; RFC3339_LEN];
        self.write_rfc3339(&mut buf).to_owned()
    }

    /// The same text as [`Timestamp::to_rfc3339`], written into `buf` without allocating
    /// (exporters format one per record).
    ///
    /// ```
    /// use observe_model::model::{Timestamp, RFC3339_LEN};
    /// let mut buf = [0; RFC3339_LEN];
    /// assert_eq!(Timestamp(0).write_rfc3339(&mut buf), "1970-01-01T00:00:00.000000Z");
    /// ```
    pub fn write_rfc3339(self, buf: &mut [u8; RFC3339_LEN]) -> &str {
        let secs = self.0 / 1_000_000_000;
        let micros = (self.0 % 1_000_000_000) / 1_000;
        // u64 nanoseconds since 1970 end in the year 2554: always four digits.
        let (y, m, d) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        let fields = [
            (y as u64, 0..4),
            (m as u64, 5..7),
            (d as u64, 8..10),
            (rem / 3600, 11..13),
            (rem % 3600 / 60, 14..16),
            (rem % 60, 17..19),
            (micros, 20..26),
        ];
        for (mut value, range) in fields {
            for b in buf[range].iter_mut().rev() {
                *b = b'0' + (value % 10) as u8;
                value /= 10;
            }
        }
        for (at, sep) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
            (26, b'Z'),
        ] {
            buf[at] = sep;
        }
        // Only ASCII digits and separators were written.
        std::str::from_utf8(buf).unwrap_or_default()
    }

    /// Reads `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (what [`Timestamp::write_rfc3339`] writes, with
    /// 0 to 9 fraction digits) back; `None` for anything else, or a time before 1970.
    ///
    /// ```
    /// use observe_model::model::Timestamp;
    /// let t = Timestamp(1_764_282_066_094_913_000);
    /// assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    /// assert_eq!(Timestamp::parse_rfc3339("1970-01-01T00:00:01Z"), Some(Timestamp(1_000_000_000)));
    /// assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
    /// ```
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || !text.ends_with('Z') {
            return None;
        }
        let num = |r: std::ops::Range<usize>| {
            let digits = text.get(r)?;
            // `parse` would take a sign; a date field has digits only.
            digits.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            digits.parse::<i64>().ok()
        };
        let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
            return None;
        }
        let frac = text.get(19..text.len() - 1)?;
        let nanos_frac = match frac.strip_prefix('.') {
            Some(digits) if !digits.is_empty() && digits.len() <= 9 => {
                digits.parse::<u32>().ok()? as i64 * 10i64.pow(9 - digits.len() as u32)
            }
            None if frac.is_empty() => 0,
            _ => return None,
        };
        let secs = days_from_civil(y, m as u32, d as u32) * 86_400 + hh * 3600 + mm * 60 + ss;
        u64::try_from(secs.checked_mul(1_000_000_000)?.checked_add(nanos_frac)?)
            .ok()
            .map(Timestamp)
    }
}

/// Length of [`Timestamp::to_rfc3339`]'s text: `2026-11-27T22:21:06.094913Z`.
pub const RFC3339_LEN: usize = 27;

// The one calendar of the crate: days since 1970-01-01 to and from a proleptic Gregorian
// date (Howard Hinnant's algorithms), used by the RFC 3339 writer and reader above. Kept by
// hand because the writer must not allocate (exporters format one timestamp per record) and
// the pair is twenty lines; a time crate would add a dependency for these two functions.

/// Days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A proleptic Gregorian date to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl From<SystemTime> for Timestamp {
    fn from(t: SystemTime) -> Self {
        Timestamp(
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        )
    }
}

/// The attributes a trace shares with every one of its observations.
///
/// Updates merge as the contract says: metadata by key, tags as a union in first-seen order,
/// scalars replaced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceAttributes {
    /// Trace name; when absent, Langfuse uses the root observation's name.
    pub name: Option<String>,
    /// Groups traces into a session.
    pub session_id: Option<String>,
    /// The end user the trace acted for.
    pub user_id: Option<String>,
    /// Union of every tag set, in first-seen order.
    pub tags: Vec<String>,
    /// Top-level metadata keys.
    pub metadata: Metadata,
    /// Application version.
    pub version: Option<String>,
    /// Release identifier.
    pub release: Option<String>,
    /// Deployment environment (`production`, `staging`...).
    pub environment: Option<String>,
    /// Whether the trace is publicly viewable in Langfuse.
    pub public: Option<bool>,
    /// Trace-level input, when set explicitly.
    pub input: Option<Json>,
    /// Trace-level output, when set explicitly.
    pub output: Option<Json>,
}

/// The optional, heavier part of an observation: what capture and
/// `update_current_observation` fill in. Kept behind one box so that a bare span stays small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservationDetails {
    /// The call's input (arguments by name for `#[observe]`).
    pub input: Option<Json>,
    /// The call's output.
    pub output: Option<Json>,
    /// Observation metadata, by top-level key.
    pub metadata: Metadata,
    /// Explanation of the level (error text, `cancelled`).
    pub status_message: Option<String>,
    /// Model name (generations).
    pub model: Option<String>,
    /// Model parameters as a JSON object (generations).
    pub model_parameters: Option<Json>,
    /// Token counts (generations).
    pub usage: Option<Usage>,
    /// Cost in USD (generations), as the caller gave it: the one exporters send.
    pub cost: Option<Cost>,
    /// Cost in USD that observe computed from the usage and a model price list, when the
    /// caller gave none (only the local store fills it, when it reads a generation back;
    /// it is never sent to Langfuse, which prices generations itself).
    pub computed_cost: Option<Cost>,
    /// When the first token arrived (generations).
    pub completion_start_time: Option<Timestamp>,
    /// Name of the Langfuse prompt used (generations).
    pub prompt_name: Option<String>,
    /// Version of that prompt (generations).
    pub prompt_version: Option<i64>,
    /// Version of the observation's code, when it differs from the trace's.
    pub version: Option<String>,
    /// What the model call itself reported (provider, response id, finish reasons), for the
    /// OpenTelemetry GenAI attributes; `None` when nothing was given.
    pub gen_ai: Option<Box<GenAiCall>>,
}

/// Facts about one model call that only the GenAI conventions carry (Langfuse keeps them
/// as metadata at most): who served it, what kind of call it was, the provider's id of the
/// answer and why it stopped.
///
/// ```
/// use observe_model::model::GenAiCall;
/// let call = GenAiCall {
///     provider: Some("openai".into()),
///     response_id: Some("chatcmpl-123".into()),
///     finish_reasons: vec!["stop".into()],
///     ..GenAiCall::default()
/// };
/// assert!(!call.is_empty());
/// assert!(GenAiCall::default().is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenAiCall {
    /// `gen_ai.provider.name` as given (`openai`, `anthropic`, `gcp.gemini`...); without
    /// it, exporters derive one from the model name.
    pub provider: Option<String>,
    /// `gen_ai.operation.name` of a generation when it is not `chat`: `text_completion` or
    /// `generate_content`.
    pub operation: Option<String>,
    /// `gen_ai.response.id`: the provider's id of the answer.
    pub response_id: Option<String>,
    /// `gen_ai.response.finish_reasons`, one per choice.
    pub finish_reasons: Vec<String>,
}

impl GenAiCall {
    /// True when nothing is set.
    pub fn is_empty(&self) -> bool {
        self == &GenAiCall::default()
    }
}

/// One finished observation, as every exporter receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own id.
    pub id: SpanId,
    /// The observation it is nested in; `None` for the trace's root.
    pub parent_id: Option<SpanId>,
    /// Display name.
    pub name: Cow<'static, str>,
    /// Span, generation, agent...
    pub kind: ObservationType,
    /// Severity.
    pub level: Level,
    /// Start, wall clock.
    pub start: Timestamp,
    /// End, wall clock; equal to `start` for events.
    pub end: Timestamp,
    /// Input, output, model, usage... (absent for a bare span).
    pub details: Option<Box<ObservationDetails>>,
    /// The trace's attributes as they stood when this observation ended (or, for one with
    /// nothing captured that its thread handed over in a batch, when the batch was handed
    /// over: a moment later, so a superset).
    pub trace: Arc<TraceAttributes>,
}

impl Observation {
    /// True for the trace's root observation.
    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }

    /// The details, or an empty set.
    pub fn details(&self) -> &ObservationDetails {
        static EMPTY: std::sync::OnceLock<ObservationDetails> = std::sync::OnceLock::new();
        self.details
            .as_deref()
            .unwrap_or_else(|| EMPTY.get_or_init(ObservationDetails::default))
    }

    /// The details, created on first use.
    pub fn details_mut(&mut self) -> &mut ObservationDetails {
        self.details.get_or_insert_with(Default::default)
    }

    /// End minus start.
    pub fn duration(&self) -> Duration {
        self.end.since(self.start)
    }

    /// The total cost in USD of this observation alone: the cost given, else the one
    /// computed from its usage (0 when there is neither, or when a record built by hand
    /// holds a total that is not a finite number: sums over many observations stay
    /// numbers).
    pub fn total_cost(&self) -> f64 {
        let d = self.details();
        let total = d
            .cost
            .as_ref()
            .or(d.computed_cost.as_ref())
            .map_or(0.0, Cost::total);
        if total.is_finite() {
            total
        } else {
            0.0
        }
    }

    /// True when [`Observation::total_cost`] was computed from the usage and a price list
    /// rather than given.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use observe_model::model::*;
    ///
    /// let mut o = Observation {
    ///     trace_id: TraceId(1), id: SpanId(1), parent_id: None, name: "chat".into(),
    ///     kind: ObservationType::Generation, level: Level::Default, start: Timestamp(0),
    ///     end: Timestamp(1), details: None, trace: Arc::new(TraceAttributes::default()),
    /// };
    /// o.details_mut().computed_cost = Some(Cost::total_only(0.5));
    /// assert!(o.cost_is_computed());
    /// o.details_mut().cost = Some(Cost::total_only(0.2));
    /// assert!(!o.cost_is_computed());
    /// assert_eq!(o.total_cost(), 0.2);
    /// ```
    pub fn cost_is_computed(&self) -> bool {
        let d = self.details();
        d.cost.is_none() && d.computed_cost.is_some()
    }
}

/// The data type of a score's value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ScoreValue {
    /// A number (`NUMERIC`).
    Numeric(f64),
    /// A label (`CATEGORICAL`).
    Categorical(String),
    /// True or false (`BOOLEAN`, sent as 1 or 0).
    Boolean(bool),
}

impl ScoreValue {
    /// Langfuse's `dataType` for this value: `NUMERIC`, `CATEGORICAL` or `BOOLEAN`.
    ///
    /// ```
    /// use observe_model::model::ScoreValue;
    /// assert_eq!(ScoreValue::from(true).data_type(), "BOOLEAN");
    /// ```
    pub fn data_type(&self) -> &'static str {
        match self {
            ScoreValue::Numeric(_) => "NUMERIC",
            ScoreValue::Categorical(_) => "CATEGORICAL",
            ScoreValue::Boolean(_) => "BOOLEAN",
        }
    }

    /// The value as Langfuse's numeric `value`: a number as is, a boolean as `1` or `0`, a
    /// label as `None`.
    ///
    /// ```
    /// use observe_model::model::ScoreValue;
    /// assert_eq!(ScoreValue::from(false).as_number(), Some(0.0));
    /// assert_eq!(ScoreValue::from("good").as_number(), None);
    /// ```
    pub fn as_number(&self) -> Option<f64> {
        match self {
            ScoreValue::Numeric(v) => Some(*v),
            ScoreValue::Boolean(b) => Some(if *b { 1.0 } else { 0.0 }),
            ScoreValue::Categorical(_) => None,
        }
    }

    /// The value as Langfuse's `stringValue`: a label as is, a boolean as `True` or `False`
    /// (the server's spelling), a number as `None`.
    ///
    /// ```
    /// use observe_model::model::ScoreValue;
    /// assert_eq!(ScoreValue::from(true).string_value(), Some("True"));
    /// assert_eq!(ScoreValue::from(0.5).string_value(), None);
    /// ```
    pub fn string_value(&self) -> Option<&str> {
        match self {
            ScoreValue::Numeric(_) => None,
            ScoreValue::Categorical(c) => Some(c),
            ScoreValue::Boolean(b) => Some(if *b { "True" } else { "False" }),
        }
    }
}

impl From<f64> for ScoreValue {
    fn from(v: f64) -> Self {
        ScoreValue::Numeric(v)
    }
}

impl From<bool> for ScoreValue {
    fn from(v: bool) -> Self {
        ScoreValue::Boolean(v)
    }
}

impl From<&str> for ScoreValue {
    fn from(v: &str) -> Self {
        ScoreValue::Categorical(v.to_owned())
    }
}

impl From<String> for ScoreValue {
    fn from(v: String) -> Self {
        ScoreValue::Categorical(v)
    }
}

/// A score attached to a trace or to one of its observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Score {
    /// Unique id (32 hex), so a retried send is idempotent.
    pub id: String,
    /// The trace scored.
    pub trace_id: TraceId,
    /// The observation scored, if not the whole trace.
    pub observation_id: Option<SpanId>,
    /// Score name (`quality`, `accuracy`...).
    pub name: String,
    /// The value.
    pub value: ScoreValue,
    /// Free-text comment.
    pub comment: Option<String>,
    /// When it was given.
    pub timestamp: Timestamp,
    /// Session of the trace scored, when known (for the local store's reports).
    pub session_id: Option<String>,
}
