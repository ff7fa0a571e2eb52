//! MISP's freetext typing (`ComplexTypeTool`, docs/design.md#misp-feeds): cut a
//! text into candidate values, refang them, and give each the attribute type
//! MISP's feed parser would give it, with the type's default category and
//! `to_ids`. Values are normalised the way MISP stores them
//! (docs/design.md#misp-rest-api), so that the derived uuid
//! (docs/design.md#ids-and-keys) is the same however the feed spelled them.

use std::net::IpAddr;

use crate::misp::refang::refang;
use crate::misp::value::freetext_domain_tld;

/// One typed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub kind: &'static str,
    pub value: String,
    pub comment: String,
}

impl Hit {
    fn new(kind: &'static str, value: impl Into<String>) -> Self {
        Hit {
            kind,
            value: value.into(),
            comment: String::new(),
        }
    }

    /// The type's default category (MISP `describeTypes.json` sane defaults).
    pub fn category(&self) -> &'static str {
        match self.kind {
            "ip-dst" | "ip-dst|port" | "domain" | "hostname" | "hostname|port" | "url" | "AS" => {
                "Network activity"
            }
            "link" | "vulnerability" => "External analysis",
            "regkey" => "Persistence mechanism",
            "btc" => "Financial fraud",
            _ => "Payload delivery",
        }
    }

    /// The type's default `to_ids` (docs/design.md#mapping).
    pub fn to_ids(&self) -> bool {
        !matches!(self.kind, "link" | "vulnerability" | "AS")
    }
}

/// Common top-level domains; any two-letter code is a country TLD.
const TLDS: &[&str] = &[
    "com",
    "net",
    "org",
    "info",
    "biz",
    "edu",
    "gov",
    "mil",
    "int",
    "arpa",
    "aero",
    "asia",
    "cat",
    "coop",
    "jobs",
    "mobi",
    "museum",
    "name",
    "post",
    "pro",
    "tel",
    "travel",
    "xxx",
    "app",
    "dev",
    "io",
    "xyz",
    "top",
    "online",
    "site",
    "club",
    "shop",
    "store",
    "tech",
    "space",
    "website",
    "live",
    "life",
    "world",
    "today",
    "news",
    "email",
    "cloud",
    "host",
    "link",
    "click",
    "win",
    "bid",
    "loan",
    "download",
    "stream",
    "review",
    "trade",
    "date",
    "party",
    "racing",
    "science",
    "work",
    "men",
    "icu",
    "buzz",
    "fun",
    "monster",
    "rest",
    "bar",
    "cyou",
    "sbs",
    "cfd",
    "lol",
    "quest",
    "support",
    "services",
    "network",
    "digital",
    "group",
    "company",
    "center",
    "zone",
    "agency",
    "solutions",
    "systems",
    "global",
    "media",
    "pw",
    "onion",
    "best",
    "ltd",
    "plus",
    "tokyo",
    "moe",
    "page",
    "run",
    "one",
    "vip",
    "ink",
    "kim",
    "red",
    "blue",
    "pink",
    "wiki",
    "guru",
    "rocks",
    "ninja",
    "social",
    "finance",
    "money",
    "bank",
    "casino",
    "bet",
    "poker",
    "game",
    "games",
    "chat",
    "help",
    "hosting",
    "market",
    "exchange",
    "today",
    "mom",
    "beauty",
    "hair",
    "skin",
    "makeup",
    "autos",
    "boats",
    "homes",
    "yachts",
    "motorcycles",
];

fn known_tld(tld: &str) -> bool {
    let t = tld.to_ascii_lowercase();
    (t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()))
        || TLDS.contains(&t.as_str())
        || (t.starts_with("xn--") && t.len() > 4)
}

/// A host name: labels of letters, digits and hyphens, ending in a known TLD
/// (the name check MISP values share, in its freetext form).
fn domain_like(s: &str) -> bool {
    freetext_domain_tld(s.trim_end_matches('.')).is_some_and(known_tld)
}

