//! A batch as the bytes of one spool entry, and back.
//!
//! The spool keeps records, not encoded requests: a replay goes through the destination's own
//! exporter, so a `413` still splits the batch and a `207` still counts each refused record.
//! The encoding is JSON through mirror structs kept here, so the model's public records need
//! no serde derives of their own and a field added to them is a compile error here first.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Cost, GenAiCall, Json, Level, Observation, ObservationDetails, ObservationType, Score,
    ScoreValue, SpanId, Timestamp, TraceAttributes, TraceId, Usage,
};
use serde::{Deserialize, Serialize};

/// An entry's payload could not be read back as a batch.
#[derive(Debug, thiserror::Error)]
#[error("a spool entry is not a batch: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

#[derive(Serialize, Deserialize)]
struct WireBatch {
    #[serde(default)]
    o: Vec<WireObservation>,
    #[serde(default)]
    s: Vec<WireScore>,
}

#[derive(Serialize, Deserialize)]
struct WireObservation {
    trace_id: String,
    id: String,
    parent_id: Option<String>,
    name: String,
    kind: ObservationType,
    level: Level,
    start: u64,
    end: u64,
    details: Option<WireDetails>,
    trace: WireTrace,
}

#[derive(Serialize, Deserialize)]
struct WireDetails {
    input: Option<String>,
    output: Option<String>,
    metadata: BTreeMap<String, String>,
    status_message: Option<String>,
    model: Option<String>,
    model_parameters: Option<String>,
    usage: Option<Usage>,
    cost: Option<Cost>,
    computed_cost: Option<Cost>,
    completion_start_time: Option<u64>,
    prompt_name: Option<String>,
    prompt_version: Option<i64>,
    version: Option<String>,
    /// Absent from entries that carry no model-call fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gen_ai: Option<WireGenAi>,
}

