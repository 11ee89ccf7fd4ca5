//! PostgreSQL to SQLite, in passes over `sqlparser`'s syntax tree: the types of aliases,
//! then the result columns' types and names (read before anything changes), the rewrite of
//! each expression, the intervals left over, and last the result columns printed and named
//! as PostgreSQL prints and names them.

mod casts;
mod datetime;
mod json_ops;
mod output;
mod rewrite;
mod syntax;
mod types;

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, SelectItem, Statement, VisitMut, VisitorMut};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::sql::error::SqlError;
use datetime::{interval_seconds, parse_interval};
use rewrite::Rewriter;
use syntax::number;
use types::{store_columns, ty, Names, Ty};

pub use syntax::TIMESTAMP_FORMAT;

/// Translates one PostgreSQL `SELECT` (or `WITH ... SELECT`) into SQLite SQL.
///
/// ```
/// use observe_store::sql::translate;
/// assert_eq!(
///     translate("SELECT metadata->>'content_type' AS ct FROM traces").unwrap(),
///     "SELECT observe_json_text(metadata -> 'content_type') AS ct FROM traces"
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
    let Statement::Query(query) = &mut statement else {
        return Err(SqlError::NotAQuery(
            "observe query runs SELECT statements only (the store is read-only here)".into(),
        ));
    };
    let mut aliases = AliasCollector {
        names: store_columns(),
    };
    let _ = query.visit(&mut aliases);
    output::expand_wildcards(query);
    let columns = output::plan(query, &aliases.names);
    let mut rewriter = Rewriter {
        names: aliases.names,
    };
    if let ControlFlow::Break(e) = query.visit(&mut rewriter) {
        return Err(e);
    }
    if let ControlFlow::Break(e) = query.visit(&mut LeftoverIntervals) {
        return Err(e);
    }
    output::apply(query, &columns);
    Ok(statement.to_string())
}

/// First pass: names that select lists give to typed expressions (`MIN(timestamp) AS
/// started`, `latency_ms > 1000 AS slow`), so that later references to them have the type.
struct AliasCollector {
    names: Names,
}

