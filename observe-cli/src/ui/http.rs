//! The request loops: a thread per connection reads its request and routes it, page
//! workers answer the pages and every endpoint but `query`, and query workers run the
//! queries, so that neither a slow client nor a runaway query holds up a page; the routes,
//! methods and headers every answer carries.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::api::{Api, Reply};
use super::assets;
use super::client_watch::ClientWatch;
use super::cross_site::is_cross_site;
use super::request::{read_head, HeadError, Request};

/// How long a client may take to send its request, and to take its answer.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// What is read of a refused request after its answer, so that closing the connection
/// does not reset it before the client has read the answer.
const DRAIN_LIMIT: u64 = 1 << 20;

/// A queue several workers take from.
pub(super) type Shared<T> = Arc<Mutex<Receiver<T>>>;

/// A query handed from a page worker to a query worker.
pub(super) type QueryJob = (TcpStream, Request);

/// Where page workers hand queries over: a query is handed over only when a query worker
/// is free for it (`busy` counts the queries handed over and not finished), so that a
/// query finding every query worker busy is refused at once, not queued behind a runaway.
#[derive(Clone)]
pub(crate) struct QueryDesk {
    pub(super) jobs: SyncSender<QueryJob>,
    pub(super) busy: Arc<AtomicUsize>,
    pub(super) workers: usize,
}

impl QueryDesk {
    /// Hands `job` to a query worker; gives it back when all are busy.
    fn hand_over(&self, job: QueryJob) -> Result<(), QueryJob> {
        let taken = self.busy.fetch_add(1, Ordering::SeqCst);
        if taken >= self.workers {
            self.busy.fetch_sub(1, Ordering::SeqCst);
            return Err(job);
        }
        // The queue holds as many as there are workers: a reserved job always fits.
        self.jobs.try_send(job).map_err(|e| {
            self.busy.fetch_sub(1, Ordering::SeqCst);
            match e {
                TrySendError::Full(job) | TrySendError::Disconnected(job) => job,
            }
        })
    }
}

fn next<T>(queue: &Shared<T>) -> Option<T> {
    queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .recv()
        .ok()
}

/// A request read and allowed, for a page worker.
pub(crate) struct PageJob {
    stream: TcpStream,
    page: Page,
    head: bool,
}

/// Reads one request from `stream` and hands it on: to the page workers through `pages`,
/// to a free query worker through `queries`, or answers it at once (a refusal, or 503
/// when the workers it needs are all busy). Runs on a thread of its own per connection,
/// so a client slow to send its request holds no worker.
pub(super) fn route_connection(
    mut stream: TcpStream,
    addr: SocketAddr,
    pages: &SyncSender<PageJob>,
    queries: &QueryDesk,
) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let request = match read_head(&mut stream) {
        Ok(request) => request,
        Err(e) => {
            if let Some(status) = e.status() {
                refuse(stream, status, &e);
            }
            return;
        }
    };
    route_request(stream, request, addr, pages, queries);
}

/// Hands on a request already read (see [`route_connection`]).
pub(crate) fn route_request(
    stream: TcpStream,
    request: Request,
    addr: SocketAddr,
    pages: &SyncSender<PageJob>,
    queries: &QueryDesk,
) {
    let head = request.method == "HEAD";
    let busy = match check(addr, &request) {
        Err(reply) => {
            let _ = respond(stream, &reply, head);
            return;
        }
        Ok(Route::Query) => match queries.hand_over((stream, request)) {
            Ok(()) => return,
            Err((stream, _)) => (
                stream,
                format!(
                    "{} queries are running: wait for one to end (or close its tab) and run \
                     this one again",
                    queries.workers
                ),
            ),
        },
        Ok(Route::Page(page)) => match pages.try_send(PageJob { stream, page, head }) {
            Ok(()) => return,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => (
                job.stream,
                "the view has more requests waiting than it takes: try again".to_owned(),
            ),
        },
    };
    let _ = respond(busy.0, &Reply::error(503, &busy.1), head);
}

/// Answers the page requests handed over in `jobs`.
pub(super) fn serve_pages(jobs: &Shared<PageJob>, mut api: Api) {
    while let Some(job) = next(jobs) {
        let reply = match job.page {
            Page::Api { endpoint, query } => api.handle(&endpoint, &query),
            Page::Asset(path) => match assets::find(&path) {
                Some(asset) => Reply {
                    status: 200,
                    content_type: asset.content_type,
                    body: asset.body.to_vec(),
                },
                None => Reply::error(404, "no such page"),
            },
        };
        let _ = respond(job.stream, &reply, job.head);
    }
}

