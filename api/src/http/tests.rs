//! Tests of request reading: good requests in any number of pieces, and every kind of bad
//! input with the status it earns.

use super::*;
use std::io::Cursor;

/// Hands out its bytes a few at a time, then ends (or times out, or fails).
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    step: usize,
    end: Option<ErrorKind>,
}

impl Trickle {
    fn new(data: &[u8], step: usize, end: Option<ErrorKind>) -> Self {
        Trickle {
            data: data.to_vec(),
            pos: 0,
            step,
            end,
        }
    }
}

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.data.len() {
            return match self.end {
                Some(kind) => Err(std::io::Error::from(kind)),
                None => Ok(0),
            };
        }
        let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn read(bytes: &[u8]) -> Result<Request, HttpError> {
    read_request(&mut Cursor::new(bytes.to_vec()))
}

#[test]
fn reads_a_get_and_a_put_with_a_body() {
    let r = read(b"GET /vm HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n").unwrap();
    assert_eq!(
        r,
        Request {
            method: "GET".into(),
            target: "/vm".into(),
            body: vec![]
        }
    );
    let r = read(
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 2\r\ncontent-type: application/json\r\n\r\n{}",
    )
    .unwrap();
    assert_eq!((r.method.as_str(), r.target.as_str()), ("PUT", "/vm/pause"));
    assert_eq!(r.body, b"{}");
    // HTTP/1.0 is fine too; bytes after the body are not read into it.
    let r = read(b"PUT /vm/reset HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}EXTRA").unwrap();
    assert_eq!(r.body, b"{}");
}

#[test]
fn reads_a_request_that_arrives_one_byte_at_a_time() {
    let bytes = b"PUT /vm/resume HTTP/1.1\r\nContent-Length: 12\r\n\r\n{          }";
    let r = read_request(&mut Trickle::new(bytes, 1, None)).unwrap();
    assert_eq!(r.target, "/vm/resume");
    assert_eq!(r.body, b"{          }");
}

#[test]
fn half_requests() {
    // The client stops sending and keeps the connection: the read timeout ends it with 408.
    let e = read_request(&mut Trickle::new(
        b"GET /vm HTTP/1.1\r\nHo",
        3,
        Some(ErrorKind::WouldBlock),
    ))
    .unwrap_err();
    assert!(matches!(e, HttpError::Timeout));
    assert_eq!(e.status(), Some(408));
    let e = read_request(&mut Trickle::new(
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 10\r\n\r\n{",
        100,
        Some(ErrorKind::TimedOut),
    ))
    .unwrap_err();
    assert_eq!(e.status(), Some(408));
    // The client closes halfway: nothing to answer.
    let e = read(b"GET /vm HTTP/1.1\r\n").unwrap_err();
    assert!(matches!(e, HttpError::Closed));
    assert_eq!(e.status(), None);
    let e = read(b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 10\r\n\r\n{}").unwrap_err();
    assert!(matches!(e, HttpError::Closed));
    assert!(matches!(read(b"").unwrap_err(), HttpError::Closed));
    let e = read_request(&mut Trickle::new(
        b"GET",
        3,
        Some(ErrorKind::ConnectionReset),
    ))
    .unwrap_err();
    assert!(matches!(e, HttpError::Io(_)));
    assert_eq!(e.status(), None);
}

#[test]
fn garbage_is_400() {
    for garbage in [
        &b"\x00\x01\x02\x03\xff\xfe\r\n\r\n"[..],
        b"hello there\r\n\r\n",
        b"GET /vm HTTP/9.9\r\n\r\n",
        b"GET  HTTP/1.1\r\n\r\n",
        b"GET /vm HTTP/1.1\r\nNo-Colon\r\n\r\n",
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"PUT /vm/pause HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    ] {
        let e = read(garbage).unwrap_err();
        assert_eq!(
            e.status(),
            Some(400),
            "{:?}: {e:?}",
            String::from_utf8_lossy(garbage)
        );
    }
}

#[test]
fn limits() {
    // A head that never ends is cut at MAX_HEAD.
    let mut endless = b"GET /vm HTTP/1.1\r\n".to_vec();
    while endless.len() < 3 * MAX_HEAD {
        endless.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let e = read(&endless).unwrap_err();
    assert!(matches!(e, HttpError::HeadTooLarge), "{e:?}");
    assert_eq!(e.status(), Some(431));
    // Too many headers.
    let mut many = b"GET /vm HTTP/1.1\r\n".to_vec();
    for i in 0..40 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(read(&many).unwrap_err().status(), Some(431));
    // A huge body is refused from its Content-Length, before anything is read.
    let e = read(b"PUT /vm/pause HTTP/1.1\r\nContent-Length: 10000000000\r\n\r\n").unwrap_err();
    assert!(
        matches!(e, HttpError::BodyTooLarge(10_000_000_000)),
        "{e:?}"
    );
    assert_eq!(e.status(), Some(413));
    assert!(e.to_string().contains("65536"), "{e}");
    // Chunked bodies.
    let e =
        read(b"PUT /vm/pause HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            .unwrap_err();
    assert_eq!(e.status(), Some(411));
    // HTTP/2 preface.
    let e = read(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap_err();
    assert!(e.status().is_some_and(|s| s == 400 || s == 505), "{e:?}");
}

#[test]
fn responses() {
    let bytes = response_bytes(409, r#"{"error":"x"}"#);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{\"error\":\"x\"}\n"
    );
    let mut out = Vec::new();
    write_response(&mut out, 200, "{}").unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(out.ends_with(b"\r\n\r\n{}\n"));
}
