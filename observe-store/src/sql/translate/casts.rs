//! `x::type` and `CAST(x AS type)`: PostgreSQL's type names onto SQLite's few storage
//! classes, casts to timestamps and intervals onto what the rewrite reads as such, and
//! casts to text onto the text PostgreSQL prints for the value's type.

use sqlparser::ast::{DataType, Expr, Interval};

use super::syntax::{call, number, sql_cast, string, string_literal, ts};
use super::types::Ty;
use crate::sql::error::SqlError;
use crate::sql::pg_text;

/// `x::type` and `CAST(x AS type)`, where `x` is of type `from`.
pub(super) fn cast(x: &Expr, data_type: &DataType, from: Ty) -> Result<Expr, SqlError> {
    let name = data_type.to_string().to_ascii_uppercase();
    let base = name.split(['(', ' ']).next().unwrap_or_default();
    Ok(match base {
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "REAL" | "NUMERIC" | "DECIMAL" => {
            sql_cast(x.clone(), "REAL")
        }
        // PostgreSQL rounds a fraction to the nearest integer; SQLite's CAST truncates.
        "INT" | "INT2" | "INT4" | "INT8" | "INTEGER" | "BIGINT" | "SMALLINT" => match from {
            Ty::Bool => sql_cast(x.clone(), "INTEGER"),
            _ => sql_cast(call("round", vec![x.clone()]), "INTEGER"),
        },
        "BOOL" | "BOOLEAN" => match string_literal(x).map(|s| s.to_ascii_lowercase()) {
            Some(s) => number(if matches!(s.as_str(), "t" | "true" | "yes" | "on" | "1") {
                1.0
            } else {
                0.0
            }),
            None => call(pg_text::TO_BOOLEAN, vec![x.clone()]),
        },
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" | "UUID" => match from {
            Ty::Timestamp => call(pg_text::TIMESTAMPTZ, vec![x.clone()]),
            Ty::Bool => call(pg_text::BOOLEAN, vec![x.clone()]),
            Ty::Interval => call(pg_text::INTERVAL, vec![x.clone()]),
            Ty::Json => call(pg_text::JSONB, vec![x.clone()]),
            Ty::Array => call(pg_text::ARRAY, vec![x.clone()]),
            Ty::Date | Ty::Other => sql_cast(x.clone(), "TEXT"),
        },
        "JSON" | "JSONB" => call("json", vec![x.clone()]),
        "DATE" => call("date", vec![x.clone()]),
        "TIMESTAMP" | "TIMESTAMPTZ" | "DATETIME" => ts(x.clone(), vec![]),
        "INTERVAL" => match string_literal(x) {
            Some(text) => Expr::Interval(Interval {
                value: Box::new(string(&text)),
                leading_field: None,
                leading_precision: None,
                last_field: None,
                fractional_seconds_precision: None,
            }),
            None => {
                return Err(SqlError::Unsupported(
                    "a cast to interval of something other than a literal".into(),
                ))
            }
        },
        _ => return Err(SqlError::Unsupported(format!("a cast to {name}"))),
    })
}
