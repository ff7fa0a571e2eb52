//! Unit tests of the mapping rules (one attribute → indicators or a reason).

use super::*;
use crate::map::indicator::{HashAlgo, Indicator, RuleLang, SkipReason, Tlp, ValueKind};
use crate::map::policy::allowlist::Allowlist;
use crate::map::policy::expiry::{ExpireFrom, Expiry};
use crate::map::policy::warninglist::Warninglists;
use crate::misp::model::Line;
use crate::time::{parse_rfc3339, Timestamp};

const NOW: &str = "2026-11-28T00:00:00Z";
const UUID: &str = "8a6f0c1e-3b2d-4e5f-8a9b-0c1d2e3f4a5b";

fn opts() -> MapOptions {
    MapOptions::new(parse_rfc3339(NOW).unwrap())
}

fn t(s: &str) -> Timestamp {
    parse_rfc3339(s).unwrap()
}

/// Maps every attribute of one JSON line (an event or attributes, in any shape).
fn map_with(o: MapOptions, json: &str) -> Vec<Result<Vec<Indicator>, SkipReason>> {
    let line: Line = serde_json::from_str(json).unwrap();
    let m = Mapper::new(o, Allowlist::default(), Warninglists::default());
    let mut parts = Parts::default();
    let mut out = Vec::new();
    let walked = walk(&line, &mut |found| {
        let Found::Attribute {
            attr,
            object,
            event,
            ..
        } = found
        else {
            return Err("test input must be an event or attributes");
        };
        out.push(
            m.map(attr, object, event, &mut parts)
                .map(|()| parts.as_slice().to_vec()),
        );
        Ok(())
    });
    walked.unwrap();
    out
}

/// A bare attribute of `type` and `value` (to_ids true, timestamp 2026-11-01).
fn attr(ty: &str, value: &str, extra: &str) -> String {
    format!(
        r#"{{"uuid":"{UUID}","type":{},"value":{},"timestamp":"1793491200","to_ids":true{extra}}}"#,
        serde_json::to_string(ty).unwrap(),
        serde_json::to_string(value).unwrap()
    )
}

fn one(ty: &str, value: &str) -> Result<Vec<Indicator>, SkipReason> {
    map_with(opts(), &attr(ty, value, "")).remove(0)
}

fn ok(ty: &str, value: &str) -> Vec<Indicator> {
    one(ty, value).unwrap_or_else(|e| panic!("{ty} {value:?}: {e}"))
}

