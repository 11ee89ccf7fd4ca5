//! OTLP/HTTP protobuf: Langfuse v4's endpoint (`{base}/api/public/otel/v1/traces`) and any
//! OpenTelemetry collector.
//!
//! Each batch becomes one `ExportTraceServiceRequest` (one resource, one instrumentation scope
//! named `langfuse-sdk-rust-observe`, which starts with `langfuse-sdk` so Langfuse reads the
//! `langfuse.*` attributes as its own), gzipped, POSTed with the [`http`] sender's retry rules.
//!
//! Every span carries the attributes of CONTRACT.md: its own (`langfuse.observation.*`) and the
//! trace's (`session.id`, `user.id`, `langfuse.trace.tags`, `langfuse.trace.metadata.<key>`,
//! `langfuse.trace.name`, `langfuse.version`, `langfuse.release`, `langfuse.environment`,
//! `langfuse.trace.public`, `langfuse.trace.input`/`output`), because Langfuse v4 sums costs and
//! counts per session and user only over the observations that carry them. Metadata values
//! are JSON-encoded (a string goes quoted). Level `ERROR` also sets the OTel status to `ERROR`
//! with the status message.
//!
//! Beside them, every span carries the OpenTelemetry GenAI attributes that say the same in
//! the conventions' words ([`observe_model::genai`]; written by `otlp/genai_attributes.rs`):
//! `gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model` and
//! `gen_ai.response.model`, `gen_ai.response.id` and `finish_reasons`, `gen_ai.usage.*`
//! tokens, the `gen_ai.request.*` model parameters, `gen_ai.conversation.id` (the session)
//! and `gen_ai.response.time_to_first_chunk`, so that Jaeger, Tempo, Honeycomb or Datadog
//! read a generation too; the content attributes on request
//! ([`OtlpExporter::genai_content`]). Langfuse reads its own `langfuse.observation.*` first,
//! so the generation it builds is the same with or without them (docs/CONFIGURATION.md has
//! the mapping). To a collector, scores go as `gen_ai.evaluation.result` span events
//! (`otlp/evaluation.rs`); to Langfuse, through its scores API.
//!
//! The bytes are written straight from the model, without building `opentelemetry-proto`'s
//! generated message structs first (one attribute is a few byte copies, no allocation). This
//! is the one exception to "generated types over hand-written code" in the crate, kept because
//! it measured 3.6 to 6 times faster through the worker than building the generated request
//! and encoding it with `prost` (BENCHMARKS.md, "OTLP encoder"). The generated types are the
//! tests' oracle: the unit tests build the same request with them and compare.

use std::borrow::Cow;
use std::io::Write as _;

use flate2::write::GzEncoder;
use flate2::Compression;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};

use crate::http::{self, HeaderStyle, HttpOptions, Sender, SetupError, Target};
use crate::json::{write_cost_json, write_usage_json};
use crate::scores::{observations_then_scores, ScoreTarget, LANGFUSE_AUTH_HINT};
use observe_model::export::{Batch, ExportError, Exporter};
use observe_model::genai::attributes as gen_ai;
use observe_model::model::{Json, Level, Observation, Score, TraceAttributes};

mod evaluation;
mod genai_attributes;

use evaluation::Evaluations;

pub use genai_attributes::DEFAULT_CONTENT_MAX_BYTES;

/// The instrumentation scope name; Langfuse treats spans of a scope starting with
/// `langfuse-sdk` as its own.
pub(crate) const SCOPE_NAME: &str = "langfuse-sdk-rust-observe";

/// The instrumentation scope version: this crate's version.
pub(crate) const SCOPE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Trace input and output larger than this (encoded) go on the root span only; smaller ones
/// on every span, as the other trace attributes.
pub(crate) const PROPAGATED_IO_MAX_BYTES: usize = 4096;

/// `flags` of every span: W3C `sampled`, and "we know whether the parent is remote" (it is not).
pub(crate) const SPAN_FLAGS: u32 = 0x101;

/// `Span.kind` INTERNAL (opentelemetry-proto's `SpanKind::Internal`).
const SPAN_KIND_INTERNAL: u8 = 1;

/// `Status.code` ERROR (opentelemetry-proto's `StatusCode::Error`).
const STATUS_CODE_ERROR: u8 = 2;

/// The attribute keys Langfuse reads (CONTRACT.md) that the exporter writes: one list
/// with the decoder's ([`observe_model::otlp_keys`]).
pub mod attributes {
    pub use observe_model::otlp_keys::langfuse::{
        COMPLETION_START_TIME, COST, ENVIRONMENT, INPUT, LEVEL, METADATA_PREFIX, MODEL,
        MODEL_PARAMETERS, OBSERVATION_TYPE, OUTPUT, PROMPT_NAME, PROMPT_VERSION, RELEASE,
        STATUS_MESSAGE, TRACE_INPUT, TRACE_METADATA_PREFIX, TRACE_NAME, TRACE_OUTPUT, TRACE_PUBLIC,
        TRACE_TAGS, USAGE, VERSION,
    };
    pub use observe_model::otlp_keys::otel::{SESSION_ID, USER_ID};
}

use attributes as key;

/// The OTLP resource: `service.name` and the SDK's own attributes, plus any you add.
///
/// ```
/// use observe_export::otlp::Resource;
/// let r = Resource::new("checkout").with("deployment.region", "eu");
/// assert!(r.attributes().iter().any(|(k, v)| k == "service.name" && v == "checkout"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    attributes: Vec<(String, String)>,
}

