//! Entra ID's client-credentials token endpoint (docs/design.md#entra-id-tokens).

use std::collections::HashMap;

use base64::Engine as _;
use chrono::Utc;
use serde_json::{json, Value};

use super::super::http::{Request, Response};
use super::config::*;
use super::emulator::*;
use super::pipeline::*;

pub(super) fn aad_error(status: u16, error: &str, code: u32, desc: &str) -> Response {
    let (trace, corr) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let ts = Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
    Response::json(
        status,
        json!({
        "error": error,
        "error_description": format!("AADSTS{code}: {desc} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"),
        "error_codes": [code], "timestamp": ts, "trace_id": trace, "correlation_id": corr,
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}")}),
    )
}

pub(super) fn token(st: &mut State, req: &Request, ctx: &mut Ctx) -> Response {
    let tenant = req
        .path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("")
        .to_string();
    if req.method != "POST" {
        return aad_error(
            400,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    if !tenant.eq_ignore_ascii_case(&st.cfg.tenant) {
        return aad_error(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."));
    }
    let form: HashMap<String, String> = form_urlencoded::parse(&req.body).into_owned().collect();
    let mut client_id = form.get("client_id").cloned();
    let mut secret = form.get("client_secret").cloned();
    if let Some((id, s)) = basic_credentials(req) {
        client_id.get_or_insert(id);
        secret.get_or_insert(s);
    }
    match form.get("grant_type").map(String::as_str) {
        None => {
            return aad_error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
        Some("client_credentials") => {}
        Some(g) => {
            return aad_error(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{g}'."),
            )
        }
    }
    let Some(client_id) = client_id else {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    ctx.client_id = Some(client_id.clone());
    let Some(known_secret) = st
        .cfg
        .clients
        .iter()
        .find(|(id, _)| *id == client_id)
        .map(|(_, s)| s.clone())
    else {
        return aad_error(400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."));
    };
    let bad_client = st.cfg.invalid_client_status;
    if let Some(assertion) = form.get("client_assertion") {
        if form.get("client_assertion_type").map(String::as_str) != Some(ASSERTION_TYPE) {
            return aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type; expected urn:ietf:params:oauth:client-assertion-type:jwt-bearer.");
        }
        let host = req.header("host").unwrap_or("");
        let token_url = format!("http://{host}/{tenant}/oauth2/v2.0/token");
        match check_assertion(assertion, &client_id, &token_url, &st.cfg, &mut st.seen_jti) {
            Ok(header) => st.assertion_headers.push(header),
            Err((code, msg)) => return aad_error(bad_client, "invalid_client", code, &msg),
        }
    } else {
        match secret {
            None => return aad_error(bad_client, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."),
            Some(s) if s != known_secret => return aad_error(bad_client, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app."),
            Some(_) => {}
        }
    }
    let scope = form
        .get("scope")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if scope.is_empty() || scope.contains(' ') {
        return aad_error(400, "invalid_scope", 70011, &format!("The provided request must include a single 'scope' input parameter; got '{scope}'."));
    }
    let Some(resource) = scope.strip_suffix("/.default") else {
        return aad_error(400, "invalid_scope", 1002012, &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."));
    };
    let audience = resource.trim_end_matches('/');
    if !KNOWN_RESOURCES.contains(&audience) {
        return aad_error(400, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {tenant}."));
    }
    let lifetime = st.cfg.token_lifetime;
    let access_token = issue(st, &client_id, audience, lifetime);
    let secs = lifetime.as_secs();
    Response::json(200, json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": access_token}))
        .with("Cache-Control", "no-store, no-cache")
}

pub(super) fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let (scheme, b64) = req.header("authorization")?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// Checks a client assertion JWT's structure and claims (a `jti` not seen
/// before), and its signature and thumbprint when a client certificate is
/// configured (`Config::client_certificate_pem`). Gives back its header.
pub(super) fn check_assertion(
    jwt: &str,
    client_id: &str,
    token_url: &str,
    cfg: &Config,
    seen_jti: &mut std::collections::HashSet<String>,
) -> Result<Value, (u32, String)> {
    let federated = cfg.federated.as_ref();
    let malformed = |why: &str| (50027, format!("JWT token is invalid or malformed: {why}."));
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 || parts[2].is_empty() {
        return Err(malformed(
            "expected three base64url segments with a signature",
        ));
    }
    let decode = |s: &str| -> Option<Value> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        serde_json::from_slice(&raw).ok()
    };
    let header = decode(parts[0]).ok_or_else(|| malformed("header is not base64url JSON"))?;
    let claims = decode(parts[1]).ok_or_else(|| malformed("payload is not base64url JSON"))?;
    let claim = |n: &str| claims.get(n).and_then(Value::as_str).unwrap_or("");
    let now = Utc::now().timestamp();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("no numeric exp claim"))?;
    if exp <= now
        || claims
            .get("nbf")
            .and_then(Value::as_i64)
            .is_some_and(|nbf| nbf > now + 300)
    {
        return Err((
            700024,
            "Client assertion is not within its valid time range.".into(),
        ));
    }
    if let Some((issuer, subject)) = federated.filter(|_| {
        claims
            .get("aud")
            .is_some_and(|a| aud_has(a, FEDERATED_AUDIENCE))
    }) {
        return if claim("iss") == issuer && claim("sub") == subject {
            Ok(header)
        } else {
            Err((700213, format!("No matching federated identity record found for presented assertion subject '{}'.", claim("sub"))))
        };
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !["RS256", "PS256"].contains(&alg) {
        return Err(malformed("alg must be RS256 or PS256"));
    }
    if header.get("x5t").is_none() && header.get("x5t#S256").is_none() {
        return Err(malformed("header lacks x5t or x5t#S256"));
    }
    if claim("iss") != client_id || claim("sub") != client_id {
        return Err((700021, "Client assertion application identifier doesn't match 'client_id' parameter (iss and sub must be the client id).".into()));
    }
    if !claims.get("aud").is_some_and(|a| aud_has(a, token_url)) {
        return Err((
            700016,
            format!("Client assertion audience must be the token endpoint {token_url}."),
        ));
    }
    if claim("jti").is_empty() {
        return Err(malformed("no jti claim"));
    }
    // An assertion is good for one request: a jti seen before is a replay.
    if !seen_jti.insert(claim("jti").to_string()) {
        return Err(malformed(
            "the jti was used in an earlier assertion (replay)",
        ));
    }
    if let Some(pem) = &cfg.client_certificate_pem {
        check_signature(&parts, &header, alg, pem)?;
    }
    Ok(header)
}

/// RS256 (PKCS#1 v1.5) or PS256 (PSS, salt as long as the hash) over `header.payload`
/// with the configured key, the padding `alg` names; when the PEM holds the certificate
/// too, `x5t` (SHA-1) and `x5t#S256` (SHA-256), whichever are present, must be its
/// thumbprints (Entra accepts either; what it does with a wrong one beside a right one is
/// undocumented: refused here, so that a client bug shows).
fn check_signature(
    parts: &[&str],
    header: &Value,
    alg: &str,
    pem: &str,
) -> Result<(), (u32, String)> {
    use rsa::signature::Verifier;
    let (key, cert) =
        client_key(pem).map_err(|e| (500, format!("emulator client certificate: {e}")))?;
    if let Some((x5t, x5t_s256)) = cert.as_deref().map(thumbprints) {
        let named =
            |field: &str, want: &str| header.get(field).is_none_or(|v| v.as_str() == Some(want));
        if !(named("x5t", &x5t) && named("x5t#S256", &x5t_s256)) {
            return Err((700027, "The certificate with the thumbprint in x5t/x5t#S256 is not registered on the application.".into()));
        }
    }
    let bad = || {
        (
            700027,
            "Client assertion failed signature validation.".to_string(),
        )
    };
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|_| bad())?;
    let msg = format!("{}.{}", parts[0], parts[1]);
    let ok = if alg == "RS256" {
        let sig = rsa::pkcs1v15::Signature::try_from(sig.as_slice()).map_err(|_| bad())?;
        rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(key).verify(msg.as_bytes(), &sig)
    } else {
        let sig = rsa::pss::Signature::try_from(sig.as_slice()).map_err(|_| bad())?;
        rsa::pss::VerifyingKey::<rsa::sha2::Sha256>::new(key).verify(msg.as_bytes(), &sig)
    };
    ok.map_err(|_| bad())
}

/// The RSA public key of a PEM text (public key, PKCS#8 or PKCS#1 private key) and the
/// DER of its certificate, if it holds one.
pub fn client_key(pem: &str) -> Result<(rsa::RsaPublicKey, Option<Vec<u8>>), String> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    let (mut key, mut cert) = (None, None);
    for block in pem.split("-----BEGIN ").skip(1) {
        let end = block
            .find("-----END ")
            .and_then(|i| block[i + 9..].find("-----").map(|j| i + 9 + j + 5));
        let text = format!(
            "-----BEGIN {}",
            &block[..end.ok_or("unterminated PEM block")?]
        );
        let (label, der) =
            rsa::pkcs8::der::pem::decode_vec(text.as_bytes()).map_err(|e| e.to_string())?;
        let parsed = match label {
            "CERTIFICATE" => {
                cert = Some(der);
                continue;
            }
            "PUBLIC KEY" => rsa::RsaPublicKey::from_public_key_der(&der).map_err(|e| e.to_string()),
            "RSA PUBLIC KEY" => rsa::RsaPublicKey::from_pkcs1_der(&der).map_err(|e| e.to_string()),
            "PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs8_der(&der)
                .map(|k| k.to_public_key())
                .map_err(|e| e.to_string()),
            "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map(|k| k.to_public_key())
                .map_err(|e| e.to_string()),
            _ => continue,
        };
        key = Some(parsed?);
    }
    Ok((
        key.ok_or("no RSA key in the PEM (a certificate alone is not enough)")?,
        cert,
    ))
}

/// (`x5t`, `x5t#S256`): base64url SHA-1 and SHA-256 of a certificate's DER.
pub fn thumbprints(cert_der: &[u8]) -> (String, String) {
    use rsa::sha2::Digest;
    let b64 = |d: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d);
    (
        b64(&sha1::Sha1::digest(cert_der)),
        b64(&rsa::sha2::Sha256::digest(cert_der)),
    )
}

pub(super) fn aud_has(aud: &Value, want: &str) -> bool {
    match aud {
        Value::String(s) => s == want,
        Value::Array(a) => a.iter().any(|v| v.as_str() == Some(want)),
        _ => false,
    }
}
