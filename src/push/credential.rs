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
    /// base64url SHA-256 thumbprint of the certificate (the JWT `x5t#S256` header).
    x5t_s256: String,
    /// The certificate chain (standard base64 DER), sent as `x5c` when asked for.
    x5c: Option<Vec<String>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(<redacted>)"),
            Credential::Certificate(c) => write!(f, "Certificate({c:?})"),
            Credential::Federated(p) => write!(f, "Federated({})", p.display()),
        }
    }
}

impl fmt::Debug for CertCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertCredential(x5t#S256={})", self.x5t_s256)
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
            // As the Azure SDKs read it: set but empty is no password.
            let password = std::env::var("AZURE_CLIENT_CERTIFICATE_PASSWORD")
                .ok()
                .filter(|v| !v.is_empty());
            return Ok(Credential::Certificate(Box::new(CertCredential::load(
                Path::new(&p),
                password.as_deref(),
                chain,
            )?)));
        }
        if let Some(p) = env_nonempty("AZURE_FEDERATED_TOKEN_FILE") {
            return Ok(Credential::Federated(PathBuf::from(p)));
        }
        Err(Error::usage(
            "no credentials: set AZURE_CLIENT_SECRET, or --client-secret-file FILE, or \
             AZURE_CLIENT_CERTIFICATE_PATH (PEM with certificate and key, or a PKCS#12 .pfx \
             file with AZURE_CLIENT_CERTIFICATE_PASSWORD), or \
             AZURE_FEDERATED_TOKEN_FILE (workload identity)",
        ))
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl CertCredential {
    /// Reads `AZURE_CLIENT_CERTIFICATE_PATH` (docs/design.md#entra-id-tokens): a PEM file
    /// with the certificate and its unencrypted RSA key, or a PKCS#12 file (`.pfx`,
    /// `.p12`; binary, or base64 as a Key Vault secret holds it) opened with `password`
    /// (`AZURE_CLIENT_CERTIFICATE_PASSWORD`). The content decides, not the file name.
    pub fn load(path: &Path, password: Option<&str>, send_chain: bool) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let (key, certs) = match sniff(&bytes) {
            Format::Pem => from_pem(path, &bytes)?,
            Format::Pkcs12(der) => from_pkcs12(path, &der, password)?,
            Format::Unknown => {
                return Err(Error::usage(format!(
                    "{}: neither a PEM file nor a PKCS#12 (.pfx/.p12) file \
                     (AZURE_CLIENT_CERTIFICATE_PATH)",
                    path.display()
                )))
            }
        };
        let x5t_s256 = thumbprint_s256(&certs[0]);
        let x5c = send_chain.then(|| {
            certs
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
                .collect()
        });
        Ok(CertCredential { key, x5t_s256, x5c })
    }

    /// A client assertion for `token_url` (docs/design.md#entra-id-tokens), valid for ten
    /// minutes: PS256 with the `x5t#S256` thumbprint, as Microsoft's current
    /// certificate-credentials page asks (no SHA-1 `x5t`: the page no longer lists it).
    pub(super) fn assertion(&self, client_id: &str, token_url: &str) -> Result<String> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = serde_json::json!({
            "aud": token_url, "iss": client_id, "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "nbf": now, "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::PS256);
        header.x5t_s256 = Some(self.x5t_s256.clone());
        header.x5c = self.x5c.clone();
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| Error::Auth(format!("cannot sign the client assertion: {e}")))
    }
}

/// base64url SHA-256 of a certificate's DER: its `x5t#S256`.
fn thumbprint_s256(der: &[u8]) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

/// How long a client assertion is valid: one token request, with room for clock skew.
const ASSERTION_LIFETIME_SECS: u64 = 600;

/// What a certificate file holds, told by its content.
enum Format {
    Pem,
    /// The DER of a PKCS#12 file (decoded when the file held it as base64).
    Pkcs12(Vec<u8>),
    Unknown,
}

fn sniff(bytes: &[u8]) -> Format {
    // A PKCS#12 PFX is one DER SEQUENCE that fills the file (or, written by
    // some older tools, a BER one of indefinite length).
    if der_sequence(bytes) {
        return Format::Pkcs12(bytes.to_vec());
    }
    if memchr::memmem::find(bytes, b"-----BEGIN ").is_some() {
        return Format::Pem;
    }
    // Key Vault hands a certificate's secret value out as base64 of the PFX
    // (`az keyvault secret download` without `--encoding base64`).
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    match base64::engine::general_purpose::STANDARD.decode(&text) {
        Ok(der) if der_sequence(&der) => Format::Pkcs12(der),
        _ => Format::Unknown,
    }
}