#[test]
fn every_plain_type_maps_to_its_kind() {
    let cases: &[(&str, &str, ValueKind, &str)] = &[
        (
            "ip-src",
            "8.8.8.8",
            ValueKind::Ipv4 { cidr: false },
            "8.8.8.8",
        ),
        (
            "ip-dst",
            "2606:4700:0::1111",
            ValueKind::Ipv6 { cidr: false },
            "2606:4700::1111",
        ),
        (
            "ip-dst",
            "45.33.0.0/16",
            ValueKind::Ipv4 { cidr: true },
            "45.33.0.0/16",
        ),
        (
            "domain",
            "Bad.Example.COM",
            ValueKind::Domain,
            "bad.example.com",
        ),
        (
            "hostname",
            "c2[.]example[.]net",
            ValueKind::Domain,
            "c2.example.net",
        ),
        ("onion-address", "abc.onion", ValueKind::Domain, "abc.onion"),
        (
            "url",
            "hxxp://bad.example.com/x",
            ValueKind::Url,
            "http://bad.example.com/x",
        ),
        (
            "link",
            "https://report.example.org/a",
            ValueKind::Url,
            "https://report.example.org/a",
        ),
        ("uri", "/admin/x.php", ValueKind::Url, "/admin/x.php"),
        ("email", "a@example.org", ValueKind::Email, "a@example.org"),
        (
            "email-src",
            "a@EXAMPLE.org",
            ValueKind::Email,
            "a@example.org",
        ),
        (
            "email-dst",
            "b@example.org",
            ValueKind::Email,
            "b@example.org",
        ),
        (
            "email-src-display-name",
            "Alice",
            ValueKind::EmailDisplayName,
            "Alice",
        ),
        (
            "email-subject",
            "Invoice",
            ValueKind::EmailSubject,
            "Invoice",
        ),
        (
            "email-reply-to",
            "r@example.org",
            ValueKind::EmailReplyTo,
            "r@example.org",
        ),
        (
            "email-x-mailer",
            "Mailer 1.0",
            ValueKind::EmailXMailer,
            "Mailer 1.0",
        ),
        (
            "email-attachment",
            "invoice.pdf.exe",
            ValueKind::EmailAttachment,
            "invoice.pdf.exe",
        ),
        (
            "md5",
            "D41D8CD98F00B204E9800998ECF8427E",
            ValueKind::Hash(HashAlgo::Md5),
            "d41d8cd98f00b204e9800998ecf8427e",
        ),
        (
            "sha1",
            &"A".repeat(40),
            ValueKind::Hash(HashAlgo::Sha1),
            &"a".repeat(40),
        ),
        (
            "sha256",
            &"b".repeat(64),
            ValueKind::Hash(HashAlgo::Sha256),
            &"b".repeat(64),
        ),
        (
            "sha512",
            &"c".repeat(128),
            ValueKind::Hash(HashAlgo::Sha512),
            &"c".repeat(128),
        ),
        (
            "sha3-256",
            &"d".repeat(64),
            ValueKind::Hash(HashAlgo::Sha3_256),
            &"d".repeat(64),
        ),
        (
            "ssdeep",
            "3:abc:def",
            ValueKind::Hash(HashAlgo::Ssdeep),
            "3:abc:def",
        ),
        (
            "imphash",
            &"e".repeat(32),
            ValueKind::Hash(HashAlgo::Imphash),
            &"e".repeat(32),
        ),
        (
            "filename",
            "C:\\Temp\\x.exe",
            ValueKind::FileName,
            "C:\\Temp\\x.exe",
        ),
        (
            "x509-fingerprint-sha256",
            &"f".repeat(64),
            ValueKind::X509(HashAlgo::Sha256),
            &"f".repeat(64),
        ),
        (
            "regkey",
            "HKLM\\Software\\Run\\x",
            ValueKind::RegistryKey,
            "HKLM\\Software\\Run\\x",
        ),
        ("mutex", "Global\\m", ValueKind::Mutex, "Global\\m"),
        ("AS", "AS13335", ValueKind::AutonomousSystem, "13335"),
        (
            "mac-address",
            "00:00:5E:00:53:01",
            ValueKind::MacAddress,
            "00:00:5e:00:53:01",
        ),
        ("user-agent", "Evil/1.0", ValueKind::UserAgent, "Evil/1.0"),
        ("github-username", "octo", ValueKind::GithubUsername, "octo"),
        (
            "yara",
            "rule x { condition: true }",
            ValueKind::Rule(RuleLang::Yara),
            "rule x { condition: true }",
        ),
    ];
    for (ty, value, kind, norm) in cases {
        let p = ok(ty, value);
        assert_eq!(p.len(), 1, "{ty}");
        assert_eq!((p[0].kind, p[0].value.as_str()), (*kind, *norm), "{ty}");
        assert_eq!(
            p[0].id.to_string(),
            UUID,
            "{ty}: a plain type's id is the attribute uuid"
        );
        assert_eq!(p[0].part_type, *ty);
    }
}

#[test]
fn context_types_are_not_indicators() {
    for ty in [
        "btc",
        "ja3-fingerprint-md5",
        "port",
        "comment",
        "text",
        "vulnerability",
        "size-in-bytes",
    ] {
        assert_eq!(
            one(ty, "x").unwrap_err(),
            SkipReason::NotIndicatorType,
            "{ty}"
        );
    }
}

