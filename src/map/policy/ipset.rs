//! A set of IP ranges (addresses and CIDR blocks) with fast overlap tests:
//! sorted, merged intervals searched by bisection. Used for the private and
//! reserved ranges, `--allowlist` and warninglists of type `cidr`, which can
//! hold tens of thousands of blocks.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
    sorted: bool,
}

/// Parses `192.0.2.1`, `192.0.2.0/24`, `2001:db8::/32` (host bits allowed and dropped).
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if s.contains('/') {
        s.parse::<IpNet>().ok().map(|n| n.trunc())
    } else {
        s.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()
            .map(IpNet::from)
    }
}

fn bounds(net: &IpNet) -> Bounds {
    match net {
        IpNet::V4(n) => Bounds::V4(n.network().into(), n.broadcast().into()),
        IpNet::V6(n) => Bounds::V6(n.network().into(), n.broadcast().into()),
    }
}

enum Bounds {
    V4(u32, u32),
    V6(u128, u128),
}

impl IpSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a set from a list of CIDR strings; panics on a bad literal (for built-in lists).
    pub fn from_static(list: &[&str]) -> Self {
        let mut s = Self::new();
        for n in list {
            s.insert(parse_net(n).expect("a valid built-in CIDR"));
        }
        s.finish();
        s
    }

    pub fn insert(&mut self, net: IpNet) {
        match bounds(&net) {
            Bounds::V4(a, b) => self.v4.push((a, b)),
            Bounds::V6(a, b) => self.v6.push((a, b)),
        }
        self.sorted = false;
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Sorts and merges; call after the last insert.
    pub fn finish(&mut self) {
        merge(&mut self.v4);
        merge(&mut self.v6);
        self.sorted = true;
    }

    /// Whether any address of `net` is in the set.
    pub fn overlaps(&self, net: &IpNet) -> bool {
        debug_assert!(self.sorted || self.is_empty(), "IpSet::finish not called");
        match bounds(net) {
            Bounds::V4(a, b) => overlaps(&self.v4, a, b),
            Bounds::V6(a, b) => overlaps(&self.v6, a, b),
        }
    }

    /// Whether `ip` is in the set: [`IpSet::overlaps`] of its /32 or /128,
    /// whose bounds are the address itself (no block built).
    pub fn contains_addr(&self, ip: IpAddr) -> bool {
        debug_assert!(self.sorted || self.is_empty(), "IpSet::finish not called");
        match ip {
            IpAddr::V4(a) => overlaps(&self.v4, u32::from(a), u32::from(a)),
            IpAddr::V6(a) => overlaps(&self.v6, u128::from(a), u128::from(a)),
        }
    }
}

fn merge<T: Ord + Copy + Successor>(v: &mut Vec<(T, T)>) {
    v.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(v.len());
    for &(a, b) in v.iter() {
        match out.last_mut() {
            Some(last) if last.1.succ().is_none_or(|n| a <= n) => {
                if b > last.1 {
                    last.1 = b;
                }
            }
            _ => out.push((a, b)),
        }
    }
    *v = out;
}

fn overlaps<T: Ord + Copy>(v: &[(T, T)], a: T, b: T) -> bool {
    // The first interval whose end is >= a; it overlaps when it starts <= b.
    let i = v.partition_point(|&(_, end)| end < a);
    v.get(i).is_some_and(|&(start, _)| start <= b)
}

trait Successor: Sized {
    fn succ(self) -> Option<Self>;
}
impl Successor for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}
impl Successor for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_and_containment() {
        let s = IpSet::from_static(&[
            "10.0.0.0/8",
            "192.0.2.0/24",
            "192.0.3.0/24",
            "2001:db8::/32",
        ]);
        let t = |x: &str| s.overlaps(&parse_net(x).unwrap());
        assert!(t("10.1.2.3"));
        assert!(t("192.0.3.255"));
        assert!(!t("192.0.4.0"));
        assert!(t("0.0.0.0/0"), "a block containing a listed range overlaps");
        assert!(t("2001:db8:1::/48"));
        assert!(!t("2001:db9::1"));
        assert!(!t("11.0.0.0/8"));
        assert_eq!(s.len(), 3, "adjacent blocks merge");
    }

    proptest::proptest! {
        #[test]
        fn contains_addr_is_overlaps_of_the_address(v4: u32, v6: u128, near: u32) {
            let s = IpSet::from_static(&["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "::1/128"]);
            let near_v4 = 0x0a00_0000u32.wrapping_add(near % 0x0200_0000).wrapping_sub(0x0100_0000);
            let v6_near = 0x2001_0db8u128 << 96 | u128::from(near);
            for ip in [
                IpAddr::from(std::net::Ipv4Addr::from(v4)),
                IpAddr::from(std::net::Ipv4Addr::from(near_v4)),
                IpAddr::from(std::net::Ipv6Addr::from(v6)),
                IpAddr::from(std::net::Ipv6Addr::from(v6_near)),
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(near % 3))),
            ] {
                proptest::prop_assert_eq!(s.contains_addr(ip), s.overlaps(&IpNet::from(ip)), "{}", ip);
            }
        }
    }

    #[test]
    fn parses_nets() {
        assert_eq!(
            parse_net("198.51.100.7/24").unwrap().to_string(),
            "198.51.100.0/24"
        );
        assert_eq!(
            parse_net("[2001:db8::1]").unwrap().to_string(),
            "2001:db8::1/128"
        );
        assert!(parse_net("300.1.1.1").is_none());
    }
}
