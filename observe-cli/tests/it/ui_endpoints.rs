//! `observe ui`'s JSON endpoints and HTTP rules, over loopback against the binary (the
//! pages' behaviour is in ui_browser.rs).

use std::process::Command;

use crate::ui_support::*;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

pub(crate) fn get(url: &str) -> (u16, Value) {
    let response = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

fn ids(v: &Value) -> Vec<String> {
    v["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn file_bytes(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn endpoints_answer_filter_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_generated(&store, "generated", 60);
    let xss_trace = write_xss(&store);
    let ui = UiProcess::start(&store);
    let api = format!("{}api", ui.url);

    // Sessions: most recent first, paged.
    let (status, first) = get(&format!("{api}/sessions"));
    assert_eq!(status, 200, "{first}");
    assert_eq!(ids(&first).len(), 50);
    assert_eq!(
        ids(&first)[0],
        XSS_SESSION,
        "the newest session comes first"
    );
    assert_eq!(ids(&first)[1], "generated_059");
    assert_eq!(first["has_more"], true);
    let (_, second) = get(&format!("{api}/sessions?page=1"));
    assert_eq!(ids(&second).len(), 11);
    assert_eq!(second["has_more"], false);
    assert_eq!(ids(&second)[10], "generated_000");
    let s = &first["sessions"][1];
    assert_eq!(s["traces"], 1);
    assert_eq!(s["tokens"], 179.0);
    assert_eq!(s["users"], serde_json::json!(["user_3"]));
    assert!((s["cost"].as_f64().unwrap() - 0.0003).abs() < 1e-12);

    // Filters: user, tag, errors, search, time range.
    let (_, by_user) = get(&format!("{api}/sessions?user=user_3"));
    assert_eq!(ids(&by_user).len(), 9, "{by_user}"); // 3, 10, ..., 59
    assert!(by_user["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["users"] == serde_json::json!(["user_3"])));
    let (_, by_tag) = get(&format!("{api}/sessions?tag=generated&limit=100"));
    assert_eq!(ids(&by_tag).len(), 60);
    let (_, errors) = get(&format!("{api}/sessions?errors=1"));
    assert_eq!(ids(&errors), [XSS_SESSION]);
    assert_eq!(errors["sessions"][0]["errors"], 1);
    let (_, found) = get(&format!("{api}/sessions?q=generated_01"));
    assert_eq!(ids(&found).len(), 10);
    let (_, by_trace) = get(&format!("{api}/sessions?q={xss_trace}"));
    assert_eq!(ids(&by_trace), [XSS_SESSION]);
    let (_, future) = get(&format!("{api}/sessions?from=2999-01-01"));
    assert!(ids(&future).is_empty());
    let (_, past) = get(&format!("{api}/sessions?to=2000-01-01"));
    assert!(ids(&past).is_empty());
    let (status, bad) = get(&format!("{api}/sessions?page=x"));
    assert_eq!(status, 400, "{bad}");

    // Session: turns, totals, percentiles.
    let session = utf8_percent_encode(XSS_SESSION, NON_ALPHANUMERIC);
    let (status, s) = get(&format!("{api}/session/{session}"));
    assert_eq!(status, 200, "{s}");
    assert_eq!(s["id"], XSS_SESSION);
    assert_eq!(s["traces"].as_array().unwrap().len(), 1);
    assert_eq!(s["traces"][0]["name"], XSS_NAME);
    assert_eq!(s["traces"][0]["errors"], 1);
    assert!(s["latency_p50_ms"].is_number() && s["latency_p95_ms"].is_number());
    let (status, _) = get(&format!("{api}/session/nope"));
    assert_eq!(status, 404);

    // Trace, by full id and by prefix, and one observation in full.
    let (status, t) = get(&format!("{api}/trace/{xss_trace}"));
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["tags"], serde_json::json!([XSS_TAG]));
    let observations = t["observations"].as_array().unwrap();
    let failed = observations
        .iter()
        .find(|o| o["level"] == "ERROR")
        .expect("the failed generation");
    assert_eq!(failed["name"], XSS_NAME);
    let (_, by_prefix) = get(&format!("{api}/trace/{}", &xss_trace[..10]));
    assert_eq!(by_prefix["id"], xss_trace.as_str());
    let (status, o) = get(&format!(
        "{api}/trace/{xss_trace}/observation/{}",
        failed["id"].as_str().unwrap()
    ));
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["output"], XSS_INPUT);
    assert_eq!(o["status_message"], XSS_INPUT);
    assert_eq!(o["scores"][0]["name"], XSS_NAME);
    // An id that is not hex is a sender's own text id (`observe serve`), looked up whole.
    let (status, _) = get(&format!("{api}/trace/not-hex"));
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{api}/trace/"));
    assert_eq!(status, 400);

    // Users.
    let (_, users) = get(&format!("{api}/users"));
    assert_eq!(users["users"].as_array().unwrap().len(), 8);

    // Query: observe query's translation, read-only guard and row limit.
    let (status, q) = get(&format!(
        "{api}/query?sql=SELECT%20COUNT(*)%20AS%20n%20FROM%20traces%20WHERE%20timestamp%20%3E%20NOW()%20-%20INTERVAL%20'1%20day'"
    ));
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["columns"], serde_json::json!(["n"]));
    assert_eq!(q["rows"][0][0], 61);
    let (_, many) = get(&format!(
        "{api}/query?sql=WITH%20RECURSIVE%20n(i)%20AS%20(SELECT%201%20UNION%20ALL%20SELECT%20i%2B1%20FROM%20n)%20SELECT%20i%20FROM%20n"
    ));
    assert_eq!(many["rows"].as_array().unwrap().len(), 1000);
    assert_eq!(many["truncated"], true);
    let (status, refused) = get(&format!("{api}/query?sql=DELETE%20FROM%20traces"));
    assert_eq!(status, 400);
    assert!(refused["error"].as_str().unwrap().contains("SELECT"));
    let (_, reports) = get(&format!("{api}/reports"));
    assert!(reports.as_array().unwrap().len() >= 4);

    // Live: the token changes when a writer commits.
    let (_, token) = get(&format!("{api}/changes"));
    let (_, same) = get(&format!("{api}/changes"));
    assert_eq!(token, same);
    write_generated(&store, "later", 1);
    let (_, changed) = get(&format!("{api}/changes"));
    assert_ne!(token, changed);

    // HTTP rules: reads only, loopback names only, nothing outside the assets.
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .build()
        .unwrap();
    let post = client.post(format!("{api}/sessions")).send().unwrap();
    assert_eq!(post.status().as_u16(), 405);
    let rebound = client
        .get(format!("{api}/sessions"))
        .header("Host", "attacker.example:7070")
        .send()
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 421);
    let page = client.get(&ui.url).send().unwrap();
    assert!(page
        .headers()
        .get("content-security-policy")
        .is_some_and(|v| v.to_str().unwrap().contains("script-src 'self'")));
    for missing in ["api/nope", "../Cargo.toml", "assets/app.js"] {
        let status = client
            .get(format!("{}{missing}", ui.url))
            .send()
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 404, "{missing}");
    }
}

