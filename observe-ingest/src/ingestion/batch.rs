//! `POST /api/public/ingestion`: a batch of events, each validated alone. What passes
//! becomes pieces; what does not is listed in the 207 answer with the reason, as Langfuse's
//! server lists it.

use std::collections::BTreeSet;

use observe_model::model::{ObservationType, Timestamp};
use observe_model::piece::{Piece, TracePiece};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Value};
use thiserror::Error;

use super::document::{BodyDoc, EventDoc, Pairs};
use super::fields::Fields;
use super::issues::{invalid_type, issues_text, Issue};
use super::observation::{observation, Body, Event};
use super::repair::{repaired_text, warn_repaired};
use super::score::score;
use super::trace::trace;

/// Decodes the body of `POST /api/public/ingestion`: `{"batch": [event, ...], "metadata":
/// ...}`. Every event is checked alone, as Langfuse's server checks it: a malformed event
/// (no id, a field of the wrong type, an unknown event type) is refused alone and the rest
/// become [`Piece`]s. Only a body that is not JSON, or has no `batch` list, is refused as a
/// whole (bytes that are not UTF-8 and unpaired surrogate escapes are read as U+FFFD, as
/// Langfuse's server reads them, rather than refusing the batch).
///
/// ```
/// use observe_ingest::ingestion::decode_ingestion;
/// use observe_model::piece::Piece;
///
/// let body = br#"{"batch": [
///   {"id": "e1", "type": "span-create", "timestamp": "2026-12-07T17:00:00.000Z",
///    "body": {"id": "s1", "traceId": "t1", "name": "retrieve"}},
///   {"id": "e2", "type": "span-create", "timestamp": "2026-12-07T17:00:00.000Z",
///    "body": {"traceId": "t1"}}
/// ]}"#;
/// let outcome = decode_ingestion(body).unwrap();
/// assert_eq!(outcome.successes.len(), 1);
/// assert_eq!(outcome.errors[0].id, "e2");
/// assert!(outcome.errors[0].error.contains("\"id\""));
/// // The span, and its trace (which no `trace-create` announced).
/// assert!(matches!(&outcome.pieces[..], [Piece::Trace(_), Piece::Observation(_)]));
/// ```
pub fn decode_ingestion(body: &[u8]) -> Result<IngestionOutcome, BatchError> {
    // A raw read does not decode strings, so a lone surrogate escape would pass it and
    // cost its event later: the repair looks first (a scan, no parse).
    let repaired = repaired_text(body);
    if repaired.is_some() {
        warn_repaired(&"ingestion batch");
    }
    let request: &RawValue = match &repaired {
        Some(text) => serde_json::from_str(text)?,
        None => serde_json::from_slice(body)?,
    };
    let batch = batch_of(request)?;
    let mut accepted = Vec::with_capacity(batch.len());
    let mut errors = Vec::new();
    for raw in &batch {
        match event(raw) {
            Ok(Some(event)) => accepted.push(event),
            Ok(None) => {}
            Err(error) => errors.push(error),
        }
    }
    // Langfuse applies creates before updates, each in the order of their timestamps, so
    // an update sent ahead of its create still lands on it; it answers in that order too.
    accepted.sort_by_key(|a| (a.update, a.timestamp));
    if let Some(first) = errors.first() {
        tracing::warn!(
            "ingestion: {} of {} events refused (first: `{}`: {})",
            errors.len(),
            batch.len(),
            first.id,
            first.issues.first().map_or("", |i| i.message.as_str()),
        );
    }
    let successes = accepted
        .iter()
        .map(|a| EventSuccess {
            id: a.id.clone(),
            status: 201,
        })
        .collect();
    Ok(IngestionOutcome {
        pieces: with_traces(accepted.into_iter().map(|a| a.piece).collect()),
        successes,
        errors,
    })
}

