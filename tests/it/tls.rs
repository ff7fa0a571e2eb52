//! TLS as the tools use it: verification on by default, a private CA trusted
//! with `--ca-cert`, `--insecure` warned about. A real TLS server on 127.0.0.1
//! with a certificate from a CA made for the test, answering `misp-pull --check`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

const KEY: &str = "0123456789abcdefghij0123456789ABCDEFGHIJ";

/// Starts a TLS server for `127.0.0.1` signed by a fresh CA; returns its port
/// and the CA certificate (PEM).
fn tls_misp() -> (u16, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                serve(&mut tls);
            });
        }
    });
    (port, ca.pem())
}

/// Answers MISP's connection-check endpoints on one connection (keep-alive).
fn serve<S: std::io::Read + Write>(stream: &mut S) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return; // closed, or a failed handshake
        }
        let mut authorized = false;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h.to_ascii_lowercase().starts_with("authorization:") && h.contains(KEY) {
                authorized = true;
            }
            if h == "\r\n" {
                break;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("");
        let body = match (authorized, path) {
            (false, _) => {
                r#"{"name":"Authentication failed.","message":"Authentication failed.","url":"/"}"#
            }
            (true, "/servers/getVersion") => r#"{"version":"2.5.1","perm_sync":false}"#,
            (true, "/users/view/me") => {
                r#"{"User":{"email":"sync@example.org"},"Role":{"name":"Sync user","perm_auth":true},"Organisation":{"name":"ExampleCERT","uuid":"1c4f2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}}"#
            }
            _ => r#"{"name":"Not Found","message":"Not Found","url":"/"}"#,
        };
        let status = if authorized {
            "200 OK"
        } else {
            "403 Forbidden"
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let s = reader.get_mut();
        if s.write_all(resp.as_bytes())
            .and_then(|_| s.flush())
            .is_err()
        {
            return;
        }
    }
}

fn check(port: u16, extra: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_misp-pull"))
        .args(["--check", "--url", &format!("https://127.0.0.1:{port}")])
        .args(["--retries", "0"])
        .args(extra)
        .env("MISP_KEY", KEY)
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_unknown_ca_is_refused_by_default() {
    let (port, _) = tls_misp();
    let (code, out, err) = check(port, &[]);
    assert_eq!(code, Some(1), "stdout: {out}\nstderr: {err}");
    assert!(err.to_ascii_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(KEY) && !out.contains(KEY));
}

#[test]
fn a_private_ca_is_trusted_with_ca_cert() {
    let (port, ca_pem) = tls_misp();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let (code, out, err) = check(port, &["--ca-cert", ca.to_str().unwrap()]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("2.5.1") && out.contains("ExampleCERT"),
        "{out}"
    );
    assert!(!err.contains("--insecure"), "{err}");
}

#[test]
fn insecure_connects_and_warns() {
    let (port, _) = tls_misp();
    let (code, out, err) = check(port, &["--insecure"]);
    assert_eq!(code, Some(0), "stdout: {out}\nstderr: {err}");
    assert!(
        err.contains("--insecure") && err.contains("NOT verified"),
        "{err}"
    );
}

#[test]
fn a_ca_file_without_certificates_is_a_usage_error() {
    let (port, _) = tls_misp();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("empty.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    let (code, _, err) = check(port, &["--ca-cert", ca.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("empty.pem"), "{err}");
}
