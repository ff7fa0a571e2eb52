//! Value normalisation (docs/design.md#values): trim; refang network values; lower-case
//! hashes, domains and e-mail domains; parse IPs and write them canonically;
//! give scheme-less URLs `http://`. A value that is still not valid for its
//! type is rejected with `invalid value`. (Which values are private or
//! reserved: `map::policy::private`.)
//!
//! IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, and blocks of at least
//! /96 inside `::ffff:0:0/96`) are written as the IPv4 address or block they
//! carry: that is the address that talks on the wire, and the form Sentinel
//! and Defender match on.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::map::indicator::{HashAlgo, RuleLang, SkipReason, ValueKind};
use crate::map::mapper::network::{parse_ip_value, rsplit_once_byte, split_scheme};
use crate::misp::refang::refang;
use crate::misp::value::{domain_is_ascii, is_domain, trim};

fn invalid(why: impl Into<String>) -> SkipReason {
    SkipReason::InvalidValue(why.into())
}

/// How values of one plain MISP type are normalised: decided once per type
/// (the type table keeps it), not by comparing type names for every value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    Hash(HashAlgo),
    Ip,
    Domain,
    Url,
    Uri,
    Email(ValueKind),
    Text(ValueKind),
    X509(HashAlgo),
    Asn,
    Mac,
    Rule(RuleLang),
}

impl Norm {
    /// The normaliser of a plain (non-composite) type that ioc-map maps.
    pub fn of(part_type: &str) -> Option<Norm> {
        if let Some(algo) = HashAlgo::from_misp(part_type) {
            return Some(Norm::Hash(algo));
        }
        Some(match part_type {
            "ip-src" | "ip-dst" | "ip" => Norm::Ip,
            "domain" | "hostname" | "onion-address" => Norm::Domain,
            "url" | "link" => Norm::Url,
            "uri" => Norm::Uri,
            "email" | "email-src" | "email-dst" => Norm::Email(ValueKind::Email),
            "email-reply-to" => Norm::Email(ValueKind::EmailReplyTo),
            "email-src-display-name" | "email-dst-display-name" => {
                Norm::Text(ValueKind::EmailDisplayName)
            }
            "email-subject" => Norm::Text(ValueKind::EmailSubject),
            "email-x-mailer" => Norm::Text(ValueKind::EmailXMailer),
            "email-attachment" => Norm::Text(ValueKind::EmailAttachment),
            "x509-fingerprint-md5" => Norm::X509(HashAlgo::Md5),
            "x509-fingerprint-sha1" => Norm::X509(HashAlgo::Sha1),
            "x509-fingerprint-sha256" => Norm::X509(HashAlgo::Sha256),
            "filename" => Norm::Text(ValueKind::FileName),
            "regkey" => Norm::Text(ValueKind::RegistryKey),
            "mutex" => Norm::Text(ValueKind::Mutex),
            "user-agent" => Norm::Text(ValueKind::UserAgent),
            "github-username" => Norm::Text(ValueKind::GithubUsername),
            "AS" => Norm::Asn,
            "mac-address" => Norm::Mac,
            _ => Norm::Rule(RuleLang::from_misp(part_type)?),
        })
    }
}

/// What normalising a value saw that tells whether it is private: the
/// private check need not parse an IPv4 address again, nor search a URL for
/// its host again.
pub enum Seen {
    Nothing,
    V4(Ipv4Addr),
    /// The block an IP value was written from.
    Net(IpNet),
    /// Where a URL's host, a DNS name, is in the output (lower-case, no trailing dot).
    HostName(std::ops::Range<usize>),
    /// Where a URL's `host[:port]` is in the output (an IPv6 literal host).
    HostPort(std::ops::Range<usize>),
}

