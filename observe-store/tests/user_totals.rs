//! The users page's kept totals (`user_totals`, `user_sessions`) say what grouping the
//! traces themselves says, after every kind of write: the exporter's batches (new traces and
//! merges into stored ones), `observe serve`'s pieces for several projects, traces whose
//! user, session or project changes, and deleted traces. Real SQLite files throughout.

mod user_totals_cases;

use observe_model::export::Exporter;
use observe_store::{Store, StoreExporter};
use serde_json::Value;
use user_totals_cases::{batches, piece_requests, Dice, HAND_EDITS};

fn write_batches(path: &std::path::Path, dice: &mut Dice) {
    let mut exporter = StoreExporter::open(path).unwrap();
    for batch in batches(dice) {
        exporter.export(&batch).unwrap();
    }
    exporter.shutdown().unwrap();
}

fn write_pieces(path: &std::path::Path, dice: &mut Dice) {
    let mut store = StoreExporter::open(path).unwrap();
    for (project, pieces) in piece_requests(dice) {
        store.write_pieces(project, &pieces).unwrap();
    }
    store.shutdown().unwrap();
}

fn edit_by_hand(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    for edit in HAND_EDITS {
        conn.execute_batch(edit).unwrap();
    }
}

/// The users page's figures grouped from the traces themselves: a session is one per
/// project, as the kept totals count it.
fn from_traces(path: &std::path::Path) -> Vec<Value> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT user_id, COUNT(*), COUNT(DISTINCT IFNULL(project_id, '') || char(31)
                 || session_id), TOTAL(calculated_total_cost), TOTAL(computed_cost),
                 AVG(latency_ms), MAX(latency_ms), MAX(timestamp), SUM(observation_count)
             FROM traces WHERE user_id IS NOT NULL GROUP BY user_id ORDER BY user_id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(serde_json::json!({
            "user_id": r.get::<_, String>(0)?,
            "traces": r.get::<_, i64>(1)?,
            "sessions": r.get::<_, i64>(2)?,
            "cost": r.get::<_, f64>(3)?,
            "computed_cost": r.get::<_, f64>(4)?,
            "avg_latency_ms": r.get::<_, f64>(5)?,
            "max_latency_ms": r.get::<_, f64>(6)?,
            "last_seen": r.get::<_, String>(7)?,
            "observations": r.get::<_, i64>(8)?,
        }))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// The page's rows by user, every figure compared: counts and text exactly, sums of money
/// and latency to a relative 1e-9 (the kept sums add and subtract in another order).
fn assert_same_as_grouped(path: &std::path::Path) {
    let expected = from_traces(path);
    let mut page = Store::open(path).unwrap().user_rows().unwrap();
    page.sort_by(|a, b| a["user_id"].as_str().cmp(&b["user_id"].as_str()));
    assert!(
        expected.len() >= 5,
        "too few users to compare: {expected:?}"
    );
    assert_eq!(page.len(), expected.len(), "{page:#?}\n{expected:#?}");
    for (got, want) in page.iter().zip(&expected) {
        for key in ["user_id", "traces", "sessions", "last_seen", "observations"] {
            assert_eq!(got[key], want[key], "{key}: {got} vs {want}");
        }
        for key in ["cost", "computed_cost", "avg_latency_ms", "max_latency_ms"] {
            let (g, w) = (got[key].as_f64().unwrap(), want[key].as_f64().unwrap());
            assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1.0),
                "{key}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn kept_totals_match_the_traces_after_batches_pieces_and_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut dice = Dice(19);
    write_batches(&path, &mut dice);
    assert_same_as_grouped(&path);
    write_pieces(&path, &mut dice);
    assert_same_as_grouped(&path);
    // The merges above moved traces between users (a later root's attributes win).
    write_batches(&path, &mut dice);
    write_pieces(&path, &mut dice);
    assert_same_as_grouped(&path);
    edit_by_hand(&path);
    assert_same_as_grouped(&path);
    // A user's last trace gone leaves no row behind.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DELETE FROM traces WHERE user_id = 'user-moved'")
        .unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM user_totals WHERE user_id = 'user-moved'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0);
    let empty_sessions: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM user_sessions WHERE traces <= 0",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(empty_sessions, 0);
    drop(conn);
    assert_same_as_grouped(&path);
}

#[test]
fn a_store_of_the_previous_version_gets_its_totals_when_a_writer_opens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut dice = Dice(7);
    write_batches(&path, &mut dice);
    let version = Store::open(&path).unwrap().schema_version();
    // The version before the totals (10): no kept totals and no roll-up (11), its traces
    // written without them.
    let before_totals = 9;
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(&format!(
        "{}{}
         UPDATE traces SET user_id = 'user-before' WHERE seq % 3 = 0;
         PRAGMA user_version = {before_totals};",
        observe_store::DROP_TRACE_HOURS,
        observe_store::DROP_USER_TOTALS,
    ))
    .unwrap();
    drop(conn);
    // A reader leaves it as it is and groups the traces.
    let before = Store::open(&path).unwrap();
    assert_eq!(before.schema_version(), before_totals);
    let grouped = before.user_rows().unwrap();
    assert!(grouped.iter().any(|u| u["user_id"] == "user-before"));
    drop(before);
    // A writer migrates it; the backfill counts what was stored, the triggers what follows.
    write_batches(&path, &mut dice);
    assert_eq!(Store::open(&path).unwrap().schema_version(), version);
    assert_same_as_grouped(&path);
}
