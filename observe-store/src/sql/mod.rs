//! PostgreSQL-dialect SQL over the store: what `observe query`, `observe report` and the
//! web view's Query page run.
//!
//! Langfuse users write their analytics in PostgreSQL. [`translate`](fn@translate)
//! parses such a query with `sqlparser`'s PostgreSQL dialect, rewrites the syntax tree
//! where SQLite differs, and prints it back as SQL that SQLite runs; [`query`] and
//! [`stream`] do that and run it on a [`Store`](crate::Store), whose connection has the
//! functions the translations call. The rewrite is type-directed: it knows which expressions are timestamps
//! (the store's timestamp columns, `NOW()`, casts to `timestamp`, `MIN`/`MAX` of those,
//! aliases of those), dates, intervals, booleans, JSON and arrays, and the outermost query's
//! columns print as PostgreSQL prints those types, under PostgreSQL's names for them.
//!
//! | PostgreSQL | SQLite |
//! | --- | --- |
//! | `NOW()`, `CURRENT_TIMESTAMP` | `strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')` (the store's timestamp text) |
//! | `CURRENT_DATE`, `CURRENT_DATE - 3`, `d1 - d2` | `date('now')`, `date(d, '-3 days')`, whole days |
//! | `ts - INTERVAL '30 days'`, `ts + n * INTERVAL '1 millisecond'` | `strftime(..., ts, '-30 days')`, `strftime(..., ts, printf('%+.6f seconds', ...))` |
//! | `ts1 - ts2` | seconds, to the microsecond: `observe_seconds_between(ts1, ts2)` |
//! | `EXTRACT(EPOCH FROM x)`, `EXTRACT(HOUR FROM ts)` ... | seconds of an interval, or of a timestamp since 1970; `strftime` fields |
//! | `date_trunc('day', ts)` | `strftime` to the start of the unit |
//! | `x::float`, `x::numeric`, `x::int`, `x::text`, `x::timestamp`, `x::date` | `CAST(x AS REAL)`, `CAST(round(x) AS INTEGER)`, PostgreSQL's text of the type ... |
//! | `metadata->'key'`, `metadata->>'key'` | `->`; `->>` as PostgreSQL's text of the value |
//! | `metadata #>> '{a,b}'`, `metadata ? 'key'` | the same with `'$.a.b'`, `json_type(metadata, '$.key') IS NOT NULL` |
//! | `'x' = ANY(tags)` | `observe_array_contains(tags, 'x')` |
//! | `ILIKE` | `lower(x) LIKE lower(pattern)` |
//! | `greatest`, `least`, `bool_or`, `bool_and`, `string_agg`, `array_agg`, `jsonb_*` | `max`, `min`, `max`, `min`, `group_concat`, `json_group_array`, `json_*` |
//! | `percentile_cont(0.95) WITHIN GROUP (ORDER BY x)` | `observe_percentile_cont(x, 0.95)` |
//! | `ORDER BY x`, `ORDER BY x DESC` | `... NULLS LAST`, `... NULLS FIRST` (PostgreSQL's default) |
//!
//! An interval that is not added to a timestamp becomes its length in seconds, and prints
//! as an interval when it is a result column.
//!
//! ```
//! let sqlite = observe_store::sql::translate(
//!     "SELECT user_id, AVG(latency_ms)::float FROM traces \
//!      WHERE timestamp > NOW() - INTERVAL '30 days' GROUP BY user_id",
//! ).unwrap();
//! assert_eq!(
//!     sqlite,
//!     "SELECT user_id, CAST(AVG(latency_ms) AS REAL) AS \"avg\" FROM traces \
//!      WHERE timestamp > strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-30 days') \
//!      GROUP BY user_id"
//! );
//! ```

mod error;
pub(crate) mod functions;
mod like;
mod pg_json;
mod pg_text;
mod run;
mod statistics;
mod table;
mod translate;

pub use error::SqlError;
pub(crate) use run::stream_rows;
pub use run::{query, stream, RowSink};
/// A SQLite value, as the rows of a query hold it.
pub use rusqlite::types::Value;
pub use table::{value_to_json, Table};
pub use translate::translate;
pub(crate) use translate::TIMESTAMP_FORMAT;
