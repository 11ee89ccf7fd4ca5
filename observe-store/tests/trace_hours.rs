//! The dashboard's hourly roll-up (`trace_hours`) says what grouping the traces themselves
//! says, after every kind of write: the exporter's batches (new traces and merges), `observe
//! serve`'s pieces for several projects, traces moved to another hour, project, environment
//! or release by hand, and deleted traces; and a file of the version before it gets it from
//! its traces when a writer opens it. Real SQLite files throughout.

mod user_totals_cases;

use observe_model::export::Exporter;
use observe_store::{Store, StoreExporter};
use user_totals_cases::{batches, piece_requests, Dice, HAND_EDITS};

/// Edits that move traces between roll-up rows in ways the writers of this build do not.
const ROLLUP_EDITS: [&str; 5] = [
    "UPDATE traces SET environment = 'staging' WHERE seq % 6 = 1",
    "UPDATE traces SET release = 'v2', calculated_total_cost = calculated_total_cost + 1
     WHERE seq % 8 = 3",
    "UPDATE traces SET name = NULL WHERE seq % 10 = 7",
    "UPDATE traces SET timestamp = '2025-01-01T05:59:59.999999Z' WHERE seq % 12 = 5",
    "UPDATE traces SET latency_ms = latency_ms * 3.7 + 0.05 WHERE seq % 3 = 2",
];

fn write_all(path: &std::path::Path, dice: &mut Dice) {
    let mut exporter = StoreExporter::open(path).unwrap();
    for batch in batches(dice) {
        exporter.export(&batch).unwrap();
    }
    for (project, pieces) in piece_requests(dice) {
        exporter.write_pieces(project, &pieces).unwrap();
    }
    exporter.shutdown().unwrap();
}

type Row = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    f64,
    f64,
    f64,
);

fn rows(conn: &rusqlite::Connection, sql: &str) -> Vec<Row> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Each kept row against the traces grouped by project, hour (the first 13 characters of
/// the start, `2025-01-01T05`), environment and release: counts exactly, sums to a
/// relative 1e-9 (the kept sums add and subtract in another order).
fn assert_same_as_grouped(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let want = rows(
        &conn,
        "SELECT IFNULL(project_id, ''), substr(timestamp, 1, 13), environment, release,
             COUNT(*), TOTAL(calculated_total_cost), TOTAL(computed_cost), TOTAL(latency_ms)
         FROM traces GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    );
    let kept = rows(
        &conn,
        "SELECT project_id, substr(hour_start, 1, 13), environment, release, SUM(traces),
             SUM(cost), SUM(computed_cost), SUM(latency_sum)
         FROM trace_hours GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    );
    assert!(want.len() >= 3, "too few rows to compare: {want:?}");
    assert_eq!(kept.len(), want.len(), "{kept:#?}\n{want:#?}");
    for (k, w) in kept.iter().zip(&want) {
        assert_eq!((&k.0, &k.1, &k.2, &k.3, k.4), (&w.0, &w.1, &w.2, &w.3, w.4));
        for (g, e) in [(k.5, w.5), (k.6, w.6), (k.7, w.7)] {
            assert!((g - e).abs() <= 1e-9 * e.abs().max(1.0), "{k:?} vs {w:?}");
        }
    }
    // The latency buckets: each trace counted once, in the bucket of its latency (whole
    // microseconds, rounded, with all digits but the first two zeroed), worked out here.
    let mut want: std::collections::BTreeMap<(String, String, Option<String>, i64), i64> =
        Default::default();
    let mut stmt = conn
        .prepare("SELECT IFNULL(project_id, ''), substr(timestamp, 1, 13), environment, latency_ms FROM traces")
        .unwrap();
    let traces = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, f64>(3)?))
        })
        .unwrap();
    for t in traces {
        let (project, hour, environment, latency): (String, String, Option<String>, f64) =
            t.unwrap();
        *want
            .entry((project, hour, environment, floor_us(latency)))
            .or_default() += 1;
    }
    let mut stmt = conn
        .prepare(
            "SELECT project_id, substr(hour_start, 1, 13), environment, latency_floor_us,
                 SUM(traces) FROM trace_hour_latencies GROUP BY 1, 2, 3, 4 HAVING SUM(traces) <> 0",
        )
        .unwrap();
    let kept: std::collections::BTreeMap<_, i64> = stmt
        .query_map([], |r| {
            Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, want);
    // Every kept row holds a trace; its hour is a whole hour.
    let bad: i64 = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM trace_hours WHERE traces <= 0
                 OR substr(hour_start, 14) <> ':00:00.000000Z')
                 + (SELECT COUNT(*) FROM trace_hour_latencies WHERE traces <= 0)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(bad, 0);
}

/// A latency's bucket, as the roll-up documents it.
fn floor_us(latency_ms: f64) -> i64 {
    let us = (latency_ms.max(0.0) * 1000.0).round() as i64;
    if us < 100 {
        return us;
    }
    let unit = 10_i64.pow(us.to_string().len() as u32 - 2);
    us / unit * unit
}

#[test]
fn the_roll_up_matches_the_traces_after_batches_pieces_and_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut dice = Dice(23);
    write_all(&path, &mut dice);
    assert_same_as_grouped(&path);
    // Merges into stored traces.
    write_all(&path, &mut dice);
    assert_same_as_grouped(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    for edit in HAND_EDITS.iter().chain(&ROLLUP_EDITS) {
        conn.execute_batch(edit).unwrap();
        assert_same_as_grouped(&path);
    }
    conn.execute_batch("DELETE FROM traces").unwrap();
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM trace_hours", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0, "a row whose last trace left is deleted");
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM trace_hour_latencies", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(left, 0);
}

#[test]
fn a_store_of_the_previous_version_gets_its_roll_up_when_a_writer_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut dice = Dice(5);
    write_all(&path, &mut dice);
    let version = Store::open(&path).unwrap().schema_version();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "{}
         UPDATE traces SET environment = 'before' WHERE seq % 3 = 0;
         PRAGMA user_version = {};",
        observe_store::DROP_TRACE_HOURS,
        version - 1
    ))
    .unwrap();
    drop(conn);
    let before = observe_store::Reader::open(path.as_os_str()).unwrap();
    assert!(!before.has_trace_hours());
    drop(before);
    // A writer migrates: the backfill counts what was stored, the triggers what follows.
    write_all(&path, &mut dice);
    let after = observe_store::Reader::open(path.as_os_str()).unwrap();
    assert!(after.has_trace_hours());
    assert_same_as_grouped(&path);
}
