//! The lines under `observe trace` that tell its generations apart: model, usage, cost,
//! prompt and time to first token.

use observe_model::model::{Observation, ObservationType};
use observe_model::money::format_usd;
use observe_model::view::{escape_control, format_duration};

use crate::tree_json::metadata_json;

/// What tells generations apart, one block per generation (and per observation that has
/// a model, usage or a prompt), by start time:
///
/// ```text
///   chat (1a2b3c4d): model gpt-4o · usage input 10, output 5, total 15 · cost $0.0021 · prompt summarize v3 · ttft 180ms
///     metadata {"attempt":2}
/// ```
pub fn generation_lines(observations: &[Observation]) -> String {
    let mut text = String::new();
    for o in observations {
        let d = o.details();
        if o.kind != ObservationType::Generation
            && d.model.is_none()
            && d.usage.is_none()
            && d.prompt_name.is_none()
        {
            continue;
        }
        let mut facts = Vec::new();
        if let Some(model) = &d.model {
            facts.push(format!("model {model}"));
        }
        if let Some(usage) = &d.usage {
            let counts: Vec<String> = usage.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
            facts.push(format!("usage {}", counts.join(", ")));
        }
        if let Some(cost) = format_usd(o.total_cost()) {
            if d.cost.is_none() && o.cost_is_computed() {
                // Priced by observe from the usage: an estimate, never sent to Langfuse.
                facts.push(format!("cost {cost} (computed)"));
            } else {
                facts.push(format!("cost {cost}"));
            }
        }
        if let Some(prompt) = &d.prompt_name {
            match d.prompt_version {
                Some(v) => facts.push(format!("prompt {prompt} v{v}")),
                None => facts.push(format!("prompt {prompt}")),
            }
        }
        if let Some(first) = d.completion_start_time {
            facts.push(format!("ttft {}", format_duration(first.since(o.start))));
        }
        let short_id = o.id.to_string();
        let line = format!(
            "{} ({}): {}",
            o.name,
            &short_id[..8.min(short_id.len())],
            if facts.is_empty() {
                "no model or usage recorded".to_owned()
            } else {
                facts.join(" · ")
            }
        );
        text.push_str(&format!("  {}\n", escape_control(&line)));
        if !d.metadata.is_empty() {
            let shown = metadata_json(d).to_string();
            text.push_str(&format!("    metadata {}\n", escape_control(&shown)));
        }
    }
    text
}
