//! `observe serve` taking OTLP: protobuf and JSON, gzipped or not, on both paths; partial
//! success for a bad span; 400 on garbage; the web view and health on the same port.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;

use crate::common::{observe, ok};
use crate::serve_support::{gzip, json, post, protobuf, stored_names, trace, JsonBody, Server};

#[test]
fn otlp_protobuf_gzip_and_json_land_in_the_store() {
    let server = Server::start(&[]);
    let body = gzip(&protobuf(trace("s-proto", "proto", 3)));
    let answer = post(
        &server.at("/api/public/otel/v1/traces"),
        "application/x-protobuf",
        body,
        true,
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "application/x-protobuf");
    let response = ExportTraceServiceResponse::decode(answer.bytes().unwrap()).unwrap();
    assert_eq!(response.partial_success, None);

    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        json(trace("s-json", "json", 2)),
        false,
    );
    assert_eq!(answer.status(), 200);
    let response: serde_json::Value = answer.json_value().unwrap();
    assert!(response.get("partialSuccess").is_none(), "{response}");

    // Answered means committed: readers see it while the server runs.
    let tree = ok(&observe(Some(&server.db), &["session", "s-proto"]));
    // The root shows under the trace's name.
    assert!(tree.contains("└── proto ("), "{tree}");
    assert!(
        tree.contains("proto-1") && tree.contains("proto-2"),
        "{tree}"
    );
    let tree = ok(&observe(Some(&server.db), &["session", "s-json"]));
    assert!(tree.contains("json-1"), "{tree}");

    let out = server.stop();
    assert!(out.contains("5 spans written (2 requests)"), "{out}");
}

#[test]
fn a_bad_span_is_refused_alone_with_partial_success() {
    let server = Server::start(&[]);
    let mut request: serde_json::Value =
        serde_json::from_slice(&json(trace("s-partial", "partial", 2))).unwrap();
    let spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap();
    let mut bad = spans[1].clone();
    bad["spanId"] = "00".into();
    bad["name"] = "the-bad-one".into();
    spans.push(bad);
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        serde_json::to_vec(&request).unwrap(),
        false,
    );
    assert_eq!(answer.status(), 200);
    let response: serde_json::Value = answer.json_value().unwrap();
    let partial = &response["partialSuccess"];
    assert_eq!(partial["rejectedSpans"], 1, "{response}");
    let message = partial["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("the-bad-one") && message.contains("span id"),
        "{message}"
    );
    assert_eq!(stored_names(&server.db), ["partial-0", "partial-1"]);

    // The protobuf answer says the same in protobuf.
    let mut decoded =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
            &protobuf(trace("s-partial", "more", 1))[..],
        )
        .unwrap();
    decoded.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![0; 16];
    let answer = post(
        &server.at("/api/public/otel/v1/traces"),
        "application/x-protobuf",
        decoded.encode_to_vec(),
        false,
    );
    assert_eq!(answer.status(), 200);
    let response = ExportTraceServiceResponse::decode(answer.bytes().unwrap()).unwrap();
    assert_eq!(response.partial_success.unwrap().rejected_spans, 1);
    let out = server.stop();
    assert!(out.contains("2 spans invalid"), "{out}");
}

#[test]
fn garbage_is_answered_400_with_the_reason() {
    let server = Server::start(&[]);
    let answer = post(
        &server.at("/v1/traces"),
        "application/x-protobuf",
        b"\xff\xff\xff\xff garbage".to_vec(),
        false,
    );
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json_value().unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("protobuf"),
        "{body}"
    );
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        b"{\"resourceSpans\": [".to_vec(),
        false,
    );
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json_value().unwrap();
    assert!(body["message"].as_str().unwrap().contains("JSON"), "{body}");
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        b"not gzip at all".to_vec(),
        true,
    );
    assert_eq!(answer.status(), 400);
    let answer = post(
        &server.at("/v1/traces"),
        "text/plain",
        b"{}".to_vec(),
        false,
    );
    assert_eq!(answer.status(), 415);
    assert!(stored_names(&server.db).is_empty());
    server.stop();
}