/// Runs the queries handed over in `jobs`, each stopped if its client goes away; frees
/// its place in `busy` after each.
pub(super) fn serve_queries(jobs: &Shared<QueryJob>, busy: &AtomicUsize, mut api: Api) {
    while let Some((stream, request)) = next(jobs) {
        let reply = run_query(&mut api, &stream, &request);
        // Free before the answer goes out: a client that reads it and sends its next
        // query finds this worker free.
        busy.fetch_sub(1, Ordering::SeqCst);
        if let Some(reply) = reply {
            let _ = respond(stream, &reply, request.method == "HEAD");
        }
    }
}

/// The query's answer; `None` when its client went away and it was stopped.
fn run_query(api: &mut Api, stream: &TcpStream, request: &Request) -> Option<Reply> {
    let query = request.target.split_once('?').map_or("", |(_, q)| q);
    let watch = ClientWatch::start(stream, api.interrupter()).ok();
    let reply = api.handle("query", query);
    if watch.is_some_and(ClientWatch::finish) {
        eprintln!("observe ui: a query stopped: its client went away");
        return None;
    }
    if reply.status == 408 {
        eprintln!("observe ui: a query stopped at its time limit");
    }
    Some(reply)
}

/// Where a request goes once it is allowed.
enum Route {
    Query,
    Page(Page),
}

/// What a page worker answers.
enum Page {
    Api { endpoint: String, query: String },
    Asset(String),
}

fn check(addr: SocketAddr, request: &Request) -> Result<Route, Reply> {
    if !matches!(request.method.as_str(), "GET" | "HEAD") {
        return Err(Reply::error(405, "the view only reads: use GET"));
    }
    if !host_allowed(addr, request) {
        // A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding)
        // would otherwise read the store through the visitor's browser.
        return Err(Reply::error(
            421,
            "unexpected Host header: open the URL observe ui printed",
        ));
    }
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((&request.target, ""));
    let Some(endpoint) = path.strip_prefix("/api/") else {
        return Ok(Route::Page(Page::Asset(path.to_owned())));
    };
    if is_cross_site(addr, request) {
        return Err(Reply::error(
            403,
            "cross-site request refused: the API answers the pages of this view only",
        ));
    }
    if endpoint == "query" {
        return Ok(Route::Query);
    }
    Ok(Route::Page(Page::Api {
        endpoint: endpoint.to_owned(),
        query: query.to_owned(),
    }))
}

/// On a loopback address only the loopback names are accepted as `Host`.
pub(crate) fn host_allowed(addr: SocketAddr, request: &Request) -> bool {
    if !addr.ip().is_loopback() {
        return true;
    }
    let Some(host) = request.header("Host") else {
        return true;
    };
    let name = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    matches!(name, "localhost" | "[::1]")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Answers a request that could not be read whole, then reads (a bounded part of) what the
/// client still sends, so that it gets the answer before the connection closes.
pub(crate) fn refuse(stream: TcpStream, status: u16, why: &HeadError) {
    answer_then_drain(stream, &Reply::error(status, &why.to_string()), &[]);
}

/// Answers a request whose body is left unread, then reads (a bounded part of) what the
/// client still sends, so that it gets the answer before the connection closes.
pub(crate) fn answer_then_drain(mut stream: TcpStream, reply: &Reply, extra: &[(&str, &str)]) {
    let _ = write_reply(&mut stream, reply, false, extra);
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let _ = std::io::copy(&mut (&stream).take(DRAIN_LIMIT), &mut std::io::sink());
}

fn respond(stream: TcpStream, reply: &Reply, head: bool) -> std::io::Result<()> {
    respond_with(stream, reply, head, &[])
}

/// Writes `reply` with `extra` headers, then closes the connection's sending side.
pub(crate) fn respond_with(
    mut stream: TcpStream,
    reply: &Reply,
    head: bool,
    extra: &[(&str, &str)],
) -> std::io::Result<()> {
    write_reply(&mut stream, reply, head, extra)?;
    stream.shutdown(Shutdown::Write)
}

fn write_reply(
    stream: &mut TcpStream,
    reply: &Reply,
    head: bool,
    extra: &[(&str, &str)],
) -> std::io::Result<()> {
    let mut text = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len()
    );
    if reply.content_type.starts_with("text/html") {
        // Defence in depth: the pages build their DOM from text nodes, and no script but
        // the embedded ones may run even if one day they did not.
        text.push_str(
            "Content-Security-Policy: default-src 'none'; script-src 'self'; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
             form-action 'none'; frame-ancestors 'none'\r\n",
        );
    }
    for (name, value) in extra {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    stream.write_all(text.as_bytes())?;
    if !head {
        stream.write_all(&reply.body)?;
    }
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}
