//! Legacy Microsoft Graph tiIndicator objects (docs/design.md#graph-tiindicators, #mapping) done
//! right: every required field, domains included, CIDR in the CIDR fields,
//! integer ports and ASNs, `fileHashType` only where Graph can name the hash,
//! one tiIndicator per attribute (a composite's parts in one record),
//! `externalId` = the attribute uuid, `description` within 100 characters.

use serde::Serialize;

use crate::error::Result;
use crate::io::output::Output;
use crate::map::context::{Class, Context};
use crate::map::format::text;
use crate::map::format::writer::{Emitted, FormatWriter};
use crate::map::indicator::{HashAlgo, Indicator, SkipReason, Tlp, ValueKind};
use crate::time::text::Secs;

/// `--ti-action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TiAction {
    Alert,
    Block,
    Allow,
    Unknown,
}

impl TiAction {
    fn as_str(self) -> &'static str {
        match self {
            TiAction::Alert => "alert",
            TiAction::Block => "block",
            TiAction::Allow => "allow",
            TiAction::Unknown => "unknown",
        }
    }
}

/// `--threat-type` (Graph's enum, exact case).
pub const THREAT_TYPES: &[&str] = &[
    "Botnet",
    "C2",
    "CryptoMining",
    "Darknet",
    "DDoS",
    "MaliciousUrl",
    "Malware",
    "Phishing",
    "Proxy",
    "PUA",
    "WatchList",
];

/// `--target-product`.
pub const TARGET_PRODUCTS: &[&str] = &["Azure Sentinel", "Microsoft Defender ATP"];

#[derive(Debug, Clone)]
pub struct TiOptions {
    pub target_product: String,
    pub azure_tenant_id: Option<String>,
    pub action: TiAction,
    pub threat_type: String,
    /// `--include-filenames`: a file name alone (its hash not expressible) still makes a record.
    pub include_filenames: bool,
}

impl Default for TiOptions {
    fn default() -> Self {
        TiOptions {
            target_product: "Azure Sentinel".into(),
            azure_tenant_id: None,
            action: TiAction::Alert,
            threat_type: "WatchList".into(),
            include_filenames: false,
        }
    }
}

