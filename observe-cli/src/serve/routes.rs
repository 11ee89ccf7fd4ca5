//! One connection: its request read, routed and answered. The ingest endpoints (OTLP, the
//! legacy ingestion API, scores) read their body within the limits, decode it on this
//! thread, hand the records to the writer and answer once they are committed; every other
//! path is the web view's.

use std::io::Write as _;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use observe_ingest::ingestion::{ingestion_route, scores_route};
use observe_ingest::{decode_request, Decoded, Encoding};
use observe_model::piece::Piece;
use serde_json::json;

use super::auth::{AuthRefusal, Keys};
use super::body::{self, BodyError, BodyLimits};
use super::counts::Counts;
use super::otlp;
use super::queue::{Job, Outcome, Records, Refused, WriteQueue};
use crate::ui::api::Reply;
use crate::ui::http::{answer_then_drain, host_allowed, refuse, respond_with};
use crate::ui::request::{read_head_and_more, Request};
use crate::ui::Router;

/// How long a client may take to send its request (a large body included), and to take
/// its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// The `Retry-After` of 429 and 503 answers, in seconds.
const RETRY_AFTER_SECONDS: &str = "1";

/// The OTLP/HTTP trace paths: Langfuse's, and the collector's default.
const OTLP_PATHS: [&str; 2] = ["/api/public/otel/v1/traces", "/v1/traces"];

/// What every connection thread shares.
pub(crate) struct Shared {
    pub(crate) keys: Keys,
    pub(crate) limits: BodyLimits,
    /// How many requests may be read and decoded at once; more are answered 503.
    pub(crate) max_ingesting: usize,
    pub(crate) ingesting: AtomicUsize,
    pub(crate) queue: Arc<WriteQueue>,
    pub(crate) counts: Arc<Counts>,
    /// The web view; none over a PostgreSQL store, which it cannot read yet.
    pub(crate) ui: Router,
    /// The address listened on (for the `Host` check).
    pub(crate) addr: std::net::SocketAddr,
    /// Whether committed spans go on to forwarders (which take them whole, not in pieces).
    pub(crate) forwarding: bool,
}

/// An answer and whether it asks the client to come back.
struct Answer {
    reply: Reply,
    retry_after: bool,
    /// The request's body was left unread: read (a bounded part of) it after answering.
    body_unread: bool,
}

impl Answer {
    fn new(reply: Reply) -> Answer {
        Answer {
            reply,
            retry_after: false,
            body_unread: false,
        }
    }

    fn retry(reply: Reply) -> Answer {
        Answer {
            retry_after: true,
            ..Answer::new(reply)
        }
    }
}

/// `{"error": <status reason>, "message": message}`, as Langfuse's public API answers.
fn error_reply(status: u16, error: &str, message: &str) -> Reply {
    Reply {
        status,
        content_type: "application/json",
        body: json!({ "error": error, "message": message })
            .to_string()
            .into_bytes(),
    }
}

fn json_reply(value: &serde_json::Value) -> Reply {
    Reply {
        status: 200,
        content_type: "application/json",
        body: value.to_string().into_bytes(),
    }
}

