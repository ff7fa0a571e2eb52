//! The mapping policy, as the command line sets it.

use std::collections::HashSet;

use crate::map::indicator::Tlp;
use crate::map::policy::expiry::{ExpireFrom, Expiry};
use crate::time::Timestamp;

/// The mapping policy (from the command line).
#[derive(Debug, Clone)]
pub struct MapOptions {
    pub now: Timestamp,
    pub include_non_ids: bool,
    /// Retire (instead of skip) attributes whose `to_ids` is false (formats with retirements).
    pub retire_non_ids: bool,
    /// Retire with STIX `revoked: true`.
    pub revoke: bool,
    /// Also emit the file-name part of `filename|<hash>` and `malware-sample`.
    pub include_filenames: bool,
    /// Keep the file-name part as context of a surviving hash part even without
    /// `include_filenames` (Graph puts both in one tiIndicator).
    pub filename_context: bool,
    pub include_expired: bool,
    pub allow_private: bool,
    pub default_tlp: Tlp,
    pub tlp_max: Tlp,
    pub default_confidence: u8,
    pub min_confidence: u8,
    pub expiry: Expiry,
    pub expire_from: ExpireFrom,
    /// Only these MISP types (`None`: all).
    pub types: Option<HashSet<String>>,
    pub exclude_types: HashSet<String>,
    /// Whether the output format carries retirements (STIX does; Defender and Graph do not).
    pub retirements: bool,
}

impl MapOptions {
    /// The defaults of the command line, at time `now`.
    pub fn new(now: Timestamp) -> Self {
        MapOptions {
            now,
            include_non_ids: false,
            retire_non_ids: false,
            revoke: false,
            include_filenames: false,
            filename_context: false,
            include_expired: false,
            allow_private: false,
            default_tlp: Tlp::Amber,
            tlp_max: Tlp::AmberStrict,
            default_confidence: 50,
            min_confidence: 0,
            expiry: Expiry::default(),
            expire_from: ExpireFrom::Misp,
            types: None,
            exclude_types: HashSet::new(),
            retirements: true,
        }
    }
}
