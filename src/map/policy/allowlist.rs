//! `--allowlist FILE`: values that must never be exported. One entry a line
//! (`#` starts a comment): an IP address or CIDR block (matches addresses and
//! overlapping blocks, and URLs on such an IP), a domain (matches itself and
//! every subdomain, in domain, URL and e-mail values), or any other value
//! (matched exactly, ignoring case).

use std::collections::HashSet;

use crate::error::{Error, Result};
use crate::map::indicator::ValueKind;
use crate::map::mapper::network::{host_of_url, parse_ip_value};
use crate::map::policy::ipset::IpSet;
use crate::misp::value::is_domain;

#[derive(Debug, Default)]
pub struct Allowlist {
    exact: HashSet<String>,
    domains: HashSet<String>,
    nets: IpSet,
}

impl Allowlist {
    pub fn load(paths: &[std::path::PathBuf]) -> Result<Self> {
        let mut a = Allowlist::default();
        for p in paths {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            a.add_text(&text);
        }
        a.nets.finish();
        Ok(a)
    }

    fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let e = line.split('#').next().unwrap_or("").trim();
            if e.is_empty() {
                continue;
            }
            if let Some(net) = parse_ip_value(e) {
                self.nets.insert(net);
            } else if is_domain(e.trim_start_matches("*.").trim_end_matches('.')) {
                let d = e.trim_start_matches("*.").trim_end_matches('.');
                self.domains.insert(d.to_lowercase());
            } else {
                self.exact.insert(e.to_lowercase());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.domains.is_empty() && self.nets.is_empty()
    }

    /// Whether a normalised value is allowlisted.
    /// Inline, so that a run without an allowlist (most) pays no call.
    #[inline]
    pub fn matches(&self, kind: ValueKind, value: &str) -> bool {
        !self.is_empty() && self.matches_loaded(kind, value)
    }

    fn matches_loaded(&self, kind: ValueKind, value: &str) -> bool {
        if !self.exact.is_empty() && self.exact.contains(value.to_lowercase().as_str()) {
            return true;
        }
        match host_of(kind, value) {
            Some(Host::Ip(net)) => self.nets.overlaps(&net),
            Some(Host::Name(h)) => domain_or_parent_in(&self.domains, &h.to_lowercase()),
            None => false,
        }
    }
}

/// The network part of a value: an IP block, or a DNS name.
pub enum Host<'a> {
    Ip(ipnet::IpNet),
    Name(&'a str),
}

/// The IP or DNS name a value of this kind points at, if any.
pub fn host_of(kind: ValueKind, value: &str) -> Option<Host<'_>> {
    match kind {
        ValueKind::Ipv4 { .. } | ValueKind::Ipv6 { .. } => parse_ip_value(value).map(Host::Ip),
        ValueKind::Domain => Some(Host::Name(value)),
        ValueKind::Email => value.rsplit_once('@').map(|(_, d)| Host::Name(d)),
        ValueKind::Url => {
            let h = host_of_url(value)?;
            Some(match parse_ip_value(h) {
                Some(n) => Host::Ip(n),
                None => Host::Name(h),
            })
        }
        _ => None,
    }
}

/// Whether `name` or any parent domain of it is in `set`.
pub fn domain_or_parent_in(set: &HashSet<String>, name: &str) -> bool {
    let mut d = name;
    loop {
        if set.contains(d) {
            return true;
        }
        match d.split_once('.') {
            Some((_, parent)) => d = parent,
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_domains_and_nets() {
        let mut a = Allowlist::default();
        a.add_text("# ours\nexample.org\n203.0.113.0/24  # lab\nd41d8cd98f00b204e9800998ecf8427e\nhttp://exact.example/x\n");
        a.nets.finish();
        assert!(a.matches(ValueKind::Domain, "example.org"));
        assert!(a.matches(ValueKind::Domain, "www.example.org"));
        assert!(!a.matches(ValueKind::Domain, "badexample.org"));
        assert!(a.matches(ValueKind::Url, "https://cdn.example.org/x"));
        assert!(a.matches(ValueKind::Email, "a@example.org"));
        assert!(a.matches(ValueKind::Ipv4 { cidr: false }, "203.0.113.7"));
        assert!(a.matches(ValueKind::Ipv4 { cidr: true }, "203.0.0.0/16"));
        assert!(a.matches(ValueKind::Url, "http://203.0.113.7/x"));
        assert!(!a.matches(ValueKind::Ipv4 { cidr: false }, "198.51.100.7"));
        assert!(a.matches(
            ValueKind::Hash(crate::map::indicator::HashAlgo::Md5),
            "d41d8cd98f00b204e9800998ecf8427e"
        ));
        assert!(a.matches(ValueKind::Url, "http://exact.example/x"));
        assert!(!a.matches(ValueKind::Url, "http://exact.example/y"));
    }
}
