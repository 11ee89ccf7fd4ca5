//! Scores to Langfuse: `POST {base}/api/public/scores`, one `CreateScoreRequest` per score, as
//! SDK v5 sends them. Both Langfuse exporters (OTLP and the legacy ingestion API) use this.
//!
//! ```
//! use observe_export::scores::encode_score;
//! use observe_model::model::{Score, ScoreValue, Timestamp, TraceId};
//!
//! let score = Score {
//!     id: "0af7651916cd43dd8448eb211c80319c".into(),
//!     trace_id: TraceId(1),
//!     observation_id: None,
//!     name: "quality".into(),
//!     value: ScoreValue::Numeric(0.9),
//!     comment: None,
//!     timestamp: Timestamp(0),
//!     session_id: None,
//! };
//! let json: serde_json::Value = serde_json::from_slice(&encode_score(&score, Some("production"))).unwrap();
//! assert_eq!(json["traceId"], "00000000000000000000000000000001");
//! assert_eq!(json["dataType"], "NUMERIC");
//! assert_eq!(json["environment"], "production");
//! ```

use reqwest::header::{HeaderValue, CONTENT_TYPE};
use serde::Serialize;

use crate::http::{self, HeaderStyle, Sender, SetupError, Target};
use observe_model::export::{combine, Batch, ExportError};
use observe_model::model::Score;

/// The JSON body of `POST /api/public/scores` (`CreateScoreRequest` in the OpenAPI spec):
/// camelCase, absent fields omitted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateScoreRequest<'a> {
    id: &'a str,
    trace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    observation_id: Option<String>,
    name: &'a str,
    value: Value<'a>,
    data_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Value<'a> {
    Number(f64),
    Text(&'a str),
}

/// One score as the JSON Langfuse's scores endpoint takes: numeric and boolean values as
/// numbers (a boolean as `1` or `0`), categorical ones as strings, with `dataType` set.
/// A non-finite number (JSON has no NaN) is sent as `0`.
pub fn encode_score(score: &Score, environment: Option<&str>) -> Vec<u8> {
    let value = match (score.value.as_number(), score.value.string_value()) {
        (Some(v), _) => Value::Number(if v.is_finite() { v } else { 0.0 }),
        (None, text) => Value::Text(text.unwrap_or_default()),
    };
    let data_type = score.value.data_type();
    let request = CreateScoreRequest {
        id: &score.id,
        trace_id: score.trace_id.to_string(),
        observation_id: score.observation_id.map(|id| id.to_string()),
        name: &score.name,
        value,
        data_type,
        comment: score.comment.as_deref(),
        environment,
    };
    serde_json::to_vec(&request).unwrap_or_default()
}

/// Where scores go, and the environment they carry.
#[derive(Debug, Clone)]
pub(crate) struct ScoreTarget {
    target: Target,
    environment: Option<String>,
}

impl ScoreTarget {
    /// `{base}/api/public/scores` with Basic auth.
    pub(crate) fn langfuse(
        base_url: &str,
        public_key: &str,
        secret_key: &str,
        environment: Option<String>,
    ) -> Result<ScoreTarget, SetupError> {
        let url = http::parse_url(&format!(
            "{}/api/public/scores",
            base_url.trim_end_matches('/')
        ))?;
        let mut headers = http::langfuse_headers(public_key, secret_key, HeaderStyle::Hyphens)?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(ScoreTarget {
            target: Target {
                destination: "Langfuse scores".to_owned(),
                url,
                headers,
                auth_hint: LANGFUSE_AUTH_HINT,
            },
            environment,
        })
    }

    /// The same target, with scores carrying `environment`.
    pub(crate) fn with_environment(mut self, environment: Option<String>) -> ScoreTarget {
        self.environment = environment;
        self
    }

    /// Sends every score, one request each. A final refusal or an unreachable server stops
    /// the rest (they would fail the same way); the error counts the score that failed and
    /// those not sent, not the ones sent before it.
    pub(crate) fn send(
        &self,
        sender: &mut Sender,
        scores: &[Box<Score>],
    ) -> Result<(), ExportError> {
        for (i, score) in scores.iter().enumerate() {
            let body = encode_score(score, self.environment.as_deref());
            if let Err(err) = sender.post(&self.target, &[], &body) {
                let left = scores.len() - i;
                return Err(if i == 0 {
                    err
                } else {
                    ExportError::Partial {
                        destination: self.target.destination.clone(),
                        refused: left,
                        message: err.to_string(),
                    }
                });
            }
        }
        Ok(())
    }
}

/// One batch's result at a Langfuse destination: `observations`, the result of sending its
/// observations, then its scores by `send_scores`. Scores are not sent after the
/// observations found the server unreachable (they would wait out the same deadline again):
/// they fail as unreachable too, counted as not sent.
pub(crate) fn observations_then_scores(
    batch: &Batch,
    observations: Result<(), ExportError>,
    destination: &str,
    send_scores: impl FnOnce() -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let scores = if batch.scores.is_empty() {
        Ok(())
    } else if matches!(observations, Err(ExportError::Unavailable { .. })) {
        Err(ExportError::Unavailable {
            destination: destination.to_owned(),
            message: "scores not sent: the server is unreachable".to_owned(),
        })
    } else {
        send_scores()
    };
    combine(vec![
        (observations, batch.observations.len()),
        (scores, batch.scores.len()),
    ])
}

/// What a `401`/`403` from Langfuse means.
pub(crate) const LANGFUSE_AUTH_HINT: &str =
    "check LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY, and that LANGFUSE_BASE_URL is the server \
     (or cloud region) they belong to";

#[cfg(test)]
mod tests {
    use super::*;
    use observe_model::model::{ScoreValue, SpanId, Timestamp, TraceId};

    fn score(value: ScoreValue) -> Score {
        Score {
            id: "s1".into(),
            trace_id: TraceId(0xabc),
            observation_id: Some(SpanId(0x12)),
            name: "q".into(),
            value,
            comment: Some("c".into()),
            timestamp: Timestamp(0),
            session_id: Some("not sent".into()),
        }
    }

    #[test]
    fn values_and_types() {
        let v: serde_json::Value =
            serde_json::from_slice(&encode_score(&score(ScoreValue::Boolean(true)), None)).unwrap();
        assert_eq!(v["value"], 1.0);
        assert_eq!(v["dataType"], "BOOLEAN");
        assert_eq!(v["observationId"], "0000000000000012");
        assert!(v.get("environment").is_none());
        assert!(v.get("sessionId").is_none());
        let v: serde_json::Value = serde_json::from_slice(&encode_score(
            &score(ScoreValue::Categorical("good".into())),
            None,
        ))
        .unwrap();
        assert_eq!(v["value"], "good");
        assert_eq!(v["dataType"], "CATEGORICAL");
        let v: serde_json::Value =
            serde_json::from_slice(&encode_score(&score(ScoreValue::Numeric(f64::NAN)), None))
                .unwrap();
        assert_eq!(v["value"], 0.0);
    }
}
