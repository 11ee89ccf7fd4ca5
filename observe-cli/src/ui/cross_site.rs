//! Refusing API requests that another site's page makes through the visitor's browser.
//!
//! Any page the user visits can make the browser send `GET`s to `127.0.0.1` (an image, a
//! script tag, a `no-cors` fetch). The browser keeps the answer from that page, but the
//! request still runs: a runaway or huge query from a hostile page would hold the view's
//! workers and memory. Browsers say where a request comes from: `Sec-Fetch-Site` (sent by
//! every current browser) and `Origin` (on cross-origin fetches). A request either header
//! marks as coming from elsewhere is refused before it runs.
//!
//! A per-start token in the URL would also stop older browsers, but it breaks bookmarks
//! and reloads of the printed URL and needs the pages to carry it; the headers need
//! nothing from the user. Clients that send neither header (curl, scripts) are local
//! programs, which could read the store file anyway, and are answered.

use std::net::SocketAddr;

use super::request::Request;

/// Whether `request` comes from a page of another origin than this view's.
pub(super) fn is_cross_site(addr: SocketAddr, request: &Request) -> bool {
    if let Some(site) = request.header("Sec-Fetch-Site") {
        // `none`: the user typed the URL or opened a bookmark.
        if !matches!(site.trim(), "same-origin" | "none") {
            return true;
        }
    }
    match request.header("Origin") {
        None => false,
        Some(origin) => !is_own_origin(addr, origin.trim(), request.header("Host")),
    }
}

/// Whether `origin` is the view's: `http://` and the host the request was sent to (or, with
/// no `Host`, a loopback name with the view's port).
fn is_own_origin(addr: SocketAddr, origin: &str, host: Option<&str>) -> bool {
    let Some(origin_host) = origin.strip_prefix("http://") else {
        return false; // `null` (a sandboxed or file page), another scheme
    };
    match host {
        Some(host) => origin_host.eq_ignore_ascii_case(host.trim()),
        None => {
            let port = addr.port();
            [
                format!("127.0.0.1:{port}"),
                format!("localhost:{port}"),
                format!("[::1]:{port}"),
                addr.to_string(),
            ]
            .iter()
            .any(|own| origin_host.eq_ignore_ascii_case(own))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_the_host_asked_for() {
        let addr: SocketAddr = "127.0.0.1:7070".parse().unwrap();
        assert!(is_own_origin(
            addr,
            "http://127.0.0.1:7070",
            Some("127.0.0.1:7070")
        ));
        assert!(is_own_origin(
            addr,
            "http://LOCALHOST:7070",
            Some("localhost:7070")
        ));
        assert!(!is_own_origin(
            addr,
            "http://localhost:7071",
            Some("localhost:7070")
        ));
        assert!(!is_own_origin(
            addr,
            "https://127.0.0.1:7070",
            Some("127.0.0.1:7070")
        ));
        assert!(!is_own_origin(addr, "null", Some("127.0.0.1:7070")));
        assert!(is_own_origin(addr, "http://localhost:7070", None));
        assert!(!is_own_origin(addr, "http://evil.example", None));
    }
}
