//! PostgreSQL-dialect SQL over the local SQLite store.
//!
//! Langfuse users write their analytics in PostgreSQL. [`translate`] parses such a query
//! with `sqlparser`'s PostgreSQL dialect, rewrites the syntax tree where SQLite differs, and
//! prints it back as SQL that SQLite runs; [`query`] does that and runs it. The rewrite is
//! type-directed: it knows which expressions are timestamps (the store's timestamp columns,
//! `NOW()`, casts to `timestamp`, `MIN`/`MAX` of those, aliases of those) and which are
//! intervals.
//!
//! | PostgreSQL | SQLite |
//! | --- | --- |
//! | `NOW()`, `CURRENT_TIMESTAMP`, `CURRENT_DATE` | `strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')` (the store's timestamp text) |
//! | `ts - INTERVAL '30 days'`, `ts + n * INTERVAL '1 millisecond'` | `strftime(..., ts, '-30 days')`, `strftime(..., ts, printf('%+.6f seconds', ...))` |
//! | `ts1 - ts2` | seconds, as a number: `(julianday(ts1) - julianday(ts2)) * 86400.0` |
//! | `EXTRACT(EPOCH FROM x)`, `EXTRACT(HOUR FROM ts)` ... | seconds of an interval, or of a timestamp since 1970; `strftime` fields |
//! | `date_trunc('day', ts)` | `strftime` to the start of the unit |
//! | `x::float`, `x::numeric`, `x::int`, `x::text`, `x::timestamp`, `x::date` | `CAST(x AS REAL)` ... |
//! | `metadata->>'key'`, `metadata->'key'` | the same: native in SQLite |
//! | `metadata #>> '{a,b}'`, `metadata ? 'key'` | `metadata ->> '$.a.b'`, `json_type(metadata, '$.key') IS NOT NULL` |
//! | `'x' = ANY(tags)` | `observe_array_contains(tags, 'x')` |
//! | `ILIKE` | `lower(x) LIKE lower(pattern)` |
//! | `greatest`, `least`, `string_agg`, `array_agg`, `jsonb_*` | `max`, `min`, `group_concat`, `json_group_array`, `json_*` |
//! | `percentile_cont(0.95) WITHIN GROUP (ORDER BY x)` | `observe_percentile_cont(x, 0.95)` |
//!
//! An interval that is not added to a timestamp becomes its length in seconds.
//!
//! ```
//! let sqlite = observe_cli::sql::translate(
//!     "SELECT user_id, AVG(latency_ms)::float FROM traces \
//!      WHERE timestamp > NOW() - INTERVAL '30 days' GROUP BY user_id",
//! ).unwrap();
//! assert_eq!(
//!     sqlite,
//!     "SELECT user_id, CAST(AVG(latency_ms) AS REAL) FROM traces \
//!      WHERE timestamp > strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', '-30 days') \
//!      GROUP BY user_id"
//! );
//! ```

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::Value as SqlValue;
use rusqlite::Connection;
use sqlparser::ast::{
    BinaryOperator, CastKind, DataType, DateTimeField, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, Interval, ObjectName,
    SelectItem, Statement, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// The store's timestamp text, as an `strftime` format: microseconds (three of them
/// zero) and `Z`, so that it compares as text with what the store writes.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%f000Z";

/// Columns of the store that hold timestamps.
const TIMESTAMP_COLUMNS: &[&str] = &[
    "timestamp",
    "start_time",
    "end_time",
    "completion_start_time",
    "updated_at",
    "created_at",
];

/// Why a query could not be translated or run.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The text is not PostgreSQL that `sqlparser` understands.
    #[error("cannot parse the query as PostgreSQL: {0}")]
    Parse(#[from] sqlparser::parser::ParserError),
    /// Something other than one read-only query.
    #[error("{0}")]
    NotAQuery(String),
    /// PostgreSQL that has no SQLite translation (yet).
    #[error("not supported over the local store: {0}")]
    Unsupported(String),
    /// The query ran past its time limit and was stopped.
    #[error(
        "the query ran longer than {}s and was stopped: narrow it (WHERE, LIMIT) or raise --timeout",
        limit.as_secs_f64()
    )]
    Timeout {
        /// The limit it ran past.
        limit: Duration,
    },
    /// The rows could not be written out.
    #[error("writing the rows: {0}")]
    Output(#[source] std::io::Error),
    /// SQLite refused or failed the translated query.
    #[error("{source}\n  translated SQL: {sql}")]
    Sqlite {
        /// The SQL that SQLite ran.
        sql: String,
        /// Its error.
        #[source]
        source: rusqlite::Error,
    },
}

