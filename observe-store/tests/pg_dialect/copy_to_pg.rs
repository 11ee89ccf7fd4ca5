//! The same rows in PostgreSQL: each row of the SQLite store's tables copied with plain SQL
//! into the PostgreSQL schema, each value converted by the column's PostgreSQL type (the
//! store's timestamp text to `timestamptz`, JSON text to `jsonb`, the tags' JSON array to
//! `text[]`, 0/1 to `boolean`), so both backends answer from identical data.

use std::path::Path;

use observe_store::postgres as pg;

/// The tables the queries read.
const TABLES: [&str; 3] = ["traces", "observations", "scores"];

/// Migrates the PostgreSQL database and copies every row of the store at `sqlite` into it;
/// returns how many rows each table received.
pub fn copy_store(sqlite: &Path, client: &mut postgres::Client) -> Vec<(&'static str, usize)> {
    pg::migrate(client).expect("migrate the PostgreSQL schema");
    let source =
        rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the SQLite store");
    let mut copied = Vec::new();
    for table in TABLES {
        // The columns both have: a column one backend gained first is the schema parity
        // test's concern (postgres_schema), not the dialect's.
        let in_sqlite = sqlite_columns(&source, table);
        let columns: Vec<(String, String)> = pg_columns(client, table)
            .into_iter()
            .filter(|(name, _)| in_sqlite.contains(name))
            .collect();
        let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let values: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, ty))| converted(i + 1, ty))
            .collect();
        let insert = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            values.join(", ")
        );
        let mut tx = client.transaction().expect("begin");
        let statement = tx.prepare(&insert).expect("prepare the insert");
        let select = format!("SELECT {} FROM {table}", names.join(", "));
        let mut read = source.prepare(&select).expect("read the SQLite table");
        let mut rows = read.query([]).expect("read the SQLite rows");
        let mut n = 0;
        while let Some(row) = rows.next().expect("a SQLite row") {
            let texts: Vec<Option<String>> = (0..columns.len())
                .map(|i| as_text(row.get_ref(i).expect("a SQLite value")))
                .collect();
            let params: Vec<&(dyn postgres::types::ToSql + Sync)> = texts
                .iter()
                .map(|t| t as &(dyn postgres::types::ToSql + Sync))
                .collect();
            tx.execute(&statement, &params)
                .unwrap_or_else(|e| panic!("copy a row of {table}: {e}\n{texts:?}"));
            n += 1;
        }
        tx.commit().expect("commit the copy");
        copied.push((table, n));
    }
    copied
}

/// The columns of `table` in PostgreSQL, with their type as information_schema names it.
fn pg_columns(client: &mut postgres::Client, table: &str) -> Vec<(String, String)> {
    client
        .query(
            "SELECT column_name::text, udt_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
            &[&table],
        )
        .expect("list the PostgreSQL columns")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The columns of `table` in the SQLite store.
fn sqlite_columns(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .expect("list the SQLite columns");
    let names = stmt
        .query_map([table], |row| row.get(0))
        .expect("list the SQLite columns");
    names.map(|n| n.expect("a column name")).collect()
}

/// Parameter `$n` (text, as SQLite holds it) converted to the column's type.
fn converted(n: usize, udt: &str) -> String {
    match udt {
        // The tags: a JSON array of strings in SQLite.
        "_text" => format!(
            "CASE WHEN ${n}::text IS NULL THEN NULL \
             ELSE ARRAY(SELECT jsonb_array_elements_text(${n}::text::jsonb)) END"
        ),
        // 0/1 in SQLite; PostgreSQL reads '0' and '1' as booleans.
        other => format!("${n}::text::{other}"),
    }
}

/// A SQLite value as text, NULL as `None`.
fn as_text(value: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(x) => Some(format!("{x:?}")),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}
