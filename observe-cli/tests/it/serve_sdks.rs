//! `observe serve` driven by clients nobody here wrote: the current Langfuse Python SDK
//! (OTLP), the Langfuse Python SDK 2.x (the ingestion API), the OpenTelemetry Python SDK
//! (plain OTLP with GenAI attributes) and this project's runtime (the bundled example with
//! `LANGFUSE_BASE_URL`). Each test starts the server with a key pair over a new store, runs
//! one client with those keys, reads the session through the web view's JSON API on the same
//! port, stops the server with SIGTERM, then checks what `observe session --json` shows and
//! that the seed's four queries give rows for the data.
//!
//! The Python clients run in venvs under the build tree (`scripts/python_sdks.sh`, pinned
//! versions); a machine without python3, venv or pip fails these tests with the command that
//! installs them.

use observe_cli::reports::Report;
use serde_json::Value;

use crate::serve_clients::{
    run_client, run_client_with, run_script, ClientRun, PythonClient, Served, PUBLIC_KEY,
    SECRET_KEY,
};

/// gpt-4o-mini at the built-in price list's rates ($0.15 per million input tokens, $0.60 per
/// million output), for the 1,000 input and 200 output tokens every Python client reports
/// without a cost: the server computes it, as Langfuse does.
const GENERATION_COST: f64 = 1000.0 * 0.15e-6 + 200.0 * 0.60e-6;

/// What one client's workflow must look like once stored.
struct Expected {
    /// The trace's name (Langfuse takes the root span's when none is sent).
    trace_name: &'static str,
    user: &'static str,
    /// The trace metadata's `content_type`, for the seed's query (b).
    content_type: Option<&'static str>,
    /// Every observation of one trace: name, type, parent's name (none: a root).
    tree: &'static [(&'static str, &'static str, Option<&'static str>)],
    /// The generation's name and the model it is stored with.
    generation: (&'static str, &'static str),
    /// The failing observation's name and part of its status message.
    failure: (&'static str, &'static str),
    /// The trace score the client sent, if any.
    score: Option<(&'static str, f64)>,
}

#[test]
fn langfuse_current_python_sdk_records_observe_calls_a_generation_a_score_and_a_failure() {
    let served = Served::start();
    // The SDK batches its scores: a JSON list on POST /api/public/scores.
    let run = run_client(PythonClient::LangfuseCurrent, &served, &["lf-current"]);
    check_client(
        served,
        &run,
        &Expected {
            trace_name: "sdk_workflow",
            user: "py_current_user",
            content_type: Some("podcast"),
            tree: &[
                ("sdk_workflow", "SPAN", None),
                ("retrieve", "SPAN", Some("sdk_workflow")),
                ("answer", "GENERATION", Some("sdk_workflow")),
                ("fact_check", "SPAN", Some("sdk_workflow")),
            ],
            generation: ("answer", "gpt-4o-mini"),
            failure: ("fact_check", "fact check failed"),
            score: Some(("quality", 0.9)),
        },
    );
}

#[test]
fn langfuse_v2_python_sdk_records_a_trace_with_spans_a_generation_an_event_and_a_score() {
    let served = Served::start();
    let run = run_client(PythonClient::LangfuseV2, &served, &["lf-v2"]);
    check_client(
        served,
        &run,
        &Expected {
            trace_name: "v2_workflow",
            user: "py_v2_user",
            content_type: Some("newsletter"),
            // 2.x observations hang from the trace itself: no root span.
            tree: &[
                ("retrieve", "SPAN", None),
                ("answer", "GENERATION", None),
                ("cache_miss", "EVENT", None),
                ("fact_check", "SPAN", None),
            ],
            generation: ("answer", "gpt-4o-mini"),
            failure: ("fact_check", "fact check failed"),
            score: Some(("quality", 0.8)),
        },
    );
}

