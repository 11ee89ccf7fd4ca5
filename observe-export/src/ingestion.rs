//! The legacy Langfuse ingestion API (`POST {base}/api/public/ingestion`), for self-hosted
//! Langfuse v2/v3 servers. Langfuse v4 (and Cloud after 2026-11-16) refuses it: use the OTLP
//! exporter there.
//!
//! Per trace in a batch, one `trace-create` (an upsert: session id, user id, tags and
//! metadata live only there); per observation one `<type>-create` with its end (`span-create`,
//! `generation-create`, `event-create`, `agent-create` ... `guardrail-create`). Bodies are
//! camelCase with absent fields left out (never `null`), timestamps UTC ISO-8601 with
//! microseconds and `Z`, a top-level observation has no `parentObservationId`. A batch is
//! split into requests under [`MAX_REQUEST_BYTES`]. The server answers `207` with a status per
//! event; refused observations are counted one by one and reported as
//! [`ExportError::Partial`]. A `413` splits the request's observations in halves. A server
//! that refuses typed events (Langfuse v2) gets them again as spans or generations, with the
//! type in the metadata (`observation_type`); see [`IngestionExporter::legacy_types`].
//!
//! The JSON is written straight into one buffer, with the already-encoded input, output and
//! metadata values embedded as they are.
//!
//! ```
//! use std::sync::Arc;
//! use observe_export::ingestion::encode_batch;
//! use observe_model::export::Batch;
//! use observe_model::model::*;
//!
//! let obs = Observation {
//!     trace_id: TraceId(7), id: SpanId(9), parent_id: None, name: "root".into(),
//!     kind: ObservationType::Span, level: Level::Default, start: Timestamp(1), end: Timestamp(2),
//!     details: None, trace: Arc::new(TraceAttributes { user_id: Some("u1".into()), ..Default::default() }),
//! };
//! let requests = encode_batch(&Batch { observations: vec![Box::new(obs)], scores: vec![] });
//! let body: serde_json::Value = serde_json::from_slice(&requests[0]).unwrap();
//! assert_eq!(body["batch"][0]["type"], "trace-create");
//! assert_eq!(body["batch"][0]["body"]["userId"], "u1");
//! assert_eq!(body["batch"][1]["type"], "span-create");
//! assert!(body["batch"][1]["body"].get("parentObservationId").is_none());
//! ```

use std::collections::HashMap;
use std::io::Write as _;

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde::Deserialize;

use crate::http::{self, HeaderStyle, HttpOptions, Sender, SetupError, Target};
use crate::json::{write_cost_json, write_usage_json};
use crate::refusals::{RefusalLog, Refused};
use crate::scores::{observations_then_scores, ScoreTarget, LANGFUSE_AUTH_HINT};
use observe_model::export::{Batch, ExportError, Exporter};
use observe_model::model::{
    Json, Metadata, Observation, ObservationType, Timestamp, TraceAttributes, TraceId, RFC3339_LEN,
};

/// Largest request body sent: under the 3.5 MB the API documents, with a margin. Not part of
/// the API (hidden, exempt from semver): public for the crate's tests.
#[doc(hidden)]
pub const MAX_REQUEST_BYTES: usize = 3_400_000;

/// Room kept at the end of a request for the closing `metadata` object.
const TAIL_RESERVE: usize = 512;

/// The event type of an observation (`span-create`, `generation-create`...).
///
/// ```
/// use observe_export::ingestion::event_type;
/// use observe_model::model::ObservationType;
/// assert_eq!(event_type(ObservationType::Agent), "agent-create");
/// ```
pub fn event_type(kind: ObservationType) -> &'static str {
    match kind {
        ObservationType::Span => "span-create",
        ObservationType::Generation => "generation-create",
        ObservationType::Event => "event-create",
        ObservationType::Agent => "agent-create",
        ObservationType::Tool => "tool-create",
        ObservationType::Chain => "chain-create",
        ObservationType::Retriever => "retriever-create",
        ObservationType::Evaluator => "evaluator-create",
        ObservationType::Embedding => "embedding-create",
        ObservationType::Guardrail => "guardrail-create",
        // A type added to the model after this encoder: every type shares the span body.
        _ => "span-create",
    }
}

