//! Ids in the JSON of `observe session` and `observe trace` as their sender wrote them: the
//! store's readers fold ids that are not hex (`my-trace-1`, a UUID from an SDK that
//! `observe serve` recorded) to the model's ids, and these put the text back.

use observe_model::model::{SpanId, TraceId};
use observe_store::Reader;
use serde_json::Value;

/// Puts the sender's text back into a trace's JSON (`id`, and each nested observation's).
pub fn restore_trace(store: &Reader, trace: &mut Value) {
    let Some(id) = text_id::<TraceId>(&trace["id"]) else {
        return;
    };
    trace["id"] = store.trace_id_text(id).into();
    if let Some(observations) = trace["observations"].as_array_mut() {
        for o in observations {
            restore_observation(store, id, o);
        }
    }
}

fn restore_observation(store: &Reader, trace: TraceId, o: &mut Value) {
    if let Some(id) = text_id::<SpanId>(&o["id"]) {
        o["id"] = store.observation_id_text(trace, id).into();
    }
    if let Some(children) = o["children"].as_array_mut() {
        for child in children {
            restore_observation(store, trace, child);
        }
    }
}

/// Puts the sender's text back into the failed observations' JSON (`id`, `trace_id`).
pub fn restore_failures(store: &Reader, failures: &mut Value) {
    for f in failures.as_array_mut().into_iter().flatten() {
        let (Some(trace), Some(id)) = (
            text_id::<TraceId>(&f["trace_id"]),
            text_id::<SpanId>(&f["id"]),
        ) else {
            continue;
        };
        f["trace_id"] = store.trace_id_text(trace).into();
        f["id"] = store.observation_id_text(trace, id).into();
    }
}

fn text_id<T: std::str::FromStr>(v: &Value) -> Option<T> {
    v.as_str()?.parse().ok()
}