/// The request's `batch`: its events, each still as the request spelled it.
fn batch_of(request: &RawValue) -> Result<Vec<&RawValue>, BatchError> {
    let batch = if request.get().starts_with('{') {
        let Pairs(pairs) = serde_json::from_str(request.get())?;
        // The last `batch` wins, as in a JSON object.
        pairs
            .into_iter()
            .rev()
            .find(|(k, _)| k == "batch")
            .map(|(_, v)| v)
    } else {
        None
    };
    match batch {
        Some(raw) if raw.get().starts_with('[') => Ok(serde_json::from_str(raw.get())?),
        other => {
            let received: Option<Value> = other
                .map(|raw| serde_json::from_str(raw.get()))
                .transpose()?;
            Err(BatchError::NotABatch(invalid_type(
                vec![Value::from("batch")],
                "array",
                received.as_ref(),
            )))
        }
    }
}

/// The request's pieces, led by an empty trace piece for every trace its observations name
/// and no `trace-create` of the request does: Langfuse shows a trace for them all.
fn with_traces(pieces: Vec<Piece>) -> Vec<Piece> {
    let announced: BTreeSet<&str> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Trace(t) => Some(&*t.id),
            _ => None,
        })
        .collect();
    let mut implied: Vec<Piece> = Vec::new();
    let mut seen = BTreeSet::new();
    for p in &pieces {
        if let Piece::Observation(o) = p {
            if !announced.contains(&*o.trace_id) && seen.insert(&*o.trace_id) {
                implied.push(Piece::Trace(TracePiece::new(&*o.trace_id)));
            }
        }
    }
    implied.extend(pieces);
    implied
}

/// What a request decodes to: the pieces to store and the 207 answer's two lists.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestionOutcome {
    /// The accepted events' records, in the order Langfuse applies them.
    pub pieces: Vec<Piece>,
    /// One per accepted event (`sdk-log` events, which Langfuse only logs, have none).
    pub successes: Vec<EventSuccess>,
    /// One per refused event.
    pub errors: Vec<EventError>,
}

impl IngestionOutcome {
    /// The status of the answer: 207, whatever was refused.
    pub const STATUS: u16 = 207;

    /// The answer's body: `{"successes": [{"id", "status"}], "errors": [{"id", "status",
    /// "message", "error"}]}`.
    ///
    /// ```
    /// use observe_ingest::ingestion::decode_ingestion;
    ///
    /// let outcome = decode_ingestion(br#"{"batch": [{"id": "e1", "type": "nope"}]}"#).unwrap();
    /// let body: serde_json::Value = serde_json::from_str(&outcome.response_body()).unwrap();
    /// assert_eq!(body["successes"], serde_json::json!([]));
    /// assert_eq!(body["errors"][0]["status"], 400);
    /// assert_eq!(body["errors"][0]["message"], "Invalid request data");
    /// ```
    pub fn response_body(&self) -> String {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| json!({ "id": e.id, "status": e.status, "message": e.message, "error": e.error }))
            .collect();
        // Written straight from the successes, one per accepted event, with no `Value` per
        // entry; the keys in the order `json!` gives them without `preserve_order`.
        let answer = Answer {
            errors,
            successes: Successes(&self.successes),
        };
        serde_json::to_string(&answer).unwrap_or_else(|_| String::from("{}"))
    }
}

/// The 207 answer's body.
#[derive(Serialize)]
struct Answer<'a> {
    errors: Vec<Value>,
    successes: Successes<'a>,
}

/// The successes as a list of `{"id", "status"}`.
struct Successes<'a>(&'a [EventSuccess]);

impl Serialize for Successes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: &'a str,
            status: u16,
        }
        serializer.collect_seq(self.0.iter().map(|s| Entry {
            id: &s.id,
            status: s.status,
        }))
    }
}

/// An accepted event, as the answer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSuccess {
    /// The event's id (the envelope's, not the body's).
    pub id: String,
    /// 201.
    pub status: u16,
}

/// A refused event, as the answer lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventError {
    /// The event's id, or `unknown` when it has none that is text.
    pub id: String,
    /// 400.
    pub status: u16,
    /// `Invalid request data`, Langfuse's words.
    pub message: String,
    /// The issues as JSON text, each with the path of the field it is about.
    pub error: String,
    /// The same issues, for the server's log and for tests.
    pub issues: Vec<Issue>,
}

/// A request refused as a whole (status 400).
#[derive(Debug, Error)]
pub enum BatchError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The body is JSON without a `batch` list.
    #[error("not an ingestion request: {}", .0.message)]
    NotABatch(Issue),
}

