//! One line per finished trace on stderr: the destination when nothing else is configured,
//! and a quick way to watch what an application records.
//!
//! ```text
//! observe: trace content_analysis_workflow 0af7651916cd43dd8448eb211c80319c: 12 observations, 15.204s, $0.23, session analysis_abc123, user user_42
//! ```
//!
//! A trace is finished when its root observation arrives (the root ends last). Observations
//! that arrive before their root are tallied (count, cost, errors) until it does.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//! use observe_runtime::{Client, Trace};
//! use observe_runtime::export::console::ConsoleExporter;
//!
//! #[derive(Clone, Default)]
//! struct Shared(Arc<Mutex<Vec<u8>>>);
//! impl std::io::Write for Shared {
//!     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
//!     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! }
//!
//! let out = Shared::default();
//! let client = Client::builder().exporter(ConsoleExporter::new(out.clone())).build();
//! let trace = client.trace(Trace::new("checkout").session_id("s1"));
//! trace.span("pay").end();
//! trace.end();
//! client.flush(Duration::from_secs(5));
//! let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
//! assert!(text.starts_with("observe: trace checkout "));
//! assert!(text.contains("2 observations"));
//! assert!(text.contains("session s1"));
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;

use crate::model::{Level, Observation, TraceId};
use crate::money::format_usd;
use crate::view::escape_control;
use observe_model::export::{Batch, ExportError, Exporter};

/// Traces tallied while waiting for their root; past this many, the oldest tallies are
/// forgotten (a root that never comes must not grow memory without bound).
const MAX_PENDING_TRACES: usize = 10_000;

#[derive(Default, Clone, Copy)]
struct Tally {
    observations: u64,
    cost: f64,
    errors: u64,
}

/// Prints one line per finished trace.
pub struct ConsoleExporter {
    out: Box<dyn Write + Send>,
    pending: HashMap<TraceId, Tally>,
    line: String,
}

impl std::fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl ConsoleExporter {
    /// Prints to the process's stderr.
    pub fn stderr() -> ConsoleExporter {
        ConsoleExporter::new(std::io::stderr())
    }

    /// Prints to any writer.
    pub fn new(out: impl Write + Send + 'static) -> ConsoleExporter {
        ConsoleExporter {
            out: Box::new(out),
            pending: HashMap::new(),
            line: String::new(),
        }
    }

    fn tally(&mut self, obs: &Observation) -> Tally {
        let mut tally = if obs.is_root() {
            self.pending.remove(&obs.trace_id).unwrap_or_default()
        } else {
            if self.pending.len() >= MAX_PENDING_TRACES && !self.pending.contains_key(&obs.trace_id)
            {
                self.pending.clear();
            }
            *self.pending.entry(obs.trace_id).or_default()
        };
        tally.observations += 1;
        tally.cost += obs.total_cost();
        tally.errors += u64::from(obs.level == Level::Error);
        if !obs.is_root() {
            self.pending.insert(obs.trace_id, tally);
        }
        tally
    }

    fn format_line(&mut self, root: &Observation, tally: Tally) {
        let line = &mut self.line;
        line.clear();
        let t = &*root.trace;
        let name = t.name.as_deref().unwrap_or(&root.name);
        let _ = write!(
            line,
            "observe: trace {} {}: {} observation{}, {:.3}s",
            escape_control(name),
            root.trace_id,
            tally.observations,
            if tally.observations == 1 { "" } else { "s" },
            root.duration().as_secs_f64()
        );
        if let Some(cost) = format_usd(tally.cost) {
            let _ = write!(line, ", {cost}");
        }
        if let Some(s) = &t.session_id {
            let _ = write!(line, ", session {}", escape_control(s));
        }
        if let Some(u) = &t.user_id {
            let _ = write!(line, ", user {}", escape_control(u));
        }
        if tally.errors > 0 {
            let _ = write!(
                line,
                ", {} error{}",
                tally.errors,
                if tally.errors == 1 { "" } else { "s" }
            );
        }
        line.push('\n');
    }
}

impl Exporter for ConsoleExporter {
    fn name(&self) -> &str {
        "console"
    }

    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        for obs in &batch.observations {
            let tally = self.tally(obs);
            if obs.is_root() {
                self.format_line(obs, tally);
                self.out
                    .write_all(self.line.as_bytes())
                    .map_err(|e| ExportError::Io {
                        destination: "console".to_owned(),
                        source: Box::new(e),
                    })?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ExportError> {
        self.out.flush().map_err(|e| ExportError::Io {
            destination: "console".to_owned(),
            source: Box::new(e),
        })
    }
}
