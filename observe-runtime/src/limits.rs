//! Limits on every field of a record, and masking, applied on the worker before records are
//! batched, so that no destination sees a value it would refuse or choke on.
//!
//! A Langfuse server refuses an event over about 1 MB and a request over 4.5 MB (a 413 that
//! takes the rest of the batch with it); SQLite's JSON functions and `serde_json` refuse
//! values nested deeper than 1,000 and 128 levels. So, rather than lose the whole
//! observation, what is over a limit is cut and marked, the rest of the record is kept, and
//! the record is counted as truncated ([`crate::Stats::truncated`]); the first cut of each
//! kind is logged once.
//!
//! | field | limit | over it |
//! | --- | --- | --- |
//! | observation name | [`MAX_NAME_CHARS`] characters | cut, with a marker |
//! | status message | [`MAX_MESSAGE_CHARS`] characters | cut, with a marker |
//! | model, prompt name, observation version, provider, response id, each finish reason | [`MAX_ATTRIBUTE_CHARS`] characters | cut, with a marker |
//! | usage and cost keys | [`MAX_ATTRIBUTE_CHARS`] characters | entry dropped |
//! | trace name, user id, session id, version, release, each tag | [`MAX_ATTRIBUTE_CHARS`] characters (Langfuse's) | dropped at the API with a warning; cut on the worker (values set through settings) |
//! | trace metadata key and JSON-encoded value | [`MAX_ATTRIBUTE_CHARS`] characters (Langfuse's) | entry dropped |
//! | environment | [`MAX_ENVIRONMENT_CHARS`] characters, `^(?!langfuse)[a-z0-9_-]+$` (Langfuse's) | dropped |
//! | every structured value (input, output, each metadata value, model parameters; the trace's input, output and metadata) | [`MAX_JSON_DEPTH`] levels of nesting | replaced by a marker object |
//! | a value `#[observe]` captures, or an update's input or output, while it is serialized (on the caller's thread) | [`MAX_JSON_DEPTH`] levels; four times as many nested `serialize` calls; captures also `max_record_bytes` | replaced by a marker object at once, never serialized further |
//! | trace input, trace output | a quarter of the record limit each (250,000 bytes by default) | replaced by a marker object |
//! | one observation (input, output, metadata, model parameters and the rest, estimated) | `PipelineSettings::max_record_bytes` (1,000,000 bytes by default) | the largest of input, output, metadata and model parameters replaced by a marker object, until it fits |
//! | score name, categorical value, session id | [`MAX_ATTRIBUTE_CHARS`] characters | cut, with a marker |
//! | score comment | [`MAX_MESSAGE_CHARS`] characters | cut, with a marker |
//!
//! A cut string ends with `…[truncated N bytes]` (N is its original length) and stays within
//! its limit, marker included. A marker object reads
//! `{"truncated":true,"original_bytes":N,"reason":"..."}`.
//!
//! ```
//! use observe_runtime::limits::{MAX_ATTRIBUTE_CHARS, MAX_JSON_DEPTH, MAX_NAME_CHARS};
//! assert!(MAX_ATTRIBUTE_CHARS <= MAX_NAME_CHARS);
//! assert!(MAX_JSON_DEPTH < 128); // serde_json's own parsing limit, with room for wrapping
//! ```

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use crate::model::{Json, Metadata, Observation, Score, TraceAttributes};

mod agent_usage;
mod bounded;
mod text;
mod trace;

pub(crate) use bounded::{allow_capture_bytes, bounded_json, write_bounded};
pub(crate) use text::{cut_text, deeper_than, over_chars};
use text::{depth_marker, limit_depth, marker, size_reason};
pub(crate) use trace::environment_shape_ok;
use trace::limited_trace;

/// Longest user id, session id, version, release, trace name, tag, and trace metadata key
/// and encoded value, in characters.
pub const MAX_ATTRIBUTE_CHARS: usize = 200;
/// Longest environment name.
pub const MAX_ENVIRONMENT_CHARS: usize = 40;
/// Longest observation name, in characters.
pub const MAX_NAME_CHARS: usize = 1_000;
/// Longest status message or score comment, in characters.
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// Deepest nesting of arrays and objects in a structured value. Below `serde_json`'s
/// parsing limit (128) with room for the object the store and the encoders wrap metadata
/// values in.
pub const MAX_JSON_DEPTH: usize = 100;

