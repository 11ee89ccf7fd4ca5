//! A destination the configuration names but that could not start (a store file that
//! cannot be opened): the application starts anyway, and the destination's records are
//! counted as dropped for it, so `Stats` still adds up and says where they did not go.

use std::time::Instant;

use crate::export::{Batch, ExportContext, ExportError, Exporter};

/// Stands in for a destination that could not start, under that destination's name.
pub(super) struct Unavailable {
    name: &'static str,
    reason: String,
}

impl Unavailable {
    /// Stands in for the destination `name` (as its exporter would be named), which could
    /// not start for `reason`.
    pub(super) fn new(name: &'static str, reason: String) -> Unavailable {
        Unavailable { name, reason }
    }
}

impl Exporter for Unavailable {
    fn name(&self) -> &str {
        self.name
    }

    /// Nothing is to be attempted: with its deadline passed from the start, the pipeline
    /// counts each batch as dropped for this destination without calling `export`, and
    /// logs no failure per batch (the one warning was said when it could not start).
    fn attach(&mut self, context: ExportContext) {
        context.set_deadline(Instant::now());
    }

    fn export(&mut self, _batch: &Batch) -> Result<(), ExportError> {
        Err(ExportError::Unavailable {
            destination: self.name.to_owned(),
            message: self.reason.clone(),
        })
    }
}