#[test]
fn opentelemetry_python_sdk_records_genai_spans_through_v1_traces() {
    let served = Served::start();
    let run = run_client(PythonClient::OpenTelemetry, &served, &["otel"]);
    check_client(
        served,
        &run,
        &Expected {
            trace_name: "otel_workflow",
            user: "py_otel_user",
            content_type: None,
            tree: &[
                ("otel_workflow", "SPAN", None),
                ("chat gpt-4o-mini", "GENERATION", Some("otel_workflow")),
                ("execute_tool search", "TOOL", Some("otel_workflow")),
            ],
            // The response model wins over the request's, as in Langfuse.
            generation: ("chat gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
            failure: ("execute_tool search", "search backend unavailable"),
            score: None,
        },
    );
}

#[test]
fn clients_with_a_wrong_secret_key_are_refused_and_nothing_is_stored() {
    let served = Served::start();
    for client in [
        PythonClient::LangfuseCurrent,
        PythonClient::LangfuseV2,
        PythonClient::OpenTelemetry,
    ] {
        let (script, out) =
            run_client_with(client, &served, &["intruder"], (PUBLIC_KEY, "sk-wrong"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The OTLP exporters log the refusal; the 2.x SDK drops a refused batch silently.
        if !matches!(client, PythonClient::LangfuseV2) {
            assert!(
                stderr.contains("401"),
                "{} does not report the refusal:\n{stderr}",
                script.display()
            );
        }
    }
    let listed = served.get_json("/api/sessions");
    assert_eq!(listed["sessions"], serde_json::json!([]), "{listed}");
    let stopped = served.stop();
    let traces = crate::serve_clients::observe_json(&stopped.db, &["traces"]);
    assert_eq!(traces, serde_json::json!([]), "{traces}");
}

/// What docs/SERVE.md ("Left out") says an app sees when it calls the Langfuse SDKs' read
/// helpers: `auth_check()` passes, `get_prompt` with a fallback returns the fallback, and the
/// helpers without one raise the SDK's `NotFoundError`.
#[test]
fn langfuse_sdk_helpers_see_auth_pass_and_the_read_api_not_found() {
    let served = Served::start();
    for client in [PythonClient::LangfuseCurrent, PythonClient::LangfuseV2] {
        let (script, out) = run_script(
            client,
            "langfuse_helpers.py",
            &served,
            &[],
            (PUBLIC_KEY, SECRET_KEY),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{}:\n{stdout}\n{stderr}",
            script.display()
        );
        let seen: Value = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{client:?}: no JSON line:\n{stdout}\n{stderr}"));
        assert_eq!(
            seen,
            serde_json::json!({
                "auth_check": true,
                "fallback_prompt": {"is_fallback": true, "compiled": "Hello Ada"},
                "get_prompt": "NotFoundError",
                "get_dataset": "NotFoundError",
            }),
            "{client:?}\n{stderr}"
        );
    }
    served.stop();
}

/// The checks every client's run must pass: the web view's API while the server runs, then
/// after a clean stop, the session trees and the seed's four queries.
fn check_client(served: Served, run: &ClientRun, expected: &Expected) {
    assert_eq!(run.sessions.len(), 5, "{run:?}");
    assert_eq!(run.traces.len(), 5, "{run:?}");

    // The UI's JSON API on the same port shows the session.
    let ui = served.get_json(&format!("/api/session/{}", run.sessions[0]));
    let turns = ui["traces"].as_array().expect("the session's traces");
    assert_eq!(turns.len(), 1, "{ui}");
    assert_eq!(turns[0]["name"], expected.trace_name, "{ui}");
    assert_eq!(turns[0]["user_id"], expected.user, "{ui}");
    if let Some((name, value)) = expected.score {
        let scores = turns[0]["scores"].as_array().expect("the trace's scores");
        assert!(
            scores
                .iter()
                .any(|s| s["name"] == name && s["value"].as_f64() == Some(value)),
            "no score {name} = {value} in {ui}"
        );
    }
    let listed = served.get_json("/api/sessions");
    for session in &run.sessions {
        assert!(
            listed["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"] == session.as_str()),
            "{session} not listed by /api/sessions: {listed}"
        );
    }

    let stopped = served.stop();
    for session in &run.sessions {
        check_session(&stopped.db, session, expected);
    }
    check_seed_queries(&stopped.db, run, expected);
}

/// `observe session ID --json`: one trace with the expected tree, types, model, usage,
/// computed cost, latency and failure.
fn check_session(db: &std::path::Path, session: &str, expected: &Expected) {
    let shown = crate::serve_clients::observe_json(db, &["session", session]);
    let traces = shown["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 1, "{shown}");
    let trace = &traces[0];
    assert_eq!(trace["name"], expected.trace_name, "{trace}");
    assert_eq!(trace["session_id"], session, "{trace}");
    assert!(trace["latency_ms"].as_f64().unwrap() > 0.0, "{trace}");

    let mut flat = Vec::new();
    flatten(&trace["observations"], None, &mut flat);
    let mut names: Vec<_> = flat
        .iter()
        .map(|(o, parent)| {
            (
                o["name"].as_str().unwrap().to_owned(),
                o["type"].as_str().unwrap().to_owned(),
                parent.clone(),
            )
        })
        .collect();
    let mut wanted: Vec<_> = expected
        .tree
        .iter()
        .map(|(n, t, p)| (n.to_string(), t.to_string(), p.map(str::to_owned)))
        .collect();
    names.sort();
    wanted.sort();
    assert_eq!(names, wanted, "the tree of {session}: {trace}");

    let (generation, model) = expected.generation;
    let g = find(&flat, generation);
    assert_eq!(g["model"], model, "{g}");
    assert_eq!(g["usage"]["input"], 1000, "{g}");
    assert_eq!(g["usage"]["output"], 200, "{g}");
    // No client sends a total: the server adds it (the sum of the counts), as Langfuse does.
    assert_eq!(g["usage"]["total"], 1200, "{g}");
    let cost = g["own_cost"]
        .as_f64()
        .unwrap_or_else(|| panic!("no cost: {g}"));
    assert!(
        (cost - GENERATION_COST).abs() < 1e-12,
        "{cost} is not {GENERATION_COST}: {g}"
    );
    assert_eq!(g["own_cost_computed"], true, "{g}");
    // The clients sleep 20 ms inside the generation.
    assert!(g["latency_ms"].as_f64().unwrap() >= 20.0, "{g}");

    let (failing, message) = expected.failure;
    let f = find(&flat, failing);
    assert_eq!(f["level"], "ERROR", "{f}");
    assert!(
        f["status_message"].as_str().unwrap_or("").contains(message),
        "{f}"
    );
    assert!(
        shown["failed_observations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["name"] == failing),
        "{shown}"
    );
}

/// The seed's four queries, as `observe report` runs them, through `observe query`: each
/// gives rows for the client's five one-trace sessions.
fn check_seed_queries(db: &std::path::Path, run: &ClientRun, expected: &Expected) {
    let query = |report: Report| -> Vec<Value> {
        let rows = crate::serve_clients::observe_json(db, &["query", &report.sql()]);
        rows.as_array().expect("rows").clone()
    };
    let row = |rows: &[Value], key: &str, value: &str| -> Value {
        rows.iter()
            .find(|r| r[key] == value)
            .unwrap_or_else(|| panic!("no row with {key} = {value}: {rows:?}"))
            .clone()
    };
    let close = |v: &Value, wanted: f64| {
        let n = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
        assert!((n - wanted).abs() < 1e-9, "{n} is not {wanted}");
    };

    // (a) by user: five traces, each with one priced generation.
    let users = query(Report::Users);
    let u = row(&users, "user_id", expected.user);
    assert_eq!(u["traces"], 5, "{u}");
    assert!(u["avg_latency_ms"].as_f64().unwrap() > 0.0, "{u}");
    close(&u["computed_cost"], 5.0 * GENERATION_COST);

    // (b) by content type, where the client sends trace metadata.
    if let Some(content_type) = expected.content_type {
        let types = query(Report::ContentTypes);
        let t = row(&types, "content_type", content_type);
        assert_eq!(t["traces"], 5, "{t}");
        close(&t["avg_computed_cost"], GENERATION_COST);
    }

    // (c) the slowest sessions of the last 7 days: the five, one trace each.
    let sessions = query(Report::SlowSessions);
    for session in &run.sessions {
        let s = row(&sessions, "session_id", session);
        assert_eq!(s["traces"], 1, "{s}");
        assert!(s["duration_ms"].as_f64().unwrap() > 0.0, "{s}");
        close(&s["computed_cost"], GENERATION_COST);
    }

    // (d) users with at least five sessions: this client's user has exactly five.
    let slow_users = query(Report::SlowUsers);
    let d = row(&slow_users, "user_id", expected.user);
    assert_eq!(d["sessions"], 5, "{d}");
    assert!(d["avg_session_latency_ms"].as_f64().unwrap() > 0.0, "{d}");
}

/// Each observation of a tree with its parent's name.
fn flatten(nodes: &Value, parent: Option<&str>, out: &mut Vec<(Value, Option<String>)>) {
    for node in nodes.as_array().into_iter().flatten() {
        out.push((node.clone(), parent.map(str::to_owned)));
        flatten(&node["children"], node["name"].as_str(), out);
    }
}

fn find<'a>(flat: &'a [(Value, Option<String>)], name: &str) -> &'a Value {
    &flat
        .iter()
        .find(|(o, _)| o["name"] == name)
        .unwrap_or_else(|| panic!("no observation {name}"))
        .0
}
