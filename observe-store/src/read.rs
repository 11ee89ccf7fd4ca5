//! Reading a store back: observations of a trace or a session as [`Observation`]s (for the
//! session tree); the connection stays here, for [`sql`](crate::sql) and the
//! [`queries`](crate::queries).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

use super::connection_settings::BUSY_TIMEOUT;
use super::text::lossy_value;
use super::{schema, StoreError};
use crate::sql::functions::register_functions;
use observe_model::model::{
    Cost, Json, Level, Metadata, Observation, ObservationDetails, ObservationType, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};
use observe_model::piece::{fold_span_id, fold_trace_id};

/// An existing store file opened read-only. Reads see every committed batch, also while
/// applications keep writing.
///
/// Opening never changes the file: a file that is not a store is
/// [`StoreError::NotAStore`], one from an older observe is [`StoreError::OlderSchema`] (a
/// writer, [`StoreExporter::open`](super::StoreExporter::open), migrates it), one from a
/// newer observe is [`StoreError::NewerSchema`].
///
/// ```
/// use std::sync::Arc;
/// use observe_model::export::{Batch, Exporter};
/// use observe_model::model::{
///     Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
/// };
/// use observe_store::{Store, StoreExporter};
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("traces.db");
/// let mut exporter = StoreExporter::open(&path).unwrap();
/// let root = Observation {
///     trace_id: TraceId::random(),
///     id: SpanId::random(),
///     parent_id: None,
///     name: "url_fetch".into(),
///     kind: ObservationType::Span,
///     level: Level::Default,
///     start: Timestamp::now(),
///     end: Timestamp::now(),
///     details: None,
///     trace: Arc::new(TraceAttributes {
///         session_id: Some("analysis_abc123".into()),
///         ..TraceAttributes::default()
///     }),
/// };
/// exporter.export(&Batch { observations: vec![Box::new(root)], scores: vec![] }).unwrap();
/// exporter.flush().unwrap();
///
/// let store = Store::open(&path).unwrap();
/// let observations = store.session_observations("analysis_abc123").unwrap();
/// assert_eq!(observations.len(), 1);
/// assert_eq!(observations[0].name, "url_fetch");
/// ```
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
    version: i32,
    /// The text of the ids read so far that are not hex, by the ids they fold to.
    folded: Mutex<FoldedIds>,
    /// The project reads are limited to ([`Store::set_project`]): the temporary views limit
    /// the tables, and reads of the kept totals filter by it.
    project: Option<String>,
}

/// Ids a sender chose as text, by the model's ids they fold to.
#[derive(Debug, Default)]
pub(crate) struct FoldedIds {
    traces: HashMap<TraceId, String>,
    observations: HashMap<(TraceId, SpanId), String>,
}

