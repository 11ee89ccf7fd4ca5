//! `observe sessions` and `observe traces` on PostgreSQL: the SQLite store's listings
//! ([`Store::sessions_list`](crate::Store::sessions_list),
//! [`Store::traces_list`](crate::Store::traces_list)) with the same columns, values and
//! order.

use postgres::types::{ToSql, Type};
use rusqlite::types::Value as SqlValue;

use crate::postgres::reader::values;
use crate::postgres::PgStore;
use crate::queries::{Since, TimeUnit, TraceFilter};
use crate::sql::{RowSink, SqlError};

impl PgStore {
    /// Sessions, the most recently active first, at most `limit`: the columns of
    /// [`Store::sessions_list`](crate::Store::sessions_list).
    pub fn sessions_list(&mut self, limit: u32, sink: &mut dyn RowSink) -> Result<(), SqlError> {
        // The page is chosen by the walk alone; the errors and the users (a look into
        // each trace) are worked out for its sessions only, in the same statement as
        // their totals (one round trip). Users are joined in the order SQLite's
        // group_concat meets them: first trace first. Each session's costs come along
        // in store order, to be summed as SQLite sums them.
        let sessions = self.newest_sessions(limit)?;
        let failed =
            |e: postgres::Error| SqlError::from(crate::postgres::PgReadError::statement(&e));
        let rows = self
            .client()
            .query_typed(
                "SELECT s.session, s.traces, s.duration_ms, s.cost, s.computed_cost,
                        (SELECT COUNT(*) FROM traces t
                         WHERE t.session_id = s.session AND EXISTS (SELECT 1 FROM observations o
                             WHERE o.trace_seq = t.seq AND o.level = 'ERROR')) AS errors,
                        (SELECT string_agg(u.user_id, ',' ORDER BY u.first)
                         FROM (SELECT user_id, MIN(seq) AS first FROM traces t
                               WHERE t.session_id = s.session AND t.user_id IS NOT NULL
                               GROUP BY user_id) u) AS user,
                        s.last_seen, s.costs, s.computed_costs
                 FROM (SELECT session_id AS session,
                              COUNT(*) AS traces,
                              (MAX(end_ns) - MIN(start_ns)) / 1e6::float8 AS duration_ms,
                              SUM(calculated_total_cost) AS cost,
                              SUM(computed_cost) AS computed_cost,
                              MAX(end_time) AS last_seen,
                              MAX(end_ns) AS last_ns,
                              array_agg(calculated_total_cost ORDER BY seq) AS costs,
                              array_agg(computed_cost ORDER BY seq) AS computed_costs
                       FROM traces
                       WHERE session_id = ANY($1)
                       GROUP BY session_id) s
                 ORDER BY s.last_ns DESC",
                &[(&sessions, Type::TEXT_ARRAY)],
            )
            .map_err(failed)?;
        sink.columns(&SESSION_COLUMNS.map(str::to_owned))
            .map_err(SqlError::Output)?;
        for row in &rows {
            let mut values = values(row, SESSION_COLUMNS.len())?;
            let costs: Vec<f64> = row.try_get(SESSION_COLUMNS.len()).map_err(failed)?;
            let computed: Vec<f64> = row.try_get(SESSION_COLUMNS.len() + 1).map_err(failed)?;
            values[3] = SqlValue::Real(sqlite_sum(&costs));
            values[4] = SqlValue::Real(sqlite_sum(&computed));
            if !sink.row(values).map_err(SqlError::Output)? {
                break;
            }
        }
        Ok(())
    }

    /// The `limit` sessions whose last trace ended most recently, newest first.
    ///
    /// A session's place in the list is its traces' latest end, so walking traces by
    /// `end_ns` newest first (the index `traces_session_end`) meets the sessions in the
    /// list's order: the walk stops once it has met `limit` of them, having read about a
    /// page of traces (more when sessions have many recent traces), whatever the store's
    /// size. It reads in growing steps, each from where the last stopped.
    fn newest_sessions(&mut self, limit: u32) -> Result<Vec<String>, SqlError> {
        let want = limit as usize;
        let mut sessions = Vec::with_capacity(want);
        let mut seen = std::collections::HashSet::new();
        let mut after = (i64::MAX, i64::MAX);
        let mut step: i64 = i64::from(limit.clamp(1, 10_000));
        let failed =
            |e: postgres::Error| SqlError::from(crate::postgres::PgReadError::statement(&e));
        while sessions.len() < want {
            // Typed parameters: one round trip per step, no statement prepared first.
            let rows = self
                .client()
                .query_typed(
                    "SELECT session_id, end_ns, seq FROM traces
                     WHERE session_id IS NOT NULL AND (end_ns, seq) < ($1, $2)
                     ORDER BY end_ns DESC, seq DESC LIMIT $3",
                    &[
                        (&after.0, Type::INT8),
                        (&after.1, Type::INT8),
                        (&step, Type::INT8),
                    ],
                )
                .map_err(failed)?;
            for row in &rows {
                let session: String = row.try_get(0).map_err(failed)?;
                after = (
                    row.try_get(1).map_err(failed)?,
                    row.try_get(2).map_err(failed)?,
                );
                if sessions.len() < want && seen.insert(session.clone()) {
                    sessions.push(session);
                }
            }
            if (rows.len() as i64) < step {
                break;
            }
            step = step.saturating_mul(4).min(100_000);
        }
        Ok(sessions)
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

/// The columns of the sessions list, as [`Store::sessions_list`](crate::Store::sessions_list)
/// names them.
const SESSION_COLUMNS: [&str; 8] = [
    "session",
    "traces",
    "duration_ms",
    "cost",
    "computed_cost",
    "errors",
    "user",
    "last_seen",
];

/// The sum SQLite's `SUM` gives of `terms` in this order: added with compensation for
/// rounding (Kahan-Babuska-Neumaier, as SQLite does), so that 0.1 + 0.2 + 0.3 is 0.6 on
/// both stores and not PostgreSQL's 0.6000000000000001.
fn sqlite_sum(terms: &[f64]) -> f64 {
    let mut sum = CompensatedSum::default();
    terms.iter().for_each(|&x| sum.add(x));
    sum.total()
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
    // The page is chosen first, from the traces' start alone; only its traces look into
    // their observations, as in the SQLite store's listing.
    let sql = format!(
        "SELECT id, name, user_id AS user, session_id AS session, \"timestamp\" AS started,
                latency_ms, calculated_total_cost AS cost, computed_cost,
                observation_count AS observations,
                EXISTS (SELECT 1 FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR')::int AS errors,
                (SELECT COUNT(*) FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR') AS failed_observations,
                to_json(tags)::text AS tags
         FROM traces
         WHERE seq IN (SELECT seq FROM traces {conditions} ORDER BY start_ns DESC LIMIT {limit})
         ORDER BY start_ns DESC"
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
