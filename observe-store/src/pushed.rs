//! What `observe push` sent where: the `pushed` table, one row per destination and trace,
//! written once the destination accepted the whole trace.
//!
//! Readers never write, so the one writer of this table is [`PushLedger`], which opens the
//! file as the store's writer does (bringing an older file to the current schema); reading
//! it back is [`Store::pushed_trace_ids`], which takes a file from before the table (nothing
//! was pushed from it).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use crate::read::Store;
use crate::{configure, schema, StoreError};
use observe_model::model::Timestamp;

/// The first schema version with the `pushed` table.
const PUSHED_SINCE_VERSION: i32 = 6;

/// The store file opened to remember what `observe push` sent where: one row of the
/// `pushed` table per destination and trace, written once the destination accepted the
/// whole trace, and read back by [`Store::pushed_trace_ids`].
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("traces.db");
/// # drop(observe_store::StoreExporter::open(&path).unwrap());
/// use observe_store::{PushLedger, Store};
///
/// let id = "0af7651916cd43dd8448eb211c80319c";
/// let mut ledger = PushLedger::open(&path).unwrap();
/// ledger.mark_pushed("langfuse https://cloud.langfuse.com pk-lf-1", &[id]).unwrap();
/// let store = Store::open(&path).unwrap();
/// let pushed = store.pushed_trace_ids("langfuse https://cloud.langfuse.com pk-lf-1").unwrap();
/// assert!(pushed.contains(id));
/// assert!(store.pushed_trace_ids("otlp http://localhost:4318/v1/traces").unwrap().is_empty());
/// ```
#[derive(Debug)]
pub struct PushLedger {
    conn: Connection,
    path: PathBuf,
}

impl PushLedger {
    /// Opens the existing store at `path` for writing (a missing file is
    /// [`StoreError::NotFound`]: pushing never creates a store) and brings it to the
    /// current schema, as [`StoreExporter::open`](crate::StoreExporter::open) does.
    pub fn open(path: impl AsRef<Path>) -> Result<PushLedger, StoreError> {
        let path = path.as_ref().to_owned();
        if !path.is_file() {
            return Err(StoreError::NotFound { path });
        }
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::sqlite(&path, e))?;
        // A file that is not a store is refused before a writer adds tables to it.
        schema::check_readable(&conn, &path).or_else(|e| match e {
            StoreError::OlderSchema { found, .. } => Ok(found),
            e => Err(e),
        })?;
        configure(&conn, &path)?;
        schema::migrate(&mut conn, &path)?;
        Ok(PushLedger { conn, path })
    }

    /// Remembers that `destination` accepted every record of each of `trace_ids`, in one
    /// transaction; a trace marked before keeps its first time.
    pub fn mark_pushed(&mut self, destination: &str, trace_ids: &[&str]) -> Result<(), StoreError> {
        let sqlite = |e| StoreError::sqlite(&self.path, e);
        let now = Timestamp::now().to_rfc3339();
        let tx = self.conn.transaction().map_err(sqlite)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO pushed (destination, trace_id, pushed_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (destination, trace_id) DO NOTHING",
                )
                .map_err(sqlite)?;
            for id in trace_ids {
                insert.execute([destination, id, &now]).map_err(sqlite)?;
            }
        }
        tx.commit().map_err(sqlite)
    }
}

impl Store {
    /// The ids of the traces pushed to `destination` (as [`PushLedger::mark_pushed`] named
    /// it); none from a file older than the `pushed` table.
    pub fn pushed_trace_ids(&self, destination: &str) -> Result<HashSet<String>, StoreError> {
        if self.schema_version() < PUSHED_SINCE_VERSION {
            return Ok(HashSet::new());
        }
        let sqlite = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .connection()
            .prepare("SELECT trace_id FROM pushed WHERE destination = ?1")
            .map_err(sqlite)?;
        let ids = stmt
            .query_map([destination], |row| row.get(0))
            .map_err(sqlite)?;
        ids.collect::<Result<_, _>>().map_err(sqlite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreExporter;

    /// A version 5 file (before the table) reads as nothing pushed, and the ledger migrates
    /// it; the readers keep taking it in between.
    #[test]
    fn a_file_from_before_the_table_is_migrated_by_the_ledger_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        drop(StoreExporter::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(crate::DROP_TRACE_HOURS).unwrap();
        conn.execute_batch(crate::DROP_USER_TOTALS).unwrap();
        conn.execute_batch(
            "DROP TABLE pushed; DROP INDEX traces_project; ALTER TABLE traces DROP COLUMN \
             project_id; ALTER TABLE observations DROP COLUMN project_id; ALTER TABLE scores \
             DROP COLUMN project_id; PRAGMA user_version = 5;",
        )
        .unwrap();
        drop(conn);

        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), 5);
        assert!(store.pushed_trace_ids("d").unwrap().is_empty());
        drop(store);

        let mut ledger = PushLedger::open(&path).unwrap();
        ledger.mark_pushed("d", &["a", "b"]).unwrap();
        ledger.mark_pushed("d", &["b", "c"]).unwrap();
        ledger.mark_pushed("e", &["a"]).unwrap();
        drop(ledger);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version(), crate::SCHEMA_VERSION);
        let mut pushed: Vec<String> = store.pushed_trace_ids("d").unwrap().into_iter().collect();
        pushed.sort();
        assert_eq!(pushed, ["a", "b", "c"]);
        assert_eq!(store.pushed_trace_ids("e").unwrap().len(), 1);
    }

    #[test]
    fn the_ledger_creates_no_store_and_refuses_a_foreign_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.db");
        assert!(matches!(
            PushLedger::open(&missing),
            Err(StoreError::NotFound { .. })
        ));
        assert!(!missing.exists());
        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .unwrap()
            .execute_batch("CREATE TABLE notes (x)")
            .unwrap();
        assert!(matches!(
            PushLedger::open(&foreign),
            Err(StoreError::NotAStore { .. })
        ));
    }
}
