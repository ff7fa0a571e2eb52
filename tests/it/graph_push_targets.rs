//! graph-push's Defender and legacy Graph targets and its other credentials
//! (certificate, workload identity) against the emulator.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::support::emulator::ms::{client_key, thumbprints, Api, Config, Fault, MsEmulator};
use crate::support::push::*;

fn assert_defender_holds(emu: &MsEmulator, records: &[Value], run: &Run) {
    for key in run.accepted_keys() {
        let (t, v) = key.split_once(':').unwrap();
        let want = records
            .iter()
            .find(|r| r["indicatorType"] == t && r["indicatorValue"] == v)
            .unwrap();
        let held = emu.defender_indicator(t, v).expect("accepted, so held");
        assert_eq!(&held.sent, want, "{key} not held exactly as sent");
    }
}

fn assert_graph_holds(emu: &MsEmulator, records: &[Value], run: &Run) {
    let held = emu.graph_indicators();
    for key in run.accepted_keys() {
        let want = records.iter().find(|r| r["externalId"] == key).unwrap();
        let copies = &held[&key];
        assert_eq!(copies.len(), 1, "{key} created once");
        assert_eq!(&copies[0].sent, want, "{key} not held exactly as sent");
    }
}

#[test]
fn defender_batches_of_500_with_per_record_failures() {
    let emu = MsEmulator::start(Config::default());
    let mut records: Vec<Value> = (0..620).map(defender).collect();
    records[7]["indicatorValue"] = json!("not a domain!");
    let dir = tempfile::tempdir().unwrap();
    let rejected = dir.path().join("rejected.ndjson");
    let run = push(
        &emu,
        &[
            "--target",
            "defender",
            "--rejected",
            rejected.to_str().unwrap(),
        ],
        &records,
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_accounted(620);
    assert_eq!(run.count("accepted"), 619);
    let r = run.with_status("rejected");
    assert_eq!(r[0]["key"], "DomainName:not a domain!");
    assert!(!r[0]["reason"].as_str().unwrap().is_empty());
    assert_eq!(read_ndjson(&rejected), vec![records[7].clone()]);
    assert_defender_holds(&emu, &records, &run);
    let sizes: Vec<usize> = emu
        .log()
        .iter()
        .filter(|e| e.api == Some(Api::Defender))
        .map(|e| e.objects)
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), 620);
    assert!(sizes.iter().all(|n| *n <= 500));
}

