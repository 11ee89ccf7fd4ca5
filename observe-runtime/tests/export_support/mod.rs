//! Shared by the `export_*` and `config_*` tests: a real loopback HTTP server that records
//! what it is sent and answers as a test scripts it (also as a faulty server would: 5xx,
//! 429 with `Retry-After`, 207 with refusals, 401, 413 above a size, a hang, a connection
//! closed mid-request; see [`faults`]), a port where nothing listens, decoders for what Langfuse receives
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

pub mod logs;

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

    /// The spans of this OTLP request, in order.
    pub fn spans(&self) -> Vec<Span> {
        self.otlp()
            .resource_spans
            .into_iter()
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
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
    /// Close the connection without answering (after reading the request).
    pub close: bool,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: b"{}".to_vec(),
            delay: Duration::ZERO,
            close: false,
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

    /// Never answers (within any test's life).
    pub fn hang() -> Reply {
        Reply::status(200).delay(Duration::from_secs(3600))
    }

    /// Closes the connection mid-request, without an answer.
    pub fn close() -> Reply {
        Reply {
            close: true,
            ..Reply::status(200)
        }
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

/// A loopback HTTP/1.1 server on a free port, on a plain `TcpListener` so that it can also
/// misbehave (hang, close mid-request); one request per connection (`Connection: close`).
/// Stops accepting when dropped.
pub struct Server {
    pub base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A server that accepts everything, as Langfuse would.
    pub fn accepting() -> Server {
        Server::start(|r, _| accept_all(r))
    }

    /// A server answering with `handler(request, index of the request, from 0)`.
    pub fn start(handler: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("a local address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let count = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (received, handler, count) =
                        (received.clone(), handler.clone(), count.clone());
                    // A connection per thread: a stalled answer does not hold up the next.
                    std::thread::spawn(move || serve(stream, &received, &*handler, &count));
                }
            })
        };
        Server {
            base_url: format!("http://{addr}"),
            received,
            stop,
            addr,
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
            .flat_map(|r| r.spans())
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
        // Wakes the accepting thread so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request from `stream`, records it, and answers as the handler says.
fn serve(
    mut stream: std::net::TcpStream,
    received: &Mutex<Vec<Received>>,
    handler: &Handler,
    count: &AtomicUsize,
) {
    use std::io::{BufRead, BufReader, Write};
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // the wake-up connection of `drop`, or a client that gave up
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut raw_body = vec![0; length];
    if reader.read_exact(&mut raw_body).is_err() {
        return;
    }
    let got = Received {
        method,
        path,
        headers,
        raw_body,
        at: Instant::now(),
    };
    let index = count.fetch_add(1, Ordering::SeqCst);
    let reply = handler(&got, index);
    received.lock().unwrap().push(got);
    if reply.close {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    std::thread::sleep(reply.delay);
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
}

/// Scripts of a faulty server, for [`Server::start`].
pub mod faults {
    use super::{accept_all, Received, Reply};
    use serde_json::{json, Value};

    /// `status` for the first `n` requests, then as Langfuse.
    pub fn failing_first(n: usize, status: u16) -> impl Fn(&Received, usize) -> Reply {
        move |r, i| {
            if i < n {
                Reply::status(status)
            } else {
                accept_all(r)
            }
        }
    }

    /// 429 with `Retry-After: secs` for the first `n` requests, then as Langfuse.
    pub fn throttling_first(n: usize, secs: u32) -> impl Fn(&Received, usize) -> Reply {
        move |r, i| {
            if i < n {
                Reply::status(429).header("Retry-After", &secs.to_string())
            } else {
                accept_all(r)
            }
        }
    }

    /// The connection closed mid-request for the first `n` requests, then as Langfuse.
    pub fn closing_first(n: usize) -> impl Fn(&Received, usize) -> Reply {
        move |r, i| if i < n { Reply::close() } else { accept_all(r) }
    }

    /// 413 for a body over `limit` bytes, else as Langfuse.
    pub fn too_large_above(limit: usize) -> impl Fn(&Received, usize) -> Reply {
        move |r, _| {
            if r.raw_body.len() > limit {
                Reply::status(413)
            } else {
                accept_all(r)
            }
        }
    }

    /// The ingestion API answering 207, refusing the observation events whose name starts
    /// with `prefix`.
    pub fn refusing_named(prefix: &'static str) -> impl Fn(&Received, usize) -> Reply {
        move |r, _| {
            let events = r.json()["batch"].as_array().cloned().unwrap_or_default();
            let (bad, good): (Vec<Value>, Vec<Value>) = events.into_iter().partition(|e| {
                e["type"] != "trace-create"
                    && e["body"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(prefix))
            });
            Reply::json(
                207,
                json!({
                    "successes": good.iter().map(|e| json!({"id": e["id"], "status": 201})).collect::<Vec<_>>(),
                    "errors": bad.iter().map(|e| json!({"id": e["id"], "status": 400, "message": "refused"})).collect::<Vec<_>>(),
                }),
            )
        }
    }
}

/// HTTP options for tests: a 10 s request timeout and quick retries within `deadline`.
pub fn retry_options(deadline: Duration) -> observe_runtime::export::http::HttpOptions {
    use observe_runtime::export::http::{HttpOptions, RetryPolicy};
    HttpOptions {
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            deadline,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        },
        debug: false,
    }
}

/// `traces` traces of one span each, the span's input `input_bytes` bytes of text: load
/// that fills a byte budget.
pub fn produce_inputs(client: &observe_runtime::Client, traces: usize, input_bytes: usize) {
    use observe_runtime::{ObservationUpdate, Trace};
    let input = "y".repeat(input_bytes);
    for _ in 0..traces {
        let trace = client.trace(Trace::new("big"));
        let mut s = trace.span("s");
        s.update(ObservationUpdate::new().input(&input));
        s.end();
        trace.end();
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