/// Rough encoded size of an observation: its JSON payloads and strings plus a fixed
/// overhead for ids and timestamps. Used for batching by bytes, before any encoding.
pub(crate) fn estimated_size(obs: &Observation) -> usize {
    let root_io = if obs.is_root() {
        trace_io_size(&obs.trace)
    } else {
        0
    };
    let Some(d) = obs.details.as_deref() else {
        return bare_size(&obs.name, root_io);
    };
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    bare_size(&obs.name, root_io)
        + payload_size(d, Field::Input)
        + payload_size(d, Field::Output)
        + payload_size(d, Field::Metadata)
        + payload_size(d, Field::ModelParameters)
        + opt(&d.status_message)
        + opt(&d.model)
        + opt(&d.prompt_name)
        + opt(&d.version)
        + d.gen_ai.as_deref().map_or(0, |c| {
            opt(&c.provider)
                + opt(&c.operation)
                + opt(&c.response_id)
                + c.finish_reasons.iter().map(|r| r.len() + 4).sum::<usize>()
        })
        + d.usage.as_ref().map_or(0, |u| entries_size(u.0.keys()))
        + d.cost.as_ref().map_or(0, |c| entries_size(c.0.keys()))
}

/// [`estimated_size`] of an observation without details: what a light entry becomes, whose
/// size the worker reckons from its name alone (`root_io` is [`trace_io_size`] for a root,
/// else 0).
#[inline]
pub(crate) fn bare_size(name: &str, root_io: usize) -> usize {
    /// Ids, timestamps, kind and level, encoded.
    const OVERHEAD: usize = 256;
    OVERHEAD + name.len() + root_io
}

/// The trace's input and output, which travel with its root observation.
pub(crate) fn trace_io_size(trace: &TraceAttributes) -> usize {
    trace.input.as_ref().map_or(0, Json::len) + trace.output.as_ref().map_or(0, Json::len)
}

fn metadata_size(m: &Metadata) -> usize {
    m.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
}

/// Keys plus room for a number each.
fn entries_size<'a>(keys: impl Iterator<Item = &'a String>) -> usize {
    keys.map(|k| k.len() + 24).sum()
}

/// The structured fields the record limit cuts, largest first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Input,
    Output,
    Metadata,
    ModelParameters,
}

fn payload_size(d: &crate::model::ObservationDetails, field: Field) -> usize {
    match field {
        Field::Input => d.input.as_ref().map_or(0, Json::len),
        Field::Output => d.output.as_ref().map_or(0, Json::len),
        Field::Metadata => metadata_size(&d.metadata),
        Field::ModelParameters => d.model_parameters.as_ref().map_or(0, Json::len),
    }
}

/// What was cut, for the once-per-kind warning.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Text,
    Depth,
    RecordSize,
    TraceIo,
    TraceAttribute,
    Score,
}

impl Cut {
    fn describe(self) -> &'static str {
        match self {
            Cut::Text => "a text field over its length limit was cut and marked",
            Cut::Depth => "a structured value nested too deep was replaced by a marker",
            Cut::RecordSize => {
                "an observation over the size limit had its largest field replaced by a marker"
            }
            Cut::TraceIo => "a trace input or output over its size limit was replaced by a marker",
            Cut::TraceAttribute => "a trace attribute over its limit was cut or dropped",
            Cut::Score => "a score's text over its length limit was cut and marked",
        }
    }
}

/// Trace snapshots remembered with their limited copy: observations of one trace share a
/// snapshot, so each is checked once, even with a few traces interleaved.
const TRACE_CACHE: usize = 16;

/// Applies the limits of the [module docs](self); lives on the worker.
pub(crate) struct Limits {
    max_record_bytes: usize,
    /// Kinds of cut already logged as warnings (later ones go to debug).
    warned: u32,
    /// Each snapshot seen, and its limited copy (`None`: within the limits as it is). Weak,
    /// so a large original is freed with its observations; its address is not reused while
    /// the weak reference lives, so a match is the same snapshot.
    traces: Vec<(Weak<TraceAttributes>, Option<Arc<TraceAttributes>>)>,
    next_slot: usize,
}

impl Limits {
    pub(crate) fn new(max_record_bytes: usize) -> Self {
        Limits {
            max_record_bytes,
            warned: 0,
            traces: Vec::new(),
            next_slot: 0,
        }
    }

