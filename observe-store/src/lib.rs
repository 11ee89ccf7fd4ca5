//! The embedded local store: traces, observations and scores in one SQLite file, the
//! default destination when no Langfuse keys are set.
//!
//! The file follows Langfuse's data model, so its SQL reads like Langfuse's:
//!
//! | table | one row per | columns (besides ids) |
//! | --- | --- | --- |
//! | `traces` | trace | `name`, `user_id`, `session_id`, `timestamp` (start), `end_time`, `latency_ms` (earliest observation start to latest end), `calculated_total_cost` (sum of its observations' total cost), `computed_cost` (the part of it computed from usage), `observation_count`, `metadata` (JSON), `tags` (JSON array), `version`, `release`, `environment`, `public`, `input`, `output`, `seq` (the row's integer key), `project_id` |
//! | `observations` | observation | `trace_id`, `parent_observation_id`, `type` (Langfuse's `SPAN`, `GENERATION`, ...), `name`, `level`, `status_message`, `start_time`, `end_time`, `latency_ms`, `completion_start_time`, `model`, `model_parameters`, `usage_details`, `cost_details` (JSON), `calculated_total_cost`, `cost_computed` (1 when the cost was computed from usage and a [price list](crate::pricing), not given), `input`, `output`, `metadata` (JSON), `prompt_name`, `prompt_version`, `version`, `trace_seq` (its trace's `seq`), `project_id` |
//! | `pushed` | trace sent by `observe push`, per destination | `destination`, `trace_id`, `pushed_at` ([`PushLedger`]) |
//! | `scores` | score | `trace_id`, `observation_id`, `session_id`, `name`, `data_type` (`NUMERIC`, `CATEGORICAL`, `BOOLEAN`), `value`, `string_value`, `comment`, `timestamp`, `project_id` |
//!
//! `project_id` is the project `observe serve` stamped on a row (schema version 7; `NULL` for
//! what applications record themselves); [`Store::set_project`] limits a reader to one.
//!
//! Timestamps are UTC ISO-8601 text with microseconds (`2025-11-27T22:21:06.094913Z`): they
//! sort and compare as text, and SQLite's date functions read them. `start_ns` and `end_ns`
//! hold the same instants as integers.
//!
//! Observations are indexed by `(trace_seq, id)`, traces by `id`, `session_id`, `user_id`
//! and `timestamp`. To go from traces to their observations, join on
//! `observations.trace_seq = traces.seq` (or on `trace_id = traces.id` with the trace on the
//! outer side): a filter on `observations.trace_id` alone reads the whole table.
//!
//! Readers do not write SQL over these tables: [`Store`] reads observations back as the data
//! model, [`queries`] has the typed reads of the `observe` command and its web view, and
//! [`sql`] runs the PostgreSQL-dialect queries a person writes (`observe query`, reports,
//! the view's Query page).
//!
//! Several processes may write one file at once while others read it: the file is in WAL
//! mode, writers wait for each other (`busy_timeout`), and each batch is one transaction,
//! so a reader sees whole batches and a killed writer loses at most the batch it was
//! writing. A thread of the exporter's own copies the WAL into the file as it grows
//! (checkpoints), so the thread that exports batches does not wait for that copy; a process
//! killed during one leaves the file whole, as any SQLite checkpoint does. Only writers
//! create, migrate or change a file; [`Store`] opens it read-only. A trace row is upserted
//! from its observations as they arrive: latency and cost are kept up to date, metadata
//! merges by key and tags are a union; the root
//! observation, which ends last, carries the trace's final attributes.
//!
//! # Pieces
//!
//! What other senders deliver arrives in [pieces](observe_model::piece): an observation's
//! create and its updates apart, a trace's attributes without observations, the same span
//! twice, a child before its parent, ids as the sender's text. [`StoreExporter::write_pieces`]
//! writes one request of them in one transaction and ends with what Langfuse shows:
//!
//! - one row per observation id in its trace: the fields a piece gives replace the stored
//!   ones, the others are kept, metadata merges by key; the cost is the one given, else one
//!   priced from the merged model and usage;
//! - the trace's times, cost, computed cost and observation count are counted again from its
//!   observations, so a merged observation counts once with its latest values;
//! - trace attributes (from a trace piece or carried by an observation piece) merge as the
//!   library's do: scalars given replace, metadata by key, tags as a union; a trace with no
//!   observation is a row of its own, listed by the views;
//! - a piece whose trace has no row yet makes one from what is known; one whose parent has
//!   not arrived is stored with its parent's id, and the tree links them when reading;
//! - the `NOT NULL` columns of a piece that lacks them (an update before its create) take
//!   stand-ins a later piece replaces: type `SPAN`, level `DEFAULT`, name empty, and for a
//!   time not given, empty `start_time`/`end_time` text with the other time (or the arrival
//!   time) in `start_ns`/`end_ns`; a trace's times count given times first;
//! - a score id seen before replaces the stored score; a score on no trace is stored with an
//!   empty `trace_id`.
//!
//! Trace ids are unique across projects: a piece naming a trace another project holds is
//! refused ([`PieceReport::refused`]), the rest of its request stored. The library's own
//! batches merge the same way when an observation is stored already (a retried batch, a span
//! sent twice).
//!
//! Applications configure it through `observe-runtime` (it is the default destination); the
//! exporter takes batches as any [`Exporter`] does:
//!
//! ```
//! use std::sync::Arc;
//! use observe_model::export::{Batch, Exporter};
//! use observe_model::model::{
//!     Cost, Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
//! };
//! use observe_store::StoreExporter;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("traces.db");
//! let mut exporter = StoreExporter::open(&path).unwrap();
//!
//! let trace = Arc::new(TraceAttributes {
//!     name: Some("url_fetch".into()),
//!     session_id: Some("analysis_abc123".into()),
//!     user_id: Some("u1".into()),
//!     ..TraceAttributes::default()
//! });
//! let observation = |id: u64, parent: Option<u64>, name: &'static str, kind| Observation {
//!     trace_id: TraceId(7),
//!     id: SpanId(id),
//!     parent_id: parent.map(SpanId),
//!     name: name.into(),
//!     kind,
//!     level: Level::Default,
//!     start: Timestamp::now(),
//!     end: Timestamp::now(),
//!     details: None,
//!     trace: Arc::clone(&trace),
//! };
//! let mut llm = observation(2, Some(1), "summarize", ObservationType::Generation);
//! llm.details_mut().cost = Some(Cost::total_only(0.02));
//! let root = observation(1, None, "url_fetch", ObservationType::Span);
//! let batch = Batch { observations: vec![Box::new(llm), Box::new(root)], scores: vec![] };
//! exporter.export(&batch).unwrap();
//! exporter.shutdown().unwrap();
//!
//! let store = observe_store::Store::open(&path).unwrap();
//! let table = observe_store::sql::query(&store, "SELECT user_id, calculated_total_cost FROM traces")
//!     .unwrap();
//! use observe_store::sql::Value;
//! assert_eq!(table.rows[0][0], Value::Text("u1".into()));
//! assert!(matches!(table.rows[0][1], Value::Real(cost) if (cost - 0.02).abs() < 1e-12));
//! assert_eq!(store.session_observations("analysis_abc123").unwrap().len(), 2);
//! ```