/// Whether `bytes` are one ASN.1 SEQUENCE: tag 0x30, then a length that ends
/// exactly at the end of `bytes`, or the indefinite length.
fn der_sequence(bytes: &[u8]) -> bool {
    let (Some(&0x30), Some(&first)) = (bytes.first(), bytes.get(1)) else {
        return false;
    };
    let (len, header) = match first {
        0x80 => return true,
        n if n < 0x80 => (usize::from(n), 2),
        n => {
            let count = usize::from(n & 0x7f);
            if count > 4 || bytes.len() < 2 + count {
                return false;
            }
            let len = bytes[2..2 + count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, 2 + count)
        }
    };
    header + len == bytes.len()
}

/// The key and the certificates (the app's first) of a PEM file.
fn from_pem(path: &Path, pem: &[u8]) -> Result<(jsonwebtoken::EncodingKey, Vec<Vec<u8>>)> {
    let bad = |what: &str| {
        Error::usage(format!(
            "{}: {what} (a PEM file for AZURE_CLIENT_CERTIFICATE_PATH holds the certificate \
             and its unencrypted RSA private key)",
            path.display()
        ))
    };
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
            certs.push(c.der().to_vec());
        }
    }
    if certs.is_empty() {
        return Err(bad("no certificate found"));
    }
    let key_pem = private_key_block(pem).ok_or_else(|| bad("no private key found"))?;
    if key_pem.starts_with("-----BEGIN ENCRYPTED") || key_pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(bad(
            "the private key is encrypted; use the PKCS#12 (.pfx) file with \
             AZURE_CLIENT_CERTIFICATE_PASSWORD, or decrypt the key",
        ));
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(key_pem.as_bytes())
        .map_err(|_| bad("the private key is not a readable RSA key"))?;
    Ok((key, certs))
}

const RSA_OID: &str = "1.2.840.113549.1.1.1";

/// The key and the certificates (the key's own first, then the rest of the
/// chain) of a PKCS#12 file.
fn from_pkcs12(
    path: &Path,
    der: &[u8],
    password: Option<&str>,
) -> Result<(jsonwebtoken::EncodingKey, Vec<Vec<u8>>)> {
    let name = path.display();
    let usage = |what: String| Error::usage(format!("{name}: {what}"));
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(der, password.unwrap_or(""))
        .map_err(|e| pkcs12_error(path, &e, password.is_some()))?;
    if archive.keys.is_empty() {
        return Err(usage(
            "the PKCS#12 file holds no private key (export the certificate with its private key)"
                .into(),
        ));
    }
    let same_id = |a: &Option<p12_keystore::LocalKeyId>, b: &Option<Vec<u8>>| matches!((a, b), (Some(a), Some(b)) if a.0 == *b);
    let rsa: Vec<_> = archive
        .keys
        .iter()
        .filter(|k| k.key.oid().to_string() == RSA_OID)
        .collect();
    // The key the certificate bags name (localKeyId), else the only one.
    let key = rsa
        .iter()
        .find(|k| {
            archive
                .certs
                .iter()
                .any(|c| same_id(&k.local_key_id, &c.local_key_id))
        })
        .or(rsa.first())
        .ok_or_else(|| {
            usage(
                "the private key is not an RSA key (Entra ID signs certificate credentials \
                 with RSA keys)"
                    .into(),
            )
        })?;
    let certs: Vec<&p12_keystore::Certificate> = archive.certs.iter().map(|c| &c.cert).collect();
    let leaf = archive
        .certs
        .iter()
        .find(|c| same_id(&key.local_key_id, &c.local_key_id))
        .map(|c| &c.cert)
        .or_else(|| {
            // No localKeyId: the one certificate that issued none of the others.
            let leaves: Vec<_> = certs
                .iter()
                .filter(|c| {
                    !certs
                        .iter()
                        .any(|o| o.issuer() == c.subject() && o.subject() != c.subject())
                })
                .collect();
            (leaves.len() == 1).then(|| *leaves[0])
        })
        .ok_or_else(|| {
            usage(if certs.is_empty() {
                "the PKCS#12 file holds no certificate".to_string()
            } else {
                "cannot tell which certificate belongs to the private key (no localKeyId)"
                    .to_string()
            })
        })?;
    let mut chain = vec![leaf.as_der().to_vec()];
    for c in certs {
        if !chain.iter().any(|d| d.as_slice() == c.as_der()) {
            chain.push(c.as_der().to_vec());
        }
    }
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pkcs8_pem(key.key.as_der()).as_bytes())
        .map_err(|_| usage("the private key is not a readable RSA key".into()))?;
    Ok((key, chain))
}