/// Normalises `raw`, a value of a plain type whose normaliser is `norm`
/// ([`Norm::of`]), into `out` (cleared first) and says what kind of
/// observable it is, and what normalising saw that tells whether it is
/// private ([`crate::map::policy::private::is_private_seen`]). Inlined into
/// its caller, with that check, so that what it saw needs no materialising.
#[inline]
pub fn normalize(norm: Norm, raw: &str, out: &mut String) -> Result<(ValueKind, Seen), SkipReason> {
    out.clear();
    let v = trim(raw);
    if v.is_empty() {
        return Err(invalid("empty"));
    }
    let kind = match norm {
        Norm::Hash(algo) => {
            hash(algo, v, out)?;
            ValueKind::Hash(algo)
        }
        // A plain IPv4 address or a valid domain name has no bracket nor
        // defanged scheme (`hxxp:`): refanging it would change nothing.
        Norm::Ip => match v.parse::<Ipv4Addr>() {
            Ok(addr) => {
                out.push_str(v);
                return Ok((ValueKind::Ipv4 { cidr: false }, Seen::V4(addr)));
            }
            Err(_) => return ip(&refang(v), out),
        },
        Norm::Domain => {
            if domain(v, out).is_err() {
                domain(&refang(v), out)?;
            }
            ValueKind::Domain
        }
        Norm::Url => {
            let seen = url(&refang(v), true, out)?;
            return Ok((ValueKind::Url, seen));
        }
        Norm::Uri => {
            let v = refang(v);
            if v.contains("://") {
                url(&v, true, out)?;
            } else {
                text(&v, out)?;
            }
            ValueKind::Url
        }
        Norm::Email(kind) => {
            email(&refang(v), out)?;
            kind
        }
        Norm::Text(kind) => {
            text(v, out)?;
            kind
        }
        Norm::X509(algo) => x509(algo, v, out)?,
        Norm::Asn => {
            asn(v, out)?;
            ValueKind::AutonomousSystem
        }
        Norm::Mac => {
            mac(v, out)?;
            ValueKind::MacAddress
        }
        Norm::Rule(lang) => {
            out.push_str(v);
            ValueKind::Rule(lang)
        }
    };
    Ok((kind, Seen::Nothing))
}

/// Free text (file names, registry keys, subjects, …): trimmed, no control characters.
fn text(v: &str, out: &mut String) -> Result<(), SkipReason> {
    if v.chars().any(|c| c.is_control()) {
        return Err(invalid("control character"));
    }
    out.push_str(v);
    Ok(())
}

fn hash(algo: HashAlgo, v: &str, out: &mut String) -> Result<(), SkipReason> {
    // (`v` is trimmed already.)
    let v = if v.starts_with(['"', '\'']) || v.ends_with(['"', '\'']) {
        v.trim_matches(|c| c == '"' || c == '\'').trim()
    } else {
        v
    };
    match algo {
        HashAlgo::Ssdeep | HashAlgo::Impfuzzy => {
            // blocksize:hash:hash, base64 alphabet: case matters.
            let mut it = v.splitn(3, ':');
            let ok = it
                .next()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                && it.all(|p| {
                    !p.is_empty()
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
                });
            if !ok || v.matches(':').count() != 2 {
                return Err(invalid(format!("not a {} hash", misp_hash_name(algo))));
            }
            out.push_str(v);
        }
        HashAlgo::Vhash => {
            if v.bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
            {
                return Err(invalid("not a vhash"));
            }
            out.push_str(v);
        }
        HashAlgo::Tlsh | HashAlgo::Telfhash => {
            // Optional version prefix `T1` (written `T1` for TLSH, `t1` for telfhash), then hex.
            let (prefix, hex) = match v.get(..2) {
                Some(p) if p.eq_ignore_ascii_case("t1") => {
                    (if algo == HashAlgo::Tlsh { "T1" } else { "t1" }, &v[2..])
                }
                _ => ("", v),
            };
            if hex.len() < 64 || !all_hex(hex) {
                return Err(invalid(format!("not a {} digest", misp_hash_name(algo))));
            }
            out.push_str(prefix);
            push_lower(out, hex);
        }
        _ => {
            let ok_len = match algo.hex_len() {
                Some(n) => v.len() == n,
                None => v.len() >= 40, // cdhash
            };
            if !ok_len || !all_hex(v) {
                return Err(invalid(format!(
                    "not a {} hash (expected {} hex digits)",
                    misp_hash_name(algo),
                    algo.hex_len()
                        .map_or("32 or more".to_string(), |n| n.to_string())
                )));
            }
            push_lower(out, v);
        }
    }
    Ok(())
}

