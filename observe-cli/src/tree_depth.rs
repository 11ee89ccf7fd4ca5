//! Trees cut at a depth: `observe trace` and `observe session` show [`MAX_DEPTH`] levels,
//! and in place of what lies deeper one marker observation per cut, named
//! `… N observations below level 100 not shown`, carrying their time span and cost.
//!
//! A trace nested ten thousand deep (a recursive agent gone wrong, or a file written by
//! hand) would otherwise print hundreds of megabytes of indentation, and the tree code,
//! which recurses once per level, would run out of stack. The cut is made on the flat list
//! of observations, before any tree is built, without recursion.

use std::collections::HashMap;

use observe_model::model::{
    Cost, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp, TraceId,
};

/// Levels shown; the root observation is level 1. Fifty levels nest about a hundred deep
/// in the JSON output, within what parsers accept (serde_json stops at 128).
pub const MAX_DEPTH: usize = 50;

/// An observation's place: ids are unique within a trace only.
pub type Key = (TraceId, SpanId);

/// Observations cut at a depth, with a marker in place of each subtree cut off.
pub struct Capped {
    /// The observations down to the depth, and the markers.
    pub observations: Vec<Observation>,
    /// Each marker's key, with how many observations it stands for.
    pub markers: HashMap<Key, usize>,
}

/// What a marker stands for: the observations below one observation at the cut.
struct Hidden {
    first: usize,
    count: usize,
    cost: f64,
    computed: bool,
    level: Level,
    start: Timestamp,
    end: Timestamp,
}

/// Keeps the observations at most `max_depth` levels deep (an observation whose parent is
/// not there counts as a root); under each observation at `max_depth` with children, one
/// marker stands for everything below it.
pub fn cap_depth(observations: Vec<Observation>, max_depth: usize) -> Capped {
    let index: HashMap<Key, usize> = observations
        .iter()
        .enumerate()
        .rev() // the first of two observations with one id wins, as in the tree
        .map(|(i, o)| ((o.trace_id, o.id), i))
        .collect();
    let parent = |i: usize| -> Option<usize> {
        let o = &observations[i];
        let p = o.parent_id.filter(|p| *p != o.id)?;
        index.get(&(o.trace_id, p)).copied()
    };
    let depths = depths(observations.len(), parent);
    if depths.iter().all(|d| *d <= max_depth) {
        return Capped {
            observations,
            markers: HashMap::new(),
        };
    }

    // The observation at `max_depth` above each deeper one, found level by level.
    let mut order: Vec<usize> = (0..observations.len())
        .filter(|i| depths[*i] > max_depth)
        .collect();
    order.sort_by_key(|i| depths[*i]);
    let mut cut_at: HashMap<usize, usize> = HashMap::new();
    let mut hidden: HashMap<usize, Hidden> = HashMap::new();
    for &i in &order {
        let Some(p) = parent(i) else { continue };
        let top = if depths[i] == max_depth + 1 {
            p
        } else {
            match cut_at.get(&p) {
                Some(top) => *top,
                None => continue,
            }
        };
        cut_at.insert(i, top);
        let o = &observations[i];
        let h = hidden.entry(top).or_insert(Hidden {
            first: i,
            count: 0,
            cost: 0.0,
            computed: false,
            level: Level::Default,
            start: o.start,
            end: o.end,
        });
        h.count += 1;
        h.cost += o.total_cost();
        h.computed |= o.cost_is_computed();
        if severity(o.level) > severity(h.level) {
            h.level = o.level;
        }
        h.start = h.start.min(o.start);
        h.end = h.end.max(o.end);
        let first = &observations[h.first];
        if depths[i] == max_depth + 1 && (o.start, o.id) < (first.start, first.id) {
            h.first = i;
        }
    }

    let mut markers = HashMap::new();
    let mut marked = Vec::with_capacity(hidden.len());
    for (top, h) in &hidden {
        let first = &observations[h.first];
        let cost = (h.cost != 0.0).then(|| Cost::total_only(h.cost));
        let (cost, computed_cost) = if h.computed {
            (None, cost)
        } else {
            (cost, None)
        };
        markers.insert((first.trace_id, first.id), h.count);
        marked.push(Observation {
            trace_id: first.trace_id,
            id: first.id,
            parent_id: Some(observations[*top].id),
            name: format!(
                "… {} observations below level {max_depth} not shown",
                h.count
            )
            .into(),
            kind: ObservationType::Span,
            level: h.level,
            start: h.start,
            end: h.end,
            details: Some(Box::new(ObservationDetails {
                cost,
                computed_cost,
                ..ObservationDetails::default()
            })),
            trace: first.trace.clone(),
        });
    }
    let mut kept: Vec<Observation> = observations
        .into_iter()
        .zip(depths)
        .filter(|(_, d)| *d <= max_depth)
        .map(|(o, _)| o)
        .collect();
    kept.extend(marked);
    Capped {
        observations: kept,
        markers,
    }
}

/// How much a level asks for attention: the marker shows the worst level it hides.
fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warning => 2,
        Level::Default => 1,
        _ => 0,
    }
}

/// Each observation's level (1 for a root), walking up with an explicit stack; members
/// of a cycle of parent ids count as roots.
fn depths(n: usize, parent: impl Fn(usize) -> Option<usize>) -> Vec<usize> {
    let mut depths = vec![0usize; n];
    let mut path = Vec::new();
    for start in 0..n {
        let mut at = start;
        // Up to a root, an observation already placed, or back onto the path (a cycle).
        let base = loop {
            if depths[at] != 0 {
                break depths[at];
            }
            path.push(at);
            match parent(at) {
                Some(p) if !path.contains(&p) => at = p,
                _ => break 0,
            }
        };
        for (k, i) in path.drain(..).rev().enumerate() {
            depths[i] = base + k + 1;
        }
    }
    depths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths_count_from_the_root_and_survive_cycles() {
        // 0 <- 1 <- 2, 3 alone, 4 <-> 5 a cycle.
        let parents = [None, Some(0), Some(1), None, Some(5), Some(4)];
        let d = depths(parents.len(), |i| parents[i]);
        assert_eq!(&d[..4], &[1, 2, 3, 1]);
        assert!(d[4] >= 1 && d[5] >= 1);
    }
}