    fn note(&mut self, cut: Cut, what: &str) {
        let bit = 1 << cut as u32;
        if self.warned & bit == 0 {
            self.warned |= bit;
            tracing::warn!(
                field = what,
                "observe: {} ({what}; counted in Stats::truncated; limits in docs/CONFIGURATION.md)",
                cut.describe()
            );
        } else {
            tracing::debug!(field = what, "observe: {}", cut.describe());
        }
    }

    /// Brings `obs` (and its trace's attributes) within every limit. Returns whether
    /// anything was cut.
    #[inline]
    pub(crate) fn observation(&mut self, obs: &mut Observation) -> bool {
        let mut cut = self.trace(&mut obs.trace);
        agent_usage::refuse_agent_usage(obs);
        cut |= self.name(&mut obs.name);
        if obs.details.is_some() {
            cut |= self.details(obs);
            cut |= self.record_size(obs);
        }
        cut
    }

    /// Brings an observation's name within [`MAX_NAME_CHARS`]; true when it was cut. All
    /// a light entry needs besides its trace's limits ([`Limits::trace`], once per batch):
    /// it has no details, so nothing else can be over a limit.
    #[inline]
    pub(crate) fn name(&mut self, name: &mut Cow<'static, str>) -> bool {
        let Some(short) = cut_text(name, MAX_NAME_CHARS) else {
            return false;
        };
        *name = Cow::Owned(short);
        self.note(Cut::Text, "observation name");
        true
    }

    fn details(&mut self, obs: &mut Observation) -> bool {
        let mut cut = false;
        let d = obs.details_mut();
        let texts = [
            (&mut d.status_message, MAX_MESSAGE_CHARS, "status message"),
            (&mut d.model, MAX_ATTRIBUTE_CHARS, "model"),
            (&mut d.prompt_name, MAX_ATTRIBUTE_CHARS, "prompt name"),
            (&mut d.version, MAX_ATTRIBUTE_CHARS, "observation version"),
        ];
        let mut notes = Vec::new();
        for (slot, max, what) in texts {
            if let Some(short) = slot.as_deref().and_then(|s| cut_text(s, max)) {
                *slot = Some(short);
                notes.push((Cut::Text, what));
            }
        }
        if let Some(call) = d.gen_ai.as_deref_mut() {
            let texts = [
                call.provider.as_mut(),
                call.operation.as_mut(),
                call.response_id.as_mut(),
            ];
            for text in texts
                .into_iter()
                .flatten()
                .chain(call.finish_reasons.iter_mut())
            {
                if let Some(short) = cut_text(text, MAX_ATTRIBUTE_CHARS) {
                    *text = short;
                    notes.push((Cut::Text, "model call attribute"));
                }
            }
        }
        if let Some(u) = &mut d.usage {
            let before = u.0.len();
            u.0.retain(|k, _| !over_chars(k, MAX_ATTRIBUTE_CHARS));
            if u.0.len() != before {
                notes.push((Cut::Text, "usage key"));
            }
        }
        if let Some(c) = &mut d.cost {
            let before = c.0.len();
            c.0.retain(|k, _| !over_chars(k, MAX_ATTRIBUTE_CHARS));
            if c.0.len() != before {
                notes.push((Cut::Text, "cost key"));
            }
        }
        for (slot, what) in [
            (&mut d.input, "input"),
            (&mut d.output, "output"),
            (&mut d.model_parameters, "model parameters"),
        ] {
            if limit_depth(slot) {
                notes.push((Cut::Depth, what));
            }
        }
        for value in d.metadata.values_mut() {
            if deeper_than(value.as_str(), MAX_JSON_DEPTH) {
                *value = depth_marker(value);
                notes.push((Cut::Depth, "metadata value"));
            }
        }
        for (kind, what) in notes {
            self.note(kind, what);
            cut = true;
        }
        cut
    }

