//! How long an indicator stays valid (docs/design.md#time): `valid_until` = (`last_seen`
//! or a reference time) + the expiry of the indicator's class. The classes and
//! their defaults are the user's documentation too (README, `--help`).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::map::indicator::ValueKind;

const DAY: u64 = 86_400;

/// Expiry classes, their `--expire` keys and default lifetimes in days.
/// IPs churn fastest (re-assigned hosting); domains and URLs live longer;
/// file hashes never change meaning.
pub const CLASSES: &[(&str, u64, &str)] = &[
    ("ip", 30, "IP addresses and CIDR blocks"),
    ("domain", 90, "domains and hostnames"),
    ("url", 90, "URLs, links and URIs"),
    ("email", 180, "e-mail addresses and message fields"),
    ("hash", 365, "file hashes and certificate fingerprints"),
    ("file", 180, "file names, registry keys, mutexes"),
    (
        "other",
        180,
        "AS numbers, MAC addresses, user agents, accounts, rules",
    ),
];

/// The reference time `valid_until` counts from when there is no `last_seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpireFrom {
    /// The later of the attribute timestamp and the event's publish time (deterministic).
    Misp,
    /// The run's date at 00:00Z (a rolling window for feeds never republished).
    Now,
}

#[derive(Debug, Clone)]
pub struct Expiry {
    days: [Duration; 7],
}

impl Default for Expiry {
    fn default() -> Self {
        let mut days = [Duration::ZERO; 7];
        for (i, (_, d, _)) in CLASSES.iter().enumerate() {
            days[i] = Duration::from_secs(d * DAY);
        }
        Expiry { days }
    }
}

impl Expiry {
    /// Parses `ip=30d,domain=90d,…`; `all=…` sets every class; unnamed classes keep their default.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut e = Expiry::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, dur) = item.split_once('=').ok_or_else(|| {
                Error::usage(format!(
                    "--expire {item:?}: expected CLASS=DURATION, e.g. ip=30d"
                ))
            })?;
            let d = crate::time::parse_duration(dur)?;
            if d.is_zero() {
                return Err(Error::usage(format!(
                    "--expire {item:?}: the duration must be positive"
                )));
            }
            let key = key.trim();
            if key == "all" {
                e.days = [d; 7];
                continue;
            }
            let i = CLASSES
                .iter()
                .position(|(k, _, _)| *k == key)
                .ok_or_else(|| {
                    let keys: Vec<&str> = CLASSES.iter().map(|c| c.0).collect();
                    Error::usage(format!(
                        "--expire: unknown class {key:?}; classes: all, {}",
                        keys.join(", ")
                    ))
                })?;
            e.days[i] = d;
        }
        Ok(e)
    }

    pub fn for_kind(&self, kind: ValueKind) -> Duration {
        self.days[class_of(kind)]
    }
}

fn class_of(kind: ValueKind) -> usize {
    match kind {
        ValueKind::Ipv4 { .. } | ValueKind::Ipv6 { .. } => 0,
        ValueKind::Domain => 1,
        ValueKind::Url => 2,
        ValueKind::Email
        | ValueKind::EmailDisplayName
        | ValueKind::EmailSubject
        | ValueKind::EmailReplyTo
        | ValueKind::EmailXMailer
        | ValueKind::EmailAttachment => 3,
        ValueKind::Hash(_) | ValueKind::X509(_) => 4,
        ValueKind::FileName | ValueKind::RegistryKey | ValueKind::Mutex => 5,
        ValueKind::AutonomousSystem
        | ValueKind::MacAddress
        | ValueKind::UserAgent
        | ValueKind::GithubUsername
        | ValueKind::Rule(_) => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let d = Expiry::default();
        assert_eq!(
            d.for_kind(ValueKind::Ipv4 { cidr: false }),
            Duration::from_secs(30 * DAY)
        );
        assert_eq!(
            d.for_kind(ValueKind::Hash(crate::map::indicator::HashAlgo::Sha256)),
            Duration::from_secs(365 * DAY)
        );
        let e = Expiry::parse("ip=7d, url=12h").unwrap();
        assert_eq!(
            e.for_kind(ValueKind::Ipv6 { cidr: true }),
            Duration::from_secs(7 * DAY)
        );
        assert_eq!(e.for_kind(ValueKind::Url), Duration::from_secs(12 * 3600));
        assert_eq!(e.for_kind(ValueKind::Domain), Duration::from_secs(90 * DAY));
        assert_eq!(
            Expiry::parse("all=1d").unwrap().for_kind(ValueKind::Mutex),
            Duration::from_secs(DAY)
        );
        assert!(Expiry::parse("ipv4=1d").is_err());
        assert!(Expiry::parse("ip").is_err());
        assert!(Expiry::parse("ip=0s").is_err());
    }
}
