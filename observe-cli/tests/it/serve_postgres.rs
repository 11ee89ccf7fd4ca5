//! `observe serve --db postgres://...` on a real PostgreSQL: OTLP and the legacy ingestion
//! API over loopback land in the database as they land in a store file (rows checked
//! there), the start line hides the password, and a PostgreSQL outage answers 503 with
//! `Retry-After` and loses nothing accepted. What it wrote, read back: serve_postgres_reads.

use std::path::Path;

use serde_json::Value;

use crate::pg_support::PgServer;
use crate::serve_support::{client, post, protobuf, trace, JsonBody, Server};

fn captured(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../observe-ingest/tests/fixtures/langfuse-python-2")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn otlp(server: &Server, body: Vec<u8>) -> reqwest::blocking::Response {
    post(
        &server.at("/api/public/otel/v1/traces"),
        "application/x-protobuf",
        body,
        false,
    )
}

/// The observations' names of `session`, in start order.
fn session_names(pg: &mut postgres::Client, session: &str) -> Vec<String> {
    pg.query(
        "SELECT o.name FROM observations o JOIN traces t ON t.seq = o.trace_seq
         WHERE t.session_id = $1 ORDER BY o.start_ns, o.name",
        &[&session],
    )
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[test]
fn otlp_and_the_ingestion_api_land_in_postgres() {
    let pg = PgServer::start();
    let url = pg.password_user("serve_writer", "s3cret-pw");
    let server = Server::start_on(
        Path::new(&url),
        &["--public-key", "pk-1", "--secret-key", "sk-1"],
    );
    let auth = |r: reqwest::blocking::RequestBuilder| r.basic_auth("pk-1", Some("sk-1"));

    // OTLP: a trace of three spans, then the same request again (a client's retry).
    let spans = trace("pg-session", "agent", 3);
    let body = protobuf(spans.clone());
    for _ in 0..2 {
        let answer = auth(client().post(server.at("/api/public/otel/v1/traces")))
            .header("Content-Type", "application/x-protobuf")
            .body(body.clone())
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // The legacy ingestion API: the Python SDK 2.x's batch, a 207 with every event taken.
    let answer = auth(client().post(server.at("/api/public/ingestion")))
        .header("Content-Type", "application/json")
        .body(captured("lowlevel-client.json"))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 207);
    let answer: Value = answer.json_value().unwrap();
    assert_eq!(answer["errors"], serde_json::json!([]), "{answer}");

    // Answered means committed: the rows are in PostgreSQL while the server runs.
    let mut db = pg.connect();
    assert_eq!(
        session_names(&mut db, "pg-session"),
        ["agent-0", "agent-1", "agent-2"],
        "each span once, though sent twice"
    );
    let trace_row = db
        .query_one(
            "SELECT observation_count, has_root, name, project_id FROM traces
             WHERE session_id = 'pg-session'",
            &[],
        )
        .unwrap();
    assert_eq!(trace_row.get::<_, i32>(0), 3);
    assert!(trace_row.get::<_, bool>(1));
    assert_eq!(trace_row.get::<_, &str>(2), "agent");
    assert_eq!(trace_row.get::<_, &str>(3), "default");
    let legacy = session_names(&mut db, "session-abc");
    for name in ["retrieve", "cache-miss", "answer"] {
        assert!(
            legacy.iter().any(|n| n == name),
            "{name} missing: {legacy:?}"
        );
    }
    let unprojected: i64 = db
        .query_one(
            "SELECT (SELECT count(*) FROM observations WHERE project_id IS DISTINCT FROM 'default')
                  + (SELECT count(*) FROM scores WHERE project_id IS DISTINCT FROM 'default')",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(unprojected, 0, "every row carries the key's project");

    let out = server.stop();
    assert!(out.contains("spans written"), "{out}");
    assert!(
        !out.contains("s3cret-pw"),
        "the password is never printed: {out}"
    );
}

#[test]
fn a_postgres_outage_answers_503_with_retry_after_and_loses_nothing() {
    let pg = PgServer::start();
    let server = Server::start_on(Path::new(&pg.url()), &[]);
    let before = trace("outage", "before", 2);
    assert_eq!(otlp(&server, protobuf(before)).status(), 200);

    pg.stop();
    let during = protobuf(trace("outage", "during", 2));
    let refused = otlp(&server, during.clone());
    assert_eq!(refused.status(), 503);
    assert!(
        refused.headers().get("Retry-After").is_some(),
        "{:?}",
        refused.headers()
    );
    pg.resume();
    // The client sends it again, as the SDKs do on a 503; the server connects anew.
    let mut status = 0;
    for _ in 0..10 {
        status = otlp(&server, during.clone()).status().as_u16();
        if status == 200 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    assert_eq!(status, 200, "accepted once PostgreSQL is back");

    let mut db = pg.connect();
    assert_eq!(
        session_names(&mut db, "outage"),
        ["before-0", "before-1", "during-0", "during-1"]
    );
    let out = server.stop();
    assert!(out.contains("failed to write"), "{out}");
    assert!(
        !out.contains(", 0 failed to write"),
        "the refused request is counted: {out}"
    );
}

#[test]
fn a_refused_password_stops_the_start_with_its_reason_and_no_password() {
    let pg = PgServer::start();
    let url = pg.password_user("serve_writer", "right-pw");
    let wrong = url.replace("right-pw", "wrong-pw");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_observe"))
        .args(["--db", &wrong, "serve", "--port", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains("wrong-pw"), "{err}");
}
