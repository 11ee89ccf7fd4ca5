//! `observe ui --db postgres://...`: the view's JSON endpoints over loopback HTTP give the
//! same answers from a real PostgreSQL store as from a store file holding the same traces
//! (cli_postgres.rs's fixture, copied row for row), and the Sessions page renders from it
//! in a real browser.

use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::cli_postgres::store_file;
use crate::common;
use crate::pg_load::copy_store;
use crate::pg_support::PgServer;
use crate::ui_endpoints::get;
use crate::ui_support::webdriver::Browser;
use crate::ui_support::UiProcess;

/// cli_postgres.rs's fixture in a store file (in the directory returned, kept while it
/// lives) and copied into a new PostgreSQL server; the failed trace's id.
fn fixture_on_both() -> (tempfile::TempDir, PathBuf, String, PgServer) {
    let dir = tempfile::tempdir().unwrap();
    let (path, failed_trace) = store_file(dir.path());
    let server = PgServer::start();
    copy_store(&path, &mut server.connect());
    (dir, path, failed_trace, server)
}

/// Whether `pg` and `lite` are the same answer: equal but for numbers, which may differ
/// by what floating point explains (SQLite's `TOTAL` compensates the rounding of a sum,
/// PostgreSQL's `SUM` does not), and durations in ms (`*_ms`) by SQLite's `julianday`
/// arithmetic, exact to about 50 µs.
fn same(pg: &Value, lite: &Value, key: &str) -> bool {
    match (pg, lite) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            let slack = if key.ends_with("_ms") { 0.1 } else { 0.0 };
            (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0) + slack
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b, key))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.keys().eq(b.keys()) && a.iter().all(|(k, v)| same(v, &b[k], k))
        }
        (a, b) => a == b,
    }
}

#[test]
fn every_endpoint_answers_the_same_from_postgresql_as_from_the_file() {
    let (_dir, path, failed_trace, server) = fixture_on_both();
    let on_file = UiProcess::start(&path);
    let on_pg = UiProcess::start(server.url().as_ref());

    let fixture_trace = common::trace_id(0);
    // The failed trace's generation, and a window around the fixture's newer traces.
    let draft = format!("{:016x}", 0xe11);
    let (_, listed) = get(&format!("{}api/sessions?limit=500", on_file.url));
    let starts: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap())
        .collect();
    assert!(starts.len() >= 9, "{listed}");
    let (from, to) = (starts[starts.len() - 3], starts[1]);
    let sql = "SELECT name, user_id, observation_count FROM traces ORDER BY name, id";
    let endpoints = [
        "sessions".to_owned(),
        "sessions?limit=3".to_owned(),
        "sessions?limit=3&page=1".to_owned(),
        "sessions?user=alice".to_owned(),
        "sessions?tag=x".to_owned(),
        "sessions?errors=1".to_owned(),
        "sessions?q=a".to_owned(),
        format!("sessions?q={failed_trace}"),
        format!(
            "sessions?from={}&to={}",
            utf8_percent_encode(from, NON_ALPHANUMERIC),
            utf8_percent_encode(to, NON_ALPHANUMERIC)
        ),
        "session/a1".to_owned(),
        "session/e1".to_owned(),
        "session/nope".to_owned(),
        format!("trace/{fixture_trace}"),
        format!("trace/{failed_trace}"),
        format!("trace/{}", &failed_trace[..8]),
        "trace/0".to_owned(),
        "trace/ffff".to_owned(),
        format!("trace/{failed_trace}/observation/{draft}"),
        format!("trace/{failed_trace}/observation/nope"),
        "users".to_owned(),
        "reports".to_owned(),
        format!("query?sql={}", utf8_percent_encode(sql, NON_ALPHANUMERIC)),
    ];
    for endpoint in &endpoints {
        let (lite_status, mut lite) = get(&format!("{}api/{endpoint}", on_file.url));
        let (pg_status, mut pg) = get(&format!("{}api/{endpoint}", on_pg.url));
        assert_eq!(pg_status, lite_status, "{endpoint}: {pg} / {lite}");
        if endpoint.starts_with("query") {
            // Run as written on PostgreSQL, translated on the file; timed apart.
            assert!(lite["translated"].is_string(), "{lite}");
            assert_eq!(pg["translated"], Value::Null, "{pg}");
            for answer in [&mut lite, &mut pg] {
                let answer = answer.as_object_mut().unwrap();
                answer.remove("translated");
                answer.remove("elapsed_ms");
            }
        }
        assert!(
            same(&pg, &lite, ""),
            "{endpoint}\n{pg}\non the file:\n{lite}"
        );
        if lite_status == 200 {
            assert_ne!(lite, json!({}), "{endpoint}");
        }
    }
    // What the comparisons covered: the failed trace, its scores and its generation.
    let (_, trace) = get(&format!("{}api/trace/{failed_trace}", on_pg.url));
    assert_eq!(trace["errors"], 1, "{trace}");
    assert_eq!(trace["scores"].as_array().unwrap().len(), 3, "{trace}");
    assert_eq!(trace["tags"], json!(["x", "say \"hi\""]), "{trace}");
    let (_, draft) = get(&format!(
        "{}api/trace/{failed_trace}/observation/{draft}",
        on_pg.url
    ));
    assert_eq!(draft["model"], "gpt-4o-mini", "{draft}");
    assert_eq!(draft["usage"]["input"], 300, "{draft}");
}

