//! What `observe serve --db postgres://...` wrote, read back on a real PostgreSQL: ids a
//! sender chose as text (`my-trace-1`, a UUID) shown as sent by `observe --db` and by the
//! server's own web view, and `--project` giving each key's project its own rows.

use std::path::Path;

use serde_json::{json, Value};

use crate::cli_projects::{column, each_project_reads_its_own, json as command};
use crate::common::{observe, ok};
use crate::pg_support::PgServer;
use crate::serve_support::{client, JsonBody, Server};

const TRACE: &str = "my-trace-1";
const ROOT: &str = "0f8e2c1a-5b6d-4e3f-9a8b-7c6d5e4f3a2b";
const CHILD: &str = "step-2";

/// A legacy ingestion batch: the trace `trace` of session `session`, a span `root` and its
/// child `child`, every id text as an SDK may choose it.
fn batch(trace: &str, session: &str, root: &str, child: &str) -> Vec<u8> {
    let event = |n: u32, kind: &str, body: Value| {
        json!({
            "id": format!("{trace}-event-{n}"),
            "type": kind,
            "timestamp": "2026-12-07T17:52:56.784892Z",
            "body": body,
        })
    };
    let batch = json!({ "batch": [
        event(1, "trace-create", json!({
            "id": trace, "name": "chat", "sessionId": session,
            "timestamp": "2026-12-07T17:52:56.784668Z",
        })),
        event(2, "span-create", json!({
            "id": root, "traceId": trace, "name": "agent",
            "startTime": "2026-12-07T17:52:56.785000Z",
            "endTime": "2026-12-07T17:52:56.795000Z",
        })),
        event(3, "span-create", json!({
            "id": child, "traceId": trace, "parentObservationId": root, "name": "tool",
            "startTime": "2026-12-07T17:52:56.786000Z",
            "endTime": "2026-12-07T17:52:56.790000Z",
        })),
    ]});
    serde_json::to_vec(&batch).unwrap()
}

/// Sends `body` to the ingestion API with the key pair `(public, secret)`: every event taken.
fn ingest(server: &Server, key: (&str, &str), body: Vec<u8>) {
    let answer = client()
        .post(server.at("/api/public/ingestion"))
        .basic_auth(key.0, Some(key.1))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(answer.status(), 207);
    let answer: Value = answer.json_value().unwrap();
    assert_eq!(answer["errors"], json!([]), "{answer}");
    assert_eq!(
        answer["successes"].as_array().map(Vec::len),
        Some(3),
        "{answer}"
    );
}

/// `GET` of the server's view endpoint `path` with the key pair `key`, as JSON.
fn view(server: &Server, key: (&str, &str), path: &str) -> Value {
    let answer = client()
        .get(server.at(path))
        .basic_auth(key.0, Some(key.1))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 200, "{path}");
    answer.json_value().unwrap()
}

#[test]
fn text_ids_are_shown_as_sent_by_the_commands_and_the_view() {
    let pg = PgServer::start();
    let url = pg.url();
    let key = ("pk-1", "sk-1");
    let server = Server::start_on(
        Path::new(&url),
        &["--public-key", key.0, "--secret-key", key.1],
    );
    ingest(&server, key, batch(TRACE, "text-ids", ROOT, CHILD));

    // `observe --db postgres://... trace` takes the id whole and shows every id as sent.
    let trace = command(Path::new(&url), &["trace", TRACE]);
    assert_eq!(trace["id"], TRACE, "{trace}");
    let root = &trace["observations"][0];
    assert_eq!(root["id"], ROOT, "{trace}");
    assert_eq!(root["children"][0]["id"], CHILD, "{trace}");
    let session = command(Path::new(&url), &["session", "text-ids"]);
    assert_eq!(session["traces"][0]["id"], TRACE, "{session}");
    let table = ok(&observe(Some(Path::new(&url)), &["trace", TRACE]));
    assert!(table.contains(&format!("Trace {TRACE}")), "{table}");
    assert!(table.contains("tool"), "{table}");

    // The server's own web view reads the same PostgreSQL.
    let sessions = view(&server, key, "/api/sessions");
    assert_eq!(
        column(&sessions["sessions"], "id"),
        ["text-ids"],
        "{sessions}"
    );
    let shown = view(&server, key, &format!("/api/trace/{TRACE}"));
    let text = shown.to_string();
    assert!(text.contains(ROOT) && text.contains(CHILD), "{shown}");
    let page = client()
        .get(server.at("/"))
        .basic_auth(key.0, Some(key.1))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    server.stop();
}

#[test]
fn each_project_reads_its_own_rows() {
    let pg = PgServer::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "alpha pk-a sk-a\nbeta pk-b sk-b\n").unwrap();
    let server = Server::start_on(Path::new(&url), &["--keys", keys.to_str().unwrap()]);
    let alpha = ("pk-a", "sk-a");
    let beta = ("pk-b", "sk-b");
    ingest(
        &server,
        alpha,
        batch("trace-alpha", "s-alpha", "root-alpha", "a-2"),
    );
    ingest(
        &server,
        beta,
        batch("trace-beta", "s-beta", "root-beta", "b-2"),
    );

    each_project_reads_its_own(Path::new(&url));
    let session = command(
        Path::new(&url),
        &["--project", "alpha", "session", "s-alpha"],
    );
    assert_eq!(session["traces"][0]["id"], "trace-alpha", "{session}");

    // The view's `project=`, on the same connections one request after another.
    let ids = |path: &str| column(&view(&server, alpha, path)["sessions"], "id");
    assert_eq!(ids("/api/sessions?project=alpha"), ["s-alpha"]);
    assert_eq!(ids("/api/sessions?project=beta"), ["s-beta"]);
    assert_eq!(ids("/api/sessions"), ["s-alpha", "s-beta"]);
    assert_eq!(ids("/api/sessions?project=alpha"), ["s-alpha"]);
    // A restart drops every connection: those opened again read one project still.
    pg.restart();
    for _ in 0..3 {
        assert_eq!(ids("/api/sessions?project=alpha"), ["s-alpha"]);
    }
    server.stop();
}
