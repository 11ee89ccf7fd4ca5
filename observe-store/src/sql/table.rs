//! A query's result held whole, and SQLite values as JSON.

use rusqlite::types::Value as SqlValue;

/// The result of a query: column names and rows of SQLite values.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Column names, as the query named them.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<SqlValue>>,
}

impl Table {
    /// The rows as JSON objects keyed by column name.
    ///
    /// ```
    /// use observe_store::sql::Table;
    /// use observe_store::sql::Value;
    /// let t = Table { columns: vec!["n".into()], rows: vec![vec![Value::Integer(3)]] };
    /// assert_eq!(t.to_json().to_string(), r#"[{"n":3}]"#);
    /// ```
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    serde_json::Value::Object(
                        self.columns
                            .iter()
                            .cloned()
                            .zip(row.iter().map(value_to_json))
                            .collect(),
                    )
                })
                .collect(),
        )
    }

    /// The index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// A SQLite value as JSON: numbers, text (JSON text stays text), null; blobs as hex.
pub fn value_to_json(v: &SqlValue) -> serde_json::Value {
    match v {
        SqlValue::Null => serde_json::Value::Null,
        SqlValue::Integer(i) => (*i).into(),
        SqlValue::Real(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        SqlValue::Text(t) => serde_json::Value::String(t.clone()),
        SqlValue::Blob(b) => {
            serde_json::Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
        }
    }
}
