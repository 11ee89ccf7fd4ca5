//! The OpenTelemetry GenAI attributes on the wire, usage details with any keys end to end,
//! and costs computed from usage for the local store only: a real loopback server decoding
//! the real OTLP protobuf (and the legacy ingestion JSON), a real SQLite file.

use std::time::{Duration, SystemTime};

use crate::export_support::*;
use observe_runtime::config::{Config, LangfuseApi};
use observe_runtime::export::store::{sql, Store, StoreExporter};
use observe_runtime::model::{Cost, ObservationType, Timestamp, Usage};
use observe_runtime::pricing::{ModelPrice, PriceList};
use observe_runtime::view::{render_session, ViewOptions};
use observe_runtime::{Client, ObservationUpdate, Trace};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use serde_json::json;

fn langfuse_client(server: &Server, api: LangfuseApi) -> Client {
    Config::new()
        .keys("pk-lf-1", "sk-lf-1")
        .base_url(&server.base_url)
        .langfuse_api(api)
        .flush_interval(Duration::from_millis(50))
        .build_client()
        .expect("valid config")
        .expect("enabled")
}

/// A chat generation that reports usage (with cache and reasoning counts) and no cost, a
/// tool, an agent, an embedding and a plain span, in session `chat-7`.
fn record(client: &Client) {
    let trace = client.trace(Trace::new("answer").session_id("chat-7"));
    let start = SystemTime::now();
    let mut chat = trace.observation(ObservationType::Generation, "chat");
    chat.update(
        ObservationUpdate::new()
            .model("gpt-4o-mini")
            .model_parameters(json!({
                "temperature": 0.2, "max_tokens": 256, "top_p": 1, "stop": ["\n\n"],
                "response_format": {"type": "json_object"}, "stream": true
            }))
            .usage(
                Usage::new(1000, 200)
                    .with("input_cached_tokens", 3000)
                    .with("output_reasoning_tokens", 50)
                    .with("input_audio_tokens", 9),
            )
            .completion_start_time(Timestamp::from(start + Duration::from_millis(180))),
    );
    chat.end();
    trace.observation(ObservationType::Tool, "search").end();
    trace.observation(ObservationType::Agent, "planner").end();
    let mut embed = trace.observation(ObservationType::Embedding, "embed");
    embed.update(
        ObservationUpdate::new()
            .model("text-embedding-3-small")
            .usage(Usage::default().with("input", 500).with("total", 500)),
    );
    embed.end();
    trace.span("plain").end();
    trace.end();
}

#[test]
fn spans_carry_the_gen_ai_attributes_beside_langfuse_ones() {
    let server = Server::accepting();
    let client = langfuse_client(&server, LangfuseApi::Otlp);
    record(&client);
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    let spans = server.spans();
    let span = |name: &str| spans.iter().find(|s| s.name == name).unwrap().clone();

    for (name, operation) in [
        ("chat", Some("chat")),
        ("search", Some("execute_tool")),
        ("planner", Some("invoke_agent")),
        ("embed", Some("embeddings")),
        ("plain", None),
        ("answer", None),
    ] {
        let s = span(name);
        assert_eq!(
            attr_str(&s, "gen_ai.operation.name").as_deref(),
            operation,
            "{name}"
        );
        assert_eq!(
            attr_str(&s, "gen_ai.conversation.id").as_deref(),
            Some("chat-7"),
            "{name}: the session is the conversation"
        );
    }
    let plain = attrs(&span("plain"));
    assert!(
        !plain
            .keys()
            .any(|k| k.starts_with("gen_ai.") && !["gen_ai.conversation.id"].contains(&k.as_str())),
        "a plain span has no GenAI attributes but the conversation: {plain:?}"
    );

    let chat = span("chat");
    let a = attrs(&chat);
    assert_eq!(
        attr_str(&chat, "gen_ai.request.model").as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        attr_str(&chat, "gen_ai.response.model").as_deref(),
        Some("gpt-4o-mini")
    );
    // Langfuse's usage (input without cache, output without reasoning) as the conventions
    // count it: the inverse of the server's mapping.
    for (key, value) in [
        ("gen_ai.usage.input_tokens", 4000),
        ("gen_ai.usage.output_tokens", 250),
        ("gen_ai.usage.cache_read.input_tokens", 3000),
        ("gen_ai.usage.reasoning.output_tokens", 50),
    ] {
        assert_eq!(a.get(key), Some(&Any::IntValue(value)), "{key}");
    }
    assert_eq!(a.get("gen_ai.usage.cache_creation.input_tokens"), None);
    assert_eq!(
        a.get("gen_ai.request.temperature"),
        Some(&Any::DoubleValue(0.2))
    );
    assert_eq!(
        a.get("gen_ai.request.max_tokens"),
        Some(&Any::IntValue(256))
    );
    assert_eq!(a.get("gen_ai.request.top_p"), Some(&Any::IntValue(1)));
    assert_eq!(
        attr_strings(&chat, "gen_ai.request.stop_sequences"),
        Some(vec!["\n\n".to_owned()])
    );
    assert!(!a.contains_key("gen_ai.request.response_format"));
    assert!(!a.contains_key("gen_ai.request.stream"));
    let Some(Any::DoubleValue(ttfc)) = a.get("gen_ai.response.time_to_first_chunk") else {
        panic!("no time to first chunk: {a:?}");
    };
    assert!((0.0..10.0).contains(ttfc), "{ttfc} s");

    // The Langfuse attributes are unchanged, and usage details keep every key as given.
    assert_eq!(
        attr_str(&chat, "langfuse.observation.model.name").as_deref(),
        Some("gpt-4o-mini")
    );
    assert_eq!(
        attr_json(&chat, "langfuse.observation.usage_details"),
        Some(
            json!({"input": 1000, "output": 200, "total": 1200, "input_cached_tokens": 3000,
                    "output_reasoning_tokens": 50, "input_audio_tokens": 9})
        )
    );
    // No cost was given: none is sent (Langfuse prices it on its server).
    assert_eq!(attr_str(&chat, "langfuse.observation.cost_details"), None);
    assert!(!a.keys().any(|k| k.contains("cost")), "{a:?}");
}

