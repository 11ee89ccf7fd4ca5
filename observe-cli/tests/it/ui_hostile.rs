//! `observe ui` under hostile requests: runaway and huge queries, cross-site requests,
//! oversized request heads, numbers that overflow, stores with bytes that are not UTF-8.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::ChildStderr;

use crate::cli_hostile::write_invalid_utf8;
use crate::ui_support::*;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

/// `observe ui` with its stderr kept, to read what it reports about queries.
struct Ui {
    /// Kept for its drop, which ends the process.
    _process: UiProcess,
    url: String,
    stderr: BufReader<ChildStderr>,
}

impl Ui {
    fn start(store: &std::path::Path) -> Ui {
        let (process, stderr) = UiProcess::start_with_stderr(store);
        let url = process.url.clone();
        Ui {
            _process: process,
            url,
            stderr,
        }
    }

    fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    /// The next line the server wrote to stderr.
    fn next_log_line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).unwrap();
        line
    }
}

/// `observe ui` over a new store of `sessions` generated sessions (kept until the
/// directory is dropped).
fn started(sessions: usize) -> (Ui, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_generated(&store, "generated", sessions);
    (Ui::start(&store), dir)
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
}

fn get_with(url: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let body = response.text().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn get(url: &str) -> (u16, Value) {
    get_with(url, &[])
}

fn query_url(ui: &Ui, sql: &str) -> String {
    format!(
        "{}api/query?sql={}",
        ui.url,
        utf8_percent_encode(sql, NON_ALPHANUMERIC)
    )
}

/// Sends `head` as it is on a new connection and returns the status line of the answer.
fn raw(ui: &Ui, head: &[u8]) -> String {
    let mut stream = TcpStream::connect(ui.addr()).unwrap();
    // The server may answer and close before it has read everything sent.
    let _ = stream.write_all(head);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

const RUNAWAY: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT COUNT(*) FROM r";

#[test]
fn runaway_queries_leave_the_pages_answering_and_stop_when_their_client_leaves() {
    let (mut ui, _dir) = started(3);

    // Runaway queries sent by hand, their answers never read.
    let target = query_url(&ui, RUNAWAY);
    let path = target
        .trim_start_matches(&ui.url[..ui.url.len() - 1])
        .to_owned();
    let runaway = || {
        let mut s = TcpStream::connect(ui.addr()).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", ui.addr()).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    };
    let answered = |s: &TcpStream| {
        let mut byte = [0u8; 1];
        !(&*s)
            .read(&mut byte)
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock)
    };
    let mut runaways = [runaway(), runaway()];
    // Quick queries are answered until the runaways hold every query worker; then they
    // are refused at once, not queued behind them. (A runaway that arrived while a quick
    // query held a worker was refused itself, never ran, and is sent again.)
    let mut refused = None;
    for _ in 0..5000 {
        for s in &mut runaways {
            if answered(s) {
                *s = runaway();
            }
        }
        let (status, body) = get(&query_url(&ui, "SELECT 1 AS one"));
        if status != 200 {
            refused = Some((status, body));
            break;
        }
    }
    let (status, body) = refused.expect("no query was refused while two runaways ran");
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("running"),
        "{body}"
    );
    // Both runaways still run, and the pages answer.
    for s in &runaways {
        assert!(!answered(s), "a runaway query was answered");
    }
    // Clients that start a request and never finish it hold no worker either.
    let _silent: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(ui.addr()).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    for page in ["", "api/sessions", "api/users", "api/changes"] {
        let (status, body) = get(&format!("{}{page}", ui.url));
        assert_eq!(status, 200, "{page}: {body}");
    }

    // Their clients leave: both queries are stopped, and queries run again.
    drop(runaways);
    for _ in 0..2 {
        let line = ui.next_log_line();
        assert!(
            line.contains("query stopped: its client went away"),
            "{line}"
        );
    }
    let (status, body) = get(&query_url(&ui, "SELECT 1 AS one"));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn query_answers_are_bounded_in_bytes() {
    let (ui, _dir) = started(1);

    // 30 rows of 1 MB: more than one answer carries.
    let (status, body) = get(&query_url(
        &ui,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30) \
         SELECT i, printf('%.1000000c', 'x') AS wide FROM n",
    ));
    assert_eq!(status, 200);
    let rows = body["rows"].as_array().unwrap().len();
    assert!(rows > 0 && rows < 30, "{rows} rows");
    assert_eq!(body["truncated"], true);
    assert_eq!(body["truncated_by"], "bytes");
    assert!(body["byte_limit"].as_u64().unwrap() >= (rows as u64) << 20);

    // One value larger than the whole bound: no row, and the marker says why.
    let (status, body) = get(&query_url(&ui, "SELECT printf('%.9000000c', 'x') AS huge"));
    assert_eq!(status, 200);
    assert_eq!(body["rows"], serde_json::json!([]));
    assert_eq!(body["truncated_by"], "bytes");
    // A value larger than a query may make (100 MB) is refused as SQLite makes it, before
    // it takes the memory.
    let (status, body) = get(&query_url(
        &ui,
        "SELECT printf('%.100000000c', 'x') AS huge",
    ));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("too big"),
        "{body}"
    );

    // A row limit still reads as before.
    let (_, body) = get(&query_url(
        &ui,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n",
    ));
    assert_eq!(body["truncated_by"], "rows");
}

