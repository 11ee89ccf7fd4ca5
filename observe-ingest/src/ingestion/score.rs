//! Scores: the body of a `score-create` event and of `POST /api/public/scores`, which
//! Langfuse validates alike, to a [`ScorePiece`].

use observe_model::model::{ScoreValue, Timestamp};
use observe_model::piece::ScorePiece;
use serde_json::{json, Map, Value};
use thiserror::Error;

use super::fields::Fields;
use super::issues::{invalid_type, issues_text, Issue};
use super::repair::parse_lenient;

/// Longest value of a `TEXT` score.
const MAX_TEXT_SCORE_CHARS: usize = 500;

/// Where a score may come from (`source`).
const SOURCES: [&str; 3] = ["API", "EVAL", "ANNOTATION"];

/// A `POST /api/public/scores` body refused as a whole.
#[derive(Debug, Error)]
pub enum ScoreError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
    /// The body is JSON but not a score Langfuse would take.
    #[error("invalid score: {}", issues_text(.0))]
    Invalid(Vec<Issue>),
}

impl ScoreError {
    /// The issues that refused the score (one, saying so, for a body that is not JSON).
    pub fn issues(&self) -> Vec<Issue> {
        match self {
            ScoreError::NotJson(e) => vec![Issue::new(
                "invalid_type",
                Vec::new(),
                format!("Invalid JSON: {e}"),
            )],
            ScoreError::Invalid(issues) => issues.clone(),
        }
    }

    /// The 400 answer Langfuse gives: `{"message": "Invalid request data", "error": [issues]}`.
    pub fn response_body(&self) -> String {
        let issues: Vec<Value> = self.issues().iter().map(Issue::to_json).collect();
        json!({ "message": "Invalid request data", "error": issues }).to_string()
    }
}

/// Decodes the body of `POST /api/public/scores` (Langfuse's `ScoreCreate`). A score
/// without an id gets a new random one (a UUID), as the server gives it; its time is left
/// to the store ("when it arrived").
///
/// ```
/// use observe_ingest::ingestion::{decode_score, score_response_body};
/// use observe_model::model::ScoreValue;
///
/// let body = br#"{"traceId": "t-1", "observationId": "o-1", "name": "accuracy",
///                 "value": 0.95, "dataType": "NUMERIC", "comment": "checked"}"#;
/// let score = decode_score(body).unwrap();
/// assert_eq!(score.trace_id.as_deref(), Some("t-1"));
/// assert_eq!(score.value, ScoreValue::Numeric(0.95));
/// assert_eq!(score.id.len(), 36);
/// assert_eq!(score_response_body(&score), format!(r#"{{"id":"{}"}}"#, score.id));
/// ```
pub fn decode_score(body: &[u8]) -> Result<ScorePiece, ScoreError> {
    score_from_value(parse_lenient(body)?)
}

/// One score from a body already read as JSON.
pub(crate) fn score_from_value(value: Value) -> Result<ScorePiece, ScoreError> {
    let Value::Object(map) = value else {
        return Err(ScoreError::Invalid(vec![invalid_type(
            Vec::new(),
            "object",
            Some(&value),
        )]));
    };
    score_body(&map).map_err(ScoreError::Invalid)
}

/// One score as `POST /api/public/scores` takes it, alone or in a list: its own
/// `timestamp` (else none: the store's arrival time) and a new id when it has none.
pub(crate) fn score_body(map: &Map<String, Value>) -> Result<ScorePiece, Vec<Issue>> {
    let mut f = Fields::new(map, &[]);
    let timestamp = f.time("timestamp");
    let mut issues = f.issues;
    let mut score = match score(map, &[], timestamp) {
        Ok(score) if issues.is_empty() => score,
        Ok(_) => return Err(issues),
        Err(more) => {
            issues.extend(more);
            return Err(issues);
        }
    };
    if score.id.is_empty() {
        score.id = new_id().into();
    }
    Ok(score)
}

/// The answer to an accepted `POST /api/public/scores`: `{"id": ...}`.
pub fn score_response_body(score: &ScorePiece) -> String {
    json!({ "id": &*score.id }).to_string()
}