#[test]
fn the_legacy_ingestion_api_gets_usage_keys_and_no_computed_cost() {
    let server = Server::accepting();
    let client = langfuse_client(&server, LangfuseApi::Ingestion);
    record(&client);
    let report = client.flush(FLUSH);
    assert_eq!(report.stats.failed, 0, "{report:?}");
    let events = server.events();
    let chat = events
        .iter()
        .find(|e| e["body"]["name"] == "chat")
        .expect("the chat generation");
    assert_eq!(chat["body"]["usageDetails"]["input_cached_tokens"], 3000);
    assert_eq!(chat["body"]["usageDetails"]["output_reasoning_tokens"], 50);
    assert!(chat["body"].get("costDetails").is_none(), "{chat}");
}

#[test]
fn the_store_computes_cost_from_usage_and_marks_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let client = Client::builder()
        .exporter(StoreExporter::open(&path).unwrap())
        .build();
    record(&client);
    // A given cost wins over the price list.
    let trace = client.trace(Trace::new("priced").session_id("chat-7"));
    let mut given = trace.generation("given");
    given.update(
        ObservationUpdate::new()
            .model("gpt-4o-mini")
            .usage(Usage::new(1000, 200))
            .cost(Cost::total_only(0.5)),
    );
    given.end();
    let mut unknown = trace.generation("unknown");
    unknown.update(
        ObservationUpdate::new()
            .model("house-model")
            .usage(Usage::new(1000, 200)),
    );
    unknown.end();
    trace.end();
    client.shutdown(FLUSH);

    let store = Store::open(&path).unwrap();
    let row = |name: &str| -> (f64, i64, Option<String>) {
        let rows = sql::query(
            &store,
            &format!(
                "SELECT calculated_total_cost, cost_computed, cost_details FROM observations
                 WHERE name = '{name}'"
            ),
        )
        .unwrap()
        .to_json();
        let r = &rows[0];
        (
            r["calculated_total_cost"].as_f64().unwrap(),
            // `observe query` prints the flag as PostgreSQL prints a boolean.
            i64::from(r["cost_computed"] == "true"),
            r["cost_details"].as_str().map(str::to_owned),
        )
    };
    // gpt-4o-mini at the built-in list: $0.15/M input, $0.075/M cached, $0.60/M output;
    // reasoning and audio tokens have no price there.
    let expected = 1000.0 * 0.15e-6 + 3000.0 * 0.075e-6 + 200.0 * 0.60e-6;
    let (total, computed, details) = row("chat");
    assert!((total - expected).abs() < 1e-12, "{total} vs {expected}");
    assert_eq!(computed, 1);
    let details: serde_json::Value = serde_json::from_str(&details.unwrap()).unwrap();
    assert!((details["input_cached_tokens"].as_f64().unwrap() - 3000.0 * 0.075e-6).abs() < 1e-15);
    let embedding = 500.0 * 0.02e-6;
    let (total, computed, _) = row("embed");
    assert!((total - embedding).abs() < 1e-15, "{total}");
    assert_eq!(computed, 1);
    let (total, computed, details) = row("given");
    assert_eq!((total, computed), (0.5, 0));
    let details: serde_json::Value = serde_json::from_str(&details.unwrap()).unwrap();
    assert_eq!(details, serde_json::json!({"total": 0.5}));
    assert_eq!(row("unknown"), (0.0, 0, None));
    assert_eq!(row("plain"), (0.0, 0, None));

    // The trace rows: the computed part apart.
    let traces: Vec<(String, f64, f64)> = sql::query(
        &store,
        "SELECT name, calculated_total_cost, computed_cost FROM traces ORDER BY name",
    )
    .unwrap()
    .to_json()
    .as_array()
    .unwrap()
    .iter()
    .map(|r| {
        (
            r["name"].as_str().unwrap().to_owned(),
            r["calculated_total_cost"].as_f64().unwrap(),
            r["computed_cost"].as_f64().unwrap(),
        )
    })
    .collect();
    assert_eq!(traces[0].0, "answer");
    assert!((traces[0].1 - (expected + embedding)).abs() < 1e-12);
    assert!((traces[0].2 - (expected + embedding)).abs() < 1e-12);
    assert_eq!(traces[1].0, "priced");
    assert!((traces[1].1 - 0.5).abs() < 1e-12 && traces[1].2 == 0.0);

    // Read back: the computed cost is apart from the given one, and the tree flags it.
    let observations = store.session_observations("chat-7").unwrap();
    let chat = observations.iter().find(|o| o.name == "chat").unwrap();
    assert!(chat.cost_is_computed());
    assert_eq!(
        chat.details().cost,
        None,
        "never a given cost, so never sent"
    );
    let tree = render_session("chat-7", &observations, &ViewOptions::snapshot());
    // $0.50 given plus $0.000515 computed: the session's figure shows both parts.
    assert!(tree.starts_with("Session: chat-7 ($0.501)\n"), "{tree}");
    assert!(tree.contains("├── search [tool]\n"), "{tree}");
    assert!(tree.contains("├── answer ($0.000505)"), "{tree}");
    assert!(tree.contains("├── chat [generation] ($0.000495)"), "{tree}");
    assert!(tree.contains("└── plain\n"), "{tree}");
    assert!(tree.contains("given [generation] ($0.50)"), "{tree}");
    assert!(tree.contains("└── priced ($0.50)"), "{tree}");
}