impl Resource {
    /// A resource for `service_name`, with `telemetry.sdk.{name,language,version}`.
    pub fn new(service_name: impl Into<String>) -> Resource {
        Resource {
            attributes: vec![
                ("service.name".to_owned(), service_name.into()),
                ("telemetry.sdk.name".to_owned(), "observe".to_owned()),
                ("telemetry.sdk.language".to_owned(), "rust".to_owned()),
                ("telemetry.sdk.version".to_owned(), SCOPE_VERSION.to_owned()),
            ],
        }
    }

    /// Adds or replaces one string attribute.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Resource {
        let (key, value) = (key.into(), value.into());
        match self.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key, value)),
        }
        self
    }

    /// The attributes, in order.
    pub fn attributes(&self) -> &[(String, String)] {
        &self.attributes
    }
}

impl Default for Resource {
    /// `service.name` = `unknown_service:<executable name>`, as OpenTelemetry SDKs name a
    /// service that did not name itself.
    fn default() -> Self {
        Resource::new(observe_model::vars::default_service_name())
    }
}

// ---------------------------------------------------------------------------------------------
// Attributes: one mapping from the model, written by two sinks (raw bytes, generated structs).

/// What an exporter writes beyond the attributes every span carries.
#[derive(Clone, Copy, Debug, Default)]
struct Extras {
    /// The GenAI content attributes, each within this many bytes (opt-in).
    content_max_bytes: Option<usize>,
    /// Scores as `gen_ai.evaluation.result` span events (a collector, not Langfuse).
    evaluations: bool,
}

/// Where the attribute mapping writes.
trait Sink {
    /// A string attribute whose key is `prefix` followed by `key`.
    fn str2(&mut self, prefix: &str, key: &str, value: &str);
    fn boolean(&mut self, key: &str, value: bool);
    fn int(&mut self, key: &str, value: i64);
    fn double(&mut self, key: &str, value: f64);
    fn strings(&mut self, key: &str, values: &[String]);

    fn str(&mut self, key: &str, value: &str) {
        self.str2(key, "", value)
    }
}

/// The text of a JSON value as an attribute: a plain string unquoted, anything else as JSON.
/// Fast path for strings without escapes (no allocation).
fn attr_text(v: &Json) -> Cow<'_, str> {
    let s = v.as_str();
    if s.len() >= 2 && s.starts_with('"') && s.ends_with('"') {
        let inner = &s[1..s.len() - 1];
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
    }
    v.to_attribute_text()
}

/// A JSON `null` (a function that returned `None`) is no value: its attribute is left out,
/// as the official SDKs leave out `None`.
fn is_set(v: &Json) -> bool {
    v.as_str() != "null"
}

/// The trace attributes every span of the trace shares, whatever the span (cacheable per
/// attribute snapshot).
fn visit_trace(t: &TraceAttributes, sink: &mut impl Sink) {
    if let Some(v) = &t.name {
        sink.str(key::TRACE_NAME, v);
    }
    if let Some(v) = &t.user_id {
        sink.str(key::USER_ID, v);
    }
    if let Some(v) = &t.session_id {
        sink.str(key::SESSION_ID, v);
        sink.str(gen_ai::CONVERSATION_ID, v);
    }
    if !t.tags.is_empty() {
        sink.strings(key::TRACE_TAGS, &t.tags);
    }
    // Metadata values go JSON-encoded, strings quoted (CONTRACT.md; the SDKs do the same),
    // so the string "123" stays a string and does not reach Langfuse as a number.
    for (k, v) in t.metadata.iter().filter(|(_, v)| is_set(v)) {
        sink.str2(key::TRACE_METADATA_PREFIX, k, v.as_str());
    }
    if let Some(v) = t.public {
        sink.boolean(key::TRACE_PUBLIC, v);
    }
    if let Some(v) = &t.release {
        sink.str(key::RELEASE, v);
    }
    if let Some(v) = &t.environment {
        sink.str(key::ENVIRONMENT, v);
    }
}

