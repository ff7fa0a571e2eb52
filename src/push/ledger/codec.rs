//! The ledger's compact encoding of JSON values (docs/design.md#memory): a
//! record kept by the ledger is written as tagged values, where the words that
//! recur in every record (field names, `indicator`, `stix`, the TLP marking
//! ids, Defender's enumerations) are one byte, times that are exactly
//! `fmt_millis`/`fmt_secs` text are their epoch value, `TYPE--UUID` ids are the
//! type's byte and 16 bytes, a pattern's usual beginning is one byte and a
//! hash value in it is its bytes, and the string equal to the record's key is
//! one byte. Decoding gives back the same JSON text for every value: a string is
//! only encoded in a special form when that form gives back exactly its text.
//!
//! The tables below are part of the file format: entries are only ever
//! appended, never moved or removed.

use serde_json::{Map, Number, Value};

use crate::time;

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const STR: u8 = 3;
const MILLIS: u8 = 4;
const SECS: u8 = 5;
const ID: u8 = 6;
const ARRAY: u8 = 7;
const OBJECT: u8 = 8;
const NUMBER: u8 = 9;
const WORD: u8 = 10;
const KEY: u8 = 11;
const PREFIXED: u8 = 12;
const PREFIXED_HEX: u8 = 13;

/// Recurring words: field names and values of the three record kinds. Index
/// 0 is not a word (a field name written out follows a 0).
const WORDS: &[&str] = &[
    "",
    // STIX
    "type",
    "spec_version",
    "id",
    "created",
    "modified",
    "created_by_ref",
    "name",
    "description",
    "pattern",
    "pattern_type",
    "pattern_version",
    "valid_from",
    "valid_until",
    "object_marking_refs",
    "granular_markings",
    "labels",
    "revoked",
    "confidence",
    "lang",
    "indicator_types",
    "kill_chain_phases",
    "external_references",
    "kill_chain_name",
    "phase_name",
    "source_name",
    "external_id",
    "url",
    "indicator",
    "identity",
    "marking-definition",
    "2.1",
    "stix",
    "malicious-activity",
    "tlp:amber+strict",
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
    "MISP",
    // Defender
    "indicatorValue",
    "indicatorType",
    "action",
    "generateAlert",
    "title",
    "expirationTime",
    "severity",
    "recommendedActions",
    "rbacGroupNames",
    "application",
    "FileSha1",
    "FileSha256",
    "FileMd5",
    "CertificateThumbprint",
    "IpAddress",
    "DomainName",
    "Url",
    "Audit",
    "Warn",
    "Block",
    "BlockAndRemediate",
    "Alert",
    "AlertAndBlock",
    "Allowed",
    "Informational",
    "Low",
    "Medium",
    "High",
    // Graph tiIndicators
    "externalId",
    "targetProduct",
    "threatType",
    "tlpLevel",
    "isActive",
    "passiveOnly",
    "expirationDateTime",
    "lastReportedDateTime",
    "azureTenantId",
    "tags",
    "domainName",
    "networkIPv4",
    "networkIPv6",
    "networkDestinationIPv4",
    "networkDestinationIPv6",
    "fileHashType",
    "fileHashValue",
    "Azure Sentinel",
    "WatchList",
    "alert",
    "block",
    "allow",
    "unknown",
    "white",
    "green",
    "amber",
    "red",
    "sha1",
    "sha256",
    "md5",
];

/// Recurring beginnings of strings (STIX patterns): the index and the rest.
const PREFIXES: &[&str] = &[
    "",
    "[domain-name:value = '",
    "[ipv4-addr:value = '",
    "[ipv6-addr:value = '",
    "[url:value = '",
    "[email-addr:value = '",
    "[file:hashes.'SHA-256' = '",
    "[file:hashes.'SHA-1' = '",
    "[file:hashes.MD5 = '",
    "[file:hashes.'SHA-512' = '",
    "[file:name = '",
    "[x509-certificate:hashes.'SHA-1' = '",
    "[mac-addr:value = '",
    "[autonomous-system:number = ",
    "[windows-registry-key:key = '",
    "[user-account:user_id = '",
    "[network-traffic:",
    "[file:",
];

/// The id types written as one byte (`TYPE--UUID`).
const ID_TYPES: &[&str] = &["indicator", "identity", "marking-definition"];

