//! MITRE ATT&CK ids as MISP's galaxies carry them: in a cluster's
//! `meta.external_id`, or at the end of its value (`Phishing - T1566`,
//! `APT28 - G0007`), and the ATT&CK page of each.

/// What an ATT&CK id names, by its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackKind {
    /// `T1566`, or a sub-technique `T1566.001`.
    Technique,
    /// `G0007`.
    Group,
    /// `S0002`: malware and tools.
    Software,
    /// `M1049`.
    Mitigation,
    /// `TA0001`.
    Tactic,
    /// `C0001`.
    Campaign,
    /// `DS0001`.
    DataSource,
}

impl AttackKind {
    /// The kind of `id`, when `id` is an ATT&CK id: a prefix and four digits
    /// (a technique may add `.` and three digits), in upper case as ATT&CK
    /// writes them.
    pub fn of(id: &str) -> Option<AttackKind> {
        let (kind, digits) = if let Some(d) = id.strip_prefix("TA") {
            (AttackKind::Tactic, d)
        } else if let Some(d) = id.strip_prefix("DS") {
            (AttackKind::DataSource, d)
        } else {
            let kind = match id.as_bytes().first()? {
                b'T' => AttackKind::Technique,
                b'G' => AttackKind::Group,
                b'S' => AttackKind::Software,
                b'M' => AttackKind::Mitigation,
                b'C' => AttackKind::Campaign,
                _ => return None,
            };
            (kind, &id[1..])
        };
        let four = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
        let ok = match (kind, digits.split_once('.')) {
            (_, None) => four(digits),
            (AttackKind::Technique, Some((t, sub))) => {
                four(t) && sub.len() == 3 && sub.bytes().all(|b| b.is_ascii_digit())
            }
            _ => false,
        };
        ok.then_some(kind)
    }

    /// The path of its pages on attack.mitre.org.
    fn path(self) -> &'static str {
        match self {
            AttackKind::Technique => "techniques",
            AttackKind::Group => "groups",
            AttackKind::Software => "software",
            AttackKind::Mitigation => "mitigations",
            AttackKind::Tactic => "tactics",
            AttackKind::Campaign => "campaigns",
            AttackKind::DataSource => "datasources",
        }
    }
}

/// The `source_name` of ATT&CK's own external references.
pub const SOURCE_NAME: &str = "mitre-attack";

/// The ATT&CK page of an id: `https://attack.mitre.org/techniques/T1566/`,
/// `…/techniques/T1566/001/` for a sub-technique, `…/groups/G0007/`.
pub fn url(id: &str) -> Option<String> {
    let kind = AttackKind::of(id)?;
    let mut u = format!("https://attack.mitre.org/{}/", kind.path());
    match id.split_once('.') {
        Some((t, sub)) => {
            u.push_str(t);
            u.push('/');
            u.push_str(sub);
        }
        None => u.push_str(id),
    }
    u.push('/');
    Some(u)
}

/// `value` without its ATT&CK suffix, and the id of the suffix:
/// `Phishing - T1566` → (`Phishing`, `T1566`).
pub fn split_value(value: &str) -> (&str, Option<&str>) {
    if let Some((name, id)) = value.rsplit_once(" - ") {
        let (name, id) = (name.trim_end(), id.trim());
        if !name.is_empty() && AttackKind::of(id).is_some() {
            return (name, Some(id));
        }
    }
    (value, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_by_prefix() {
        assert_eq!(AttackKind::of("T1566"), Some(AttackKind::Technique));
        assert_eq!(AttackKind::of("T1566.001"), Some(AttackKind::Technique));
        assert_eq!(AttackKind::of("G0007"), Some(AttackKind::Group));
        assert_eq!(AttackKind::of("S0002"), Some(AttackKind::Software));
        assert_eq!(AttackKind::of("TA0001"), Some(AttackKind::Tactic));
        assert_eq!(AttackKind::of("DS0009"), Some(AttackKind::DataSource));
        for no in [
            "",
            "T",
            "T156",
            "T15666",
            "t1566",
            "G0007.001",
            "T1566.01",
            "CAPEC-633",
            "X1234",
        ] {
            assert_eq!(AttackKind::of(no), None, "{no}");
        }
    }

    #[test]
    fn urls_and_suffixes() {
        assert_eq!(
            url("T1566").as_deref(),
            Some("https://attack.mitre.org/techniques/T1566/")
        );
        assert_eq!(
            url("T1566.001").as_deref(),
            Some("https://attack.mitre.org/techniques/T1566/001/")
        );
        assert_eq!(
            url("G0007").as_deref(),
            Some("https://attack.mitre.org/groups/G0007/")
        );
        assert_eq!(url("CAPEC-633"), None);
        assert_eq!(split_value("Phishing - T1566"), ("Phishing", Some("T1566")));
        assert_eq!(
            split_value("Spearphishing Attachment - T1566.001"),
            ("Spearphishing Attachment", Some("T1566.001"))
        );
        assert_eq!(split_value("APT28 - G0007"), ("APT28", Some("G0007")));
        assert_eq!(split_value("Sofacy"), ("Sofacy", None));
        assert_eq!(split_value("A - B - C"), ("A - B - C", None));
        assert_eq!(split_value(" - T1566"), (" - T1566", None));
    }
}
