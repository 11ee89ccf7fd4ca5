//! Langfuse's legacy ingestion API: bodies captured from the Langfuse Python SDK 2.x
//! (`fixtures/langfuse-python-2/`, see its README) and hand-made ones for what the SDK does
//! not send, decoded into pieces; malformed events refused alone; score bodies.

use std::path::Path;

use observe_ingest::ingestion::{decode_ingestion, decode_score, ingestion_route, scores_route};
use observe_model::model::{Level, ObservationType, ScoreValue, Timestamp};
use observe_model::piece::{ObservationPiece, Piece, ScorePiece, TracePiece};
use serde_json::{json, Value};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/langfuse-python-2")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn events(body: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(body).unwrap();
    v["batch"].as_array().unwrap().clone()
}

fn time(text: &str) -> Timestamp {
    // Read back through the API itself: a one-event batch whose trace timestamp is `text`.
    let body = json!({"batch": [{"id": "e", "type": "trace-create", "timestamp": text,
                                  "body": {"id": "t", "timestamp": text}}]});
    let outcome = decode_ingestion(body.to_string().as_bytes()).unwrap();
    assert!(outcome.errors.is_empty(), "{text}: {:?}", outcome.errors);
    match &outcome.pieces[0] {
        Piece::Trace(t) => t.timestamp.unwrap(),
        other => panic!("{other:?}"),
    }
}

fn observations<'a>(pieces: &'a [Piece], id: &str) -> Vec<&'a ObservationPiece> {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Observation(o) if &*o.id == id => Some(o),
            _ => None,
        })
        .collect()
}

fn traces<'a>(pieces: &'a [Piece], id: &str) -> Vec<&'a TracePiece> {
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Trace(t) if &*t.id == id => Some(t),
            _ => None,
        })
        .collect()
}