#[test]
fn composites_split_with_stable_ids() {
    let h = "a".repeat(64);
    let p = ok("filename|sha256", &format!("x.exe|{h}"));
    assert_eq!(p.len(), 1, "file name only with --include-filenames");
    assert_eq!(
        (p[0].part_type.as_str(), p[0].id.to_string().as_str()),
        ("sha256", UUID)
    );

    let mut o = opts();
    o.include_filenames = true;
    let p = map_with(o, &attr("filename|sha256", &format!("x.exe|{h}"), ""))
        .remove(0)
        .unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[1].kind, ValueKind::FileName);
    assert_eq!(p[1].id, crate::misp::ids::part_uuid(UUID, "filename"));

    let p = ok("malware-sample", "x.exe|d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(p[0].kind, ValueKind::Hash(HashAlgo::Md5));

    let p = ok("domain|ip", "c2.example.com|8.8.4.4");
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].kind, p[0].id.to_string().as_str()),
        (ValueKind::Domain, UUID)
    );
    assert_eq!(
        (p[1].kind, p[1].id),
        (
            ValueKind::Ipv4 { cidr: false },
            crate::misp::ids::part_uuid(UUID, "ip-dst")
        )
    );

    let p = ok("ip-dst|port", "2606:4700::1|443");
    assert_eq!(
        (p.len(), p[0].port, p[0].value.as_str()),
        (1, Some(443), "2606:4700::1")
    );
    let p = ok("hostname|port", "c2.example.com|8080");
    assert_eq!((p[0].kind, p[0].port), (ValueKind::Domain, Some(8080)));
    let p = ok("regkey|value", "HKLM\\Run\\x|evil.exe");
    assert_eq!((p.len(), p[0].value.as_str()), (1, "HKLM\\Run\\x"));

    // Malformed composites are invalid values, never a crash.
    for v in ["no-pipe", "a|b|c", "a||", "||"] {
        assert!(
            matches!(one("domain|ip", v), Err(SkipReason::InvalidValue(_))),
            "{v}"
        );
    }
    assert!(matches!(
        one("ip-dst|port", "8.8.8.8|http"),
        Err(SkipReason::InvalidValue(_))
    ));
    // One bad half: the other still maps; both bad: the primary's reason.
    let p = ok("domain|ip", "c2.example.com|10.0.0.1");
    assert_eq!(p.len(), 1);
    assert_eq!(
        one("domain|ip", "x.local|10.0.0.1").unwrap_err(),
        SkipReason::Private
    );
}

#[test]
fn filename_context_keeps_the_name_only_with_its_hash() {
    let mut o = opts();
    o.filename_context = true;
    let p = map_with(
        o.clone(),
        &attr("filename|md5", "x.exe|d41d8cd98f00b204e9800998ecf8427e", ""),
    )
    .remove(0)
    .unwrap();
    assert_eq!(p.len(), 2);
    let r = map_with(o, &attr("filename|md5", "x.exe|nothex", "")).remove(0);
    assert!(matches!(r, Err(SkipReason::InvalidValue(_))));
}

#[test]
fn private_values_are_skipped_unless_allowed() {
    for (ty, v) in [
        ("ip-dst", "192.168.1.1"),
        ("ip-src", "fe80::1"),
        ("url", "http://127.0.0.1/x"),
        ("domain", "nas.local"),
    ] {
        assert_eq!(one(ty, v).unwrap_err(), SkipReason::Private, "{v}");
    }
    let mut o = opts();
    o.allow_private = true;
    assert!(map_with(o, &attr("ip-dst", "192.168.1.1", ""))
        .remove(0)
        .is_ok());
}