impl BatchError {
    /// The status of the answer: 400.
    pub const STATUS: u16 = 400;

    /// The answer's body, as Langfuse gives it: `{"message": "Invalid request data",
    /// "errors": [reasons]}`.
    ///
    /// ```
    /// use observe_ingest::ingestion::decode_ingestion;
    ///
    /// let refused = decode_ingestion(br#"{"events": []}"#).unwrap_err();
    /// assert!(refused.response_body().contains("expected array, received undefined"));
    /// ```
    pub fn response_body(&self) -> String {
        let reason = match self {
            BatchError::NotJson(e) => format!("Invalid JSON: {e}"),
            BatchError::NotABatch(issue) => format!("{}: {}", issue.path_text(), issue.message),
        };
        json!({ "message": "Invalid request data", "errors": [reason] }).to_string()
    }
}

/// An event that passed: the piece it gives and where it goes in the order.
struct Accepted {
    id: String,
    timestamp: Timestamp,
    update: bool,
    piece: Piece,
}

/// What an event type names: its body and what it makes.
#[derive(Clone, Copy)]
enum Kind {
    Trace,
    Score,
    Observation(Body, Option<ObservationType>, bool),
    SdkLog,
    DatasetRunItem,
}

fn kind(type_text: &str) -> Option<Kind> {
    use Body::*;
    use ObservationType as T;
    let create = |body, kind| Some(Kind::Observation(body, Some(kind), false));
    match type_text {
        "trace-create" => Some(Kind::Trace),
        "score-create" => Some(Kind::Score),
        "sdk-log" => Some(Kind::SdkLog),
        "dataset-run-item-create" => Some(Kind::DatasetRunItem),
        "event-create" => create(Event, T::Event),
        "span-create" => create(Span, T::Span),
        "span-update" => Some(Kind::Observation(Span, Some(T::Span), true)),
        "generation-create" => create(Generation, T::Generation),
        "generation-update" => Some(Kind::Observation(Generation, Some(T::Generation), true)),
        "agent-create" => create(Generation, T::Agent),
        "tool-create" => create(Generation, T::Tool),
        "chain-create" => create(Generation, T::Chain),
        "retriever-create" => create(Generation, T::Retriever),
        "evaluator-create" => create(Generation, T::Evaluator),
        "embedding-create" => create(Generation, T::Embedding),
        "guardrail-create" => create(Generation, T::Guardrail),
        "observation-create" => Some(Kind::Observation(Legacy, None, false)),
        "observation-update" => Some(Kind::Observation(Legacy, None, true)),
        _ => None,
    }
}

/// One event: its piece (`None` for an `sdk-log`), or why it is refused.
fn event(raw: &RawValue) -> Result<Option<Accepted>, EventError> {
    if !raw.get().starts_with('{') {
        let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        return Err(refused(
            "unknown",
            vec![invalid_type(Vec::new(), "object", Some(&value))],
        ));
    }
    // The batch was read as JSON already: an object reads back.
    let doc: EventDoc<'_> = serde_json::from_str(raw.get()).unwrap_or_default();
    let map = &doc.fields;
    let id_text = map.get("id").and_then(Value::as_str).unwrap_or("unknown");
    let refuse = |issues: Vec<Issue>| refused(id_text, issues);
    let Some(kind) = map.get("type").and_then(Value::as_str).and_then(kind) else {
        return Err(refuse(vec![Issue::new(
            "invalid_union",
            vec![Value::from("type")],
            format!(
                "Invalid input: no event type {} (expected trace-create, span-create, \
                 generation-create, score-create, ...)",
                map.get("type").map_or("given".to_owned(), Value::to_string)
            ),
        )]));
    };
    let mut envelope = Fields::new(map, &[]);
    let id = envelope.required_id("id");
    let timestamp = match envelope.value("timestamp") {
        None => {
            let issue = invalid_type(envelope.path("timestamp"), "string", None);
            envelope.issue(issue);
            None
        }
        Some(_) => envelope.time("timestamp"),
    };
    let body: Option<BodyDoc<'_>> = match doc.body {
        Some(raw) if raw.get().starts_with('{') => serde_json::from_str(raw.get()).ok(),
        other => {
            let value: Option<Value> = other.and_then(|raw| serde_json::from_str(raw.get()).ok());
            let issue = invalid_type(envelope.path("body"), "object", value.as_ref());
            envelope.issue(issue);
            None
        }
    };
    let (Some(id), Some(timestamp), Some(body), true) =
        (id, timestamp, body.as_ref(), envelope.issues.is_empty())
    else {
        let mut issues = envelope.issues;
        // The body is checked even when the envelope is bad, so one answer names it all.
        if let Some(body) = &body {
            if let Err(mut more) = piece(kind, body, id_text, Timestamp(0)) {
                issues.append(&mut more);
            }
        }
        return Err(refuse(issues));
    };
    let update = matches!(kind, Kind::Observation(_, _, true));
    match piece(kind, body, id, timestamp) {
        Ok(Some(piece)) => Ok(Some(Accepted {
            id: id.to_owned(),
            timestamp,
            update,
            piece,
        })),
        Ok(None) => Ok(None),
        Err(issues) => Err(refuse(issues)),
    }
}