#![warn(missing_docs)]

mod checkpoint;
mod connection_settings;
mod error;
mod observation_insert;
mod pieces;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod pricing;
mod pushed;
pub mod queries;
mod raw;
mod read;
mod reader;
mod reader_view;
mod schema;
pub mod sql;
mod text;
mod trace_hours;
mod user_totals;
mod write;
mod write_rules;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::pricing::PriceList;
use observe_model::export::{Batch, ExportError, Exporter};

pub use error::{NotAStoreReason, StoreError};
pub use pieces::{PieceReport, RefusedPiece};
pub use pushed::PushLedger;
pub use read::Store;
pub use reader::{is_postgres_url, ReadError, Reader, POSTGRES_SCHEMES};

pub use observe_model::vars::DEFAULT_STORE_PATH;

/// The schema version this build writes (`PRAGMA user_version`).
pub const SCHEMA_VERSION: i32 = schema::CURRENT_VERSION;

#[doc(hidden)]
pub use trace_hours::DROP_TRACE_HOURS;
pub use user_totals::DROP_USER_TOTALS;

/// Where the store lives: `OBSERVE_STORE_PATH` when set and not empty, else
/// `.observe/traces.db` in the working directory.
///
/// ```
/// use observe_store::default_store_path;
/// let path = default_store_path();
/// assert!(path.ends_with("traces.db") || std::env::var_os("OBSERVE_STORE_PATH").is_some());
/// ```
pub fn default_store_path() -> PathBuf {
    match std::env::var_os(observe_model::vars::STORE_PATH) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_STORE_PATH),
    }
}

