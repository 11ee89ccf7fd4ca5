//! Reading a request body within the limits: its `Content-Length` is checked before a byte
//! of it is read, a chunked body is refused (411: every SDK observe knows sends a length),
//! and a gzip body is inflated through a reader that stops one byte past the limit, so that
//! a small body inflating to gigabytes (a gzip bomb) costs no more than the limit.

use std::io::Read as _;
use std::net::TcpStream;

use flate2::read::GzDecoder;

use crate::ui::request::Request;

/// Why a body was not read; each is answered with [`BodyError::status`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum BodyError {
    #[error("send the body with a Content-Length: chunked request bodies are not taken")]
    LengthRequired,
    #[error("Content-Length is not a number")]
    BadLength,
    #[error("the body is {length} bytes; this server takes at most {limit} (--max-body-bytes)")]
    TooLarge { length: u64, limit: usize },
    #[error(
        "the body inflates past {limit} bytes; this server takes at most that \
         (--max-inflated-bytes)"
    )]
    InflatesTooLarge { limit: usize },
    #[error("the body is not valid gzip: {0}")]
    BadGzip(std::io::Error),
    #[error("Content-Encoding `{0}` is not taken: send gzip or no encoding")]
    Encoding(String),
    /// The client stopped sending before the whole body came (or stayed silent past the
    /// read timeout): there is no one to answer.
    #[error("the connection closed before the body was read: {0}")]
    Cut(std::io::Error),
}

impl BodyError {
    /// The status to answer, `None` when the client is gone.
    pub(crate) fn status(&self) -> Option<u16> {
        match self {
            BodyError::LengthRequired => Some(411),
            BodyError::BadLength | BodyError::BadGzip(_) => Some(400),
            BodyError::TooLarge { .. } | BodyError::InflatesTooLarge { .. } => Some(413),
            BodyError::Encoding(_) => Some(415),
            BodyError::Cut(_) => None,
        }
    }

    /// True when the body was left (partly) unread on the connection.
    pub(crate) fn body_unread(&self) -> bool {
        matches!(
            self,
            BodyError::LengthRequired | BodyError::BadLength | BodyError::TooLarge { .. }
        )
    }
}

/// The size limits of one request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimits {
    /// The most a body may take on the wire.
    pub(crate) body: usize,
    /// The most a body may take once inflated.
    pub(crate) inflated: usize,
}

/// The declared body length, checked against `limit` before anything is read.
pub(crate) fn declared_length(request: &Request, limit: usize) -> Result<usize, BodyError> {
    if request
        .header("Transfer-Encoding")
        .is_some_and(|te| !te.trim().eq_ignore_ascii_case("identity"))
    {
        return Err(BodyError::LengthRequired);
    }
    let Some(length) = request.header("Content-Length") else {
        return Ok(0);
    };
    let length: u64 = length.trim().parse().map_err(|_| BodyError::BadLength)?;
    match usize::try_from(length) {
        Ok(n) if n <= limit => Ok(n),
        _ => Err(BodyError::TooLarge { length, limit }),
    }
}

/// Reads the rest of a body of `length` bytes, of which `start` came with the head.
pub(crate) fn read_exact_body(
    stream: &mut TcpStream,
    mut start: Vec<u8>,
    length: usize,
) -> Result<Vec<u8>, BodyError> {
    start.truncate(length);
    let have = start.len();
    start.resize(length, 0);
    stream
        .read_exact(&mut start[have..])
        .map_err(BodyError::Cut)?;
    Ok(start)
}

/// The body as the decoder takes it: inflated if its `Content-Encoding` says gzip.
pub(crate) fn inflate(
    body: Vec<u8>,
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let encoding = content_encoding.map(str::trim).unwrap_or("");
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        if body.len() > limit {
            return Err(BodyError::InflatesTooLarge { limit });
        }
        return Ok(body);
    }
    if !encoding.eq_ignore_ascii_case("gzip") && !encoding.eq_ignore_ascii_case("x-gzip") {
        return Err(BodyError::Encoding(encoding.to_owned()));
    }
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    // One byte more than the limit tells a body at the limit from one past it.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    GzDecoder::new(&body[..])
        .take(cap)
        .read_to_end(&mut out)
        .map_err(BodyError::BadGzip)?;
    if out.len() > limit {
        return Err(BodyError::InflatesTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_inflates_within_the_limit_and_a_bomb_stops_at_it() {
        let data = b"hello otlp".repeat(100);
        assert_eq!(inflate(gzip(&data), Some("gzip"), 1000).unwrap(), data);
        let bomb = gzip(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 64 * 1024, "the bomb is small on the wire");
        assert!(matches!(
            inflate(bomb, Some("gzip"), 1 << 20),
            Err(BodyError::InflatesTooLarge { limit }) if limit == 1 << 20
        ));
        assert!(matches!(
            inflate(b"not gzip".to_vec(), Some("gzip"), 1000),
            Err(BodyError::BadGzip(_))
        ));
        assert!(matches!(
            inflate(b"x".to_vec(), Some("br"), 1000),
            Err(BodyError::Encoding(e)) if e == "br"
        ));
        assert_eq!(inflate(b"plain".to_vec(), None, 5).unwrap(), b"plain");
        assert!(inflate(b"plain!".to_vec(), None, 5).is_err());
    }
}