fn score<'a>(pieces: &'a [Piece], id: &str) -> &'a ScorePiece {
    pieces
        .iter()
        .find_map(|p| match p {
            Piece::Score(s) if &*s.id == id => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no score {id}"))
}

#[test]
fn the_low_level_clients_batch_decodes_field_by_field() {
    let body = fixture("lowlevel-client.json");
    let sent = events(&body);
    let outcome = decode_ingestion(&body).unwrap();
    assert_eq!(outcome.errors, []);
    assert_eq!(outcome.successes.len(), sent.len());
    assert!(outcome.successes.iter().all(|s| s.status == 201));
    let p = &outcome.pieces;
    // One piece per event; the trace is announced, so no implied trace piece.
    assert_eq!(p.len(), sent.len());

    let [first, update] = traces(p, "trace-lowlevel-1")[..] else {
        panic!("two trace pieces expected")
    };
    let a = &first.attributes;
    assert_eq!(a.name.as_deref(), Some("support-chat"));
    assert_eq!(a.user_id.as_deref(), Some("user-42"));
    assert_eq!(a.session_id.as_deref(), Some("session-abc"));
    assert_eq!(a.release.as_deref(), Some("rel-7"));
    assert_eq!(a.version.as_deref(), Some("v1.2"));
    assert_eq!(a.environment.as_deref(), Some("staging"));
    assert_eq!(a.public, Some(true));
    assert_eq!(a.tags, ["support", "beta"]);
    assert_eq!(a.metadata["channel"].as_str(), "\"web\"");
    assert_eq!(a.metadata["attempt"].as_str(), "1");
    assert_eq!(
        a.input.as_ref().unwrap().to_value(),
        json!({"question": "Where is my order?"})
    );
    assert_eq!(
        first.timestamp,
        Some(time(sent[0]["body"]["timestamp"].as_str().unwrap()))
    );
    // `trace.update` sends another trace-create with only what changed.
    let u = &update.attributes;
    assert_eq!(u.name, None);
    assert_eq!(u.session_id, None);
    assert_eq!(u.environment, None);
    assert_eq!(u.tags, ["answered"]);
    assert_eq!(u.metadata["resolved"].as_str(), "true");
    assert_eq!(
        u.output.as_ref().unwrap().to_value(),
        json!({"answer": "It ships tomorrow."})
    );

    let [create, end] = observations(p, "span-retrieve")[..] else {
        panic!("span-create and span-update expected")
    };
    assert_eq!(&*create.trace_id, "trace-lowlevel-1");
    assert_eq!(create.name.as_deref(), Some("retrieve"));
    assert_eq!(create.kind, Some(ObservationType::Span));
    assert_eq!(create.parent_id, None);
    assert_eq!(create.trace.environment.as_deref(), Some("staging"));
    let d = create.details.as_deref().unwrap();
    assert_eq!(
        d.input.as_ref().unwrap().to_value(),
        json!({"query": "order status"})
    );
    assert_eq!(d.metadata["index"].as_str(), "\"orders\"");
    assert_eq!(d.version.as_deref(), Some("span-v2"));
    assert!(create.start.is_some());
    assert_eq!(create.end, None);
    // The update ends the span and gives its output; it leaves the start alone.
    assert_eq!(end.start, None);
    assert!(end.end >= create.start);
    assert_eq!(end.name, None);
    assert_eq!(
        end.details
            .as_deref()
            .unwrap()
            .output
            .as_ref()
            .unwrap()
            .to_value(),
        json!(["doc-1", "doc-2"])
    );

    let [event] = observations(p, "event-cache-miss")[..] else {
        panic!()
    };
    assert_eq!(event.kind, Some(ObservationType::Event));
    assert_eq!(event.level, Some(Level::Warning));
    assert_eq!(event.parent_id.as_deref(), Some("span-retrieve"));
    assert_eq!(event.end, event.start);

    let [gen, gen_end] = observations(p, "gen-answer")[..] else {
        panic!()
    };
    let g = gen.details.as_deref().unwrap();
    assert_eq!(gen.kind, Some(ObservationType::Generation));
    assert_eq!(gen.start, Some(time("2026-12-07T17:00:00.123456Z")));
    assert_eq!(g.model.as_deref(), Some("gpt-4o-mini"));
    // The SDK sends the temperature as text; it is kept as sent.
    assert_eq!(
        g.model_parameters.as_ref().unwrap().to_value(),
        json!({"temperature": "0.2", "max_tokens": 256, "stream": true, "stop": ["\n\n"]})
    );
    assert_eq!(g.prompt_name.as_deref(), Some("support-answer"));
    assert_eq!(g.prompt_version, Some(3));
    assert_eq!(
        g.completion_start_time,
        Some(time("2026-12-07T17:00:00.473456Z"))
    );
    let e = gen_end.details.as_deref().unwrap();
    assert_eq!(gen_end.kind, Some(ObservationType::Generation));
    assert_eq!(gen_end.end, Some(time("2026-12-07T17:00:02.123456Z")));
    let usage = e.usage.as_ref().unwrap();
    assert_eq!(usage.get("input"), Some(120));
    assert_eq!(usage.get("output"), Some(30));
    assert_eq!(usage.get("total"), Some(150));
    assert_eq!(usage.get("input_cached_tokens"), Some(20));
    let cost = e.cost.as_ref().unwrap();
    assert_eq!(cost.0["output"], 6e-05);
    assert_eq!(cost.total(), 0.00018);

    // The older usage shapes: OpenAI's names (sent by the SDK as input/output/total)...
    let [legacy, _] = observations(p, "gen-legacy-usage")[..] else {
        panic!()
    };
    let usage = legacy.details.as_deref().unwrap().usage.as_ref().unwrap();
    assert_eq!(
        (usage.get("input"), usage.get("output"), usage.get("total")),
        (Some(50), Some(10), Some(60))
    );
    // ...and a unit with a cost in the usage object; the total is Langfuse's fallback.
    let [chars, _] = observations(p, "gen-chars")[..] else {
        panic!()
    };
    let d = chars.details.as_deref().unwrap();
    assert_eq!(d.usage.as_ref().unwrap().get("total"), Some(400));
    assert_eq!(d.cost.as_ref().unwrap().total(), 0.006);

    let [_, failed] = observations(p, "span-failing")[..] else {
        panic!()
    };
    assert_eq!(failed.level, Some(Level::Error));
    assert_eq!(
        failed.details.as_deref().unwrap().status_message.as_deref(),
        Some("timeout after 30s")
    );

    let s = score(p, "score-numeric");
    assert_eq!(s.trace_id.as_deref(), Some("trace-lowlevel-1"));
    assert_eq!(s.value, ScoreValue::Numeric(0.9));
    assert_eq!(s.comment.as_deref(), Some("clear answer"));
    assert!(s.timestamp.is_some());
    assert_eq!(
        score(p, "score-categorical").value,
        ScoreValue::Categorical("friendly".into())
    );
    let b = score(p, "score-boolean");
    assert_eq!(b.value, ScoreValue::Boolean(true));
    assert_eq!(b.observation_id.as_deref(), Some("gen-answer"));
}

#[test]
fn creates_are_applied_before_updates_each_in_time_order() {
    let body = fixture("lowlevel-client.json");
    let sent = events(&body);
    let outcome = decode_ingestion(&body).unwrap();
    let order: Vec<&str> = outcome.successes.iter().map(|s| s.id.as_str()).collect();
    let is_update = |id: &str| {
        let e = sent.iter().find(|e| e["id"] == id).unwrap();
        e["type"].as_str().unwrap().ends_with("-update")
    };
    let first_update = order.iter().position(|id| is_update(id)).unwrap();
    assert!(order[..first_update].iter().all(|id| !is_update(id)));
    assert!(order[first_update..].iter().all(|id| is_update(id)));
    assert_eq!(
        order.iter().filter(|id| is_update(id)).count(),
        sent.iter()
            .filter(|e| e["type"].as_str().unwrap().ends_with("-update"))
            .count()
    );
    // The pieces follow the same order as the answer.
    let span_update_at = outcome
        .pieces
        .iter()
        .position(
            |p| matches!(p, Piece::Observation(o) if &*o.id == "span-retrieve" && o.end.is_some()),
        )
        .unwrap();
    let gen_create_at = outcome
        .pieces
        .iter()
        .position(
            |p| matches!(p, Piece::Observation(o) if &*o.id == "gen-chars" && o.start.is_some()),
        )
        .unwrap();
    assert!(gen_create_at < span_update_at);
}

#[test]
fn the_decorators_batch_decodes_into_one_trace() {
    let body = fixture("decorator.json");
    let sent = events(&body);
    let outcome = decode_ingestion(&body).unwrap();
    assert_eq!(outcome.errors, []);
    assert_eq!(outcome.successes.len(), sent.len());
    let trace_id = sent[0]["body"]["id"].as_str().unwrap();
    let p = &outcome.pieces;
    let pieces_of_trace = traces(p, trace_id);
    assert_eq!(pieces_of_trace.len(), 3);
    assert_eq!(
        pieces_of_trace[0].attributes.name.as_deref(),
        Some("agent-run")
    );
    let last = pieces_of_trace[2];
    assert_eq!(
        last.attributes.session_id.as_deref(),
        Some("session-decorated")
    );
    assert_eq!(last.attributes.user_id.as_deref(), Some("user-7"));
    assert_eq!(
        last.attributes.output.as_ref().unwrap().to_value(),
        json!("42")
    );

    let generation_id = sent
        .iter()
        .find(|e| e["type"] == "generation-create")
        .unwrap()["body"]["id"]
        .as_str()
        .unwrap();
    let [create, update] = observations(p, generation_id)[..] else {
        panic!()
    };
    assert_eq!(&*create.trace_id, trace_id);
    assert_eq!(create.name.as_deref(), Some("call_model"));
    assert_eq!(create.trace.environment, None);
    let d = update.details.as_deref().unwrap();
    assert_eq!(d.model.as_deref(), Some("gpt-4o"));
    let usage = d.usage.as_ref().unwrap();
    assert_eq!(
        (usage.get("input"), usage.get("output")),
        (Some(11), Some(7))
    );
    assert_eq!(d.output.as_ref().unwrap().to_value(), json!("42"));
    assert_eq!(d.metadata["provider"].as_str(), "\"openai\"");

    let failing = sent.iter().find(|e| e["type"] == "span-update").unwrap()["body"]["id"]
        .as_str()
        .unwrap();
    let [_, failed] = observations(p, failing)[..] else {
        panic!()
    };
    assert_eq!(failed.level, Some(Level::Error));
    assert_eq!(
        failed.details.as_deref().unwrap().status_message.as_deref(),
        Some("tool exploded")
    );

    let s = p
        .iter()
        .find_map(|p| match p {
            Piece::Score(s) => Some(s),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (s.name.as_str(), &s.value),
        ("correct", &ScoreValue::Numeric(1.0))
    );
    assert_eq!(s.trace_id.as_deref(), Some(trace_id));
}

#[test]
fn one_malformed_event_is_refused_alone_naming_its_field() {
    let body = fixture("lowlevel-client.json");
    let mut request: Value = serde_json::from_slice(&body).unwrap();
    let batch = request["batch"].as_array_mut().unwrap();
    let total = batch.len();
    // A span-create whose start is not a date-time, and a generation-create without its id.
    let bad_span = batch
        .iter()
        .position(|e| e["type"] == "span-create")
        .unwrap();
    batch[bad_span]["body"]["startTime"] = json!("yesterday at noon");
    let bad_span_id = batch[bad_span]["id"].as_str().unwrap().to_owned();
    let bad_gen = batch
        .iter()
        .position(|e| e["type"] == "generation-create")
        .unwrap();
    batch[bad_gen]["body"].as_object_mut().unwrap().remove("id");
    let bad_gen_id = batch[bad_gen]["id"].as_str().unwrap().to_owned();

    let answer = ingestion_route(request.to_string().as_bytes());
    assert_eq!(answer.status, 207);
    let body: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["successes"].as_array().unwrap().len(), total - 2);
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["id"], json!(bad_span_id));
    assert_eq!(errors[0]["status"], 400);
    assert_eq!(errors[0]["message"], "Invalid request data");
    let issues: Value = serde_json::from_str(errors[0]["error"].as_str().unwrap()).unwrap();
    assert_eq!(issues[0]["path"], json!(["body", "startTime"]));
    assert_eq!(issues[0]["code"], "invalid_format");
    assert_eq!(errors[1]["id"], json!(bad_gen_id));
    let issues: Value = serde_json::from_str(errors[1]["error"].as_str().unwrap()).unwrap();
    assert_eq!(issues[0]["path"], json!(["body", "id"]));
    assert!(issues[0]["message"]
        .as_str()
        .unwrap()
        .contains("expected string, received undefined"));
    // Everything else was decoded: the refused span's update still arrives.
    assert_eq!(observations(&answer.pieces, "span-retrieve").len(), 1);
    assert_eq!(answer.pieces.len(), total - 2);
}