/// Whether every byte is a hex digit: no early exit, so that it compiles to
/// a few vector instructions per 32 bytes (a hash is checked for every value).
fn all_hex(v: &str) -> bool {
    v.bytes().fold(true, |ok, b| {
        ok & ((b.wrapping_sub(b'0') < 10) | ((b | 0x20).wrapping_sub(b'a') < 6))
    })
}

fn misp_hash_name(algo: HashAlgo) -> String {
    format!("{algo:?}").to_ascii_lowercase()
}

fn push_lower(out: &mut String, v: &str) {
    let start = out.len();
    out.push_str(v);
    out[start..].make_ascii_lowercase();
}

fn x509(algo: HashAlgo, v: &str, out: &mut String) -> Result<ValueKind, SkipReason> {
    let want = algo.hex_len().expect("fixed-length digest");
    let hex: String = v.chars().filter(|&c| c != ':').collect();
    if hex.len() != want || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "not a certificate fingerprint ({want} hex digits)"
        )));
    }
    push_lower(out, &hex);
    Ok(ValueKind::X509(algo))
}

/// An IPv4/IPv6 address or CIDR block, canonical (IPv6 compressed, host bits
/// dropped, /32 and /128 written as plain addresses, IPv4-mapped as IPv4).
fn ip(v: &str, out: &mut String) -> Result<(ValueKind, Seen), SkipReason> {
    // The usual value, a plain IPv4 address, is canonical as it is (the parser
    // takes no leading zeros nor anything else that would be written differently).
    let bare = trim(v).trim_start_matches('[').trim_end_matches(']');
    if let Ok(addr) = bare.parse::<Ipv4Addr>() {
        out.push_str(bare);
        return Ok((ValueKind::Ipv4 { cidr: false }, Seen::V4(addr)));
    }
    let net = parse_ip_value(v).ok_or_else(|| invalid("not an IP address or CIDR block"))?;
    write_net(&net, out);
    // What is written parses back to `net`: the private check needs no parse.
    Ok((net_kind(&net), Seen::Net(net)))
}

fn write_net(net: &IpNet, out: &mut String) {
    if net.prefix_len() == net.max_prefix_len() {
        let _ = write!(out, "{}", net.addr());
    } else {
        let _ = write!(out, "{}/{}", net.network(), net.prefix_len());
    }
}

fn net_kind(net: &IpNet) -> ValueKind {
    let cidr = net.prefix_len() != net.max_prefix_len();
    match net {
        IpNet::V4(_) => ValueKind::Ipv4 { cidr },
        IpNet::V6(_) => ValueKind::Ipv6 { cidr },
    }
}

/// A DNS name: lower-case, no trailing dot, at least two labels, not an IP.
fn domain(v: &str, out: &mut String) -> Result<(), SkipReason> {
    let v = trim(v).trim_end_matches('.');
    match domain_is_ascii(v) {
        None => return Err(invalid("not a domain name")),
        Some(true) => push_lower(out, v),
        Some(false) => out.push_str(&v.to_lowercase()),
    }
    Ok(())
}

/// An e-mail address: the domain lower-cased and checked, the local part kept.
fn email(v: &str, out: &mut String) -> Result<(), SkipReason> {
    let v = trim(v);
    let v = v
        .strip_prefix("mailto:")
        .unwrap_or(v)
        .trim_start_matches('<')
        .trim_end_matches('>');
    let (local, dom) = rsplit_once_byte(v, b'@').ok_or_else(|| invalid("not an e-mail address"))?;
    if local.is_empty() || local.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("not an e-mail address"));
    }
    out.push_str(local);
    out.push('@');
    domain(dom, out).map_err(|_| invalid("not an e-mail address (bad domain)"))
}

