//! What the rewrite knows of an expression's type: timestamps (the store's columns, casts,
//! `NOW()` and what is computed from them), dates, intervals, booleans, JSON, arrays, or
//! anything else. The types decide both how an operation is rewritten and how a result
//! column prints.

use std::collections::HashMap;

use sqlparser::ast::{BinaryOperator, DataType, Expr, UnaryOperator, Value};

use super::syntax::{call, function_name, plain_args, string_literal};
use crate::sql::pg_text;

/// Names that hold a value of a known type: the store's columns, and the aliases the
/// query gives to typed expressions.
pub(super) type Names = HashMap<String, Ty>;

/// Columns of the store that hold timestamps.
const TIMESTAMP_COLUMNS: &[&str] = &[
    "timestamp",
    "start_time",
    "end_time",
    "completion_start_time",
    "updated_at",
    "created_at",
    "pushed_at",
    "hour_start",
];

/// Columns that are `boolean` in PostgreSQL (0/1 in SQLite).
const BOOLEAN_COLUMNS: &[&str] = &["has_root", "public", "cost_computed"];

/// Columns that are `jsonb` in PostgreSQL (JSON text in SQLite).
const JSON_COLUMNS: &[&str] = &[
    "metadata",
    "model_parameters",
    "usage_details",
    "cost_details",
];

/// The store's typed columns.
pub(super) fn store_columns() -> Names {
    let typed =
        |names: &'static [&'static str], ty: Ty| names.iter().map(move |n| ((*n).to_owned(), ty));
    typed(TIMESTAMP_COLUMNS, Ty::Timestamp)
        .chain(typed(BOOLEAN_COLUMNS, Ty::Bool))
        .chain(typed(JSON_COLUMNS, Ty::Json))
        .chain(typed(&["tags"], Ty::Array))
        .collect()
}

/// What the rewriter knows of an expression's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Timestamp,
    Date,
    Interval,
    Bool,
    Json,
    Array,
    Other,
}

/// The type of an expression, original or already rewritten.
pub(super) fn ty(e: &Expr, names: &Names) -> Ty {
    let named = |i: &sqlparser::ast::Ident| {
        names
            .get(&i.value.to_ascii_lowercase())
            .copied()
            .unwrap_or(Ty::Other)
    };
    match e {
        Expr::Identifier(i) => named(i),
        Expr::CompoundIdentifier(parts) => parts.last().map_or(Ty::Other, named),
        Expr::Nested(inner) => ty(inner, names),
        Expr::Interval(_) => Ty::Interval,
        Expr::Value(v) if matches!(v.value, Value::Boolean(_)) => Ty::Bool,
        Expr::Cast { data_type, .. } => type_of(data_type),
        Expr::TypedString(t) => type_of(&t.data_type),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::In { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::Exists { .. }
        | Expr::AnyOp { .. }
        | Expr::AllOp { .. } => Ty::Bool,
        Expr::Case {
            conditions,
            else_result,
            ..
        } => conditions
            .iter()
            .map(|c| ty(&c.result, names))
            .chain(else_result.iter().map(|e| ty(e, names)))
            .find(|t| *t != Ty::Other)
            .unwrap_or(Ty::Other),
        Expr::BinaryOp { left, op, right } => binary_type(op, ty(left, names), ty(right, names)),
        Expr::Function(f) => {
            let name = function_name(f);
            let args = plain_args(f).unwrap_or_default();
            match (name.as_str(), args.as_slice()) {
                ("strftime", [first, ..])
                    if string_literal(first)
                        .is_some_and(|f| f.starts_with("%Y-") && f.ends_with('Z')) =>
                {
                    Ty::Timestamp
                }
                (
                    "now"
                    | "current_timestamp"
                    | "localtimestamp"
                    | "transaction_timestamp"
                    | "statement_timestamp"
                    | "clock_timestamp",
                    [],
                ) => Ty::Timestamp,
                ("to_timestamp", [_]) => Ty::Timestamp,
                ("current_date" | "date", _) => Ty::Date,
                ("date_trunc", [_, x]) if ty(x, names) == Ty::Timestamp => Ty::Timestamp,
                (
                    "min" | "max" | "coalesce" | "greatest" | "least" | "observe_greatest"
                    | "observe_least" | "nullif" | "lag" | "lead" | "first_value" | "last_value"
                    | "nth_value" | "any_value",
                    [x, ..],
                ) => ty(x, names),
                ("avg" | "sum", [x]) if ty(x, names) == Ty::Interval => Ty::Interval,
                (
                    "bool_or" | "bool_and" | "every" | "observe_array_contains" | "observe_like",
                    _,
                ) => Ty::Bool,
                ("array_agg", _) => Ty::Array,
                (
                    "to_json" | "to_jsonb" | "json_agg" | "jsonb_agg" | "json_build_object"
                    | "jsonb_build_object" | "json_build_array" | "jsonb_build_array"
                    | "json_object_agg" | "jsonb_object_agg",
                    _,
                ) => Ty::Json,
                (n, _) if n == pg_text::SECONDS_BETWEEN => Ty::Interval,
                _ => Ty::Other,
            }
        }
        _ => Ty::Other,
    }
}

/// The type of `left op right`.
fn binary_type(op: &BinaryOperator, l: Ty, r: Ty) -> Ty {
    use BinaryOperator as B;
    match (op, l, r) {
        (B::Plus | B::Minus, Ty::Timestamp | Ty::Date, Ty::Interval)
        | (B::Plus, Ty::Interval, Ty::Timestamp | Ty::Date) => Ty::Timestamp,
        (B::Minus, Ty::Timestamp, Ty::Timestamp | Ty::Date)
        | (B::Minus, Ty::Date, Ty::Timestamp) => Ty::Interval,
        (B::Plus | B::Minus, Ty::Date, Ty::Other) | (B::Plus, Ty::Other, Ty::Date) => Ty::Date,
        (B::Plus | B::Minus, Ty::Interval, Ty::Interval)
        | (B::Multiply, Ty::Interval, _)
        | (B::Multiply, _, Ty::Interval)
        | (B::Divide, Ty::Interval, _) => Ty::Interval,
        (
            B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq | B::And | B::Or | B::Question,
            _,
            _,
        ) => Ty::Bool,
        (B::Arrow | B::HashArrow, _, _) => Ty::Json,
        _ => Ty::Other,
    }
}

/// The type a cast to `t` gives.
fn type_of(t: &DataType) -> Ty {
    let text = t.to_string().to_ascii_uppercase();
    let base = text.split(['(', ' ']).next().unwrap_or_default();
    match base {
        _ if is_timestamp_type(t) => Ty::Timestamp,
        "DATE" => Ty::Date,
        "INTERVAL" => Ty::Interval,
        "BOOL" | "BOOLEAN" => Ty::Bool,
        "JSON" | "JSONB" => Ty::Json,
        _ => Ty::Other,
    }
}

fn is_timestamp_type(t: &DataType) -> bool {
    let text = t.to_string().to_ascii_uppercase();
    text.starts_with("TIMESTAMP") || text == "DATETIME"
}

/// The seconds from `b` to `a`, to the microsecond.
pub(super) fn seconds_between(a: Expr, b: Expr) -> Expr {
    call(pg_text::SECONDS_BETWEEN, vec![a, b])
}