/// Whether the body may carry the generation fields (model, usage, cost, prompt...). Spans and
/// events may not (`CreateSpanBody`, `CreateEventBody`); the typed observations share the
/// generation body on the server.
fn has_generation_fields(kind: ObservationType) -> bool {
    !matches!(kind, ObservationType::Span | ObservationType::Event)
}

// ---------------------------------------------------------------------------------------------
// JSON writing.

const HEX: &[u8; 16] = b"0123456789abcdef";

fn put_hex(out: &mut Vec<u8>, value: u128, digits: u32) {
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (i * 4)) & 0xf) as usize]);
    }
}

/// A random UUID v4, the event envelope's id.
fn put_uuid(out: &mut Vec<u8>) {
    let mut v = fastrand::u128(..);
    v = (v & !(0xf << 76)) | (0x4 << 76); // version 4
    v = (v & !(0x3 << 62)) | (0x2 << 62); // RFC 4122 variant
    out.push(b'"');
    put_hex(out, v >> 96, 8);
    out.push(b'-');
    put_hex(out, (v >> 80) & 0xffff, 4);
    out.push(b'-');
    put_hex(out, (v >> 64) & 0xffff, 4);
    out.push(b'-');
    put_hex(out, (v >> 48) & 0xffff, 4);
    out.push(b'-');
    put_hex(out, v & 0xffff_ffff_ffff, 12);
    out.push(b'"');
}

/// `2026-11-27T22:21:06.094913Z` (the caller quotes it), without allocating.
fn put_timestamp(out: &mut Vec<u8>, t: Timestamp) {
    let mut buf = [0; RFC3339_LEN];
    out.extend_from_slice(t.write_rfc3339(&mut buf).as_bytes());
}

/// A JSON object being written: `{"a":...,"b":...}` with commas handled.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Writes `,"key":` (keys are ours: camelCase ASCII, nothing to escape).
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        let out = self.key(key);
        let _ = serde_json::to_writer(out, value);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// Embeds an encoded value; a JSON `null` (a function that returned `None`) is left out,
    /// as every absent field is.
    fn raw(&mut self, key: &str, json: &Json) {
        if json.as_str() != "null" {
            self.key(key).extend_from_slice(json.as_str().as_bytes());
        }
    }

    fn timestamp(&mut self, key: &str, t: Timestamp) {
        let out = self.key(key);
        out.push(b'"');
        put_timestamp(out, t);
        out.push(b'"');
    }

    fn hex(&mut self, key: &str, value: u128, digits: u32) {
        let out = self.key(key);
        out.push(b'"');
        put_hex(out, value, digits);
        out.push(b'"');
    }

    fn metadata(&mut self, key: &str, metadata: &Metadata) {
        if metadata.is_empty() {
            return;
        }
        let out = self.key(key);
        out.push(b'{');
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, k);
            out.push(b':');
            out.extend_from_slice(v.as_str().as_bytes());
        }
        out.push(b'}');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// `"id":..., "type":..., "timestamp":...` of the event envelope; returns the body's object.
fn envelope<'a>(out: &'a mut Vec<u8>, kind: &str, at: Timestamp) -> Obj<'a> {
    out.extend_from_slice(b"{\"id\":");
    put_uuid(out);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"timestamp\":\"");
    put_timestamp(out, at);
    out.extend_from_slice(b"\",\"body\":");
    Obj::open(out)
}

