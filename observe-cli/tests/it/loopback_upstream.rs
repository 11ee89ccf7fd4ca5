//! A loopback HTTP server that answers as Langfuse (OTLP, scores, the legacy ingestion API
//! with its `207`) and an OpenTelemetry collector do: it gunzips and decodes OTLP protobuf,
//! and remembers by id what it received. `observe push` and `observe serve --forward-to`
//! send to it.

use std::collections::BTreeSet;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use flate2::read::GzDecoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::{json, Value};

/// What the server was sent, by id.
#[derive(Default, Debug)]
pub struct Received {
    /// Requests of any kind.
    pub requests: usize,
    /// `(trace id, observation id)` of every span or observation event.
    pub observations: Vec<(String, String)>,
    /// Score ids.
    pub scores: Vec<String>,
    /// Trace ids of the ingestion events the server refuses (its `207` lists them).
    pub refuse: BTreeSet<String>,
    /// Answer every request `401`, as Langfuse does to wrong keys.
    pub unauthorized: bool,
    /// Answer every request `503`, as a server that is down behind its proxy does.
    pub down: bool,
}

impl Received {
    /// The distinct trace ids that observations arrived for.
    pub fn traces(&self) -> BTreeSet<String> {
        self.observations.iter().map(|(t, _)| t.clone()).collect()
    }
}

/// A loopback HTTP server answering as Langfuse (OTLP, scores, ingestion) and a collector do.
pub struct Server {
    pub url: String,
    received: Arc<Mutex<Received>>,
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start() -> Server {
        let http = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
        let url = format!("http://{}", http.server_addr().to_ip().unwrap());
        let received = Arc::new(Mutex::new(Received::default()));
        let thread = {
            let (http, received) = (Arc::clone(&http), Arc::clone(&received));
            std::thread::spawn(move || {
                for mut request in http.incoming_requests() {
                    let reply = answer(&mut request, &mut received.lock().unwrap());
                    let _ = request.respond(reply);
                }
            })
        };
        Server {
            url,
            received,
            http,
            thread: Some(thread),
        }
    }

    pub fn received(&self) -> std::sync::MutexGuard<'_, Received> {
        self.received.lock().unwrap()
    }

    /// Takes what was received so far, leaving the refusals and the outage in place.
    pub fn take(&self) -> Received {
        let mut received = self.received();
        let (refuse, unauthorized, down) = (
            received.refuse.clone(),
            received.unauthorized,
            received.down,
        );
        std::mem::replace(
            &mut *received,
            Received {
                refuse,
                unauthorized,
                down,
                ..Received::default()
            },
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type Reply = tiny_http::Response<std::io::Cursor<Vec<u8>>>;

fn answer(request: &mut tiny_http::Request, received: &mut Received) -> Reply {
    received.requests += 1;
    let mut body = Vec::new();
    request.as_reader().read_to_end(&mut body).unwrap();
    let gzipped = request
        .headers()
        .iter()
        .any(|h| h.field.equiv("Content-Encoding") && h.value.as_str() == "gzip");
    if gzipped {
        let mut plain = Vec::new();
        GzDecoder::new(&body[..]).read_to_end(&mut plain).unwrap();
        body = plain;
    }
    if received.down {
        return json_reply(503, json!({"message": "upstream down (test)"}));
    }
    if received.unauthorized {
        return json_reply(401, json!({"message": "Invalid credentials"}));
    }
    let path = request.url().to_owned();
    match path.as_str() {
        "/api/public/otel/v1/traces" | "/v1/traces" => {
            let export = ExportTraceServiceRequest::decode(&body[..]).expect("OTLP protobuf");
            for span in export
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .flat_map(|s| &s.spans)
            {
                received
                    .observations
                    .push((hex(&span.trace_id), hex(&span.span_id)));
            }
            tiny_http::Response::from_data(Vec::new()).with_status_code(200)
        }
        "/api/public/scores" => {
            let score: Value = serde_json::from_slice(&body).unwrap();
            received
                .scores
                .push(score["id"].as_str().unwrap().to_owned());
            json_reply(200, json!({"id": score["id"]}))
        }
        "/api/public/ingestion" => {
            let body: Value = serde_json::from_slice(&body).unwrap();
            let (mut successes, mut errors) = (Vec::new(), Vec::new());
            for event in body["batch"].as_array().unwrap() {
                let trace = event["body"]["traceId"].as_str().unwrap_or_default();
                if event["type"] == "trace-create" {
                    successes.push(json!({"id": event["id"], "status": 201}));
                } else if received.refuse.contains(trace) {
                    errors.push(json!({"id": event["id"], "status": 400,
                        "message": "Invalid request data", "error": "refused by the test"}));
                } else {
                    let id = event["body"]["id"].as_str().unwrap().to_owned();
                    received.observations.push((trace.to_owned(), id));
                    successes.push(json!({"id": event["id"], "status": 201}));
                }
            }
            json_reply(207, json!({"successes": successes, "errors": errors}))
        }
        other => panic!("unexpected request to {other}"),
    }
}

fn json_reply(status: u16, value: Value) -> Reply {
    tiny_http::Response::from_data(value.to_string().into_bytes())
        .with_status_code(status)
        .with_header(
            "Content-Type: application/json"
                .parse::<tiny_http::Header>()
                .unwrap(),
        )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
