//! Size limits and masking, applied on the worker before records leave the process.
//!
//! Langfuse refuses an event over about 1 MB. Rather than lose the whole observation, the
//! largest of its input, output and metadata is replaced by a marker that says what was cut,
//! and the rest of the record is kept, as the official SDK does.

use crate::model::{Json, Metadata, Observation};

/// Rough encoded size of an observation: its JSON payloads plus a fixed overhead for ids,
/// names and timestamps. Used for batching by bytes, before any encoding.
pub(crate) fn estimated_size(obs: &Observation) -> usize {
    const OVERHEAD: usize = 256;
    let Some(d) = obs.details.as_deref() else {
        return OVERHEAD + obs.name.len();
    };
    OVERHEAD
        + obs.name.len()
        + d.input.as_ref().map_or(0, Json::len)
        + d.output.as_ref().map_or(0, Json::len)
        + metadata_size(&d.metadata)
        + d.model_parameters.as_ref().map_or(0, Json::len)
        + d.status_message.as_ref().map_or(0, String::len)
}

fn metadata_size(m: &Metadata) -> usize {
    m.iter().map(|(k, v)| k.len() + v.len() + 4).sum()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    Input,
    Output,
    Metadata,
}

/// Replaces the largest of input, output and metadata by a truncation marker until the
/// record fits `max_bytes`. Returns whether anything was cut.
pub(crate) fn truncate(obs: &mut Observation, max_bytes: usize) -> bool {
    let mut cut = false;
    while estimated_size(obs) > max_bytes {
        let d = obs.details_mut();
        let sizes = [
            (Field::Input, d.input.as_ref().map_or(0, Json::len)),
            (Field::Output, d.output.as_ref().map_or(0, Json::len)),
            (Field::Metadata, metadata_size(&d.metadata)),
        ];
        let Some(&(field, size)) = sizes
            .iter()
            .filter(|(_, s)| *s > 64)
            .max_by_key(|(_, s)| *s)
        else {
            break; // nothing large left to cut
        };
        let marker = Json::from_value(&serde_json::json!({
            "truncated": true,
            "original_bytes": size,
            "reason": format!("over the {max_bytes}-byte limit per observation"),
        }));
        match field {
            Field::Input => d.input = Some(marker),
            Field::Output => d.output = Some(marker),
            Field::Metadata => {
                d.metadata.clear();
                d.metadata.insert("truncated".to_owned(), marker);
            }
        }
        cut = true;
    }
    if cut {
        tracing::warn!(
            observation = %obs.name,
            "observe: observation over {max_bytes} bytes: its largest field was replaced by a \
             truncation marker"
        );
    }
    cut
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
    use std::sync::Arc;

    fn obs() -> Observation {
        Observation {
            trace_id: TraceId(1),
            id: SpanId(2),
            parent_id: None,
            name: "n".into(),
            kind: ObservationType::Span,
            level: Level::Default,
            start: Timestamp(0),
            end: Timestamp(1),
            details: None,
            trace: Arc::new(TraceAttributes::default()),
        }
    }

    #[test]
    fn the_largest_field_is_replaced_and_the_rest_kept() {
        let mut o = obs();
        o.details_mut().input = Some(Json::string(&"i".repeat(5_000)));
        o.details_mut().output = Some(Json::string(&"o".repeat(20_000)));
        o.details_mut().model = Some("m".into());
        assert!(truncate(&mut o, 10_000));
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
    fn a_small_record_is_untouched() {
        let mut o = obs();
        o.details_mut().input = Some(Json::string("small"));
        let before = o.clone();
        assert!(!truncate(&mut o, 10_000));
        assert_eq!(o, before);
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
