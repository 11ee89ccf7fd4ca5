//! The seed's four analytics queries, in PostgreSQL as a Langfuse user writes them, run by
//! the translator on a real store file; expected numbers worked out by hand from the fixture
//! table in `common/mod.rs`.

use crate::common;

use observe_cli::reports::Report;
use observe_store::sql::{self, Table, Value};
use observe_store::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    common::write_fixture(&path);
    let store = Store::open(&path).unwrap();
    (dir, store)
}

fn run(store: &Store, query: &str) -> Table {
    sql::query(store, query).unwrap_or_else(|e| panic!("{query}\n{e}"))
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Integer(i) => *i as f64,
        Value::Real(f) => *f,
        other => panic!("not a number: {other:?}"),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Text(t) => Some(t.clone()),
        Value::Null => None,
        other => panic!("not text: {other:?}"),
    }
}

fn close(actual: f64, expected: f64, tolerance: f64) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not {expected} (± {tolerance})"
    );
}

/// (key, numbers...) of each row, in order.
fn rows(table: &Table, key: &str, numbers: &[&str]) -> Vec<(Option<String>, Vec<f64>)> {
    let k = table.column(key).unwrap();
    let cols: Vec<usize> = numbers
        .iter()
        .map(|c| table.column(c).unwrap_or_else(|| panic!("no column {c}")))
        .collect();
    table
        .rows
        .iter()
        .map(|r| (text(&r[k]), cols.iter().map(|&c| num(&r[c])).collect()))
        .collect()
}

fn check(actual: &[(Option<String>, Vec<f64>)], expected: &[(Option<&str>, &[f64])]) {
    assert_eq!(
        actual.iter().map(|r| r.0.as_deref()).collect::<Vec<_>>(),
        expected.iter().map(|r| r.0).collect::<Vec<_>>(),
        "row order"
    );
    for (a, e) in actual.iter().zip(expected) {
        for (x, y) in a.1.iter().zip(e.1) {
            // Durations (≥ 100 ms here) computed from timestamp text go through julianday:
            // within a millisecond. Counts and costs: exact up to float rounding.
            let tolerance = if *y >= 100.0 { 1.0 } else { 1e-9 };
            close(*x, *y, tolerance);
        }
    }
}

/// (a) Performance by user over the last 30 days. t4 (40 days ago) is left out.
/// alice: t1, t2, t3 → 3 traces, avg (1000 + 2000 + 3000) / 3 = 2000 ms, cost 0.60
/// dave: d1..d6 → 6 traces, avg 3000 ms, cost 6 × 0.02 = 0.12
/// bob: t5, t6 → 2 traces, avg (4000 + 8000) / 2 = 6000 ms, cost 0.10
/// carol: c1..c5 → 5 traces, avg (500 + … + 2500) / 5 = 1500 ms, cost 0.05
/// no user: anon → 1 trace, 100 ms, cost 0
#[test]
fn a_performance_by_user() {
    let (_dir, store) = store();
    let expected: &[(Option<&str>, &[f64])] = &[
        (Some("alice"), &[3.0, 2000.0, 0.60]),
        (Some("dave"), &[6.0, 3000.0, 0.12]),
        (Some("bob"), &[2.0, 6000.0, 0.10]),
        (Some("carol"), &[5.0, 1500.0, 0.05]),
        (None, &[1.0, 100.0, 0.0]),
    ];
    let cols = ["traces", "avg_latency_ms", "total_cost"];
    check(
        &rows(&run(&store, &Report::Users.sql()), "user_id", &cols),
        expected,
    );

    // The same question, written the way many Langfuse users write it.
    let variant = run(
        &store,
        "SELECT user_id,
                COUNT(*) AS traces,
                AVG(latency_ms)::float AS avg_latency_ms,
                ROUND(SUM(calculated_total_cost)::numeric, 2) AS total_cost
         FROM traces
         WHERE timestamp >= NOW() - INTERVAL '30 days'
         GROUP BY user_id
         ORDER BY total_cost DESC NULLS LAST",
    );
    check(&rows(&variant, "user_id", &cols), expected);
}

/// (b) By content type over the last 30 days; dave's and anon's traces have none.
/// audio: c1..c5 → 5, avg 1500 ms, avg cost 0.01
/// article: t1, t2, t3 → 3, avg 2000 ms, avg cost (0.10 + 0.20 + 0.30) / 3 = 0.20
/// video: t5, t6 → 2, avg 6000 ms, avg cost 0.05
#[test]
fn b_performance_by_content_type() {
    let (_dir, store) = store();
    let expected: &[(Option<&str>, &[f64])] = &[
        (Some("audio"), &[5.0, 1500.0, 0.01]),
        (Some("article"), &[3.0, 2000.0, 0.20]),
        (Some("video"), &[2.0, 6000.0, 0.05]),
    ];
    let cols = ["traces", "avg_latency_ms", "avg_cost"];
    check(
        &rows(
            &run(&store, &Report::ContentTypes.sql()),
            "content_type",
            &cols,
        ),
        expected,
    );
    let variant = run(
        &store,
        "SELECT metadata->>'content_type' AS content_type, COUNT(DISTINCT id) AS traces,
                AVG(latency_ms) AS avg_latency_ms, AVG(calculated_total_cost) AS avg_cost
         FROM traces
         WHERE timestamp > CURRENT_TIMESTAMP - INTERVAL '30 days'
         GROUP BY 1
         HAVING metadata->>'content_type' IS NOT NULL
         ORDER BY traces DESC",
    );
    check(&rows(&variant, "content_type", &cols), expected);
}

