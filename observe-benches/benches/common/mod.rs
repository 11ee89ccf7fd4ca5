//! What the benches share: an exporter that does the real work of a destination cheaply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use observe_runtime::export::{Batch, ExportError, Exporter};

/// Our exporter for the benches: counts the observations of each batch (reading each one's
/// name, so the record is looked at after it crossed the queue) and drops them.
#[derive(Clone, Default)]
pub struct Counting(pub Arc<AtomicU64>);

impl Exporter for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let seen: usize = batch.observations.iter().map(|o| o.name.len().min(1)).sum();
        self.0.fetch_add(seen as u64, Ordering::Relaxed);
        Ok(())
    }
}
