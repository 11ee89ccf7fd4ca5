//! The hook through which `observe serve --forward-to` (in the binary, where the exporters
//! are) sees what the store committed.

use std::sync::Arc;

use observe_model::export::Batch;

/// Takes each batch the store's writer committed, once the requests that brought it were
/// answered. Called on the writer's thread: it must hand the batch on without waiting for
/// the network (a slow upstream must not hold up the store).
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use observe_cli::serve::Forward;
/// use observe_model::export::Batch;
///
/// #[derive(Default)]
/// struct Tally(AtomicUsize);
/// impl Forward for Tally {
///     fn forward(&self, batch: &Arc<Batch>, _bytes: usize) {
///         self.0.fetch_add(batch.len(), Ordering::Relaxed);
///     }
/// }
/// let tally = Tally::default();
/// tally.forward(&Arc::new(Batch::default()), 0);
/// assert_eq!(tally.0.load(Ordering::Relaxed), 0);
/// ```
pub trait Forward: Send + Sync {
    /// `batch` was committed; `bytes` is what the requests that brought it weighed,
    /// inflated (a measure for the forwarder's own bound).
    fn forward(&self, batch: &Arc<Batch>, bytes: usize);
}