fn word(s: &str) -> Option<u8> {
    static INDEX: std::sync::OnceLock<foldhash::HashMap<&'static str, u8>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| {
            WORDS
                .iter()
                .enumerate()
                .skip(1)
                .map(|(i, w)| (*w, i as u8))
                .collect()
        })
        .get(s)
        .copied()
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A `TYPE--UUID` id in its canonical lowercase form: the type and the UUID.
fn split_id(s: &str) -> Option<(&str, uuid::Uuid)> {
    let (ty, u) = s.split_once("--")?;
    if u.len() != 36 {
        return None;
    }
    let parsed = uuid::Uuid::try_parse(u).ok()?;
    let mut buf = [0u8; 36];
    (parsed.hyphenated().encode_lower(&mut buf) == u).then_some((ty, parsed))
}

/// A time string that `fmt_millis` (or, `secs`, `fmt_secs`) gives back exactly:
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (`YYYY-MM-DDTHH:MM:SSZ`) with every field in range.
fn as_time(s: &str) -> Option<(bool, i64)> {
    let b = s.as_bytes();
    let secs = match b.len() {
        24 => false,
        20 => true,
        _ => return None,
    };
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && if secs {
            b[19] == b'Z'
        } else {
            b[19] == b'.' && b[23] == b'Z'
        };
    let digits = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    if !shape {
        return None;
    }
    let date =
        chrono::NaiveDate::from_ymd_opt(digits(0, 4)? as i32, digits(5, 7)?, digits(8, 10)?)?;
    let ms = if secs { 0 } else { digits(20, 23)? };
    // Seconds 0-59 only: a leap second's text would not come back the same.
    let t = date
        .and_hms_milli_opt(digits(11, 13)?, digits(14, 16)?, digits(17, 19)?, ms)?
        .and_utc();
    Some(if secs {
        (true, t.timestamp())
    } else {
        (false, t.timestamp_millis())
    })
}

/// Writes a string; `key` (if not empty) is written as one byte.
pub fn put_str(out: &mut Vec<u8>, s: &str, key: &str) {
    if !key.is_empty() && s == key {
        out.push(KEY);
    } else if let Some(w) = word(s) {
        out.extend_from_slice(&[WORD, w]);
    } else if let Some((secs, v)) = as_time(s) {
        out.push(if secs { SECS } else { MILLIS });
        put_signed(out, v);
    } else if let Some((ty, u)) = split_id(s) {
        out.push(ID);
        match ID_TYPES.iter().position(|t| *t == ty) {
            Some(i) => out.push(i as u8 + 1),
            None => {
                out.push(0);
                put_bytes(out, ty.as_bytes());
            }
        }
        out.extend_from_slice(u.as_bytes());
    } else if let Some((i, p)) = PREFIXES
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, p)| s.starts_with(**p))
    {
        let rest = &s[p.len()..];
        // A hash value (lowercase hex) right after the beginning: its bytes.
        let hex_len = rest
            .bytes()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            .count()
            & !1;
        if hex_len >= 16 {
            out.extend_from_slice(&[PREFIXED_HEX, i as u8]);
            put_bytes(out, &hex::decode(&rest[..hex_len]).expect("hex digits"));
            put_bytes(out, &rest.as_bytes()[hex_len..]);
        } else {
            out.extend_from_slice(&[PREFIXED, i as u8]);
            put_bytes(out, rest.as_bytes());
        }
    } else {
        out.push(STR);
        put_bytes(out, s.as_bytes());
    }
}

/// Writes any JSON value.
pub fn put_value(out: &mut Vec<u8>, v: &Value, key: &str) {
    match v {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(n) => {
            out.push(NUMBER);
            put_bytes(out, n.to_string().as_bytes());
        }
        Value::String(s) => put_str(out, s, key),
        Value::Array(a) => {
            out.push(ARRAY);
            put_varint(out, a.len() as u64);
            for x in a {
                put_value(out, x, key);
            }
        }
        Value::Object(o) => put_object(out, o, key),
    }
}

/// Writes an object: its fields in their order.
pub fn put_object(out: &mut Vec<u8>, o: &Map<String, Value>, key: &str) {
    out.push(OBJECT);
    put_varint(out, o.len() as u64);
    for (name, v) in o {
        match word(name) {
            Some(w) => out.push(w),
            None => {
                out.push(0);
                put_bytes(out, name.as_bytes());
            }
        }
        put_value(out, v, key);
    }
}

