//! The real `observe` binary on a real store file: tables, `--json`, the trees, and the
//! errors that say what to do.

use crate::common;

use std::process::Command;

use crate::common::{observe, ok};

fn fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    common::write_fixture(&path);
    (dir, path)
}

#[test]
fn no_store_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("sessions")
        .current_dir(dir.path())
        .env_remove("OBSERVE_STORE_PATH")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no store at .observe/traces.db — run your app with observe (e.g. `cargo run --example content_analysis`) or pass --db"),
        "{err}"
    );
    // Reading does not create a store.
    assert!(!dir.path().join(".observe").exists());

    let missing = dir.path().join("elsewhere.db");
    let out = observe(Some(&missing), &["traces"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("no store at {}", missing.display())));
}

#[test]
fn store_path_comes_from_the_environment() {
    let (_dir, path) = fixture();
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .args(["--json", "sessions"])
        .env("OBSERVE_STORE_PATH", &path)
        .output()
        .unwrap();
    let sessions: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    // a1, a2, a_old, b1, c1..c5, d1..d6
    assert_eq!(sessions.as_array().unwrap().len(), 15);
}

#[test]
fn sessions_table_and_json() {
    let (_dir, path) = fixture();
    let table = ok(&observe(Some(&path), &["sessions"]));
    let header = table.lines().find(|l| l.contains("session")).unwrap();
    for column in ["session", "traces", "duration", "cost", "user", "last_seen"] {
        assert!(header.contains(column), "{header}");
    }
    // Most recent first: b1 (1 day ago) then a1; durations and costs for people.
    let b1 = table.lines().position(|l| l.contains(" b1 ")).unwrap();
    let a1 = table.lines().position(|l| l.contains(" a1 ")).unwrap();
    assert!(b1 < a1, "{table}");
    let b1_line = table.lines().nth(b1).unwrap();
    assert!(
        b1_line.contains("9.0s") && b1_line.contains("$0.10 ") && b1_line.contains("bob"),
        "{b1_line}"
    );
    assert!(table.ends_with("(15 rows)\n"), "{table}");

    let json: serde_json::Value = serde_json::from_str(&ok(&observe(
        Some(&path),
        &["--json", "sessions", "--limit", "2"],
    )))
    .unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["session"], "b1");
    assert_eq!(rows[0]["traces"], 2);
    assert_eq!(rows[0]["duration_ms"], 9000.0);
    assert_eq!(rows[0]["user"], "bob");
    assert!((rows[1]["cost"].as_f64().unwrap() - 0.30).abs() < 1e-9);
}