/// The answer's entry for an event refused for `issues`.
fn refused(id: &str, issues: Vec<Issue>) -> EventError {
    EventError {
        id: id.to_owned(),
        status: 400,
        message: "Invalid request data".to_owned(),
        error: issues_text(&issues),
        issues,
    }
}

/// The piece a body of `kind` gives (`None` for an `sdk-log`), or its issues.
fn piece(
    kind: Kind,
    body: &BodyDoc<'_>,
    id: &str,
    timestamp: Timestamp,
) -> Result<Option<Piece>, Vec<Issue>> {
    match kind {
        Kind::Trace => trace(body, id, timestamp).map(|t| Some(Piece::Trace(t))),
        Kind::Score => {
            let mut s = score(&body.fields, &["body"], Some(timestamp))?;
            if s.id.is_empty() {
                // Named by its event, so a retried batch stores it once.
                s.id = id.into();
            }
            Ok(Some(Piece::Score(s)))
        }
        Kind::Observation(shape, kind, update) => {
            let event = Event {
                id,
                timestamp,
                update,
            };
            observation(body, shape, kind, &event).map(|o| Some(Piece::Observation(o)))
        }
        Kind::SdkLog => {
            if body.fields.contains_key("log") {
                let log = body
                    .fields
                    .get("log")
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::info!("sdk-log event: {log:.500}");
                Ok(None)
            } else {
                Err(vec![invalid_type(
                    vec![Value::from("body"), Value::from("log")],
                    "json",
                    None,
                )])
            }
        }
        Kind::DatasetRunItem => Err(vec![Issue::new(
            "custom",
            vec![Value::from("type")],
            "Dataset run item creation is only allowed for internal usage",
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_the_json_of_its_two_lists() {
        let outcome = decode_ingestion(
            br#"{"batch": [
              {"id": "e\"1", "type": "trace-create", "timestamp": "2026-12-07T17:00:00Z",
               "body": {"id": "t1"}},
              {"id": "e2", "type": "nope"},
              {"id": "e3", "type": "span-create", "timestamp": "2026-12-07T17:00:01Z",
               "body": {"id": "s1", "traceId": "t1"}}
            ]}"#,
        )
        .unwrap();
        assert_eq!((outcome.successes.len(), outcome.errors.len()), (2, 1));
        let successes: Vec<Value> = outcome
            .successes
            .iter()
            .map(|s| json!({ "id": s.id, "status": s.status }))
            .collect();
        let errors: Vec<Value> = outcome
            .errors
            .iter()
            .map(|e| json!({ "id": e.id, "status": e.status, "message": e.message, "error": e.error }))
            .collect();
        let body = outcome.response_body();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({ "successes": successes, "errors": errors })
        );
        assert!(
            body.starts_with(r#"{"errors":[{"error":"#)
                && body.ends_with(
                    r#""successes":[{"id":"e\"1","status":201},{"id":"e3","status":201}]}"#
                ),
            "{body}"
        );
    }
}
