//! What the commands show of a generation recorded as a real run records it (the records
//! the runtime's client hands the store): its prompt link, and its cost when observe
//! computed it from usage (shown by the money rule, said `(computed)` in `observe trace`,
//! and `computed_cost` in tables and JSON).

use crate::common::priced::write_priced_trace;
use crate::common::{observe, ok};
use observe_model::model::TraceAttributes;
use observe_model::money::format_usd;

/// A session `chat-1` of one trace: a generation linked to prompt `summarize` v3 with usage
/// and no cost (priced by the store), and one with a cost given.
fn record(path: &std::path::Path) -> String {
    let session = TraceAttributes {
        session_id: Some("chat-1".to_owned()),
        ..TraceAttributes::default()
    };
    write_priced_trace(path, "answer", session, Some(("summarize", 3)))
}

#[test]
fn trace_shows_the_prompt_link_and_the_computed_cost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let id = record(&db);
    // gpt-4o in the built-in list: $2.50/M input, $10/M output.
    let computed = 1000.0 * 2.5e-6 + 100.0 * 10e-6;
    let total = format_usd(0.25 + computed).unwrap();

    let text = ok(&observe(Some(&db), &["trace", &id[..10]]));
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("summarize ("))
        .unwrap_or_else(|| panic!("no generation line:\n{text}"));
    assert!(line.contains("model gpt-4o"), "{line}");
    assert!(line.contains("prompt summarize v3"), "{line}");
    assert!(line.contains("cost $0.0035 (computed)"), "{line}");
    let review = text
        .lines()
        .find(|l| l.trim_start().starts_with("review ("))
        .unwrap();
    assert!(
        review.contains("cost $0.25") && !review.contains("computed"),
        "{review}"
    );
    assert!(
        text.contains("answer (") && text.contains(&format!(", {total})")),
        "{text}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "trace", &id]))).unwrap();
    assert_eq!(json["cost_computed"], true);
    let nodes = json["observations"][0]["children"].as_array().unwrap();
    let llm = nodes.iter().find(|n| n["name"] == "summarize").unwrap();
    assert_eq!(llm["prompt_name"], "summarize");
    assert_eq!(llm["prompt_version"], 3);
    assert_eq!(llm["own_cost_computed"], true);
    assert!((llm["own_cost"].as_f64().unwrap() - computed).abs() < 1e-12);
    assert!((llm["cost_details"]["total"].as_f64().unwrap() - computed).abs() < 1e-12);
    let paid = nodes.iter().find(|n| n["name"] == "review").unwrap();
    assert_eq!(paid["own_cost_computed"], false);
}

#[test]
fn session_tree_and_tables_show_computed_costs_by_the_money_rule() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    record(&db);
    let computed = 1000.0 * 2.5e-6 + 100.0 * 10e-6;

    let tree = ok(&observe(Some(&db), &["session", "chat-1"]));
    assert!(tree.starts_with("Session: chat-1 ("), "{tree}");
    let total = format_usd(0.25 + computed).unwrap();
    assert!(tree.lines().next().unwrap().contains(&total), "{tree}");
    assert!(
        tree.contains("summarize [generation] (") && tree.contains(", $0.0035)"),
        "{tree}"
    );
    assert!(!tree.contains('~'), "{tree}");
    assert!(
        tree.contains("review [generation] (") && tree.contains(", $0.25)"),
        "{tree}"
    );

    let rows: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "sessions"]))).unwrap();
    assert!((rows[0]["cost"].as_f64().unwrap() - (0.25 + computed)).abs() < 1e-12);
    assert!((rows[0]["computed_cost"].as_f64().unwrap() - computed).abs() < 1e-12);
    let table = ok(&observe(Some(&db), &["traces"]));
    assert!(table.contains("computed_cost"), "{table}");
    assert!(table.contains("$0.0035"), "{table}");
    let users: serde_json::Value =
        serde_json::from_str(&ok(&observe(Some(&db), &["--json", "report", "users"]))).unwrap();
    assert!((users[0]["computed_cost"].as_f64().unwrap() - computed).abs() < 1e-12);
}