#[test]
fn every_event_type_is_read_or_refused_as_langfuse_does() {
    let t = "2026-12-07T17:00:00.000Z";
    let ev = |id: &str, ty: &str, body: Value| json!({"id": id, "type": ty, "timestamp": t, "body": body});
    // One row per event type, as a table.
    #[rustfmt::skip]
    let events = [
        ("e-trace", "trace-create", json!({"id": "t1", "name": "all"})),
        ("e-span", "span-create", json!({"id": "o-span", "traceId": "t1"})),
        ("e-span-u", "span-update", json!({"id": "o-span", "traceId": "t1", "endTime": t})),
        ("e-gen", "generation-create", json!({"id": "o-gen", "traceId": "t1"})),
        ("e-gen-u", "generation-update", json!({"id": "o-gen", "traceId": "t1", "model": "m"})),
        ("e-event", "event-create", json!({"id": "o-event", "traceId": "t1"})),
        ("e-score", "score-create", json!({"traceId": "t1", "name": "n", "value": 1})),
        ("e-log", "sdk-log", json!({"log": "hello"})),
        ("e-legacy", "observation-create",
         json!({"traceId": "t1", "type": "GENERATION", "usage": {"input": 3}})),
        ("e-legacy-u", "observation-update", json!({"id": "o-x", "traceId": "t1", "type": "EVENT"})),
        ("e-run", "dataset-run-item-create", json!({"traceId": "t1"})),
        ("e-unknown", "trace-delete", json!({})),
    ];
    let mut batch: Vec<Value> = events
        .into_iter()
        .map(|(id, ty, body)| ev(id, ty, body))
        .collect();
    batch.extend([
        json!({"type": "span-create", "timestamp": t, "body": {"id": "o-noid", "traceId": "t1"}}),
        ev(
            "e-level",
            "span-create",
            json!({"id": "o-level", "level": "error"}),
        ),
        ev(
            "e-prompt",
            "generation-create",
            json!({"id": "o-prompt", "promptName": "p"}),
        ),
    ]);
    let typed = [
        ("agent-create", ObservationType::Agent),
        ("tool-create", ObservationType::Tool),
        ("chain-create", ObservationType::Chain),
        ("retriever-create", ObservationType::Retriever),
        ("evaluator-create", ObservationType::Evaluator),
        ("embedding-create", ObservationType::Embedding),
        ("guardrail-create", ObservationType::Guardrail),
    ];
    for (ty, _) in typed {
        batch.push(ev(
            &format!("e-{ty}"),
            ty,
            json!({"id": format!("o-{ty}"), "traceId": "t2",
            "parentObservationId": "o-agent-create", "model": "m",
            "usageDetails": {"input": 1}}),
        ));
    }
    let outcome = decode_ingestion(json!({"batch": batch}).to_string().as_bytes()).unwrap();
    let refused: Vec<&str> = outcome.errors.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        refused,
        ["e-run", "e-unknown", "unknown", "e-level", "e-prompt"]
    );
    let paths: Vec<String> = outcome
        .errors
        .iter()
        .map(|e| e.issues[0].path_text())
        .collect();
    assert_eq!(paths, ["type", "type", "id", "body.level", "body"]);
    // The sdk-log is neither a success nor an error (Langfuse only logs it).
    assert_eq!(outcome.successes.len(), batch.len() - 5 - 1);
    assert!(outcome.successes.iter().all(|s| s.id != "e-log"));

    let p = &outcome.pieces;
    for (ty, kind) in typed {
        let [o] = observations(p, &format!("o-{ty}"))[..] else {
            panic!("{ty}")
        };
        assert_eq!(o.kind, Some(kind), "{ty}");
        assert_eq!(o.details.as_deref().unwrap().model.as_deref(), Some("m"));
        assert_eq!(
            o.details
                .as_deref()
                .unwrap()
                .usage
                .as_ref()
                .unwrap()
                .get("input"),
            Some(1)
        );
    }
    // The legacy create has no body id: its event's names it.
    let [legacy] = observations(p, "e-legacy")[..] else {
        panic!()
    };
    assert_eq!(legacy.kind, Some(ObservationType::Generation));
    assert_eq!(
        legacy
            .details
            .as_deref()
            .unwrap()
            .usage
            .as_ref()
            .unwrap()
            .get("total"),
        Some(3)
    );
    assert_eq!(observations(p, "o-x")[0].kind, Some(ObservationType::Event));
    assert_eq!(score(p, "e-score").name, "n");
    // t2 had no trace-create: its observations still make the trace, announced once.
    assert_eq!(traces(p, "t2").len(), 1);
    assert_eq!(traces(p, "t2")[0], &TracePiece::new("t2"));
    assert_eq!(traces(p, "t1").len(), 1);
    assert!(matches!(p[0], Piece::Trace(_)));
}