#[test]
fn session_tree() {
    let (_dir, path) = fixture();
    let text = ok(&observe(Some(&path), &["session", "a1"]));
    // t1: 1000 ms, $0.10; t2: 2000 ms, $0.20; session 7.0 s, $0.30.
    assert_eq!(
        text,
        "Session: a1 (7.0s, $0.30)\n\
         ├── workflow_t1 (1.0s, $0.10)\n\
         │   └── summarize [generation] (980ms, $0.10)\n\
         └── workflow_t2 (2.0s, $0.20)\n\
         \x20   └── summarize [generation] (2.0s, $0.20)\n"
    );
    let io = ok(&observe(Some(&path), &["session", "a1", "--io"]));
    assert!(io.contains("input: input of t1"), "{io}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&path), &["--json", "session", "b1"]))).unwrap();
    assert_eq!(json["duration_ms"], 9000.0);
    assert_eq!(json["traces"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["traces"][1]["observations"][0]["children"][0]["type"],
        "GENERATION"
    );

    let out = observe(Some(&path), &["session", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no session `nope`"));
}

#[test]
fn traces_with_filters() {
    let (_dir, path) = fixture();
    let count = |args: &[&str]| {
        let mut all = vec!["--json", "traces"];
        all.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&ok(&observe(Some(&path), &all))).unwrap();
        v.as_array().unwrap().len()
    };
    assert_eq!(count(&[]), 18);
    assert_eq!(count(&["--user", "alice"]), 4);
    assert_eq!(count(&["--session", "b1"]), 2);
    assert_eq!(count(&["--tag", "fixture"]), 18);
    assert_eq!(count(&["--tag", "missing"]), 0);
    assert_eq!(count(&["--name", "workflow_t3"]), 1);
    // Started within 7 days: t1, t2, t5, t6, anon.
    assert_eq!(count(&["--since", "7d"]), 5);
    assert_eq!(count(&["--since", "36h"]), 2);
    assert_eq!(count(&["--user", "alice", "--since", "30d"]), 3);
    assert_eq!(count(&["--since", "2000-01-01"]), 18);
    assert_eq!(count(&["--limit", "3"]), 3);

    let table = ok(&observe(Some(&path), &["traces", "--session", "a1"]));
    assert!(
        table.contains("workflow_t1") && table.contains("workflow_t2"),
        "{table}"
    );
    assert!(table.ends_with("(2 rows)\n"));

    let out = observe(Some(&path), &["traces", "--since", "yesterday"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a duration like 30m, 24h, 7d"));
}

#[test]
fn trace_tree_with_levels_and_io() {
    let (_dir, path) = fixture();
    // t3 is the third trace of the fixture (index 2).
    let id = common::trace_id(2);
    let text = ok(&observe(Some(&path), &["trace", &id]));
    assert!(text.starts_with(&format!("Trace {id}\n")), "{text}");
    assert!(text.contains("user alice · session a2"), "{text}");
    assert!(
        text.contains("workflow_t3 (3.0s, $0.30)\n└── summarize [generation] (3.0s, $0.30)\n"),
        "{text}"
    );
    let io = ok(&observe(Some(&path), &["trace", &id, "--io"]));
    assert!(io.contains("output: output of t3"), "{io}");

    let json: serde_json::Value = serde_json::from_str(&ok(&observe(
        Some(&path),
        &["--json", "trace", &id, "--io"],
    )))
    .unwrap();
    assert_eq!(json["latency_ms"], 3000.0);
    assert_eq!(
        json["observations"][0]["children"][0]["input"],
        "input of t3"
    );
    assert_eq!(
        json["observations"][0]["children"][0]["model"],
        "gpt-4o-mini"
    );

    let out = observe(Some(&path), &["trace", "0000"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("names several traces"));
    let out = observe(Some(&path), &["trace", "ffff"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no trace `ffff`"));
}

#[test]
fn reports_run_the_seed_queries() {
    let (_dir, path) = fixture();
    let users: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&path), &["--json", "report", "users"]))).unwrap();
    // (a): alice 3 traces, avg 2000 ms, $0.60 leads (see cli_seed_queries.rs).
    assert_eq!(users[0]["user_id"], "alice");
    assert_eq!(users[0]["traces"], 3);
    assert!((users[0]["avg_latency_ms"].as_f64().unwrap() - 2000.0).abs() < 1e-9);
    assert!((users[0]["total_cost"].as_f64().unwrap() - 0.60).abs() < 1e-9);

    let table = ok(&observe(Some(&path), &["report", "content-types"]));
    assert!(
        table.starts_with("Performance by content type, last 30 days\n"),
        "{table}"
    );
    let audio = table.lines().find(|l| l.contains("audio")).unwrap();
    assert!(
        audio.contains("1.5s") && audio.contains("$0.01 "),
        "{audio}"
    );

    let slow: serde_json::Value = serde_json::from_str(&ok(&observe(
        Some(&path),
        &["--json", "report", "slow-sessions"],
    )))
    .unwrap();
    assert_eq!(slow[0]["session_id"], "b1");
    assert!((slow[0]["duration_ms"].as_f64().unwrap() - 9000.0).abs() <= 1.0);

    let slow_users = ok(&observe(Some(&path), &["report", "slow-users"]));
    let dave = slow_users.lines().position(|l| l.contains("dave")).unwrap();
    let carol = slow_users
        .lines()
        .position(|l| l.contains("carol"))
        .unwrap();
    assert!(
        dave < carol && !slow_users.contains("alice"),
        "{slow_users}"
    );

    let sql = ok(&observe(None, &["report", "slow-users", "--show-sql"]));
    assert!(sql.contains("HAVING COUNT(*) >= 5"));
    let out = observe(Some(&path), &["report", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("expected users, content-types, by-metadata <key>, slow-sessions or slow-users"));
}

#[test]
fn query_prints_values_and_names_columns_as_postgresql_does() {
    let (_dir, path) = fixture();
    let sql = "SELECT user_id, latency_ms > 3000 AS slow, date_trunc('day', timestamp) AS day, \
               COUNT(*) OVER () FROM traces WHERE user_id = 'bob' ORDER BY latency_ms DESC LIMIT 1";
    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&path), &["--json", "query", sql]))).unwrap();
    let row = &json[0];
    assert_eq!(row["slow"], "true", "{json}");
    let day = row["day"].as_str().unwrap_or_default();
    assert!(day.len() == 22 && day.ends_with(" 00:00:00+00"), "{json}");
    assert!(row["count"].is_i64(), "{json}");
    let table = ok(&observe(Some(&path), &["query", sql]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["user_id", "slow", "day", "count"], "{table}");
    let cells: Vec<&str> = table.lines().nth(2).unwrap().split_whitespace().collect();
    assert_eq!(&cells[..2], ["bob", "true"], "{table}");
    // The day is two words in the table: `2026-12-06 00:00:00+00`.
    assert_eq!(cells[3], "00:00:00+00", "{table}");
}

#[test]
fn query_runs_postgres_sql_read_only() {
    let (_dir, path) = fixture();
    let json: serde_json::Value = serde_json::from_str(&ok(&observe(
        Some(&path),
        &[
            "--json",
            "query",
            "SELECT metadata->>'content_type' AS ct, COUNT(*)::float AS n FROM traces \
             WHERE timestamp > NOW() - INTERVAL '30 days' AND metadata->>'content_type' = 'video' GROUP BY 1",
        ],
    )))
    .unwrap();
    assert_eq!(json, serde_json::json!([{"ct": "video", "n": 2.0}]));

    let translated = ok(&observe(None, &["query", "--translate", "SELECT NOW()"]));
    assert_eq!(
        translated,
        "SELECT observe_pg_timestamptz(strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')) AS \"now\"\n"
    );

    let out = observe(Some(&path), &["query", "DELETE FROM traces"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("SELECT statements only"));
    // A write smuggled into a SELECT is refused by SQLite (the connection is query-only).
    let out = observe(Some(&path), &["query", "SELECT no_such_column FROM traces"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no such column") && err.contains("translated SQL"),
        "{err}"
    );
}