impl FoldedIds {
    /// The text the trace `id` was sent as, else its hex.
    pub(crate) fn trace_text(&self, id: TraceId) -> String {
        self.traces
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The text the observation `id` of the trace `trace` was sent as, else its hex.
    pub(crate) fn observation_text(&self, trace: TraceId, id: SpanId) -> String {
        self.observations
            .get(&(trace, id))
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

impl Store {
    /// Opens the store at `path` read-only; a missing file is [`StoreError::NotFound`] (it
    /// is not created: only writers create stores).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_owned();
        if !path.is_file() {
            return Err(StoreError::NotFound { path });
        }
        // Read-only: a reader never changes the file (no tables, no WAL switch, no
        // migration), so pointing it at any SQLite file is harmless.
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&path, e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        let version = schema::check_readable(&conn, &path)?;
        // The read-only open already refuses writes; `query_only` also refuses them on
        // this connection whatever a query tries, and says so when asked (`PRAGMA
        // query_only` is 1).
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| StoreError::sqlite(&path, e))?;
        register_functions(&conn).map_err(|e| StoreError::sqlite(&path, e))?;
        Ok(Store {
            conn,
            path,
            version,
            folded: Mutex::default(),
            project: None,
        })
    }

    /// Caps the size of one text or blob value on this connection at `bytes`: a query
    /// that would make or read a larger one fails with SQLite's "string or blob too big"
    /// instead of allocating it (the web view caps its queries' values so).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// store.limit_value_bytes(1000).unwrap();
    /// let big = observe_store::sql::query(&store, "SELECT printf('%.2000c', 'x')");
    /// assert!(big.unwrap_err().to_string().contains("too big"));
    /// ```
    pub fn limit_value_bytes(&self, bytes: usize) -> Result<(), StoreError> {
        let bytes = i32::try_from(bytes).unwrap_or(i32::MAX);
        self.conn
            .set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, bytes)
            .map(drop)
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// A handle that stops the query running on this store's connection from another
    /// thread (the web view stops a query whose client went away); the query then fails
    /// as interrupted. Stopping when nothing runs does nothing.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// let stop = store.interrupt_handle();
    /// stop.interrupt(); // nothing runs: no effect
    /// assert!(store.trace_observations("00").unwrap().is_empty());
    /// ```
    pub fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's schema version when it was opened: [`SCHEMA_VERSION`](crate::SCHEMA_VERSION),
    /// or an older one readers still take as it is (a writer brings it up to date).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert_eq!(store.schema_version(), observe_store::SCHEMA_VERSION);
    /// ```
    pub fn schema_version(&self) -> i32 {
        self.version
    }

    /// Limits every read of this store to one project's rows (`observe serve` stamps each
    /// row with the project its keys map to), or lifts the limit (`None`). It holds for
    /// the typed reads, the [`queries`](crate::queries) and the SQL a person writes
    /// ([`sql`](crate::sql)) alike: `traces`, `observations` and `scores` are shadowed, on
    /// this connection only, by views of the project's rows (temporary views, which the
    /// file never sees). A store older than schema version 7 has no projects:
    /// [`StoreError::NoProjects`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// use observe_model::piece::{ObservationPiece, Piece};
    /// let mut writer = observe_store::StoreExporter::open(&path).unwrap();
    /// for project in ["a", "b"] {
    ///     let piece = ObservationPiece::new(format!("trace-{project}"), "o");
    ///     writer.write_pieces(Some(project), &[Piece::Observation(piece)]).unwrap();
    /// }
    /// let mut store = observe_store::Store::open(&path).unwrap();
    /// store.set_project(Some("b")).unwrap();
    /// let ids = observe_store::sql::query(&store, "SELECT id FROM traces").unwrap();
    /// assert_eq!(ids.rows, vec![vec![observe_store::sql::Value::Text("trace-b".into())]]);
    /// store.set_project(None).unwrap();
    /// assert_eq!(observe_store::sql::query(&store, "SELECT id FROM traces").unwrap().rows.len(), 2);
    /// ```
    pub fn set_project(&mut self, project: Option<&str>) -> Result<(), StoreError> {
        if project.is_some() && self.version < schema::PROJECTS_VERSION {
            return Err(StoreError::NoProjects {
                path: self.path.clone(),
                found: self.version,
            });
        }
        let mut sql = String::from("PRAGMA query_only = OFF;");
        let rollups = if self.version >= schema::TRACE_HOURS_VERSION {
            &schema::PROJECT_ROLLUPS[..]
        } else {
            &[]
        };
        for table in schema::PROJECT_TABLES.iter().chain(rollups) {
            sql.push_str(&format!("DROP VIEW IF EXISTS temp.{table};"));
            if let Some(project) = project {
                // A view cannot take a parameter: the name goes in as an SQL literal.
                let literal = project.replace('\'', "''");
                sql.push_str(&format!(
                    "CREATE TEMP VIEW {table} AS SELECT * FROM main.{table} \
                     WHERE project_id = '{literal}';"
                ));
            }
        }
        sql.push_str("PRAGMA query_only = ON;");
        let result = self.conn.execute_batch(&sql);
        self.project = project.map(str::to_owned);
        // Whatever happened, the connection stays read-only.
        let guard = self.conn.pragma_update(None, "query_only", true);
        result
            .and(guard)
            .map_err(|e| StoreError::sqlite(&self.path, e))
    }

    /// The project reads are limited to, if any.
    pub(crate) fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// How the trace `id` (as an [`Observation`] read from this store holds it) is shown:
    /// the sender's own text when it was not hex and was folded
    /// ([`fold_trace_id`]), else its hex.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// use observe_model::piece::{ObservationPiece, Piece};
    /// let mut writer = observe_store::StoreExporter::open(&path).unwrap();
    /// let piece = ObservationPiece::new("my-trace-1", "0f8e2c1a-5b6d-4e3f-9a8b-7c6d5e4f3a2b");
    /// writer.write_pieces(None, &[Piece::Observation(piece)]).unwrap();
    /// let store = observe_store::Store::open(&path).unwrap();
    /// let o = &store.trace_observations("my-trace-1").unwrap()[0];
    /// assert_eq!(store.trace_id_text(o.trace_id), "my-trace-1");
    /// assert_eq!(
    ///     store.observation_id_text(o.trace_id, o.id),
    ///     "0f8e2c1a-5b6d-4e3f-9a8b-7c6d5e4f3a2b"
    /// );
    /// ```
    pub fn trace_id_text(&self, id: TraceId) -> String {
        let folded = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        folded.trace_text(id)
    }

    /// How the observation `id` of the trace `trace` is shown: the sender's text when it
    /// was folded ([`fold_span_id`]), else its hex.
    pub fn observation_id_text(&self, trace: TraceId, id: SpanId) -> String {
        let folded = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        folded.observation_text(trace, id)
    }

    /// The connection, for the SQL of this crate: the table layout and SQLite's types stay
    /// behind the typed reads and [`sql`](crate::sql).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The connection, mutable (a time limit is a progress handler set on it).
    pub(crate) fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Every observation of the trace `trace_id` (32 hex characters), by start time.
    pub fn trace_observations(&self, trace_id: &str) -> Result<Vec<Observation>, StoreError> {
        self.observations_where(
            "o.trace_seq = (SELECT seq FROM traces WHERE id = ?1)",
            trace_id,
        )
    }

    /// Every observation of every trace of the session `session_id`, by start time.
    pub fn session_observations(&self, session_id: &str) -> Result<Vec<Observation>, StoreError> {
        self.observations_where(
            "o.trace_seq IN (SELECT seq FROM traces WHERE session_id = ?1)",
            session_id,
        )
    }

    /// The observations that pass `filter` (SQL over `o`, the observation, and `t`, its
    /// trace, with `?1` bound to `arg`), by start time.
    pub(crate) fn observations_where(
        &self,
        filter: &str,
        arg: &str,
    ) -> Result<Vec<Observation>, StoreError> {
        let sql = format!(
            "SELECT {} FROM observations o LEFT JOIN traces t ON t.seq = o.trace_seq
             WHERE {filter} ORDER BY o.start_ns, o.end_ns",
            OBSERVATION_COLUMNS.join(", ")
        );
        let sqlite = |e| StoreError::sqlite(&self.path, e);
        let mut stmt = self.conn.prepare(&sql).map_err(sqlite)?;
        let mut rows = stmt.query([arg]).map_err(sqlite)?;
        let mut traces: HashMap<String, Arc<TraceAttributes>> = HashMap::new();
        let mut out = Vec::new();
        let mut folded = self.folded.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(row) = rows.next().map_err(sqlite)? {
            let values = (0..OBSERVATION_COLUMNS.len())
                .map(|i| row.get_ref(i).map(lossy_value))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(sqlite)?;
            out.extend(observation_from_values(&values, &mut traces, &mut folded));
        }
        Ok(out)
    }
}

/// The columns [`observation_from_values`] takes, in order, over `o` (the observation)
/// and `t` (its trace): each store selects them in its own SQL, converted to what the
/// SQLite store holds (flags 0 or 1, tags and JSON as text, times as the store's text).
pub(crate) const OBSERVATION_COLUMNS: [&str; 32] = [
    "o.id",
    "o.trace_id",
    "o.parent_observation_id",
    "o.type",
    "o.name",
    "o.level",
    "o.status_message",
    "o.start_ns",
    "o.end_ns",
    "o.completion_start_time",
    "o.model",
    "o.model_parameters",
    "o.usage_details",
    "o.cost_details",
    "o.input",
    "o.output",
    "o.metadata",
    "o.prompt_name",
    "o.prompt_version",
    "o.version",
    "t.name",
    "t.session_id",
    "t.user_id",
    "t.tags",
    "t.metadata",
    "t.version",
    "t.release",
    "t.environment",
    "t.public",
    "o.cost_computed",
    "t.input",
    "t.output",
];

/// One joined row (the values of [`OBSERVATION_COLUMNS`]) as an observation. Ids a sender
/// chose as text (a UUID, `my-trace-1`) are folded to the model's ids ([`fold_trace_id`],
/// [`fold_span_id`]), the same fold for a parent as for its children, so the tree links
/// them; `folded` keeps their text for display.
pub(crate) fn observation_from_values(
    row: &[SqlValue],
    traces: &mut HashMap<String, Arc<TraceAttributes>>,
    folded: &mut FoldedIds,
) -> Option<Observation> {
    let text = |i: usize| match row.get(i) {
        Some(SqlValue::Text(t)) => Some(t.clone()),
        Some(SqlValue::Integer(n)) => Some(n.to_string()),
        Some(SqlValue::Real(x)) => Some(x.to_string()),
        Some(SqlValue::Blob(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Some(SqlValue::Null) | None => None,
    };
    let integer = |i: usize| match row.get(i) {
        Some(SqlValue::Integer(n)) => Some(*n),
        _ => None,
    };
    let id_text = text(0).unwrap_or_default();
    let trace_id = text(1).unwrap_or_default();
    let parent = text(2);
    let id = fold_span_id(&id_text);
    let tid = fold_trace_id(&trace_id);
    if id_text.parse::<SpanId>().is_err() {
        folded.observations.insert((tid, id), id_text);
    }
    if trace_id.parse::<TraceId>().is_err() && !folded.traces.contains_key(&tid) {
        folded.traces.insert(tid, trace_id.clone());
    }
    let kind = text(3).unwrap_or_default();
    let level = text(5).unwrap_or_default();
    let name = text(4).unwrap_or_default();
    let start = integer(7).unwrap_or_default();
    let end = integer(8).unwrap_or_default();
    let completion = text(9);
    let usage = text(12);
    let cost = text(13);
    let cost = cost.and_then(|c| serde_json::from_str::<Cost>(&c).ok());
    let computed = integer(29).is_some_and(|n| n != 0);
    let (cost, computed_cost) = if computed { (None, cost) } else { (cost, None) };
    let details = ObservationDetails {
        status_message: text(6),
        completion_start_time: completion.as_deref().and_then(Timestamp::parse_rfc3339),
        model: text(10),
        model_parameters: json(text(11)),
        usage: usage.and_then(|u| serde_json::from_str::<Usage>(&u).ok()),
        cost,
        computed_cost,
        input: json(text(14)),
        output: json(text(15)),
        metadata: metadata(text(16).as_deref()),
        prompt_name: text(17),
        prompt_version: integer(18),
        version: text(19),
        gen_ai: None,
    };
    let trace = match traces.get(&trace_id) {
        Some(t) => t.clone(),
        None => {
            let attributes = Arc::new(TraceAttributes {
                name: text(20),
                session_id: text(21),
                user_id: text(22),
                tags: text(23)
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default(),
                metadata: metadata(text(24).as_deref()),
                version: text(25),
                release: text(26),
                environment: text(27),
                public: integer(28).map(|n| n != 0),
                input: json(text(30)),
                output: json(text(31)),
            });
            traces.insert(trace_id, attributes.clone());
            attributes
        }
    };
    let has_details = details != ObservationDetails::default();
    Some(Observation {
        trace_id: tid,
        id,
        parent_id: parent.as_deref().map(fold_span_id),
        name: Cow::Owned(name),
        kind: kind.parse().unwrap_or(ObservationType::Span),
        level: level.parse().unwrap_or(Level::Default),
        start: Timestamp(start.max(0) as u64),
        end: Timestamp(end.max(0) as u64),
        details: has_details.then(|| Box::new(details)),
        trace,
    })
}

/// Text from the file as JSON; text that is not JSON is kept as a JSON string.
fn json(text: Option<String>) -> Option<Json> {
    text.map(|t| Json::parse_checked(&t).unwrap_or_else(|_| Json::string(&t)))
}

/// Metadata JSON text from the file as its keys; text that is not an object is none.
pub(crate) fn metadata(text: Option<&str>) -> Metadata {
    let Some(Ok(serde_json::Value::Object(map))) = text.map(serde_json::from_str) else {
        return Metadata::new();
    };
    map.into_iter()
        .map(|(k, v)| (k, Json::from_value(&v)))
        .collect()
}
