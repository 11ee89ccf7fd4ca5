//! An in-memory destination that tests (yours and ours) read back.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::{observe, Client};
//!
//! #[observe(as_type = "tool")]
//! fn lookup(key: &str) -> Option<u32> { key.parse().ok() }
//!
//! let (client, memory) = Client::in_memory();
//! client.in_scope(|| lookup("7"));
//! client.flush(Duration::from_secs(5));
//! let obs = memory.find("lookup").unwrap();
//! assert_eq!(obs.details().output.as_ref().unwrap().as_str(), "7");
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use crate::model::{Observation, Score, TraceId};
use observe_model::export::{Batch, ExportError, Exporter};

/// Keeps every exported observation and score; clones share the same storage.
#[derive(Clone, Default, Debug)]
pub struct InMemory {
    inner: Arc<Mutex<Stored>>,
}

#[derive(Default, Debug)]
struct Stored {
    observations: Vec<Observation>,
    scores: Vec<Score>,
}

impl InMemory {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every observation exported so far, in the order they ended.
    pub fn observations(&self) -> Vec<Observation> {
        self.stored().observations.clone()
    }

    /// Every score exported so far.
    pub fn scores(&self) -> Vec<Score> {
        self.stored().scores.clone()
    }

    /// The first observation with this name.
    pub fn find(&self, name: &str) -> Option<Observation> {
        self.stored()
            .observations
            .iter()
            .find(|o| o.name == name)
            .cloned()
    }

    /// The observations of one trace, in the order they ended.
    pub fn trace(&self, id: TraceId) -> Vec<Observation> {
        self.stored()
            .observations
            .iter()
            .filter(|o| o.trace_id == id)
            .cloned()
            .collect()
    }

    /// The root observation of every trace, in the order they ended.
    pub fn roots(&self) -> Vec<Observation> {
        self.stored()
            .observations
            .iter()
            .filter(|o| o.is_root())
            .cloned()
            .collect()
    }

    /// Forgets everything stored.
    pub fn clear(&self) {
        let mut s = self.stored();
        s.observations.clear();
        s.scores.clear();
    }
}

impl Exporter for InMemory {
    fn name(&self) -> &str {
        "memory"
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let mut s = self.stored();
        s.observations
            .extend(batch.observations.iter().map(|o| (**o).clone()));
        s.scores.extend(batch.scores.iter().map(|o| (**o).clone()));
        Ok(())
    }
}