#[derive(Serialize, Deserialize)]
struct WireGenAi {
    provider: Option<String>,
    operation: Option<String>,
    response_id: Option<String>,
    #[serde(default)]
    finish_reasons: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct WireTrace {
    name: Option<String>,
    session_id: Option<String>,
    user_id: Option<String>,
    tags: Vec<String>,
    metadata: BTreeMap<String, String>,
    version: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    public: Option<bool>,
    input: Option<String>,
    output: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireScore {
    id: String,
    trace_id: String,
    observation_id: Option<String>,
    name: String,
    numeric: Option<f64>,
    categorical: Option<String>,
    boolean: Option<bool>,
    comment: Option<String>,
    timestamp: u64,
    session_id: Option<String>,
}

fn json_text(j: &Option<Json>) -> Option<String> {
    j.as_ref().map(|j| j.as_str().to_owned())
}

fn json_back(text: Option<String>) -> Option<Json> {
    text.map(Json::from_raw)
}

fn metadata_text(m: &BTreeMap<String, Json>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(k, v)| (k.clone(), v.as_str().to_owned()))
        .collect()
}

fn metadata_back(m: BTreeMap<String, String>) -> BTreeMap<String, Json> {
    m.into_iter().map(|(k, v)| (k, Json::from_raw(v))).collect()
}

fn wire_trace(t: &TraceAttributes) -> WireTrace {
    WireTrace {
        name: t.name.clone(),
        session_id: t.session_id.clone(),
        user_id: t.user_id.clone(),
        tags: t.tags.clone(),
        metadata: metadata_text(&t.metadata),
        version: t.version.clone(),
        release: t.release.clone(),
        environment: t.environment.clone(),
        public: t.public,
        input: json_text(&t.input),
        output: json_text(&t.output),
    }
}

fn trace_back(t: WireTrace) -> TraceAttributes {
    TraceAttributes {
        name: t.name,
        session_id: t.session_id,
        user_id: t.user_id,
        tags: t.tags,
        metadata: metadata_back(t.metadata),
        version: t.version,
        release: t.release,
        environment: t.environment,
        public: t.public,
        input: json_back(t.input),
        output: json_back(t.output),
    }
}

fn wire_details(d: &ObservationDetails) -> WireDetails {
    WireDetails {
        input: json_text(&d.input),
        output: json_text(&d.output),
        metadata: metadata_text(&d.metadata),
        status_message: d.status_message.clone(),
        model: d.model.clone(),
        model_parameters: json_text(&d.model_parameters),
        usage: d.usage.clone(),
        cost: d.cost.clone(),
        computed_cost: d.computed_cost.clone(),
        completion_start_time: d.completion_start_time.map(|t| t.0),
        prompt_name: d.prompt_name.clone(),
        prompt_version: d.prompt_version,
        version: d.version.clone(),
        gen_ai: d.gen_ai.as_deref().map(|g| WireGenAi {
            provider: g.provider.clone(),
            operation: g.operation.clone(),
            response_id: g.response_id.clone(),
            finish_reasons: g.finish_reasons.clone(),
        }),
    }
}

fn details_back(d: WireDetails) -> ObservationDetails {
    ObservationDetails {
        input: json_back(d.input),
        output: json_back(d.output),
        metadata: metadata_back(d.metadata),
        status_message: d.status_message,
        model: d.model,
        model_parameters: json_back(d.model_parameters),
        usage: d.usage,
        cost: d.cost,
        computed_cost: d.computed_cost,
        completion_start_time: d.completion_start_time.map(Timestamp),
        prompt_name: d.prompt_name,
        prompt_version: d.prompt_version,
        version: d.version,
        gen_ai: d.gen_ai.map(|g| {
            Box::new(GenAiCall {
                provider: g.provider,
                operation: g.operation,
                response_id: g.response_id,
                finish_reasons: g.finish_reasons,
            })
        }),
    }
}

/// Encodes a batch as an entry's payload.
/// Fewer bytes than any one record takes in a payload (the field names alone take more):
/// what a damaged entry's unchecked record count is held to.
pub(crate) const MIN_RECORD_BYTES: u64 = 64;

pub(crate) fn encode(batch: &Batch) -> Vec<u8> {
    let wire = WireBatch {
        o: batch
            .observations
            .iter()
            .map(|o| WireObservation {
                trace_id: o.trace_id.to_string(),
                id: o.id.to_string(),
                parent_id: o.parent_id.map(|p| p.to_string()),
                name: o.name.to_string(),
                kind: o.kind,
                level: o.level,
                start: o.start.0,
                end: o.end.0,
                details: o.details.as_deref().map(wire_details),
                trace: wire_trace(&o.trace),
            })
            .collect(),
        s: batch
            .scores
            .iter()
            .map(|s| WireScore {
                id: s.id.clone(),
                trace_id: s.trace_id.to_string(),
                observation_id: s.observation_id.map(|o| o.to_string()),
                name: s.name.clone(),
                numeric: match s.value {
                    ScoreValue::Numeric(v) => Some(v),
                    _ => None,
                },
                categorical: match &s.value {
                    ScoreValue::Categorical(c) => Some(c.clone()),
                    _ => None,
                },
                boolean: match s.value {
                    ScoreValue::Boolean(b) => Some(b),
                    _ => None,
                },
                comment: s.comment.clone(),
                timestamp: s.timestamp.0,
                session_id: s.session_id.clone(),
            })
            .collect(),
    };
    // Plain data with string keys: serializing it cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

fn id<T: std::str::FromStr>(text: &str) -> Result<T, DecodeError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| DecodeError(serde::de::Error::custom(e)))
}