/// An absolute URL: scheme and host lower-cased; `http://` added when there
/// is no scheme. Returns what the private check needs of its host.
fn url(v: &str, add_scheme: bool, out: &mut String) -> Result<Seen, SkipReason> {
    let v = trim(v);
    // ASCII white space and control characters are the bytes <= ' ' and DEL.
    let bad = if v.is_ascii() {
        v.bytes()
            .fold(false, |bad, b| bad | (b <= b' ') | (b == 0x7f))
    } else {
        v.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if bad {
        return Err(invalid("URL with white space"));
    }
    let (scheme, rest) = match split_scheme(v) {
        Some((s, r))
            if !s.is_empty()
                && s.starts_with(|c: char| c.is_ascii_alphabetic())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) =>
        {
            (s, r)
        }
        Some(_) => return Err(invalid("not a URL (bad scheme)")),
        None if add_scheme => ("http", v),
        None => return Err(invalid("not a URL")),
    };
    let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match rsplit_once_byte(authority, b'@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let host = url_host(hostport).ok_or_else(|| invalid("not a URL (bad host)"))?;
    push_lower(out, scheme);
    out.push_str("://");
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    let at = out.len();
    push_lower(out, hostport);
    let seen = match host {
        UrlHost::V4(addr) => Seen::V4(addr),
        UrlHost::Name(len) => Seen::HostName(at..at + len),
        UrlHost::V6 => Seen::HostPort(at..out.len()),
    };
    out.push_str(tail);
    Ok(seen)
}

/// What a URL's host is.
enum UrlHost {
    V4(Ipv4Addr),
    /// A DNS name, this long without its trailing dots.
    Name(usize),
    /// `[v6]`.
    V6,
}

/// Checks `host[:port]` (or `[v6]:port`) and says what its host is.
fn url_host(hostport: &str) -> Option<UrlHost> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let close = rest.find(']')?;
        rest[..close].parse::<Ipv6Addr>().ok()?;
        (&hostport[..close + 2], &rest[close + 1..])
    } else {
        match rsplit_once_byte(hostport, b':') {
            Some((h, _)) => (h, &hostport[h.len()..]),
            None => (hostport, ""),
        }
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if !digits.is_empty() && digits.parse::<u16>().is_err() {
            return None;
        }
    }
    if host.starts_with('[') {
        return Some(UrlHost::V6);
    }
    if let Ok(addr) = host.parse::<Ipv4Addr>() {
        return Some(UrlHost::V4(addr));
    }
    let name = host.trim_end_matches('.');
    is_domain(name).then_some(UrlHost::Name(name.len()))
}

/// `AS64496`, `as64496` or `64496` → `64496`.
fn asn(v: &str, out: &mut String) -> Result<(), SkipReason> {
    let digits = v
        .strip_prefix("AS")
        .or_else(|| v.strip_prefix("as"))
        .or_else(|| v.strip_prefix("As"))
        .unwrap_or(v)
        .trim();
    let n: u32 = digits.parse().map_err(|_| invalid("not an AS number"))?;
    let _ = write!(out, "{n}");
    Ok(())
}

