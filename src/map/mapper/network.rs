//! Reading network values back: an IP address or CIDR block into its
//! block, a URL or `host[:port]` into its host. Normalising writes these
//! values (`normalize`); the private-range check, the allowlist and the
//! warninglists read them.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};

use crate::misp::value::trim;

/// Parses an IP or CIDR value into its canonical block: brackets and host
/// bits dropped, IPv4-mapped IPv6 as IPv4 (as normalising writes it).
pub fn parse_ip_value(v: &str) -> Option<IpNet> {
    let v = trim(v).trim_start_matches('[').trim_end_matches(']');
    let net = if let Some((addr, len)) = v.split_once('/') {
        let addr: IpAddr = addr.parse().ok()?;
        if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        IpNet::new(addr, len.parse().ok()?).ok()?.trunc()
    } else {
        IpNet::from(v.parse::<IpAddr>().ok()?)
    };
    Some(unmap(net))
}

fn unmap(net: IpNet) -> IpNet {
    if let IpNet::V6(n) = net {
        if let Some(v4) = n.addr().to_ipv4_mapped() {
            if n.prefix_len() >= 96 {
                let net = Ipv4Net::new(v4, n.prefix_len() - 96).expect("prefix in range");
                return IpNet::V4(net);
            }
        }
    }
    net
}

/// `v.split_once("://")`, found with memchr (`str::split_once` with a
/// string pattern sets up a general substring search for every URL).
#[inline]
pub fn split_scheme(v: &str) -> Option<(&str, &str)> {
    let b = v.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b':', &b[from..]) {
        let at = from + i;
        if b[at + 1..].starts_with(b"//") {
            return Some((&v[..at], &v[at + 3..]));
        }
        from = at + 1;
    }
    None
}

/// `s.rsplit_once(b)` for an ASCII byte `b`, by memrchr: `rsplit_once`
/// with a char sets up a searcher that costs more than the search on values
/// this short.
#[inline]
pub fn rsplit_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    debug_assert!(b.is_ascii());
    let i = memchr::memrchr(b, s.as_bytes())?;
    Some((&s[..i], &s[i + 1..]))
}

/// The host of a normalised absolute URL (`None` for a bare path).
pub fn host_of_url(url: &str) -> Option<&str> {
    let rest = split_scheme(url)?.1;
    let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
    let authority = &rest[..end];
    host_of_hostport(rsplit_once_byte(authority, b'@').map_or(authority, |(_, h)| h))
}

/// The host of `host[:port]` or `[v6][:port]`, as [`host_of_url`] gives it.
pub fn host_of_hostport(hostport: &str) -> Option<&str> {
    if let Some(r) = hostport.strip_prefix('[') {
        return r.split(']').next();
    }
    Some(
        rsplit_once_byte(hostport, b':')
            .map_or(hostport, |(h, _)| h)
            .trim_end_matches('.'),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rsplit_once_byte_is_rsplit_once() {
        for s in ["", "@", "a@b@c", "no", "é@ü", "[::1]:80", "a:", ":b", "x.y"] {
            for b in [b'@', b':'] {
                assert_eq!(
                    super::rsplit_once_byte(s, b),
                    s.rsplit_once(b as char),
                    "{s}"
                );
            }
        }
    }
}
