//! Private and reserved values (docs/design.md#values), never exported
//! without `--allow-private`: IP ranges, domain suffixes, AS numbers, and
//! URLs and e-mail addresses at such hosts.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use ipnet::IpNet;

use crate::map::indicator::ValueKind;
use crate::map::mapper::network::{
    host_of_hostport, host_of_url, parse_ip_value, rsplit_once_byte,
};
use crate::map::mapper::normalize::Seen;
use crate::map::policy::ipset::IpSet;
use crate::misp::value::trim;

/// Whether a value that [`normalize`](crate::map::mapper::normalize::normalize)
/// just wrote into `value` is private or reserved (`is_private`), from what
/// normalising saw: an IPv4 address is not parsed again, nor a URL searched
/// for its host again.
#[inline]
pub fn is_private_seen(kind: ValueKind, seen: Seen, value: &str) -> bool {
    match seen {
        Seen::V4(addr) => private_nets().contains_addr(IpAddr::V4(addr)),
        Seen::Net(net) => private_nets().overlaps(&net),
        Seen::HostPort(at) => host_of_hostport(&value[at]).is_some_and(is_private_host),
        // A valid name, lower-cased: `is_private_host` would find no IP in it.
        Seen::HostName(at) => is_private_domain(&value[at]),
        // Only these kinds can be private (`is_private`): no call for the others.
        Seen::Nothing => {
            matches!(
                kind,
                ValueKind::Ipv4 { .. }
                    | ValueKind::Ipv6 { .. }
                    | ValueKind::Domain
                    | ValueKind::Email
                    | ValueKind::Url
                    | ValueKind::AutonomousSystem
            ) && is_private(kind, value)
        }
    }
}

/// Loopback, RFC 1918, CGNAT, link-local, documentation, benchmarking,
/// multicast and other reserved ranges (IANA special-purpose registries).
const PRIVATE_NETS: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001:2::/48",
    "2001:db8::/32",
    "3fff::/20",
    "5f00::/16",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];

/// Domains that never leave a private network or are reserved (RFC 6761, 6762, 8375).
const PRIVATE_SUFFIXES: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "home.arpa",
    "invalid",
    "lan",
    "intranet",
];

pub fn private_nets() -> &'static IpSet {
    static SET: OnceLock<IpSet> = OnceLock::new();
    SET.get_or_init(|| IpSet::from_static(PRIVATE_NETS))
}

fn is_private_domain(d: &str) -> bool {
    // Most names end in a letter no suffix ends in: no suffix compared then.
    let last = d.as_bytes().last();
    if !PRIVATE_SUFFIXES.iter().any(|s| s.as_bytes().last() == last) {
        return false;
    }
    PRIVATE_SUFFIXES.iter().any(|s| {
        d == *s
            || (d.len() > s.len() && d.ends_with(s) && d.as_bytes()[d.len() - s.len() - 1] == b'.')
    })
}

/// Private or reserved ASNs (RFC 5398 documentation, RFC 6996 private use, 0, 23456, 65535…).
fn is_private_asn(n: u32) -> bool {
    matches!(n, 0 | 23456 | 64496..=65551 | 4_200_000_000..=u32::MAX)
}

/// Whether a normalised value of this kind is private or reserved. A CIDR
/// block is private when it overlaps any private range (so `0.0.0.0/0` is).
/// (`is_private_seen` lists the kinds this can be true for: keep both in step.)
fn is_private(kind: ValueKind, value: &str) -> bool {
    match kind {
        ValueKind::Ipv4 { .. } | ValueKind::Ipv6 { .. } => {
            // The usual value, a plain IPv4 address, without the general parse.
            if let Ok(addr) = value.parse::<Ipv4Addr>() {
                return private_nets().overlaps(&IpNet::from(IpAddr::V4(addr)));
            }
            parse_ip_value(value).is_some_and(|n| private_nets().overlaps(&n))
        }
        ValueKind::Domain => is_private_domain(value),
        ValueKind::Email => {
            rsplit_once_byte(value, b'@').is_some_and(|(_, d)| is_private_domain(d))
        }
        ValueKind::Url => host_of_url(value).is_some_and(is_private_host),
        ValueKind::AutonomousSystem => value.parse().is_ok_and(is_private_asn),
        _ => false,
    }
}

/// Whether a URL's host is a private or reserved address or name.
fn is_private_host(h: &str) -> bool {
    match may_be_ip(h).then(|| parse_ip_value(h)).flatten() {
        Some(n) => private_nets().overlaps(&n),
        // Normalised hosts are lower-case already: no copy then.
        None if h.bytes().any(|b| b.is_ascii_uppercase()) => {
            is_private_domain(&h.to_ascii_lowercase())
        }
        None => is_private_domain(h),
    }
}

