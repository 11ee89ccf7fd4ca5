//! The store's one writer: it takes every job queued (up to [`BATCH_BYTES`]), writes them
//! in one transaction per project, and only once that has committed tells each job's
//! connection, which then answers 200. The commit interval is therefore the time one
//! transaction takes, with no timer: a process killed at any moment has every acknowledged
//! record on disk. Whole spans that were committed then go to the forwarders, if any.

use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::piece::{ObservationPiece, Piece};

use super::counts::Counts;
use super::forward::Forward;
use super::queue::{Job, Outcome, Records, WriteQueue};
use super::reclaim::Reclaim;
use super::store::ServeStore;

/// About how much (inflated request bytes) one transaction takes from the queue.
pub(crate) const BATCH_BYTES: usize = 16 << 20;

/// Closes the queue when the writer ends, however it ends, and fails what is left in it,
/// so that no connection waits for a writer that is gone.
struct CloseOnExit<'a>(&'a WriteQueue);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.close();
        while let Some(jobs) = self.0.take(usize::MAX) {
            for job in jobs {
                let _ = job
                    .done
                    .send(Outcome::Failed("the writer stopped".to_owned()));
            }
        }
    }
}

/// Writes what `queue` holds until it is closed and empty, and hands what was committed
/// to `forward`.
pub(crate) fn run(
    queue: &WriteQueue,
    mut store: ServeStore,
    counts: &Arc<Counts>,
    forward: Option<&dyn Forward>,
) {
    let _close = CloseOnExit(queue);
    let reclaim = Reclaim::start();
    while let Some(mut jobs) = queue.take(BATCH_BYTES) {
        while !jobs.is_empty() {
            // The jobs of the first one's project, in their order; the others wait for
            // their own transaction.
            let project = jobs[0].project.clone();
            let (same, rest): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|j| j.project == project);
            jobs = rest;
            write_project(&mut store, &project, same, counts, forward, &reclaim);
        }
    }
}

/// Writes `jobs` (all of `project`) in one transaction, tells each what became of it, and
/// forwards the whole spans among them once committed; their pieces go to `reclaim`.
fn write_project(
    store: &mut ServeStore,
    project: &str,
    jobs: Vec<Job>,
    counts: &Counts,
    forward: Option<&dyn Forward>,
    reclaim: &Reclaim,
) {
    let records: usize = jobs.iter().map(|j| j.records.len()).sum();
    let mut pieces: Vec<Piece> = Vec::with_capacity(records);
    let mut spans = Batch::default();
    let mut span_bytes = 0;
    let mut waiting = Vec::with_capacity(jobs.len());
    for job in jobs {
        match job.records {
            Records::Spans(observations) if forward.is_some() => {
                pieces.extend(
                    observations
                        .iter()
                        .map(|o| Piece::Observation(ObservationPiece::from(o))),
                );
                span_bytes += job.bytes;
                spans
                    .observations
                    .extend(observations.into_iter().map(Box::new));
            }
            // Nothing to forward: the pieces take the spans' details rather than copies.
            Records::Spans(observations) => pieces.extend(
                observations
                    .into_iter()
                    .map(|o| Piece::Observation(ObservationPiece::from(o))),
            ),
            Records::Pieces(more) => pieces.extend(more),
        }
        waiting.push(job.done);
    }
    let outcome = match store.write_pieces(Some(project), &pieces) {
        Ok(report) => {
            Counts::add(&counts.spans_written, report.stored());
            if let Some(first) = report.refused.first() {
                eprintln!(
                    "observe serve: the store refused {} of {records} records: {}",
                    report.refused.len(),
                    first.reason
                );
                Counts::add(&counts.spans_store_refused, report.refused.len());
            }
            Counts::add(&counts.requests_written, waiting.len());
            Outcome::Committed
        }
        Err(e) => {
            eprintln!("observe serve: writing {records} records failed: {e}");
            Counts::add(&counts.spans_write_failed, records);
            Outcome::Failed(e)
        }
    };
    let committed = outcome == Outcome::Committed;
    for done in waiting {
        // A connection that went away has no one to tell.
        let _ = done.send(outcome.clone());
    }
    reclaim.free(pieces);
    if let (Some(forward), true) = (forward, committed && !spans.observations.is_empty()) {
        forward.forward(&Arc::new(spans), span_bytes);
    }
}
