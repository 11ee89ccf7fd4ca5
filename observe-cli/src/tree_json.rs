//! `observe session` and `observe trace` as JSON: a trace and its observations nested as
//! the tree shows them, cut at the same depth: where the tree shows a marker, the node at
//! the cut has no `children` and says how many it leaves out in `descendants_not_shown`.

use std::collections::HashMap;
use std::time::Duration;

use observe_model::model::{Metadata, Observation, ObservationDetails, TraceAttributes};
use observe_model::view::{self, TraceTree};

use crate::tree_depth::Key;

/// A trace and its observations, nested as in the tree; inputs and outputs with `io`;
/// `markers` are the observations that stand for a cut subtree, with its size.
///
/// The trace's attributes (user, tags, metadata, release, version, environment, public;
/// input and output with `io`) are those its observations carry: the store gives every one
/// the trace's row.
pub fn trace_json(t: &TraceTree<'_>, io: bool, markers: &HashMap<Key, usize>) -> serde_json::Value {
    let no_attributes = TraceAttributes::default();
    let attrs = t
        .roots
        .first()
        .map_or(&no_attributes, |n| &n.observation.trace);
    let mut v = serde_json::json!({
        "id": t.id.to_string(),
        "name": t.name,
        "session_id": t.session_id,
        "user_id": attrs.user_id,
        "tags": attrs.tags,
        "metadata": metadata_object(&attrs.metadata),
        "release": attrs.release,
        "version": attrs.version,
        "environment": attrs.environment,
        "public": attrs.public,
        "start": t.start.to_rfc3339(),
        "end": t.end.to_rfc3339(),
        "latency_ms": ms(t.latency()),
        "cost": t.cost,
        "cost_computed": t.cost_computed,
        "observations": t.roots.iter().map(|n| node_json(n, io, markers)).collect::<Vec<_>>(),
    });
    if io {
        v["input"] = attrs
            .input
            .as_ref()
            .map_or(serde_json::Value::Null, |j| j.to_value());
        v["output"] = attrs
            .output
            .as_ref()
            .map_or(serde_json::Value::Null, |j| j.to_value());
    }
    v
}

/// An observation and, nested, its children (the depth is already cut, so this recursion
/// is bounded).
fn node_json(n: &view::Node<'_>, io: bool, markers: &HashMap<Key, usize>) -> serde_json::Value {
    let o: &Observation = n.observation;
    let d = o.details();
    let mut v = serde_json::json!({
        "id": o.id.to_string(),
        "name": o.name,
        "type": o.kind.as_str().to_ascii_uppercase(),
        "level": o.level.as_str(),
        "start": o.start.to_rfc3339(),
        "end": o.end.to_rfc3339(),
        "latency_ms": ms(o.duration()),
        "cost": n.cost,
        "cost_computed": n.cost_computed,
        "own_cost": o.total_cost(),
        "own_cost_computed": o.cost_is_computed(),
        "status_message": d.status_message,
        "model": d.model,
        "usage": d.usage,
        "cost_details": d.cost.as_ref().or(d.computed_cost.as_ref()),
        "prompt_name": d.prompt_name,
        "prompt_version": d.prompt_version,
        "completion_start_time": d.completion_start_time.map(|t| t.to_rfc3339()),
        "time_to_first_token_ms": d.completion_start_time.map(|t| ms(t.since(o.start))),
        "metadata": metadata_json(d),
    });
    let mut children = Vec::with_capacity(n.children.len());
    let mut not_shown = 0;
    for c in &n.children {
        match markers.get(&(c.observation.trace_id, c.observation.id)) {
            Some(count) => not_shown += count,
            None => children.push(node_json(c, io, markers)),
        }
    }
    v["children"] = children.into();
    if not_shown > 0 {
        v["descendants_not_shown"] = not_shown.into();
    }
    if io {
        v["input"] = d
            .input
            .as_ref()
            .map_or(serde_json::Value::Null, |j| j.to_value());
        v["output"] = d
            .output
            .as_ref()
            .map_or(serde_json::Value::Null, |j| j.to_value());
    }
    v
}

/// A duration in milliseconds, as the JSON reports them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An observation's metadata as one JSON object.
pub fn metadata_json(d: &ObservationDetails) -> serde_json::Value {
    metadata_object(&d.metadata)
}

/// Metadata (a trace's or an observation's) as one JSON object.
fn metadata_object(metadata: &Metadata) -> serde_json::Value {
    serde_json::Value::Object(
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.to_value()))
            .collect(),
    )
}
