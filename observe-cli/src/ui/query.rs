//! The Query page's SQL: `observe query`'s PostgreSQL translation, read-only guard and
//! streaming on a store file ([`sql::stream`]), or the SQL as written in a read-only
//! transaction on a PostgreSQL store ([`Reader::query`]), with its row, byte and time
//! limits, so that one query can neither hold a worker nor fill the memory.

use std::time::Duration;

use observe_store::sql::{RowSink, SqlError, Value};
use observe_store::Reader;

/// How much one query may return and how long it may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryLimits {
    /// Rows returned at most; the query stops at the next one.
    pub rows: usize,
    /// Bytes of JSON the rows may take at most; the query stops at the row that would go
    /// past them.
    pub bytes: usize,
    /// Time after which the store stops the query.
    pub time: Duration,
}

/// The largest text or blob value a query of the view may make or read (SQLite's
/// `SQLITE_LIMIT_LENGTH` on the query workers' connections): a value larger than
/// [`QueryLimits::bytes`] could not be sent anyway, and refusing it as SQLite makes it
/// keeps a `printf('%.100000000c', 'x')` from taking the memory.
pub const MAX_VALUE_BYTES: usize = 16 << 20;

impl Default for QueryLimits {
    /// `observe query`'s defaults, 1,000 rows and 60 s, and 8 MiB of rows.
    fn default() -> Self {
        QueryLimits {
            rows: 1000,
            bytes: 8 << 20,
            time: Duration::from_secs(60),
        }
    }
}

/// Which limit stopped a query before its last row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// [`QueryLimits::rows`].
    Rows,
    /// [`QueryLimits::bytes`].
    Bytes,
}

impl Cut {
    /// `rows` or `bytes`, as the endpoint's `truncated_by` says.
    pub fn as_str(self) -> &'static str {
        match self {
            Cut::Rows => "rows",
            Cut::Bytes => "bytes",
        }
    }
}

/// What a query returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// At most [`QueryLimits::rows`] rows.
    pub rows: Vec<Vec<Value>>,
    /// Whether the query had more rows than the limits let through.
    pub truncated: bool,
    /// The limit that stopped it, when [`QueryResult::truncated`].
    pub cut: Option<Cut>,
    /// The SQLite SQL that ran on a store file; `None` on PostgreSQL, which ran the
    /// query as written.
    pub translated: Option<String>,
}

/// Keeps rows up to the limits, then stops the query.
struct Limited {
    result: QueryResult,
    limits: QueryLimits,
    bytes: usize,
}

impl RowSink for Limited {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.result.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<Value>) -> std::io::Result<bool> {
        let cut = if self.result.rows.len() == self.limits.rows {
            Some(Cut::Rows)
        } else {
            let size = row.iter().map(|v| json_len(v) + 1).sum::<usize>() + 2;
            self.bytes = self.bytes.saturating_add(size);
            (self.bytes > self.limits.bytes).then_some(Cut::Bytes)
        };
        if cut.is_some() {
            self.result.truncated = true;
            self.result.cut = cut;
            return Ok(false);
        }
        self.result.rows.push(row);
        Ok(true)
    }
}

/// At least as many bytes as `value` takes in JSON (a string's escapes counted at their
/// longest), without encoding it.
fn json_len(value: &Value) -> usize {
    match value {
        Value::Null => 4,
        Value::Integer(_) | Value::Real(_) => 24,
        Value::Text(t) => {
            2 + t.len()
                + 5 * t
                    .bytes()
                    .filter(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
                    .count()
        }
        Value::Blob(b) => 2 + 2 * b.len(),
    }
}

/// Runs `text` (PostgreSQL's dialect) on `store` within `limits`: translated on a store
/// file, as written on PostgreSQL.
///
/// ```
/// use observe_cli::ui::QueryLimits;
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("traces.db");
/// # drop(observe_store::StoreExporter::open(&path).unwrap());
/// let mut store = observe_store::Reader::open(path.as_os_str()).unwrap();
/// let limits = QueryLimits { rows: 2, ..QueryLimits::default() };
/// let r = observe_cli::ui::run_query(
///     &mut store,
///     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
///     limits,
/// )
/// .unwrap();
/// assert_eq!(r.rows.len(), 2);
/// assert!(r.truncated);
/// assert_eq!(r.cut, Some(observe_cli::ui::Cut::Rows));
/// // Rows of a megabyte each stop at the byte limit.
/// let wide = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
///             SELECT printf('%.1000000c', 'x') FROM n";
/// let limits = QueryLimits { bytes: 3_500_000, ..QueryLimits::default() };
/// let r = observe_cli::ui::run_query(&mut store, wide, limits).unwrap();
/// assert_eq!((r.rows.len(), r.cut), (3, Some(observe_cli::ui::Cut::Bytes)));
/// assert!(observe_cli::ui::run_query(&mut store, "DELETE FROM traces", limits).is_err());
/// ```
pub fn run(store: &mut Reader, text: &str, limits: QueryLimits) -> Result<QueryResult, SqlError> {
    let mut sink = Limited {
        result: QueryResult::default(),
        limits,
        bytes: 0,
    };
    sink.result.translated = store.query(text, Some(limits.time), &mut sink)?;
    Ok(sink.result)
}
