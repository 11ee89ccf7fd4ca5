//! A batch divided between the writer's connections by trace: every record of a trace goes
//! to one connection, so two transactions of one batch never touch the same trace row, and
//! each takes its traces' locks in id order as a batch on one connection does.

use std::collections::HashMap;

use observe_model::export::Batch;
use observe_model::model::TraceId;
use rustc_hash::FxBuildHasher;

/// Which connection writes each trace of a batch.
#[derive(Debug, Default)]
pub(super) struct Split {
    lane_of: HashMap<TraceId, usize, FxBuildHasher>,
    lanes: usize,
}

impl Split {
    /// Divides `batch` between at most `lanes` connections, each trace to the one given
    /// the fewest observations so far (traces in the order the batch first names them).
    /// A batch of fewer than `min_share` observations per connection, or of one trace,
    /// stays whole on the first.
    pub(super) fn new(batch: &Batch, lanes: usize, min_share: usize) -> Split {
        let lanes = lanes
            .min(batch.observations.len() / min_share.max(1))
            .max(1);
        let mut split = Split {
            lane_of: HashMap::default(),
            lanes,
        };
        if lanes == 1 {
            return split;
        }
        let mut order: Vec<(TraceId, usize)> = Vec::new();
        let mut at: HashMap<TraceId, usize, FxBuildHasher> = HashMap::default();
        for o in &batch.observations {
            let i = *at.entry(o.trace_id).or_insert_with(|| {
                order.push((o.trace_id, 0));
                order.len() - 1
            });
            if let Some(entry) = order.get_mut(i) {
                entry.1 += 1;
            }
        }
        if order.len() < 2 {
            split.lanes = 1;
            return split;
        }
        let mut load = vec![0usize; lanes];
        for (trace, count) in order {
            let lane = (0..lanes).min_by_key(|&l| load[l]).unwrap_or(0);
            load[lane] += count;
            split.lane_of.insert(trace, lane);
        }
        split.lanes = load.iter().filter(|&&n| n > 0).count().max(1);
        split
    }

    /// How many connections write the batch.
    pub(super) fn lanes(&self) -> usize {
        self.lanes
    }

    /// What connection `lane` writes.
    pub(super) fn share(&self, lane: usize) -> Share<'_> {
        Share {
            split: (self.lanes > 1).then_some(self),
            lane,
        }
    }

    fn lane_of(&self, trace: TraceId) -> usize {
        match self.lane_of.get(&trace) {
            Some(&lane) => lane,
            // A score for a trace none of the batch's observations belongs to.
            None => (trace.0 % self.lanes.max(1) as u128) as usize,
        }
    }
}

/// The records of a batch one connection writes: those of its traces.
#[derive(Clone, Copy, Debug)]
pub(super) struct Share<'a> {
    /// `None`: the whole batch.
    split: Option<&'a Split>,
    lane: usize,
}

impl Share<'_> {
    /// The whole batch, on one connection.
    pub(super) const ALL: Share<'static> = Share {
        split: None,
        lane: 0,
    };

    /// Whether this connection writes the records of `trace`.
    pub(super) fn takes(&self, trace: TraceId) -> bool {
        self.split.is_none_or(|s| s.lane_of(trace) == self.lane)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use observe_model::model::{
        Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes,
    };
    use std::sync::Arc;

    fn batch(traces: &[(u128, usize)]) -> Batch {
        let mut observations = Vec::new();
        for &(trace, n) in traces {
            for i in 0..n {
                observations.push(Box::new(Observation {
                    trace_id: TraceId(trace),
                    id: SpanId(i as u64 + 1),
                    parent_id: None,
                    name: "span".into(),
                    kind: ObservationType::Span,
                    level: Level::Default,
                    start: Timestamp(1),
                    end: Timestamp(2),
                    details: None,
                    trace: Arc::new(TraceAttributes::default()),
                }));
            }
        }
        Batch {
            observations,
            scores: Vec::new(),
        }
    }

    #[test]
    fn each_trace_goes_to_one_connection_and_the_loads_even_out() {
        let b = batch(&[(1, 7), (2, 7), (3, 2), (4, 5), (5, 7)]);
        let split = Split::new(&b, 2, 4);
        assert_eq!(split.lanes(), 2);
        let (a, z) = (split.share(0), split.share(1));
        let mut counts = [0, 0];
        for o in &b.observations {
            assert!(a.takes(o.trace_id) != z.takes(o.trace_id));
            counts[usize::from(z.takes(o.trace_id))] += 1;
        }
        // In first-seen order, each trace to the lighter connection: 7 | 7, then 2 to the
        // first (a tie), 5 to the second, 7 to the first. No connection ends more than the
        // largest trace ahead of the other.
        assert_eq!(counts, [16, 12]);
    }

    #[test]
    fn small_batches_and_single_traces_stay_whole() {
        let one = batch(&[(1, 100)]);
        assert_eq!(Split::new(&one, 2, 4).lanes(), 1);
        let small = batch(&[(1, 3), (2, 3)]);
        let split = Split::new(&small, 2, 4);
        assert_eq!(split.lanes(), 1);
        assert!(split.share(0).takes(TraceId(1)) && split.share(0).takes(TraceId(2)));
    }
}