/// (c) Slowest sessions of the last 7 days (a2, c*, d*, a_old are older; anon has none).
/// b1: t5 from S to S+4 s, t6 from S+1 s to S+9 s → 9000 ms, cost 0.10, 2 traces
/// a1: t1 from S to S+1 s, t2 from S+5 s to S+7 s → 7000 ms, cost 0.30, 2 traces
#[test]
fn c_slowest_sessions() {
    let (_dir, store) = store();
    let expected: &[(Option<&str>, &[f64])] = &[
        (Some("b1"), &[9000.0, 0.10, 2.0]),
        (Some("a1"), &[7000.0, 0.30, 2.0]),
    ];
    let table = run(&store, &Report::SlowSessions.sql());
    check(
        &rows(
            &table,
            "session_id",
            &["duration_ms", "total_cost", "traces"],
        ),
        expected,
    );
    // The session's start is its first trace's start, its end the last trace's end.
    let started = text(&table.rows[0][table.column("started").unwrap()]).unwrap();
    let ended = text(&table.rows[0][table.column("ended").unwrap()]).unwrap();
    assert!(started < ended, "{started} < {ended}");
    // Printed as PostgreSQL prints a timestamptz: `2026-01-01 00:00:00.123+00`.
    assert!(
        started.as_bytes()[10] == b' ' && started.ends_with("+00") && !started.contains('T'),
        "{started}"
    );

    // Summed trace latency, the simpler form some users write: b1 4000 + 8000, a1 1000 + 2000.
    let variant = run(
        &store,
        "SELECT session_id, MIN(timestamp) AS first_trace, MAX(timestamp) AS last_trace,
                SUM(latency_ms) AS total_latency_ms, SUM(calculated_total_cost) AS total_cost,
                COUNT(*) AS traces
         FROM traces
         WHERE timestamp > NOW() - INTERVAL '7 days' AND session_id IS NOT NULL
         GROUP BY session_id
         ORDER BY total_latency_ms DESC
         LIMIT 10",
    );
    check(
        &rows(
            &variant,
            "session_id",
            &["total_latency_ms", "total_cost", "traces"],
        ),
        &[
            (Some("b1"), &[12000.0, 0.10, 2.0]),
            (Some("a1"), &[3000.0, 0.30, 2.0]),
        ],
    );
}

/// (d) Users with the highest average session latency and at least 5 sessions (all time).
/// dave: 6 sessions of 3000 ms → avg 3000, cost 0.12
/// carol: 5 sessions of 500..2500 ms → avg 1500, cost 0.05
/// alice (3 sessions: a1 7000, a2 3000, a_old 9000) and bob (1) have fewer than 5.
#[test]
fn d_slowest_users_with_five_sessions() {
    let (_dir, store) = store();
    let expected: &[(Option<&str>, &[f64])] = &[
        (Some("dave"), &[6.0, 3000.0, 0.12]),
        (Some("carol"), &[5.0, 1500.0, 0.05]),
    ];
    let cols = ["sessions", "avg_session_latency_ms", "total_cost"];
    check(
        &rows(&run(&store, &Report::SlowUsers.sql()), "user_id", &cols),
        expected,
    );

    let variant = run(
        &store,
        "WITH per_session AS (
             SELECT user_id, session_id,
                    EXTRACT(EPOCH FROM (MAX(end_time) - MIN(timestamp))) * 1000 AS session_latency_ms,
                    SUM(calculated_total_cost) AS total_cost
             FROM traces
             WHERE session_id IS NOT NULL
             GROUP BY user_id, session_id
         )
         SELECT user_id, COUNT(*) AS sessions, AVG(session_latency_ms) AS avg_session_latency_ms,
                SUM(total_cost) AS total_cost
         FROM per_session
         GROUP BY user_id
         HAVING COUNT(*) >= 5
         ORDER BY avg_session_latency_ms DESC",
    );
    check(&rows(&variant, "user_id", &cols), expected);
}

/// Tags, JSON paths and percentiles, as Langfuse users filter.
#[test]
fn tags_json_and_percentiles() {
    let (_dir, store) = store();
    let t = run(
        &store,
        "SELECT COUNT(*) AS n FROM traces WHERE 'fixture' = ANY(tags) AND metadata ? 'content_type'",
    );
    // All 18 traces are tagged; t1..t6 (6) and c1..c5 (5) carry a content type: 11.
    assert_eq!(num(&t.rows[0][0]), 11.0);
    let p = run(
        &store,
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50
         FROM traces WHERE user_id = 'carol'",
    );
    // carol: 500, 1000, 1500, 2000, 2500 → median 1500.
    close(num(&p.rows[0][0]), 1500.0, 1e-9);
}
