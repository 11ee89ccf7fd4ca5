//! `observe push` from the store, run as the real binary against a loopback server that
//! speaks the real protocols: OTLP protobuf (gzip) as Langfuse v4 and collectors take it,
//! Langfuse's scores API, and the legacy ingestion API with its `207` answers. What the
//! server received is compared by id with what the selection names.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{Score, ScoreValue, TraceAttributes, TraceId};
use serde_json::{json, Value};

use crate::common::{self, Spec, SECOND};
use crate::loopback_upstream::Server;

const PK: &str = "pk-lf-push";
const SK: &str = "sk-lf-never-printed";

/// Runs `observe --db <db> push ...` with only the variables given (none of the caller's
/// Langfuse or OpenTelemetry settings).
fn push(db: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_observe"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LANGFUSE_")
            || name.starts_with("OTEL_")
            || name.starts_with("OBSERVE_")
        {
            cmd.env_remove(name);
        }
    }
    cmd.envs(vars.iter().copied())
        .arg("--db")
        .arg(db)
        .arg("push")
        .args(args)
        .output()
        .expect("run observe")
}

fn langfuse(server: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("LANGFUSE_PUBLIC_KEY", PK.to_owned()),
        ("LANGFUSE_SECRET_KEY", SK.to_owned()),
        ("LANGFUSE_BASE_URL", server.url.clone()),
    ]
}

fn as_refs<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The `--json` summary of a push that must succeed; the secret is in neither stream.
fn summary_ok(out: &Output) -> Value {
    assert_no_secret(out);
    serde_json::from_str(&common::ok(out)).unwrap()
}

fn assert_no_secret(out: &Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(SK), "the secret key was printed: {text}");
}

fn ids(indexes: &[usize]) -> BTreeSet<String> {
    indexes.iter().map(|i| common::trace_id(*i)).collect()
}

/// Writes one more trace (index `index`, started `ago` back), with `tags`.
fn write_trace(path: &Path, index: usize, ago: u64, tags: &[&str]) -> String {
    let spec = Spec {
        key: "extra",
        user: Some("erin"),
        session: Some(format!("e{index}")),
        content_type: None,
        ago,
        latency_ms: 100,
        cost: 0.0,
    };
    let mut observations = common::trace_observations(&spec, index, common::now());
    let attributes = Arc::new(TraceAttributes {
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        ..TraceAttributes::clone(&observations[0].trace)
    });
    for o in &mut observations {
        o.trace = Arc::clone(&attributes);
    }
    common::record::write_batch(
        path,
        &Batch {
            observations,
            scores: vec![],
        },
    );
    common::trace_id(index)
}

/// The fixture (18 traces of 2 observations, see `common`), a score on `t1` and one
/// trace tagged `nightly`.
fn store() -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    common::write_fixture(&path);
    let score = Score {
        id: "score-t1".into(),
        trace_id: TraceId(0x1000),
        observation_id: None,
        name: "accuracy".into(),
        value: ScoreValue::Numeric(0.9),
        comment: None,
        timestamp: common::now(),
        session_id: None,
    };
    common::record::write_batch(
        &path,
        &Batch {
            observations: vec![],
            scores: vec![Box::new(score)],
        },
    );
    let nightly = write_trace(&path, 100, 60 * SECOND, &["nightly"]);
    (dir, path, nightly)
}

#[test]
fn each_selection_sends_exactly_its_traces_once() {
    let (_dir, db, nightly) = store();
    let server = Server::start();
    let vars = langfuse(&server);
    let vars = as_refs(&vars);

    // Session a1: t1 and t2, with t1's score.
    let summary = summary_ok(&push(&db, &vars, &["--json", "--session", "a1"]));
    let got = server.take();
    assert_eq!(got.traces(), ids(&[0, 1]));
    assert_eq!(got.observations.len(), 4);
    assert_eq!(got.scores, ["score-t1"]);
    assert_eq!(
        summary["sent"],
        json!({"traces": 2, "observations": 4, "scores": 1})
    );
    assert_eq!(summary["already_pushed"], 0);

    // User bob: t5 and t6.
    summary_ok(&push(&db, &vars, &["--json", "--user", "bob"]));
    assert_eq!(server.take().traces(), ids(&[4, 5]));

    // Tag nightly: the one trace that has it.
    summary_ok(&push(&db, &vars, &["--json", "--tag", "nightly"]));
    assert_eq!(server.take().traces(), BTreeSet::from([nightly.clone()]));

    // Started between 16 and 14 days ago: dave's d1..d6 (indexes 11 to 16).
    summary_ok(&push(
        &db,
        &vars,
        &["--json", "--since", "16d", "--until", "14d"],
    ));
    assert_eq!(server.take().traces(), ids(&[11, 12, 13, 14, 15, 16]));

    // One trace by id; an id the store does not have is said, not sent.
    let anon = common::trace_id(17);
    let missing = "ffffffffffffffffffffffffffffffff";
    let out = push(
        &db,
        &vars,
        &["--json", "--trace", &anon, "--trace", missing],
    );
    summary_ok(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("--trace {missing}: no such trace")),
        "{stderr}"
    );
    assert_eq!(server.take().traces(), BTreeSet::from([anon]));

    // Everything: only what no push sent yet (t3, t4, c1..c5).
    let summary = summary_ok(&push(&db, &vars, &["--json"]));
    assert_eq!(server.take().traces(), ids(&[2, 3, 6, 7, 8, 9, 10]));
    assert_eq!(summary["already_pushed"], 12);

    // Again: nothing at all goes out.
    let summary = summary_ok(&push(&db, &vars, &["--json"]));
    assert_eq!(server.take().requests, 0);
    assert_eq!(summary["sent"]["traces"], 0);
    assert_eq!(summary["already_pushed"], 19);

    // A new trace: only it.
    let new = write_trace(&db, 200, 5 * SECOND, &[]);
    let out = push(&db, &vars, &[]);
    let text = common::ok(&out);
    assert_no_secret(&out);
    assert!(
        text.contains("sent 1 trace(s) (2 observations, 0 scores)"),
        "{text}"
    );
    assert!(
        text.ends_with("19 skipped as already pushed (20 selected)\n"),
        "{text}"
    );
    assert_eq!(server.take().traces(), BTreeSet::from([new]));

    // The other API of the same Langfuse project fills the same project: nothing again.
    let summary = summary_ok(&push(&db, &vars, &["--json", "--api", "ingestion"]));
    assert_eq!(summary["sent"]["traces"], 0);
    assert_eq!(server.take().requests, 0);
}

