//! The emulator's Entra ID client assertions (docs/design.md#entra-id-tokens): structure
//! and claims, RS256 (PKCS#1 v1.5) and PS256 (PSS) signatures, and the `x5t` (SHA-1) and
//! `x5t#S256` (SHA-256) thumbprints, both of which Entra accepts.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::ms_emulator_selftest::{token_request, Reply};
use crate::support::emulator::ms::*;

/// The key and certificate the emulator's app has registered.
const REGISTERED: &str = include_str!("../fixtures/ms-emulator/test-client.pem");
/// Another app's key and certificate.
const OTHER: &str = include_str!("../fixtures/graph-push/test-client-cert.pem");

/// An assertion with a placeholder signature.
fn jwt(header: Value, claims: Value) -> String {
    let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", e(&header), e(&claims))
}

#[test]
fn client_assertion_is_checked() {
    let emu = MsEmulator::start(Config {
        federated: Some(("https://issuer.example".into(), "system:sa".into())),
        ..Config::default()
    });
    let now = chrono::Utc::now().timestamp();
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": "aGFzaA"});
    let claims = json!({"aud": emu.token_url(), "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": "1", "nbf": now, "exp": now + 600});
    let send = |assertion: &str| send_assertion(&emu, assertion);
    assert_eq!(send(&jwt(header.clone(), claims.clone())).status, 200);
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        jwt(header.clone(), c)
    };
    for (bad, code) in [
        (
            with(
                "aud",
                json!("https://login.microsoftonline.com/x/oauth2/v2.0/token"),
            ),
            700016,
        ),
        (with("iss", json!("other")), 700021),
        (with("exp", json!(now - 10)), 700024),
        (jwt(json!({"alg": "none"}), claims.clone()), 50027),
        ("not.a-jwt".to_string(), 50027),
    ] {
        let r = send(&bad);
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.json()["error_codes"], json!([code]), "{bad}");
    }
    let federated = json!({"aud": "api://AzureADTokenExchange", "iss": "https://issuer.example", "sub": "system:sa", "exp": now + 600});
    assert_eq!(
        send(&jwt(json!({"alg": "RS256"}), federated.clone())).status,
        200
    );
    let mut stranger = federated;
    stranger["sub"] = json!("system:other");
    assert_eq!(send(&jwt(json!({"alg": "RS256"}), stranger)).status, 400);
}

/// The RSA signature scheme of a test assertion: what `alg` names, or not.
#[derive(Clone, Copy)]
enum Pad {
    Pkcs1,
    Pss,
}

/// Signs with the registered key, as a certificate credential does.
fn signed(pad: Pad, header: Value, claims: Value) -> String {
    signed_by(REGISTERED, pad, header, claims)
}

/// Signs with the private key of `pem` (SHA-256, PSS salt as long as the hash).
fn signed_by(pem: &str, pad: Pad, header: Value, claims: Value) -> String {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
    use rsa::{pkcs1v15, pss, sha2::Sha256};
    let key =
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem[pem.find("-----BEGIN PRIVATE KEY").unwrap()..])
            .unwrap();
    let unsigned = jwt(header, claims);
    let msg = &unsigned[..unsigned.rfind('.').unwrap()];
    let sig = match pad {
        Pad::Pkcs1 => pkcs1v15::SigningKey::<Sha256>::new(key)
            .sign(msg.as_bytes())
            .to_vec(),
        Pad::Pss => pss::SigningKey::<Sha256>::new(key)
            .sign_with_rng(&mut rsa::rand_core::OsRng, msg.as_bytes())
            .to_vec(),
    };
    format!(
        "{msg}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    )
}

/// A token request carrying `assertion`.
fn send_assertion(emu: &MsEmulator, assertion: &str) -> Reply {
    token_request(
        emu,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("scope", GRAPH_SCOPE),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ],
    )
}

/// `signed` with the payload of `other`: a signature that no longer fits.
fn with_payload_of(signed: &str, other: &str) -> String {
    let parts: Vec<&str> = signed.split('.').collect();
    let payload = other.split('.').nth(1).unwrap();
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// An emulator whose app has the `REGISTERED` certificate, and its
/// thumbprints (`x5t`, `x5t#S256`).
fn registered_emulator() -> (MsEmulator, (String, String)) {
    let emu = MsEmulator::start(Config {
        client_certificate_pem: Some(REGISTERED.into()),
        ..Config::default()
    });
    (
        emu,
        thumbprints(&client_key(REGISTERED).unwrap().1.unwrap()),
    )
}

/// Sends `assertion`, which must be refused as Entra refuses a bad
/// certificate assertion (400, `invalid_client`, 700027); gives back the
/// description. `why` names the case in a failure.
fn refused(emu: &MsEmulator, assertion: &str, why: &str) -> String {
    let r = send_assertion(emu, assertion);
    assert_eq!(r.status, 400, "{why}: {}", r.body);
    assert_eq!(r.json()["error"], "invalid_client", "{why}");
    assert_eq!(r.json()["error_codes"], json!([700027]), "{why}");
    r.json()["error_description"].as_str().unwrap().to_string()
}

/// Claims for this emulator, each call with a new `jti`.
fn fresh_claims(emu: &MsEmulator) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"aud": emu.token_url(), "iss": CLIENT_ID, "sub": CLIENT_ID,
           "jti": uuid::Uuid::new_v4().to_string(), "exp": now + 600})
}

