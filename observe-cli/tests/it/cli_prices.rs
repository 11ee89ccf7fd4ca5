//! `observe prices`: a model's entry, tiers and prices from the shipped list (Langfuse's),
//! a name no price matches, and `--check` over a real store file with an unknown model.

use std::path::Path;

use crate::common::priced::write_priced_trace;
use crate::common::record::Recorder;
use crate::common::{failed, observe, ok};
use observe_model::model::{
    Cost, Level, ObservationDetails, ObservationType, TraceAttributes, Usage,
};

/// The exit code for "a model has no price" (docs/CLI.md).
const NO_PRICE: i32 = 3;

#[test]
fn a_model_shows_its_entry_tiers_prices_and_the_list_date() {
    let text = ok(&observe(None, &["prices", "gpt-4o"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "`gpt-4o` matches `gpt-4o` (pattern (?i)^(openai/)?(gpt-4o)$)",
        "{text}"
    );
    // The conditional tier first (the server tries it first), the default last.
    let fast = lines
        .iter()
        .position(|l| l.contains("tier Fast mode"))
        .unwrap();
    let standard = lines
        .iter()
        .position(|l| l.contains("tier Standard"))
        .unwrap();
    assert!(fast < standard, "{text}");
    assert!(
        lines[fast].contains("priority 1: when model_parameters.service_tier in [fast, priority]"),
        "{text}"
    );
    assert!(lines[standard].contains("default"), "{text}");
    // Langfuse's gpt-4o prices: $2.50 in, $10 out, $1.25 cache reads per million.
    let after = |from: usize, key: &str| {
        lines[from..]
            .iter()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap()
            .to_owned()
    };
    assert_eq!(after(standard, "input"), "$2.5/1M");
    assert_eq!(after(standard, "output"), "$10/1M");
    assert_eq!(after(standard, "input_cached_tokens"), "$1.25/1M");
    assert_eq!(after(fast, "output"), "$17/1M");
    assert!(
        lines.last().unwrap().contains("price list of 2026-08-21"),
        "{text}"
    );

    // A provider prefix and another case find the same entry.
    let text = ok(&observe(None, &["prices", "OpenAI/GPT-4o"]));
    assert!(
        text.starts_with("`OpenAI/GPT-4o` matches `gpt-4o` "),
        "{text}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&ok(&observe(None, &["--json", "prices", "gpt-4o-mini"]))).unwrap();
    assert_eq!(json["match"]["model_name"], "gpt-4o-mini");
    assert_eq!(json["list"]["list_date"], "2026-08-21");
    let standard = json["match"]["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["default"] == true)
        .unwrap();
    assert_eq!(standard["prices"]["input"], 1.5e-7);
    assert_eq!(standard["prices"]["output"], 6e-7);
}

#[test]
fn a_name_no_price_matches_says_so_and_exits_3() {
    let out = observe(None, &["prices", "house-model-7"]);
    assert_eq!(out.status.code(), Some(NO_PRICE));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("no price matches `house-model-7`"),
        "{text}"
    );
    assert!(text.contains("OBSERVE_MODEL_PRICES"), "{text}");

    let out = observe(None, &["--json", "prices", "house-model-7"]);
    assert_eq!(out.status.code(), Some(NO_PRICE));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["match"], serde_json::Value::Null);
}

#[test]
fn the_whole_list_has_every_model() {
    let text = ok(&observe(None, &["prices"]));
    assert!(
        text.starts_with("Langfuse's model price list of 2026-08-21"),
        "{text}"
    );
    assert!(
        text.lines().next().unwrap().ends_with(": 167 models"),
        "{text}"
    );
    // The header, then one line per model.
    assert_eq!(text.lines().count(), 2 + 167);
    let gemini = text
        .lines()
        .find(|l| l.starts_with("gemini-2.5-pro "))
        .unwrap();
    assert_eq!(
        gemini.split_whitespace().collect::<Vec<_>>(),
        ["gemini-2.5-pro", "$1.25/1M", "$10/1M", "2"]
    );
}

/// A store with two gpt-4o generations (priced) and three of a model no price matches,
/// beside what needs no price: an agent naming an unknown model, and a generation whose
/// caller gave its cost.
fn write_store_with_an_unknown_model(path: &Path) {
    write_priced_trace(path, "known", TraceAttributes::default(), None);
    let mut recorder = Recorder::new();
    let mut trace = recorder.trace("unknown", TraceAttributes::default());
    for name in ["a", "b", "c"] {
        trace.generation(
            name,
            ObservationDetails {
                model: Some("acme-large-2".to_owned()),
                usage: Some(Usage::new(10, 10)),
                ..ObservationDetails::default()
            },
        );
    }
    let agent = trace.start(ObservationType::Agent, "planner");
    trace.finish(
        agent,
        Level::Default,
        ObservationDetails {
            model: Some("acme-agent-model".to_owned()),
            ..ObservationDetails::default()
        },
    );
    trace.generation(
        "given",
        ObservationDetails {
            model: Some("acme-given-cost".to_owned()),
            usage: Some(Usage::new(10, 10)),
            cost: Some(Cost::new(0.01, 0.02)),
            ..ObservationDetails::default()
        },
    );
    trace.end();
    recorder.write(path);
}

#[test]
fn check_lists_the_models_in_the_store_without_a_price() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    write_store_with_an_unknown_model(&db);

    let out = observe(Some(&db), &["prices", "--check"]);
    assert_eq!(out.status.code(), Some(NO_PRICE), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("1 of 2 models in the store have no price"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.starts_with("acme-large-2"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["acme-large-2", "3"]
    );
    assert!(!text.contains("gpt-4o"), "{text}");
    // An agent's model and a caller-given cost need no price.
    assert!(!text.contains("acme-agent-model"), "{text}");
    assert!(!text.contains("acme-given-cost"), "{text}");

    let out = observe(Some(&db), &["--json", "prices", "--check"]);
    assert_eq!(out.status.code(), Some(NO_PRICE));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["models_seen"], 2);
    assert_eq!(
        json["unpriced"],
        serde_json::json!([{"model": "acme-large-2", "observations": 3}])
    );

    // Every model priced: exit 0.
    let priced = dir.path().join("priced.db");
    write_priced_trace(&priced, "known", TraceAttributes::default(), None);
    let text = ok(&observe(Some(&priced), &["prices", "--check"]));
    assert!(
        text.starts_with("every model in the store has a price (1 model)"),
        "{text}"
    );

    // No store: an error (exit 1), not a verdict.
    let missing = dir.path().join("none.db");
    let out = observe(Some(&missing), &["prices", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = failed(&out);
    assert!(err.contains("no store at"), "{err}");
}

#[test]
fn a_file_named_by_observe_model_prices_goes_on_top() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.json");
    std::fs::write(
        &file,
        r#"[{"modelName": "house", "matchPattern": "(?i)^(gpt-4o|house-model)$",
             "prices": {"input": 1e-6}}]"#,
    )
    .unwrap();
    let run = |file: &Path, model: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_observe"))
            .args(["prices", model])
            .env("OBSERVE_MODEL_PRICES", file)
            .output()
            .unwrap()
    };
    let text = ok(&run(&file, "gpt-4o"));
    assert!(text.starts_with("`gpt-4o` matches `house` "), "{text}");
    assert!(
        text.contains("prices.json on top (OBSERVE_MODEL_PRICES)"),
        "{text}"
    );
    assert!(ok(&run(&file, "house-model")).contains("$1/1M"));

    let err = failed(&run(&dir.path().join("none.json"), "gpt-4o"));
    assert!(err.contains("cannot read the model price list"), "{err}");
    assert!(err.contains("OBSERVE_MODEL_PRICES"), "{err}");
}
