//! A JSON list of scores on `POST /api/public/scores`, as the current Langfuse SDKs batch
//! them: each score validated alone, the good ones kept, the answer saying how many of each.

use observe_model::piece::ScorePiece;
use serde_json::{json, Value};

use super::issues::{invalid_type, Issue};
use super::score::score_body;

/// What a list of scores gave: the scores to store, and why each other one was refused.
///
/// ```
/// use observe_ingest::ingestion::decode_score_list;
///
/// let list: Vec<serde_json::Value> = serde_json::from_str(r#"[
///     {"traceId": "t-1", "name": "quality", "value": 0.9},
///     {"traceId": "t-1", "value": 0.9}
/// ]"#).unwrap();
/// let outcome = decode_score_list(&list);
/// assert_eq!(outcome.scores.len(), 1);
/// assert_eq!(outcome.status(), 207);
/// assert!(outcome.errors[0].starts_with("score 1: invalid score"));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScoreListOutcome {
    /// The accepted scores, in the list's order, each with an id (a new one when it had none).
    pub scores: Vec<ScorePiece>,
    /// One message per refused score, naming its place in the list and the issues.
    pub errors: Vec<String>,
}

impl ScoreListOutcome {
    /// 202 when every score was accepted, else 207 (which the SDKs do not retry).
    pub fn status(&self) -> u16 {
        if self.errors.is_empty() {
            202
        } else {
            207
        }
    }

    /// The answer Langfuse gives: `{"message": "Accepted"}` with 202, else
    /// `{"accepted": n, "rejected": m, "errors": [{"message": ...}]}`.
    pub fn response_body(&self) -> String {
        if self.errors.is_empty() {
            return json!({ "message": "Accepted" }).to_string();
        }
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|message| json!({ "message": message }))
            .collect();
        json!({
            "accepted": self.scores.len(),
            "rejected": self.errors.len(),
            "errors": errors,
        })
        .to_string()
    }
}

/// Decodes each item of a list sent to `POST /api/public/scores` as one score body.
pub fn decode_score_list(items: &[Value]) -> ScoreListOutcome {
    let mut outcome = ScoreListOutcome::default();
    for (index, item) in items.iter().enumerate() {
        let decoded = match item {
            Value::Object(map) => score_body(map),
            other => Err(vec![invalid_type(Vec::new(), "object", Some(other))]),
        };
        match decoded {
            Ok(score) => outcome.scores.push(score),
            Err(issues) => {
                // One line per score: the SDK logs the messages joined with "; ".
                let issues: Vec<Value> = issues.iter().map(Issue::to_json).collect();
                outcome.errors.push(format!(
                    "score {index}: invalid score: {}",
                    Value::Array(issues)
                ));
            }
        }
    }
    outcome
}
