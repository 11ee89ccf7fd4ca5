//! `observe sessions` and `observe traces` on PostgreSQL: the SQLite store's listings
//! ([`Store::sessions_list`](crate::Store::sessions_list),
//! [`Store::traces_list`](crate::Store::traces_list)) with the same columns, values and
//! order.

use std::collections::HashMap;

use postgres::types::ToSql;
use rusqlite::types::Value as SqlValue;

use crate::postgres::PgStore;
use crate::queries::{Since, TimeUnit, TraceFilter};
use crate::sql::{RowSink, SqlError, Table};

impl PgStore {
    /// Sessions, the most recently active first, at most `limit`: the columns of
    /// [`Store::sessions_list`](crate::Store::sessions_list).
    pub fn sessions_list(&mut self, limit: u32, sink: &mut dyn RowSink) -> Result<(), SqlError> {
        // The page is chosen from the totals alone; the errors and the users (a look into
        // each trace) are worked out for its sessions only. Users are joined in the order
        // SQLite's group_concat meets them: first trace first.
        let mut page = Table {
            columns: Vec::new(),
            rows: Vec::new(),
        };
        self.stream(
            "SELECT s.session, s.traces, s.duration_ms, s.cost, s.computed_cost,
                    (SELECT COUNT(*) FROM traces t
                     WHERE t.session_id = s.session AND EXISTS (SELECT 1 FROM observations o
                         WHERE o.trace_seq = t.seq AND o.level = 'ERROR')) AS errors,
                    (SELECT string_agg(u.user_id, ',' ORDER BY u.first)
                     FROM (SELECT user_id, MIN(seq) AS first FROM traces t
                           WHERE t.session_id = s.session AND t.user_id IS NOT NULL
                           GROUP BY user_id) u) AS user,
                    s.last_seen
             FROM (SELECT session_id AS session,
                          COUNT(*) AS traces,
                          (MAX(end_ns) - MIN(start_ns)) / 1e6::float8 AS duration_ms,
                          SUM(calculated_total_cost) AS cost,
                          SUM(computed_cost) AS computed_cost,
                          MAX(end_time) AS last_seen,
                          MAX(end_ns) AS last_ns
                   FROM traces
                   WHERE session_id IS NOT NULL
                   GROUP BY session_id
                   ORDER BY MAX(end_ns) DESC
                   LIMIT $1) s
             ORDER BY s.last_ns DESC",
            &[&i64::from(limit)],
            &mut page,
        )?;
        self.sum_costs_as_sqlite(&mut page)?;
        sink.columns(&page.columns).map_err(SqlError::Output)?;
        for row in page.rows {
            if !sink.row(row).map_err(SqlError::Output)? {
                break;
            }
        }
        Ok(())
    }

    /// Replaces the `cost` and `computed_cost` of each session of `page` (columns 0, 3
    /// and 4) by the sums SQLite's `SUM` gives: its traces' costs in store order, added
    /// with compensation for rounding (Kahan-Babuska-Neumaier, as SQLite does), so that
    /// 0.1 + 0.2 + 0.3 is 0.6 on both stores and not PostgreSQL's 0.6000000000000001.
    fn sum_costs_as_sqlite(&mut self, page: &mut Table) -> Result<(), SqlError> {
        let sessions: Vec<String> = page
            .rows
            .iter()
            .filter_map(|row| match row.first() {
                Some(SqlValue::Text(id)) => Some(id.clone()),
                _ => None,
            })
            .collect();
        let rows = self
            .client()
            .query(
                "SELECT session_id, calculated_total_cost, computed_cost FROM traces
                 WHERE session_id = ANY($1) ORDER BY session_id, seq",
                &[&sessions],
            )
            .map_err(|e| SqlError::from(crate::postgres::PgReadError::statement(&e)))?;
        let mut sums: HashMap<String, (CompensatedSum, CompensatedSum)> = HashMap::new();
        for row in &rows {
            let (cost, computed): (f64, f64) = (row.get(1), row.get(2));
            let sum = sums.entry(row.get(0)).or_default();
            sum.0.add(cost);
            sum.1.add(computed);
        }
        for row in &mut page.rows {
            let Some(SqlValue::Text(id)) = row.first() else {
                continue;
            };
            if let Some((cost, computed)) = sums.get(id) {
                row[3] = SqlValue::Real(cost.total());
                row[4] = SqlValue::Real(computed.total());
            }
        }
        Ok(())
    }

    /// The traces that pass `filter`, the most recent first, at most `limit`: the columns
    /// of [`Store::traces_list`](crate::Store::traces_list).
    pub fn traces_list(
        &mut self,
        filter: &TraceFilter,
        limit: u32,
        sink: &mut dyn RowSink,
    ) -> Result<(), SqlError> {
        let (sql, args) = traces_query(filter, limit);
        let params: Vec<&(dyn ToSql + Sync)> =
            args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
        self.stream(&sql, &params, sink)
    }
}

