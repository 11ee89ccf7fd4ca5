//! What the rewrite knows of an expression's type: timestamps (the store's columns, casts,
//! `NOW()` and what is computed from them), intervals, or anything else.

use std::collections::HashSet;

use sqlparser::ast::{BinaryOperator, DataType, Expr, Value};

use super::syntax::{call, function_name, number_text, plain_args, string_literal};

/// Columns of the store that hold timestamps.
pub(super) const TIMESTAMP_COLUMNS: &[&str] = &[
    "timestamp",
    "start_time",
    "end_time",
    "completion_start_time",
    "updated_at",
    "created_at",
];

/// What the rewriter knows of an expression's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ty {
    Timestamp,
    Interval,
    Other,
}

/// The type of an expression, original or already rewritten.
pub(super) fn ty(e: &Expr, timestamps: &HashSet<String>) -> Ty {
    match e {
        Expr::Identifier(i) if timestamps.contains(&i.value.to_ascii_lowercase()) => Ty::Timestamp,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(i) if timestamps.contains(&i.value.to_ascii_lowercase()) => Ty::Timestamp,
            _ => Ty::Other,
        },
        Expr::Nested(inner) => ty(inner, timestamps),
        Expr::Interval(_) => Ty::Interval,
        Expr::Cast { data_type, .. } if is_timestamp_type(data_type) => Ty::Timestamp,
        Expr::Cast { data_type, .. } if data_type.to_string().eq_ignore_ascii_case("interval") => {
            Ty::Interval
        }
        Expr::TypedString(t) if is_timestamp_type(&t.data_type) => Ty::Timestamp,
        Expr::BinaryOp { left, op, right } => {
            let (l, r) = (ty(left, timestamps), ty(right, timestamps));
            match (op, l, r) {
                (BinaryOperator::Plus | BinaryOperator::Minus, Ty::Timestamp, Ty::Interval)
                | (BinaryOperator::Plus, Ty::Interval, Ty::Timestamp) => Ty::Timestamp,
                (BinaryOperator::Minus, Ty::Timestamp, Ty::Timestamp) => Ty::Interval,
                (BinaryOperator::Plus | BinaryOperator::Minus, Ty::Interval, Ty::Interval) => {
                    Ty::Interval
                }
                (BinaryOperator::Multiply, Ty::Interval, _)
                | (BinaryOperator::Multiply, _, Ty::Interval)
                | (BinaryOperator::Divide, Ty::Interval, _) => Ty::Interval,
                _ if is_seconds_between(e) => Ty::Interval,
                _ => Ty::Other,
            }
        }
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
                    | "clock_timestamp"
                    | "current_date",
                    [],
                ) => Ty::Timestamp,
                ("date_trunc", [_, x]) if ty(x, timestamps) == Ty::Timestamp => Ty::Timestamp,
                ("min" | "max" | "coalesce" | "greatest" | "least", [x, ..]) => ty(x, timestamps),
                ("avg" | "sum", [x]) if ty(x, timestamps) == Ty::Interval => Ty::Interval,
                _ => Ty::Other,
            }
        }
        _ => Ty::Other,
    }
}

fn is_timestamp_type(t: &DataType) -> bool {
    let text = t.to_string().to_ascii_uppercase();
    text.starts_with("TIMESTAMP") || text == "DATETIME"
}

/// `(julianday(a) - julianday(b)) * 86400.0`, recognised later as an interval in seconds.
pub(super) fn seconds_between(a: Expr, b: Expr) -> Expr {
    Expr::Nested(Box::new(Expr::BinaryOp {
        left: Box::new(Expr::Nested(Box::new(Expr::BinaryOp {
            left: Box::new(call("julianday", vec![a])),
            op: BinaryOperator::Minus,
            right: Box::new(call("julianday", vec![b])),
        }))),
        op: BinaryOperator::Multiply,
        right: Box::new(number_text("86400.0")),
    }))
}

fn is_seconds_between(e: &Expr) -> bool {
    let Expr::BinaryOp { left, op, right } = e else {
        return false;
    };
    if *op != BinaryOperator::Multiply
        || !matches!(right.as_ref(), Expr::Value(v) if v.value == Value::Number("86400.0".into(), false))
    {
        return false;
    }
    matches!(left.as_ref(), Expr::Nested(inner) if matches!(inner.as_ref(),
        Expr::BinaryOp { left, op: BinaryOperator::Minus, right }
            if is_call(left, "julianday") && is_call(right, "julianday")))
}

fn is_call(e: &Expr, name: &str) -> bool {
    matches!(e, Expr::Function(f) if function_name(f) == name)
}
