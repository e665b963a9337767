//! HTTP/1.1 framing for the control API: reading one request from a stream within limits, and
//! writing one response. `httparse` parses; this module owns the limits and says which status
//! each kind of bad input earns. One request per connection: every response says
//! `Connection: close`.

use std::io::{ErrorKind, Read, Write};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// Largest request body accepted.
pub const MAX_BODY: u64 = 64 * 1024;
/// Most headers accepted.
pub const MAX_HEADERS: usize = 32;

/// One parsed request.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The request target, `/vm/pause`.
    pub target: String,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The client closed the connection before a whole request arrived (nothing to answer).
    #[error("the client closed the connection before a whole request arrived")]
    Closed,
    /// Not HTTP/1.x.
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// The head is too large or has too many headers.
    #[error(
        "the request head is larger than {MAX_HEAD} bytes or has more than {MAX_HEADERS} headers"
    )]
    HeadTooLarge,
    /// `Content-Length` over [`MAX_BODY`].
    #[error("the request body ({0} bytes) is larger than the limit of {MAX_BODY} bytes")]
    BodyTooLarge(u64),
    /// `Transfer-Encoding` bodies are not supported.
    #[error("chunked request bodies are not supported: send Content-Length")]
    Chunked,
    /// An HTTP version other than 1.0 and 1.1.
    #[error("HTTP/{0} is not supported: use HTTP/1.1")]
    Version(u8),
    /// The read timed out before the request was complete.
    #[error("no complete request within the time limit")]
    Timeout,
    /// Reading failed.
    #[error("cannot read the request: {0}")]
    Io(#[source] std::io::Error),
}

impl HttpError {
    /// The status to answer with, or `None` when the connection is gone.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Closed | HttpError::Io(_) => None,
            HttpError::Malformed(_) => Some(400),
            HttpError::HeadTooLarge => Some(431),
            HttpError::BodyTooLarge(_) => Some(413),
            HttpError::Chunked => Some(411),
            HttpError::Version(_) => Some(505),
            HttpError::Timeout => Some(408),
        }
    }
}

fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> Result<usize, HttpError> {
    loop {
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(HttpError::Timeout)
            }
            Err(e) => return Err(HttpError::Io(e)),
        }
    }
}

/// The head's parts that matter: method, target, version, body length, head length.
struct Head {
    method: String,
    target: String,
    content_length: u64,
    len: usize,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, HttpError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HttpError::HeadTooLarge),
        Err(e) => return Err(HttpError::Malformed(e.to_string())),
    };
    match req.version {
        Some(0 | 1) => {}
        Some(v) => return Err(HttpError::Version(v)),
        None => return Err(HttpError::Malformed("no HTTP version".into())),
    }
    let mut content_length: Option<u64> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(HttpError::Chunked);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| HttpError::Malformed("Content-Length is not a number".into()))?;
            if content_length.is_some_and(|c| c != v) {
                return Err(HttpError::Malformed(
                    "two different Content-Length headers".into(),
                ));
            }
            content_length = Some(v);
        }
    }
    Ok(Some(Head {
        method: req.method.unwrap_or_default().to_string(),
        target: req.path.unwrap_or_default().to_string(),
        content_length: content_length.unwrap_or(0),
        len,
    }))
}

/// Reads one request: the head (at most [`MAX_HEAD`] bytes), then `Content-Length` bytes of
/// body (at most [`MAX_BODY`]). A read timeout set on the stream bounds how long a client
/// that sends half a request can hold the connection ([`HttpError::Timeout`]).
pub fn read_request(stream: &mut impl Read) -> Result<Request, HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let head = loop {
        if let Some(head) = parse_head(&buf)? {
            break head;
        }
        if buf.len() >= MAX_HEAD {
            return Err(HttpError::HeadTooLarge);
        }
        let want = chunk.len().min(MAX_HEAD + 1 - buf.len());
        let n = read_some(stream, &mut chunk[..want])?;
        if n == 0 {
            return Err(HttpError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head.len > MAX_HEAD {
        return Err(HttpError::HeadTooLarge);
    }
    if head.content_length > MAX_BODY {
        return Err(HttpError::BodyTooLarge(head.content_length));
    }
    let want = head.content_length as usize;
    let mut body = buf.split_off(head.len);
    body.truncate(want);
    while body.len() < want {
        let n = read_some(stream, &mut chunk[..(want - body.len()).min(1024)])?;
        if n == 0 {
            return Err(HttpError::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(Request {
        method: head.method,
        target: head.target,
        body,
    })
}

/// The reason phrase of the statuses the API uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// The bytes of a response with a JSON body.
pub fn response_bytes(status: u16, body: &str) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len() + 1
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out.push(b'\n');
    out
}

/// Writes a response with a JSON body (a newline is added so that `curl` output ends a line).
pub fn write_response(w: &mut impl Write, status: u16, body: &str) -> std::io::Result<()> {
    w.write_all(&response_bytes(status, body))?;
    w.flush()
}

#[cfg(test)]
mod tests;