    /// Replaces the largest of input, output, metadata and model parameters by a marker
    /// until the record fits `max_record_bytes`.
    fn record_size(&mut self, obs: &mut Observation) -> bool {
        let max_bytes = self.max_record_bytes;
        let mut cut = false;
        while estimated_size(obs) > max_bytes {
            let d = obs.details_mut();
            let Some((field, size)) = [
                Field::Input,
                Field::Output,
                Field::Metadata,
                Field::ModelParameters,
            ]
            .into_iter()
            .map(|f| (f, payload_size(d, f)))
            .filter(|(_, s)| *s > 128)
            .max_by_key(|(_, s)| *s) else {
                break; // nothing large left to cut
            };
            let marker = marker(size, &size_reason(max_bytes));
            match field {
                Field::Input => d.input = Some(marker),
                Field::Output => d.output = Some(marker),
                Field::ModelParameters => d.model_parameters = Some(marker),
                Field::Metadata => {
                    d.metadata.clear();
                    d.metadata.insert("truncated".to_owned(), marker);
                }
            }
            cut = true;
        }
        if cut {
            self.note(Cut::RecordSize, &obs.name.clone());
        }
        cut
    }

    /// Replaces the trace's attributes by a copy within the limits, when they are not;
    /// returns whether this call cut something (a snapshot is cut and counted once).
    pub(crate) fn trace(&mut self, attrs: &mut Arc<TraceAttributes>) -> bool {
        let seen = self
            .traces
            .iter()
            .find(|(original, _)| std::ptr::eq(original.as_ptr(), Arc::as_ptr(attrs)));
        if let Some((_, limited)) = seen {
            if let Some(limited) = limited {
                *attrs = limited.clone();
            }
            return false;
        }
        let mut notes = Vec::new();
        let limited = limited_trace(attrs, self.max_record_bytes / 4, &mut notes).map(Arc::new);
        for (kind, what) in &notes {
            self.note(*kind, what);
        }
        let entry = (Arc::downgrade(attrs), limited.clone());
        if let Some(limited) = limited {
            *attrs = limited;
        }
        if self.traces.len() < TRACE_CACHE {
            self.traces.push(entry);
        } else if let Some(slot) = self.traces.get_mut(self.next_slot) {
            *slot = entry;
        }
        self.next_slot = (self.next_slot + 1) % TRACE_CACHE;
        !notes.is_empty()
    }

    /// Brings a score's text within its limits. Returns whether anything was cut.
    pub(crate) fn score(&mut self, score: &mut Score) -> bool {
        let mut cut = false;
        if let Some(v) = cut_text(&score.name, MAX_ATTRIBUTE_CHARS) {
            score.name = v;
            cut = true;
        }
        if let crate::model::ScoreValue::Categorical(c) = &mut score.value {
            if let Some(v) = cut_text(c, MAX_ATTRIBUTE_CHARS) {
                *c = v;
                cut = true;
            }
        }
        for (slot, max) in [
            (&mut score.comment, MAX_MESSAGE_CHARS),
            (&mut score.session_id, MAX_ATTRIBUTE_CHARS),
        ] {
            if let Some(v) = slot.as_deref().and_then(|s| cut_text(s, max)) {
                *slot = Some(v);
                cut = true;
            }
        }
        if cut {
            self.note(Cut::Score, "score");
        }
        cut
    }
}