impl VisitorMut for AliasCollector {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut sqlparser::ast::Query) -> ControlFlow<()> {
        if let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() {
            for item in &select.projection {
                if let SelectItem::ExprWithAlias { expr, alias } = item {
                    let t = ty(expr, &self.names);
                    if t != Ty::Other {
                        self.names.insert(alias.value.to_ascii_lowercase(), t);
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
        // A timestamp computed in the store's text, printed as PostgreSQL prints it.
        assert_eq!(
            t("SELECT NOW()"),
            "SELECT observe_pg_timestamptz(strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) AS \"now\""
        );
        assert_eq!(
            t("SELECT MAX(timestamp) - MIN(timestamp) AS span FROM traces"),
            "SELECT observe_pg_interval(observe_seconds_between(MAX(timestamp), MIN(timestamp))) AS span FROM traces"
        );
        assert_eq!(
            t("SELECT EXTRACT(EPOCH FROM end_time - timestamp) AS s FROM traces"),
            "SELECT observe_seconds_between(end_time, timestamp) AS s FROM traces"
        );
        assert_eq!(
            t("SELECT id FROM traces WHERE timestamp >= '2026-01-01'"),
            "SELECT id FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%f000Z', '2026-01-01')"
        );
        assert_eq!(
            t("SELECT id FROM traces WHERE timestamp + latency_ms * INTERVAL '1 millisecond' > NOW()"),
            "SELECT id FROM traces WHERE strftime('%Y-%m-%dT%H:%M:%f000Z', timestamp, printf('%+.6f seconds', latency_ms * 0.001)) > strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')"
        );
        assert_eq!(
            t("SELECT INTERVAL '1 hour' / 2 AS half"),
            "SELECT observe_pg_interval(3600.0 / 2) AS half"
        );
    }

    #[test]
    fn dates_are_days() {
        assert_eq!(
            t("SELECT CURRENT_DATE - 3 AS d"),
            "SELECT date(date('now'), '-3 days') AS d"
        );
        assert_eq!(
            t("SELECT id FROM traces WHERE timestamp >= CURRENT_DATE - 3"),
            "SELECT id FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%f000Z', date(date('now'), '-3 days'))"
        );
        assert_eq!(
            t("SELECT CURRENT_DATE - timestamp::date AS days FROM traces"),
            "SELECT CAST(julianday(date('now')) - julianday(date(timestamp)) AS INTEGER) AS days FROM traces"
        );
    }

    #[test]
    fn results_print_and_are_named_as_postgresql_does() {
        assert_eq!(
            t("SELECT id, latency_ms > 1000, has_root, tags, metadata, COUNT(*), ID FROM traces"),
            "SELECT id, observe_pg_bool(latency_ms > 1000) AS \"?column?\", observe_pg_bool(has_root) AS \"has_root\", \
             observe_pg_array(tags) AS \"tags\", observe_pg_jsonb(metadata) AS \"metadata\", COUNT(*) AS \"count\", ID AS \"id\" FROM traces"
        );
        // An interval prints as text, but sorts by its seconds.
        assert_eq!(
            t("SELECT session_id, MAX(end_time) - MIN(timestamp) AS span FROM traces GROUP BY 1 ORDER BY span DESC"),
            "SELECT session_id, observe_pg_interval(observe_seconds_between(MAX(end_time), MIN(timestamp))) AS span \
             FROM traces GROUP BY 1 ORDER BY observe_seconds_between(MAX(end_time), MIN(timestamp)) DESC NULLS FIRST"
        );
        // `*` over a store table is spelled out, so its columns print so too.
        let all = t("SELECT * FROM scores s");
        assert!(
            all.starts_with("SELECT \"id\", \"trace_id\", ")
                && all.contains(", observe_pg_timestamptz(\"timestamp\") AS \"timestamp\"")
                && all.ends_with(" FROM scores s"),
            "{all}"
        );
        assert_eq!(
            t("SELECT * FROM traces JOIN scores ON scores.trace_id = traces.id"),
            "SELECT * FROM traces JOIN scores ON scores.trace_id = traces.id"
        );
        // Inner queries keep the store's forms, which compare and sort as the types do.
        assert_eq!(
            t("SELECT d FROM (SELECT date_trunc('day', timestamp) AS d FROM traces) s ORDER BY d DESC"),
            "SELECT observe_pg_timestamptz(d) AS \"d\" FROM (SELECT NULLIF(substr(timestamp, 1, 10), '') || 'T00:00:00.000000Z' AS d FROM traces) s ORDER BY d DESC NULLS FIRST"
        );
    }

    #[test]
    fn aliases_of_timestamps_are_timestamps() {
        assert_eq!(
            t("SELECT EXTRACT(EPOCH FROM last - first) AS s FROM (SELECT MIN(timestamp) AS first, MAX(end_time) AS last FROM traces) s"),
            "SELECT observe_seconds_between(last, first) AS s FROM (SELECT MIN(timestamp) AS first, MAX(end_time) AS last FROM traces) s"
        );
    }

    #[test]
    fn json_casts_and_functions() {
        assert_eq!(
            t("SELECT (metadata->>'n')::float AS n, metadata #>> '{a,b}' AS ab FROM traces WHERE metadata ? 'a'"),
            "SELECT CAST((observe_json_text(metadata -> 'n')) AS REAL) AS n, observe_json_text(metadata -> '$.\"a\".\"b\"') AS ab FROM traces WHERE json_type(metadata, '$.\"a\"') IS NOT NULL"
        );
        assert_eq!(
            t("SELECT name FROM traces WHERE 'prod' = ANY(tags) AND name ILIKE 'a%'"),
            "SELECT name FROM traces WHERE observe_array_contains(tags, 'prod') AND observe_like(name, 'a%', '\\', 1)"
        );
        assert_eq!(
            t("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p FROM traces"),
            "SELECT observe_percentile_cont(latency_ms, 0.95) AS p FROM traces"
        );
        assert_eq!(
            t("SELECT date_trunc('day', timestamp) AS d, COUNT(*) AS n FROM traces GROUP BY 1"),
            "SELECT observe_pg_timestamptz(NULLIF(substr(timestamp, 1, 10), '') || 'T00:00:00.000000Z') AS d, COUNT(*) AS n FROM traces GROUP BY 1"
        );
        // Weeks start on Mondays, which the text does not say; anything but a stored
        // column may not be in the store's form.
        assert_eq!(
            t("SELECT date_trunc('week', o.start_time) AS w, date_trunc('hour', '2026-01-01 10:30:00+02'::timestamptz) AS h FROM observations o"),
            "SELECT observe_pg_timestamptz(strftime('%Y-%m-%dT00:00:00.000000Z', o.start_time, '-6 days', 'weekday 1')) AS w, \
             observe_pg_timestamptz(strftime('%Y-%m-%dT%H:00:00.000000Z', strftime('%Y-%m-%dT%H:%M:%f000Z', '2026-01-01 10:30:00+02'))) AS h FROM observations o"
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