fn close(value: &Value, expected: f64) -> bool {
    value.as_f64().is_some_and(|v| (v - expected).abs() < 1e-9)
}

#[test]
fn costs_computed_from_usage_are_marked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    let trace = write_priced(&store);
    let ui = UiProcess::start(&store);
    let api = format!("{}api", ui.url);

    let (_, sessions) = get(&format!("{api}/sessions"));
    let s = &sessions["sessions"][0];
    assert!(close(&s["cost"], 0.2535), "{s}");
    assert!(close(&s["computed_cost"], 0.0035), "{s}");
    let (_, session) = get(&format!("{api}/session/priced"));
    assert!(close(&session["computed_cost"], 0.0035), "{session}");
    assert!(
        close(&session["traces"][0]["computed_cost"], 0.0035),
        "{session}"
    );

    let (_, t) = get(&format!("{api}/trace/{trace}"));
    assert!(close(&t["cost"], 0.2535), "{t}");
    assert!(close(&t["computed_cost"], 0.0035), "{t}");
    let observations = t["observations"].as_array().unwrap();
    let by_name = |name: &str| {
        observations
            .iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {t}"))
    };
    let summarize = by_name("summarize");
    assert_eq!(summarize["cost_computed"], 1, "{summarize}");
    assert!(close(&summarize["cost"], 0.0035), "{summarize}");
    assert_eq!(by_name("review")["cost_computed"], 0);

    let id = summarize["id"].as_str().unwrap();
    let (_, detail) = get(&format!("{api}/trace/{trace}/observation/{id}"));
    assert_eq!(detail["cost_computed"], 1, "{detail}");
    assert!(close(&detail["cost_details"]["total"], 0.0035), "{detail}");

    let (_, users) = get(&format!("{api}/users"));
    assert!(
        close(&users["users"][0]["computed_cost"], 0.0035),
        "{users}"
    );
}

#[test]
fn the_ui_never_changes_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_generated(&store, "generated", 3);
    let wal = dir.path().join("traces.db-wal");
    let before = (file_bytes(&store), file_bytes(&wal));
    let ui = UiProcess::start(&store);
    let api = format!("{}api", ui.url);
    for endpoint in [
        "sessions",
        "users",
        "changes",
        "session/generated_001",
        "reports",
    ] {
        let (status, body) = get(&format!("{api}/{endpoint}"));
        assert_eq!(status, 200, "{endpoint}: {body}");
    }
    let (_, refused) = get(&format!("{api}/query?sql=DROP%20TABLE%20traces"));
    assert!(refused["error"].is_string());
    drop(ui);
    assert!(
        before == (file_bytes(&store), file_bytes(&wal)),
        "the store changed"
    );
}

#[test]
fn listening_beyond_loopback_warns() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_generated(&store, "generated", 1);
    // 192.0.2.1 is a documentation address: not this machine's, so the bind fails right
    // after the warning and nothing listens beyond loopback.
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("--db")
        .arg(&store)
        .args(["ui", "--bind", "192.0.2.1", "--port", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: listening on 192.0.2.1"),
        "{stderr}"
    );
    assert!(!out.status.success());
}