fn hash_type(s: &str) -> Option<&'static str> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(match s.len() {
        32 => "md5",
        40 => "sha1",
        56 => "sha224",
        64 => "sha256",
        96 => "sha384",
        128 => "sha512",
        _ => return None,
    })
}

fn is_ssdeep(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let b64 = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
    };
    parts.len() == 3
        && !parts[0].is_empty()
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && b64(parts[1])
        && b64(parts[2])
}

fn is_email(s: &str) -> bool {
    match s.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && !local.contains(['@', '/', '\\'])
                && domain_like(domain)
        }
        None => false,
    }
}

/// `ip:port`, `[v6]:port` or `host:port` (2 to 5 digits).
fn split_port(s: &str) -> Option<(&str, &str)> {
    let (host, port) = s.rsplit_once(':')?;
    if !(2..=5).contains(&port.len()) || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Some((host, port))
}

fn is_cve(s: &str) -> bool {
    let u = s.to_ascii_uppercase();
    let Some(rest) = u.strip_prefix("CVE-") else {
        return false;
    };
    match rest.split_once('-') {
        Some((y, n)) => {
            y.len() == 4
                && y.bytes().all(|b| b.is_ascii_digit())
                && n.len() >= 4
                && n.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn is_btc(s: &str) -> bool {
    const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let legacy = (s.starts_with('1') || s.starts_with('3'))
        && (26..=35).contains(&s.len())
        && s.chars().all(|c| BASE58.contains(c));
    let l = s.to_ascii_lowercase();
    let bech32 = l.starts_with("bc1")
        && (14..=74).contains(&s.len())
        && (s == l || s == s.to_ascii_uppercase())
        && l[3..]
            .chars()
            .all(|c| "qpzry9x8gf2tvdw0s3jn54khce6mua7l".contains(c));
    legacy || bech32
}

/// Security vendors whose report URLs are `link`, not `url`.
const VENDORS: &[&str] = &["virustotal.com", "hybrid-analysis.com"];

/// A URL: a scheme and a host, or `host/path` with a real host name.
fn url_host(s: &str) -> Option<&str> {
    let rest = match s.split_once("://") {
        Some((scheme, rest)) => {
            if scheme.is_empty()
                || !scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
            {
                return None;
            }
            rest
        }
        None => s,
    };
    let host_port = rest.split(['/', '?', '#']).next()?;
    let host = host_port.rsplit_once('@').map_or(host_port, |(_, h)| h);
    let host = match split_port(host) {
        Some((h, _)) => h,
        None => host,
    };
    let ok = domain_like(host) || host.parse::<IpAddr>().is_ok();
    (ok && (s.contains("://") || rest.contains('/'))).then_some(host)
}

/// Normalises the host of a URL to lower case (paths keep their case).
fn lower_host(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let lowered = format!("{}{}", rest[..end].to_ascii_lowercase(), &rest[end..]);
    match scheme {
        Some(s) => format!("{s}://{lowered}"),
        None => lowered,
    }
}

fn is_filename(s: &str) -> bool {
    let name = s.rsplit(['\\', '/']).next().unwrap_or(s);
    match name.rsplit_once('.') {
        Some((stem, ext)) => {
            !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                && !ext.bytes().all(|b| b.is_ascii_digit())
                && !name.contains(char::is_whitespace)
        }
        None => false,
    }
}

/// Strips what surrounds a value in prose: quotes, parentheses, commas,
/// dots and blanks, in any mix (`."x@example.org"`).
fn trim_junk(s: &str) -> &str {
    s.trim_matches(|c: char| {
        matches!(c, '\'' | '"' | ',' | '(' | ')' | '.' | '\0') || c.is_whitespace()
    })
}

/// Types one candidate value, or `None` when MISP would drop it.
pub fn resolve(raw: &str) -> Option<Hit> {
    let t = trim_junk(raw);
    if t.is_empty() {
        return None;
    }
    // 1. IP addresses.
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(Hit::new("ip-dst", ip.to_string()));
    }
    // 2. Hashes: filename|hash, bare hex by length, ssdeep.
    if let Some((name, h)) = t.split_once('|') {
        if let Some(kind) = hash_type(h) {
            if !name.is_empty() && !name.contains('|') {
                let kind = match kind {
                    "md5" => "filename|md5",
                    "sha1" => "filename|sha1",
                    "sha224" => "filename|sha224",
                    "sha256" => "filename|sha256",
                    "sha384" => "filename|sha384",
                    _ => "filename|sha512",
                };
                return Some(Hit::new(kind, format!("{name}|{}", h.to_ascii_lowercase())));
            }
        }
    }
    if let Some(kind) = hash_type(t) {
        return Some(Hit::new(kind, t.to_ascii_lowercase()));
    }
    if is_ssdeep(t) {
        return Some(Hit::new("ssdeep", t));
    }
    // 3. Refang what is left.
    let refanged = refang(t);
    let v = trim_junk(&refanged);
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(Hit::new("ip-dst", ip.to_string()));
    }
    // 4. E-mail addresses.
    if is_email(v) {
        return Some(Hit::new("email-src", v.to_ascii_lowercase()));
    }
    // 5. ip:port, host:port, CIDR.
    if !v.contains('/') {
        if let Some((host, port)) = split_port(v) {
            let port_n: u32 = port.parse().ok()?;
            if port_n > 65535 {
                return None;
            }
            let mut hit = if let Ok(ip) = host.parse::<IpAddr>() {
                Hit::new("ip-dst|port", format!("{ip}|{port_n}"))
            } else if domain_like(host) {
                Hit::new(
                    "hostname|port",
                    format!(
                        "{}|{port_n}",
                        host.trim_end_matches('.').to_ascii_lowercase()
                    ),
                )
            } else {
                return None;
            };
            hit.comment = format!("On port {port_n}");
            return Some(hit);
        }
    }
    if let Some((addr, len)) = v.split_once('/') {
        if let (Ok(ip), Ok(n)) = (addr.parse::<IpAddr>(), len.parse::<u8>()) {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if n <= max && !len.starts_with('+') {
                return Some(Hit::new("ip-dst", format!("{ip}/{n}")));
            }
        }
    }
    // 6. URLs, host names, domains, file names, registry keys.
    if let Some(host) = url_host(v) {
        let h = host.to_ascii_lowercase();
        let vendor = VENDORS
            .iter()
            .any(|d| h == *d || h.ends_with(&format!(".{d}")));
        return Some(Hit::new(if vendor { "link" } else { "url" }, lower_host(v)));
    }
    if domain_like(v) {
        let d = v.trim_end_matches('.').to_ascii_lowercase();
        let kind = if d.split('.').count() > 2 {
            "hostname"
        } else {
            "domain"
        };
        return Some(Hit::new(kind, d));
    }
    if v.contains('\\') {
        let upper = v.to_ascii_uppercase();
        if upper.starts_with("HK") {
            return Some(Hit::new("regkey", v));
        }
        if is_filename(v) {
            return Some(Hit::new("filename", v));
        }
        return None;
    }
    if !v.contains('/') && !v.contains(':') && is_filename(v) {
        return Some(Hit::new("filename", v));
    }
    // 7. Vulnerabilities.
    if is_cve(v) {
        return Some(Hit::new("vulnerability", v.to_ascii_uppercase()));
    }
    // 8. Autonomous systems.
    if let Some(n) = v.strip_prefix("AS").or_else(|| v.strip_prefix("as")) {
        if !n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()) {
            return Some(Hit::new("AS", format!("AS{n}")));
        }
    }
    // 9. Bitcoin addresses.
    if is_btc(v) {
        return Some(Hit::new("btc", v));
    }
    None
}