#[test]
fn timestamps_in_every_form_the_sdks_send_are_one_instant() {
    let instant = time("2026-12-07T17:00:00.5Z");
    for text in [
        "2026-12-07T17:00:00.500Z",
        "2026-12-07T17:00:00.500000Z",
        "2026-12-07T18:00:00.5+01:00",
        "2026-12-07T12:00:00.500-05:00",
        "2026-12-07T17:00:00.500000000+00:00",
    ] {
        assert_eq!(time(text), instant, "{text}");
    }
    assert_eq!(
        time("2026-12-07T17:00:00Z"),
        Timestamp(instant.as_nanos() - 500_000_000)
    );
    // A start without a zone is refused, as the server refuses it.
    let body = json!({"batch": [{"id": "e", "type": "span-create", "timestamp": "2026-12-07T17:00:00Z",
        "body": {"id": "s", "startTime": "2026-12-07T17:00:00"}}]});
    let outcome = decode_ingestion(body.to_string().as_bytes()).unwrap();
    assert_eq!(outcome.errors[0].issues[0].path_text(), "body.startTime");
}

#[test]
fn values_langfuse_coerces_are_coerced_and_unknown_fields_ignored() {
    let body = json!({"batch": [{"id": "e", "type": "generation-create",
        "timestamp": "2026-12-07T17:00:00Z", "somethingNew": {"x": 1},
        "body": {"id": "g", "traceId": "t", "environment": "Langfuse-Prod",
                 "usageDetails": {"input": "12", "output": -3, "note": "n/a"},
                 "costDetails": {"total": 0.5, "currency": "USD"},
                 "metadata": "just text", "futureField": [1, 2]}}]});
    let outcome = decode_ingestion(body.to_string().as_bytes()).unwrap();
    assert_eq!(outcome.errors, []);
    let [g] = observations(&outcome.pieces, "g")[..] else {
        panic!()
    };
    assert_eq!(g.trace.environment.as_deref(), Some("prod"));
    let d = g.details.as_deref().unwrap();
    assert_eq!(d.usage.as_ref().unwrap().0.len(), 1);
    assert_eq!(d.usage.as_ref().unwrap().get("input"), Some(12));
    assert_eq!(d.cost.as_ref().unwrap().0.len(), 1);
    assert_eq!(d.metadata["metadata"].as_str(), "\"just text\"");
}