/// Where a request goes.
enum Route {
    Otlp,
    /// `POST /api/public/ingestion`, the legacy batch API.
    Ingestion,
    /// `POST /api/public/scores`.
    Scores,
    Health,
    Projects,
    WrongMethod(&'static str),
    UnknownPublic,
    Ui,
}

fn route(method: &str, path: &str) -> Route {
    let post = method == "POST";
    let get = matches!(method, "GET" | "HEAD");
    match path {
        p if OTLP_PATHS.contains(&p) => {
            if post {
                Route::Otlp
            } else {
                Route::WrongMethod("POST")
            }
        }
        "/api/public/ingestion" if post => Route::Ingestion,
        "/api/public/scores" if post => Route::Scores,
        "/api/public/health" if get => Route::Health,
        "/api/public/health" => Route::WrongMethod("GET"),
        "/api/public/projects" if get => Route::Projects,
        p if p.starts_with("/api/public/") => Route::UnknownPublic,
        _ => Route::Ui,
    }
}

/// Reads one request from `stream` and answers it.
pub(crate) fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let (request, start) = match read_head_and_more(&mut stream, true) {
        Ok(read) => read,
        Err(e) => {
            if let Some(status) = e.status() {
                refuse(stream, status, &e);
            } else {
                Counts::add(&shared.counts.requests_refused, 1);
            }
            return;
        }
    };
    let path = request.target.split('?').next().unwrap_or_default();
    let answer = match route(&request.method, path) {
        Route::Ui => return ui(stream, request, shared),
        Route::Otlp => match otlp::encoding(request.header("Content-Type")) {
            Some(encoding) => ingest(
                &mut stream,
                &request,
                start,
                shared,
                Endpoint::Otlp(encoding),
            ),
            None => Answer {
                body_unread: true,
                ..Answer::new(error_reply(
                    415,
                    "Unsupported Media Type",
                    "send Content-Type application/x-protobuf or application/json",
                ))
            },
        },
        Route::Ingestion => ingest(&mut stream, &request, start, shared, Endpoint::Ingestion),
        Route::Scores => ingest(&mut stream, &request, start, shared, Endpoint::Scores),
        Route::Health => Answer::new(json_reply(&json!({
            "status": "OK",
            "version": env!("CARGO_PKG_VERSION"),
        }))),
        Route::Projects => match shared.keys.check(request.header("Authorization")) {
            Ok(project) => Answer::new(json_reply(&json!({ "data": [{
                "id": project,
                "name": project,
                "organization": { "id": "observe", "name": "observe" },
                "metadata": {},
            }]}))),
            Err(refusal) => Answer::new(unauthorized(&refusal)),
        },
        Route::WrongMethod(allowed) => Answer::new(error_reply(
            405,
            "Method Not Allowed",
            &format!("use {allowed}"),
        )),
        Route::UnknownPublic => {
            let mut answer = Answer::new(error_reply(
                404,
                "Not Found",
                "observe serve does not serve this endpoint (docs/SERVE.md lists those it \
                 does)",
            ));
            answer.body_unread = true;
            answer
        }
    };
    finish(stream, &request, &answer, shared);
}

fn finish(stream: TcpStream, request: &Request, answer: &Answer, shared: &Shared) {
    // 429s have their own count.
    if answer.reply.status >= 400 && answer.reply.status != 429 {
        Counts::add(&shared.counts.requests_refused, 1);
    }
    let mut extra = Vec::new();
    if answer.retry_after {
        extra.push(("Retry-After", RETRY_AFTER_SECONDS));
    }
    if answer.body_unread {
        answer_then_drain(stream, &answer.reply, &extra);
    } else {
        let _ = respond_with(stream, &answer.reply, request.method == "HEAD", &extra);
    }
}

fn unauthorized(refusal: &AuthRefusal) -> Reply {
    error_reply(401, "Unauthorized", &refusal.to_string())
}

/// The web view: behind the keys when there are any (the browser asks for one pair).
fn ui(stream: TcpStream, request: Request, shared: &Shared) {
    if let Err(refusal) = shared.keys.check(request.header("Authorization")) {
        let reply = unauthorized(&refusal);
        let extra = [("WWW-Authenticate", "Basic realm=\"observe\"")];
        let _ = respond_with(stream, &reply, request.method == "HEAD", &extra);
        return;
    }
    if body::declared_length(&request, 0).is_err() {
        let reply = error_reply(413, "Content Too Large", "the view takes no request body");
        answer_then_drain(stream, &reply, &[]);
        return;
    }
    shared.ui.route(stream, request);
}

/// Holds one of the places for requests being read and decoded.
struct IngestSlot<'a>(&'a AtomicUsize);