#[test]
fn defender_throttling_with_retry_after() {
    let emu = MsEmulator::start(Config::default());
    emu.inject_on(
        Api::Defender,
        1,
        Fault::Throttle {
            secs: 1,
            header: true,
        },
    );
    let records: Vec<Value> = (0..30).map(defender).collect();
    let run = push(&emu, &["--target", "defender"], &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(30);
    assert_eq!(run.count("accepted"), 30);
    assert_defender_holds(&emu, &records, &run);
    assert_eq!(emu.stats().throttled, 1);
}

#[test]
fn defender_tenant_cap_skips_beyond_max_active() {
    let emu = MsEmulator::start(Config {
        defender_max_active: 10,
        ..Config::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let l = dir
        .path()
        .join("defender.ledger")
        .to_str()
        .unwrap()
        .to_string();
    let records: Vec<Value> = (0..15).map(defender).collect();
    let args = ["--target", "defender", "--ledger", &l, "--max-active", "10"];
    let run = push(&emu, &args, &records);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(15);
    assert_eq!(run.count("accepted"), 10);
    let skipped = run.with_status("skipped");
    assert_eq!(skipped.len(), 5);
    assert!(skipped[0]["reason"]
        .as_str()
        .unwrap()
        .contains("tenant cap"));
    assert_defender_holds(&emu, &records, &run);
    assert_eq!(emu.defender_indicators().len(), 10);

    // Next run: the 10 are unchanged, the cap still holds the other 5 back;
    // retiring two makes room for two.
    let mut next = records.clone();
    for r in next.iter_mut().take(2) {
        r["expirationTime"] = json!(NOW);
    }
    let run = push(&emu, &args, &next);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(15);
    assert_eq!(run.count("unchanged"), 8);
    assert_eq!(run.count("accepted"), 2, "the two retirements");
    assert_eq!(run.count("skipped"), 5);
    let run = push(&emu, &args, &next);
    assert_eq!(
        run.count("accepted"),
        2,
        "two freed slots: {:?}",
        run.statuses()
    );
    assert_eq!(run.count("skipped"), 3);
    assert_defender_holds(&emu, &next, &run);
}

#[test]
fn graph_submits_warns_and_isolates_a_batch_refused_as_a_whole() {
    let emu = MsEmulator::start(Config::default());
    let mut records: Vec<Value> = (0..150).map(graph).collect();
    // An enum value Graph cannot convert fails the whole batch with 400.
    records[42]["action"] = json!("alerts");
    // A missing required field fails only its item (206).
    records[120]["threatType"] = json!("NotAThreat");
    let run = push(&emu, &["--target", "graph"], &records);
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_accounted(150);
    assert_eq!(run.count("accepted"), 148);
    let rejected = run.with_status("rejected");
    let keys: Vec<&str> = rejected
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&records[42]["externalId"].as_str().unwrap()));
    assert!(keys.contains(&records[120]["externalId"].as_str().unwrap()));
    assert_graph_holds(&emu, &records, &run);
    assert_eq!(
        run.stderr.matches("deprecated").count(),
        1,
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(" split"), "{}", run.stderr);
}

#[test]
fn graph_delete_by_external_id() {
    let emu = MsEmulator::start(Config::default());
    let records: Vec<Value> = (0..5).map(graph).collect();
    assert_eq!(push(&emu, &["--target", "graph"], &records).code, 0);
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids.txt");
    let mut text = String::new();
    for r in &records[..3] {
        text.push_str(r["externalId"].as_str().unwrap());
        text.push('\n');
    }
    text.push_str("00000000-0000-4000-8000-000000000000\n");
    std::fs::write(&ids, text).unwrap();
    let run = run_cmd(
        command(
            &emu,
            &[
                "--target",
                "graph",
                "--delete-external-ids",
                ids.to_str().unwrap(),
            ],
        ),
        b"",
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    run.assert_accounted(4);
    assert_eq!(run.count("accepted"), 3);
    assert_eq!(run.count("rejected"), 1);
    assert_eq!(emu.graph_indicators().len(), 2);
}

const CERT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/graph-push/test-client-cert.pem"
);

#[test]
fn certificate_credentials() {
    // The emulator checks the signature and the thumbprint against this certificate.
    let emu = MsEmulator::start(Config {
        client_certificate_pem: Some(std::fs::read_to_string(CERT).unwrap()),
        ..Config::default()
    });
    let mut cmd = command(&emu, &[]);
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_CERTIFICATE_PATH", CERT);
    let records = stix_range(3);
    let run = run_cmd(cmd, &ndjson(&records));
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.assert_accounted(3);
    assert_sentinel_holds(&emu, &records, &run);
    assert_eq!(emu.stats().tokens_issued, 1);
    // What Entra received: PS256 and the certificate's SHA-256 thumbprint, as the
    // current certificate-credentials page asks (docs/design.md#entra-id-tokens).
    let pem = std::fs::read_to_string(CERT).unwrap();
    let der = client_key(&pem).unwrap().1.unwrap();
    let (_, x5t_s256) = thumbprints(&der);
    assert_eq!(
        emu.assertion_headers(),
        [json!({"alg": "PS256", "typ": "JWT", "x5t#S256": x5t_s256})]
    );
    // With the chain asked for, `x5c` too: the one certificate of the PEM.
    let mut cmd = command(&emu, &[]);
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_CERTIFICATE_PATH", CERT)
        .env("AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true");
    let run = run_cmd(cmd, &ndjson(&stix_range(1)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let x5c = base64::engine::general_purpose::STANDARD.encode(&der);
    assert_eq!(
        emu.assertion_headers()[1],
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": x5t_s256, "x5c": [x5c]})
    );

    // Another app's certificate: refused, exit 4.
    let other = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ms-emulator/test-client.pem"
    );
    let emu = MsEmulator::start(Config {
        client_certificate_pem: Some(std::fs::read_to_string(other).unwrap()),
        ..Config::default()
    });
    let mut cmd = command(&emu, &[]);
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_CLIENT_CERTIFICATE_PATH", CERT);
    let run = run_cmd(cmd, &ndjson(&records));
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stdout.is_empty());
}

#[test]
fn workload_identity_token_file() {
    let issuer = "https://oidc.example/cluster";
    let subject = "system:serviceaccount:soc:misp2ms";
    let emu = MsEmulator::start(Config {
        federated: Some((issuer.into(), subject.into())),
        ..Config::default()
    });
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap())
    };
    let now = chrono::Utc::now().timestamp();
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(
            json!({"iss": issuer, "sub": subject, "aud": "api://AzureADTokenExchange",
                   "exp": now + 3600, "nbf": now - 10, "iat": now - 10})
        )
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, jwt).unwrap();
    let mut cmd = command(&emu, &[]);
    cmd.env_remove("AZURE_CLIENT_SECRET")
        .env("AZURE_FEDERATED_TOKEN_FILE", &file);
    let records = stix_range(3);
    let run = run_cmd(cmd, &ndjson(&records));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_sentinel_holds(&emu, &records, &run);
}

#[test]
fn missing_credentials_and_unknown_cloud_hosts_are_usage_errors() {
    let emu = MsEmulator::start(Config::default());
    let mut cmd = command(&emu, &[]);
    cmd.env_remove("AZURE_CLIENT_SECRET");
    let run = run_cmd(cmd, &ndjson(&stix_range(1)));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no credentials"), "{}", run.stderr);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_graph-push"));
    cmd.args(["--target", "graph", "--cloud", "usgov", "--dry-run"]);
    let run = run_cmd(cmd, b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("no known endpoint"), "{}", run.stderr);
}
