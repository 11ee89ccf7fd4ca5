//! Reading a request's head (request line and headers) within [`MAX_HEAD`] bytes: the
//! view answers `GET`s only, so a head larger than that, too many headers or a body are
//! refused before they take any memory. `observe serve` reads heads the same way, keeping
//! the bytes of the body that came with the head.

use std::io::Read as _;
use std::net::TcpStream;

/// The most a request line and its headers may take together.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// The most headers a request may have (browsers send about twenty).
const MAX_HEADERS: usize = 64;

/// A request's method, target and headers.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    /// The path and query string, still URL-encoded.
    pub(crate) target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (the first, if it was sent more than once).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request was not read; each but [`HeadError::Closed`] is answered with its status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("the request line is longer than {} KiB", MAX_HEAD / 1024)]
    LineTooLong,
    #[error("the request's headers are larger than {} KiB, or more than {MAX_HEADERS}", MAX_HEAD / 1024)]
    HeadersTooLarge,
    #[error("the view takes no request body")]
    Body,
    #[error("not an HTTP/1.x request")]
    Malformed,
    /// The client closed the connection or stayed silent past the read timeout.
    #[error("the connection closed")]
    Closed,
}

impl HeadError {
    /// The status answered, `None` when there is no one to answer.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            HeadError::LineTooLong => Some(414),
            HeadError::HeadersTooLarge => Some(431),
            HeadError::Body => Some(413),
            HeadError::Malformed => Some(400),
            HeadError::Closed => None,
        }
    }
}

/// Reads one request head from `stream` (whose read timeout bounds a silent client).
pub(super) fn read_head(stream: &mut TcpStream) -> Result<Request, HeadError> {
    read_head_and_more(stream, false).map(|(request, _)| request)
}

/// Reads one request head from `stream`; with `allow_body`, a request with a body is read
/// too, and what was read past the head (the start of the body) comes back with it.
pub(crate) fn read_head_and_more(
    stream: &mut TcpStream,
    allow_body: bool,
) -> Result<(Request, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let room = MAX_HEAD - buf.len();
        let n = match stream.read(&mut chunk[..room.min(4096)]) {
            Ok(0) | Err(_) => return Err(HeadError::Closed),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some((request, head_len)) = parse(&buf, allow_body)? {
            return Ok((request, buf.split_off(head_len)));
        }
        if buf.len() >= MAX_HEAD {
            return Err(if buf.contains(&b'\n') {
                HeadError::HeadersTooLarge
            } else {
                HeadError::LineTooLong
            });
        }
    }
}

/// The request in `buf` and the length of its head, `None` while the head is not complete.
fn parse(buf: &[u8], allow_body: bool) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::HeadersTooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    let request = Request {
        method: parsed.method.unwrap_or_default().to_owned(),
        target: parsed.path.unwrap_or_default().to_owned(),
        headers: parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
    };
    let has_body = request.header("Transfer-Encoding").is_some()
        || request
            .header("Content-Length")
            .is_some_and(|n| n.trim() != "0");
    if has_body && !allow_body {
        return Err(HeadError::Body);
    }
    Ok(Some((request, head_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_bodies_are_refused() {
        assert!(parse(b"GET /api/x?a=1 HTTP/1.1\r\nHost: h", false)
            .unwrap()
            .is_none());
        let (r, _) = parse(b"GET /api/x?a=1 HTTP/1.1\r\nhost: h\r\n\r\n", false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("GET", "/api/x?a=1")
        );
        assert_eq!(r.header("Host"), Some("h"));
        let body = parse(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n", false);
        assert!(matches!(body, Err(HeadError::Body)));
        assert!(parse(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", false).is_ok());
        let head = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n";
        let with_body = [&head[..], b"hel"].concat();
        let (_, head_len) = parse(&with_body, true).unwrap().unwrap();
        assert_eq!(&with_body[head_len..], b"hel");
        assert!(matches!(
            parse(b"\x00\x01 nonsense\r\n\r\n", false),
            Err(HeadError::Malformed)
        ));
        let many = format!(
            "GET / HTTP/1.1\r\n{}\r\n",
            "A: b\r\n".repeat(MAX_HEADERS + 1)
        );
        assert!(matches!(
            parse(many.as_bytes(), false),
            Err(HeadError::HeadersTooLarge)
        ));
    }
}