/// Sets WAL mode, the busy timeout and a durable-enough sync level on a connection.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    conn.busy_timeout(connection_settings::BUSY_TIMEOUT)
        .map_err(sqlite)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::debug!(path = %path.display(), mode, "observe store: WAL mode unavailable");
    }
    // NORMAL in WAL mode: a committed batch survives a crash of the process; only a power
    // loss can take back the last ones.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sqlite)?;
    Ok(())
}

/// Pages of the WAL after which the writer copies them into the database itself (SQLite's
/// default is 1,000, about 4 MB), when the [checkpointing thread](checkpoint) has not
/// already: with 10,000 (about 40 MB, kept between copies) a page that several batches
/// changed (a trace index page, the last page of a table) is copied once for all of them.
const WAL_AUTOCHECKPOINT_PAGES: i64 = checkpoint::LIMIT_PAGES as i64;

/// The writer's page cache, in KiB (SQLite's default is 2,000). It holds the index pages
/// that new trace rows land on, which are spread over the whole index: with SQLite's
/// default a writer rereads them from the file once a store holds some hundred thousand
/// observations. Memory is only taken as pages are read.
const WRITER_CACHE_KIB: i64 = 16 * 1024;

/// Tunes the writer's connection for batch inserts.
fn configure_writer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let sqlite = |e| StoreError::sqlite(path, e);
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)
        .map_err(sqlite)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .map_err(sqlite)?;
    Ok(())
}

/// Writes every batch it is given into a SQLite file; see the [module docs](self).
///
/// ```
/// use observe_store::StoreExporter;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = StoreExporter::open(dir.path().join("nested/traces.db")).unwrap();
/// assert!(store.path().ends_with("nested/traces.db"));
/// ```
pub struct StoreExporter {
    /// The pieces path's statements, prepared on `writer`'s connection; declared first,
    /// so finalized before that connection closes.
    pieces: pieces::Prepared,
    /// The connection and its statements.
    writer: write::Writer,
    /// Copies the WAL into the file beside the writer; dropped after it, so that the last
    /// connection to close (which checkpoints and removes the WAL) is its own.
    checkpointer: Option<checkpoint::Checkpointer>,
    path: PathBuf,
}

impl std::fmt::Debug for StoreExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreExporter")
            .field("path", &self.path)
            .field("background_checkpoints", &self.checkpointer.is_some())
            .finish()
    }
}

