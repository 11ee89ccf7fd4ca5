//! `observe sessions` and `observe traces`: the most recent first, as tables of rows the
//! store's indexes find.

use anyhow::{bail, Result};
use observe_cli::sql::TIMESTAMP_FORMAT;
use observe_store::Store;
use rusqlite::types::Value;

use crate::cli_args::TraceFilters;
use crate::output::{Cells, Output, Rows};

/// `observe sessions`: each session's traces, duration, cost, users and last activity.
pub fn sessions(store: &mut Store, out: &Output, limit: u32) -> Result<()> {
    listing(
        store,
        out,
        "SELECT session_id AS session,
                COUNT(*) AS traces,
                (MAX(end_ns) - MIN(start_ns)) / 1e6 AS duration_ms,
                SUM(calculated_total_cost) AS cost,
                SUM(computed_cost) AS computed_cost,
                group_concat(DISTINCT user_id) AS user,
                MAX(end_time) AS last_seen
         FROM traces
         WHERE session_id IS NOT NULL
         GROUP BY session_id
         ORDER BY MAX(end_ns) DESC
         LIMIT ?1",
        &[Value::Integer(limit.into())],
        "no sessions yet: set a session id with \
         update_current_trace(TraceUpdate::new().session_id(...))\n",
    )
}

/// `observe traces`: the traces that pass `f`, with their observations and errors counted.
pub fn traces(store: &mut Store, out: &Output, f: &TraceFilters, limit: u32) -> Result<()> {
    let (sql, args) = traces_query(f, limit)?;
    listing(store, out, &sql, &args, "no traces match\n")
}

/// Rows observe chose the columns of, shown formatted, or `empty` when there are none.
fn listing(store: &mut Store, out: &Output, sql: &str, args: &[Value], empty: &str) -> Result<()> {
    out.rows(
        store.connection_mut(),
        &Rows {
            sql,
            args,
            timeout: None,
            limit: None,
            title: None,
            cells: Cells::Formatted,
            empty: Some(empty),
        },
    )
}

/// The SQL of `observe traces` with these filters, and its arguments.
fn traces_query(f: &TraceFilters, limit: u32) -> Result<(String, Vec<Value>)> {
    let mut conditions = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    let mut bind = |condition: &str, value: String| {
        args.push(Value::Text(value));
        conditions.push(condition.replace('?', &format!("?{}", args.len())));
    };
    if let Some(user) = &f.user {
        bind("user_id = ?", user.clone());
    }
    if let Some(session) = &f.session {
        bind("session_id = ?", session.clone());
    }
    if let Some(tag) = &f.tag {
        bind("observe_array_contains(tags, ?)", tag.clone());
    }
    if let Some(name) = &f.name {
        bind("name = ?", name.clone());
    }
    if let Some(level) = f.level {
        bind(
            "EXISTS (SELECT 1 FROM observations o WHERE o.trace_seq = traces.seq AND o.level = ?)",
            level.as_str().to_owned(),
        );
    }
    if let Some(since) = &f.since {
        let (base, modifier) = since_modifiers(since)?;
        args.push(Value::Text(base));
        args.push(Value::Text(modifier));
        conditions.push(format!(
            "timestamp >= strftime('{TIMESTAMP_FORMAT}', ?{}, ?{})",
            args.len() - 1,
            args.len()
        ));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    args.push(Value::Integer(limit.into()));
    let sql = format!(
        "SELECT id, name, user_id AS user, session_id AS session, timestamp AS started,
                latency_ms, calculated_total_cost AS cost, computed_cost,
                observation_count AS observations,
                (SELECT COUNT(*) FROM observations o
                 WHERE o.trace_seq = traces.seq AND o.level = 'ERROR') AS errors,
                tags
         FROM traces {filter}
         ORDER BY start_ns DESC
         LIMIT ?{}",
        args.len()
    );
    Ok((sql, args))
}

/// `7d`, `24h`, `30m`, `2w`, `90s` back from now; else a date or date-time SQLite reads.
fn since_modifiers(since: &str) -> Result<(String, String)> {
    let s = since.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if let Ok(n) = digits.parse::<u64>() {
        let modifier = match unit {
            "s" => format!("-{n} seconds"),
            "m" | "min" => format!("-{n} minutes"),
            "h" => format!("-{n} hours"),
            "d" => format!("-{n} days"),
            "w" => format!("-{} days", n * 7),
            _ if unit.is_empty() => bail!("--since {since}: add a unit: s, m, h, d or w (e.g. 7d)"),
            _ => {
                if !looks_like_date(s) {
                    bail!("--since {since}: expected a duration like 30m, 24h, 7d or a date like 2026-01-31")
                }
                return Ok((s.to_owned(), "+0 seconds".to_owned()));
            }
        };
        return Ok(("now".to_owned(), modifier));
    }
    bail!("--since {since}: expected a duration like 30m, 24h, 7d or a date like 2026-01-31")
}

fn looks_like_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite plans `observe traces` with `f` on a store (one line per step).
    fn plan(f: &TraceFilters) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        drop(observe_store::StoreExporter::open(&path).unwrap());
        let store = Store::open(&path).unwrap();
        let (sql, args) = traces_query(f, 50).unwrap();
        let mut stmt = store
            .connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        stmt.query_map(rusqlite::params_from_iter(&args), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// `--user` and `--since` find their traces through an index, so their cost follows the
    /// traces that match, not the size of the store.
    #[test]
    fn user_and_since_filters_go_through_an_index() {
        let user = plan(&TraceFilters {
            user: Some("u".into()),
            ..TraceFilters::default()
        });
        assert!(
            user.iter()
                .any(|step| step.contains("USING INDEX traces_user")),
            "{user:?}"
        );
        let since = plan(&TraceFilters {
            since: Some("7d".into()),
            ..TraceFilters::default()
        });
        assert!(
            since
                .iter()
                .any(|step| step.contains("USING INDEX traces_timestamp")),
            "{since:?}"
        );
    }
}
