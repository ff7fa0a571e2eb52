//! `defender-csv`: the rows of Defender for Endpoint's indicator import file
//! (docs/design.md#portal-csv-files).

use crate::map::context::{Class, Context};
use crate::map::format::csv::record::one_line;
use crate::map::format::defender::{indicator_type, title_and_description, DefenderOptions};
use crate::map::indicator::{defender_severity, HashAlgo, Indicator, SkipReason, ValueKind};

/// Defender imports at most 500 indicators per file.
pub const DEFENDER_MAX_ROWS: u64 = 500;

pub(super) const DEFENDER_HEADER: [&str; 12] = [
    "IndicatorType",
    "IndicatorValue",
    "ExpirationTime",
    "Action",
    "Severity",
    "Title",
    "Description",
    "RecommendedActions",
    "RbacGroups",
    "Category",
    "MitreTechniques",
    "GenerateAlert",
];

/// The row of Defender's import file, or why not.
pub(super) fn defender_row(
    ind: &Indicator,
    ctx: &Context<'_>,
    opts: &DefenderOptions,
    text: &mut (String, String),
) -> std::result::Result<[String; 12], SkipReason> {
    if ind.retired {
        return Err(SkipReason::DeletedNoRetirement);
    }
    let itype = indicator_type(ind, opts.action, "defender-csv")?;
    let refuse = |why: &str| Err(SkipReason::NotExpressible(format!("defender-csv: {why}")));
    match ind.kind {
        ValueKind::Hash(HashAlgo::Md5) => {
            return refuse("MD5 (the file import takes no FileMd5; use --format defender)")
        }
        ValueKind::X509(_) => return refuse(
            "certificate (the file import takes no CertificateThumbprint; use --format defender)",
        ),
        _ => {}
    }
    // The same title and description as `--format defender`.
    let (title, description) = text;
    title_and_description(ind, title, description);
    Ok([
        itype.into(),
        ind.value.clone(),
        // The sample's form: seconds and one decimal, `2026-06-01T00:00:00.0Z`.
        ind.valid_until.format("%Y-%m-%dT%H:%M:%S.0Z").to_string(),
        opts.action.as_str().into(),
        defender_severity(ind.event.threat_level).into(),
        one_line(title),
        one_line(description),
        String::new(), // RecommendedActions
        String::new(), // RbacGroups
        String::new(), // Category: only Pascal-case values from the portal's list
        mitre_techniques(ctx),
        if opts.generate_alert { "True" } else { "False" }.into(),
    ])
}

/// `MitreTechniques`: the ATT&CK technique ids of the attribute's attack
/// patterns (sub-techniques as they are), comma-separated as the template
/// asks, each once.
fn mitre_techniques(ctx: &Context<'_>) -> String {
    let mut ids: Vec<&str> = Vec::new();
    for c in ctx.clusters().filter(|c| c.class == Class::AttackPattern) {
        if let Some(id) = c.cited_attack_id() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::format::csv::fixture::ind;
    use crate::map::format::defender::Action;
    use crate::map::indicator::ObjectContext;

    fn drow(i: &Indicator, o: &DefenderOptions) -> std::result::Result<[String; 12], SkipReason> {
        defender_row(i, &Context::NONE, o, &mut Default::default())
    }

    #[test]
    fn defender_row_fields() {
        let mut i = ind(ValueKind::Domain, "hostname|port", "c2.example.net");
        i.part_type = "hostname".into();
        i.port = Some(8443);
        i.comment = Some("seen\nin logs".into());
        i.object = Some(ObjectContext {
            name: "domain-ip".into(),
            relation: Some("domain".into()),
        });
        let row = drow(&i, &DefenderOptions::default()).unwrap();
        assert_eq!(row[0], "DomainName");
        assert_eq!(row[1], "c2.example.net");
        assert_eq!(row[2], "2026-06-01T00:00:00.0Z");
        assert_eq!(row[3], "Audit");
        assert_eq!(row[4], "Medium");
        assert_eq!(row[5], "MISP: C2, \"infra\"");
        assert_eq!(
            row[6],
            "MISP hostname|port (hostname part) from event: C2, \"infra\"; object domain-ip/domain; port 8443; comment: seen in logs"
        );
        assert_eq!(row[11], "True");
    }

    #[test]
    fn defender_skips_what_its_import_refuses() {
        let opts = DefenderOptions::default();
        let skip = |i: Indicator| drow(&i, &opts).unwrap_err().to_string();
        assert!(
            skip(ind(ValueKind::Hash(HashAlgo::Md5), "md5", &"a".repeat(32))).contains("FileMd5")
        );
        assert!(skip(ind(
            ValueKind::X509(HashAlgo::Sha1),
            "x509-fingerprint-sha1",
            &"a".repeat(40)
        ))
        .contains("CertificateThumbprint"));
        assert!(skip(ind(
            ValueKind::Ipv4 { cidr: true },
            "ip-dst",
            "198.51.100.0/24"
        ))
        .contains("CIDR"));
        assert!(skip(ind(ValueKind::Email, "email", "a@example.org")).contains("e-mail"));
        assert!(drow(
            &ind(ValueKind::Hash(HashAlgo::Sha1), "sha1", &"a".repeat(40)),
            &opts
        )
        .is_ok());
        let mut retired = ind(ValueKind::Url, "url", "http://x.example/");
        retired.retired = true;
        assert_eq!(drow(&retired, &opts), Err(SkipReason::DeletedNoRetirement));
        let bar = DefenderOptions {
            action: Action::BlockAndRemediate,
            ..opts.clone()
        };
        assert!(drow(&ind(ValueKind::Url, "url", "http://x.example/"), &bar).is_err());
        assert!(drow(
            &ind(ValueKind::Hash(HashAlgo::Sha256), "sha256", &"b".repeat(64)),
            &bar
        )
        .is_ok());
    }
}
