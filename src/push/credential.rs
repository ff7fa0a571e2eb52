//! How the application proves who it is to Entra ID
//! (docs/design.md#entra-id-tokens): a client secret, a certificate (a signed
//! JWT client assertion) or a workload-identity token file, found the way the
//! Azure SDK finds them. No secret ever reaches a message, a log or a `Debug`
//! output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine;

use crate::error::{Error, Result};

/// How the application proves who it is.
pub enum Credential {
    /// The client secret value.
    Secret(String),
    /// A certificate and its RSA key: the JWT assertion is signed per request.
    Certificate(Box<CertCredential>),
    /// A federated token (workload identity), re-read from the file each time.
    Federated(PathBuf),
}

pub struct CertCredential {
    key: jsonwebtoken::EncodingKey,
    /// base64url SHA-1 thumbprint of the certificate (the JWT `x5t` header).
    x5t: String,
    /// The certificate chain (standard base64 DER), sent as `x5c` when asked for.
    x5c: Option<Vec<String>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate(c) => write!(f, "Certificate(x5t={})", c.x5t),
            Credential::Federated(p) => write!(f, "Federated({})", p.display()),
        }
    }
}

impl Credential {
    /// The credential the environment names, in the Azure SDK's order:
    /// `--client-secret-file`, `AZURE_CLIENT_SECRET`, `AZURE_CLIENT_CERTIFICATE_PATH`,
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub fn from_env(secret_file: Option<&Path>) -> Result<Self> {
        if let Some(path) = secret_file {
            let s = crate::cli::args::read_secret_file(path)?;
            if s.is_empty() {
                return Err(Error::usage(format!(
                    "{}: the file is empty",
                    path.display()
                )));
            }
            return Ok(Credential::Secret(s));
        }
        if let Some(s) = env_nonempty("AZURE_CLIENT_SECRET") {
            return Ok(Credential::Secret(s));
        }
        if let Some(p) = env_nonempty("AZURE_CLIENT_CERTIFICATE_PATH") {
            let chain = env_nonempty("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN")
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
            return Ok(Credential::Certificate(Box::new(CertCredential::load(
                Path::new(&p),
                chain,
            )?)));
        }
        if let Some(p) = env_nonempty("AZURE_FEDERATED_TOKEN_FILE") {
            return Ok(Credential::Federated(PathBuf::from(p)));
        }
        Err(Error::usage(
            "no credentials: set AZURE_CLIENT_SECRET, or --client-secret-file FILE, or \
             AZURE_CLIENT_CERTIFICATE_PATH (PEM with certificate and key), or \
             AZURE_FEDERATED_TOKEN_FILE (workload identity)",
        ))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl CertCredential {
    /// Reads a PEM file holding the certificate (first one = the app's) and its RSA key.
    pub fn load(path: &Path, send_chain: bool) -> Result<Self> {
        let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |what: &str| {
            Error::usage(format!(
                "{}: {what} (AZURE_CLIENT_CERTIFICATE_PATH wants a PEM file with the \
                 certificate and its unencrypted RSA private key; PFX is not supported)",
                path.display()
            ))
        };
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                certs.push(c.der().to_vec());
            }
        }
        let first = certs.first().ok_or_else(|| bad("no certificate found"))?;
        let key_pem = private_key_block(&pem).ok_or_else(|| bad("no private key found"))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes())
            .map_err(|_| bad("the private key is not a readable RSA key"))?;
        let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha1_smol::Sha1::from(first).digest().bytes());
        let x5c = send_chain.then(|| {
            certs
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
                .collect()
        });
        Ok(CertCredential { key, x5t, x5c })
    }

    /// A client assertion for `token_url` (docs/design.md#entra-id-tokens), valid for ten minutes.
    pub(super) fn assertion(&self, client_id: &str, token_url: &str) -> Result<String> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = serde_json::json!({
            "aud": token_url, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "nbf": now, "exp": now + 600,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.x5t = Some(self.x5t.clone());
        header.x5c = self.x5c.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| Error::Auth(format!("cannot sign the client assertion: {e}")))
    }
}

/// The text of the first `-----BEGIN … PRIVATE KEY-----` block of a PEM file.
fn private_key_block(pem: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN ")?;
    let mut at = start;
    loop {
        let rest = &text[at..];
        let line_end = rest.find('\n').unwrap_or(rest.len());
        let line = rest[..line_end].trim();
        if line.starts_with("-----BEGIN ") && line.ends_with("PRIVATE KEY-----") {
            let label = &line["-----BEGIN ".len()..line.len() - 5];
            let end_marker = format!("-----END {label}-----");
            let end = rest.find(&end_marker)? + end_marker.len();
            return Some(rest[..end].to_string());
        }
        let next = rest[1..].find("-----BEGIN ")?;
        at += next + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn secrets_never_show_in_debug() {
        let c = Credential::Secret("s3cr3t-value".into());
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn key_block_is_found_after_the_certificate() {
        let pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            private_key_block(pem).unwrap(),
            "-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----"
        );
        assert!(private_key_block(b"-----BEGIN CERTIFICATE-----\n").is_none());
    }

    #[test]
    fn certificate_assertion_names_the_thumbprint_and_the_token_url() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/graph-push/test-client-cert.pem"
        );
        let cert = CertCredential::load(Path::new(path), false).unwrap();
        // base64url(SHA-1(DER)), as `openssl x509 -outform DER | openssl dgst -sha1` gives.
        assert_eq!(cert.x5t, "hHveM_28Ap0jPjxm1PzxMvkdwxQ");
        let jwt = cert
            .assertion("client-1", "https://login.example/t/oauth2/v2.0/token")
            .unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.x5t.as_deref(), Some("hHveM_28Ap0jPjxm1PzxMvkdwxQ"));
        let payload = jwt.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], "https://login.example/t/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
    }
}