impl Drop for IngestSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The project a request writes to, or the refusal: a wrong key, or (with no keys, on
/// loopback) a `Host` that is not a loopback name, which only a page on another site that
/// resolves its own name to 127.0.0.1 (DNS rebinding) would send.
fn sender_project(request: &Request, shared: &Shared) -> Result<String, Answer> {
    if shared.keys.is_open() && !host_allowed(shared.addr, request) {
        return Err(Answer {
            body_unread: true,
            ..Answer::new(error_reply(
                421,
                "Misdirected Request",
                "unexpected Host header: with no keys, send to 127.0.0.1 or localhost",
            ))
        });
    }
    match shared.keys.check(request.header("Authorization")) {
        Ok(project) => Ok(project.to_owned()),
        Err(refusal) => Err(Answer {
            body_unread: true,
            ..Answer::new(unauthorized(&refusal))
        }),
    }
}

/// An ingest endpoint, with what it needs to decode its body.
#[derive(Clone, Copy)]
enum Endpoint {
    Otlp(Encoding),
    /// Langfuse's legacy batch API, `POST /api/public/ingestion`.
    Ingestion,
    /// `POST /api/public/scores`.
    Scores,
}

/// What an ingest endpoint made of a body: its answer, given once its pieces (if any)
/// are committed.
struct Accepted {
    reply: Reply,
    records: Records,
}

fn ingest(
    stream: &mut TcpStream,
    request: &Request,
    start: Vec<u8>,
    shared: &Shared,
    endpoint: Endpoint,
) -> Answer {
    let project = match sender_project(request, shared) {
        Ok(project) => project,
        Err(answer) => return answer,
    };
    if shared.ingesting.fetch_add(1, Ordering::SeqCst) >= shared.max_ingesting {
        shared.ingesting.fetch_sub(1, Ordering::SeqCst);
        let mut answer = Answer::retry(error_reply(
            503,
            "Service Unavailable",
            "every place for requests being read is taken: retry",
        ));
        answer.body_unread = true;
        return answer;
    }
    let slot = IngestSlot(&shared.ingesting);
    let body = match read_body(stream, request, start, shared.limits) {
        Ok(body) => body,
        Err(e) => {
            let status = e.status().unwrap_or(400);
            let mut answer = Answer::new(error_reply(status, reason(status), &e.to_string()));
            answer.body_unread = e.body_unread();
            return answer;
        }
    };
    let bytes = body.len();
    let decoded = decode(endpoint, &body, shared);
    drop(body);
    drop(slot);
    let Accepted { reply, records } = match decoded {
        Ok(accepted) => accepted,
        Err(answer) => return answer,
    };
    if records.is_empty() {
        return Answer::new(reply);
    }
    match write(shared, project, records, bytes) {
        Ok(()) => Answer::new(reply),
        Err(answer) => answer,
    }
}

/// Decodes a body (on the connection's thread, so that the writer only writes): spans
/// that are not forwarded become the pieces the store takes here too.
fn decode(endpoint: Endpoint, body: &[u8], shared: &Shared) -> Result<Accepted, Answer> {
    let counts = &*shared.counts;
    let route_answer = match endpoint {
        Endpoint::Otlp(encoding) => {
            let Decoded {
                observations,
                refused,
            } = decode_request(body, encoding)
                .map_err(|e| Answer::new(error_reply(400, "Bad Request", &e.to_string())))?;
            Counts::add(&counts.spans_invalid, refused.len());
            let records = match shared.forwarding {
                true => Records::Spans(observations),
                false => Records::Pieces(
                    observations
                        .into_iter()
                        .map(|o| Piece::Observation(o.into()))
                        .collect(),
                ),
            };
            return Ok(Accepted {
                reply: otlp::answer(&refused, encoding),
                records,
            });
        }
        Endpoint::Ingestion => ingestion_route(body),
        Endpoint::Scores => scores_route(body),
    };
    Counts::add(&counts.spans_invalid, route_answer.refused);
    Ok(Accepted {
        reply: Reply {
            status: route_answer.status,
            content_type: "application/json",
            body: route_answer.body.into_bytes(),
        },
        records: Records::Pieces(route_answer.pieces),
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        _ => "Error",
    }
}

fn read_body(
    stream: &mut TcpStream,
    request: &Request,
    start: Vec<u8>,
    limits: BodyLimits,
) -> Result<Vec<u8>, BodyError> {
    let length = body::declared_length(request, limits.body)?;
    if start.len() < length
        && request
            .header("Expect")
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("100-continue"))
    {
        // The client waits for this before it sends the body (curl and .NET do).
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let raw = body::read_exact_body(stream, start, length)?;
    body::inflate(raw, request.header("Content-Encoding"), limits.inflated)
}

/// Hands `records` to the writer and waits until they are committed.
fn write(shared: &Shared, project: String, records: Records, bytes: usize) -> Result<(), Answer> {
    let (done, outcome) = channel();
    let job = Job {
        project,
        records,
        bytes,
        done,
    };
    match shared.queue.push(job) {
        Ok(()) => {}
        Err(Refused::Full) => {
            Counts::add(&shared.counts.requests_queue_full, 1);
            return Err(Answer::retry(error_reply(
                429,
                "Too Many Requests",
                "the write queue is full: retry after a moment",
            )));
        }
        Err(Refused::Closed) => {
            return Err(Answer::retry(error_reply(
                503,
                "Service Unavailable",
                "the server is stopping",
            )))
        }
    }
    match outcome.recv() {
        Ok(Outcome::Committed) => Ok(()),
        Ok(Outcome::Failed(why)) => Err(Answer::retry(error_reply(
            503,
            "Service Unavailable",
            &format!("the store could not be written: {why}"),
        ))),
        Err(_) => Err(Answer::retry(error_reply(
            503,
            "Service Unavailable",
            "the writer stopped before this request was written",
        ))),
    }
}