/// A MAC address in any common notation → `00:00:5e:00:53:01`.
fn mac(v: &str, out: &mut String) -> Result<(), SkipReason> {
    let hex: Vec<u8> = v.bytes().filter(|b| !b":-.".contains(b)).collect();
    if hex.len() != 12 || !hex.iter().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid("not a MAC address"));
    }
    for (i, pair) in hex.chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(pair[0].to_ascii_lowercase() as char);
        out.push(pair[1].to_ascii_lowercase() as char);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::mapper::network::host_of_url;

    fn n(t: &str, v: &str) -> Result<(ValueKind, String), SkipReason> {
        let mut out = String::new();
        let norm = Norm::of(t).ok_or(SkipReason::NotIndicatorType)?;
        normalize(norm, v, &mut out).map(|(k, _)| (k, out))
    }

    fn ok(t: &str, v: &str) -> String {
        n(t, v).unwrap_or_else(|e| panic!("{t} {v:?}: {e}")).1
    }

    #[test]
    fn all_hex_is_is_ascii_hexdigit() {
        for b in 0..=255u8 {
            let s = [b'a', b, b'0'];
            if let Ok(s) = std::str::from_utf8(&s) {
                assert_eq!(all_hex(s), b.is_ascii_hexdigit(), "{b}");
            }
        }
        assert!(all_hex(""));
    }

    #[test]
    fn ips_canonical() {
        assert_eq!(
            n("ip-dst", " 198.51.100.7 ").unwrap(),
            (ValueKind::Ipv4 { cidr: false }, "198.51.100.7".into())
        );
        assert_eq!(ok("ip-src", "2001:0DB8:0000::0007"), "2001:db8::7");
        assert_eq!(
            n("ip-dst", "198.51.100.7/24").unwrap(),
            (ValueKind::Ipv4 { cidr: true }, "198.51.100.0/24".into())
        );
        assert_eq!(ok("ip-dst", "198.51.100.7/32"), "198.51.100.7");
        assert_eq!(
            n("ip-dst", "2001:db8::/32").unwrap().0,
            ValueKind::Ipv6 { cidr: true }
        );
        assert_eq!(ok("ip-dst", "[2001:db8::1]"), "2001:db8::1");
        assert_eq!(ok("ip-dst", "::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(ok("ip-dst", "::ffff:192.0.2.0/120"), "192.0.2.0/24");
        assert_eq!(ok("ip-dst", "192.0.2[.]1"), "192.0.2.1");
        for bad in [
            "300.1.1.1",
            "1.2.3",
            "198.51.100.0/33",
            "198.51.100.0/",
            "010.1.1.1",
            "fe80::1%eth0",
            "x",
        ] {
            assert!(
                matches!(n("ip-dst", bad), Err(SkipReason::InvalidValue(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn domains_and_urls() {
        assert_eq!(ok("domain", "C2.Example.NET."), "c2.example.net");
        assert_eq!(ok("hostname", "www[.]example[.]com"), "www.example.com");
        assert!(n("domain", "localhost-nodot").is_err());
        assert!(n("domain", "192.0.2.1").is_err());
        assert!(n("domain", "bad domain.example").is_err());
        assert_eq!(
            ok("url", "hxxps://Bad[.]Example.com/Path?Q=1"),
            "https://bad.example.com/Path?Q=1"
        );
        assert_eq!(ok("url", "bad.example.com/x"), "http://bad.example.com/x");
        assert_eq!(
            ok("url", "HTTP://user@Example.com:8080"),
            "http://user@example.com:8080"
        );
        assert_eq!(
            ok("url", "http://[2001:DB8::1]:80/x"),
            "http://[2001:db8::1]:80/x"
        );
        assert_eq!(ok("uri", "/admin/x.php"), "/admin/x.php");
        assert!(n("url", "http://bad example/").is_err());
        assert!(n("url", "http:///x").is_err());
        assert!(n("url", "http://bad.example:99999/").is_err());
        assert_eq!(
            host_of_url("http://u@Bad.example:80/x"),
            Some("Bad.example")
        );
    }

    #[test]
    fn emails_hashes_and_others() {
        assert_eq!(
            ok("email-src", "Alice[at]Example[.]ORG"),
            "Alice@example.org"
        );
        assert!(n("email-src", "no-at-sign").is_err());
        assert_eq!(
            ok("md5", "\"D41D8CD98F00B204E9800998ECF8427E\""),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(n("sha256", "abc").is_err());
        assert!(n("sha1", &"g".repeat(40)).is_err());
        assert_eq!(
            ok("ssdeep", "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"),
            "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"
        );
        assert!(n("ssdeep", "3:abc").is_err());
        assert_eq!(
            ok(
                "x509-fingerprint-sha1",
                "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"
            ),
            "abcdef0123456789abcdef0123456789abcdef01"
        );
        assert_eq!(ok("AS", "AS64496"), "64496");
        assert!(n("AS", "ASx").is_err());
        assert_eq!(ok("mac-address", "00-00-5E-00-53-01"), "00:00:5e:00:53:01");
        assert_eq!(ok("regkey", " HKLM\\Software\\Run "), "HKLM\\Software\\Run");
        assert_eq!(
            ok("filename", "a[.]exe"),
            "a[.]exe",
            "never refang non-network values"
        );
        assert!(matches!(
            n("btc", "1abc"),
            Err(SkipReason::NotIndicatorType)
        ));
        assert!(matches!(
            n("domain", "  "),
            Err(SkipReason::InvalidValue(_))
        ));
    }
}
