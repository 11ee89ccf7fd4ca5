//! Copies a SQLite store file into a migrated PostgreSQL store, row for row (same `seq`,
//! ids, times, JSON), so that the same traces can be read from both and compared. Each
//! table goes through one `COPY ... FROM STDIN (FORMAT csv)`: the store's text forms are
//! what PostgreSQL's input functions read (timestamps, JSON, `0`/`1` for booleans); tags,
//! a JSON array in SQLite, become an array literal.

use std::io::Write as _;
use std::path::Path;

use rusqlite::types::Value;

/// The tables readers read, in the order their rows may reference each other.
const TABLES: [&str; 3] = ["traces", "observations", "scores"];

/// Migrates `client`'s database and copies every row of the store file `path` into it.
pub fn copy_store(path: &Path, client: &mut postgres::Client) {
    observe_store::postgres::migrate(client).expect("migrate the PostgreSQL store");
    let sqlite = rusqlite::Connection::open(path).expect("open the store file");
    for table in TABLES {
        let columns: Vec<String> = sqlite
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
        let mut writer = client
            .copy_in(&format!(
                "COPY {table} ({}) FROM STDIN (FORMAT csv)",
                quoted.join(", ")
            ))
            .expect("start COPY");
        let mut stmt = sqlite
            .prepare(&format!("SELECT {} FROM {table}", quoted.join(", ")))
            .unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut line = String::new();
        while let Some(row) = rows.next().unwrap() {
            line.clear();
            for (i, column) in columns.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                let value: Value = row.get(i).unwrap();
                line.push_str(&csv_field(table, column, value));
            }
            line.push('\n');
            writer.write_all(line.as_bytes()).unwrap();
        }
        writer.finish().expect("finish COPY");
    }
}

/// One CSV field: empty for NULL, else quoted.
fn csv_field(table: &str, column: &str, value: Value) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::Integer(n) => n.to_string(),
        Value::Real(x) => format!("{x:?}"),
        Value::Text(t) if table == "traces" && column == "tags" => array_literal(&t),
        Value::Text(t) => t,
        Value::Blob(b) => String::from_utf8_lossy(&b).into_owned(),
    };
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A JSON array of strings as a PostgreSQL array literal.
fn array_literal(json: &str) -> String {
    let items: Vec<String> = serde_json::from_str(json).unwrap_or_default();
    let quoted: Vec<String> = items
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
}