/// The score a body gives (id empty when it has none), or the issues that refuse it.
/// `prefix` is where the body sits (`["body"]` in an event); `timestamp` the score's time.
pub(crate) fn score(
    map: &Map<String, Value>,
    prefix: &'static [&'static str],
    timestamp: Option<Timestamp>,
) -> Result<ScorePiece, Vec<Issue>> {
    let mut f = Fields::new(map, prefix);
    let id = f.id("id");
    let name = match f.value("name") {
        None => {
            let issue = invalid_type(f.path("name"), "string", f.value("name"));
            f.issue(issue);
            None
        }
        Some(_) => f.string("name").filter(|n| {
            let empty = n.is_empty();
            if empty {
                let issue = Issue::new(
                    "too_small",
                    f.path("name"),
                    "Too small: expected string to have >=1 characters",
                );
                f.issues.push(issue);
            }
            !empty
        }),
    };
    let trace_id = f.non_empty_string("traceId");
    let session_id = f.non_empty_string("sessionId");
    let dataset_run_id = f.non_empty_string("datasetRunId");
    let observation_id = f.non_empty_string("observationId");
    let comment = f.string("comment").map(str::to_owned);
    // Checked for their types as Langfuse does; observe keeps none of them.
    for key in ["configId", "queueId", "executionTraceId"] {
        f.string(key);
    }
    f.option("source", &SOURCES);
    let value = value(&mut f);
    let targets_one = match (trace_id, session_id, dataset_run_id) {
        (Some(_), None, None) => true,
        (None, Some(_), None) | (None, None, Some(_)) => observation_id.is_none(),
        _ => false,
    };
    if !targets_one {
        let issue = Issue::new(
            "custom",
            ["traceId", "sessionId", "datasetRunId", "observationId"]
                .iter()
                .map(|k| Value::from(*k))
                .collect(),
            "Provide exactly one of the following: traceId (with optional observationId), \
             sessionId or datasetRunId. ObservationId requires traceId.",
        );
        f.issue(issue);
    } else if dataset_run_id.is_some() {
        // Honest refusal rather than a score stored with nothing to hang it on.
        let issue = Issue::new(
            "custom",
            f.path("datasetRunId"),
            "observe serve does not keep scores of dataset runs",
        );
        f.issue(issue);
    }
    let (Some(name), Some(value), true) = (name, value, f.issues.is_empty()) else {
        return Err(f.issues);
    };
    Ok(ScorePiece {
        id: id.unwrap_or_default().into(),
        trace_id: trace_id.map(Into::into),
        observation_id: observation_id.map(Into::into),
        session_id: session_id.map(str::to_owned),
        name: name.to_owned(),
        value,
        comment,
        timestamp,
    })
}

/// The value, checked against `dataType` as Langfuse checks it. observe's scores are
/// numeric, boolean or categorical: `TEXT` and `CORRECTION` values are kept as
/// categorical text.
fn value(f: &mut Fields<'_>) -> Option<ScoreValue> {
    let data_type = match f.value("dataType") {
        None => None,
        Some(_) => Some(f.option(
            "dataType",
            &["NUMERIC", "CATEGORICAL", "BOOLEAN", "CORRECTION", "TEXT"],
        )?),
    };
    let raw = f.value("value");
    let expect = |f: &mut Fields<'_>, expected: &str| {
        let issue = invalid_type(f.path("value"), expected, raw);
        f.issue(issue);
        None
    };
    match (data_type, raw) {
        (Some("NUMERIC"), Some(Value::Number(n))) => n.as_f64().map(ScoreValue::Numeric),
        (Some("BOOLEAN"), Some(Value::Number(n))) => match n.as_f64() {
            Some(v) if v == 0.0 || v == 1.0 => Some(ScoreValue::Boolean(v == 1.0)),
            _ => {
                let issue = Issue::new(
                    "custom",
                    f.path("value"),
                    "Value must be a number equal to either 0 or 1 for data type BOOLEAN",
                );
                f.issue(issue);
                None
            }
        },
        (Some("NUMERIC" | "BOOLEAN"), _) => expect(f, "number"),
        (Some("TEXT"), Some(Value::String(s))) => {
            let chars = s.chars().count();
            if chars == 0 || chars > MAX_TEXT_SCORE_CHARS {
                let issue = Issue::new(
                    if chars == 0 { "too_small" } else { "too_big" },
                    f.path("value"),
                    format!(
                        "Text score values must be between 1 and {MAX_TEXT_SCORE_CHARS} characters"
                    ),
                );
                f.issue(issue);
                return None;
            }
            Some(ScoreValue::Categorical(s.clone()))
        }
        (Some("CORRECTION"), Some(Value::String(s))) => {
            if f.value("configId").is_some() {
                let issue = Issue::new(
                    "invalid_type",
                    f.path("configId"),
                    "Invalid input: a CORRECTION score takes no configId",
                );
                f.issue(issue);
                return None;
            }
            Some(ScoreValue::Categorical(s.clone()))
        }
        (Some("CATEGORICAL"), Some(Value::String(s))) => Some(ScoreValue::Categorical(s.clone())),
        (Some(_), _) => expect(f, "string"),
        (None, Some(Value::Number(n))) => n.as_f64().map(ScoreValue::Numeric),
        (None, Some(Value::String(s))) => Some(ScoreValue::Categorical(s.clone())),
        (None, _) => expect(f, "string | number"),
    }
}

/// A random UUID (version 4), the form of the ids Langfuse makes.
fn new_id() -> String {
    let bits = fastrand::u128(..);
    // Version 4 and the RFC 4122 variant, as a UUID v4 spells them.
    let bits = (bits & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_version_4_uuids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(new_id(), id);
    }
}