/// The attributes that depend on the observation.
fn visit_observation(
    obs: &Observation,
    sink: &mut impl Sink,
    scratch: &mut Vec<u8>,
    extras: Extras,
) {
    let t = &*obs.trace;
    let d = obs.details.as_deref();
    if let Some(v) = d
        .and_then(|d| d.version.as_deref())
        .or(t.version.as_deref())
    {
        sink.str(key::VERSION, v);
    }
    for (k, v) in [(key::TRACE_INPUT, &t.input), (key::TRACE_OUTPUT, &t.output)] {
        if let Some(v) = v.as_ref().filter(|v| is_set(v)) {
            if obs.is_root() || v.len() <= PROPAGATED_IO_MAX_BYTES {
                sink.str(k, &attr_text(v));
            }
        }
    }
    sink.str(key::OBSERVATION_TYPE, obs.kind.as_str());
    sink.str(key::LEVEL, obs.level.as_str());
    genai_attributes::visit_operation(obs, sink);
    let Some(d) = d else {
        return;
    };
    if let Some(v) = d.input.as_ref().filter(|v| is_set(v)) {
        sink.str(key::INPUT, &attr_text(v));
    }
    if let Some(v) = d.output.as_ref().filter(|v| is_set(v)) {
        sink.str(key::OUTPUT, &attr_text(v));
    }
    for (k, v) in d.metadata.iter().filter(|(_, v)| is_set(v)) {
        sink.str2(key::METADATA_PREFIX, k, v.as_str());
    }
    if let Some(v) = &d.status_message {
        sink.str(key::STATUS_MESSAGE, v);
    }
    if let Some(v) = &d.model {
        sink.str(key::MODEL, v);
    }
    if let Some(v) = &d.model_parameters {
        sink.str(key::MODEL_PARAMETERS, v.as_str());
    }
    if let Some(usage) = &d.usage {
        scratch.clear();
        write_usage_json(scratch, usage.0.iter().map(|(k, v)| (k.as_str(), *v)));
        sink.str(key::USAGE, std::str::from_utf8(scratch).unwrap_or("{}"));
    }
    if let Some(cost) = &d.cost {
        scratch.clear();
        write_cost_json(scratch, cost.0.iter().map(|(k, v)| (k.as_str(), *v)));
        sink.str(key::COST, std::str::from_utf8(scratch).unwrap_or("{}"));
    }
    if let Some(at) = d.completion_start_time {
        sink.str(key::COMPLETION_START_TIME, &at.to_rfc3339());
    }
    if let Some(v) = &d.prompt_name {
        sink.str(key::PROMPT_NAME, v);
    }
    if let Some(v) = d.prompt_version {
        sink.int(key::PROMPT_VERSION, v);
    }
    genai_attributes::visit_details(obs, d, sink, extras.content_max_bytes);
}

// ---------------------------------------------------------------------------------------------
// Raw protobuf writing.

const LEN: u8 = 2;
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const FIXED32: u8 = 5;

const fn tag(field: u8, wire: u8) -> u8 {
    (field << 3) | wire
}

#[inline]
fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

#[inline]
fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Length of a length-delimited field's content plus its tag and length prefix.
#[inline]
fn field_len(content: usize) -> usize {
    1 + varint_len(content as u64) + content
}

#[inline]
fn put_bytes(buf: &mut Vec<u8>, tag_byte: u8, data: &[u8]) {
    buf.push(tag_byte);
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// Writes `KeyValue` attributes as repeated field `field` of the enclosing message.
struct PbSink<'a> {
    buf: &'a mut Vec<u8>,
    field_tag: u8,
}

impl PbSink<'_> {
    #[inline]
    fn key_value(&mut self, prefix: &str, key: &str, any_len: usize) {
        let key_len = prefix.len() + key.len();
        let kv_len = field_len(key_len) + field_len(any_len);
        let b = &mut *self.buf;
        b.push(self.field_tag);
        put_varint(b, kv_len as u64);
        b.push(tag(1, LEN)); // KeyValue.key
        put_varint(b, key_len as u64);
        b.extend_from_slice(prefix.as_bytes());
        b.extend_from_slice(key.as_bytes());
        b.push(tag(2, LEN)); // KeyValue.value
        put_varint(b, any_len as u64);
    }
}

impl Sink for PbSink<'_> {
    #[inline]
    fn str2(&mut self, prefix: &str, key: &str, value: &str) {
        self.key_value(prefix, key, field_len(value.len()));
        put_bytes(self.buf, tag(1, LEN), value.as_bytes()); // AnyValue.string_value
    }

    fn boolean(&mut self, key: &str, value: bool) {
        self.key_value("", key, 2);
        self.buf.push(tag(2, VARINT)); // AnyValue.bool_value
        self.buf.push(value as u8);
    }

    fn int(&mut self, key: &str, value: i64) {
        self.key_value("", key, 1 + varint_len(value as u64));
        self.buf.push(tag(3, VARINT)); // AnyValue.int_value
        put_varint(self.buf, value as u64);
    }

    fn double(&mut self, key: &str, value: f64) {
        self.key_value("", key, 9);
        self.buf.push(tag(4, FIXED64)); // AnyValue.double_value
        self.buf.extend_from_slice(&value.to_le_bytes());
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        let array_len: usize = values.iter().map(|v| field_len(field_len(v.len()))).sum();
        self.key_value("", key, field_len(array_len));
        let b = &mut *self.buf;
        b.push(tag(5, LEN)); // AnyValue.array_value
        put_varint(b, array_len as u64);
        for v in values {
            b.push(tag(1, LEN)); // ArrayValue.values
            put_varint(b, field_len(v.len()) as u64);
            put_bytes(b, tag(1, LEN), v.as_bytes());
        }
    }
}

/// Reusable buffers for the encoder; one encodes many batches without allocating. Not part
/// of the API (hidden, exempt from semver): public for the crate's benchmarks.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct Encoder {
    out: Vec<u8>,
    spans: Vec<u8>,
    span: Vec<u8>,
    trace: Vec<u8>,
    scratch: Vec<u8>,
    extras: Extras,
}