/// One trace's `trace-create`.
fn write_trace_event(
    out: &mut Vec<u8>,
    id: TraceId,
    t: &TraceAttributes,
    root: Option<&Observation>,
    at: Timestamp,
) {
    let mut body = envelope(out, "trace-create", at);
    body.hex("id", id.0, 32);
    if let Some(root) = root {
        body.timestamp("timestamp", root.start);
    }
    body.opt_str("name", t.name.as_deref().or(root.map(|r| r.name.as_ref())));
    body.opt_str("userId", t.user_id.as_deref());
    body.opt_str("sessionId", t.session_id.as_deref());
    body.opt_str("release", t.release.as_deref());
    body.opt_str("version", t.version.as_deref());
    body.opt_str("environment", t.environment.as_deref());
    body.metadata("metadata", &t.metadata);
    if !t.tags.is_empty() {
        let out = body.key("tags");
        out.push(b'[');
        for (i, tag) in t.tags.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut *out, tag);
        }
        out.push(b']');
    }
    if let Some(public) = t.public {
        body.key("public")
            .extend_from_slice(if public { b"true" } else { b"false" });
    }
    if let Some(v) = &t.input {
        body.raw("input", v);
    }
    if let Some(v) = &t.output {
        body.raw("output", v);
    }
    body.close();
    out.push(b'}');
}

/// How a typed observation (`agent`, `tool`...) is sent to a server that predates the typed
/// events (Langfuse v2): as a generation when it carries model, usage or cost, else as a
/// span; its type goes into the metadata as `observation_type`.
fn legacy_kind(obs: &Observation) -> Option<ObservationType> {
    if !has_generation_fields(obs.kind) || obs.kind == ObservationType::Generation {
        return None;
    }
    let d = obs.details();
    Some(
        if d.model.is_some() || d.usage.is_some() || d.cost.is_some() {
            ObservationType::Generation
        } else {
            ObservationType::Span
        },
    )
}

/// One observation's `<type>-create`, with its end; with `legacy`, a typed observation as
/// [`legacy_kind`] says.
fn write_observation_event(out: &mut Vec<u8>, obs: &Observation, legacy: bool) {
    let t = &*obs.trace;
    let d = obs.details();
    let sent_as = legacy.then(|| legacy_kind(obs)).flatten();
    let kind = sent_as.unwrap_or(obs.kind);
    let mut body = envelope(out, event_type(kind), obs.end);
    body.hex("id", obs.id.0 as u128, 16);
    body.hex("traceId", obs.trace_id.0, 32);
    if let Some(parent) = obs.parent_id {
        body.hex("parentObservationId", parent.0 as u128, 16);
    }
    body.str("name", &obs.name);
    body.timestamp("startTime", obs.start);
    if obs.kind != ObservationType::Event {
        body.timestamp("endTime", obs.end);
    }
    body.str("level", obs.level.as_str());
    body.opt_str("statusMessage", d.status_message.as_deref());
    body.opt_str("version", d.version.as_deref().or(t.version.as_deref()));
    body.opt_str("environment", t.environment.as_deref());
    if sent_as.is_some() {
        let mut metadata = d.metadata.clone();
        metadata.insert(
            "observation_type".to_owned(),
            Json::string(obs.kind.as_str()),
        );
        body.metadata("metadata", &metadata);
    } else {
        body.metadata("metadata", &d.metadata);
    }
    if let Some(v) = &d.input {
        body.raw("input", v);
    }
    if let Some(v) = &d.output {
        body.raw("output", v);
    }
    if has_generation_fields(kind) {
        body.opt_str("model", d.model.as_deref());
        if let Some(p) = d
            .model_parameters
            .as_ref()
            .filter(|p| p.as_str().starts_with('{'))
        {
            body.raw("modelParameters", p);
        }
        if let Some(usage) = &d.usage {
            let out = body.key("usageDetails");
            write_usage_json(out, usage.0.iter().map(|(k, v)| (k.as_str(), *v)));
        }
        if let Some(cost) = &d.cost {
            let out = body.key("costDetails");
            write_cost_json(out, cost.0.iter().map(|(k, v)| (k.as_str(), *v)));
        }
        if let Some(at) = d.completion_start_time {
            body.timestamp("completionStartTime", at);
        }
        body.opt_str("promptName", d.prompt_name.as_deref());
        if let Some(v) = d.prompt_version {
            let _ = write!(body.key("promptVersion"), "{v}");
        }
    }
    body.close();
    out.push(b'}');
}

