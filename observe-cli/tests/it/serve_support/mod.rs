//! `observe serve` run as a process, as a user runs it, and OTLP requests built with
//! observe-export's encoder (protobuf) and opentelemetry-proto (JSON), sent over loopback.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::channel;
use std::sync::Arc;

use flate2::write::GzEncoder;
use flate2::Compression;
use observe_export::otlp::{encode_batch, Resource};
use observe_model::export::Batch;
use observe_model::model::{
    Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// A running `observe serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub db: PathBuf,
    stdout: BufReader<ChildStdout>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `observe --db <fresh store> serve --port 0 <args>` and waits for its start line.
    pub fn start(args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("traces.db");
        let mut server = Server::start_on(&db, args);
        server._dir = Some(dir);
        server
    }

    /// As [`Server::start`], on the store at `db`.
    pub fn start_on(db: &Path, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_observe"))
            .arg("--db")
            .arg(db)
            .args(["serve", "--port", "0"])
            .args(args)
            .env_remove("OBSERVE_SERVE_PUBLIC_KEY")
            .env_remove("OBSERVE_SERVE_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run observe serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| {
                let mut err = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                panic!("no URL in the start line {first:?}; stderr: {err}")
            })
            .to_owned();
        Server {
            child,
            url,
            db: db.to_owned(),
            stdout,
            _dir: None,
        }
    }

    /// `url` + `path`.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Sends `signal` (`TERM`, `KILL`) with kill(1), to this server's process only.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill(1) runs (install procps or util-linux)");
        assert!(status.success());
    }

    /// Waits for the process to end: its exit status, the rest of its stdout, its stderr.
    pub fn wait(mut self) -> (std::process::ExitStatus, String, String) {
        let status = self.child.wait().unwrap();
        let mut out = String::new();
        self.stdout.read_to_string(&mut out).unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, out, err)
    }

    /// SIGTERM, then waits: the process must exit 0; returns its stdout.
    pub fn stop(self) -> String {
        self.signal("TERM");
        let (status, out, err) = self.wait();
        assert!(status.success(), "exit {status}; stderr: {err}");
        out
    }
}

/// One trace of `spans` spans (a root and its children) in `session`, named `name-i`.
pub fn trace(session: &str, name: &str, spans: usize) -> Vec<Observation> {
    let trace_id = TraceId::random();
    let attributes = Arc::new(TraceAttributes {
        name: Some(name.to_owned()),
        session_id: Some(session.to_owned()),
        ..TraceAttributes::default()
    });
    let root = SpanId::random();
    let start = Timestamp::now().as_nanos();
    (0..spans)
        .map(|i| {
            let offset = u64::try_from(i).unwrap() * 1_000_000;
            Observation {
                trace_id,
                id: if i == 0 { root } else { SpanId::random() },
                parent_id: (i > 0).then_some(root),
                name: format!("{name}-{i}").into(),
                kind: ObservationType::Span,
                level: Level::Default,
                start: Timestamp(start + offset),
                end: Timestamp(start + offset + 500_000),
                details: None,
                trace: Arc::clone(&attributes),
            }
        })
        .collect()
}

/// The OTLP protobuf request for `observations`.
pub fn protobuf(observations: Vec<Observation>) -> Vec<u8> {
    let batch = Batch {
        observations: observations.into_iter().map(Box::new).collect(),
        scores: Vec::new(),
    };
    encode_batch(&batch, &Resource::new("serve-test"))
}

/// The same request in OTLP/JSON.
pub fn json(observations: Vec<Observation>) -> Vec<u8> {
    let request = ExportTraceServiceRequest::decode(&protobuf(observations)[..]).unwrap();
    serde_json::to_vec(&request).unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// POSTs an OTLP body with `content_type` (and gzip when `gzipped`).
pub fn post(
    url: &str,
    content_type: &str,
    body: Vec<u8>,
    gzipped: bool,
) -> reqwest::blocking::Response {
    let mut request = client().post(url).header("Content-Type", content_type);
    if gzipped {
        request = request.header("Content-Encoding", "gzip");
    }
    request.body(body).send().expect("the server answers")
}

/// The names of every observation in the store, read with SQLite itself.
pub fn stored_names(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut statement = conn
        .prepare("SELECT name FROM observations ORDER BY name")
        .unwrap();
    let names = statement
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    names
}

/// Holds the store's write lock, so that the server's writer waits (it waits up to the
/// store's busy timeout, 10 s) and requests pile up in its queue.
pub fn hold_write_lock(db: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

/// Sends requests one after the other, each from its own thread (an accepted one waits for
/// its commit), until one is refused with 429: with the writer held, the first is being
/// written, the second waits in the queue (the bound is one byte), and the next finds it
/// full. Returns the refused answer's headers and the other requests, by the name of their
/// one span; each of those ends 200 once the writer goes on, or 429 if it was refused
/// after the one returned.
pub fn fill_the_queue(
    server: &Server,
    session: &str,
) -> (
    reqwest::header::HeaderMap,
    Vec<(String, std::thread::JoinHandle<u16>)>,
) {
    let (sent, answered) = channel();
    let mut others: Vec<(usize, String, std::thread::JoinHandle<u16>)> = Vec::new();
    for i in 0..20 {
        let name = format!("{session}-{i}");
        let (url, body) = (server.at("/v1/traces"), json(trace(session, &name, 1)));
        let sent = sent.clone();
        let handle = std::thread::spawn(move || {
            let answer = post(&url, "application/json", body, false);
            let status = answer.status().as_u16();
            let _ = sent.send((i, status, answer.headers().clone()));
            status
        });
        others.push((i, format!("{name}-0"), handle));
        // A refusal comes at once; an accepted request waits for the writer.
        if let Ok((refused, status, headers)) =
            answered.recv_timeout(std::time::Duration::from_millis(500))
        {
            assert_eq!(
                status, 429,
                "request {refused} answered {status} while the writer waits"
            );
            let at = others.iter().position(|(j, ..)| *j == refused).unwrap();
            others.remove(at).2.join().unwrap();
            let others = others
                .into_iter()
                .map(|(_, name, handle)| (name, handle))
                .collect();
            return (headers, others);
        }
    }
    panic!("no 429 after 20 requests with the writer held");
}

/// Waits for `requests` (from [`fill_the_queue`]): the names of those answered 200, sorted;
/// every other answer must be 429.
pub fn accepted(requests: Vec<(String, std::thread::JoinHandle<u16>)>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, handle) in requests {
        match handle.join().unwrap() {
            200 => names.push(name),
            429 => {}
            status => panic!("{name}: answered {status}"),
        }
    }
    names.sort();
    names
}

/// A response's body as JSON.
pub trait JsonBody {
    fn json_value(self) -> serde_json::Result<serde_json::Value>;
}

impl JsonBody for reqwest::blocking::Response {
    fn json_value(self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.bytes().expect("the body is read"))
    }
}