/// Reads what the `put_` functions wrote, from the front of a byte slice.
pub struct Reader<'a> {
    pub rest: &'a [u8],
}

pub type Bad = &'static str;

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { rest: b }
    }

    pub fn byte(&mut self) -> Result<u8, Bad> {
        let (&b, rest) = self.rest.split_first().ok_or("cut short")?;
        self.rest = rest;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        if self.rest.len() < n {
            return Err("cut short");
        }
        let (a, b) = self.rest.split_at(n);
        self.rest = b;
        Ok(a)
    }

    pub fn varint(&mut self) -> Result<u64, Bad> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }

    pub fn signed(&mut self) -> Result<i64, Bad> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn text(&mut self) -> Result<&'a str, Bad> {
        let n = self.varint()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "not UTF-8")
    }

    fn word(&mut self) -> Result<&'static str, Bad> {
        let i = self.byte()? as usize;
        match WORDS.get(i) {
            Some(w) if i > 0 => Ok(w),
            _ => Err("unknown word"),
        }
    }

    /// A string written by [`put_str`].
    pub fn string(&mut self, key: &str) -> Result<String, Bad> {
        let tag = self.byte()?;
        self.string_of(tag, key)
    }

    fn string_of(&mut self, tag: u8, key: &str) -> Result<String, Bad> {
        Ok(match tag {
            KEY => key.to_string(),
            WORD => self.word()?.to_string(),
            MILLIS => time::fmt_millis(
                &chrono::DateTime::from_timestamp_millis(self.signed()?).ok_or("bad time")?,
            ),
            SECS => time::fmt_secs(
                &chrono::DateTime::from_timestamp(self.signed()?, 0).ok_or("bad time")?,
            ),
            ID => {
                let ty = match self.byte()? as usize {
                    0 => self.text()?.to_string(),
                    i => ID_TYPES.get(i - 1).ok_or("unknown id type")?.to_string(),
                };
                let u = uuid::Uuid::from_slice(self.take(16)?).map_err(|_| "bad uuid")?;
                format!("{ty}--{}", u.hyphenated())
            }
            PREFIXED | PREFIXED_HEX => {
                let p = match self.byte()? as usize {
                    0 => return Err("unknown prefix"),
                    i => *PREFIXES.get(i).ok_or("unknown prefix")?,
                };
                if tag == PREFIXED_HEX {
                    let n = self.varint()? as usize;
                    let h = hex::encode(self.take(n)?);
                    format!("{p}{h}{}", self.text()?)
                } else {
                    format!("{p}{}", self.text()?)
                }
            }
            STR => self.text()?.to_string(),
            _ => return Err("not a string"),
        })
    }

    /// A value written by [`put_value`].
    pub fn value(&mut self, key: &str) -> Result<Value, Bad> {
        let tag = self.byte()?;
        Ok(match tag {
            NULL => Value::Null,
            FALSE => Value::Bool(false),
            TRUE => Value::Bool(true),
            NUMBER => Value::Number(self.text()?.parse::<Number>().map_err(|_| "bad number")?),
            ARRAY => {
                let n = self.varint()? as usize;
                let mut a = Vec::with_capacity(n.min(self.rest.len()));
                for _ in 0..n {
                    a.push(self.value(key)?);
                }
                Value::Array(a)
            }
            OBJECT => Value::Object(self.object_fields(key)?),
            tag => Value::String(self.string_of(tag, key)?),
        })
    }

    fn object_fields(&mut self, key: &str) -> Result<Map<String, Value>, Bad> {
        let n = self.varint()? as usize;
        let mut o = Map::new();
        for _ in 0..n {
            let name = match self.byte()? {
                0 => self.text()?.to_string(),
                i => WORDS
                    .get(i as usize)
                    .ok_or("unknown field name")?
                    .to_string(),
            };
            let v = self.value(key)?;
            o.insert(name, v);
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value, key: &str) -> usize {
        let mut out = Vec::new();
        put_value(&mut out, v, key);
        let mut r = Reader::new(&out);
        assert_eq!(&r.value(key).unwrap(), v);
        assert!(r.rest.is_empty());
        // Same text, not only the same value.
        assert_eq!(
            serde_json::to_string(&r_value(&out, key)).unwrap(),
            serde_json::to_string(v).unwrap()
        );
        out.len()
    }

    fn r_value(b: &[u8], key: &str) -> Value {
        Reader::new(b).value(key).unwrap()
    }

    #[test]
    fn values_come_back_exactly() {
        let key = "indicator--4c0b5f5e-8e1a-4c1e-9d7a-2f0c7d2b9a11";
        let rec = json!({
            "type": "indicator", "spec_version": "2.1", "id": key,
            "created": "2026-03-02T00:00:00.000Z", "modified": "2026-03-02T10:15:00.123Z",
            "created_by_ref": "identity--5b1d7f0e-3c2a-4e8b-9d61-0a7ce4f29b35",
            "name": "C2 domain (MISP event 4711)",
            "pattern": "[domain-name:value = 'c2.example.net']",
            "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": "2026-03-02T10:15:00Z",
            "object_marking_refs": ["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
            "labels": ["tlp:amber+strict"],
            "x_custom": {"n": -1.5e3, "big": 18446744073709551615u64, "t": true, "f": false, "z": null},
            // Look-alikes that must stay as they are.
            "upper": "indicator--4C0B5F5E-8E1A-4C1E-9D7A-2F0C7D2B9A11",
            "offset": "2026-03-02T10:15:00.000+00:00",
            "micros": "2026-03-02T10:15:00.000000Z",
            "early": "0999-01-01T00:00:00.000Z", "leap": "2026-06-30T23:59:60.000Z",
            "no_day": "2026-02-30T00:00:00.000Z", "late": "2026-03-02T24:00:00Z",
            "unicode": "Ünïcödé ✓ \u{0}",
            "nested": [["a", {"b": []}], {}]
        });
        round_trip(&rec, key);
        let d = json!({"indicatorValue": "c2.example.net", "indicatorType": "DomainName",
            "action": "Audit", "generateAlert": true, "title": "t", "description": "d",
            "expirationTime": "2027-06-01T00:00:00Z", "severity": "Medium"});
        round_trip(&d, "DomainName:c2.example.net");
        round_trip(&json!(""), "");
        for p in [
            "[file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']",
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427']",
            "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' OR file:name = 'x']",
            "[file:hashes.MD5 = 'abc']",
            "[file:",
        ] {
            round_trip(&json!(p), "");
        }
    }

    #[test]
    fn a_stix_record_is_small() {
        let key = "indicator--4c0b5f5e-8e1a-4c1e-9d7a-2f0c7d2b9a11";
        let rec = json!({
            "type": "indicator", "spec_version": "2.1", "id": key,
            "created": "2026-03-02T00:00:00.000Z", "modified": "2026-03-02T10:15:00.000Z",
            "created_by_ref": "identity--5b1d7f0e-3c2a-4e8b-9d61-0a7ce4f29b35",
            "name": "Generated campaign 1: driti",
            "pattern": "[file:hashes.'SHA-256' = '497305c5d1aab99f0c43407dc177b6f783f91ca7864a7135b6b9aeef0d2df7ab']",
            "pattern_type": "stix", "pattern_version": "2.1",
            "valid_from": "2026-03-02T10:15:00.000Z",
            "object_marking_refs": ["marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"]
        });
        let n = round_trip(&rec, key);
        assert!(n <= 140, "{n} bytes");
    }

    #[test]
    fn tables_fit_one_byte_and_hold_no_duplicates() {
        assert!(WORDS.len() <= 256 && PREFIXES.len() <= 256 && ID_TYPES.len() < 256);
        let words: std::collections::HashSet<_> = WORDS.iter().collect();
        assert_eq!(words.len(), WORDS.len());
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        put_value(&mut out, &json!({"name": "x", "a": [1, 2]}), "");
        for cut in 0..out.len() {
            assert!(Reader::new(&out[..cut]).value("").is_err());
        }
        assert!(Reader::new(&[WORD, 250]).value("").is_err());
        assert!(Reader::new(&[99]).value("").is_err());
        assert!(Reader::new(&[ARRAY, 0xff, 0xff, 0xff, 0xff, 0x0f])
            .value("")
            .is_err());
    }
}