#[test]
fn to_ids_defaults_and_filters() {
    let j = attr("domain", "a.example.com", "").replace(r#","to_ids":true"#, r#","to_ids":"0""#);
    assert_eq!(
        map_with(opts(), &j).remove(0).unwrap_err(),
        SkipReason::NotIds
    );
    // Missing to_ids: the type's default (AS: false, domain: true).
    let no_key = |ty: &str, v: &str| attr(ty, v, "").replace(r#","to_ids":true"#, "");
    assert_eq!(
        map_with(opts(), &no_key("AS", "AS13335"))
            .remove(0)
            .unwrap_err(),
        SkipReason::NotIds
    );
    assert!(map_with(opts(), &no_key("domain", "a.example.com"))
        .remove(0)
        .is_ok());
    let mut o = opts();
    o.include_non_ids = true;
    let p = map_with(o, &no_key("AS", "AS13335")).remove(0).unwrap();
    assert!(!p[0].to_ids && !p[0].retired);

    let mut o = opts();
    o.types = Some(["url".to_string()].into());
    assert_eq!(
        map_with(o, &attr("domain", "a.example.com", ""))
            .remove(0)
            .unwrap_err(),
        SkipReason::Filtered("--types")
    );
    let mut o = opts();
    o.exclude_types = ["domain".to_string()].into();
    assert_eq!(
        map_with(o, &attr("domain", "a.example.com", ""))
            .remove(0)
            .unwrap_err(),
        SkipReason::Filtered("--exclude-types")
    );
}

#[test]
fn tlp_any_case_attribute_over_event() {
    let ev = |attr_tags: &str| {
        format!(
            r#"{{"Event":{{"uuid":"e","timestamp":"1793491200","Tag":[{{"name":"TLP:GREEN"}}],
            "Attribute":[{{"uuid":"{UUID}","type":"domain","value":"a.example.com","timestamp":"1793491200","Tag":[{attr_tags}]}}]}}}}"#
        )
    };
    let p = map_with(opts(), &ev("")).remove(0).unwrap();
    assert_eq!(
        (p[0].tlp, p[0].tlp_tagged),
        (Tlp::Green, true),
        "event tag, upper case"
    );
    let p = map_with(opts(), &ev(r#"{"name":"tlp:Clear"}"#))
        .remove(0)
        .unwrap();
    assert_eq!(
        p[0].tlp,
        Tlp::Clear,
        "attribute tag wins, even when less strict"
    );
    let p = map_with(opts(), &ev(r#"{"name":"tlp:amber+strict"}"#))
        .remove(0)
        .unwrap();
    assert_eq!(p[0].tlp, Tlp::AmberStrict);
    assert!(
        !p[0]
            .labels
            .iter()
            .any(|l| l.to_lowercase().starts_with("tlp:")),
        "TLP tags are no labels"
    );
    assert_eq!(
        map_with(opts(), &ev(r#"{"name":"tlp:red"}"#))
            .remove(0)
            .unwrap_err(),
        SkipReason::TlpTooHigh
    );
    let mut o = opts();
    o.tlp_max = Tlp::Red;
    assert_eq!(
        map_with(o, &ev(r#"{"name":"tlp:red"}"#)).remove(0).unwrap()[0].tlp,
        Tlp::Red
    );
    let mut o = opts();
    o.tlp_max = Tlp::Clear;
    assert_eq!(
        map_with(o, &ev("")).remove(0).unwrap_err(),
        SkipReason::TlpTooHigh
    );
    // No tag anywhere: the default, not tagged.
    let p = ok("domain", "a.example.com");
    assert_eq!((p[0].tlp, p[0].tlp_tagged), (Tlp::Amber, false));
    // Inherited (event) tags on a bare attribute yield to the attribute's own.
    let j = attr(
        "domain",
        "a.example.com",
        r#","Tag":[{"name":"tlp:green","inherited":1},{"name":"tlp:clear"}]"#,
    );
    assert_eq!(map_with(opts(), &j).remove(0).unwrap()[0].tlp, Tlp::Clear);
    let j = attr(
        "domain",
        "a.example.com",
        r#","Tag":[{"name":"tlp:green","inherited":1}]"#,
    );
    assert_eq!(map_with(opts(), &j).remove(0).unwrap()[0].tlp, Tlp::Green);
}

#[test]
fn confidence_lowest_attribute_over_event_and_labels() {
    let j = r#"{"Event":{"uuid":"e","timestamp":"1793491200","Tag":[{"name":"misp:confidence-level=\"completely-confident\""},{"name":"apt:x"},{"name":"mine","local":true}],
        "Attribute":[
          {"uuid":"8a6f0c1e-3b2d-4e5f-8a9b-0c1d2e3f4a5b","type":"domain","value":"a.example.com","timestamp":"1793491200"},
          {"uuid":"8a6f0c1e-3b2d-4e5f-8a9b-0c1d2e3f4a5c","type":"domain","value":"b.example.com","timestamp":"1793491200",
           "Tag":[{"name":"misp:confidence-level=\"usually-confident\""},{"name":"misp:confidence-level=\"rarely-confident\""},{"name":"kill-chain:Delivery"}]},
          {"uuid":"8a6f0c1e-3b2d-4e5f-8a9b-0c1d2e3f4a5d","type":"domain","value":"c.example.com","timestamp":"1793491200",
           "Tag":[{"name":"misp:confidence-level=\"confidence-cannot-be-evalued\""}]}]}}"#;
    let r = map_with(opts(), j);
    let a = r[0].as_ref().unwrap();
    assert_eq!(a[0].confidence, 100);
    assert_eq!(
        a[0].labels,
        vec!["apt:x".to_string()],
        "no confidence, no local tags"
    );
    let b = r[1].as_ref().unwrap();
    assert_eq!(
        b[0].confidence, 25,
        "several: the lowest; attribute over event"
    );
    assert_eq!(
        b[0].labels,
        vec!["apt:x".to_string(), "kill-chain:Delivery".to_string()]
    );
    assert_eq!(b[0].kill_chain[0].0, "lockheed-martin-cyber-kill-chain");
    assert_eq!(b[0].kill_chain[0].1, "delivery");
    assert_eq!(
        r[2].as_ref().unwrap()[0].confidence,
        50,
        "cannot be evaluated: the default"
    );
    let mut o = opts();
    o.min_confidence = 30;
    assert_eq!(
        map_with(o, j)[1].as_ref().unwrap_err(),
        &SkipReason::BelowMinConfidence
    );
}

#[test]
fn object_attributes_carry_object_context_and_time() {
    let j = format!(
        r#"{{"Event":{{"uuid":"e","info":"Wave","timestamp":"1793491200","date":"2026-11-01",
        "Object":[{{"name":"file","timestamp":1793577600,"Attribute":[
          {{"uuid":"{UUID}","type":"sha256","object_relation":"sha256","value":"{}","timestamp":"1793491200","category":"Payload delivery"}}]}}]}}}}"#,
        "a".repeat(64)
    );
    let p = map_with(opts(), &j).remove(0).unwrap();
    let o = p[0].object.as_ref().unwrap();
    assert_eq!(
        (o.name.as_str(), o.relation.as_deref()),
        ("file", Some("sha256"))
    );
    assert_eq!(
        p[0].modified,
        t("2026-11-02T00:00:00Z"),
        "the object's newer timestamp"
    );
    assert_eq!(
        p[0].kill_chain,
        vec![("misp-category".to_string(), "payload-delivery".to_string())]
    );
    assert_eq!(p[0].event.info.as_deref(), Some("Wave"));
    // A deleted object retires its attributes.
    let j = j.replace(r#""name":"file","#, r#""name":"file","deleted":true,"#);
    assert!(map_with(opts(), &j).remove(0).unwrap()[0].retired);
}

#[test]
fn time_fields() {
    // Attribute 2026-11-01, event timestamp 2026-11-05, publish 2026-11-10, date 2026-10-30.
    let ev = |attr_extra: &str, ev_extra: &str| {
        format!(
            r#"{{"Event":{{"uuid":"e","timestamp":1793836800,"publish_timestamp":"1794268800","date":"2026-10-30"{ev_extra},
            "Attribute":[{{"uuid":"{UUID}","type":"domain","value":"a.example.com","timestamp":"1793491200"{attr_extra}}}]}}}}"#
        )
    };
    let p = map_with(opts(), &ev("", "")).remove(0).unwrap();
    assert_eq!(
        p[0].modified,
        t("2026-11-05T00:00:00Z"),
        "latest of attribute and event"
    );
    assert_eq!(p[0].created, t("2026-10-30T00:00:00Z"), "event date");
    assert_eq!(
        p[0].valid_from,
        t("2026-11-01T00:00:00Z"),
        "attribute timestamp"
    );
    assert_eq!(
        p[0].valid_until,
        t("2027-02-08T00:00:00Z"),
        "publish time + 90d (domain)"
    );

    let p = map_with(opts(), &ev(r#","first_seen":"2026-10-31T12:00:00.000000+00:00","last_seen":"2026-11-20T00:00:00+00:00""#, "")).remove(0).unwrap();
    assert_eq!(p[0].valid_from, t("2026-10-31T12:00:00Z"));
    assert_eq!(
        p[0].valid_until,
        t("2027-02-18T00:00:00Z"),
        "last_seen + 90d"
    );

    // created is clamped to modified; without a date it is the attribute timestamp.
    let p = map_with(opts(), &ev("", "").replace("2026-10-30", "2026-12-30"))
        .remove(0)
        .unwrap();
    assert_eq!(p[0].created, p[0].modified);
    let p = ok("domain", "a.example.com");
    assert_eq!(
        (p[0].created, p[0].modified),
        (t("2026-11-01T00:00:00Z"), t("2026-11-01T00:00:00Z"))
    );
    assert_eq!(
        p[0].valid_until,
        t("2027-01-30T00:00:00Z"),
        "attribute time + 90d"
    );

    // --expire-from now: today 00:00Z + the class expiry.
    let mut o = opts();
    o.expire_from = ExpireFrom::Now;
    o.expiry = Expiry::parse("domain=7d").unwrap();
    let p = map_with(o, &ev("", "")).remove(0).unwrap();
    assert_eq!(p[0].valid_until, t("2026-12-05T00:00:00Z"));

    // Expired: skipped, unless --include-expired.
    let old = attr("ip-dst", "8.8.8.8", "").replace("1793491200", "1700000000");
    assert_eq!(
        map_with(opts(), &old).remove(0).unwrap_err(),
        SkipReason::Expired
    );
    let mut o = opts();
    o.include_expired = true;
    assert!(map_with(o, &old).remove(0).is_ok());

    // Unreadable times are malformed.
    assert!(matches!(
        map_with(opts(), &ev(r#","first_seen":"yesterday""#, "")).remove(0),
        Err(SkipReason::Malformed(_))
    ));
}

#[test]
fn retirements() {
    let now = t(NOW);
    let del = attr("ip-dst", "8.8.8.8", r#","deleted":"1""#).replace("1793491200", "1700000000");
    let p = map_with(opts(), &del).remove(0).unwrap();
    assert!(
        p[0].retired && !p[0].revoked,
        "deleted → retired, even when expired"
    );
    assert_eq!(p[0].valid_until, now);

    // valid_until follows valid_from even when first_seen is in the future.
    let future = attr(
        "domain",
        "a.example.com",
        r#","deleted":true,"first_seen":"2027-01-01T00:00:00Z""#,
    );
    let p = map_with(opts(), &future).remove(0).unwrap();
    assert_eq!(p[0].valid_until, t("2027-01-01T00:00:00.001Z"));

    let mut o = opts();
    o.revoke = true;
    let p = map_with(o, &del).remove(0).unwrap();
    assert!(p[0].retired && p[0].revoked);

    let mut o = opts();
    o.retirements = false;
    assert_eq!(
        map_with(o, &del).remove(0).unwrap_err(),
        SkipReason::DeletedNoRetirement
    );

    let non_ids = attr("domain", "a.example.com", "").replace(r#""to_ids":true"#, r#""to_ids":0"#);
    let mut o = opts();
    o.retire_non_ids = true;
    assert!(map_with(o.clone(), &non_ids).remove(0).unwrap()[0].retired);
    o.retirements = false;
    assert_eq!(
        map_with(o, &non_ids).remove(0).unwrap_err(),
        SkipReason::NotIds
    );
}

#[test]
fn malformed_attributes() {
    let r = map_with(
        opts(),
        r#"{"type":"domain","value":"a.example.com","timestamp":1}"#,
    );
    assert!(matches!(&r[0], Err(SkipReason::Malformed(m)) if m == "no uuid"));
    let r = map_with(
        opts(),
        r#"{"uuid":"not-a-uuid","type":"domain","value":"a.example.com"}"#,
    );
    assert!(matches!(&r[0], Err(SkipReason::Malformed(_))));
    let r = map_with(
        opts(),
        &format!(r#"{{"uuid":"{UUID}","value":"a.example.com"}}"#),
    );
    assert!(matches!(&r[0], Err(SkipReason::Malformed(m)) if m == "no type"));
    let r = map_with(
        opts(),
        &format!(r#"{{"uuid":"{UUID}","type":"domain","value":"a.example.com"}}"#),
    );
    assert!(matches!(&r[0], Err(SkipReason::Malformed(m)) if m == "no timestamp"));
}