/// Translates one PostgreSQL `SELECT` (or `WITH ... SELECT`) into SQLite SQL.
///
/// ```
/// use observe_cli::sql::translate;
/// assert_eq!(
///     translate("SELECT metadata->>'content_type' AS ct FROM traces").unwrap(),
///     "SELECT metadata ->> 'content_type' AS ct FROM traces"
/// );
/// assert!(translate("DELETE FROM traces").is_err());
/// ```
pub fn translate(sql: &str) -> Result<String, SqlError> {
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql)?;
    let mut statement = match (statements.pop(), statements.is_empty()) {
        (Some(s), true) => s,
        (None, _) => return Err(SqlError::NotAQuery("the query is empty".into())),
        (Some(_), false) => return Err(SqlError::NotAQuery("run one statement at a time".into())),
    };
    if !matches!(statement, Statement::Query(_)) {
        return Err(SqlError::NotAQuery(
            "observe query runs SELECT statements only (the store is read-only here)".into(),
        ));
    }
    let mut aliases = AliasCollector {
        names: TIMESTAMP_COLUMNS.iter().map(|s| (*s).to_owned()).collect(),
    };
    let _ = statement.visit(&mut aliases);
    let mut rewriter = Rewriter {
        timestamps: aliases.names,
    };
    if let ControlFlow::Break(e) = statement.visit(&mut rewriter) {
        return Err(e);
    }
    if let ControlFlow::Break(e) = statement.visit(&mut LeftoverIntervals) {
        return Err(e);
    }
    Ok(statement.to_string())
}

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
    /// use observe_cli::sql::Table;
    /// use rusqlite::types::Value;
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

/// Translates `sql` and runs it on `conn` (which needs [`register_functions`]).
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// observe_cli::sql::register_functions(&conn).unwrap();
/// let t = observe_cli::sql::query(&conn, "SELECT EXTRACT(EPOCH FROM INTERVAL '1 day') AS s").unwrap();
/// assert_eq!(t.rows[0][0], rusqlite::types::Value::Real(86400.0));
/// ```
pub fn query(conn: &Connection, sql: &str) -> Result<Table, SqlError> {
    let translated = translate(sql)?;
    run_sqlite(conn, &translated)
}

/// Runs SQLite SQL as it is (for queries already translated), holding every row.
pub fn run_sqlite(conn: &Connection, sql: &str) -> Result<Table, SqlError> {
    let mut table = Table {
        columns: Vec::new(),
        rows: Vec::new(),
    };
    stream_rows(conn, sql, &[], &mut table)?;
    Ok(table)
}

/// Where [`stream`] sends a query's columns, then its rows one by one.
pub trait RowSink {
    /// The column names, as the query named them, before any row.
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()>;
    /// One row; `Ok(false)` stops the query (enough rows, or the reader went away).
    fn row(&mut self, row: Vec<SqlValue>) -> std::io::Result<bool>;
}

impl RowSink for Table {
    fn columns(&mut self, columns: &[String]) -> std::io::Result<()> {
        self.columns = columns.to_vec();
        Ok(())
    }

    fn row(&mut self, row: Vec<SqlValue>) -> std::io::Result<bool> {
        self.rows.push(row);
        Ok(true)
    }
}

/// How many SQLite virtual-machine steps run between two looks at the clock.
const STEPS_PER_CLOCK_CHECK: i32 = 10_000;

