//! What the typed reads share: statements prepared through one place (the tests check
//! their plans), rows as JSON objects, and `WHERE` conditions with numbered parameters.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, CachedStatement, Row};
use serde_json::Value;

use crate::read::Store;
use crate::sql::value_to_json;
use crate::StoreError;

/// Tokens, errors and warnings of the observations grouped (columns of a `SELECT`).
///
/// `errors` and `warnings` count traces (a trace with an observation at that level counts
/// once, 0 or 1 for one trace): one failed request marks every observation it passed
/// through and often a framework event too, and counting those would make one failure
/// look like three. `failed_observations` counts the observations at level `ERROR`.
pub(crate) const OBSERVATION_TOTALS: &str =
    "TOTAL(json_extract(o.usage_details, '$.total')) AS tokens,
    COUNT(DISTINCT CASE WHEN o.level = 'ERROR' THEN o.trace_seq END) AS errors,
    COUNT(DISTINCT CASE WHEN o.level = 'WARNING' THEN o.trace_seq END) AS warnings,
    SUM(o.level = 'ERROR') AS failed_observations";

/// A score's columns.
pub(crate) const SCORE_COLUMNS: &str =
    "name, data_type, value, string_value, comment, observation_id, trace_id";

/// Columns that hold JSON text, sent as the JSON they hold.
const JSON_COLUMNS: &[&str] = &[
    "metadata",
    "tags",
    "input",
    "output",
    "users",
    "model_parameters",
    "usage",
    "cost_details",
];

#[cfg(test)]
thread_local! {
    /// The SQL the typed reads prepared on this thread.
    pub(crate) static RAN: std::cell::RefCell<Vec<String>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

impl Store {
    /// Every statement of the typed reads goes through here (the tests check their plans).
    pub(crate) fn prepare(&self, sql: &str) -> Result<CachedStatement<'_>, StoreError> {
        #[cfg(test)]
        RAN.with(|ran| ran.borrow_mut().push(sql.to_owned()));
        self.connection()
            .prepare_cached(sql)
            .map_err(|e| self.sqlite(e))
    }

    /// Runs `sql` with `args`; each row becomes a JSON object keyed by column name (see
    /// [`object`]).
    pub(crate) fn objects(&self, sql: &str, args: &[SqlValue]) -> Result<Vec<Value>, StoreError> {
        let mut stmt = self.prepare(sql)?;
        let mut cursor = stmt
            .query(params_from_iter(args))
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        while let Some(row) = cursor.next().map_err(|e| self.sqlite(e))? {
            out.push(object(row).map_err(|e| self.sqlite(e))?);
        }
        Ok(out)
    }

    /// SQLite's error, with this store's path.
    pub(crate) fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path().to_owned(),
            source,
        }
    }
}

/// A row as a JSON object keyed by its column names; [`JSON_COLUMNS`] are parsed (text
/// that is not JSON stays a string).
pub(crate) fn object(row: &Row<'_>) -> rusqlite::Result<Value> {
    let stmt: &rusqlite::Statement<'_> = row.as_ref();
    let mut named = Vec::with_capacity(stmt.column_count());
    for i in 0..stmt.column_count() {
        named.push((
            stmt.column_name(i)?,
            crate::text::lossy_value(row.get_ref(i)?),
        ));
    }
    Ok(json_object(named))
}

/// Named values (a row of either store, as the SQLite store holds its values) as a JSON
/// object; [`JSON_COLUMNS`] are parsed (text that is not JSON stays a string).
pub(crate) fn json_object<'a>(named: impl IntoIterator<Item = (&'a str, SqlValue)>) -> Value {
    let mut map = serde_json::Map::new();
    for (name, value) in named {
        let value = match value {
            SqlValue::Text(t) if JSON_COLUMNS.contains(&name) => {
                serde_json::from_str(&t).unwrap_or(Value::String(t))
            }
            other => value_to_json(&other),
        };
        map.insert(name.to_owned(), value);
    }
    Value::Object(map)
}

/// A JSON number or string back as a SQL value.
pub(crate) fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Number(n) => n.as_i64().map_or_else(
            || SqlValue::Real(n.as_f64().unwrap_or_default()),
            SqlValue::Integer,
        ),
        Value::String(s) => SqlValue::Text(s.clone()),
        _ => SqlValue::Null,
    }
}

/// Adds `from`'s fields to `to`.
pub(crate) fn merge(to: &mut Value, from: Value) {
    if let (Value::Object(to), Value::Object(from)) = (to, from) {
        to.extend(from);
    }
}

/// `WHERE` conditions with numbered parameters.
#[derive(Default)]
pub(crate) struct Filter {
    pub(crate) conditions: Vec<String>,
    pub(crate) args: Vec<SqlValue>,
}

impl Filter {
    /// Adds `condition`, whose `?`s take `values` in order (one value each).
    pub(crate) fn add(&mut self, condition: &str, values: &[&str]) {
        let mut parts = condition.split('?');
        let mut numbered = parts.next().unwrap_or_default().to_owned();
        for (part, value) in parts.zip(values) {
            self.args.push(SqlValue::Text((*value).to_owned()));
            numbered.push_str(&format!("?{}{part}", self.args.len()));
        }
        self.conditions.push(numbered);
    }

    /// The conditions joined with `AND`, after `WHERE`; nothing when there are none.
    pub(crate) fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }

    /// Binds one more value; its placeholder (`?N`).
    pub(crate) fn bind(&mut self, value: SqlValue) -> String {
        self.args.push(value);
        format!("?{}", self.args.len())
    }
}

/// How SQLite plans `sql` with `args` on `store` (one line per step); with no `args`,
/// every parameter is bound to some text.
#[cfg(test)]
pub(crate) fn plan(store: &Store, sql: &str, args: &[SqlValue]) -> Vec<String> {
    let mut stmt = store
        .connection()
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    let some_text = vec![SqlValue::Text("x".into()); stmt.parameter_count()];
    let args = if args.is_empty() { &some_text } else { args };
    stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_number_their_placeholders() {
        let mut f = Filter::default();
        f.add("a = ?", &["x"]);
        f.add("(b = ? OR c = ?)", &["y", "z"]);
        assert_eq!(f.conditions, ["a = ?1", "(b = ?2 OR c = ?3)"]);
        assert_eq!(f.args.len(), 3);
        assert_eq!(f.where_clause(), "WHERE a = ?1 AND (b = ?2 OR c = ?3)");
        assert_eq!(f.bind(SqlValue::Integer(5)), "?4");
        assert_eq!(Filter::default().where_clause(), "");
    }

    #[test]
    fn rows_become_objects_with_json_columns_parsed() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let row = conn
            .query_row(
                "SELECT 1 AS n, 'plain' AS input, '{\"a\":1}' AS output, '{\"a\":1}' AS name",
                [],
                object,
            )
            .unwrap();
        assert_eq!(row["n"], 1);
        assert_eq!(row["input"], "plain");
        assert_eq!(row["output"], serde_json::json!({"a": 1}));
        assert_eq!(row["name"], "{\"a\":1}", "only JSON columns are parsed");
    }
}