#[test]
fn prices_given_in_code_or_a_file_override_the_built_in_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prices.json");
    std::fs::write(
        &file,
        r#"[{"modelName": "ours", "matchPattern": "(?i)^gpt-4o-mini$",
             "pricingTiers": [{"isDefault": true, "priority": 0, "conditions": [],
                               "prices": {"input": 1.0, "output": 2.0}},
                              {"name": "big", "isDefault": false, "priority": 1,
                               "conditions": [{"usageDetailPattern": "^input$",
                                               "operator": "gte", "value": 1000}],
                               "prices": {"input": 0.5, "output": 0.5}}]}]"#,
    )
    .unwrap();
    let path = dir.path().join("traces.db");
    let house = ModelPrice::new("house", "(?i)^house-model$")
        .unwrap()
        .price("input", 0.25);
    let store = StoreExporter::open(&path).unwrap().with_prices(
        PriceList::from_file(&file)
            .unwrap()
            .overriding(PriceList::new().with_model(house)),
    );
    let client = Client::builder().exporter(store).build();
    let trace = client.trace(Trace::new("t"));
    for (name, model, input) in [
        ("small", "gpt-4o-mini", 10),
        ("big", "gpt-4o-mini", 1000),
        ("house", "HOUSE-MODEL", 4),
    ] {
        let mut g = trace.generation(name);
        g.update(
            ObservationUpdate::new()
                .model(model)
                .usage(Usage::new(input, 1)),
        );
        g.end();
    }
    trace.end();
    client.shutdown(FLUSH);

    let store = Store::open(&path).unwrap();
    let cost = |name: &str| -> f64 {
        let rows = sql::query(
            &store,
            &format!("SELECT calculated_total_cost FROM observations WHERE name = '{name}'"),
        )
        .unwrap()
        .to_json();
        rows[0]["calculated_total_cost"].as_f64().unwrap()
    };
    assert_eq!(cost("small"), 10.0 + 2.0);
    assert_eq!(cost("big"), 500.0 + 0.5);
    assert_eq!(cost("house"), 1.0);
}
