//! The web view's reads on either store ([`Reader`]): the JSON rows of the SQLite store's
//! [`queries`](crate::queries) (`session_ids`, `session_turns`, `trace_rows_with_prefix`,
//! ...), which a PostgreSQL store gives alike for the same traces, and what the view needs
//! of a connection (a change token, a way to stop a query from another thread).

use std::path::Path;

use serde_json::Value;

use crate::queries::SessionFilter;
use crate::reader::{ReadError, Reader};
use crate::Store;

/// Calls the same read on whichever store the reader holds.
macro_rules! on_either {
    ($reader:expr, $store:ident => $read:expr) => {
        match $reader {
            Reader::Sqlite($store) => Ok($read?),
            #[cfg(feature = "postgres")]
            Reader::Postgres($store) => Ok($read?),
        }
    };
}

impl Reader {
    /// The ids of the sessions that pass `filter`, most recently started first, at most
    /// `wanted` ([`Store::session_ids`]). On PostgreSQL `from` and `to` are read as
    /// instants (`2026-12-07T10:00:00Z`, `2026-12-07`) rather than compared as text.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// use observe_store::{queries::SessionFilter, Reader};
    /// let mut reader = Reader::open(path.as_os_str()).unwrap();
    /// assert!(reader.session_ids(&SessionFilter::default(), 51).unwrap().is_empty());
    /// assert!(reader.session_turns("nope").unwrap().is_empty());
    /// assert!(reader.user_rows().unwrap().is_empty());
    /// ```
    pub fn session_ids(
        &mut self,
        filter: &SessionFilter,
        wanted: usize,
    ) -> Result<Vec<String>, ReadError> {
        on_either!(self, s => s.session_ids(filter, wanted))
    }

    /// Totals of each session in `ids`, in that order ([`Store::session_summaries`]).
    pub fn session_summaries(&mut self, ids: &[String]) -> Result<Vec<Value>, ReadError> {
        on_either!(self, s => s.session_summaries(ids))
    }

    /// The traces of the session `id` as turns ([`Store::session_turns`]).
    pub fn session_turns(&mut self, id: &str) -> Result<Vec<Value>, ReadError> {
        on_either!(self, s => s.session_turns(id))
    }

    /// The rows of at most two traces whose id starts with `prefix`
    /// ([`Store::trace_rows_with_prefix`]).
    pub fn trace_rows_with_prefix(&mut self, prefix: &str) -> Result<Vec<Value>, ReadError> {
        on_either!(self, s => s.trace_rows_with_prefix(prefix))
    }

    /// The observations of `trace`, a row of
    /// [`trace_rows_with_prefix`](Reader::trace_rows_with_prefix)
    /// ([`Store::trace_observation_rows`]).
    pub fn trace_observation_rows(&mut self, trace: &Value) -> Result<Vec<Value>, ReadError> {
        on_either!(self, s => s.trace_observation_rows(trace))
    }

    /// The observation `id` of `trace` in full ([`Store::observation_row`]).
    pub fn observation_row(&mut self, trace: &Value, id: &str) -> Result<Option<Value>, ReadError> {
        on_either!(self, s => s.observation_row(trace, id))
    }

    /// The scores of the trace `trace_id`, by time ([`Store::score_rows`]).
    pub fn score_rows(&mut self, trace_id: &str) -> Result<Vec<Value>, ReadError> {
        on_either!(self, s => s.score_rows(trace_id))
    }

    /// Per user, the most costly first ([`Store::user_rows`]).
    pub fn user_rows(&mut self) -> Result<Vec<Value>, ReadError> {
        on_either!(self, s => s.user_rows())
    }

    /// A token that changes whenever a writer commits (what the view's pages poll): on
    /// SQLite the file's and its WAL's sizes and times and the newest trace; on
    /// PostgreSQL the newest trace and the server's counts of rows written
    /// (`PgStore::change_token`, feature `postgres`).
    pub fn change_token(&mut self) -> Result<String, ReadError> {
        match self {
            Reader::Sqlite(store) => sqlite_change_token(store),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => Ok(pg.change_token()?),
        }
    }

    /// Caps every text or blob value a query makes or reads at `bytes`
    /// ([`Store::limit_value_bytes`]). PostgreSQL has no such setting: there a value is
    /// bounded by the server's own limit (1 GB), and a query by its time limit.
    pub fn limit_value_bytes(&self, bytes: usize) -> Result<(), ReadError> {
        match self {
            Reader::Sqlite(store) => Ok(store.limit_value_bytes(bytes)?),
            #[cfg(feature = "postgres")]
            Reader::Postgres(_) => Ok(()),
        }
    }

    /// Connects again to a PostgreSQL store whose server dropped the connection
    /// (`PgStore::reconnect_if_dropped`, feature `postgres`);
    /// nothing to do for a file. Whether it connected again.
    pub fn reconnect_if_dropped(&mut self) -> Result<bool, ReadError> {
        match self {
            Reader::Sqlite(_) => Ok(false),
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => Ok(pg.reconnect_if_dropped()?),
        }
    }

    /// A function that stops, from another thread, the query this reader is running then
    /// (for a client that went away): SQLite's interrupt, or PostgreSQL's cancel request.
    pub fn interrupter(&self) -> Box<dyn FnOnce() + Send> {
        match self {
            Reader::Sqlite(store) => {
                let handle = store.interrupt_handle();
                Box::new(move || handle.interrupt())
            }
            #[cfg(feature = "postgres")]
            Reader::Postgres(pg) => Box::new(pg.canceller()),
        }
    }
}

/// The SQLite store's change token: the file's and its WAL's sizes and times, and the
/// newest trace (a checkpoint changes the first two, a commit the WAL's).
fn sqlite_change_token(store: &Store) -> Result<String, ReadError> {
    let path = store.path();
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                format!("{}.{modified}", m.len())
            })
            .unwrap_or_default()
    };
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let (seq, count) = store.newest_trace()?;
    Ok(format!(
        "{}-{}-{seq}-{count}",
        stamp(path),
        stamp(Path::new(&wal))
    ))
}
