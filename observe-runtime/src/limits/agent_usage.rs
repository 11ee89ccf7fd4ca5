//! Usage and cost never sit on an agent observation.
//!
//! Langfuse drops model, usage and cost on spans whose `gen_ai.operation.name` is
//! `invoke_agent` (so that a model call inside an agent is not counted twice), and the
//! conventions put usage on the model call, not on the agent that made it. An agent that
//! carried usage would show its tokens and cost in the local store and be free in Langfuse.
//! So usage and cost given on an agent are dropped on the worker, for every destination
//! alike, with one warning per process saying where they belong: on a generation inside the
//! agent. The model name stays (it costs nothing and tells what the agent ran on).

use std::sync::atomic::{AtomicBool, Ordering};

use crate::model::{Observation, ObservationType};

static WARNED: AtomicBool = AtomicBool::new(false);

/// Drops usage and cost from `obs` if it is an agent; true when it dropped something.
#[inline]
pub(super) fn refuse_agent_usage(obs: &mut Observation) -> bool {
    if obs.kind != ObservationType::Agent {
        return false;
    }
    let Some(d) = obs.details.as_deref_mut() else {
        return false;
    };
    if d.usage.is_none() && d.cost.is_none() {
        return false;
    }
    d.usage = None;
    d.cost = None;
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            agent = %obs.name,
            "observe: usage and cost dropped from agent `{}`: Langfuse drops them on agents \
             (`invoke_agent`); record them on a generation inside the agent (said once)",
            obs.name
        );
    }
    true
}
