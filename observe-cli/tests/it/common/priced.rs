//! The trace the cost tests read: two gpt-4o generations, one the store prices from its
//! usage and one with a cost given.

use std::path::Path;

use observe_model::model::{Cost, ObservationDetails, TraceAttributes, Usage};

use super::record::Recorder;

/// Writes trace `name` with `attributes` into the store at `path`: generation `summarize`
/// with usage and no cost, which the store prices (gpt-4o: 1000 in, 100 out, $0.0035),
/// linked to `prompt` (name and version) when given, then `review` with a cost given
/// ($0.25). Returns the trace id.
pub fn write_priced_trace(
    path: &Path,
    name: &str,
    attributes: TraceAttributes,
    prompt: Option<(&str, i64)>,
) -> String {
    let mut recorder = Recorder::new();
    let mut trace = recorder.trace(name, attributes);
    let id = trace.id().to_string();
    trace.generation(
        "summarize",
        ObservationDetails {
            model: Some("gpt-4o".to_owned()),
            usage: Some(Usage::new(1000, 100)),
            prompt_name: prompt.map(|(name, _)| name.to_owned()),
            prompt_version: prompt.map(|(_, version)| version),
            ..ObservationDetails::default()
        },
    );
    trace.generation(
        "review",
        ObservationDetails {
            model: Some("gpt-4o".to_owned()),
            usage: Some(Usage::new(10, 10)),
            cost: Some(Cost::total_only(0.25)),
            ..ObservationDetails::default()
        },
    );
    trace.end();
    recorder.write(path);
    id
}