#[test]
fn the_query_page_runs_sql_on_postgresql_read_only_and_limited() {
    let (_dir, _, _, server) = fixture_on_both();
    let ui = UiProcess::start(server.url().as_ref());
    let query = |sql: &str| {
        get(&format!(
            "{}api/query?sql={}",
            ui.url,
            utf8_percent_encode(sql, NON_ALPHANUMERIC)
        ))
    };

    // PostgreSQL's own SQL, with its printed forms.
    let (status, typed) =
        query("SELECT '2026-01-31 12:00:00.5+02'::timestamptz AS at, tags FROM traces WHERE 'x' = ANY(tags)");
    assert_eq!(status, 200, "{typed}");
    assert_eq!(
        typed["rows"],
        json!([["2026-01-31 10:00:00.5+00", "{x,\"say \\\"hi\\\"\"}"]])
    );

    let (status, many) = query("SELECT n FROM generate_series(1, 5000) AS n");
    assert_eq!(status, 200, "{many}");
    assert_eq!(many["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(many["truncated_by"], "rows");

    let (status, refused) = query("DELETE FROM traces");
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("read-only transaction"),
        "{refused}"
    );
    let (_, count) = query("SELECT COUNT(*) AS n FROM traces");
    assert!(count["rows"][0][0].as_i64().unwrap() >= 10, "{count}");

    // A new trace changes the token the pages poll.
    let (_, before) = get(&format!("{}api/changes", ui.url));
    server
        .connect()
        .batch_execute(
            // The copied rows came with their `seq`, so the identity is behind them.
            "INSERT INTO traces (id, \"timestamp\", start_ns, end_ns, updated_at, seq)
             SELECT 'added', now(), 0, 0, now(), MAX(seq) + 1 FROM traces",
        )
        .unwrap();
    let (_, after) = get(&format!("{}api/changes", ui.url));
    assert_ne!(after["token"], before["token"]);
    assert!(after["token"].is_string(), "{after}");

    // A restarted server: every worker's connection is dropped, and each request that
    // finds its connection dropped connects again and is answered.
    server.restart();
    for _ in 0..8 {
        let (status, users) = get(&format!("{}api/users", ui.url));
        assert_eq!(status, 200, "{users}");
        assert!(!users["users"].as_array().unwrap().is_empty(), "{users}");
    }
    let (status, count) = query("SELECT COUNT(*) AS n FROM traces");
    assert_eq!(status, 200, "{count}");

    // A time filter that is no time is the request's fault; the server going away is not.
    let (status, bad) = get(&format!("{}api/sessions?from=not-a-time", ui.url));
    assert_eq!(status, 400, "{bad}");
    assert!(
        bad["error"].as_str().unwrap().contains("not-a-time"),
        "{bad}"
    );
    server.stop();
    let (status, gone) = get(&format!("{}api/users", ui.url));
    assert_eq!(status, 500, "{gone}");
    server.resume();
    let (status, back) = get(&format!("{}api/users", ui.url));
    assert_eq!(status, 200, "{back}");
}

#[test]
fn the_sessions_page_renders_from_postgresql() {
    let (_dir, _, _, server) = fixture_on_both();
    let ui = UiProcess::start(server.url().as_ref());
    let browser = Browser::start();

    browser.goto(&format!("{}#/sessions", ui.url));
    browser.wait_for("#sessions-table");
    let sessions: Vec<String> = browser
        .all("#sessions-table tbody tr td:first-child")
        .iter()
        .map(|cell| browser.text(cell))
        .collect();
    // Every session of the fixture, the newest (the failed checkout's) first.
    assert!(sessions.len() >= 9, "{sessions:?}");
    assert!(sessions[0].contains("e1"), "{sessions:?}");
    for session in ["a1", "a2", "b1", "c5"] {
        assert!(
            sessions.iter().any(|s| s.contains(session)),
            "{session} missing from {sessions:?}"
        );
    }
}

/// How many of the view's statements are running on the server (its queries fetch rows
/// through the cursor `observe_query`).
fn running_queries(client: &mut postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity
             WHERE application_name = 'observe' AND state = 'active'
               AND query LIKE '%observe_query%'",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_query_whose_client_goes_away_is_cancelled_on_the_server() {
    let (_dir, _, _, server) = fixture_on_both();
    let (ui, mut stderr) = UiProcess::start_with_stderr(server.url().as_ref());
    let addr = ui.url.trim_start_matches("http://").trim_end_matches('/');
    let mut watcher = server.connect();

    // A query that would run for the view's whole time limit, its answer never read.
    let sql = utf8_percent_encode("SELECT pg_sleep(600) AS slept", NON_ALPHANUMERIC);
    let mut runaway = std::net::TcpStream::connect(addr).unwrap();
    write!(
        runaway,
        "GET /api/query?sql={sql} HTTP/1.1\r\nHost: {addr}\r\n\r\n"
    )
    .unwrap();
    let mut seen = false;
    for _ in 0..2_000 {
        if running_queries(&mut watcher) == 1 {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(seen, "the query never ran on the server");

    // Its client leaves: the server no longer runs it (well before the view's 60 s limit
    // would have ended it: the polling gives up after some 20 s), and the view says so.
    drop(runaway);
    let mut running = 1;
    for _ in 0..2_000 {
        running = running_queries(&mut watcher);
        if running == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(running, 0, "the query still runs on the server");
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("query stopped: its client went away"),
        "{line}"
    );
    // The worker answers the next query.
    let (status, body) = get(&format!(
        "{}api/query?sql={}",
        ui.url,
        utf8_percent_encode("SELECT 1 AS one", NON_ALPHANUMERIC)
    ));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([[1]]));
}

/// The sessions list reads traces newest first a bounded number at a time: a session of
/// more traces than one read holds still leaves room for the older sessions.
#[test]
fn a_session_of_many_traces_does_not_hide_the_older_ones() {
    let (_dir, path, _, server) = fixture_on_both();
    let mut client = server.connect();
    client
        .batch_execute(
            "INSERT INTO traces (id, session_id, \"timestamp\", start_ns, end_ns, updated_at, seq)
             SELECT 'busy-' || i, 'busy', now() + i * INTERVAL '1 ms', 0, 0, now(),
                    (SELECT MAX(seq) FROM traces) + i
             FROM generate_series(1, 1500) AS i",
        )
        .unwrap();
    let on_file = UiProcess::start(&path);
    let on_pg = UiProcess::start(server.url().as_ref());
    let ids = |url: &str| -> Vec<String> {
        let (status, body) = get(&format!("{url}api/sessions"));
        assert_eq!(status, 200, "{body}");
        body["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (pg, file) = (ids(&on_pg.url), ids(&on_file.url));
    assert!(file.len() >= 9, "{file:?}");
    assert_eq!(pg[0], "busy");
    assert_eq!(
        pg[1..],
        file[..],
        "the fixture's sessions after the busy one"
    );
}
