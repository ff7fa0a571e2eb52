//! HTTP/1.1 on a std TcpStream: one request at a time, keep-alive, Content-Length or
//! chunked bodies, and the answers written back.

use super::*;

pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    pub(super) keep_alive: bool,
}

impl Request {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub(super) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) body: Vec<u8>,
}

impl Response {
    pub(super) fn json(status: u16, v: Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "application/json; charset=utf-8".into())],
            body: v.to_string().into_bytes(),
        }
    }
    pub(super) fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
    pub(super) fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
}

pub(super) fn serve_connection(sh: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
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
        match handle(sh, &req) {
            Some(resp) => {
                if write_response(&mut writer, &resp, req.keep_alive).is_err() || !req.keep_alive {
                    break;
                }
            }
            None => break,
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Reads one request; Ok(None) when the client closed the connection between requests.
pub(super) fn read_request(r: &mut BufReader<TcpStream>) -> Result<Option<Request>, String> {
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
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
        keep_alive,
    }))
}

pub(super) fn write_response(
    w: &mut TcpStream,
    resp: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (n, v) in &resp.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    w.write_all(&out)?;
    w.flush()
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
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
