//! A raw HTTP/1.1 client: the exact bytes of a request go on the wire, so that a test can send
//! what no well-behaved client library would (invalid UTF-8, repeated headers, wrong lengths), and
//! hold a connection half-sent.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back on one connection.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The `error` message of a JSON error body, if the body is one.
    pub fn json_error(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v["error"].as_str().filter(|m| !m.trim().is_empty()).map(str::to_string)
    }

    /// `Ok` for a 4xx with a JSON `error`, the contract of every refusal; else what was wrong.
    pub fn refused_cleanly(&self) -> Result<(), String> {
        if !(400..500).contains(&self.status) {
            return Err(format!("status {} (want a 4xx): {}", self.status, self.body_text()));
        }
        if self.json_error().is_none() {
            return Err(format!("status {} without a JSON error body: {:?} (content-type {:?})", self.status, self.body_text(), self.header("content-type")));
        }
        Ok(())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(300).collect()
    }
}

/// A request as bytes: `method target HTTP/1.1`, the headers in order (repeats allowed), and the
/// body. `Host`, `Connection: close` and `Content-Length` are added unless `headers` names them.
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: String,
    pub target: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl RawRequest {
    pub fn new(method: &str, target: impl Into<Vec<u8>>) -> RawRequest {
        RawRequest { method: method.to_string(), target: target.into(), headers: Vec::new(), body: Vec::new() }
    }

    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> RawRequest {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> RawRequest {
        self.body = body.into();
        self
    }

    pub fn json(self, body: impl Into<Vec<u8>>) -> RawRequest {
        self.header("Content-Type", "application/json").body(body)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let has = |n: &str| self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        let mut out = Vec::with_capacity(self.body.len() + 256);
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !has("host") {
            out.extend_from_slice(b"Host: localhost\r\n");
        }
        if !has("connection") {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        if !has("content-length") && !has("transfer-encoding") && (!self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")) {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        for (k, v) in &self.headers {
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// A one-line description for failure messages.
    pub fn describe(&self) -> String {
        let ct = self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| String::from_utf8_lossy(v).to_string());
        let body: String = String::from_utf8_lossy(&self.body).chars().take(160).collect();
        format!("{} {} (content-type {:?}, {} body bytes: {body:?})", self.method, String::from_utf8_lossy(&self.target).chars().take(200).collect::<String>(), ct, self.body.len())
    }
}

/// Sends `request` on a new connection to `addr` and reads the answer until the server closes
/// (the request says `Connection: close`) or `timeout` passes (an error: the server hung).
pub async fn send(addr: &str, request: &RawRequest, timeout: Duration) -> anyhow::Result<RawAnswer> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        // The server may answer (413, 400) and close before it has read all of a large body.
        let _ = stream.write_all(&request.to_bytes()).await;
        let mut buf = Vec::new();
        match stream.read_to_end(&mut buf).await {
            Ok(_) => {}
            // A reset after a complete answer (the server closed with our unread bytes pending).
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !buf.is_empty() => {}
            Err(e) => return Err(anyhow::Error::from(e)),
        }
        Ok::<_, anyhow::Error>(buf)
    };
    let buf = tokio::time::timeout(timeout, exchange).await.map_err(|_| anyhow::anyhow!("no whole answer within {timeout:?}"))??;
    parse(&buf)
}

/// Parses one HTTP/1.1 response (Content-Length or chunked body, or until close).
pub fn parse(buf: &[u8]) -> anyhow::Result<RawAnswer> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow::anyhow!("no response head in {} bytes: {:?}", buf.len(), String::from_utf8_lossy(&buf[..buf.len().min(200)])))?;
    let head = std::str::from_utf8(&buf[..end])?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow::anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let rest = &buf[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = rest[at..].windows(2).position(|w| w == b"\r\n").ok_or_else(|| anyhow::anyhow!("truncated chunk"))? + at;
            let size = usize::from_str_radix(std::str::from_utf8(&rest[at..line_end])?.split(';').next().unwrap_or("0").trim(), 16)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(line_end + 2..line_end + 2 + size).ok_or_else(|| anyhow::anyhow!("truncated chunk"))?);
            at = line_end + 2 + size + 2;
        }
        body
    } else {
        let length = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse::<usize>().ok());
        match length {
            Some(n) => rest.get(..n).ok_or_else(|| anyhow::anyhow!("body of {} bytes, Content-Length {n}", rest.len()))?.to_vec(),
            None => rest.to_vec(),
        }
    };
    Ok(RawAnswer { status, headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked_bodies() {
        let a = parse(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 13\r\n\r\n{\"error\":\"x\"}").unwrap();
        assert_eq!((a.status, a.json_error().as_deref()), (400, Some("x")));
        let c = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").unwrap();
        assert_eq!(c.body, b"abcde");
        assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc").is_err());
    }

    #[test]
    fn a_request_gets_host_close_and_length_unless_given() {
        let r = RawRequest::new("POST", "/p").json("{}").to_bytes();
        assert_eq!(String::from_utf8(r).unwrap(), "POST /p HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}");
    }
}