/// Cuts a freetext body into candidate values (docs/design.md#misp-feeds, step 1), in order.
pub fn tokens(text: &str) -> Vec<String> {
    if text.trim_start().starts_with('{') {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let mut out = Vec::new();
            leaves(&v, &mut out);
            return out;
        }
    }
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c == '\u{a0}' || (c.is_control() && c != '\n') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut out: Vec<String> = cleaned
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '<' | '>' | ';'))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    // Every "quoted" substring too (a value with spaces or commas inside quotes).
    let mut rest = cleaned.as_str();
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        match after.find('"') {
            Some(end) => {
                if end > 0 {
                    out.push(after[..end].to_string());
                }
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

fn leaves(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        serde_json::Value::Object(m) => m.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<(&'static str, String)> {
        resolve(s).map(|h| (h.kind, h.value))
    }

    #[test]
    fn typing_follows_misp() {
        assert_eq!(kind("192.0.2.1"), Some(("ip-dst", "192.0.2.1".into())));
        assert_eq!(kind("2001:DB8::1"), Some(("ip-dst", "2001:db8::1".into())));
        assert_eq!(kind("192.0.2[.]1"), Some(("ip-dst", "192.0.2.1".into())));
        assert_eq!(
            kind("198.51.100.0/24"),
            Some(("ip-dst", "198.51.100.0/24".into()))
        );
        assert_eq!(
            kind("192.0.2.1:8080"),
            Some(("ip-dst|port", "192.0.2.1|8080".into()))
        );
        assert_eq!(
            kind("[2001:db8::1]:443"),
            Some(("ip-dst|port", "2001:db8::1|443".into()))
        );
        assert_eq!(
            kind("D41D8CD98F00B204E9800998ECF8427E"),
            Some(("md5", "d41d8cd98f00b204e9800998ecf8427e".into()))
        );
        assert_eq!(
            kind("evil.exe|d41d8cd98f00b204e9800998ecf8427e").unwrap().0,
            "filename|md5"
        );
        assert_eq!(kind("96:abc+/d:ef/+g").unwrap().0, "ssdeep");
        assert_eq!(kind("Bad[.]Com"), Some(("domain", "bad.com".into())));
        assert_eq!(kind("c2.bad.com."), Some(("hostname", "c2.bad.com".into())));
        assert_eq!(
            kind("hxxp://bad[.]com/x/Y"),
            Some(("url", "http://bad.com/x/Y".into()))
        );
        assert_eq!(kind("bad.com/path"), Some(("url", "bad.com/path".into())));
        assert_eq!(
            kind("https://www.virustotal.com/gui/file/x").unwrap().0,
            "link"
        );
        assert_eq!(
            kind("user[at]bad[.]com"),
            Some(("email-src", "user@bad.com".into()))
        );
        assert_eq!(
            kind("invoice.pdf.exe"),
            Some(("filename", "invoice.pdf.exe".into()))
        );
        assert_eq!(kind("HKLM\\Software\\Run").unwrap().0, "regkey");
        assert_eq!(
            kind("cve-2021-44228"),
            Some(("vulnerability", "CVE-2021-44228".into()))
        );
        assert_eq!(kind("AS64496"), Some(("AS", "AS64496".into())));
        assert_eq!(kind("1BoatSLRHtKNngkdXEeobR76b53LETtpyT").unwrap().0, "btc");
        assert_eq!(kind("hello"), None);
        assert_eq!(kind("3.14"), None);
        assert_eq!(kind("the"), None);
    }

    #[test]
    fn tokenising() {
        let t = tokens("a.com, b.com;<c.com>\n\"d e.com\" f\u{a0}g");
        assert!(t.contains(&"a.com".to_string()));
        assert!(t.contains(&"c.com".to_string()));
        assert!(t.contains(&"d e.com".to_string()));
        assert!(t.contains(&"g".to_string()));
        assert_eq!(
            tokens(r#"{"x":["a.com",{"y":"b.com"}],"n":1}"#),
            vec!["a.com", "b.com"]
        );
    }
}
