//! `sentinel-csv`: the rows of Sentinel's "Import using a file", template
//! "All other indicator types" (docs/design.md#portal-csv-files).

use crate::map::context::Context;
use crate::map::format::csv::record::one_line;
use crate::map::format::stix::{DESCRIPTION_MAX, NAME_MAX};
use crate::map::format::text;
use crate::map::indicator::{Indicator, SkipReason, Tlp, ValueKind};

/// Sentinel rejects CSV files over 50 MB; parts stay at or under this many bytes.
pub const SENTINEL_MAX_BYTES: u64 = 50_000_000;

pub(super) const SENTINEL_HEADER: [&str; 12] = [
    "threatTypes",
    "tags",
    "name",
    "description",
    "confidence",
    "revoked",
    "validFrom",
    "validUntil",
    "tlpLevel",
    "severity",
    "observableType",
    "observableValue",
];

/// The row of Sentinel's "All other indicator types" template, or why not.
pub(super) fn sentinel_row(
    ind: &Indicator,
    ctx: &Context<'_>,
    text: &mut (String, String),
) -> std::result::Result<[String; 12], SkipReason> {
    if ind.retired {
        return Err(SkipReason::NotExpressible(
            "sentinel-csv: retirement (a CSV import cannot update an indicator it created)".into(),
        ));
    }
    let observable = sentinel_observable(ind.kind)?;
    let (tlp_level, tlp_tag) = match ind.tlp {
        Tlp::Clear => ("white", None),
        Tlp::Green => ("green", None),
        Tlp::Amber => ("amber", None),
        // Only white is documented (docs/design.md#tlp-and-confidence): amber,
        // plus the strictness as a tag.
        Tlp::AmberStrict => ("amber", Some("tlp:amber+strict")),
        Tlp::Red => ("red", None),
    };
    // With clusters: readable labels for them (see `Context::labels`).
    let mut readable = Vec::new();
    let labels = if ctx.is_empty() {
        &ind.labels
    } else {
        ctx.labels(&ind.labels, &mut readable);
        &readable
    };
    let tags = labels
        .iter()
        .map(String::as_str)
        .chain(tlp_tag)
        // The tags column is itself comma-separated: a comma inside a tag would split it.
        .map(|t| one_line(t).replace(',', ";"))
        .collect::<Vec<_>>()
        .join(", ");
    // The same name and description as the STIX indicator.
    let (name, description) = text;
    text::name(ind, name);
    text::truncate(name, NAME_MAX);
    text::describe(ind, description);
    text::truncate(description, DESCRIPTION_MAX);
    Ok([
        String::new(), // threatTypes: its vocabulary is undocumented
        tags,
        one_line(name),
        one_line(description),
        ind.confidence.to_string(),
        String::new(), // revoked: retirements are not written
        crate::time::fmt_millis(&ind.valid_from),
        crate::time::fmt_millis(&ind.valid_until),
        tlp_level.into(),
        String::new(), // severity: its scale is undocumented
        observable.into(),
        ind.value.clone(),
    ])
}

/// The STIX observable type for the CSV template's `observableType`, or why none fits.
pub fn sentinel_observable(kind: ValueKind) -> std::result::Result<&'static str, SkipReason> {
    let no = |what: &str| {
        Err(SkipReason::NotExpressible(format!(
            "sentinel-csv: {what} (use --format stix)"
        )))
    };
    match kind {
        ValueKind::Ipv4 { .. } => Ok("ipv4-addr"),
        ValueKind::Ipv6 { .. } => Ok("ipv6-addr"),
        ValueKind::Domain => Ok("domain-name"),
        ValueKind::Url => Ok("url"),
        ValueKind::Email => Ok("email-addr"),
        ValueKind::Hash(_) | ValueKind::X509(_) | ValueKind::FileName => {
            no("file indicators need the File template, whose columns are undocumented")
        }
        _ => no("not a single-value observable of the CSV template"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::format::csv::fixture::ind;
    use crate::map::format::csv::record::encode;
    use crate::map::indicator::HashAlgo;

    fn srow(i: &Indicator) -> std::result::Result<[String; 12], SkipReason> {
        sentinel_row(i, &Context::NONE, &mut Default::default())
    }

    #[test]
    fn sentinel_row_and_header() {
        let mut i = ind(ValueKind::Domain, "domain", "login.example.org");
        i.tlp = Tlp::AmberStrict;
        i.labels.push("a,b".into());
        let row = srow(&i).unwrap();
        let text = [
            encode(SENTINEL_HEADER).unwrap(),
            encode(row.iter().map(String::as_str)).unwrap(),
        ]
        .concat();
        let text = String::from_utf8(text).unwrap();
        assert_eq!(
            text,
            "threatTypes,tags,name,description,confidence,revoked,validFrom,validUntil,tlpLevel,severity,observableType,observableValue\r\n\
             ,\"misp, demo, a;b, tlp:amber+strict\",\"C2, \"\"infra\"\"\",\"MISP domain from event: C2, \"\"infra\"\"\",75,,2026-03-02T10:15:00.000Z,2026-06-01T00:00:00.000Z,amber,,domain-name,login.example.org\r\n"
        );
    }

    #[test]
    fn sentinel_observable_types() {
        assert_eq!(
            sentinel_observable(ValueKind::Ipv4 { cidr: false }),
            Ok("ipv4-addr")
        );
        assert_eq!(
            sentinel_observable(ValueKind::Ipv6 { cidr: true }),
            Ok("ipv6-addr")
        );
        assert_eq!(sentinel_observable(ValueKind::Url), Ok("url"));
        assert_eq!(sentinel_observable(ValueKind::Email), Ok("email-addr"));
        for k in [
            ValueKind::Hash(HashAlgo::Sha256),
            ValueKind::Mutex,
            ValueKind::RegistryKey,
            ValueKind::EmailSubject,
        ] {
            assert_eq!(
                sentinel_observable(k).unwrap_err().code(),
                "not expressible in this format"
            );
        }
    }

    #[test]
    fn tlp_levels_for_sentinel() {
        for (tlp, level) in [
            (Tlp::Clear, "white"),
            (Tlp::Green, "green"),
            (Tlp::Red, "red"),
        ] {
            let mut i = ind(ValueKind::Url, "url", "http://x.example/");
            i.tlp = tlp;
            assert_eq!(srow(&i).unwrap()[8], level);
        }
    }

    #[test]
    fn long_text_is_cut() {
        let mut i = ind(ValueKind::Domain, "domain", "x.example");
        i.event.info = Some("é".repeat(500));
        let row = srow(&i).unwrap();
        assert_eq!(row[2].chars().count(), NAME_MAX);
        assert!(row[2].ends_with('…'));
    }
}