/// RS256 is PKCS#1 v1.5, with either thumbprint; unsigned, changed and replayed
/// assertions fail.
#[test]
fn client_assertion_signature_and_thumbprint() {
    let (emu, (x5t, x5t_s256)) = registered_emulator();
    let send = |assertion: &str| send_assertion(&emu, assertion);
    let rs256 = |header: Value| signed(Pad::Pkcs1, header, fresh_claims(&emu));
    let r = send(&rs256(json!({"alg": "RS256", "x5t#S256": x5t_s256})));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        send(&rs256(json!({"alg": "RS256", "x5t": x5t}))).status,
        200
    );
    refused(
        &emu,
        &rs256(json!({"alg": "RS256", "x5t": "AAAA"})),
        "a wrong x5t",
    );
    let unsigned = jwt(json!({"alg": "RS256", "x5t": x5t}), fresh_claims(&emu));
    refused(&emu, &unsigned, "unsigned");
    let tampered = with_payload_of(
        &rs256(json!({"alg": "RS256", "x5t": x5t})),
        &jwt(json!({}), fresh_claims(&emu)),
    );
    refused(&emu, &tampered, "payload changed after signing");
    // The same good assertion twice: the second is a replay.
    let once = rs256(json!({"alg": "RS256", "x5t": x5t}));
    assert_eq!(send(&once).status, 200);
    let replay = send(&once);
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("replay"), "{}", replay.body);
}

/// PS256 is RSASSA-PSS: a PSS signature by the registered key passes, PKCS#1 v1.5
/// under PS256 (or PSS under RS256), another key or a changed payload fail; every
/// thumbprint in the header must be the registered certificate's.
#[test]
fn ps256_assertions_are_verified_as_pss() {
    let (emu, (x5t, s256)) = registered_emulator();
    let (_, other_s256) = thumbprints(&client_key(OTHER).unwrap().1.unwrap());
    let ps256 = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": s256});
    let good = send_assertion(&emu, &signed(Pad::Pss, ps256.clone(), fresh_claims(&emu)));
    assert_eq!(good.status, 200, "{}", good.body);
    let sha1 = json!({"alg": "PS256", "typ": "JWT", "x5t": x5t});
    let r = send_assertion(&emu, &signed(Pad::Pss, sha1.clone(), fresh_claims(&emu)));
    assert_eq!(r.status, 200, "PS256 with x5t: {}", r.body);
    assert_eq!(emu.assertion_headers(), [ps256.clone(), sha1]);

    let bad_signature = [
        (
            signed(Pad::Pkcs1, ps256.clone(), fresh_claims(&emu)),
            "PKCS#1 v1.5 under PS256",
        ),
        (
            signed(
                Pad::Pss,
                json!({"alg": "RS256", "x5t#S256": s256}),
                fresh_claims(&emu),
            ),
            "PSS under RS256",
        ),
        (
            signed_by(OTHER, Pad::Pss, ps256.clone(), fresh_claims(&emu)),
            "another key",
        ),
        (
            with_payload_of(
                &signed(Pad::Pss, ps256.clone(), fresh_claims(&emu)),
                &jwt(json!({}), fresh_claims(&emu)),
            ),
            "payload changed after signing",
        ),
    ];
    for (assertion, why) in bad_signature {
        let text = refused(&emu, &assertion, why);
        assert!(text.contains("signature validation"), "{why}: {text}");
    }
    let unregistered = [
        (
            json!({"alg": "PS256", "x5t#S256": other_s256}),
            "another certificate",
        ),
        (
            json!({"alg": "PS256", "x5t#S256": x5t}),
            "the SHA-1 thumbprint in x5t#S256",
        ),
        (
            json!({"alg": "PS256", "x5t": x5t, "x5t#S256": other_s256}),
            "a right x5t beside a wrong x5t#S256",
        ),
        (
            json!({"alg": "PS256", "x5t": "AAAA", "x5t#S256": s256}),
            "a wrong x5t beside a right x5t#S256",
        ),
    ];
    for (header, why) in unregistered {
        let text = refused(&emu, &signed(Pad::Pss, header, fresh_claims(&emu)), why);
        assert!(text.contains("not registered"), "{why}: {text}");
    }
    assert_eq!(
        emu.assertion_headers().len(),
        2,
        "refused ones are not kept"
    );
}