/// One request body, ready to send.
#[derive(Debug)]
struct Request {
    body: Vec<u8>,
    events: usize,
    /// The envelope id of each observation event, with the observation's index in the batch.
    observations: Vec<(String, usize)>,
    /// The envelope id of each `trace-create` event.
    trace_events: Vec<String>,
}

/// Packs events into request bodies under the size limit.
struct Packer<'a> {
    limit: usize,
    public_key: Option<&'a str>,
    body: Vec<u8>,
    events: usize,
    observations: Vec<(String, usize)>,
    trace_events: Vec<String>,
    requests: Vec<Request>,
    /// Observations (by index) too large for any request.
    oversized: Vec<usize>,
}

const BATCH_OPEN: &[u8] = b"{\"batch\":[";

impl<'a> Packer<'a> {
    fn new(limit: usize, public_key: Option<&'a str>) -> Packer<'a> {
        let mut body = Vec::with_capacity(64 * 1024);
        body.extend_from_slice(BATCH_OPEN);
        Packer {
            limit,
            public_key,
            body,
            events: 0,
            observations: Vec::new(),
            trace_events: Vec::new(),
            requests: Vec::new(),
            oversized: Vec::new(),
        }
    }

    /// Adds one event; `observation` is the batch index of the observation it carries.
    fn push(&mut self, event: &[u8], observation: Option<usize>) {
        if BATCH_OPEN.len() + event.len() + TAIL_RESERVE > self.limit {
            self.oversized.extend(observation);
            return;
        }
        if self.events > 0 && self.body.len() + 1 + event.len() + TAIL_RESERVE > self.limit {
            self.finish();
        }
        if self.events > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(event);
        self.events += 1;
        // The envelope starts `{"id":"` and the id is a 36-character UUID.
        let id = String::from_utf8_lossy(&event[7..43]).into_owned();
        match observation {
            Some(index) => self.observations.push((id, index)),
            None => self.trace_events.push(id),
        }
    }

    fn finish(&mut self) {
        if self.events == 0 {
            return;
        }
        self.body.extend_from_slice(b"],\"metadata\":");
        let mut meta = Obj::open(&mut self.body);
        let _ = write!(meta.key("batch_size"), "{}", self.events);
        meta.str("sdk_name", http::SDK_NAME);
        meta.str("sdk_version", http::SDK_VERSION);
        meta.opt_str("public_key", self.public_key);
        meta.close();
        self.body.push(b'}');
        let body = std::mem::replace(&mut self.body, Vec::with_capacity(64 * 1024));
        self.body.extend_from_slice(BATCH_OPEN);
        self.requests.push(Request {
            body,
            events: self.events,
            observations: std::mem::take(&mut self.observations),
            trace_events: std::mem::take(&mut self.trace_events),
        });
        self.events = 0;
    }
}

/// Builds the request bodies of a batch; also returns the observations too large to send at
/// all. With `legacy`, typed observations are sent as spans or generations.
fn encode_requests(
    batch: &Batch,
    limit: usize,
    public_key: Option<&str>,
    legacy: bool,
) -> (Vec<Request>, Vec<usize>) {
    // Traces in order of first appearance; for each, the observation whose attribute
    // snapshot is the freshest (the root's, which ends last, else the latest to end here).
    struct TraceEntry<'b> {
        id: TraceId,
        attrs: &'b Observation,
        root: Option<&'b Observation>,
        first_start: Timestamp,
    }
    let mut traces: Vec<TraceEntry<'_>> = Vec::new();
    let mut index: HashMap<TraceId, usize> = HashMap::new();
    for obs in &batch.observations {
        let obs: &Observation = obs;
        match index.get(&obs.trace_id) {
            Some(&i) => {
                let e = &mut traces[i];
                if e.root.is_none() {
                    e.attrs = obs;
                }
                if obs.is_root() {
                    e.root = Some(obs);
                }
                e.first_start = e.first_start.min(obs.start);
            }
            None => {
                index.insert(obs.trace_id, traces.len());
                traces.push(TraceEntry {
                    id: obs.trace_id,
                    attrs: obs,
                    root: obs.is_root().then_some(obs),
                    first_start: obs.start,
                });
            }
        }
    }

