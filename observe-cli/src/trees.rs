//! `observe session` and `observe trace`: one session or trace as a tree of its
//! observations, with a trace's generations and scores below it.

use anyhow::{bail, Result};
use observe_model::view::{escape_control, SessionTree, TraceTree, ViewOptions};
use observe_store::Reader;

use crate::cli_args::TreeArgs;
use crate::failures::{failure_lines, failures_json};
use crate::generations::generation_lines;
use crate::output::{cell, Format, Output};
use crate::tree_depth::{cap_depth, MAX_DEPTH};
use crate::tree_json::{ms, trace_json};

/// `observe session ID`: the session's traces as trees, or as JSON.
pub fn session(store: &mut Reader, out: &Output, id: &str, shown: &TreeArgs) -> Result<()> {
    let capped = cap_depth(store.session_observations(id)?, MAX_DEPTH);
    let observations = capped.observations;
    if observations.is_empty() {
        bail!(
            "no session `{}` in {} — `observe sessions` lists them",
            escape_control(id),
            store.location()
        );
    }
    let tree = SessionTree::build(id, &observations);
    if out.format != Format::Table {
        let traces: Vec<_> = tree
            .traces
            .iter()
            .map(|t| trace_json(t, shown.io, &capped.markers))
            .collect();
        return out.json_value(&serde_json::json!({
            "session_id": tree.id,
            "start": tree.start().to_rfc3339(),
            "end": tree.end().to_rfc3339(),
            "duration_ms": ms(tree.duration()),
            "cost": tree.cost(),
            "cost_computed": tree.cost_computed(),
            "traces": traces,
            "failed_observations": failures_json(&observations),
        }));
    }
    let mut text = tree.render(&view_options(shown));
    text.push_str(&failure_lines(&observations));
    out.text(&text)
}

/// `observe trace ID`: the trace as a tree with its generations and scores, or as JSON.
pub fn trace(store: &mut Reader, out: &Output, id: &str, shown: &TreeArgs) -> Result<()> {
    let full = resolve_trace_id(store, id)?;
    let capped = cap_depth(store.trace_observations(&full)?, MAX_DEPTH);
    let observations = capped.observations;
    let trees = TraceTree::build_all(&observations);
    let Some(tree) = trees.first() else {
        bail!("trace `{full}` has no observations");
    };
    let scores = store.trace_scores(&full)?;
    if out.format != Format::Table {
        let mut value = trace_json(tree, shown.io, &capped.markers);
        value["scores"] = scores.to_json();
        value["failed_observations"] = failures_json(&observations);
        return out.json_value(&value);
    }
    let mut text = format!("Trace {full}\n");
    if let Some(attrs) = observations.first().map(|o| &o.trace) {
        let mut facts = Vec::new();
        if let Some(u) = &attrs.user_id {
            facts.push(format!("user {}", escape_control(u)));
        }
        if let Some(s) = &attrs.session_id {
            facts.push(format!("session {}", escape_control(s)));
        }
        if !attrs.tags.is_empty() {
            facts.push(format!("tags {}", escape_control(&attrs.tags.join(", "))));
        }
        facts.push(format!("started {}", tree.start.to_rfc3339()));
        text.push_str(&format!("  {}\n", facts.join(" · ")));
    }
    text.push_str(&tree.render(&view_options(shown)));
    text.push_str(&failure_lines(&observations));
    let generations = generation_lines(&observations);
    if !generations.is_empty() {
        text.push_str("Generations:\n");
        text.push_str(&generations);
    }
    if !scores.rows.is_empty() {
        text.push_str("Scores:\n");
        for row in &scores.rows {
            text.push_str(&format!("  {} = {}\n", cell(&row[0]), cell(&row[1])));
        }
    }
    out.text(&text)
}

/// The detailed tree, with inputs and outputs when asked for.
fn view_options(shown: &TreeArgs) -> ViewOptions {
    ViewOptions::detailed().with_io(shown.io)
}

/// A full id, or the one trace whose id starts with `prefix`.
fn resolve_trace_id(store: &mut Reader, prefix: &str) -> Result<String> {
    let prefix = prefix.to_ascii_lowercase();
    if !prefix.bytes().all(|b| b.is_ascii_hexdigit()) || prefix.is_empty() {
        bail!(
            "`{}` is not a trace id (32 hex characters, or a unique prefix)",
            escape_control(&prefix)
        );
    }
    // Two at most: enough to tell one match from several.
    let mut found = store.trace_ids_with_prefix(&prefix, 2)?;
    match found.as_slice() {
        // Escaped as every id read from a file is: a hand-edited store may hold anything.
        [_] => Ok(escape_control(&found.remove(0)).into_owned()),
        [] => bail!(
            "no trace `{prefix}` in {} — `observe traces` lists them",
            store.location()
        ),
        _ => bail!("`{prefix}` names several traces: give more characters"),
    }
}
