//! `observe trace` on PostgreSQL: the traces an id prefix names, a trace's scores, as
//! [`Store::trace_ids_with_prefix`](crate::Store::trace_ids_with_prefix) and
//! [`Store::trace_scores`](crate::Store::trace_scores) give them.

use rusqlite::types::Value as SqlValue;

use postgres::types::{ToSql, Type};

use crate::postgres::reader::values;
use crate::postgres::{PgReadError, PgStore};
use crate::queries::lookups::first_texts;
use crate::sql::{SqlError, Table};

impl PgStore {
    /// The ids of at most `limit` traces whose id starts with `prefix` (lowercase hex), in
    /// id order.
    pub fn trace_ids_with_prefix(
        &mut self,
        prefix: &str,
        limit: u32,
    ) -> Result<Vec<String>, SqlError> {
        // Hex digits sort before `g` in every collation, so this range is the prefix and
        // the primary key finds it.
        let table = self.held(
            "SELECT id FROM traces WHERE id >= $1 AND id < $1 || 'g' ORDER BY id LIMIT $2",
            &[(&prefix, Type::TEXT), (&i64::from(limit), Type::INT8)],
        )?;
        Ok(first_texts(table))
    }

    /// The scores of the trace `trace_id`, by time: the columns of
    /// [`Store::trace_scores`](crate::Store::trace_scores), a number written as SQLite
    /// writes it as text.
    pub fn trace_scores(&mut self, trace_id: &str) -> Result<Table, SqlError> {
        let mut table = self.held(
            "SELECT name, string_value AS value, data_type, observation_id, comment, value
             FROM scores WHERE trace_id = $1 ORDER BY \"timestamp\"",
            &[(&trace_id, Type::TEXT)],
        )?;
        table.columns.truncate(5);
        for row in &mut table.rows {
            let number = row.pop();
            if row[1] == SqlValue::Null {
                if let Some(SqlValue::Real(x)) = number {
                    row[1] = SqlValue::Text(sqlite_real_text(x));
                }
            }
        }
        Ok(table)
    }

    /// Every row of `sql`, held: for lookups of a few rows. The parameters' types are
    /// given, so it is one round trip (no statement prepared first); a lookup that finds
    /// nothing has no columns either.
    fn held(
        &mut self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Table, SqlError> {
        let rows = self
            .client()
            .query_typed(sql, params)
            .map_err(|e| SqlError::from(PgReadError::statement(&e)))?;
        let columns = rows.first().map_or_else(Vec::new, |row| {
            row.columns().iter().map(|c| c.name().to_owned()).collect()
        });
        let rows = rows
            .iter()
            .map(|row| values(row, row.len()))
            .collect::<Result<_, _>>()?;
        Ok(Table { columns, rows })
    }
}

/// `x` as SQLite's `CAST(x AS TEXT)` writes a real: the shortest text that reads back
/// as `x`, with at least one decimal, in scientific form outside 1e-4..1e17 (`1.0`,
/// `0.30000000000000004`, `1.0e+20`).
fn sqlite_real_text(x: f64) -> String {
    if !x.is_finite() {
        return match x {
            x if x.is_nan() => String::new(),
            x if x > 0.0 => "Inf".into(),
            _ => "-Inf".into(),
        };
    }
    let exponent = if x == 0.0 {
        0
    } else {
        x.abs().log10().floor() as i32
    };
    if (-4..17).contains(&exponent) {
        let text = format!("{x}");
        return if text.contains('.') {
            text
        } else {
            text + ".0"
        };
    }
    let scientific = format!("{x:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reals_print_as_sqlite_casts_them() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for x in [
            1.0,
            0.9,
            0.1 + 0.2,
            -2.5,
            123_456.789,
            1e20,
            1.5e-7,
            0.0001,
            1e14,
            1e15,
            2.5e-5,
            1.234e-6,
            9.99e14,
            1e16,
            1e17,
        ] {
            let sqlite: String = conn
                .query_row("SELECT CAST(?1 AS TEXT)", [x], |r| r.get(0))
                .unwrap();
            assert_eq!(sqlite_real_text(x), sqlite, "{x}");
        }
    }
}
