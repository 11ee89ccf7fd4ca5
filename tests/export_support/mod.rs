//! Shared by the `export_*` and `config_*` tests: a real loopback HTTP server that records
//! what it is sent and answers as a test scripts it, decoders for what Langfuse receives
//! (gzipped OTLP protobuf, ingestion JSON), and the Langfuse spec files read at test time.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;

/// Generous: the CI machine is slow and has two cores.
pub const FLUSH: Duration = Duration::from_secs(30);

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body as sent (gzipped when `content-encoding: gzip`).
    pub raw_body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, gunzipped when it says it is gzipped.
    pub fn body(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.raw_body[..])
                .read_to_end(&mut out)
                .expect("a valid gzip body");
            out
        } else {
            self.raw_body.clone()
        }
    }

    /// The body as an OTLP request.
    pub fn otlp(&self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest::decode(&self.body()[..]).expect("a valid OTLP protobuf body")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).expect("a JSON body")
    }

    /// `Authorization: Basic ...` decoded to `(user, password)`.
    pub fn basic_auth(&self) -> Option<(String, String)> {
        use base64::Engine as _;
        let token = self.header("authorization")?.strip_prefix("Basic ")?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (u, p) = text.split_once(':')?;
        Some((u.to_owned(), p.to_owned()))
    }
}

/// What the server answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (a stalled server).
    pub delay: Duration,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: b"{}".to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            body: body.to_string().into_bytes(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            ..Reply::status(status)
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

/// What Langfuse answers when everything is accepted: `{}` for OTLP, a 207 listing every
/// event as a success for the ingestion API, an id for a score.
pub fn accept_all(request: &Received) -> Reply {
    if request.path.ends_with("/api/public/ingestion") {
        let body = request.json();
        let successes: Vec<Value> = body["batch"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .map(|e| serde_json::json!({"id": e["id"], "status": 201}))
                    .collect()
            })
            .unwrap_or_default();
        Reply::json(
            207,
            serde_json::json!({"successes": successes, "errors": []}),
        )
    } else if request.path.ends_with("/api/public/scores") {
        Reply::json(200, serde_json::json!({"id": "score-id"}))
    } else {
        Reply::status(200)
    }
}

type Handler = dyn Fn(&Received, usize) -> Reply + Send + Sync;

/// A loopback HTTP server on a free port; stops when dropped.
pub struct Server {
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A server that accepts everything, as Langfuse would.
    pub fn accepting() -> Server {
        Server::start(|r, _| accept_all(r))
    }