/// Reads an entry's payload back as a batch. Observations of one trace that shared their
/// attributes share them again (one `Arc` per distinct set in a row).
pub(crate) fn decode(bytes: &[u8]) -> Result<Batch, DecodeError> {
    let wire: WireBatch = serde_json::from_slice(bytes)?;
    let mut observations = Vec::with_capacity(wire.o.len());
    let mut last: Option<Arc<TraceAttributes>> = None;
    for o in wire.o {
        let trace = trace_back(o.trace);
        let trace = match last.take() {
            Some(prev) if *prev == trace => prev,
            _ => Arc::new(trace),
        };
        last = Some(trace.clone());
        observations.push(Box::new(Observation {
            trace_id: id::<TraceId>(&o.trace_id)?,
            id: id::<SpanId>(&o.id)?,
            parent_id: o.parent_id.as_deref().map(id::<SpanId>).transpose()?,
            name: Cow::Owned(o.name),
            kind: o.kind,
            level: o.level,
            start: Timestamp(o.start),
            end: Timestamp(o.end),
            details: o.details.map(|d| Box::new(details_back(d))),
            trace,
        }));
    }
    let mut scores = Vec::with_capacity(wire.s.len());
    for s in wire.s {
        let value = match (s.numeric, s.categorical, s.boolean) {
            (Some(v), _, _) => ScoreValue::Numeric(v),
            (_, Some(c), _) => ScoreValue::Categorical(c),
            (_, _, Some(b)) => ScoreValue::Boolean(b),
            // A non-finite number encodes as null: it comes back as NaN, as it went in.
            (None, None, None) => ScoreValue::Numeric(f64::NAN),
        };
        scores.push(Box::new(Score {
            id: s.id,
            trace_id: id::<TraceId>(&s.trace_id)?,
            observation_id: s.observation_id.as_deref().map(id::<SpanId>).transpose()?,
            name: s.name,
            value,
            comment: s.comment,
            timestamp: Timestamp(s.timestamp),
            session_id: s.session_id,
        }));
    }
    Ok(Batch {
        observations,
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_comes_back_as_it_went() {
        let trace = Arc::new(TraceAttributes {
            name: Some("t".into()),
            session_id: Some("s".into()),
            tags: vec!["a".into()],
            metadata: [("k".to_owned(), Json::from_value(&1))].into(),
            ..Default::default()
        });
        let mut o = Observation {
            trace_id: TraceId(7),
            id: SpanId(9),
            parent_id: Some(SpanId(3)),
            name: "chat".into(),
            kind: ObservationType::Generation,
            level: Level::Warning,
            start: Timestamp(1),
            end: Timestamp(2),
            details: None,
            trace,
        };
        o.details_mut().input = Some(Json::from_value(&serde_json::json!({"q": "é"})));
        o.details_mut().usage = Some(Usage([("input".to_owned(), 3)].into()));
        o.details_mut().gen_ai = Some(Box::new(GenAiCall {
            provider: Some("openai".into()),
            operation: None,
            response_id: Some("chatcmpl-1".into()),
            finish_reasons: vec!["stop".into()],
        }));
        let batch = Batch {
            observations: vec![Box::new(o.clone()), Box::new(o)],
            scores: vec![Box::new(Score {
                id: "x".into(),
                trace_id: TraceId(7),
                observation_id: None,
                name: "q".into(),
                value: ScoreValue::Categorical("good".into()),
                comment: None,
                timestamp: Timestamp(5),
                session_id: None,
            })],
        };
        let back = decode(&encode(&batch)).unwrap();
        assert_eq!(back, batch);
        assert!(Arc::ptr_eq(
            &back.observations[0].trace,
            &back.observations[1].trace
        ));
    }

    #[test]
    fn every_record_takes_at_least_min_record_bytes() {
        let empty = encode(&Batch::default()).len() as u64;
        let score = Score {
            id: String::new(),
            trace_id: TraceId(0),
            observation_id: None,
            name: String::new(),
            value: ScoreValue::Boolean(true),
            comment: None,
            timestamp: Timestamp(0),
            session_id: None,
        };
        let observation = Observation {
            trace_id: TraceId(0),
            id: SpanId(0),
            parent_id: None,
            name: "".into(),
            kind: ObservationType::Span,
            level: Level::Default,
            start: Timestamp(0),
            end: Timestamp(0),
            details: None,
            trace: Arc::new(TraceAttributes::default()),
        };
        let scores = Batch {
            observations: Vec::new(),
            scores: vec![Box::new(score.clone()), Box::new(score)],
        };
        let observations = Batch {
            observations: vec![Box::new(observation.clone()), Box::new(observation)],
            scores: Vec::new(),
        };
        for batch in [scores, observations] {
            assert!(encode(&batch).len() as u64 >= empty + 2 * MIN_RECORD_BYTES);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"{\"o\":[{\"trace_id\":\"zz\"}]}").is_err());
        assert!(decode(&[0xff, 0, 1]).is_err());
    }
}
