//! The second pass of the translation: each expression PostgreSQL and SQLite read
//! differently, rewritten after its children, by what it is and the types of its operands.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DateTimeField, Expr, Function, Ident, ObjectName, VisitorMut,
};

use super::casts::cast;
use super::datetime::{date_trunc, interval_as_seconds, shift};
use super::json_ops::{rewrite_json_path, rewrite_key_test};
use super::syntax::{
    call, function_name, now, number, number_text, plain_args, sql_cast, string, string_literal, ts,
};
use super::types::{seconds_between, ty, Ty};
use crate::sql::error::SqlError;

/// Second pass, bottom-up: each expression is rewritten after its children.
pub(super) struct Rewriter {
    /// Names that hold timestamps: the store's columns and the aliases of timestamps.
    pub(super) timestamps: HashSet<String>,
}

impl VisitorMut for Rewriter {
    type Break = SqlError;

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<SqlError> {
        if let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() {
            if matches!(select.distinct, Some(sqlparser::ast::Distinct::On(_))) {
                return ControlFlow::Break(SqlError::Unsupported(
                    "SELECT DISTINCT ON; use GROUP BY or a window function".into(),
                ));
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        match self.rewrite(expr) {
            Ok(Some(new)) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e),
        }
    }
}

impl Rewriter {
    fn ty(&self, e: &Expr) -> Ty {
        ty(e, &self.timestamps)
    }

    /// The replacement for `expr`, if it needs one.
    fn rewrite(&self, expr: &Expr) -> Result<Option<Expr>, SqlError> {
        Ok(Some(match expr {
            Expr::Function(f) => return self.rewrite_function(f),
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => cast(inner, data_type)?,
            Expr::TypedString(typed) => {
                let literal = Expr::Value(typed.value.clone());
                cast(&literal, &typed.data_type)?
            }
            Expr::BinaryOp { left, op, right } => {
                return self.rewrite_binary(left, op, right);
            }
            Expr::Extract { field, expr, .. } => self.extract(field, expr)?,
            Expr::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                ..
            } => Expr::Like {
                negated: *negated,
                any: false,
                expr: Box::new(call("lower", vec![(**expr).clone()])),
                pattern: Box::new(call("lower", vec![(**pattern).clone()])),
                escape_char: escape_char.clone(),
            },
            Expr::AnyOp {
                left,
                compare_op,
                right,
                ..
            } => {
                if *compare_op != BinaryOperator::Eq {
                    return Err(SqlError::Unsupported(format!(
                        "`{compare_op} ANY(...)`; only `= ANY(array)` is"
                    )));
                }
                call(
                    "observe_array_contains",
                    vec![(**right).clone(), (**left).clone()],
                )
            }
            Expr::AllOp { .. } => {
                return Err(SqlError::Unsupported("`op ALL(array)`".into()));
            }
            _ => return Ok(None),
        }))
    }

    fn rewrite_function(&self, f: &Function) -> Result<Option<Expr>, SqlError> {
        let name = function_name(f);
        let args = plain_args(f);
        let new = match (name.as_str(), args.as_deref()) {
            (
                "now"
                | "current_timestamp"
                | "localtimestamp"
                | "transaction_timestamp"
                | "statement_timestamp"
                | "clock_timestamp",
                None | Some([]),
            ) => now(),
            ("current_date", None | Some([])) => ts(string("now"), vec![string("start of day")]),
            ("date_trunc", Some([unit, x])) => date_trunc(unit, x)?,
            ("date_part", Some([field, x])) => {
                let Some(field) = string_literal(field) else {
                    return Err(SqlError::Unsupported(
                        "date_part with a field that is not a literal".into(),
                    ));
                };
                self.extract_named(&field.to_ascii_lowercase(), x)?
            }
            ("percentile_cont" | "percentile_disc", Some([p])) => {
                let [order] = f.within_group.as_slice() else {
                    return Err(SqlError::Unsupported(format!(
                        "{name} without WITHIN GROUP (ORDER BY x)"
                    )));
                };
                call(
                    &format!("observe_{name}"),
                    vec![order.expr.clone(), p.clone()],
                )
            }
            _ => {
                let renamed = match name.as_str() {
                    "greatest" => "max",
                    "least" => "min",
                    "string_agg" => "group_concat",
                    "array_agg" | "jsonb_agg" | "json_agg" => "json_group_array",
                    "json_build_object" | "jsonb_build_object" => "json_object",
                    "json_build_array" | "jsonb_build_array" => "json_array",
                    "jsonb_object_agg" | "json_object_agg" => "json_group_object",
                    "jsonb_typeof" | "json_typeof" => "json_type",
                    "jsonb_array_length" => "json_array_length",
                    _ => return Ok(None),
                };
                let mut f = f.clone();
                f.name = ObjectName::from(vec![Ident::new(renamed)]);
                Expr::Function(f)
            }
        };
        Ok(Some(new))
    }

