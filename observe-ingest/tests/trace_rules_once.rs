//! The trace-level rules run once per distinct set of trace attributes in a request: what a
//! span reuses must be what the rules would have given it.

use observe_ingest::{decode_request, Decoded, Encoding, UNREAD_METADATA_KEY};
use serde_json::json;

fn span(id: &str, attrs: serde_json::Value) -> serde_json::Value {
    json!({
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": id,
        "name": "step",
        "startTimeUnixNano": "1765000000000000000",
        "endTimeUnixNano": "1765000002000000000",
        "attributes": attrs
    })
}

fn resource(environment: &str, spans: Vec<serde_json::Value>) -> serde_json::Value {
    json!({
        "resource": {"attributes": [
            {"key": "langfuse.environment", "value": {"stringValue": environment}}
        ]},
        "scopeSpans": [{"spans": spans}]
    })
}

fn decode(resources: Vec<serde_json::Value>) -> Decoded {
    let body = json!({ "resourceSpans": resources });
    decode_request(body.to_string().as_bytes(), Encoding::Json).unwrap()
}

fn both_session_spellings() -> serde_json::Value {
    json!([
        {"key": "langfuse.session.id", "value": {"stringValue": "s-1"}},
        {"key": "session.id", "value": {"stringValue": "older"}},
        {"key": "langfuse.trace.metadata.run", "value": {"stringValue": "{\"n\":1}"}}
    ])
}

#[test]
fn a_spelling_no_rule_read_stays_on_every_span_that_sent_it() {
    let decoded = decode(vec![resource(
        "staging",
        vec![
            span("eee19b7ec3c1b174", both_session_spellings()),
            span("eee19b7ec3c1b175", both_session_spellings()),
        ],
    )]);
    assert_eq!(decoded.observations.len(), 2);
    for obs in &decoded.observations {
        assert_eq!(obs.trace.session_id.as_deref(), Some("s-1"));
        assert_eq!(obs.trace.metadata["run"].to_value(), json!({"n": 1}));
        let unread = obs.details().metadata[UNREAD_METADATA_KEY].to_value();
        assert_eq!(unread, json!({"session.id": "older"}));
    }
    assert!(std::sync::Arc::ptr_eq(
        &decoded.observations[0].trace,
        &decoded.observations[1].trace
    ));
}

#[test]
fn spans_of_another_resource_read_that_resource() {
    let decoded = decode(vec![
        resource(
            "staging",
            vec![span("eee19b7ec3c1b174", both_session_spellings())],
        ),
        resource(
            "production",
            vec![span("eee19b7ec3c1b175", both_session_spellings())],
        ),
    ]);
    let environments: Vec<_> = decoded
        .observations
        .iter()
        .map(|o| o.trace.environment.as_deref())
        .collect();
    assert_eq!(environments, [Some("staging"), Some("production")]);
}

#[test]
fn a_key_sent_twice_keeps_its_last_value() {
    let decoded = decode(vec![resource(
        "staging",
        vec![span(
            "eee19b7ec3c1b174",
            json!([
                {"key": "langfuse.user.id", "value": {"stringValue": "first"}},
                {"key": "custom", "value": {"intValue": "1"}},
                {"key": "langfuse.user.id", "value": {"stringValue": "last"}},
                {"key": "custom", "value": {"intValue": "2"}}
            ]),
        )],
    )]);
    let obs = &decoded.observations[0];
    assert_eq!(obs.trace.user_id.as_deref(), Some("last"));
    let unread = obs.details().metadata[UNREAD_METADATA_KEY].to_value();
    assert_eq!(unread, json!({"custom": 2}));
}
