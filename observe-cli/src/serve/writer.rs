//! The store's one writer: it takes every job queued (up to [`BATCH_BYTES`]), writes them
//! in one transaction, and only once that has committed tells each job's connection, which
//! then answers 200. The commit interval is therefore the time one transaction takes, with
//! no timer: a process killed at any moment has every acknowledged span on disk.

use std::sync::Arc;

use observe_model::export::{Batch, ExportError, Exporter as _};
use observe_store::StoreExporter;

use super::counts::Counts;
use super::forward::Forward;
use super::queue::{Outcome, WriteQueue};

/// About how much (inflated request bytes) one transaction takes from the queue.
pub(crate) const BATCH_BYTES: usize = 16 << 20;

/// Writes what `queue` holds until it is closed and empty.
pub(crate) fn run(
    queue: &WriteQueue,
    mut store: StoreExporter,
    counts: &Arc<Counts>,
    forward: Option<&dyn Forward>,
) {
    while let Some(jobs) = queue.take(BATCH_BYTES) {
        let spans: usize = jobs.iter().map(|j| j.observations.len()).sum();
        let mut batch = Batch::default();
        batch.observations.reserve(spans);
        let mut waiting = Vec::with_capacity(jobs.len());
        let bytes: usize = jobs.iter().map(|j| j.bytes).sum();
        for job in jobs {
            // The project goes with the data once the store keeps one per row.
            let _ = &job.project;
            batch
                .observations
                .extend(job.observations.into_iter().map(Box::new));
            waiting.push(job.done);
        }
        let outcome = match store.export(&batch) {
            Ok(()) => {
                Counts::add(&counts.spans_written, spans);
                Outcome::Committed
            }
            Err(ExportError::Partial {
                refused, message, ..
            }) => {
                eprintln!("observe serve: the store refused {refused} of {spans} spans: {message}");
                Counts::add(&counts.spans_written, spans.saturating_sub(refused));
                Counts::add(&counts.spans_store_refused, refused);
                Outcome::Committed
            }
            Err(e) => {
                eprintln!("observe serve: writing {spans} spans failed: {e}");
                Counts::add(&counts.spans_write_failed, spans);
                Outcome::Failed(e.to_string())
            }
        };
        if outcome == Outcome::Committed {
            Counts::add(&counts.requests_written, waiting.len());
        }
        for done in waiting {
            // A connection that went away has no one to tell.
            let _ = done.send(outcome.clone());
        }
        if let (Some(forward), Outcome::Committed) = (forward, &outcome) {
            forward.forward(&Arc::new(batch), bytes);
        }
    }
}