    /// A server answering with `handler(request, index of the request, from 0)`.
    pub fn start(handler: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) -> Server {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind loopback"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let count = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (server, received, stop) = (server.clone(), received.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Some(mut request)) = server.recv_timeout(Duration::from_millis(50))
                    else {
                        continue;
                    };
                    let mut raw_body = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut raw_body);
                    let got = Received {
                        method: request.method().to_string(),
                        path: request.url().to_owned(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| (h.field.to_string(), h.value.to_string()))
                            .collect(),
                        raw_body,
                        at: Instant::now(),
                    };
                    let index = count.fetch_add(1, Ordering::SeqCst);
                    let reply = handler(&got, index);
                    received.lock().unwrap().push(got);
                    // Answer on another thread so that a stalled reply does not stop the
                    // server from taking the next connection.
                    std::thread::spawn(move || {
                        std::thread::sleep(reply.delay);
                        let mut response = tiny_http::Response::from_data(reply.body)
                            .with_status_code(reply.status);
                        for (k, v) in &reply.headers {
                            response.add_header(
                                tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).unwrap(),
                            );
                        }
                        let _ = request.respond(response);
                    });
                }
            })
        };
        Server {
            base_url: format!("http://127.0.0.1:{port}"),
            received,
            stop,
            server,
            thread: Some(thread),
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The requests to paths ending with `suffix`.
    pub fn to(&self, suffix: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path.ends_with(suffix))
            .collect()
    }

    /// Every span of every OTLP request, in order.
    pub fn spans(&self) -> Vec<Span> {
        self.to("/v1/traces")
            .iter()
            .flat_map(|r| {
                r.otlp()
                    .resource_spans
                    .into_iter()
                    .flat_map(|rs| rs.scope_spans)
                    .flat_map(|ss| ss.spans)
            })
            .collect()
    }

    /// Every event of every ingestion request, in order.
    pub fn events(&self) -> Vec<Value> {
        self.to("/api/public/ingestion")
            .iter()
            .flat_map(|r| r.json()["batch"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A loopback URL where nothing listens (the port was free a moment ago).
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// An environment for `Config::from_vars`, never the process's.
pub fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

// ---------------------------------------------------------------------------------------
// OTLP attributes.

/// A span's attributes by key.
pub fn attrs(span: &Span) -> BTreeMap<String, any_value::Value> {
    span.attributes
        .iter()
        .filter_map(|KeyValue { key, value, .. }| Some((key.clone(), value.clone()?.value?)))
        .collect()
}

pub fn attr_str(span: &Span, key: &str) -> Option<String> {
    match attrs(span).remove(key)? {
        any_value::Value::StringValue(s) => Some(s),
        other => panic!("{key} is not a string: {other:?}"),
    }
}

pub fn attr_json(span: &Span, key: &str) -> Option<Value> {
    attr_str(span, key).map(|s| serde_json::from_str(&s).unwrap_or(Value::String(s)))
}

pub fn attr_strings(span: &Span, key: &str) -> Option<Vec<String>> {
    match attrs(span).remove(key)? {
        any_value::Value::ArrayValue(a) => Some(
            a.values
                .into_iter()
                .map(|AnyValue { value }| match value {
                    Some(any_value::Value::StringValue(s)) => s,
                    other => panic!("{key} holds a non-string: {other:?}"),
                })
                .collect(),
        ),
        other => panic!("{key} is not an array: {other:?}"),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------
// The Langfuse spec, read at test time from the copy in tests/fixtures/langfuse.

/// The folder holding Langfuse's spec files: `OBSERVE_LANGFUSE_SPEC_DIR`, else the copy in
/// `tests/fixtures/langfuse` (see its SOURCE.md for version and licence).
pub fn spec_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("OBSERVE_LANGFUSE_SPEC_DIR") {
        return dir.into();
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/langfuse");
    assert!(
        dir.join("ingestion.yml").exists(),
        "Langfuse spec files not found at {} (set OBSERVE_LANGFUSE_SPEC_DIR)",
        dir.display()
    );
    dir
}

pub fn load_yaml(file: &str) -> Value {
    let text = std::fs::read_to_string(spec_dir().join(file)).expect("read spec file");
    serde_norway::from_str(&text).expect("parse spec YAML")
}

/// A Fern type's properties (with its `extends` chain resolved), each with whether it is
/// required (its type is not `optional<...>`).
pub fn fern_properties(types: &Value, name: &str) -> BTreeMap<String, bool> {
    let ty = &types[name];
    assert!(ty.is_object(), "type {name} not in the spec");
    let mut props = BTreeMap::new();
    let extends: Vec<String> = match &ty["extends"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    };
    for parent in extends {
        props.extend(fern_properties(types, &parent));
    }
    if let Some(map) = ty["properties"].as_object() {
        for (k, v) in map {
            let type_text = match v {
                Value::String(s) => s.clone(),
                other => other["type"].as_str().unwrap_or("").to_owned(),
            };
            props.insert(k.clone(), !type_text.starts_with("optional<"));
        }
    }
    props
}

/// Asserts that `object` has every required property of the Fern type and nothing it does not
/// declare, and no `null` anywhere at its top level.
pub fn assert_matches_fern(types: &Value, type_name: &str, object: &Value, what: &str) {
    let props = fern_properties(types, type_name);
    let obj = object
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {object}"));
    for (k, required) in &props {
        if *required {
            assert!(
                obj.contains_key(k),
                "{what}: required `{k}` of {type_name} missing: {object}"
            );
        }
    }
    for (k, v) in obj {
        assert!(
            props.contains_key(k),
            "{what}: `{k}` is not a property of {type_name}: {object}"
        );
        assert!(
            !v.is_null(),
            "{what}: `{k}` is null (absent fields are left out): {object}"
        );
    }
}

/// UTC ISO-8601 with microseconds and `Z`.
pub fn assert_timestamp(value: &Value, what: &str) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"));
    let b = s.as_bytes();
    let ok = s.len() == 27
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[26] == b'Z'
        && s.bytes()
            .enumerate()
            .all(|(i, c)| [4, 7, 10, 13, 16, 19, 26].contains(&i) || c.is_ascii_digit());
    assert!(
        ok,
        "{what}: `{s}` is not UTC ISO-8601 with microseconds and Z"
    );
}

pub fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
