//! graph-push's certificate credentials as Azure users hold them: a PEM file,
//! a PKCS#12 (.pfx/.p12) file with `AZURE_CLIENT_CERTIFICATE_PASSWORD`, made
//! here and by `openssl pkcs12 -export`, each told by its content. The
//! emulator's Entra ID checks every assertion: the PS256 signature, `x5t#S256`
//! of the certificate the test made, `aud`, `iss` = `sub`, a fresh `jti`, `exp`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::support::emulator::ms::{thumbprints, Config, MsEmulator};
use crate::support::push::*;

const KEY_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/graph-push/test-client-cert.pem"
);

/// A certificate made for this test run (the fixture's RSA key, a new
/// subject, serial and validity), in the forms a user holds it.
struct Cert {
    dir: tempfile::TempDir,
    key_der: Vec<u8>,
    cert_der: Vec<u8>,
    /// Certificate and key, PEM: what the emulator registers for the app.
    pem: String,
}

impl Cert {
    fn new() -> Cert {
        let text = std::fs::read_to_string(KEY_SOURCE).unwrap();
        let start = text.find("-----BEGIN PRIVATE KEY-----").unwrap();
        let key_pem = &text[start..];
        let key = rcgen::KeyPair::from_pem(key_pem).unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("graph-push test {}", uuid::Uuid::new_v4()),
        );
        let cert = params.self_signed(&key).unwrap();
        Cert {
            dir: tempfile::tempdir().unwrap(),
            key_der: key.serialize_der(),
            cert_der: cert.der().to_vec(),
            pem: format!("{}{}", cert.pem(), key.serialize_pem()),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A PKCS#12 file written by the same crate graph-push reads it with.
    fn pfx(&self, name: &str, password: &str, legacy: bool) -> PathBuf {
        let chain = p12_keystore::PrivateKeyChain::new(
            b"graph-push test key".to_vec(),
            p12_keystore::PrivateKey::from_der(&self.key_der).unwrap(),
            [p12_keystore::Certificate::from_der(&self.cert_der).unwrap()],
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
        let path = self.path(name);
        std::fs::write(&path, writer.write().unwrap()).unwrap();
        path
    }

    /// An emulator whose app has this certificate registered.
    fn emulator(&self) -> MsEmulator {
        MsEmulator::start(Config {
            client_certificate_pem: Some(self.pem.clone()),
            ..Config::default()
        })
    }
}

/// graph-push with the certificate at `path` (and `password`, if any) as
/// its only credential.
fn push_with(emu: &MsEmulator, path: &Path, password: Option<&str>, first: usize) -> Run {
    let mut cmd = command(emu, &[]);
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_CERTIFICATE_PATH", path);
    if let Some(p) = password {
        cmd.env("AZURE_CLIENT_CERTIFICATE_PASSWORD", p);
    }
    let records: Vec<_> = (first..first + 3).map(stix).collect();
    let run = run_cmd(cmd, &ndjson(&records));
    if run.code == 0 {
        run.assert_accounted(3);
        assert_sentinel_holds(emu, &records, &run);
    }
    run
}

#[test]
fn pem_and_pfx_certificates_get_tokens_from_entra() {
    let cert = Cert::new();
    let emu = cert.emulator();
    let pem = cert.path("app-cert.pem");
    std::fs::write(&pem, &cert.pem).unwrap();
    let files: Vec<(PathBuf, Option<&str>, &str)> = vec![
        (pem, None, "PEM"),
        (
            cert.pfx("app.pfx", "s3cret pfx ü", false),
            Some("s3cret pfx ü"),
            "PFX, PBES2 AES-256",
        ),
        (
            cert.pfx("app.p12", "legacy", true),
            Some("legacy"),
            "PFX, 3DES and SHA-1 MAC",
        ),
        // Told by content, not by name.
        (
            cert.pfx("app-credential", "x", false),
            Some("x"),
            "PFX without an extension",
        ),
        (
            cert.pfx("no-password.pfx", "", false),
            None,
            "PFX without a password",
        ),
    ];
    for (i, (path, password, what)) in files.iter().enumerate() {
        let run = push_with(&emu, path, *password, i * 10);
        assert_eq!(run.code, 0, "{what}: {}", run.stderr);
        assert_eq!(run.count("accepted"), 3, "{what}");
        if let Some(p) = password {
            assert!(!run.stderr.contains(p), "{what}: password printed");
        }
    }
    // One token per run, each asked for with a signed assertion the emulator
    // checked against the certificate made above: PS256, naming that
    // certificate by its SHA-256 thumbprint whichever file held it.
    assert_eq!(emu.stats().tokens_issued, files.len() as u64);
    let (_, x5t_s256) = thumbprints(&cert.cert_der);
    let want = json!({"alg": "PS256", "typ": "JWT", "x5t#S256": x5t_s256});
    assert_eq!(emu.assertion_headers(), vec![want; files.len()]);

    // The same files against an app that has another certificate: refused.
    let other = Cert::new().emulator();
    let run = push_with(&other, &files[1].0, files[1].1, 0);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[test]
fn wrong_pfx_password_exits_4_naming_the_file_not_the_password() {
    let cert = Cert::new();
    let emu = cert.emulator();
    let pfx = cert.pfx("app.pfx", "the-right-one", false);
    let run = push_with(&emu, &pfx, Some("Wr0ng-Passw0rd"), 0);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.starts_with("graph-push: ")
            && run.stderr.contains(&pfx.display().to_string())
            && run.stderr.contains("wrong password"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("Wr0ng"), "{}", run.stderr);
    assert!(!run.stderr.contains("the-right-one"), "{}", run.stderr);
    assert_eq!(emu.stats().tokens_issued, 0);

    // No password at all where the file needs one: a missing setting.
    let run = push_with(&emu, &pfx, None, 0);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("set AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        "{}",
        run.stderr
    );
}

/// `openssl pkcs12 -export` as users run it. Without openssl on the machine the
/// test says so on stderr (shown with `--nocapture`) and checks nothing.
#[test]
fn openssl_pkcs12_export_files_are_read() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl is not installed");
        return;
    }
    let cert = Cert::new();
    let emu = cert.emulator();
    let pem = cert.path("in.pem");
    std::fs::write(&pem, &cert.pem).unwrap();
    let export = |name: &str, password: &str, extra: &[&str]| -> Option<PathBuf> {
        let out = cert.path(name);
        let done = Command::new("openssl")
            .args(["pkcs12", "-export", "-in"])
            .arg(&pem)
            .arg("-out")
            .arg(&out)
            .args(["-passout", "env:PFX_PASSWORD"])
            .args(extra)
            .env("PFX_PASSWORD", password)
            .output()
            .unwrap();
        done.status.success().then_some(out)
    };
    // OpenSSL 3's defaults: PBES2 with PBKDF2-SHA256 and AES-256-CBC, SHA-256 MAC.
    let modern = export("openssl.pfx", "openssl pw", &[]).expect("openssl pkcs12 -export");
    let run = push_with(&emu, &modern, Some("openssl pw"), 0);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The older Windows and Key Vault form: 3DES, SHA-1 MAC.
    let triple_des = export(
        "openssl-3des.p12",
        "old pw",
        &[
            "-certpbe",
            "PBE-SHA1-3DES",
            "-keypbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
    )
    .expect("3DES export");
    let run = push_with(&emu, &triple_des, Some("old pw"), 10);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // An empty password, AZURE_CLIENT_CERTIFICATE_PASSWORD unset.
    let empty = export("openssl-empty.pfx", "", &[]).expect("export, empty password");
    let run = push_with(&emu, &empty, None, 20);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // RC2-40 needs OpenSSL's legacy provider; read it where openssl can write it.
    if let Some(rc2) = export("openssl-legacy.pfx", "rc2 pw", &["-legacy"]) {
        let run = push_with(&emu, &rc2, Some("rc2 pw"), 30);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    // Every file names the certificate it was exported from.
    let (_, x5t_s256) = thumbprints(&cert.cert_der);
    let headers = emu.assertion_headers();
    assert!(headers.len() >= 3, "{headers:?}");
    assert!(headers
        .iter()
        .all(|h| h["x5t#S256"] == x5t_s256 && h["alg"] == "PS256"));
    // The wrong password for openssl's file, too.
    let run = push_with(&emu, &modern, Some("not it"), 40);
    assert_eq!(run.code, 4, "{}", run.stderr);
}
