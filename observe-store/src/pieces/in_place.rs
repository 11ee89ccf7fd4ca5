//! The statements that write a request's new rows (observations of traces it makes, and
//! those traces), binding text in place ([`raw::Statement`]) rather than through rusqlite,
//! which copies every string it binds. They are the bulk of what `observe serve` writes:
//! a row binds a dozen strings, and those copies, with the allocations behind them, cost
//! the writer thread about a sixth of its time.
//!
//! The statements are prepared on the writer's connection the first time a request needs
//! them and kept for the next ones ([`Prepared`], held by the `StoreExporter`): compiling
//! the 16-row insert, with the indexes and triggers it maintains, took about a tenth of the
//! writer's instructions when it was done for every request.

use rusqlite::Connection;

use super::observation::{Row, CHUNK};
use crate::observation_insert::{insert_observations_sql, OnConflict, OBSERVATION_PARAMS};
use crate::raw;

/// A new trace's row, every column given.
const INSERT_FRESH: &str = "INSERT INTO traces (
    id, name, user_id, session_id, timestamp, end_time, start_ns, end_ns, latency_ms,
    calculated_total_cost, computed_cost, observation_count, metadata, tags, version, release,
    environment, public, input, output, has_root, updated_at, seq, project_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, (?8 - ?7) / 1e6, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
    ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23)";

/// Values bound per row of [`INSERT_FRESH`].
pub(super) const FRESH_TRACE_PARAMS: usize = 23;

/// The new rows' statements, each prepared on the writer's connection when first needed
/// and kept while the store is open.
///
/// Its owner drops it before the connection closes (SQLite refuses to close a connection
/// with live statements): `StoreExporter` declares it before its writer.
#[derive(Default)]
pub(crate) struct Prepared {
    /// The connection they were prepared on, to tell if they were prepared on another.
    db: Option<usize>,
    /// [`CHUNK`] observations of new traces.
    chunk: Option<raw::Statement>,
    /// One observation of a new trace.
    one: Option<raw::Statement>,
    /// A new trace.
    trace: Option<raw::Statement>,
}

/// The new rows' statements of one request, on its connection.
pub(super) struct InPlace<'c> {
    conn: &'c Connection,
    prepared: &'c mut Prepared,
}

impl<'c> InPlace<'c> {
    /// The statements of `prepared` for `conn`, prepared again if they were prepared on
    /// another connection.
    pub(super) fn new(conn: &'c Connection, prepared: &'c mut Prepared) -> Self {
        // SAFETY: the handle is only compared, never used.
        let db = unsafe { conn.handle() } as usize;
        if prepared.db != Some(db) {
            *prepared = Prepared {
                db: Some(db),
                ..Prepared::default()
            };
        }
        InPlace { conn, prepared }
    }

    /// Writes `rows`, none of which can be stored yet (their traces are new), [`CHUNK`] to
    /// a statement that skips a row breaking a constraint rather than keeping a statement
    /// journal for undoing the statement half-way. A row left out fails the call with a
    /// constraint error (the caller undoes it and writes the pieces one by one, so that
    /// the row's own fault is reported).
    pub(super) fn new_observations(&mut self, rows: &[&Row<'_>]) -> rusqlite::Result<()> {
        let mut chunks = rows.chunks_exact(CHUNK);
        if rows.len() >= CHUNK {
            let stmt = prepared(self.conn, &mut self.prepared.chunk, || {
                insert_observations_sql(CHUNK, OnConflict::IgnoreChecked)
            })?;
            let mut values = [raw::Value::Null; OBSERVATION_PARAMS * CHUNK];
            for chunk in chunks.by_ref() {
                for (row, out) in chunk
                    .iter()
                    .zip(values.chunks_exact_mut(OBSERVATION_PARAMS))
                {
                    row.bind_values(out);
                }
                all_stored(stmt.execute(&values)?, chunk.len())?;
            }
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let stmt = prepared(self.conn, &mut self.prepared.one, || {
                insert_observations_sql(1, OnConflict::IgnoreChecked)
            })?;
            let mut values = [raw::Value::Null; OBSERVATION_PARAMS];
            for row in rest {
                row.bind_values(&mut values);
                all_stored(stmt.execute(&values)?, 1)?;
            }
        }
        Ok(())
    }

    /// Inserts a new trace's row from its values in [`INSERT_FRESH`] order.
    pub(super) fn fresh_trace(
        &mut self,
        values: &[raw::Value<'_>; FRESH_TRACE_PARAMS],
    ) -> rusqlite::Result<()> {
        prepared(self.conn, &mut self.prepared.trace, || {
            INSERT_FRESH.to_owned()
        })?
        .execute(values)
        .map(drop)
    }
}

/// The statement in `slot`, prepared from `sql` on `conn` the first time.
fn prepared<'s>(
    conn: &Connection,
    slot: &'s mut Option<raw::Statement>,
    sql: impl FnOnce() -> String,
) -> rusqlite::Result<&'s mut raw::Statement> {
    if let Some(stmt) = slot {
        return Ok(stmt);
    }
    // SAFETY: `conn` is the store writer's connection, and the statement is kept in the
    // store's `Prepared`, which the store drops before that connection (see `Prepared`).
    let stmt = unsafe { raw::Statement::prepare(conn, &sql())? };
    Ok(slot.insert(stmt))
}

/// A constraint error unless `stored` rows are all the `expected`.
fn all_stored(stored: usize, expected: usize) -> rusqlite::Result<()> {
    if stored == expected {
        return Ok(());
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
        Some(format!(
            "{} of {expected} new observations not stored",
            expected - stored
        )),
    ))
}