/// A PKCS#8 DER key as PEM text, the form `jsonwebtoken` reads.
fn pkcs8_pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    pem.push_str("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// Why a PKCS#12 file did not open. A password that does not open it is a wrong
/// secret (exit 4, like a wrong client secret); no password where one is needed
/// is a missing setting (exit 2). The password itself is never shown.
fn pkcs12_error(path: &Path, e: &p12_keystore::error::Error, password_given: bool) -> Error {
    use p12_keystore::error::Error as P;
    let name = path.display();
    match e {
        P::MacError(_) | P::Pkcs5Error(_) | P::UnpadError if password_given => {
            Error::Auth(format!(
                "{name}: the password in AZURE_CLIENT_CERTIFICATE_PASSWORD does not open this \
             PKCS#12 file (wrong password)"
            ))
        }
        P::MacError(_) | P::Pkcs5Error(_) | P::UnpadError => Error::usage(format!(
            "{name}: the PKCS#12 file is protected by a password: set \
             AZURE_CLIENT_CERTIFICATE_PASSWORD"
        )),
        P::UnsupportedEncryptionScheme | P::UnsupportedMacAlgorithm => Error::usage(format!(
            "{name}: the PKCS#12 file is protected by a scheme this tool does not read \
             (MD5-based or unknown); export it again, e.g. `openssl pkcs12 -export` \
             (AES-256 with PBKDF2)"
        )),
        P::InvalidParameters => Error::usage(format!(
            "{name}: the PKCS#12 file asks for an unreasonable key derivation (more than \
             1,000,000 iterations); export it again"
        )),
        other => Error::usage(format!("{name}: not a readable PKCS#12 file: {other}")),
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
        // A certificate shows its public thumbprint only, never its key.
        let cert = CertCredential::load(Path::new(FIXTURE), None, true).unwrap();
        assert_eq!(
            format!("{:?}", Credential::Certificate(Box::new(cert))),
            "Certificate(CertCredential(x5t#S256=uUMJQbjhXpSLZcCZUbmjj1QgONaqd6PwdRJMr1mstXE))"
        );
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
        let cert = CertCredential::load(Path::new(FIXTURE), None, false).unwrap();
        // base64url(SHA-256(DER)), as `openssl x509 -outform DER | openssl dgst -sha256` gives.
        let s256 = "uUMJQbjhXpSLZcCZUbmjj1QgONaqd6PwdRJMr1mstXE";
        assert_eq!(cert.x5t_s256, s256);
        let jwt = cert
            .assertion("client-1", "https://login.example/t/oauth2/v2.0/token")
            .unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        // The current certificate-credentials page: PS256 and x5t#S256 only.
        assert_eq!(header.alg, jsonwebtoken::Algorithm::PS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(header.x5t_s256.as_deref(), Some(s256));
        assert_eq!(header.x5t, None, "no SHA-1 thumbprint");
        assert_eq!(header.x5c, None, "x5c only when asked for");
        assert_ps256_signed(&jwt);
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
        // Short-lived, and never the same jti twice.
        let exp = claims["exp"].as_u64().unwrap();
        assert_eq!(exp - claims["nbf"].as_u64().unwrap(), 600);
        let again = claims_of(&cert.assertion("client-1", "u").unwrap());
        assert_ne!(again["jti"], claims["jti"]);
        assert!(!claims["jti"].as_str().unwrap().is_empty());
    }

    /// The signature verifies as RSASSA-PSS SHA-256 with the fixture's public key.
    fn assert_ps256_signed(jwt: &str) {
        let pem = std::fs::read_to_string(FIXTURE).unwrap();
        let key = rcgen::KeyPair::from_pem(&private_key_block(pem.as_bytes()).unwrap()).unwrap();
        let public =
            jsonwebtoken::DecodingKey::from_rsa_pem(key.public_key_pem().as_bytes()).unwrap();
        let mut check = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS256);
        check.validate_aud = false;
        jsonwebtoken::decode::<Value>(jwt, &public, &check).expect("a PS256 signature");
    }

    fn claims_of(jwt: &str) -> Value {
        let payload = jwt.split('.').nth(1).unwrap();
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    }

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/graph-push/test-client-cert.pem"
    );

    /// The fixture's PKCS#8 key (DER) and a certificate for it made here,
    /// issued by a CA made here too: (key, leaf DER, CA DER).
    fn key_and_chain() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let pem = std::fs::read_to_string(FIXTURE).unwrap();
        let key_pem = private_key_block(pem.as_bytes()).unwrap();
        let key = rcgen::KeyPair::from_pem(&key_pem).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "credential test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "credential test app");
        let leaf = params.signed_by(&key, &ca).unwrap();
        (key.serialize_der(), leaf.der().to_vec(), ca.der().to_vec())
    }

    fn pfx(key: &[u8], certs: &[&[u8]], password: &str, legacy: bool) -> Vec<u8> {
        let chain = p12_keystore::PrivateKeyChain::new(
            vec![7u8; 20],
            p12_keystore::PrivateKey::from_der(key).unwrap(),
            certs
                .iter()
                .map(|c| p12_keystore::Certificate::from_der(c).unwrap()),
        );
        let mut store = p12_keystore::KeyStore::new();
        store.add_entry("app", p12_keystore::KeyStoreEntry::PrivateKeyChain(chain));
        let writer = store.writer(password);
        let writer = if legacy {
            writer
                .encryption_algorithm(
                    p12_keystore::EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
                )
                .mac_algorithm(p12_keystore::MacAlgorithm::HmacSha1)
        } else {
            writer
        };
        writer.write().unwrap()
    }

    #[test]
    fn pkcs12_files_are_read_by_content_with_their_chain() {
        let (key, leaf, ca) = key_and_chain();
        let dir = tempfile::tempdir().unwrap();
        for (name, legacy) in [("modern.bin", false), ("legacy-3des.pfx", true)] {
            let path = dir.path().join(name);
            std::fs::write(&path, pfx(&key, &[&leaf, &ca], "pw ü", legacy)).unwrap();
            let cert = CertCredential::load(&path, Some("pw ü"), true).unwrap();
            assert_eq!(cert.x5t_s256, thumbprint_s256(&leaf), "{name}");
            let std = base64::engine::general_purpose::STANDARD;
            assert_eq!(
                cert.x5c.as_deref().unwrap(),
                [std.encode(&leaf), std.encode(&ca)],
                "{name}: the app's certificate first, then its issuer"
            );
            let jwt = cert.assertion("c", "u").unwrap();
            assert_ps256_signed(&jwt);
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(header.alg, jsonwebtoken::Algorithm::PS256, "{name}");
            assert_eq!(
                header.x5t_s256.as_deref(),
                Some(thumbprint_s256(&leaf).as_str())
            );
            assert_eq!(header.x5t, None, "{name}");
        }
        // Base64 of the PFX, as a Key Vault secret value holds it.
        let path = dir.path().join("kv-secret.txt");
        let b64 = base64::engine::general_purpose::STANDARD.encode(pfx(&key, &[&leaf], "", false));
        std::fs::write(&path, format!("{b64}\n")).unwrap();
        let cert = CertCredential::load(&path, None, false).unwrap();
        assert_eq!(cert.x5t_s256, thumbprint_s256(&leaf));
        // The PEM beside it: the same thumbprint from the same certificate.
        let pem_path = dir.path().join("app.pfx");
        let cert_pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n{}",
            base64::engine::general_purpose::STANDARD.encode(&leaf),
            pkcs8_pem(&key)
        );
        std::fs::write(&pem_path, cert_pem).unwrap();
        let cert = CertCredential::load(&pem_path, Some("ignored"), false).unwrap();
        assert_eq!(
            cert.x5t_s256,
            thumbprint_s256(&leaf),
            "a PEM file named .pfx is still PEM"
        );
    }

    #[test]
    fn files_are_told_by_content() {
        let (key, leaf, _) = key_and_chain();
        let der = pfx(&key, &[&leaf], "", false);
        assert!(matches!(sniff(&der), Format::Pkcs12(_)));
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert!(matches!(sniff(format!("{b64}\r\n").as_bytes()), Format::Pkcs12(d) if d == der));
        let pem = std::fs::read(FIXTURE).unwrap();
        assert!(matches!(sniff(&pem), Format::Pem));
        let mut bag_attributes = b"Bag Attributes\n    localKeyId: 01\n".to_vec();
        bag_attributes.extend_from_slice(&pem);
        assert!(
            matches!(sniff(&bag_attributes), Format::Pem),
            "openssl -nodes output"
        );
        assert!(matches!(sniff(b"0 is not a sequence"), Format::Unknown));
        assert!(
            matches!(sniff(&der[..der.len() - 1]), Format::Unknown),
            "cut short"
        );
    }

    #[test]
    fn pkcs12_password_errors_name_the_file_never_the_password() {
        let (key, leaf, _) = key_and_chain();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pfx");
        std::fs::write(&path, pfx(&key, &[&leaf], "right-Pa55", false)).unwrap();
        let wrong = CertCredential::load(&path, Some("wrong-Pa55"), false).unwrap_err();
        assert_eq!(wrong.exit_code(), 4, "{wrong}");
        let msg = wrong.to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("wrong password"), "{msg}");
        assert!(!msg.contains("Pa55"), "{msg}");
        let missing = CertCredential::load(&path, None, false).unwrap_err();
        assert_eq!(missing.exit_code(), 2, "{missing}");
        assert!(missing
            .to_string()
            .contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"));
        std::fs::write(&path, b"\x00\x01 not a certificate").unwrap();
        let neither = CertCredential::load(&path, None, false).unwrap_err();
        assert_eq!(neither.exit_code(), 2);
        assert!(neither
            .to_string()
            .contains("neither a PEM file nor a PKCS#12"));
    }
}