    let mut packer = Packer::new(limit, public_key);
    let mut event = Vec::with_capacity(4096);
    for t in &traces {
        event.clear();
        let at = t.root.map_or(t.first_start, |r| r.start);
        write_trace_event(&mut event, t.id, &t.attrs.trace, t.root, at);
        packer.push(&event, None);
    }
    for (index, obs) in batch.observations.iter().enumerate() {
        event.clear();
        write_observation_event(&mut event, obs, legacy);
        packer.push(&event, Some(index));
    }
    packer.finish();
    (packer.requests, packer.oversized)
}

/// Encodes the batch's observations as ingestion request bodies (`{"batch":[...],
/// "metadata":{...}}`), each under [`MAX_REQUEST_BYTES`]: the exporter's wire format. Not part
/// of the API (hidden, exempt from semver): public for the crate's benchmarks and tests.
/// Scores are not included (they go to `/api/public/scores`).
#[doc(hidden)]
pub fn encode_batch(batch: &Batch) -> Vec<Vec<u8>> {
    encode_batch_with_limit(batch, MAX_REQUEST_BYTES)
}

/// As [`encode_batch`], with another size limit per request. An event that cannot fit a
/// request on its own is left out.
#[doc(hidden)]
pub fn encode_batch_with_limit(batch: &Batch, max_request_bytes: usize) -> Vec<Vec<u8>> {
    encode_requests(batch, max_request_bytes, None, false)
        .0
        .into_iter()
        .map(|r| r.body)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The exporter.

#[derive(Deserialize, Default)]
struct IngestionResponse {
    #[serde(default)]
    errors: Vec<IngestionError>,
}

#[derive(Deserialize)]
struct IngestionError {
    #[serde(default)]
    id: String,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

impl IngestionError {
    fn describe(&self) -> String {
        let mut text = format!("event {}: {}", self.id, self.status);
        if let Some(m) = &self.message {
            text.push(' ');
            text.push_str(m);
        }
        if let Some(e) = &self.error {
            let e = match e {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text.push_str(": ");
            text.extend(e.chars().take(300));
        }
        text
    }
}

/// Sends batches to the legacy ingestion API, and scores to `/api/public/scores`.
///
/// ```no_run
/// use observe_runtime::Client;
/// use observe_export::http::HttpOptions;
/// use observe_export::ingestion::IngestionExporter;
///
/// let exporter = IngestionExporter::new(
///     "http://localhost:3000", "pk-lf-...", "sk-lf-...", HttpOptions::default(),
/// ).unwrap();
/// let client = Client::builder().exporter(exporter).build();
/// # drop(client);
/// ```
pub struct IngestionExporter {
    target: Target,
    sender: Sender,
    scores: ScoreTarget,
    public_key: String,
    max_request_bytes: usize,
    /// Send typed observations as spans or generations: set by [`Self::legacy_types`], or
    /// once the server refused a typed event (a Langfuse v2 server).
    legacy_types: bool,
    /// Refused events said in this episode.
    refusals: RefusalLog,
}

impl std::fmt::Debug for IngestionExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestionExporter")
            .field("url", &self.target.shown_url())
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

impl IngestionExporter {
    /// `{base_url}/api/public/ingestion` with Basic auth and the SDK headers.
    pub fn new(
        base_url: &str,
        public_key: &str,
        secret_key: &str,
        options: HttpOptions,
    ) -> Result<IngestionExporter, SetupError> {
        let base = base_url.trim_end_matches('/');
        let url = http::parse_url(&format!("{base}/api/public/ingestion"))?;
        let mut headers = http::langfuse_headers(public_key, secret_key, HeaderStyle::Underscores)?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(IngestionExporter {
            target: Target {
                destination: "Langfuse (ingestion API)".to_owned(),
                url,
                headers,
                auth_hint: LANGFUSE_AUTH_HINT,
            },
            sender: Sender::new(options),
            scores: ScoreTarget::langfuse(base, public_key, secret_key, None)?,
            public_key: public_key.to_owned(),
            max_request_bytes: MAX_REQUEST_BYTES,
            legacy_types: false,
            refusals: RefusalLog::default(),
        })
    }

    /// Another size limit per request (default [`MAX_REQUEST_BYTES`]).
    pub fn max_request_bytes(mut self, bytes: usize) -> IngestionExporter {
        self.max_request_bytes = bytes;
        self
    }

    /// The environment scores carry.
    pub fn score_environment(mut self, environment: Option<String>) -> IngestionExporter {
        self.scores = self.scores.with_environment(environment);
        self
    }

    /// The ingestion URL this exporter posts to.
    pub fn url(&self) -> &str {
        self.target.url.as_str()
    }

    /// Sends typed observations (`agent`, `tool`...) as spans or generations with their type
    /// in the metadata (`observation_type`), as a Langfuse v2 server needs. Without it, the
    /// exporter switches on its own the first time the server refuses a typed event, and
    /// sends the refused ones again that way.
    pub fn legacy_types(mut self, on: bool) -> IngestionExporter {
        self.legacy_types = on;
        self
    }

    /// Sends the batch's observations; the result counts them one by one.
    fn send_observations(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let (requests, oversized) = encode_requests(
            batch,
            self.max_request_bytes,
            Some(&self.public_key),
            self.legacy_types,
        );
        let mut parts = Vec::new();
        if !oversized.is_empty() {
            let message = format!(
                "{} observation(s) larger than the {}-byte request limit were left out",
                oversized.len(),
                self.max_request_bytes
            );
            parts.push((Err(self.refusal(message)), oversized.len()));
        }
        let mut unreachable = false;
        for request in requests {
            let n = request.observations.len();
            if unreachable {
                let message = "not sent: the server is unreachable".to_owned();
                parts.push((Err(self.unavailable(message)), n));
                continue;
            }
            match self.sender.post(&self.target, &[], &request.body) {
                Ok(response) => parts.extend(self.answered(batch, &request, &response.body)),
                Err(ExportError::TooLarge { .. }) if n > 1 => {
                    // Halves, each sent (and split again) on its own: only a record too large
                    // on its own fails.
                    let (left, right) = request.observations.split_at(n / 2);
                    for half in [left, right] {
                        let part = Batch {
                            observations: half
                                .iter()
                                .map(|(_, i)| batch.observations[*i].clone())
                                .collect(),
                            scores: Vec::new(),
                        };
                        parts.push((self.send_observations(&part), half.len()));
                    }
                }
                Err(err) => {
                    unreachable = matches!(err, ExportError::Unavailable { .. });
                    parts.push((Err(err), n));
                }
            }
        }
        observe_model::export::combine(parts)
    }

    /// What a `2xx` answer to `request` means for its observations: those the `207` refused
    /// failed; typed ones refused by a server that predates them are sent again as spans.
    fn answered(
        &mut self,
        batch: &Batch,
        request: &Request,
        body: &[u8],
    ) -> Vec<(Result<(), ExportError>, usize)> {
        let n = request.observations.len();
        let parsed: IngestionResponse = serde_json::from_slice(body).unwrap_or_default();
        if parsed.errors.is_empty() {
            self.refusals.taken_whole();
            return vec![(Ok(()), n)];
        }
        let refused: HashMap<&str, &IngestionError> =
            parsed.errors.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut by_kind = Refused::default();
        let mut retyped = Vec::new();
        let mut failed = 0;
        let mut first = None;
        for (id, index) in &request.observations {
            let Some(error) = refused.get(id.as_str()) else {
                continue;
            };
            let obs = &batch.observations[*index];
            if !self.legacy_types && legacy_kind(obs).is_some() {
                retyped.push(obs.clone());
            } else {
                failed += 1;
                first.get_or_insert_with(|| error.describe());
                let sent_as = self.legacy_types.then(|| legacy_kind(obs)).flatten();
                by_kind.add(event_type(sent_as.unwrap_or(obs.kind)), || error.describe());
            }
        }
        for id in &request.trace_events {
            if let Some(error) = refused.get(id.as_str()) {
                by_kind.add("trace-create", || error.describe());
            }
        }
        self.refusals.say(&self.target.destination, by_kind);
        let mut parts = Vec::new();
        if !retyped.is_empty() {
            // Sent again as spans; when the server takes them so, it predates typed events
            // (Langfuse v2) and later batches go that way at once. When it refuses them
            // again, the type was not the reason: typed events stay.
            self.legacy_types = true;
            let again = Batch {
                observations: retyped,
                scores: Vec::new(),
            };
            let sent = self.send_observations(&again);
            if sent.is_ok() {
                tracing::info!(
                    "observe: the Langfuse server refused typed observations ({}) and took them \
                     as spans (`observation_type` in their metadata): a Langfuse v2 server; \
                     typed observations go as spans from now on",
                    parsed.errors[0].describe()
                );
            } else {
                self.legacy_types = false;
            }
            parts.push((sent, again.observations.len()));
        }
        let rest = n - parts.first().map_or(0, |p| p.1);
        let result = match first {
            Some(mut message) => {
                if parsed.errors.len() >= request.events {
                    message.push_str(
                        "; every event was refused: a Langfuse v4 server accepts only OTLP \
                         (unset OBSERVE_LANGFUSE_API or set it to otlp)",
                    );
                }
                Err(ExportError::Partial {
                    destination: self.target.destination.clone(),
                    refused: failed,
                    message,
                })
            }
            None => Ok(()),
        };
        parts.push((result, rest));
        parts
    }

    fn refusal(&self, message: String) -> ExportError {
        ExportError::Rejected {
            destination: self.target.destination.clone(),
            message,
        }
    }

    fn unavailable(&self, message: String) -> ExportError {
        ExportError::Unavailable {
            destination: self.target.destination.clone(),
            message,
        }
    }
}

impl Exporter for IngestionExporter {
    fn name(&self) -> &str {
        "langfuse-ingestion"
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let observations = if batch.observations.is_empty() {
            Ok(())
        } else {
            self.send_observations(batch)
        };
        observations_then_scores(batch, observations, &self.target.destination, || {
            self.scores.send(&mut self.sender, &batch.scores)
        })
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

#[cfg(test)]
mod tests {
    #[test]
    fn every_observation_type_has_its_own_event_type() {
        for kind in observe_model::model::ObservationType::ALL {
            assert_eq!(
                super::event_type(*kind),
                format!("{}-create", kind.as_str()),
                "{kind:?} needs its event type"
            );
        }
    }

    use super::*;

    #[test]
    fn timestamps_match_the_model() {
        for t in [
            0u64,
            1_764_282_066_094_913_000,
            951_782_400_000_001_000, // 2000-02-29
            4_102_444_799_999_999_999,
        ] {
            let mut out = Vec::new();
            put_timestamp(&mut out, Timestamp(t));
            assert_eq!(String::from_utf8(out).unwrap(), Timestamp(t).to_rfc3339());
        }
        // Against dates worked out by hand, not only against the model's own formatter.
        let at = |t: u64| Timestamp(t).to_rfc3339();
        assert_eq!(at(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400_000_001_000), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(4_102_444_799_999_999_999), "2099-12-31T23:59:59.999999Z");
        assert_eq!(at(1_709_251_199_000_000_000), "2024-02-29T23:59:59.000000Z");
    }

    #[test]
    fn uuids_are_v4() {
        let mut out = Vec::new();
        put_uuid(&mut out);
        let s = String::from_utf8(out).unwrap();
        let s = s.trim_matches('"');
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"));
    }
}