#[test]
fn the_web_view_and_health_share_the_port() {
    let server = Server::start(&[]);
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        json(trace("s-view", "view", 2)),
        false,
    );
    assert_eq!(answer.status(), 200);
    let client = crate::serve_support::client();
    let page = client.get(server.at("/")).send().unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().unwrap().contains("<html"));
    let sessions: serde_json::Value = client
        .get(server.at("/api/sessions"))
        .send()
        .unwrap()
        .json_value()
        .unwrap();
    assert_eq!(sessions["sessions"][0]["id"], "s-view", "{sessions}");
    let health: serde_json::Value = client
        .get(server.at("/api/public/health"))
        .send()
        .unwrap()
        .json_value()
        .unwrap();
    assert_eq!(health["status"], "OK");
    assert!(health["version"].is_string());
    let unknown = client.get(server.at("/api/public/traces")).send().unwrap();
    assert_eq!(unknown.status(), 404);
    let wrong_method = client.get(server.at("/v1/traces")).send().unwrap();
    assert_eq!(wrong_method.status(), 405);
    server.stop();
}

#[test]
fn a_client_expecting_100_continue_gets_it_before_sending_the_body() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let server = Server::start(&[]);
    let body = json(trace("s-continue", "continue", 1));
    let mut stream =
        std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    stream.write_all(&body).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("HTTP/1.1 200 OK"), "{rest}");
    assert_eq!(stored_names(&server.db), ["continue-0"]);
    server.stop();
}

#[test]
fn the_legacy_ingestion_api_and_scores_are_served_with_their_answers() {
    let server = Server::start(&[]);
    let batch = serde_json::json!({"batch": [
        {"id": "e1", "type": "trace-create", "timestamp": "2026-12-07T17:00:00Z",
         "body": {"id": "legacy-trace", "name": "legacy", "sessionId": "s-legacy"}},
        {"id": "e2", "type": "span-create", "timestamp": "2026-12-07T17:00:00.100Z",
         "body": {"id": "legacy-span", "traceId": "legacy-trace", "name": "legacy-step",
                  "startTime": "2026-12-07T17:00:00.100Z", "endTime": "2026-12-07T17:00:00.300Z"}},
        {"id": "e3", "type": "span-create", "timestamp": "2026-12-07T17:00:00Z",
         "body": {"id": 42, "traceId": "legacy-trace"}}
    ]});
    let answer = post(
        &server.at("/api/public/ingestion"),
        "application/json",
        serde_json::to_vec(&batch).unwrap(),
        false,
    );
    assert_eq!(answer.status(), 207);
    let body = answer.json_value().unwrap();
    assert_eq!(body["successes"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(body["errors"][0]["id"], "e3", "{body}");
    // The one span is the trace's root, shown under the trace's name.
    let tree = ok(&observe(Some(&server.db), &["session", "s-legacy"]));
    assert!(tree.contains("└── legacy (200ms"), "{tree}");
    assert_eq!(stored_names(&server.db), ["legacy-step"]);

    let score = serde_json::json!({"id": "score-1", "traceId": "legacy-trace", "name": "quality", "value": 0.9});
    let answer = post(
        &server.at("/api/public/scores"),
        "application/json",
        serde_json::to_vec(&score).unwrap(),
        false,
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json_value().unwrap()["id"], "score-1");
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    let name: String = conn
        .query_row("SELECT name FROM scores", [], |row| row.get(0))
        .unwrap();
    assert_eq!(name, "quality");
    let garbage = post(
        &server.at("/api/public/ingestion"),
        "application/json",
        b"not json".to_vec(),
        false,
    );
    assert_eq!(garbage.status(), 400);
    server.stop();
}

#[test]
fn a_generation_without_cost_is_priced_from_the_local_list() {
    let server = Server::start(&[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let request = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat",
        "startTimeUnixNano": now.to_string(),
        "endTimeUnixNano": (now + 1_000_000).to_string(),
        "attributes": [
            {"key": "langfuse.session.id", "value": {"stringValue": "s-priced"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1000"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "100"}}
        ]
    }]}]}]});
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        serde_json::to_vec(&request).unwrap(),
        false,
    );
    assert_eq!(answer.status(), 200);
    // gpt-4o at $2.50 and $10 per million input and output tokens: 0.0025 + 0.001.
    let tree = ok(&observe(Some(&server.db), &["session", "s-priced"]));
    assert!(tree.contains("$0.0035") && !tree.contains('~'), "{tree}");
    server.stop();
}