impl Encoder {
    /// Empty buffers.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    /// Encodes the batch's observations as one `ExportTraceServiceRequest` (scores are not
    /// spans and are left out). The bytes stay valid until the next call.
    pub fn encode(&mut self, batch: &Batch, resource: &Resource) -> &[u8] {
        self.spans.clear();
        let evaluations = if self.extras.evaluations {
            Evaluations::plan(batch)
        } else {
            Evaluations::default()
        };
        let mut cached: *const TraceAttributes = std::ptr::null();
        for obs in &batch.observations {
            let attrs: *const TraceAttributes = &*obs.trace;
            if attrs != cached {
                self.trace.clear();
                visit_trace(
                    &obs.trace,
                    &mut PbSink {
                        buf: &mut self.trace,
                        field_tag: tag(9, LEN),
                    },
                );
                cached = attrs;
            }
            self.span.clear();
            write_span(
                obs,
                &self.trace,
                &mut self.span,
                &mut self.scratch,
                self.extras,
            );
            write_events(evaluations.on(obs.trace_id, obs.id), &mut self.span);
            put_bytes(&mut self.spans, tag(2, LEN), &self.span); // ScopeSpans.spans
        }
        for score in evaluations.apart() {
            self.span.clear();
            write_score_span(score, &mut self.span);
            put_bytes(&mut self.spans, tag(2, LEN), &self.span);
        }

        // Resource { attributes = 1 }
        self.scratch.clear();
        {
            let mut sink = PbSink {
                buf: &mut self.scratch,
                field_tag: tag(1, LEN),
            };
            for (k, v) in resource.attributes() {
                sink.str(k, v);
            }
        }
        let resource_len = self.scratch.len();
        // InstrumentationScope { name = 1, version = 2 }
        let scope_len = field_len(SCOPE_NAME.len()) + field_len(SCOPE_VERSION.len());
        let scope_spans_len = field_len(scope_len) + self.spans.len();
        let resource_spans_len = field_len(resource_len) + field_len(scope_spans_len);

        let out = &mut self.out;
        out.clear();
        out.reserve(field_len(resource_spans_len));
        out.push(tag(1, LEN)); // ExportTraceServiceRequest.resource_spans
        put_varint(out, resource_spans_len as u64);
        put_bytes(out, tag(1, LEN), &self.scratch); // ResourceSpans.resource
        out.push(tag(2, LEN)); // ResourceSpans.scope_spans
        put_varint(out, scope_spans_len as u64);
        out.push(tag(1, LEN)); // ScopeSpans.scope
        put_varint(out, scope_len as u64);
        put_bytes(out, tag(1, LEN), SCOPE_NAME.as_bytes());
        put_bytes(out, tag(2, LEN), SCOPE_VERSION.as_bytes());
        out.extend_from_slice(&self.spans);
        &self.out
    }
}

/// One `Span` message body.
fn write_span(
    obs: &Observation,
    trace_attrs: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    extras: Extras,
) {
    put_bytes(out, tag(1, LEN), &obs.trace_id.to_bytes());
    put_bytes(out, tag(2, LEN), &obs.id.to_bytes());
    if let Some(parent) = obs.parent_id {
        put_bytes(out, tag(4, LEN), &parent.to_bytes());
    }
    put_bytes(out, tag(5, LEN), obs.name.as_bytes());
    out.push(tag(6, VARINT));
    out.push(SPAN_KIND_INTERNAL);
    out.push(tag(7, FIXED64));
    out.extend_from_slice(&obs.start.as_nanos().to_le_bytes());
    out.push(tag(8, FIXED64));
    out.extend_from_slice(&obs.end.as_nanos().to_le_bytes());
    out.extend_from_slice(trace_attrs);
    visit_observation(
        obs,
        &mut PbSink {
            buf: out,
            field_tag: tag(9, LEN),
        },
        scratch,
        extras,
    );
    if obs.level == Level::Error {
        let message = obs.details().status_message.as_deref().unwrap_or("");
        let message_len = if message.is_empty() {
            0
        } else {
            field_len(message.len())
        };
        out.push(tag(15, LEN)); // Span.status
        put_varint(out, (message_len + 2) as u64);
        if !message.is_empty() {
            put_bytes(out, tag(2, LEN), message.as_bytes()); // Status.message
        }
        out.push(tag(3, VARINT)); // Status.code
        out.push(STATUS_CODE_ERROR);
    }
    // Span.flags: field 16, fixed32; the tag needs two bytes.
    put_varint(out, (16 << 3) | FIXED32 as u64);
    out.extend_from_slice(&SPAN_FLAGS.to_le_bytes());
}

/// `Span.events`: one `gen_ai.evaluation.result` event per score.
fn write_events(scores: &[&Score], out: &mut Vec<u8>) {
    let mut event = Vec::new();
    for score in scores {
        event.clear();
        event.push(tag(1, FIXED64)); // Event.time_unix_nano
        event.extend_from_slice(&score.timestamp.as_nanos().to_le_bytes());
        put_bytes(
            &mut event,
            tag(2, LEN),
            gen_ai::EVALUATION_RESULT.as_bytes(),
        );
        evaluation::visit(
            score,
            &mut PbSink {
                buf: &mut event,
                field_tag: tag(3, LEN), // Event.attributes
            },
        );
        put_bytes(out, tag(11, LEN), &event); // Span.events
    }
}

