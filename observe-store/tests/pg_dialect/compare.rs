//! One query on both backends, and what differs between their results: the column names,
//! the number of rows, and each cell's printed form (as `observe query` prints a cell).

use observe_store::postgres::printed_value;
use observe_store::sql::{self, Table, Value};
use observe_store::Store;

/// Whether the query fixes the order of its rows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Order {
    /// `ORDER BY` over a unique key: rows compare one by one.
    Fixed,
    /// Ties or no `ORDER BY`: rows compare as sorted sets.
    Any,
}

/// The rows PostgreSQL returns for `sql`, each value in the printed form.
pub fn on_postgres(client: &mut postgres::Client, sql: &str) -> Result<Table, String> {
    let statement = client.prepare(sql).map_err(|e| e.to_string())?;
    let types: Vec<_> = statement
        .columns()
        .iter()
        .map(|c| c.type_().clone())
        .collect();
    let columns = statement
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let mut rows = Vec::new();
    for message in client.simple_query(sql).map_err(|e| e.to_string())? {
        if let postgres::SimpleQueryMessage::Row(row) = message {
            rows.push(
                types
                    .iter()
                    .enumerate()
                    .map(|(i, ty)| printed_value(ty, row.get(i)))
                    .collect(),
            );
        }
    }
    Ok(Table { columns, rows })
}

/// The rows the SQLite store's translation returns for `sql`.
pub fn on_sqlite(store: &Store, sql: &str) -> Result<Table, String> {
    sql::query(store, sql).map_err(|e| e.to_string())
}

/// A cell as `observe query` prints it in a table.
pub fn printed(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Integer(i) => i.to_string(),
        Value::Real(x) => x.to_string(),
        Value::Text(t) => t.clone(),
        Value::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Integer(i) => Some(*i as f64),
        Value::Real(x) => Some(*x),
        _ => None,
    }
}

/// Whether two cells are the same result: the same printed text of the same kind (a
/// number on one side is a number on the other, as JSON output shows them); numbers may
/// differ in their last digits (SQLite computes in double precision where PostgreSQL
/// computes `numeric` exactly).
fn same_cell(sqlite: &Value, postgres: &Value) -> bool {
    match (number(sqlite), number(postgres)) {
        (Some(a), Some(b)) => a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        (None, None) => printed(sqlite) == printed(postgres),
        _ => false,
    }
}

/// What differs between the two results, or `None` when they agree.
pub fn difference(sqlite: &Table, postgres: &Table, order: Order) -> Option<String> {
    if sqlite.columns != postgres.columns {
        return Some(format!(
            "columns: sqlite {:?}, postgres {:?}",
            sqlite.columns, postgres.columns
        ));
    }
    if sqlite.rows.len() != postgres.rows.len() {
        return Some(format!(
            "{} rows on sqlite, {} on postgres\n  sqlite first: {:?}\n  postgres first: {:?}",
            sqlite.rows.len(),
            postgres.rows.len(),
            sqlite.rows.first(),
            postgres.rows.first()
        ));
    }
    let sorted = |t: &Table| {
        let mut rows = t.rows.clone();
        if order == Order::Any {
            rows.sort_by_key(|r| r.iter().map(printed).collect::<Vec<_>>());
        }
        rows
    };
    let (a, b) = (sorted(sqlite), sorted(postgres));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x.len() != y.len() || !x.iter().zip(y).all(|(p, q)| same_cell(p, q)) {
            return Some(format!("row {i}:\n  sqlite:   {x:?}\n  postgres: {y:?}"));
        }
    }
    None
}