/// Applies the user's mask to input, output and every metadata value.
pub(crate) fn mask(obs: &mut Observation, mask: &(dyn Fn(Json) -> Json + Send + Sync)) {
    let Some(d) = obs.details.as_deref_mut() else {
        return;
    };
    for slot in [&mut d.input, &mut d.output] {
        if let Some(v) = slot.take() {
            *slot = Some(mask(v));
        }
    }
    for v in d.metadata.values_mut() {
        let taken = std::mem::replace(v, Json::from_raw("null"));
        *v = mask(taken);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn obs() -> Observation {
        Observation {
            trace_id: TraceId(1),
            id: SpanId(2),
            parent_id: Some(SpanId(3)),
            name: "n".into(),
            kind: ObservationType::Span,
            level: Level::Default,
            start: Timestamp(0),
            end: Timestamp(1),
            details: None,
            trace: Arc::new(TraceAttributes::default()),
        }
    }

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn the_largest_field_is_replaced_and_the_rest_kept() {
        let mut o = obs();
        o.details_mut().input = Some(Json::string(&"i".repeat(5_000)));
        o.details_mut().output = Some(Json::string(&"o".repeat(20_000)));
        o.details_mut().model = Some("m".into());
        assert!(Limits::new(10_000).observation(&mut o));
        let d = o.details();
        assert_eq!(d.input.as_ref().unwrap().len(), 5_002);
        assert_eq!(d.output.as_ref().unwrap().to_value()["truncated"], true);
        assert_eq!(
            d.output.as_ref().unwrap().to_value()["original_bytes"],
            20_002
        );
        assert_eq!(d.model.as_deref(), Some("m"));
    }

    #[test]
    fn large_model_parameters_are_cut_too() {
        let mut o = obs();
        o.details_mut().model_parameters = Some(Json::string(&"p".repeat(50_000)));
        assert!(Limits::new(10_000).observation(&mut o));
        assert!(estimated_size(&o) <= 10_000);
    }

    #[test]
    fn a_small_record_is_untouched() {
        let mut o = obs();
        o.details_mut().input = Some(Json::string("small"));
        o.details_mut()
            .metadata
            .insert("k".into(), Json::from_raw(nested(100)));
        let before = o.clone();
        assert!(!Limits::new(10_000).observation(&mut o));
        assert_eq!(o, before);
    }

    #[test]
    fn text_is_cut_on_a_character_boundary_within_the_limit_with_a_marker() {
        let text = "é".repeat(300);
        let cut = cut_text(&text, 200).unwrap();
        assert_eq!(cut.chars().count(), 200);
        assert!(cut.starts_with("éé"));
        assert!(cut.ends_with("…[truncated 600 bytes]"));
        assert_eq!(cut_text(&"é".repeat(200), 200), None);
        // A limit shorter than the marker keeps a prefix only.
        assert_eq!(cut_text("abcdef", 3).unwrap(), "");
    }

    #[test]
    fn free_text_fields_are_cut_to_their_limits() {
        let mut o = obs();
        o.name = "n".repeat(3_000_000).into();
        let d = o.details_mut();
        d.model = Some("m".repeat(3_000_000));
        d.status_message = Some("s".repeat(3_000_000));
        d.prompt_name = Some("p".repeat(1_000));
        d.version = Some("v".repeat(1_000));
        d.usage = Some(Usage::new(1, 2).with("k".repeat(500), 3));
        assert!(Limits::new(1_000_000).observation(&mut o));
        assert_eq!(o.name.chars().count(), MAX_NAME_CHARS);
        let d = o.details();
        assert_eq!(
            d.model.as_ref().unwrap().chars().count(),
            MAX_ATTRIBUTE_CHARS
        );
        assert_eq!(
            d.status_message.as_ref().unwrap().chars().count(),
            MAX_MESSAGE_CHARS
        );
        assert_eq!(d.prompt_name.as_ref().unwrap().chars().count(), 200);
        assert_eq!(d.version.as_ref().unwrap().chars().count(), 200);
        assert_eq!(d.usage.as_ref().unwrap().0.len(), 3);
    }

    #[test]
    fn what_a_model_call_reports_is_cut_like_the_model() {
        let mut o = obs();
        o.details_mut().gen_ai = Some(Box::new(GenAiCall {
            provider: Some("p".repeat(1_000)),
            operation: None,
            response_id: Some("r".repeat(1_000)),
            finish_reasons: vec!["stop".into(), "f".repeat(1_000)],
        }));
        assert!(Limits::new(1_000_000).observation(&mut o));
        let call = o.details().gen_ai.as_deref().unwrap();
        for text in [
            call.provider.as_deref().unwrap(),
            call.response_id.as_deref().unwrap(),
            &call.finish_reasons[1],
        ] {
            assert_eq!(text.chars().count(), MAX_ATTRIBUTE_CHARS);
        }
        assert_eq!(call.finish_reasons[0], "stop");
    }

    #[test]
    fn an_agent_keeps_its_model_and_loses_its_usage_and_cost() {
        for (kind, kept) in [
            (ObservationType::Agent, false),
            (ObservationType::Generation, true),
            (ObservationType::Span, true),
        ] {
            let mut o = obs();
            o.kind = kind;
            let d = o.details_mut();
            d.model = Some("gpt-4o".into());
            d.usage = Some(Usage::new(10, 2));
            d.cost = Some(Cost::total_only(0.1));
            Limits::new(1_000_000).observation(&mut o);
            let d = o.details();
            assert_eq!(d.model.as_deref(), Some("gpt-4o"), "{kind:?}");
            assert_eq!(d.usage.is_some(), kept, "{kind:?}");
            assert_eq!(d.cost.is_some(), kept, "{kind:?}");
        }
    }

    #[test]
    fn depth_is_measured_outside_strings_only() {
        assert!(!deeper_than(&nested(100), 100));
        assert!(deeper_than(&nested(101), 100));
        let in_string = serde_json::to_string(&"[".repeat(500)).unwrap();
        assert!(!deeper_than(&in_string, 100));
        let escaped = format!(r#"["\"{}", 1]"#, "[".repeat(300));
        assert!(!deeper_than(&escaped, 100));
        let wide = format!("[{}]", vec!["[1]"; 500].join(","));
        assert!(!deeper_than(&wide, 100));
    }

    #[test]
    fn every_structured_value_nested_too_deep_becomes_a_marker() {
        let deep = Json::from_raw(nested(10_000));
        let mut o = obs();
        let d = o.details_mut();
        d.input = Some(deep.clone());
        d.output = Some(deep.clone());
        d.model_parameters = Some(deep.clone());
        d.metadata.insert("deep".into(), deep.clone());
        d.metadata.insert("flat".into(), Json::string("ok"));
        o.trace = Arc::new(TraceAttributes {
            input: Some(deep.clone()),
            output: Some(deep.clone()),
            ..Default::default()
        });
        assert!(Limits::new(1_000_000).observation(&mut o));
        let d = o.details();
        for v in [
            d.input.as_ref(),
            d.output.as_ref(),
            d.model_parameters.as_ref(),
            d.metadata.get("deep"),
            o.trace.input.as_ref(),
            o.trace.output.as_ref(),
        ] {
            let v = v.unwrap().to_value();
            assert_eq!(v["truncated"], true, "{v}");
            assert_eq!(v["original_bytes"], 20_000);
        }
        assert_eq!(d.metadata["flat"].as_str(), "\"ok\"");
    }

    #[test]
    fn trace_attributes_are_limited_once_per_snapshot() {
        let attrs = Arc::new(TraceAttributes {
            release: Some("r".repeat(100_000)),
            session_id: Some("s".into()),
            input: Some(Json::string(&"i".repeat(5_000_000))),
            tags: vec!["t".repeat(300), "ok".into()],
            environment: Some("Prod".into()),
            metadata: [
                ("big".to_owned(), Json::string(&"x".repeat(300))),
                ("small".to_owned(), Json::from_raw("1")),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        });
        let mut limits = Limits::new(1_000_000);
        let mut a = obs();
        a.trace = attrs.clone();
        let mut b = obs();
        b.trace = attrs;
        assert!(limits.observation(&mut a));
        assert!(!limits.observation(&mut b), "the snapshot is counted once");
        assert!(Arc::ptr_eq(&a.trace, &b.trace));
        let t = &*a.trace;
        assert_eq!(t.release.as_ref().unwrap().chars().count(), 200);
        assert_eq!(t.session_id.as_deref(), Some("s"));
        assert_eq!(t.input.as_ref().unwrap().to_value()["truncated"], true);
        assert_eq!(t.tags[0].chars().count(), 200);
        assert_eq!(t.tags[1], "ok");
        assert_eq!(t.environment, None);
        assert_eq!(t.metadata.keys().collect::<Vec<_>>(), ["small"]);
    }

    #[test]
    fn score_text_is_cut() {
        let mut s = Score {
            id: "0".repeat(32),
            trace_id: TraceId(1),
            observation_id: None,
            name: "n".repeat(1_000),
            value: ScoreValue::Categorical("c".repeat(1_000)),
            comment: Some("c".repeat(100_000)),
            timestamp: Timestamp(0),
            session_id: None,
        };
        assert!(Limits::new(1_000_000).score(&mut s));
        assert_eq!(s.name.chars().count(), 200);
        assert_eq!(s.comment.unwrap().chars().count(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn mask_reaches_input_output_and_metadata() {
        let mut o = obs();
        o.details_mut().input = Some(Json::string("secret"));
        o.details_mut()
            .metadata
            .insert("k".into(), Json::string("secret"));
        mask(&mut o, &|j: Json| {
            Json::string(&j.as_str().replace("secret", "***"))
        });
        assert_eq!(o.details().input.as_ref().unwrap().as_str(), r#""\"***\"""#);
        assert!(o.details().metadata["k"].as_str().contains("***"));
    }
}