/// The span of its own that carries a score whose evaluated span is not in the batch.
fn write_score_span(score: &Score, out: &mut Vec<u8>) {
    put_bytes(out, tag(1, LEN), &score.trace_id.to_bytes());
    put_bytes(out, tag(2, LEN), &evaluation::own_span_id(score).to_bytes());
    if let Some(parent) = score.observation_id {
        put_bytes(out, tag(4, LEN), &parent.to_bytes());
    }
    put_bytes(
        out,
        tag(5, LEN),
        evaluation::own_span_name(score).as_bytes(),
    );
    out.push(tag(6, VARINT));
    out.push(SPAN_KIND_INTERNAL);
    for field in [7, 8] {
        out.push(tag(field, FIXED64));
        out.extend_from_slice(&score.timestamp.as_nanos().to_le_bytes());
    }
    visit_score_span(
        score,
        &mut PbSink {
            buf: out,
            field_tag: tag(9, LEN),
        },
    );
    write_events(&[score], out);
    put_varint(out, (16 << 3) | FIXED32 as u64);
    out.extend_from_slice(&SPAN_FLAGS.to_le_bytes());
}

/// A score's own span's attributes: the evaluation's, and the session, as on every span.
fn visit_score_span(score: &Score, sink: &mut impl Sink) {
    if let Some(v) = &score.session_id {
        sink.str(key::SESSION_ID, v);
        sink.str(gen_ai::CONVERSATION_ID, v);
    }
    evaluation::visit(score, sink);
}

/// Encodes the batch's observations into OTLP protobuf bytes (not compressed): the
/// exporter's wire format. Not part of the API (hidden, exempt from semver): public for the
/// crate's tests, which decode it with `opentelemetry-proto`.
#[doc(hidden)]
pub fn encode_batch(batch: &Batch, resource: &Resource) -> Vec<u8> {
    Encoder::new().encode(batch, resource).to_vec()
}

// ---------------------------------------------------------------------------------------------
// The exporter.

/// Sends batches over OTLP/HTTP protobuf, gzipped: to Langfuse (with scores to its scores
/// endpoint) or to any OpenTelemetry collector.
///
/// ```no_run
/// use observe_runtime::Client;
/// use observe_export::http::HttpOptions;
/// use observe_export::otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::langfuse(
///     "https://cloud.langfuse.com", "pk-lf-...", "sk-lf-...", HttpOptions::default(),
/// ).unwrap();
/// let client = Client::builder().exporter(exporter).build();
/// # drop(client);
/// ```
pub struct OtlpExporter {
    name: &'static str,
    target: Target,
    sender: Sender,
    resource: Resource,
    encoder: Encoder,
    gzip: bool,
    scores: Option<ScoreTarget>,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("name", &self.name)
            .field("url", &self.target.shown_url())
            .field("gzip", &self.gzip)
            .field("scores", &self.scores.is_some())
            .finish()
    }
}

impl OtlpExporter {
    /// Langfuse's OTLP endpoint, `{base_url}/api/public/otel/v1/traces`, with Basic auth and
    /// the `x-langfuse-*` headers; scores go to `{base_url}/api/public/scores`.
    pub fn langfuse(
        base_url: &str,
        public_key: &str,
        secret_key: &str,
        options: HttpOptions,
    ) -> Result<OtlpExporter, SetupError> {
        let base = base_url.trim_end_matches('/');
        let url = http::parse_url(&format!("{base}/api/public/otel/v1/traces"))?;
        let mut headers = http::langfuse_headers(public_key, secret_key, HeaderStyle::Hyphens)?;
        http::insert(&mut headers, "x-langfuse-ingestion-version", "4")?;
        let scores = ScoreTarget::langfuse(base, public_key, secret_key, None)?;
        let mut exporter = OtlpExporter::with_target(
            "langfuse-otlp",
            Target {
                destination: "Langfuse (OTLP)".to_owned(),
                url,
                headers,
                auth_hint: LANGFUSE_AUTH_HINT,
            },
            options,
        )?;
        exporter.scores = Some(scores);
        Ok(exporter)
    }

    /// Any OTLP/HTTP collector: `endpoint` is the full traces URL
    /// (`http://localhost:4318/v1/traces`), `headers` are sent as given. Scores go as
    /// `gen_ai.evaluation.result` events on the spans they evaluate.
    pub fn collector(
        endpoint: &str,
        headers: &[(String, String)],
        options: HttpOptions,
    ) -> Result<OtlpExporter, SetupError> {
        let url = http::parse_url(endpoint)?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            http::insert(&mut map, name, value)?;
        }
        let mut exporter = OtlpExporter::with_target(
            "otlp",
            Target {
                destination: "OTLP collector".to_owned(),
                url,
                headers: map,
                auth_hint: "check the collector's credentials in OTEL_EXPORTER_OTLP_HEADERS",
            },
            options,
        )?;
        exporter.encoder.extras.evaluations = true;
        Ok(exporter)
    }

    fn with_target(
        name: &'static str,
        mut target: Target,
        options: HttpOptions,
    ) -> Result<OtlpExporter, SetupError> {
        target.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        target
            .headers
            .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        Ok(OtlpExporter {
            name,
            target,
            sender: Sender::new(options),
            resource: Resource::default(),
            encoder: Encoder::new(),
            gzip: true,
            scores: None,
        })
    }

    /// Writes the GenAI content attributes (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`) on generations, built from
    /// their captured input and output, each within [`DEFAULT_CONTENT_MAX_BYTES`]. Off by
    /// default; meant for backends other than Langfuse, which reads the captured input and
    /// output already (`OBSERVE_GENAI_CONTENT=true` turns it on for the collector).
    ///
    /// ```
    /// use observe_export::http::HttpOptions;
    /// use observe_export::otlp::OtlpExporter;
    /// let e = OtlpExporter::collector("http://localhost:4318/v1/traces", &[], HttpOptions::default())
    ///     .unwrap()
    ///     .genai_content(true);
    /// # drop(e);
    /// ```
    pub fn genai_content(mut self, on: bool) -> OtlpExporter {
        self.encoder.extras.content_max_bytes = on.then_some(DEFAULT_CONTENT_MAX_BYTES);
        self
    }

    /// Replaces the resource (default: `service.name` = `unknown_service:<executable>`).
    pub fn resource(mut self, resource: Resource) -> OtlpExporter {
        self.resource = resource;
        self
    }

    /// The environment scores carry (Langfuse only); spans carry theirs as an attribute.
    pub fn score_environment(mut self, environment: Option<String>) -> OtlpExporter {
        if let Some(scores) = self.scores.take() {
            self.scores = Some(scores.with_environment(environment));
        }
        self
    }

    /// Sends the body uncompressed (default: gzip).
    pub fn gzip(mut self, on: bool) -> OtlpExporter {
        self.gzip = on;
        if !on {
            self.target.headers.remove(CONTENT_ENCODING);
        } else {
            self.target
                .headers
                .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        self
    }

    /// The traces URL this exporter posts to.
    pub fn url(&self) -> &str {
        self.target.url.as_str()
    }
}

