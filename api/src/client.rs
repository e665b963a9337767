//! A small blocking client for the control API: one request per connection, as the server
//! answers. Used by `ovmm api`, the host-side tests and the lab (where there is no curl).

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the client waits for an answer.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body, as text.
    pub body: String,
}

impl Response {
    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_str(&self.body)
            .map_err(|e| ClientError::BadResponse(format!("the body is not JSON: {e}")))
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing accepts connections at the path.
    #[error("cannot connect to the API socket {}: {source} (is ovmm running with --api-socket {}?)", path.display(), path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Sending or receiving failed.
    #[error("API connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The answer is not HTTP.
    #[error("the API answered something that is not an HTTP response: {0}")]
    BadResponse(String),
}

fn connect(socket: &Path) -> Result<UnixStream, ClientError> {
    let stream = UnixStream::connect(socket).map_err(|source| ClientError::Connect {
        path: socket.to_path_buf(),
        source,
    })?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    Ok(stream)
}

/// Sends `method target` with an optional JSON body and returns the answer.
pub fn request(
    socket: &Path,
    method: &str,
    target: &str,
    body: Option<&str>,
) -> Result<Response, ClientError> {
    let body = body.unwrap_or("");
    let mut msg =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n");
    if !body.is_empty() {
        msg.push_str("Content-Type: application/json\r\n");
    }
    msg.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    parse_response(&exchange_raw(socket, msg.as_bytes(), true)?)
}

/// Writes `bytes` as they are (optionally closing the sending side after them) and returns
/// everything the server sends back until it closes the connection.
pub fn exchange_raw(
    socket: &Path,
    bytes: &[u8],
    close_write: bool,
) -> Result<Vec<u8>, ClientError> {
    let mut stream = connect(socket)?;
    match stream.write_all(bytes) {
        Ok(()) => {}
        // The server may answer and close before reading everything (a too-large body).
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => return Err(e.into()),
    }
    if close_write {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // The server closed with part of our request unread: what it sent before is the answer.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => Ok(out),
        Err(e) => Err(e.into()),
    }
}

/// Parses a whole response (the server sends one and closes).
pub fn parse_response(bytes: &[u8]) -> Result<Response, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if bytes.is_empty() => {
            return Err(ClientError::BadResponse(
                "the server closed the connection without answering".into(),
            ))
        }
        Ok(httparse::Status::Partial) => {
            return Err(ClientError::BadResponse("the answer was cut short".into()))
        }
        Err(e) => return Err(ClientError::BadResponse(e.to_string())),
    };
    let status = resp
        .code
        .ok_or_else(|| ClientError::BadResponse("no status code".into()))?;
    Ok(Response {
        status,
        body: String::from_utf8_lossy(&bytes[head..])
            .trim_end()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_responses() {
        let r =
            parse_response(&crate::http::response_bytes(202, r#"{"state":"running"}"#)).unwrap();
        assert_eq!(r.status, 202);
        assert_eq!(r.body, r#"{"state":"running"}"#);
        assert_eq!(r.json().unwrap()["state"], "running");
        assert!(matches!(
            parse_response(b""),
            Err(ClientError::BadResponse(_))
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-"),
            Err(ClientError::BadResponse(_))
        ));
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }
}
