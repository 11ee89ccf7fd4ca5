//! The failed observations of a session or trace (level `ERROR`), listed below its tree:
//! one failed request marks every `?` level it passed through and often a framework event
//! too, and the list shows them together with their messages, so that the first one (the
//! cause) is easy to find.

use observe_model::model::{Level, Observation};
use observe_model::view::escape_control;
use serde_json::{json, Value};

/// The failed observations, in start order.
fn failed(observations: &[Observation]) -> Vec<&Observation> {
    let mut failed: Vec<&Observation> = observations
        .iter()
        .filter(|o| o.level == Level::Error)
        .collect();
    failed.sort_by_key(|o| o.start);
    failed
}

/// `Failed observations:` and one line each (name, type, trace, message), or nothing
/// when none failed.
pub fn failure_lines(observations: &[Observation]) -> String {
    let failed = failed(observations);
    if failed.is_empty() {
        return String::new();
    }
    let mut text = format!("Failed observations ({}):\n", failed.len());
    for o in failed {
        let trace = o.trace_id.to_string();
        text.push_str(&format!(
            "  {} ({}, trace {})",
            escape_control(&o.name),
            o.kind.as_str(),
            &trace[..8]
        ));
        if let Some(message) = &o.details().status_message {
            text.push_str(&format!(": {}", escape_control(message)));
        }
        text.push('\n');
    }
    text
}

/// The failed observations as JSON objects: `id`, `trace_id`, `name`, `type`,
/// `status_message`, `start`.
pub fn failures_json(observations: &[Observation]) -> Value {
    failed(observations)
        .into_iter()
        .map(|o| {
            json!({
                "id": o.id.to_string(),
                "trace_id": o.trace_id.to_string(),
                "name": &*o.name,
                "type": o.kind.as_str(),
                "status_message": o.details().status_message,
                "start": o.start.to_rfc3339(),
            })
        })
        .collect()
}