#[test]
fn cross_site_requests_to_the_api_are_refused() {
    let (ui, _dir) = started(1);
    let sessions = format!("{}api/sessions", ui.url);
    let own_origin = ui.url.trim_end_matches('/').to_owned();

    for headers in [
        &[("Sec-Fetch-Site", "cross-site")][..],
        &[("Sec-Fetch-Site", "same-site")][..],
        &[("Origin", "http://attacker.example")][..],
        &[("Origin", "http://localhost:1")][..],
        &[("Origin", "null")][..],
    ] {
        let (status, body) = get_with(&sessions, headers);
        assert_eq!(status, 403, "{headers:?}: {body}");
        assert!(body["error"].as_str().unwrap().contains("cross-site"));
        let (status, _) = get_with(&query_url(&ui, "SELECT 1"), headers);
        assert_eq!(status, 403, "{headers:?}");
    }
    for headers in [
        &[][..],
        &[("Sec-Fetch-Site", "same-origin")][..],
        &[("Sec-Fetch-Site", "none")][..],
        &[
            ("Origin", own_origin.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
        ][..],
    ] {
        let (status, body) = get_with(&sessions, headers);
        assert_eq!(status, 200, "{headers:?}: {body}");
    }
    // The page itself holds no data: a link from anywhere opens it.
    let (status, _) = get_with(&ui.url, &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(status, 200);
}

#[test]
fn request_heads_are_bounded_and_numbers_checked() {
    let (ui, _dir) = started(1);
    let host = ui.addr();

    let long_target = format!("GET /api/sessions?q={} HTTP/1.1\r\n", "a".repeat(200_000));
    assert!(raw(&ui, long_target.as_bytes()).starts_with("HTTP/1.1 414"));
    let many_headers = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\n{}\r\n",
        "X-Filler: 0123456789012345678901234567890123456789\r\n".repeat(3000)
    );
    assert!(raw(&ui, many_headers.as_bytes()).starts_with("HTTP/1.1 431"));
    let body = format!("GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100000000\r\n\r\n");
    assert!(raw(&ui, body.as_bytes()).starts_with("HTTP/1.1 413"));
    let fine = format!("GET /api/reports HTTP/1.1\r\nHost: {host}\r\n\r\n");
    assert!(raw(&ui, fine.as_bytes()).starts_with("HTTP/1.1 200"));

    for bad in [
        "page=18446744073709551615",
        "page=9223372036854775807",
        "limit=18446744073709551616",
        "page=-1",
    ] {
        let (status, body) = get(&format!("{}api/sessions?{bad}", ui.url));
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // Still serving.
    let (status, _) = get(&format!("{}api/sessions?page=0", ui.url));
    assert_eq!(status, 200);
}

#[test]
fn invalid_utf8_reads_with_a_marker_and_connections_are_query_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_invalid_utf8(&store);
    let ui = Ui::start(&store);
    let (status, sessions) = get(&format!("{}api/sessions", ui.url));
    assert_eq!(status, 200, "{sessions}");
    assert!(sessions.to_string().contains("u\u{fffd}s\u{fffd}"));
    let (status, users) = get(&format!("{}api/users", ui.url));
    assert_eq!(status, 200, "{users}");
    assert_eq!(users["users"][0]["user_id"], "u\u{fffd}s\u{fffd}");

    let (status, body) = get(&query_url(&ui, "SELECT query_only FROM pragma_query_only"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][0][0], 1);
    let (status, body) = get(&query_url(&ui, "DELETE FROM traces"));
    assert_eq!(status, 400, "{body}");
    let (_, count) = get(&query_url(&ui, "SELECT COUNT(*) FROM traces"));
    assert_ne!(count["rows"][0][0], 0);
}