/// Runs SQLite SQL with `args` bound to `?1`, `?2`..., handing each row to `sink` as SQLite
/// produces it, so memory stays flat however many rows the query yields. With a
/// `timeout`, SQLite's progress handler stops the query once it has run that long, also
/// while it computes before its first row (a sort, an aggregate, a runaway recursive CTE).
///
/// ```
/// use std::time::Duration;
/// use observe_cli::sql::{stream, SqlError, Table};
/// let mut conn = rusqlite::Connection::open_in_memory().unwrap();
/// let runaway = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) \
///                SELECT COUNT(*) FROM r";
/// let mut table = Table { columns: vec![], rows: vec![] };
/// let err = stream(&mut conn, runaway, &[], Some(Duration::from_millis(50)), &mut table).unwrap_err();
/// assert!(matches!(err, SqlError::Timeout { .. }));
/// ```
pub fn stream(
    conn: &mut Connection,
    sql: &str,
    args: &[SqlValue],
    timeout: Option<Duration>,
    sink: &mut dyn RowSink,
) -> Result<(), SqlError> {
    let failed = |source| SqlError::Sqlite {
        sql: sql.to_owned(),
        source,
    };
    if let Some(limit) = timeout {
        let deadline = Instant::now() + limit;
        conn.progress_handler(
            STEPS_PER_CLOCK_CHECK,
            Some(move || Instant::now() >= deadline),
        )
        .map_err(failed)?;
    }
    let result = stream_rows(conn, sql, args, sink);
    if timeout.is_some() {
        conn.progress_handler(0, None::<fn() -> bool>)
            .map_err(failed)?;
    }
    result.map_err(|e| match (e, timeout) {
        (SqlError::Sqlite { source, .. }, Some(limit))
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) =>
        {
            SqlError::Timeout { limit }
        }
        (e, _) => e,
    })
}

/// [`stream`] without a time limit, on a shared connection.
pub fn stream_rows(
    conn: &Connection,
    sql: &str,
    args: &[SqlValue],
    sink: &mut dyn RowSink,
) -> Result<(), SqlError> {
    let failed = |source| SqlError::Sqlite {
        sql: sql.to_owned(),
        source,
    };
    let mut stmt = conn.prepare(sql).map_err(failed)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    sink.columns(&columns).map_err(SqlError::Output)?;
    let mut cursor = stmt
        .query(rusqlite::params_from_iter(args))
        .map_err(failed)?;
    while let Some(row) = cursor.next().map_err(failed)? {
        let values = (0..columns.len())
            .map(|i| row.get::<_, SqlValue>(i))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(failed)?;
        if !sink.row(values).map_err(SqlError::Output)? {
            break;
        }
    }
    Ok(())
}

/// Registers the functions translated queries call: `observe_array_contains(json_array,
/// value)` and the aggregates `observe_percentile_cont(x, p)` and
/// `observe_percentile_disc(x, p)`.
pub fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("observe_array_contains", 2, flags, |ctx| {
        let array: Option<String> = ctx.get(0)?;
        let needle = ctx.get::<SqlValue>(1)?;
        let Some(Ok(serde_json::Value::Array(items))) = array
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
        else {
            return Ok(false);
        };
        let needle = value_to_json(&needle);
        Ok(items.iter().any(|item| item == &needle))
    })?;
    conn.create_aggregate_function(
        "observe_percentile_cont",
        2,
        flags,
        Percentile { discrete: false },
    )?;
    conn.create_aggregate_function(
        "observe_percentile_disc",
        2,
        flags,
        Percentile { discrete: true },
    )
}

/// `percentile_cont` (linear interpolation) and `percentile_disc` (first value whose
/// cumulative share reaches p), as PostgreSQL defines them.
struct Percentile {
    discrete: bool,
}

impl Aggregate<(Vec<f64>, f64), Option<f64>> for Percentile {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<(Vec<f64>, f64)> {
        Ok((Vec::new(), 0.5))
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut (Vec<f64>, f64)) -> rusqlite::Result<()> {
        if let Some(x) = ctx.get::<Option<f64>>(0)? {
            acc.0.push(x);
        }
        acc.1 = ctx.get::<f64>(1)?;
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<(Vec<f64>, f64)>,
    ) -> rusqlite::Result<Option<f64>> {
        let Some((mut xs, p)) = acc else {
            return Ok(None);
        };
        if xs.is_empty() {
            return Ok(None);
        }
        xs.sort_by(f64::total_cmp);
        let p = p.clamp(0.0, 1.0);
        if self.discrete {
            let i = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1;
            return Ok(Some(xs[i]));
        }
        let rank = p * (xs.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        Ok(Some(xs[lo] + (xs[hi] - xs[lo]) * (rank - lo as f64)))
    }
}

/// What the rewriter knows of an expression's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Timestamp,
    Interval,
    Other,
}

