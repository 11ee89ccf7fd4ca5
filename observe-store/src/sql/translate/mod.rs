//! PostgreSQL to SQLite, in three passes over `sqlparser`'s syntax tree: the names of
//! timestamp aliases, then the rewrite of each expression, then the intervals left over.

mod casts;
mod datetime;
mod json_ops;
mod rewrite;
mod syntax;
mod types;

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, SelectItem, Statement, VisitMut, VisitorMut};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::sql::error::SqlError;
use datetime::{interval_seconds, parse_interval};
use rewrite::Rewriter;
use syntax::number;
use types::{ty, Ty, TIMESTAMP_COLUMNS};

pub use syntax::TIMESTAMP_FORMAT;

/// Translates one PostgreSQL `SELECT` (or `WITH ... SELECT`) into SQLite SQL.
///
/// ```
/// use observe_store::sql::translate;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(sql: &str) -> String {
        translate(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
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
