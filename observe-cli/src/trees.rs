//! `observe session` and `observe trace`: one session or trace as a tree of its
//! observations, with a trace's generations and scores below it.

use anyhow::{bail, Result};
use observe_model::view::{escape_control, SessionTree, TraceTree, ViewOptions};
use observe_store::Reader;

use crate::cli_args::TreeArgs;
use crate::failures::{failure_lines, failures_json};
use crate::generations::generation_lines;
use crate::output::{cell, Format, Output};
use crate::shown_ids;
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
            .map(|t| {
                let mut json = trace_json(t, shown.io, &capped.markers);
                shown_ids::restore_trace(store, &mut json);
                json
            })
            .collect();
        let mut failures = failures_json(&observations);
        shown_ids::restore_failures(store, &mut failures);
        return out.json_value(&serde_json::json!({
            "session_id": tree.id,
            "start": tree.start().to_rfc3339(),
            "end": tree.end().to_rfc3339(),
            "duration_ms": ms(tree.duration()),
            "cost": tree.cost(),
            "cost_computed": tree.cost_computed(),
            "traces": traces,
            "failed_observations": failures,
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
        shown_ids::restore_trace(store, &mut value);
        value["scores"] = scores.to_json();
        let mut failures = failures_json(&observations);
        shown_ids::restore_failures(store, &mut failures);
        value["failed_observations"] = failures;
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

/// A full id, or the one trace whose id starts with `prefix`; an id a sender chose as text
/// (`my-trace-1`, a UUID: `observe serve` records them) is taken whole.
fn resolve_trace_id(store: &mut Reader, prefix: &str) -> Result<String> {
    if !prefix.is_empty() && !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        // The range the lookup reads starts at the id itself.
        return match store.trace_ids_with_prefix(prefix, 1)?.first() {
            Some(id) if id == prefix => Ok(escape_control(id).into_owned()),
            _ => bail!(
                "no trace `{}` in {} — `observe traces` lists them",
                escape_control(prefix),
                store.location()
            ),
        };
    }
    let prefix = prefix.to_ascii_lowercase();
    if prefix.is_empty() {
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
