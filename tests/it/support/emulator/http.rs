//! The emulators' one HTTP/1.1 server, on 127.0.0.1 with std `TcpListener` and a
//! thread per connection (so that a handler can sleep, cut an answer short or drop
//! the connection). It reads a request (Content-Length or chunked body, `Expect:
//! 100-continue`), hands it to the emulator's handler and writes the answer back.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{json, Value};

/// One request as read.
pub struct Request {
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// The request line and header lines as received.
    pub head: String,
    pub body: Vec<u8>,
    pub keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An answer. The body is a list of shared parts, so that big stored documents
/// are sent without copying them.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<Arc<Vec<u8>>>,
    /// Send only the first `after` bytes of the body, then close; `declared`: with
    /// the whole body's Content-Length (else none: the close ends the body).
    pub cut: Option<(usize, bool)>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            cut: None,
        }
    }
    /// JSON with `Content-Type: application/json; charset=utf-8`.
    pub fn json(status: u16, v: Value) -> Response {
        Response::new(status)
            .with("Content-Type", "application/json; charset=utf-8")
            .body(v.to_string().into_bytes())
    }
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    pub fn body(self, bytes: Vec<u8>) -> Response {
        self.part(Arc::new(bytes))
    }
    pub fn part(mut self, bytes: Arc<Vec<u8>>) -> Response {
        self.body.push(bytes);
        self
    }
}

/// Whether a connection serves several requests or one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// As the client asks (HTTP/1.1: keep-alive unless `Connection: close`).
    KeepAlive,
    /// One request, answered with `Connection: close` (and a 30 s read timeout).
    OneRequest,
}

/// What the server runs for each request: the answer, or None to close the
/// connection without one.
pub type Handler = dyn Fn(&Request) -> Option<Response> + Send + Sync;

/// A running server; dropping it stops it and closes its connections.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    shutdown: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

impl Server {
    /// Binds 127.0.0.1:`port` (0: any free port) and serves in background threads.
    pub fn start(port: u16, mode: Connections, handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            shutdown: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        });
        let sh = Arc::clone(&shared);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if sh.shutdown.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let id = sh.next_conn.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    sh.conns.lock().unwrap().insert(id, clone);
                }
                let sh = Arc::clone(&sh);
                let handler = Arc::clone(&handler);
                thread::spawn(move || {
                    serve_connection(&sh, stream, mode, &*handler);
                    sh.conns.lock().unwrap().remove(&id);
                });
            }
        });
        Server {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the acceptor
        for (_, c) in self.shared.conns.lock().unwrap().drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

fn serve_connection(sh: &Shared, stream: TcpStream, mode: Connections, handler: &Handler) {
    let _ = stream.set_nodelay(true);
    if mode == Connections::OneRequest {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    }
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !sh.shutdown.load(Ordering::SeqCst) {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(msg) => {
                let body = json!({"error": {"code": "BadRequest", "message": msg}});
                let _ = write_response(&mut writer, &Response::json(400, body), false);
                break;
            }
        };
        let keep_alive = req.keep_alive && mode == Connections::KeepAlive;
        let Some(resp) = handler(&req) else { break };
        if write_response(&mut writer, &resp, keep_alive && resp.cut.is_none()).is_err()
            || !keep_alive
            || resp.cut.is_some()
        {
            // Let the client read everything before the socket goes away.
            let _ = writer.shutdown(Shutdown::Write);
            let mut sink = [0u8; 1024];
            let _ = writer.set_read_timeout(Some(Duration::from_millis(200)));
            while matches!(writer.read(&mut sink), Ok(n) if n > 0) {}
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Reads one request; Ok(None) when the client closed the connection between requests.
fn read_request(r: &mut BufReader<TcpStream>) -> Result<Option<Request>, String> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return if head.is_empty() {
                Ok(None)
            } else {
                Err("truncated request head".into())
            };
        }
        if head.is_empty() && (line == b"\r\n" || line == b"\n") {
            continue; // stray CRLF between requests
        }
        head.extend_from_slice(&line);
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if head.len() > 64 * 1024 {
            return Err("request head too large".into());
        }
    }
    let mut raw = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut raw);
    match parsed.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err("malformed request head".into()),
    }
    let method = parsed.method.unwrap_or("").to_string();
    let target = parsed.path.unwrap_or("/").to_string();
    let http10 = parsed.version == Some(0);
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let connection = get("connection").unwrap_or_default();
    let keep_alive = if http10 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if get("expect").is_some_and(|v| v == "100-continue") {
        let w = r.get_mut();
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|e| e.to_string())?;
    }
    let mut body = Vec::new();
    if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).map_err(|e| e.to_string())?;
            let hex = size.trim().split(';').next().unwrap_or("");
            let n = usize::from_str_radix(hex, 16).map_err(|_| "bad chunk size".to_string())?;
            if n == 0 {
                loop {
                    let mut trailer = String::new();
                    if r.read_line(&mut trailer).map_err(|e| e.to_string())? == 0
                        || trailer.trim().is_empty()
                    {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])
                .map_err(|e| e.to_string())?;
            let mut crlf = String::new();
            r.read_line(&mut crlf).map_err(|e| e.to_string())?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length".to_string())?;
        body.resize(len, 0);
        r.read_exact(&mut body).map_err(|e| e.to_string())?;
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (
            p.to_string(),
            form_urlencoded::parse(q.as_bytes()).into_owned().collect(),
        ),
        None => (target.clone(), Vec::new()),
    };
    let head = String::from_utf8_lossy(&head).trim_end().to_string() + "\r\n";
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        head,
        body,
        keep_alive,
    }))
}

fn write_response(w: &mut TcpStream, resp: &Response, keep_alive: bool) -> std::io::Result<()> {
    let total: usize = resp.body.iter().map(|p| p.len()).sum();
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !matches!(resp.cut, Some((_, false))) {
        head.push_str(&format!("Content-Length: {total}\r\n"));
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = std::io::BufWriter::with_capacity(1 << 20, w);
    out.write_all(head.as_bytes())?;
    let mut left = resp.cut.map_or(usize::MAX, |(n, _)| n);
    for p in &resp.body {
        let n = p.len().min(left);
        out.write_all(&p[..n])?;
        left -= n;
        if left == 0 {
            break;
        }
    }
    out.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