    /// A binary operation SQLite reads differently, by operator family; `None` keeps it.
    fn rewrite_binary(
        &self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
    ) -> Result<Option<Expr>, SqlError> {
        use BinaryOperator as B;
        match op {
            B::Plus | B::Minus => self.rewrite_arithmetic(left, op, right),
            B::Gt | B::Lt | B::GtEq | B::LtEq | B::Eq | B::NotEq => {
                Ok(self.rewrite_comparison(left, op, right))
            }
            B::HashLongArrow | B::HashArrow => rewrite_json_path(left, op, right).map(Some),
            B::Question => rewrite_key_test(left, right).map(Some),
            B::PGRegexMatch
            | B::PGRegexIMatch
            | B::PGRegexNotMatch
            | B::PGRegexNotIMatch
            | B::AtArrow
            | B::ArrowAt
            | B::QuestionAnd
            | B::QuestionPipe
            | B::HashMinus
            | B::AtQuestion
            | B::AtAt => Err(SqlError::Unsupported(format!(
                "the operator `{op}`; for tags use `'tag' = ANY(tags)`"
            ))),
            _ => Ok(None),
        }
    }

    /// `+` and `-` over timestamps and intervals: a timestamp shifted by an interval, the
    /// seconds between two timestamps, or the sum of two intervals in seconds.
    fn rewrite_arithmetic(
        &self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
    ) -> Result<Option<Expr>, SqlError> {
        let minus = *op == BinaryOperator::Minus;
        let sign = if minus { -1.0 } else { 1.0 };
        Ok(Some(match (self.ty(left), self.ty(right)) {
            (Ty::Timestamp, Ty::Interval) => shift(left.clone(), right, sign)?,
            (Ty::Interval, Ty::Timestamp) if !minus => shift(right.clone(), left, 1.0)?,
            (Ty::Timestamp, Ty::Timestamp) if minus => seconds_between(left.clone(), right.clone()),
            (Ty::Interval, Ty::Interval) => Expr::BinaryOp {
                left: Box::new(interval_as_seconds(left)?),
                op: op.clone(),
                right: Box::new(interval_as_seconds(right)?),
            },
            _ => return Ok(None),
        }))
    }

    /// A timestamp compared with a string literal: the literal in the store's timestamp
    /// text, so that text comparison orders them as times.
    fn rewrite_comparison(&self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Option<Expr> {
        let (left, right) = match (self.ty(left), self.ty(right)) {
            (Ty::Timestamp, _) if string_literal(right).is_some() => {
                (left.clone(), ts(right.clone(), vec![]))
            }
            (_, Ty::Timestamp) if string_literal(left).is_some() => {
                (ts(left.clone(), vec![]), right.clone())
            }
            _ => return None,
        };
        Some(Expr::BinaryOp {
            left: Box::new(left),
            op: op.clone(),
            right: Box::new(right),
        })
    }

    fn extract(&self, field: &DateTimeField, x: &Expr) -> Result<Expr, SqlError> {
        self.extract_named(&field.to_string().to_ascii_lowercase(), x)
    }

    fn extract_named(&self, field: &str, x: &Expr) -> Result<Expr, SqlError> {
        if field == "epoch" {
            return Ok(match self.ty(x) {
                Ty::Interval => interval_as_seconds(x)?,
                _ => Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(Expr::BinaryOp {
                        left: Box::new(call("julianday", vec![x.clone()])),
                        op: BinaryOperator::Minus,
                        right: Box::new(number(2_440_587.5)),
                    }))),
                    op: BinaryOperator::Multiply,
                    right: Box::new(number_text("86400.0")),
                })),
            });
        }
        let (format, as_type) = match field {
            "year" | "years" => ("%Y", "INTEGER"),
            "month" | "months" => ("%m", "INTEGER"),
            "day" | "days" => ("%d", "INTEGER"),
            "hour" | "hours" => ("%H", "INTEGER"),
            "minute" | "minutes" => ("%M", "INTEGER"),
            "second" | "seconds" => ("%f", "REAL"),
            "dow" => ("%w", "INTEGER"),
            "doy" => ("%j", "INTEGER"),
            other => {
                return Err(SqlError::Unsupported(format!(
                "EXTRACT({}) — supported: EPOCH, YEAR, MONTH, DAY, HOUR, MINUTE, SECOND, DOW, DOY",
                other.to_ascii_uppercase()
            )))
            }
        };
        Ok(sql_cast(
            call("strftime", vec![string(format), x.clone()]),
            as_type,
        ))
    }
}
