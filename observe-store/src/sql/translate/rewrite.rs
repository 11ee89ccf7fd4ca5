//! The second pass of the translation: each expression PostgreSQL and SQLite read
//! differently, rewritten after its children, by what it is and the types of its operands.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, DateTimeField, Expr, Function, FunctionArguments, Ident, ObjectName,
    OrderByExpr, OrderBySort, UnaryOperator, VisitorMut,
};

use super::casts::cast;
use super::datetime::{date_trunc, interval_as_seconds, shift, to_char};
use super::json_ops::{json_text, rewrite_json_path, rewrite_key_test};
use super::syntax::{call, function_name, now, plain_args, sql_cast, string, string_literal, ts};
use super::types::{seconds_between, ty, Names, Ty};
use crate::sql::error::SqlError;
use crate::sql::pg_text;

/// Second pass, bottom-up: each expression is rewritten after its children.
pub(super) struct Rewriter {
    /// Names of a known type: the store's columns and the aliases of typed expressions.
    pub(super) names: Names,
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

    /// PostgreSQL sorts NULLs as larger than any value (last ascending, first descending),
    /// SQLite as smaller: an order that does not say where NULLs go says it as PostgreSQL
    /// would.
    fn post_visit_order_by_expr(&mut self, order: &mut OrderByExpr) -> ControlFlow<SqlError> {
        if order.options.nulls_first.is_none() {
            order.options.nulls_first = Some(matches!(order.options.sort, Some(OrderBySort::Desc)));
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
        ty(e, &self.names)
    }

    /// The replacement for `expr`, if it needs one.
    fn rewrite(&self, expr: &Expr) -> Result<Option<Expr>, SqlError> {
        Ok(Some(match expr {
            Expr::Function(f) => return self.rewrite_function(f),
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => cast(inner, data_type, self.ty(inner))?,
            Expr::TypedString(typed) => {
                let literal = Expr::Value(typed.value.clone());
                cast(&literal, &typed.data_type, Ty::Other)?
            }
            Expr::Between {
                expr: x,
                negated,
                low,
                high,
            } if self.ty(x) == Ty::Timestamp => Expr::Between {
                expr: x.clone(),
                negated: *negated,
                low: Box::new(self.as_timestamp(low)),
                high: Box::new(self.as_timestamp(high)),
            },
            Expr::Substring {
                expr: x,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![
                    (**x).clone(),
                    substring_from.as_deref().cloned().unwrap_or(number_int(1)),
                ];
                args.extend(substring_for.as_deref().cloned());
                call("substr", args)
            }
            Expr::Position { expr: needle, r#in } => {
                call("instr", vec![(**r#in).clone(), (**needle).clone()])
            }
            Expr::BinaryOp { left, op, right } => {
                return self.rewrite_binary(left, op, right);
            }
            Expr::Extract { field, expr, .. } => self.extract(field, expr)?,
            Expr::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => like(expr, pattern, escape_char.as_deref(), false, *negated),
            Expr::ILike {
                negated,
                any: false,
                expr,
                pattern,
                escape_char,
            } => like(expr, pattern, escape_char.as_deref(), true, *negated),
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
            ("current_date", None | Some([])) => call("date", vec![string("now")]),
            ("left", Some([x, n])) => call("substr", vec![x.clone(), number_int(1), n.clone()]),
            ("right", Some([x, n])) => call(
                "substr",
                vec![
                    x.clone(),
                    Expr::UnaryOp {
                        op: UnaryOperator::Minus,
                        expr: Box::new(Expr::Nested(Box::new(n.clone()))),
                    },
                ],
            ),
            ("strpos", Some([x, needle])) => call("instr", vec![x.clone(), needle.clone()]),
            ("cardinality", Some([array])) | ("array_length", Some([array, _])) => {
                call("json_array_length", vec![array.clone()])
            }
            ("to_timestamp", Some([seconds])) => ts(seconds.clone(), vec![string("unixepoch")]),
            (
                "unnest"
                | "generate_series"
                | "jsonb_array_elements"
                | "jsonb_array_elements_text"
                | "json_array_elements"
                | "json_array_elements_text"
                | "jsonb_each"
                | "jsonb_each_text"
                | "json_each_text"
                | "jsonb_object_keys"
                | "json_object_keys",
                _,
            ) => {
                return Err(SqlError::Unsupported(format!(
                    "{name}(), a set-returning function; for tags write `'tag' = ANY(tags)`"
                )))
            }
            (
                "regexp_replace"
                | "regexp_match"
                | "regexp_matches"
                | "regexp_split_to_array"
                | "regexp_split_to_table"
                | "age"
                | "justify_days"
                | "justify_hours"
                | "justify_interval"
                | "make_interval"
                | "to_date"
                | "to_number"
                | "array_to_string"
                | "array_position"
                | "array_remove"
                | "array_append",
                _,
            ) => {
                return Err(SqlError::Unsupported(format!(
                    "the function {name}(); it has no SQLite translation yet"
                )))
            }
            ("string_agg", Some([_, separator])) if distinct(f) => {
                // SQLite's DISTINCT aggregates take one argument, and ',' is its separator.
                if string_literal(separator).as_deref() != Some(",") {
                    return Err(SqlError::Unsupported(
                        "string_agg(DISTINCT x, separator) with a separator other than ','".into(),
                    ));
                }
                let mut f = f.clone();
                if let FunctionArguments::List(list) = &mut f.args {
                    list.args.truncate(1);
                }
                f.name = ObjectName::from(vec![Ident::new("group_concat")]);
                Expr::Function(f)
            }
            ("date_trunc", Some([unit, x])) => {
                let column = matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                date_trunc(unit, x, column && self.ty(x) == Ty::Timestamp)?
            }
            ("to_char", Some([x, format])) => match self.ty(x) {
                Ty::Timestamp | Ty::Date => to_char(x, format)?,
                _ => {
                    return Err(SqlError::Unsupported(
                        "to_char of anything but a timestamp or a date".into(),
                    ))
                }
            },
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
                    "greatest" => "observe_greatest",
                    "least" => "observe_least",
                    "bool_or" => "max",
                    "bool_and" | "every" => "min",
                    "char_length" | "character_length" => "length",
                    "btrim" => "trim",
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
            B::LongArrow => Ok(Some(json_text(left.clone(), right.clone()))),
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
            (Ty::Timestamp | Ty::Date, Ty::Interval) => shift(left.clone(), right, sign)?,
            (Ty::Interval, Ty::Timestamp | Ty::Date) if !minus => shift(right.clone(), left, 1.0)?,
            (Ty::Timestamp, Ty::Timestamp | Ty::Date) | (Ty::Date, Ty::Timestamp) if minus => {
                seconds_between(left.clone(), right.clone())
            }
            (Ty::Date, Ty::Date) if minus => sql_cast(
                Expr::BinaryOp {
                    left: Box::new(call("julianday", vec![left.clone()])),
                    op: BinaryOperator::Minus,
                    right: Box::new(call("julianday", vec![right.clone()])),
                },
                "INTEGER",
            ),
            (Ty::Date, Ty::Other) => add_days(left, right, minus),
            (Ty::Other, Ty::Date) if !minus => add_days(right, left, false),
            (Ty::Interval, Ty::Interval) => Expr::BinaryOp {
                left: Box::new(interval_as_seconds(left)?),
                op: op.clone(),
                right: Box::new(interval_as_seconds(right)?),
            },
            _ => return Ok(None),
        }))
    }

    /// A timestamp compared with a string literal or a date: the other side in the store's
    /// timestamp text, so that text comparison orders them as times.
    fn rewrite_comparison(&self, left: &Expr, op: &BinaryOperator, right: &Expr) -> Option<Expr> {
        let (left, right) = match (self.ty(left), self.ty(right)) {
            (Ty::Timestamp, Ty::Timestamp) => return None,
            (Ty::Timestamp, _) => (left.clone(), self.as_timestamp(right)),
            (_, Ty::Timestamp) => (self.as_timestamp(left), right.clone()),
            _ => return None,
        };

        Some(Expr::BinaryOp {
            left: Box::new(left),
            op: op.clone(),
            right: Box::new(right),
        })
    }

    /// A date or a string literal compared with a timestamp, as the store's timestamp text.
    fn as_timestamp(&self, e: &Expr) -> Expr {
        if string_literal(e).is_some() || self.ty(e) == Ty::Date {
            ts(e.clone(), vec![])
        } else {
            e.clone()
        }
    }

    fn extract(&self, field: &DateTimeField, x: &Expr) -> Result<Expr, SqlError> {
        self.extract_named(&field.to_string().to_ascii_lowercase(), x)
    }

    fn extract_named(&self, field: &str, x: &Expr) -> Result<Expr, SqlError> {
        if field == "epoch" {
            return Ok(match self.ty(x) {
                Ty::Interval => interval_as_seconds(x)?,
                _ => call(pg_text::EPOCH, vec![x.clone()]),
            });
        }
        if self.ty(x) == Ty::Interval {
            return Err(SqlError::Unsupported(format!(
                "EXTRACT({}) from an interval; EXTRACT(EPOCH FROM interval) gives its seconds",
                field.to_ascii_uppercase()
            )));
        }
        let part = |format: &str, as_type: &str| {
            sql_cast(call("strftime", vec![string(format), x.clone()]), as_type)
        };
        let scaled = |by: &str| Expr::BinaryOp {
            left: Box::new(part("%f", "REAL")),
            op: BinaryOperator::Multiply,
            right: Box::new(super::syntax::number_text(by)),
        };
        let (format, as_type) = match field {
            "year" | "years" => ("%Y", "INTEGER"),
            "month" | "months" => ("%m", "INTEGER"),
            "day" | "days" => ("%d", "INTEGER"),
            "hour" | "hours" => ("%H", "INTEGER"),
            "minute" | "minutes" => ("%M", "INTEGER"),
            "second" | "seconds" => ("%f", "REAL"),
            "dow" => ("%w", "INTEGER"),
            "doy" => ("%j", "INTEGER"),
            "isodow" => ("%u", "INTEGER"),
            "week" => ("%V", "INTEGER"),
            "isoyear" => ("%G", "INTEGER"),
            "milliseconds" | "millisecond" => return Ok(scaled("1000")),
            "microseconds" | "microsecond" => return Ok(scaled("1000000")),
            "quarter" => {
                return Ok(Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(Expr::Nested(Box::new(Expr::BinaryOp {
                        left: Box::new(part("%m", "INTEGER")),
                        op: BinaryOperator::Plus,
                        right: Box::new(number_int(2)),
                    }))),
                    op: BinaryOperator::Divide,
                    right: Box::new(number_int(3)),
                })))
            }
            other => {
                return Err(SqlError::Unsupported(format!(
                    "EXTRACT({}) — supported: EPOCH, YEAR, ISOYEAR, QUARTER, MONTH, WEEK, DAY, \
                     DOW, ISODOW, DOY, HOUR, MINUTE, SECOND, MILLISECONDS, MICROSECONDS",
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

/// An integer literal.
fn number_int(n: i64) -> Expr {
    super::syntax::number_text(&n.to_string())
}

/// `date ± n` (days): SQLite's `date()` with a day modifier.
fn add_days(date: &Expr, days: &Expr, minus: bool) -> Expr {
    let sign = if minus { "-" } else { "+" };
    let modifier = match days {
        Expr::Value(v) => match &v.value {
            sqlparser::ast::Value::Number(n, _) if !n.contains(['.', 'e', 'E']) => {
                Some(string(&format!("{sign}{n} days")))
            }
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_else(|| {
        let n = if minus {
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: Box::new(Expr::Nested(Box::new(days.clone()))),
            }
        } else {
            days.clone()
        };
        call("printf", vec![string("%+d days"), n])
    });
    call("date", vec![date.clone(), modifier])
}

/// `x [NOT] LIKE p [ESCAPE e]` and `ILIKE` as PostgreSQL matches them (case-sensitive, `\`
/// the escape character unless another is given): `observe_like(x, p, e, insensitive)`.
fn like(x: &Expr, pattern: &Expr, escape: Option<&Expr>, insensitive: bool, negated: bool) -> Expr {
    let matched = call(
        "observe_like",
        vec![
            x.clone(),
            pattern.clone(),
            escape.cloned().unwrap_or_else(|| string("\\")),
            number_int(i64::from(insensitive)),
        ],
    );
    if negated {
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(matched),
        }
    } else {
        matched
    }
}

/// Whether an aggregate call says `DISTINCT`.
fn distinct(f: &Function) -> bool {
    matches!(&f.args, FunctionArguments::List(list) if list.duplicate_treatment.is_some())
}