#[test]
fn a_body_that_is_not_a_batch_is_refused_whole() {
    for (body, says) in [
        (&b"{not json"[..], "Invalid JSON"),
        (
            b"{\"events\": []}",
            "batch: Invalid input: expected array, received undefined",
        ),
        (b"{\"batch\": {}}", "expected array, received object"),
        (b"[1, 2]", "expected array, received undefined"),
    ] {
        let answer = ingestion_route(body);
        assert_eq!(answer.status, 400);
        assert!(answer.pieces.is_empty());
        let v: Value = serde_json::from_str(&answer.body).unwrap();
        assert_eq!(v["message"], "Invalid request data");
        let reason = v["errors"][0].as_str().unwrap();
        assert!(reason.contains(says), "{reason}");
    }
    let empty = ingestion_route(br#"{"batch": []}"#);
    assert_eq!(
        (empty.status, empty.body.as_str()),
        (207, r#"{"errors":[],"successes":[]}"#)
    );
}

#[test]
fn score_bodies_decode_as_the_scores_endpoint_takes_them() {
    let s = decode_score(
        br#"{"traceId": "t", "observationId": "o", "name": "accuracy",
        "value": 0.75, "dataType": "NUMERIC", "comment": "ok", "metadata": {"a": 1},
        "environment": "prod", "configId": "c"}"#,
    )
    .unwrap();
    assert_eq!(s.value, ScoreValue::Numeric(0.75));
    assert_eq!(s.observation_id.as_deref(), Some("o"));
    assert_eq!(s.comment.as_deref(), Some("ok"));
    assert_eq!(s.timestamp, None);
    // No id given: each gets its own.
    let again = decode_score(br#"{"traceId": "t", "name": "accuracy", "value": 0.75}"#).unwrap();
    assert_ne!(s.id, again.id);

    let session = decode_score(
        br#"{"id": "s1", "sessionId": "chat-9", "name": "csat",
        "value": "happy"}"#,
    )
    .unwrap();
    assert_eq!(session.trace_id, None);
    assert_eq!(session.session_id.as_deref(), Some("chat-9"));
    assert_eq!(session.value, ScoreValue::Categorical("happy".into()));
    let b = decode_score(br#"{"traceId": "t", "name": "n", "value": 0, "dataType": "BOOLEAN"}"#)
        .unwrap();
    assert_eq!(b.value, ScoreValue::Boolean(false));
    let text =
        decode_score(br#"{"traceId": "t", "name": "n", "value": "fine", "dataType": "TEXT"}"#)
            .unwrap();
    assert_eq!(text.value, ScoreValue::Categorical("fine".into()));

    for (body, path) in [
        (
            &br#"{"traceId": "t", "name": "n", "value": 2, "dataType": "BOOLEAN"}"#[..],
            "value",
        ),
        (
            br#"{"traceId": "t", "name": "n", "value": "x", "dataType": "NUMERIC"}"#,
            "value",
        ),
        (
            br#"{"traceId": "t", "name": "n", "value": 1, "dataType": "CATEGORICAL"}"#,
            "value",
        ),
        (
            br#"{"traceId": "t", "name": "n", "value": 1, "dataType": "PERCENT"}"#,
            "dataType",
        ),
        (br#"{"traceId": "t", "name": "", "value": 1}"#, "name"),
        (
            br#"{"traceId": "t", "sessionId": "s", "name": "n", "value": 1}"#,
            "traceId.sessionId.datasetRunId.observationId",
        ),
        (
            br#"{"sessionId": "s", "observationId": "o", "name": "n", "value": 1}"#,
            "traceId.sessionId.datasetRunId.observationId",
        ),
        (
            br#"{"datasetRunId": "r", "name": "n", "value": 1}"#,
            "datasetRunId",
        ),
        (
            br#"{"traceId": "t", "name": "n", "value": "x", "dataType": "TEXT", "configId": 5}"#,
            "configId",
        ),
        (br#"[{"traceId": "t", "name": "n", "value": 1}]"#, ""),
    ] {
        let refused = decode_score(body).unwrap_err();
        assert_eq!(
            refused.issues()[0].path_text(),
            path,
            "{}",
            String::from_utf8_lossy(body)
        );
    }

    let answer = scores_route(br#"{"traceId": "t", "name": "n", "value": true}"#);
    assert_eq!(answer.status, 400);
    let v: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(v["message"], "Invalid request data");
    assert_eq!(v["error"][0]["path"], json!(["value"]));
    assert_eq!(scores_route(b"nope").status, 400);
    let ok = scores_route(br#"{"traceId": "t", "name": "n", "value": 1}"#);
    assert_eq!(ok.status, 200);
    let Piece::Score(s) = &ok.pieces[0] else {
        panic!()
    };
    assert_eq!(ok.body, json!({"id": &*s.id}).to_string());
}

#[test]
fn a_lone_surrogate_or_a_bad_byte_does_not_cost_the_batch() {
    // What Python's json.dumps writes for a string holding a lone surrogate, and a byte
    // that is not UTF-8: Langfuse reads both, so the batch is kept, with U+FFFD for each.
    let mut body = br#"{"batch": [
      {"id": "e1", "type": "span-create", "timestamp": "2026-12-07T17:00:00Z",
       "body": {"id": "s1", "traceId": "t", "input": "half \ud83d of an emoji"}},
      {"id": "e2", "type": "span-create", "timestamp": "2026-12-07T17:00:00Z",
       "body": {"id": "s2", "traceId": "t", "name": "caf_"}}
    ]}"#
    .to_vec();
    let at = body.windows(4).position(|w| w == b"caf_").unwrap() + 3;
    body[at] = 0xE9; // Latin-1 `é`
    let outcome = decode_ingestion(&body).unwrap();
    assert_eq!(outcome.errors, []);
    assert_eq!(outcome.successes.len(), 2);
    let [s1] = observations(&outcome.pieces, "s1")[..] else {
        panic!()
    };
    assert_eq!(
        s1.details
            .as_deref()
            .unwrap()
            .input
            .as_ref()
            .unwrap()
            .to_value(),
        json!("half \u{fffd} of an emoji")
    );
    let [s2] = observations(&outcome.pieces, "s2")[..] else {
        panic!()
    };
    assert_eq!(s2.name.as_deref(), Some("caf\u{fffd}"));
}

#[test]
fn mangled_bodies_are_answered_never_panicked_on() {
    // The captured batch with bytes flipped, cut short, or fields swapped for odd values:
    // every body gets an answer (207 or 400), whatever it holds.
    let body = fixture("lowlevel-client.json");
    let odd = [
        "null",
        "-1",
        "1e308",
        "\"\"",
        "[]",
        "{}",
        "true",
        "\"\\ud800\"",
        "18446744073709551616",
    ];
    let mut rng = fastrand::Rng::with_seed(7);
    let mut answered_207 = 0;
    for round in 0..1_500 {
        let mut mangled = body.clone();
        match round % 3 {
            0 => {
                for _ in 0..rng.usize(1..8) {
                    let at = rng.usize(..mangled.len());
                    mangled[at] = rng.u8(..);
                }
            }
            1 => mangled.truncate(rng.usize(..body.len())),
            _ => {
                // Replace one value after a `": ` with an odd one.
                let text = String::from_utf8(body.clone()).unwrap();
                let colons: Vec<usize> = text.match_indices("\": ").map(|(i, _)| i + 3).collect();
                let at = colons[rng.usize(..colons.len())];
                let end = text[at..]
                    .find([',', '}', ']'])
                    .map_or(text.len(), |e| at + e);
                let value = odd[rng.usize(..odd.len())];
                mangled = format!("{}{value}{}", &text[..at], &text[end..]).into_bytes();
            }
        }
        let answer = ingestion_route(&mangled);
        assert!(matches!(answer.status, 207 | 400), "{}", answer.status);
        assert!(serde_json::from_str::<Value>(&answer.body).is_ok());
        if answer.status == 207 {
            answered_207 += 1;
        }
        let _ = scores_route(&mangled);
    }
    // Most swaps and some flips leave a batch, whose bad events are refused alone.
    assert!(answered_207 > 250, "{answered_207}");
}

/// The Langfuse Python SDK 5.x batches scores: a JSON list, answered 202 when all were
/// taken (`fixtures/langfuse-python-5/scores.json`, captured from the SDK).
#[test]
fn a_list_of_scores_from_the_current_sdk_is_taken_whole() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/langfuse-python-5/scores.json");
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let answer = scores_route(&body);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (202, r#"{"message":"Accepted"}"#)
    );
    assert_eq!(answer.pieces.len(), 5);
    let Piece::Score(first) = &answer.pieces[0] else {
        panic!("{:?}", answer.pieces[0])
    };
    assert_eq!(&*first.id, "ddeec9159a6e203a");
    assert_eq!(
        first.trace_id.as_deref(),
        Some("836dd04558810939f5d3a4c1fb6b5b59")
    );
    assert_eq!(first.name, "quality");
    assert_eq!(first.value, ScoreValue::Numeric(0.9));
    assert_eq!(first.comment.as_deref(), Some("checked by hand"));
    assert_eq!(first.timestamp, Some(time("2026-12-07T17:43:22.092010Z")));
}

/// Each score of a list stands alone: the bad ones are counted and named in a 207, the
/// good ones stored.
#[test]
fn a_list_of_scores_refuses_the_bad_ones_alone() {
    let answer = scores_route(
        br#"[{"traceId": "t", "name": "a", "value": 1},
             {"traceId": "t", "name": "b", "value": true},
             "not a score",
             {"traceId": "t", "name": "c", "value": 2, "timestamp": "yesterday"},
             {"name": "d", "value": 3, "sessionId": "s"}]"#,
    );
    assert_eq!(answer.status, 207);
    let v: Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["rejected"].as_u64()),
        (Some(2), Some(3))
    );
    let messages: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].starts_with("score 1: ") && messages[0].contains(r#""path":["value"]"#),
        "{messages:?}"
    );
    assert!(
        messages[1].starts_with("score 2: ") && messages[1].contains("expected object"),
        "{messages:?}"
    );
    assert!(
        messages[2].starts_with("score 3: ") && messages[2].contains(r#""path":["timestamp"]"#),
        "{messages:?}"
    );
    let names: Vec<&str> = answer
        .pieces
        .iter()
        .map(|p| match p {
            Piece::Score(s) => s.name.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, ["a", "d"]);

    let none = scores_route(b"[]");
    assert_eq!((none.status, none.pieces.len()), (202, 0));
    let all_bad = scores_route(br#"[{"name": "x"}]"#);
    assert_eq!(all_bad.status, 207);
    assert!(all_bad.body.contains(r#""accepted":0"#), "{}", all_bad.body);
}