/// Gzips with the fastest level: the batch is mostly JSON text, which compresses well even so.
pub(crate) fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4 + 64),
        Compression::fast(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

impl OtlpExporter {
    /// A collector's batch with scores: the scores go as `gen_ai.evaluation.result` events
    /// with the spans, in one request. If that request is too large, the scores go alone
    /// (each on a span of its own) and the spans are split as usual; a score fails with the
    /// request that carried it.
    fn export_with_evaluations(&mut self, batch: &Batch) -> Result<(), ExportError> {
        match self.send_spans(batch) {
            Err(ExportError::TooLarge { .. }) => {
                let scores = Batch {
                    observations: Vec::new(),
                    scores: batch.scores.clone(),
                };
                let spans = Batch {
                    observations: batch.observations.clone(),
                    scores: Vec::new(),
                };
                let spans_sent = if spans.observations.is_empty() {
                    Ok(())
                } else {
                    observe_model::export::send_halving(&spans, &mut |part: &Batch| {
                        self.send_spans(part)
                    })
                };
                let scores_sent = self.send_spans(&scores);
                observe_model::export::combine(vec![
                    (spans_sent, batch.observations.len()),
                    (scores_sent, batch.scores.len()),
                ])
            }
            other => other,
        }
    }

    /// Encodes and posts a batch's spans (and, to a collector, its scores as events).
    fn send_spans(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let bytes = self.encoder.encode(batch, &self.resource);
        let body = if self.gzip {
            gzip(bytes).map_err(|e| ExportError::Io {
                destination: self.target.destination.clone(),
                source: Box::new(e),
            })?
        } else {
            bytes.to_vec()
        };
        self.sender.post(&self.target, &[], &body).map(drop)
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &str {
        self.name
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        if self.scores.is_none() && !batch.scores.is_empty() {
            return self.export_with_evaluations(batch);
        }
        let mut spans = Ok(());
        if !batch.observations.is_empty() {
            // A 413 splits the batch, so only a record too large on its own fails.
            spans = observe_model::export::send_halving(batch, &mut |part: &Batch| {
                self.send_spans(part)
            });
        }
        match &self.scores {
            Some(target) => {
                observations_then_scores(batch, spans, &self.target.destination, || {
                    target.send(&mut self.sender, &batch.scores)
                })
            }
            None => spans,
        }
    }

    fn attach(&mut self, context: observe_model::export::ExportContext) {
        self.sender.attach(context);
    }

    fn remote(&self) -> bool {
        true
    }

    fn retries(&self) -> u64 {
        self.sender.retries()
    }
}

/// The same mapping written into `opentelemetry-proto`'s generated types: the oracle the
/// hand-written bytes are checked against (a dev-dependency, not compiled for users).
#[cfg(test)]
mod oracle {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
    use opentelemetry_proto::tonic::trace::v1::{
        span::{Event, SpanKind},
        status::StatusCode,
        ResourceSpans, ScopeSpans, Span, Status,
    };

    struct StructSink<'a>(&'a mut Vec<KeyValue>);

    fn any(value: any_value::Value) -> Option<AnyValue> {
        Some(AnyValue { value: Some(value) })
    }

    impl Sink for StructSink<'_> {
        fn str2(&mut self, prefix: &str, key: &str, value: &str) {
            self.0.push(KeyValue {
                key: format!("{prefix}{key}"),
                value: any(any_value::Value::StringValue(value.to_owned())),
                ..Default::default()
            });
        }

        fn boolean(&mut self, key: &str, value: bool) {
            self.0.push(KeyValue {
                key: key.to_owned(),
                value: any(any_value::Value::BoolValue(value)),
                ..Default::default()
            });
        }

        fn int(&mut self, key: &str, value: i64) {
            self.0.push(KeyValue {
                key: key.to_owned(),
                value: any(any_value::Value::IntValue(value)),
                ..Default::default()
            });
        }

        fn double(&mut self, key: &str, value: f64) {
            self.0.push(KeyValue {
                key: key.to_owned(),
                value: any(any_value::Value::DoubleValue(value)),
                ..Default::default()
            });
        }

        fn strings(&mut self, key: &str, values: &[String]) {
            let values = values
                .iter()
                .map(|v| AnyValue {
                    value: Some(any_value::Value::StringValue(v.clone())),
                })
                .collect();
            self.0.push(KeyValue {
                key: key.to_owned(),
                value: any(any_value::Value::ArrayValue(ArrayValue { values })),
                ..Default::default()
            });
        }
    }

    /// The batch's observations as `opentelemetry-proto`'s generated request: what the bytes
    /// must decode to.
    pub(super) fn to_request(
        batch: &Batch,
        resource: &Resource,
        extras: Extras,
    ) -> ExportTraceServiceRequest {
        let mut scratch = Vec::new();
        let evaluations = if extras.evaluations {
            Evaluations::plan(batch)
        } else {
            Evaluations::default()
        };
        let events = |scores: &[&Score]| -> Vec<Event> {
            scores
                .iter()
                .map(|score| {
                    let mut attributes = Vec::new();
                    evaluation::visit(score, &mut StructSink(&mut attributes));
                    Event {
                        time_unix_nano: score.timestamp.as_nanos(),
                        name: gen_ai::EVALUATION_RESULT.to_owned(),
                        attributes,
                        ..Default::default()
                    }
                })
                .collect()
        };
        let score_spans: Vec<Span> = evaluations
            .apart()
            .iter()
            .map(|score| {
                let mut attributes = Vec::new();
                visit_score_span(score, &mut StructSink(&mut attributes));
                Span {
                    trace_id: score.trace_id.to_bytes().to_vec(),
                    span_id: evaluation::own_span_id(score).to_bytes().to_vec(),
                    parent_span_id: score
                        .observation_id
                        .map(|p| p.to_bytes().to_vec())
                        .unwrap_or_default(),
                    flags: SPAN_FLAGS,
                    name: evaluation::own_span_name(score),
                    kind: SpanKind::Internal as i32,
                    start_time_unix_nano: score.timestamp.as_nanos(),
                    end_time_unix_nano: score.timestamp.as_nanos(),
                    attributes,
                    events: events(&[score]),
                    ..Default::default()
                }
            })
            .collect();
        let spans = batch
            .observations
            .iter()
            .map(|obs| {
                let mut attributes = Vec::new();
                visit_trace(&obs.trace, &mut StructSink(&mut attributes));
                visit_observation(obs, &mut StructSink(&mut attributes), &mut scratch, extras);
                let status = (obs.level == Level::Error).then(|| Status {
                    message: obs.details().status_message.clone().unwrap_or_default(),
                    code: StatusCode::Error as i32,
                });
                Span {
                    trace_id: obs.trace_id.to_bytes().to_vec(),
                    span_id: obs.id.to_bytes().to_vec(),
                    parent_span_id: obs
                        .parent_id
                        .map(|p| p.to_bytes().to_vec())
                        .unwrap_or_default(),
                    flags: SPAN_FLAGS,
                    name: obs.name.to_string(),
                    kind: SpanKind::Internal as i32,
                    start_time_unix_nano: obs.start.as_nanos(),
                    end_time_unix_nano: obs.end.as_nanos(),
                    attributes,
                    status,
                    events: events(evaluations.on(obs.trace_id, obs.id)),
                    ..Default::default()
                }
            })
            .chain(score_spans)
            .collect();
        let mut resource_attributes = Vec::new();
        for (k, v) in resource.attributes() {
            StructSink(&mut resource_attributes).str(k, v);
        }
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(ProtoResource {
                    attributes: resource_attributes,
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.to_owned(),
                        version: SCOPE_VERSION.to_owned(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use observe_model::model::*;
    use prost::Message as _;
    use std::sync::Arc;

    #[test]
    fn the_proto_enums_are_the_generated_ones() {
        use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
        assert_eq!(SPAN_KIND_INTERNAL as i32, SpanKind::Internal as i32);
        assert_eq!(STATUS_CODE_ERROR as i32, StatusCode::Error as i32);
    }

    fn random_text(rng: &mut fastrand::Rng) -> String {
        let pool = [
            "",
            "a",
            "naïve \"quoted\" ✓",
            "line\nbreak",
            "\u{1F600}",
            "\u{0}\u{1b}[31m",
            "ключ",
        ];
        (0..rng.usize(0..4))
            .map(|_| pool[rng.usize(0..pool.len())])
            .collect()
    }

    fn random_json(rng: &mut fastrand::Rng) -> Json {
        match rng.u8(0..6) {
            0 => Json::string(&random_text(rng)),
            1 => Json::from_value(&rng.i64(..)),
            2 => {
                Json::from_value(&serde_json::json!({"k": random_text(rng), "n": [1, null, true]}))
            }
            3 => Json::from_raw("null"),
            4 => Json::from_value(&rng.f64()),
            _ => Json::string("123"),
        }
    }

    fn random_observation(rng: &mut fastrand::Rng, trace: &Arc<TraceAttributes>) -> Observation {
        let mut obs = Observation {
            trace_id: TraceId(rng.u128(1..)),
            id: SpanId(rng.u64(1..)),
            parent_id: rng.bool().then(|| SpanId(rng.u64(1..))),
            name: random_text(rng).into(),
            kind: ObservationType::ALL[rng.usize(0..ObservationType::ALL.len())],
            level: if rng.bool() {
                Level::Error
            } else {
                Level::Default
            },
            start: Timestamp(rng.u64(..)),
            end: Timestamp(rng.u64(..)),
            details: None,
            trace: trace.clone(),
        };
        if rng.bool() {
            let d = obs.details_mut();
            d.input = Some(random_json(rng));
            d.output = Some(random_json(rng));
            for _ in 0..rng.usize(0..3) {
                d.metadata.insert(random_text(rng), random_json(rng));
            }
            d.status_message = rng.bool().then(|| random_text(rng));
            d.model = rng.bool().then(|| random_text(rng));
            d.model_parameters = rng.bool().then(|| {
                Json::from_value(&serde_json::json!({
                    "temperature": rng.f64(),
                    "max_tokens": rng.u32(..),
                    "stop": [random_text(rng)],
                    "stream": rng.bool(),
                    "response_format": {"type": "json"},
                }))
            });
            d.usage = rng.bool().then(|| {
                Usage::new(rng.u32(..).into(), rng.u32(..).into())
                    .with("input_cached_tokens", rng.u32(..).into())
                    .with("reasoning_tokens", rng.u32(..).into())
            });
            d.cost = rng.bool().then(|| Cost::new(rng.f64(), f64::NAN));
            d.prompt_version = rng.bool().then(|| rng.i64(..));
            d.completion_start_time = rng.bool().then(|| Timestamp(rng.u64(..)));
            d.gen_ai = rng.bool().then(|| {
                Box::new(GenAiCall {
                    provider: rng.bool().then(|| random_text(rng)),
                    operation: rng.bool().then(|| "text_completion".to_owned()),
                    response_id: rng.bool().then(|| random_text(rng)),
                    finish_reasons: (0..rng.usize(0..3)).map(|_| random_text(rng)).collect(),
                })
            });
            if rng.bool() {
                d.input = Some(Json::from_value(&serde_json::json!({"messages": [
                    {"role": "system", "content": random_text(rng)},
                    {"role": "user", "content": random_text(rng).repeat(rng.usize(0..500))},
                ]})));
            }
        }
        obs
    }

    /// A score of one of `observations` (or of its trace), or of a span not among them.
    fn random_score(rng: &mut fastrand::Rng, observations: &[Box<Observation>]) -> Score {
        let target = (!observations.is_empty() && rng.bool())
            .then(|| &observations[rng.usize(0..observations.len())]);
        Score {
            id: format!("{:032x}", rng.u128(..)),
            trace_id: target.map_or(TraceId(rng.u128(1..)), |o| o.trace_id),
            observation_id: match (target, rng.bool()) {
                (Some(o), true) => Some(o.id),
                (None, true) => Some(SpanId(rng.u64(1..))),
                _ => None,
            },
            name: random_text(rng),
            value: match rng.u8(0..3) {
                0 => ScoreValue::Numeric(rng.f64()),
                1 => ScoreValue::Boolean(rng.bool()),
                _ => ScoreValue::Categorical(random_text(rng)),
            },
            comment: rng.bool().then(|| random_text(rng)),
            timestamp: Timestamp(rng.u64(..)),
            session_id: rng.bool().then(|| random_text(rng)),
        }
    }

    /// The hand-written bytes decode to exactly what the generated types build, over random
    /// observations (odd Unicode, control characters, extreme numbers, JSON-looking strings).
    #[test]
    fn the_bytes_decode_to_what_the_generated_types_build() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        let mut rng = fastrand::Rng::with_seed(7);
        let resource = Resource::new("svc").with("deployment.environment", "test");
        for round in 0..50 {
            let mut trace = TraceAttributes {
                session_id: Some(random_text(&mut rng)),
                tags: vec![random_text(&mut rng), "t".into()],
                public: Some(rng.bool()),
                input: Some(random_json(&mut rng)),
                ..TraceAttributes::default()
            };
            trace.metadata.insert("count".into(), Json::string("123"));
            trace
                .metadata
                .insert(random_text(&mut rng), random_json(&mut rng));
            let trace = Arc::new(trace);
            let observations: Vec<Box<Observation>> = (0..rng.usize(0..20))
                .map(|_| Box::new(random_observation(&mut rng, &trace)))
                .collect();
            let scores = (0..rng.usize(0..4))
                .map(|_| Box::new(random_score(&mut rng, &observations)))
                .collect();
            let batch = Batch {
                observations,
                scores,
            };
            let extras = Extras {
                content_max_bytes: rng.bool().then(|| rng.usize(16..4_000)),
                evaluations: rng.bool(),
            };
            let mut encoder = Encoder::new();
            encoder.extras = extras;
            let bytes = encoder.encode(&batch, &resource).to_vec();
            let decoded = ExportTraceServiceRequest::decode(&bytes[..])
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            let reference = oracle::to_request(&batch, &resource, extras);
            // Equal as messages; the bytes may differ where the encoder writes a field with
            // its default value (an empty name) that prost leaves out: both decode the same.
            assert_eq!(decoded, reference, "round {round}");
        }
    }

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn attr_text_unquotes_plain_strings_only() {
        assert_eq!(attr_text(&Json::string("hi")), "hi");
        assert_eq!(attr_text(&Json::string("a\"b")), "a\"b");
        assert_eq!(
            attr_text(&Json::from_value(&serde_json::json!({"a": 1}))),
            r#"{"a":1}"#
        );
        assert_eq!(attr_text(&Json::from_value(&5)), "5");
    }
}