/// False where [`parse_ip_value`] surely fails (most URL hosts, domain names):
/// what it reads ends with a digit (IPv4, a prefix length) or has a `:` (IPv6).
fn may_be_ip(v: &str) -> bool {
    let v = trim(v).trim_start_matches('[').trim_end_matches(']');
    v.ends_with(|c: char| c.is_ascii_digit()) || v.contains(':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::mapper::normalize::{normalize, Norm};

    #[test]
    fn the_private_check_agrees_with_is_private() {
        for (t, v) in [
            ("ip-dst", "10.1.2.3"),
            ("ip-dst", "8.8.8.8"),
            ("ip-dst", "192.0.2[.]1"),
            ("ip-src", "fe80::1"),
            ("ip-src", "45.0.0.0/8"),
            ("ip-dst", "[10.0.0.1]"),
            ("ip-dst", "::ffff:10.0.0.1"),
            ("ip-dst", "::ffff:8.8.8.0/120"),
            ("ip-dst", "2001:db8::/32"),
            ("ip-dst", "2606:4700::1111/128"),
            ("ip-dst", "10.0.0.0/32"),
            ("ip-dst", "0.0.0.0/0"),
            ("url", "http://10.0.0.1/x"),
            ("url", "hxxp://User@Nas.Home.Arpa.:8080/x?y#z"),
            ("url", "https://[fd00::1]:443/"),
            ("url", "https://[2606:4700::1111]/"),
            ("url", "bad.example.com/path"),
            ("url", "ftp://a:b@printer.local"),
            ("link", "http://198.51.100.7:80"),
            ("url", "http://8.8.8.8:8080/x"),
            ("url", "http://u:p@10.0.0.1/"),
            ("url", "HTTP://Printer.LOCAL./x"),
            ("url", "http://Good.Example.:80"),
            ("url", "http://a.b.localhost:1/"),
            ("url", "https://bücher.local/"),
            ("url", "https://bücher.example/"),
            ("url", "http://x.internal"),
            ("url", "http://x.internal.example"),
            ("url", "http://[::ffff:10.0.0.1]/"),
            ("url", "http://[::ffff:8.8.8.8]:80/"),
            ("url", "http://a1.b2/x"),
            ("url", "host.lan:8080"),
            ("domain", "printer.local"),
            ("domain", "good.example"),
            ("email-src", "a@mail.internal"),
            ("AS", "AS64512"),
            ("sha256", &"a".repeat(64)),
        ] {
            let mut out = String::new();
            let (kind, seen) = normalize(Norm::of(t).unwrap(), v, &mut out).unwrap();
            assert_eq!(
                is_private_seen(kind, seen, &out),
                is_private(kind, &out),
                "{v}"
            );
        }
    }

    #[test]
    fn the_private_check_agrees_for_every_type() {
        let values = [
            "10.0.0.1",
            "fe80::1",
            "printer.local",
            "a@mail.internal",
            "AS64512",
            "64512",
            "http://10.0.0.1/x",
            "http://printer.local/x",
        ];
        for t in crate::map::mapper::mapped_types() {
            let Some(norm) = Norm::of(t) else { continue };
            for v in values {
                let mut out = String::new();
                if let Ok((kind, seen)) = normalize(norm, v, &mut out) {
                    assert_eq!(
                        is_private_seen(kind, seen, &out),
                        is_private(kind, &out),
                        "{t} {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn private_ranges() {
        let p = |t: &str, v: &str| {
            let mut out = String::new();
            let (k, _) = normalize(Norm::of(t).unwrap(), v, &mut out).unwrap();
            is_private(k, &out)
        };
        for v in [
            "10.1.2.3",
            "192.168.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.9",
            "::1",
            "fe80::1",
            "2001:db8::1",
            "fd00::1",
            "0.0.0.0/0",
            "100.64.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(p("ip-dst", v), "{v}");
        }
        for v in ["8.8.8.8", "2606:4700::1111", "45.0.0.0/8"] {
            assert!(!p("ip-dst", v), "{v}");
        }
        assert!(p("domain", "printer.local"));
        assert!(p("hostname", "x.localhost"));
        assert!(!p("domain", "notlocal.example"));
        assert!(p("url", "http://10.0.0.1/x"));
        assert!(p("url", "http://nas.home.arpa/"));
        assert!(!p("url", "http://bad.example.com/"));
        assert!(p("email-src", "a@mail.internal"));
        assert!(p("AS", "AS64512"));
        assert!(!p("AS", "AS13335"));
    }
}
