//! The request loop: routes, methods, and the headers every answer carries.

use std::net::SocketAddr;

use tiny_http::{Header, Method, Request, Response, Server};

use super::api::{Api, Reply};
use super::assets;

/// Answers requests from `server` until it closes.
pub(super) fn serve(server: &Server, mut api: Api, addr: SocketAddr) {
    for request in server.incoming_requests() {
        let reply = answer(&mut api, addr, &request);
        let head = *request.method() == Method::Head;
        let _ = respond(request, reply, head);
    }
}

fn answer(api: &mut Api, addr: SocketAddr, request: &Request) -> Reply {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return Reply::error(405, "the view only reads: use GET");
    }
    if !host_allowed(addr, request) {
        // A page on another site that resolves its own name to 127.0.0.1 (DNS rebinding)
        // would otherwise read the store through the visitor's browser.
        return Reply::error(
            421,
            "unexpected Host header: open the URL observe ui printed",
        );
    }
    let url = request.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if let Some(endpoint) = path.strip_prefix("/api/") {
        return api.handle(endpoint, query);
    }
    match assets::find(path) {
        Some(asset) => Reply {
            status: 200,
            content_type: asset.content_type,
            body: asset.body.to_vec(),
        },
        None => Reply::error(404, "no such page"),
    }
}

/// On a loopback address only the loopback names are accepted as `Host`.
fn host_allowed(addr: SocketAddr, request: &Request) -> bool {
    if !addr.ip().is_loopback() {
        return true;
    }
    let Some(host) = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str())
    else {
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

fn respond(request: Request, reply: Reply, head: bool) -> std::io::Result<()> {
    let mut headers = vec![
        header("Content-Type", reply.content_type),
        header("Cache-Control", "no-store"),
        header("X-Content-Type-Options", "nosniff"),
        header("Referrer-Policy", "no-referrer"),
        header("X-Frame-Options", "DENY"),
    ];
    if reply.content_type.starts_with("text/html") {
        // Defence in depth: the pages build their DOM from text nodes, and no script but
        // the embedded ones may run even if one day they did not.
        headers.push(header(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ));
    }
    let length = reply.body.len();
    let body = if head { Vec::new() } else { reply.body };
    let mut response = Response::from_data(body).with_status_code(reply.status);
    for h in headers {
        response.add_header(h);
    }
    if head {
        response.add_header(header("Content-Length", &length.to_string()));
    }
    request.respond(response)
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("static header names and values")
}