impl StoreExporter {
    /// Opens (creating it and its folder if needed) the store at `path`, and brings an
    /// older file to the current schema.
    pub fn open(path: impl AsRef<Path>) -> Result<StoreExporter, StoreError> {
        let path = path.as_ref().to_owned();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateDir {
                path: path.clone(),
                source,
            })?;
        }
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&path, e))?;
        configure(&conn, &path)?;
        schema::migrate(&mut conn, &path)?;
        configure_writer(&conn, &path)?;
        let checkpointer = checkpoint::Checkpointer::start(&mut conn, &path);
        let writer = write::Writer::new(conn, PriceList::default_list())
            .map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(StoreExporter {
            pieces: pieces::Prepared::default(),
            writer,
            checkpointer,
            path,
        })
    }

    /// Adds or overrides model prices for the generations this store prices (those with
    /// usage and no cost): `prices` on top of [`PriceList::default_list`] (the built-in
    /// list and the `OBSERVE_MODEL_PRICES` file).
    ///
    /// ```
    /// use observe_store::StoreExporter;
    /// use observe_store::pricing::{ModelPrice, PriceList};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let ours = ModelPrice::new("house-llm", "(?i)^house-llm$").unwrap()
    ///     .price("input", 1e-6)
    ///     .price("output", 3e-6);
    /// let store = StoreExporter::open(dir.path().join("t.db")).unwrap()
    ///     .with_prices(PriceList::new().with_model(ours));
    /// # drop(store);
    /// ```
    #[must_use]
    pub fn with_prices(mut self, prices: PriceList) -> StoreExporter {
        let list = PriceList::clone(&PriceList::default_list()).overriding(prices);
        self.writer.set_prices(std::sync::Arc::new(list));
        self
    }

    /// Opens the store at [`default_store_path`].
    pub fn open_default() -> Result<StoreExporter, StoreError> {
        StoreExporter::open(default_store_path())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one batch in one transaction, outside the pipeline (for tools and tests).
    /// Records SQLite refuses are left out and reported as [`StoreError::Refused`]; the
    /// rest of the batch is stored.
    ///
    /// ```
    /// use observe_model::export::Batch;
    /// use observe_store::StoreExporter;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut store = StoreExporter::open(dir.path().join("t.db")).unwrap();
    /// store.write(&Batch::default()).unwrap();
    /// ```
    pub fn write(&mut self, batch: &Batch) -> Result<(), StoreError> {
        let refused = self
            .writer
            .write(batch)
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        self.refused_error(refused)
    }

    /// Writes several batches in one transaction, outside the pipeline: all of them or, on
    /// an error, none. A commit costs about the same whatever it holds (the index pages it
    /// rewrites), so this is how the pipeline's destination writes what queued up while
    /// the previous commit ran ([`STORE_BATCHES_AT_ONCE`] at most). Records SQLite refuses
    /// are left out and reported, for all the batches together, as [`StoreError::Refused`].
    ///
    /// ```
    /// use observe_model::export::Batch;
    /// use observe_store::StoreExporter;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut store = StoreExporter::open(dir.path().join("t.db")).unwrap();
    /// store.write_many(&[&Batch::default(), &Batch::default()]).unwrap();
    /// ```
    pub fn write_many(&mut self, batches: &[&Batch]) -> Result<(), StoreError> {
        let refused = self
            .writer
            .write_many(batches)
            .map_err(|e| StoreError::sqlite(&self.path, e))?;
        self.refused_error(refused)
    }

    /// `Ok` when nothing was refused, else the [`StoreError::Refused`] that says how many.
    fn refused_error(&self, refused: write::Refused) -> Result<(), StoreError> {
        match refused.records {
            0 => Ok(()),
            n => Err(StoreError::Refused {
                path: self.path.clone(),
                refused: n,
                reason: refused.first_reason.unwrap_or_default(),
            }),
        }
    }
}

impl Exporter for StoreExporter {
    fn name(&self) -> &str {
        "store"
    }

    /// Records SQLite refuses come back as [`ExportError::Partial`] (the rest of the batch
    /// is stored); a batch that could not be written at all as [`ExportError::Io`].
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        export_result(self.write(batch))
    }

    fn batches_at_once(&self) -> usize {
        STORE_BATCHES_AT_ONCE
    }

    /// The batches in one transaction ([`StoreExporter::write_many`]); refused records and
    /// failures as [`Exporter::export`] reports them, for all the batches together.
    fn export_many(&mut self, batches: &[&Batch]) -> Result<(), ExportError> {
        export_result(self.write_many(batches))
    }
}

/// The most queued batches the pipeline hands the store in one transaction: 16 of the
/// pipeline's batches of 512 are about 8,000 observations, a transaction of tens of
/// milliseconds that keeps the WAL within its checkpoint thresholds.
///
/// ```
/// use observe_model::export::Exporter;
/// use observe_store::{StoreExporter, STORE_BATCHES_AT_ONCE};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = StoreExporter::open(dir.path().join("t.db")).unwrap();
/// assert_eq!(store.batches_at_once(), STORE_BATCHES_AT_ONCE);
/// ```
pub const STORE_BATCHES_AT_ONCE: usize = 16;

/// A store write's outcome as the pipeline counts it.
fn export_result(written: Result<(), StoreError>) -> Result<(), ExportError> {
    match written {
        Ok(()) => Ok(()),
        Err(StoreError::Refused {
            refused, reason, ..
        }) => Err(ExportError::Partial {
            destination: "store".to_owned(),
            refused,
            message: reason,
        }),
        Err(e) => Err(ExportError::Io {
            destination: "store".to_owned(),
            source: Box::new(e),
        }),
    }
}