/// First pass: names that select lists give to timestamp expressions
/// (`MIN(timestamp) AS started`), so that later references to them are timestamps too.
struct AliasCollector {
    names: HashSet<String>,
}

impl VisitorMut for AliasCollector {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
        if let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() {
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { expr, alias } = item {
                    if ty(expr, &self.names) == Ty::Timestamp {
                        self.names.insert(alias.value.to_ascii_lowercase());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Second pass, bottom-up: each expression is rewritten after its children.
struct Rewriter {
    timestamps: HashSet<String>,
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

/// Last pass: an interval left alone (not added to a timestamp) is its length in seconds.
struct LeftoverIntervals;

impl VisitorMut for LeftoverIntervals {
    type Break = SqlError;

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if let Expr::Interval(interval) = expr {
            match parse_interval(interval) {
                Ok(parts) => *expr = number(interval_seconds(&parts)),
                Err(e) => return ControlFlow::Break(e),
            }
        }
        ControlFlow::Continue(())
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

/// The type of an expression, original or already rewritten.
/// `x #>> '{a,b}'` and `x #> '{a,b}'`: SQLite's `->>` and `->` with the JSON path `$.a.b`.
fn rewrite_json_path(left: &Expr, op: &BinaryOperator, right: &Expr) -> Result<Expr, SqlError> {
    let Some(path) = string_literal(right).and_then(|p| pg_path_to_json_path(&p)) else {
        return Err(SqlError::Unsupported(format!(
            "`{op}` with a path that is not a literal like '{{a,b}}'"
        )));
    };
    Ok(Expr::BinaryOp {
        left: Box::new(left.clone()),
        op: if *op == BinaryOperator::HashLongArrow {
            BinaryOperator::LongArrow
        } else {
            BinaryOperator::Arrow
        },
        right: Box::new(string(&path)),
    })
}

/// `x ? 'key'`: whether the JSON object has the key.
fn rewrite_key_test(left: &Expr, right: &Expr) -> Result<Expr, SqlError> {
    let Some(key) = string_literal(right) else {
        return Err(SqlError::Unsupported(
            "`?` with a key that is not a literal".into(),
        ));
    };
    Ok(Expr::IsNotNull(Box::new(call(
        "json_type",
        vec![left.clone(), string(&json_path_key(&key))],
    ))))
}

fn ty(e: &Expr, timestamps: &HashSet<String>) -> Ty {
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
fn seconds_between(a: Expr, b: Expr) -> Expr {
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

/// An interval-typed expression as a number of seconds.
fn interval_as_seconds(e: &Expr) -> Result<Expr, SqlError> {
    match e {
        Expr::Interval(i) => Ok(number(interval_seconds(&parse_interval(i)?))),
        Expr::Nested(inner) => interval_as_seconds(inner).map(|x| Expr::Nested(Box::new(x))),
        other => Ok(other.clone()),
    }
}

/// `ts ± interval`: SQLite date modifiers for a literal interval (calendar months stay
/// months), or seconds for a computed one.
fn shift(timestamp: Expr, interval: &Expr, sign: f64) -> Result<Expr, SqlError> {
    let literal = match interval {
        Expr::Interval(i) => Some(i),
        Expr::Nested(inner) => match inner.as_ref() {
            Expr::Interval(i) => Some(i),
            _ => None,
        },
        _ => None,
    };
    let modifiers = match literal {
        Some(i) => parse_interval(i)?
            .iter()
            .map(|(n, unit)| string(&modifier(sign * n, *unit)))
            .collect(),
        None => {
            let seconds = interval_as_seconds(interval)?;
            let seconds = if sign < 0.0 {
                Expr::UnaryOp {
                    op: sqlparser::ast::UnaryOperator::Minus,
                    expr: Box::new(Expr::Nested(Box::new(seconds))),
                }
            } else {
                seconds
            };
            vec![call("printf", vec![string("%+.6f seconds"), seconds])]
        }
    };
    Ok(ts(timestamp, modifiers))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Months,
    Years,
}

fn modifier(n: f64, unit: Unit) -> String {
    let name = match unit {
        Unit::Seconds => "seconds",
        Unit::Minutes => "minutes",
        Unit::Hours => "hours",
        Unit::Days => "days",
        Unit::Months => "months",
        Unit::Years => "years",
    };
    format!("{}{n} {name}", if n >= 0.0 { "+" } else { "" })
}

/// PostgreSQL's lengths: a month is 30 days and a year 365.25 days, as
/// `EXTRACT(EPOCH FROM interval)` counts them.
fn interval_seconds(parts: &[(f64, Unit)]) -> f64 {
    parts
        .iter()
        .map(|(n, unit)| {
            n * match unit {
                Unit::Seconds => 1.0,
                Unit::Minutes => 60.0,
                Unit::Hours => 3600.0,
                Unit::Days => 86_400.0,
                Unit::Months => 30.0 * 86_400.0,
                Unit::Years => 365.25 * 86_400.0,
            }
        })
        .sum()
}

/// `'30 days'`, `'1 day 2 hours'`, `'90 min'`, `'1.5h'`, `'2' HOUR`.
fn parse_interval(i: &Interval) -> Result<Vec<(f64, Unit)>, SqlError> {
    let text = match i.value.as_ref() {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    };
    let bad = || {
        SqlError::Unsupported(format!(
            "the interval `{i}`; write it like INTERVAL '30 days' or INTERVAL '1 day 2 hours'"
        ))
    };
    if let Some(field) = &i.leading_field {
        let n: f64 = text.trim().parse().map_err(|_| bad())?;
        let (scale, unit) = unit_of(&field.to_string().to_ascii_lowercase()).ok_or_else(bad)?;
        return Ok(vec![(n * scale, unit)]);
    }
    let mut parts = Vec::new();
    let mut tokens = split_number_units(&text).into_iter();
    while let Some(number) = tokens.next() {
        let n: f64 = number.parse().map_err(|_| bad())?;
        let unit = tokens.next().ok_or_else(bad)?;
        let (scale, unit) = unit_of(&unit.to_ascii_lowercase()).ok_or_else(bad)?;
        parts.push((n * scale, unit));
    }
    if parts.is_empty() {
        return Err(bad());
    }
    Ok(parts)
}

/// Splits `1day 2 hours` into `1`, `day`, `2`, `hours`.
fn split_number_units(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut numeric = false;
    for c in text.chars() {
        let is_num = c.is_ascii_digit() || c == '.' || c == '-' || c == '+';
        if c.is_whitespace() || c == ',' {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() && is_num != numeric {
            out.push(std::mem::take(&mut current));
        }
        numeric = is_num;
        current.push(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn unit_of(word: &str) -> Option<(f64, Unit)> {
    Some(match word {
        "microsecond" | "microseconds" | "us" => (1e-6, Unit::Seconds),
        "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" => (1e-3, Unit::Seconds),
        "second" | "seconds" | "sec" | "secs" | "s" => (1.0, Unit::Seconds),
        "minute" | "minutes" | "min" | "mins" | "m" => (1.0, Unit::Minutes),
        "hour" | "hours" | "hr" | "hrs" | "h" => (1.0, Unit::Hours),
        "day" | "days" | "d" => (1.0, Unit::Days),
        "week" | "weeks" | "w" => (7.0, Unit::Days),
        "month" | "months" | "mon" | "mons" => (1.0, Unit::Months),
        "year" | "years" | "y" | "yr" | "yrs" => (1.0, Unit::Years),
        _ => return None,
    })
}

fn date_trunc(unit: &Expr, x: &Expr) -> Result<Expr, SqlError> {
    let unit = string_literal(unit)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (format, modifiers): (&str, &[&str]) = match unit.as_str() {
        "second" => ("%Y-%m-%dT%H:%M:%S.000000Z", &[]),
        "minute" => ("%Y-%m-%dT%H:%M:00.000000Z", &[]),
        "hour" => ("%Y-%m-%dT%H:00:00.000000Z", &[]),
        "day" => ("%Y-%m-%dT00:00:00.000000Z", &[]),
        "week" => ("%Y-%m-%dT00:00:00.000000Z", &["-6 days", "weekday 1"]),
        "month" => ("%Y-%m-01T00:00:00.000000Z", &[]),
        "year" => ("%Y-01-01T00:00:00.000000Z", &[]),
        other => {
            return Err(SqlError::Unsupported(format!(
                "date_trunc('{other}'); supported: second, minute, hour, day, week, month, year"
            )))
        }
    };
    let mut args = vec![string(format), x.clone()];
    args.extend(modifiers.iter().map(|m| string(m)));
    // Each format is the store's timestamp text, so the result compares with timestamps.
    Ok(call("strftime", args))
}

/// `x::type` and `CAST(x AS type)`.
fn cast(x: &Expr, data_type: &DataType) -> Result<Expr, SqlError> {
    let name = data_type.to_string().to_ascii_uppercase();
    let base = name.split(['(', ' ']).next().unwrap_or_default();
    Ok(match base {
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "REAL" | "NUMERIC" | "DECIMAL" => {
            sql_cast(x.clone(), "REAL")
        }
        "INT" | "INT2" | "INT4" | "INT8" | "INTEGER" | "BIGINT" | "SMALLINT" => {
            sql_cast(x.clone(), "INTEGER")
        }
        "BOOL" | "BOOLEAN" => match string_literal(x).map(|s| s.to_ascii_lowercase()) {
            Some(s) => number(if matches!(s.as_str(), "t" | "true" | "yes" | "on" | "1") {
                1.0
            } else {
                0.0
            }),
            None => sql_cast(x.clone(), "INTEGER"),
        },
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" | "UUID" => {
            sql_cast(x.clone(), "TEXT")
        }
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

/// `{a,b}` to `$.a.b` (keys quoted).
fn pg_path_to_json_path(path: &str) -> Option<String> {
    let inner = path.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut out = String::from("$");
    for key in inner.split(',') {
        let key = key.trim().trim_matches('"');
        if key.is_empty() {
            return None;
        }
        if key.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{key}]"));
        } else {
            out.push_str(&json_path_key(key)[1..]);
        }
    }
    Some(out)
}

/// `$."key"`, escaped for a JSON path.
fn json_path_key(key: &str) -> String {
    format!("$.\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
}

fn now() -> Expr {
    ts(string("now"), vec![])
}

/// `strftime(TIMESTAMP_FORMAT, x, modifiers...)`: a timestamp in the store's text form.
/// A timestamp shifted again folds into one call.
fn ts(x: Expr, modifiers: Vec<Expr>) -> Expr {
    if let Expr::Function(f) = &x {
        if function_name(f) == "strftime" {
            if let Some(mut args) = plain_args(f) {
                if args.first().and_then(string_literal).as_deref() == Some(TIMESTAMP_FORMAT) {
                    args.extend(modifiers);
                    return call("strftime", args);
                }
            }
        }
    }
    let mut args = vec![string(TIMESTAMP_FORMAT), x];
    args.extend(modifiers);
    call("strftime", args)
}

fn sql_cast(x: Expr, type_name: &str) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(x),
        data_type: DataType::Custom(ObjectName::from(vec![Ident::new(type_name)]), vec![]),
        format: None,
    }
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        within_group: vec![],
        filter: None,
        null_treatment: None,
        over: None,
    })
}

fn string(s: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::SingleQuotedString(s.to_owned())))
}

/// A real literal (`86400.0`, not `86400`), so that divisions stay real as in PostgreSQL.
fn number(n: f64) -> Expr {
    if n.is_finite() && n.fract() == 0.0 {
        number_text(&format!("{n:.1}"))
    } else {
        number_text(&format!("{n}"))
    }
}

fn number_text(text: &str) -> Expr {
    Expr::Value(ValueWithSpan::from(Value::Number(text.to_owned(), false)))
}

fn string_literal(e: &Expr) -> Option<String> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s)
            | Value::EscapedStringLiteral(s)
            | Value::DoubleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

fn function_name(f: &Function) -> String {
    f.name.to_string().to_ascii_lowercase()
}

/// The plain positional arguments of a call; `None` for `f` written without parentheses.
fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    match &f.args {
        FunctionArguments::List(list) => Some(
            list.args
                .iter()
                .filter_map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sql: &str) -> String {
        translate(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    #[test]
    fn intervals() {
        let i = |s: &str| {
            let Expr::Interval(i) = Parser::new(&PostgreSqlDialect {})
                .try_with_sql(s)
                .unwrap()
                .parse_expr()
                .unwrap()
            else {
                panic!("not an interval")
            };
            interval_seconds(&parse_interval(&i).unwrap())
        };
        assert_eq!(i("INTERVAL '30 days'"), 30.0 * 86_400.0);
        assert_eq!(i("INTERVAL '1 day 2 hours'"), 86_400.0 + 7_200.0);
        assert_eq!(i("INTERVAL '1.5h'"), 5_400.0);
        assert_eq!(i("INTERVAL '250 ms'"), 0.25);
        assert_eq!(i("INTERVAL '2' HOUR"), 7_200.0);
    }

    #[test]
    fn timestamps_and_intervals() {
        assert_eq!(
            t("SELECT NOW()"),
            "SELECT strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')"
        );
        assert_eq!(
            t("SELECT MAX(timestamp) - MIN(timestamp) FROM traces"),
            "SELECT ((julianday(MAX(timestamp)) - julianday(MIN(timestamp))) * 86400.0) FROM traces"
        );
        assert_eq!(
            t("SELECT EXTRACT(EPOCH FROM end_time - timestamp) FROM traces"),
            "SELECT ((julianday(end_time) - julianday(timestamp)) * 86400.0) FROM traces"
        );
        assert_eq!(
            t("SELECT * FROM traces WHERE timestamp >= '2026-01-01'"),
            "SELECT * FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%f000Z', '2026-01-01')"
        );
        assert_eq!(
            t("SELECT timestamp + latency_ms * INTERVAL '1 millisecond' FROM traces"),
            "SELECT strftime('%Y-%m-%dT%H:%M:%f000Z', timestamp, printf('%+.6f seconds', latency_ms * 0.001)) FROM traces"
        );
        assert_eq!(t("SELECT INTERVAL '1 hour' / 2"), "SELECT 3600.0 / 2");
    }

    #[test]
    fn aliases_of_timestamps_are_timestamps() {
        assert_eq!(
            t("SELECT last - first FROM (SELECT MIN(timestamp) AS first, MAX(end_time) AS last FROM traces) s"),
            "SELECT ((julianday(last) - julianday(first)) * 86400.0) FROM (SELECT MIN(timestamp) AS first, MAX(end_time) AS last FROM traces) s"
        );
    }

    #[test]
    fn json_casts_and_functions() {
        assert_eq!(
            t("SELECT (metadata->>'n')::float, metadata #>> '{a,b}' FROM traces WHERE metadata ? 'a'"),
            "SELECT CAST((metadata ->> 'n') AS REAL), metadata ->> '$.\"a\".\"b\"' FROM traces WHERE json_type(metadata, '$.\"a\"') IS NOT NULL"
        );
        assert_eq!(
            t("SELECT name FROM traces WHERE 'prod' = ANY(tags) AND name ILIKE 'a%'"),
            "SELECT name FROM traces WHERE observe_array_contains(tags, 'prod') AND lower(name) LIKE lower('a%')"
        );
        assert_eq!(
            t("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FROM traces"),
            "SELECT observe_percentile_cont(latency_ms, 0.95) FROM traces"
        );
        assert_eq!(
            t("SELECT date_trunc('day', timestamp) AS d, COUNT(*) FROM traces GROUP BY 1"),
            "SELECT strftime('%Y-%m-%dT00:00:00.000000Z', timestamp) AS d, COUNT(*) FROM traces GROUP BY 1"
        );
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        assert!(matches!(
            translate("DROP TABLE traces"),
            Err(SqlError::NotAQuery(_))
        ));
        assert!(matches!(
            translate("SELECT 1; SELECT 2"),
            Err(SqlError::NotAQuery(_))
        ));
        assert!(matches!(
            translate("SELECT DISTINCT ON (user_id) user_id FROM traces"),
            Err(SqlError::Unsupported(_))
        ));
        assert!(matches!(translate("SELEC 1"), Err(SqlError::Parse(_))));
    }
}