/// Declares [`TiIndicator`]: its fields as given, then its observables,
/// each an `Option` left out of the JSON when `None` (`field as "jsonName"`
/// where camelCase does not give the name).
macro_rules! ti_indicator {
    (
        fields {$($(#[$meta:meta])* $field:ident: $ty:ty,)*}
        observables {$($observable:ident $(as $json:literal)?: $oty:ty,)*}
    ) => {
        #[derive(Serialize, Default)]
        #[serde(rename_all = "camelCase")]
        struct TiIndicator<'a> {
            $($(#[$meta])* $field: $ty,)*
            $(
                #[serde(skip_serializing_if = "Option::is_none" $(, rename = $json)?)]
                $observable: Option<$oty>,
            )*
        }
    };
}

ti_indicator! {
    fields {
        action: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        azure_tenant_id: Option<&'a str>,
        description: &'a str,
        expiration_date_time: Option<Secs>,
        external_id: &'a str,
        target_product: &'a str,
        threat_type: &'a str,
        tlp_level: &'static str,
        confidence: u8,
        #[serde(skip_serializing_if = "Option::is_none")]
        severity: Option<u8>,
        passive_only: bool,
        is_active: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        last_reported_date_time: Option<Secs>,
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        tags: &'a [String],
        #[serde(skip_serializing_if = "Vec::is_empty")]
        activity_group_names: Vec<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        malware_family_names: Vec<&'a str>,
    }
    observables {
        domain_name: &'a str,
        url: &'a str,
        network_ipv4 as "networkIPv4": &'a str,
        network_ipv6 as "networkIPv6": &'a str,
        network_source_ipv4 as "networkSourceIPv4": &'a str,
        network_source_ipv6 as "networkSourceIPv6": &'a str,
        network_destination_ipv4 as "networkDestinationIPv4": &'a str,
        network_destination_ipv6 as "networkDestinationIPv6": &'a str,
        network_cidr_block: &'a str,
        network_source_cidr_block: &'a str,
        network_destination_cidr_block: &'a str,
        network_port: u16,
        network_source_port: u16,
        network_destination_port: u16,
        network_destination_asn: u32,
        email_sender_address: &'a str,
        email_source_domain: &'a str,
        email_recipient: &'a str,
        email_sender_name: &'a str,
        email_subject: &'a str,
        email_x_mailer as "emailXMailer": &'a str,
        file_name: &'a str,
        file_hash_type: &'static str,
        file_hash_value: &'a str,
        file_mutex_name: &'a str,
        user_agent: &'a str,
    }
}

/// Graph `tlpLevel`: only tagged levels; no tag (or `ex:chr`, `unclear`) is
/// `unknown` (docs/design.md#tlp-and-confidence).
fn tlp_level(ind: &Indicator) -> &'static str {
    if !ind.tlp_tagged {
        return "unknown";
    }
    match ind.tlp {
        Tlp::Clear => "white",
        Tlp::Green => "green",
        Tlp::Amber | Tlp::AmberStrict => "amber",
        Tlp::Red => "red",
    }
}

/// Graph `severity` (0–5) from MISP's threat level (1 High … 4 Undefined).
fn severity(threat_level: Option<u8>) -> Option<u8> {
    match threat_level {
        Some(1) => Some(5),
        Some(2) => Some(3),
        Some(3) => Some(1),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Direction {
    Source,
    Destination,
    Unknown,
}

fn direction(misp_type: &str) -> Direction {
    if misp_type.starts_with("ip-src") {
        Direction::Source
    } else if misp_type.starts_with("ip-dst") {
        Direction::Destination
    } else {
        Direction::Unknown
    }
}

const DESCRIPTION_MAX: usize = 100;

pub struct TiWriter {
    out: Output,
    opts: TiOptions,
    description: String,
    buf: Vec<u8>,
    /// The tags of a record with context (see `Context::labels`).
    labels: Vec<String>,
}

/// `activityGroupNames` (actors) or `malwareFamilyNames` (malware): the
/// names of the attribute's clusters of `class`, each once.
fn names<'c>(ctx: &Context<'c>, class: Class) -> Vec<&'c str> {
    let mut names: Vec<&str> = Vec::new();
    for c in ctx.event.iter().chain(ctx.own).filter(|c| c.class == class) {
        if !names.contains(&c.name.as_str()) {
            names.push(&c.name);
        }
    }
    names
}

impl TiWriter {
    pub fn new(out: Output, opts: TiOptions) -> Self {
        TiWriter {
            out,
            opts,
            description: String::new(),
            buf: Vec::with_capacity(1024),
            labels: Vec::new(),
        }
    }

    /// Puts one part's observable into the record.
    fn apply<'a>(&self, rec: &mut TiIndicator<'a>, ind: &'a Indicator) -> Result<(), SkipReason> {
        let no = |what: &str| Err(SkipReason::NotExpressible(format!("tiindicator: {what}")));
        let atp = self.opts.target_product == "Microsoft Defender ATP";
        let v = ind.value.as_str();
        let dir = if atp {
            Direction::Destination
        } else {
            direction(&ind.misp_type)
        };
        match ind.kind {
            ValueKind::Ipv4 { cidr } | ValueKind::Ipv6 { cidr } => {
                let v6 = matches!(ind.kind, ValueKind::Ipv6 { .. });
                if cidr {
                    if atp {
                        return no("CIDR block (Microsoft Defender ATP)");
                    }
                    match dir {
                        Direction::Source => rec.network_source_cidr_block = Some(v),
                        Direction::Destination => rec.network_destination_cidr_block = Some(v),
                        Direction::Unknown => rec.network_cidr_block = Some(v),
                    }
                } else {
                    let field = match (dir, v6) {
                        (Direction::Source, false) => &mut rec.network_source_ipv4,
                        (Direction::Source, true) => &mut rec.network_source_ipv6,
                        (Direction::Destination, false) => &mut rec.network_destination_ipv4,
                        (Direction::Destination, true) => &mut rec.network_destination_ipv6,
                        (Direction::Unknown, false) => &mut rec.network_ipv4,
                        (Direction::Unknown, true) => &mut rec.network_ipv6,
                    };
                    *field = Some(v);
                }
                if !atp {
                    match (dir, ind.port) {
                        (_, None) => {}
                        (Direction::Source, p) => rec.network_source_port = p,
                        (Direction::Destination, p) => rec.network_destination_port = p,
                        (Direction::Unknown, p) => rec.network_port = p,
                    }
                }
            }
            ValueKind::Domain => {
                rec.domain_name = Some(v);
                if !atp {
                    rec.network_port = rec.network_port.or(ind.port);
                }
            }
            ValueKind::Url if v.contains("://") => rec.url = Some(v),
            ValueKind::Url => return no("relative URI"),
            ValueKind::Hash(a) => {
                let t = match a {
                    HashAlgo::Md5 => "md5",
                    HashAlgo::Sha1 => "sha1",
                    HashAlgo::Sha256 => "sha256",
                    _ => {
                        return no(&format!(
                            "hash type {} (Graph names only md5, sha1, sha256)",
                            ind.part_type
                        ))
                    }
                };
                rec.file_hash_type = Some(t);
                rec.file_hash_value = Some(v);
            }
            _ if atp => return no("observable not accepted by Microsoft Defender ATP"),
            ValueKind::Email => match ind.part_type.as_str() {
                "email-src" => {
                    rec.email_sender_address = Some(v);
                    rec.email_source_domain = v.rsplit_once('@').map(|(_, d)| d);
                }
                "email-dst" => rec.email_recipient = Some(v),
                _ => return no("e-mail address without direction"),
            },
            ValueKind::EmailDisplayName if ind.part_type == "email-src-display-name" => {
                rec.email_sender_name = Some(v)
            }
            ValueKind::EmailSubject => rec.email_subject = Some(v),
            ValueKind::EmailXMailer => rec.email_x_mailer = Some(v),
            ValueKind::FileName => rec.file_name = Some(v),
            ValueKind::Mutex => rec.file_mutex_name = Some(v),
            ValueKind::UserAgent => rec.user_agent = Some(v),
            ValueKind::AutonomousSystem => {
                rec.network_destination_asn = Some(
                    v.parse()
                        .map_err(|_| SkipReason::InvalidValue("AS number".into()))?,
                )
            }
            ValueKind::EmailDisplayName => return no("recipient display name"),
            ValueKind::EmailReplyTo => return no("e-mail reply-to"),
            ValueKind::EmailAttachment => return no("e-mail attachment"),
            ValueKind::X509(_) => return no("certificate fingerprint"),
            ValueKind::RegistryKey => return no("registry key"),
            ValueKind::MacAddress => return no("MAC address"),
            ValueKind::GithubUsername => return no("user account"),
            ValueKind::Rule(_) => return no("detection rule"),
        }
        Ok(())
    }
}

impl FormatWriter for TiWriter {
    fn write(&mut self, parts: &[Indicator], ctx: &Context<'_>) -> Result<Emitted> {
        let first = &parts[0];
        // Deletions emit nothing (docs/design.md#retirement); the mapper does not pass them here.
        debug_assert!(!first.retired);
        self.description.clear();
        self.description.push_str("MISP: ");
        let mut name = String::new();
        text::name(first, &mut name);
        self.description.push_str(&name);
        text::truncate(&mut self.description, DESCRIPTION_MAX);
        let mut rec = TiIndicator {
            action: self.opts.action.as_str(),
            azure_tenant_id: self.opts.azure_tenant_id.as_deref(),
            description: &self.description,
            expiration_date_time: Some(Secs(first.valid_until)),
            external_id: &first.attribute_uuid,
            target_product: &self.opts.target_product,
            threat_type: &self.opts.threat_type,
            tlp_level: tlp_level(first),
            confidence: first.confidence,
            severity: severity(first.event.threat_level),
            passive_only: first.tlp == Tlp::Red,
            is_active: true,
            last_reported_date_time: Some(Secs(first.modified)),
            tags: &first.labels,
            ..TiIndicator::default()
        };
        if !ctx.is_empty() {
            ctx.labels(&first.labels, &mut self.labels);
            rec.tags = &self.labels;
            rec.activity_group_names = names(ctx, Class::ThreatActor);
            rec.malware_family_names = names(ctx, Class::Malware);
        }
        let mut observables = 0;
        let mut first_err = None;
        for ind in parts {
            // A file name from `filename|<hash>` is context of the hash, not an
            // indicator alone, unless --include-filenames.
            let context_only = ind.part_type == "filename"
                && ind.misp_type != "filename"
                && !self.opts.include_filenames;
            match self.apply(&mut rec, ind) {
                Ok(()) if context_only => {}
                Ok(()) => observables += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if observables == 0 {
            return Ok(Emitted::Skipped(first_err.unwrap_or_else(|| {
                SkipReason::NotExpressible("tiindicator: no observable".into())
            })));
        }
        // The valid_until of a split composite: the longest-lived part.
        rec.expiration_date_time = parts.iter().map(|p| p.valid_until).max().map(Secs);
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, &rec).expect("serialising to memory");
        self.out.write_line(&self.buf)?;
        Ok(Emitted::Written(1))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        self.out.finish()
    }
}
