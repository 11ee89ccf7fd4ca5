//! `observe serve` fed by this project's own runtime, configured as for Langfuse: the bundled
//! example run with `LANGFUSE_BASE_URL` pointing at the server and the server's key pair.
//! It exports over OTLP (the default) or Langfuse's ingestion API
//! (`OBSERVE_LANGFUSE_API=ingestion`), its scores to `/api/public/scores`, and also prints
//! its session tree from its in-memory copy: what the server stored must show the same tree.

use std::process::Command;

use observe_cli::reports::Report;
use serde_json::Value;

use crate::serve_clients::{observe_json, Served, PUBLIC_KEY, SECRET_KEY};
use crate::ui_support::example_binary;

/// Runs: one session each, so the seed's query (d) (five sessions or more) has a row.
const RUNS: usize = 5;

/// The session tree: from `Session: ...` to the first blank line or the failed observations.
fn session_tree(text: &str) -> String {
    text.lines()
        .skip_while(|l| !l.starts_with("Session: "))
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Failed observations"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the example against `served` through Langfuse's `api` (`otlp` or `ingestion`);
/// returns its session id and the tree it printed.
fn run_example(served: &Served, api: &str) -> (String, String) {
    let mut cmd = Command::new(example_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("LANGFUSE_") || key.starts_with("OTEL_") || key.starts_with("OBSERVE_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .env("LANGFUSE_BASE_URL", &served.url)
        .env("LANGFUSE_PUBLIC_KEY", PUBLIC_KEY)
        .env("LANGFUSE_SECRET_KEY", SECRET_KEY)
        .env("OBSERVE_LANGFUSE_API", api)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the example failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("In Langfuse: {}/trace/", served.url)),
        "the example did not export to the server:\n{stdout}"
    );
    assert!(
        !stdout.contains("not everything was exported"),
        "the server refused some of the example's records:\n{stdout}"
    );
    let tree = session_tree(&stdout);
    let session = tree
        .strip_prefix("Session: ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no session in the example's output:\n{stdout}"))
        .to_owned();
    (session, tree)
}

#[test]
fn the_runtime_pointed_at_serve_with_langfuse_base_url_records_the_example_over_otlp() {
    check_runtime("otlp");
}

#[test]
fn the_runtime_pointed_at_serve_records_the_example_through_the_ingestion_api() {
    check_runtime("ingestion");
}

/// The example run [`RUNS`] times through `api`, then its sessions read back.
fn check_runtime(api: &str) {
    let served = Served::start();
    let runs: Vec<(String, String)> = (0..RUNS).map(|_| run_example(&served, api)).collect();
    let (session, tree) = &runs[0];

    // The web view's API on the same port: the session's three traces and the scores the
    // example gave through /api/public/scores.
    let ui = served.get_json(&format!("/api/session/{session}"));
    let turns = ui["traces"].as_array().expect("traces");
    assert_eq!(turns.len(), 3, "{ui}");
    assert!(turns.iter().all(|t| t["user_id"] == "user_demo"), "{ui}");
    let scores: Vec<&Value> = turns
        .iter()
        .flat_map(|t| t["scores"].as_array().into_iter().flatten())
        .collect();
    assert!(
        scores
            .iter()
            .any(|s| s["name"] == "quality" && s["value"].as_f64() == Some(0.92)),
        "{ui}"
    );

    let stopped = served.stop();

    // The tree the server's store shows is the one the example printed from its own copy:
    // names, nesting, types, latencies, costs, time to first token, the failure.
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("--db")
        .arg(&stopped.db)
        .args(["session", session])
        .env_remove("OBSERVE_STORE_PATH")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert_eq!(&session_tree(&shown), tree, "the stored tree differs");
    assert!(tree.contains("fact_checker [agent]"), "{tree}");
    assert!(tree.contains("ERROR: fact_checker"), "{tree}");
    assert!(tree.contains(", ttft "), "{tree}");

    // The seed's four queries give rows for the five runs.
    let query = |report: Report| -> Vec<Value> {
        observe_json(&stopped.db, &["query", &report.sql()])
            .as_array()
            .expect("rows")
            .clone()
    };
    let users = query(Report::Users);
    let demo = users
        .iter()
        .find(|r| r["user_id"] == "user_demo")
        .unwrap_or_else(|| panic!("{users:?}"));
    assert_eq!(demo["traces"], 3 * RUNS, "{demo}");
    assert!(demo["total_cost"].as_f64().unwrap() > 0.0, "{demo}");

    let types = query(Report::ContentTypes);
    assert!(
        types.iter().any(|r| r["content_type"] == "article"),
        "{types:?}"
    );

    let sessions = query(Report::SlowSessions);
    for (session, _) in &runs {
        let row = sessions
            .iter()
            .find(|r| r["session_id"] == session.as_str())
            .unwrap_or_else(|| panic!("{session} missing: {sessions:?}"));
        assert_eq!(row["traces"], 3, "{row}");
    }

    let slow_users = query(Report::SlowUsers);
    let demo = slow_users
        .iter()
        .find(|r| r["user_id"] == "user_demo")
        .unwrap_or_else(|| panic!("{slow_users:?}"));
    assert_eq!(demo["sessions"], RUNS, "{demo}");
}