/// A sum of floating-point numbers with its rounding error carried along, as SQLite's
/// `SUM` adds reals.
#[derive(Debug, Default)]
struct CompensatedSum {
    sum: f64,
    error: f64,
}

impl CompensatedSum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        self.error += if self.sum.abs() > x.abs() {
            (self.sum - t) + x
        } else {
            (x - t) + self.sum
        };
        self.sum = t;
    }

    fn total(&self) -> f64 {
        self.sum + self.error
    }
}

/// One argument of a listing.
#[derive(Debug)]
enum Arg {
    Text(String),
    Integer(i64),
}

impl ToSql for Arg {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Arg::Text(t) => t.to_sql(ty, out),
            Arg::Integer(n) => n.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <String as ToSql>::accepts(ty) || <i64 as ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

/// The SQL of [`PgStore::traces_list`] with this filter, and its arguments.
fn traces_query(f: &TraceFilter, limit: u32) -> (String, Vec<Arg>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    let mut bind = |arg: Arg| {
        args.push(arg);
        format!("${}", args.len())
    };
    if let Some(user) = &f.user {
        conditions.push(format!("user_id = {}", bind(Arg::Text(user.clone()))));
    }
    if let Some(session) = &f.session {
        conditions.push(format!("session_id = {}", bind(Arg::Text(session.clone()))));
    }
    if let Some(tag) = &f.tag {
        conditions.push(format!(
            "{}::text = ANY(tags)",
            bind(Arg::Text(tag.clone()))
        ));
    }
    if let Some(name) = &f.name {
        conditions.push(format!("name = {}", bind(Arg::Text(name.clone()))));
    }
    if let Some(level) = f.level {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM observations o WHERE o.trace_seq = traces.seq AND o.level = {})",
            bind(Arg::Text(level.as_str().to_owned()))
        ));
    }
    if let Some(since) = &f.since {
        let from = match since {
            Since::Ago(n, unit) => {
                let seconds = n.saturating_mul(match unit {
                    TimeUnit::Seconds => 1,
                    TimeUnit::Minutes => 60,
                    TimeUnit::Hours => 3600,
                    TimeUnit::Days => 86_400,
                });
                format!(
                    "now() - {}::bigint * INTERVAL '1 second'",
                    bind(Arg::Integer(i64::try_from(seconds).unwrap_or(i64::MAX)))
                )
            }
            Since::Date(date) => format!("{}::text::timestamptz", bind(Arg::Text(date.clone()))),
        };
        conditions.push(format!("\"timestamp\" >= {from}"));
    }
    let conditions = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let limit = bind(Arg::Integer(limit.into()));
    let sql = format!(
        "SELECT id, name, user_id AS user, session_id AS session, \"timestamp\" AS started,
                latency_ms, calculated_total_cost AS cost, computed_cost,
                observation_count AS observations,
                EXISTS (SELECT 1 FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')::int AS errors,
                (SELECT COUNT(*) FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR') AS failed_observations,
                to_json(tags)::text AS tags
         FROM traces {conditions}
         ORDER BY start_ns DESC
         LIMIT {limit}"
    );
    (sql, args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use observe_model::model::Level;

    #[test]
    fn sums_carry_their_rounding_error_as_sqlite_does() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for terms in [
            vec![0.1, 0.2, 0.3],
            vec![0.1, 0.2],
            vec![1e16, 1.0, -1e16, 0.001],
        ] {
            let mut sum = CompensatedSum::default();
            terms.iter().for_each(|&x| sum.add(x));
            let values = vec!["(?)"; terms.len()].join(",");
            let sqlite: f64 = conn
                .query_row(
                    &format!("SELECT SUM(column1) FROM (VALUES {values})"),
                    rusqlite::params_from_iter(&terms),
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(sum.total().to_bits(), sqlite.to_bits(), "{terms:?}");
        }
    }

    #[test]
    fn every_filter_is_bound_in_order() {
        let (sql, args) = traces_query(
            &TraceFilter {
                user: Some("u".into()),
                tag: Some("t".into()),
                level: Some(Level::Error),
                since: Some(Since::Ago(2, TimeUnit::Days)),
                ..TraceFilter::default()
            },
            9,
        );
        assert!(
            sql.contains("WHERE user_id = $1 AND $2::text = ANY(tags)"),
            "{sql}"
        );
        assert!(
            sql.contains("now() - $4::bigint * INTERVAL '1 second'"),
            "{sql}"
        );
        assert!(sql.contains("LIMIT $5"), "{sql}");
        assert!(matches!(args[3], Arg::Integer(172_800)));
        assert!(matches!(args[4], Arg::Integer(9)));
    }
}