#[test]
fn a_207_refusal_leaves_the_trace_to_the_next_push() {
    let (_dir, db, _) = store();
    let server = Server::start();
    let vars = langfuse(&server);
    let vars = as_refs(&vars);
    let t2 = common::trace_id(1);
    server.received().refuse.insert(t2.clone());

    let out = push(
        &db,
        &vars,
        &["--json", "--api", "ingestion", "--session", "a1"],
    );
    assert_no_secret(&out);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("trace {t2}")), "{stderr}");
    assert!(stderr.contains("next push sends them again"), "{stderr}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sent"]["traces"], 1);
    assert_eq!(summary["refused"], json!({"traces": 1, "records": 2}));
    assert_eq!(server.take().traces(), ids(&[0]));

    // The server takes it now: the next push sends t2 alone.
    server.received().refuse.clear();
    let summary = summary_ok(&push(
        &db,
        &vars,
        &["--json", "--api", "ingestion", "--session", "a1"],
    ));
    assert_eq!(summary["sent"]["traces"], 1);
    assert_eq!(summary["already_pushed"], 1);
    let got = server.take();
    assert_eq!(got.traces(), BTreeSet::from([t2]));
    assert_eq!(got.observations.len(), 2);
}

#[test]
fn a_server_that_is_down_is_a_clear_error_and_nothing_is_marked() {
    let (_dir, db, _) = store();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let vars = [
        ("LANGFUSE_PUBLIC_KEY", PK),
        ("LANGFUSE_SECRET_KEY", SK),
        ("LANGFUSE_BASE_URL", url.as_str()),
    ];
    // More traces than requests in flight: the workers stop taking new ones.
    let out = push(&db, &vars, &["--retry-deadline", "1s"]);
    assert_no_secret(&out);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unavailable"), "{stderr}");
    assert!(stderr.contains("19 trace(s) not sent"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("sent 0 trace(s)"), "{stdout}");

    // Nothing was marked: a dry run would still send all of them.
    let summary = summary_ok(&push(&db, &vars, &["--json", "--dry-run"]));
    assert_eq!(summary["sent"]["traces"], 19);
    assert_eq!(summary["already_pushed"], 0);
}

#[test]
fn a_dry_run_sends_and_marks_nothing() {
    let (_dir, db, _) = store();
    let server = Server::start();
    let vars = langfuse(&server);
    let vars = as_refs(&vars);
    let summary = summary_ok(&push(&db, &vars, &["--json", "--dry-run"]));
    assert_eq!(summary["dry_run"], true);
    assert_eq!(
        summary["sent"],
        json!({"traces": 19, "observations": 38, "scores": 1})
    );
    assert_eq!(server.take().requests, 0);

    let summary = summary_ok(&push(&db, &vars, &["--json"]));
    assert_eq!(summary["sent"]["traces"], 19);
    assert_eq!(server.take().traces().len(), 19);
}

#[test]
fn a_collector_gets_the_spans_and_its_own_record_of_what_was_pushed() {
    let (_dir, db, _) = store();
    let server = Server::start();
    let endpoint = server.url.clone();
    let vars = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t"),
    ];
    let summary = summary_ok(&push(&db, &vars, &["--json", "--user", "alice"]));
    assert_eq!(
        summary["sent"],
        json!({"traces": 4, "observations": 8, "scores": 0})
    );
    let got = server.take();
    assert_eq!(got.traces(), ids(&[0, 1, 2, 3]));
    assert!(got.scores.is_empty());

    // Langfuse is another destination: alice's traces go there too.
    let langfuse_vars = langfuse(&server);
    let summary = summary_ok(&push(
        &db,
        &as_refs(&langfuse_vars),
        &["--json", "--user", "alice"],
    ));
    assert_eq!(summary["sent"]["traces"], 4);
    assert_eq!(summary["already_pushed"], 0);
    // And the collector still has them.
    let summary = summary_ok(&push(&db, &vars, &["--json", "--user", "alice"]));
    assert_eq!(summary["already_pushed"], 4);
}

#[test]
fn wrong_keys_stop_the_push_at_the_first_answer() {
    let (_dir, db, _) = store();
    let server = Server::start();
    server.received().unauthorized = true;
    let vars = langfuse(&server);
    let out = push(&db, &as_refs(&vars), &[]);
    assert_no_secret(&out);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rejected"), "{stderr}");
    assert!(stderr.contains("19 trace(s) not sent"), "{stderr}");
    // Only the requests already in flight went out, not one per trace.
    let requests = server.take().requests;
    assert!((1..=4).contains(&requests), "{requests} requests");
}
