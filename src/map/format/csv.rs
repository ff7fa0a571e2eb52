//! The portals' CSV import files (docs/design.md#portal-csv-files): `sentinel-csv` (Sentinel's
//! "Import using a file", template "All other indicator types") and
//! `defender-csv` (Defender for Endpoint's indicator import).
//!
//! CSV goes to files only (`-o FILE`): a portal imports files, a file may have
//! to be split, and each part is written to a temporary file and renamed into
//! place only when the whole run has succeeded. One part keeps the name given;
//! several are numbered (`out.csv` → `out-0001.csv`, `out-0002.csv`, …).

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::{Error, Result};
use crate::map::format::defender::{is_network, Action, DefenderOptions};
use crate::map::format::text;
use crate::map::format::writer::{Emitted, FormatWriter};
use crate::map::indicator::{defender_severity, HashAlgo, Indicator, SkipReason, Tlp, ValueKind};

/// Sentinel rejects CSV files over 50 MB; parts stay at or under this many bytes.
pub const SENTINEL_MAX_BYTES: u64 = 50_000_000;
/// Defender imports at most 500 indicators per file.
pub const DEFENDER_MAX_ROWS: u64 = 500;

const SENTINEL_HEADER: [&str; 12] = [
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

const DEFENDER_HEADER: [&str; 12] = [
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvFormat {
    Sentinel,
    Defender,
}

impl CsvFormat {
    fn name(self) -> &'static str {
        match self {
            CsvFormat::Sentinel => "sentinel-csv",
            CsvFormat::Defender => "defender-csv",
        }
    }

    fn header(self) -> &'static [&'static str; 12] {
        match self {
            CsvFormat::Sentinel => &SENTINEL_HEADER,
            CsvFormat::Defender => &DEFENDER_HEADER,
        }
    }
}

/// How the files are cut and what the Defender rows say.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// Data rows per file (the header is not counted); `None` or 0: no limit.
    pub max_rows: Option<u64>,
    /// Bytes per file, header included.
    pub max_bytes: u64,
    /// Defender `Action` and `GenerateAlert` (as `--format defender`).
    pub defender: DefenderOptions,
}

impl CsvOptions {
    /// The defaults for a format (`--max-rows` given or not): Defender 500 rows
    /// a file, Sentinel 50 MB a file; Defender rows `Audit` with an alert.
    pub fn for_format(format: CsvFormat, max_rows: Option<u64>) -> Self {
        let max_rows = match (format, max_rows) {
            (_, Some(0)) => None,
            (_, Some(n)) => Some(n),
            (CsvFormat::Defender, None) => Some(DEFENDER_MAX_ROWS),
            (CsvFormat::Sentinel, None) => None,
        };
        CsvOptions {
            max_rows,
            max_bytes: SENTINEL_MAX_BYTES,
            defender: DefenderOptions::default(),
        }
    }
}

/// What became of one indicator.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Written,
    Skipped(SkipReason),
}

/// One part being written: a temporary file beside the target.
struct Part {
    writer: BufWriter<NamedTempFile>,
    rows: u64,
    bytes: u64,
}

/// Writes indicators as CSV rows into one or more files.
pub struct CsvSink {
    format: CsvFormat,
    path: PathBuf,
    opts: CsvOptions,
    header: Vec<u8>,
    done: Vec<NamedTempFile>,
    current: Option<Part>,
    /// Defender keys (`indicatorType` + value) already written, as 64-bit hashes.
    seen: HashSet<u128>,
    row: Vec<u8>,
    rows: u64,
    /// Scratch space for names and descriptions.
    text: (String, String),
}

impl CsvSink {
    /// Prepares to write `path`. Refuses stdout and compressed names: the
    /// portals import plain files.
    pub fn create(format: CsvFormat, path: &Path, opts: CsvOptions) -> Result<Self> {
        let name = format.name();
        if path.as_os_str().is_empty() || path == Path::new("-") {
            return Err(Error::usage(format!(
                "--format {name} writes files: give -o FILE (for example -o indicators.csv)"
            )));
        }
        if path.extension().is_some_and(|e| e == "gz") {
            return Err(Error::usage(format!(
                "--format {name}: the portals import plain CSV; -o {} must not end in .gz",
                path.display()
            )));
        }
        if path.file_name().is_none() {
            return Err(Error::usage(format!(
                "-o {}: not a file name",
                path.display()
            )));
        }
        let header = encode(format.header().iter().copied())?;
        if header.len() as u64 >= opts.max_bytes {
            return Err(Error::usage(
                "the file size limit is smaller than the header",
            ));
        }
        Ok(CsvSink {
            format,
            path: path.to_path_buf(),
            opts,
            header,
            done: Vec::new(),
            current: None,
            seen: HashSet::new(),
            row: Vec::new(),
            rows: 0,
            text: Default::default(),
        })
    }

    /// Rows written so far, over all parts.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes one indicator, or says why it cannot be written in this format.
    pub fn write(&mut self, ind: &Indicator) -> Result<Outcome> {
        let fields = match self.format {
            CsvFormat::Sentinel => sentinel_row(ind, &mut self.text),
            CsvFormat::Defender => defender_row(ind, &self.opts.defender, &mut self.text),
        };
        let fields = match fields {
            Ok(f) => f,
            Err(reason) => return Ok(Outcome::Skipped(reason)),
        };
        if self.format == CsvFormat::Defender {
            // Defender keys indicators by type and value: one row per key and run.
            if !self
                .seen
                .insert(crate::map::format::defender::key(&fields[0], &fields[1]))
            {
                return Ok(Outcome::Skipped(SkipReason::DuplicateKey));
            }
        }
        self.row = encode(fields.iter().map(String::as_str))?;
        self.append_row()?;
        self.rows += 1;
        Ok(Outcome::Written)
    }

    fn append_row(&mut self) -> Result<()> {
        let len = self.row.len() as u64;
        let max_bytes = self.opts.max_bytes;
        let full = |p: &Part| {
            self.opts.max_rows.is_some_and(|m| p.rows >= m)
                || (p.rows > 0 && p.bytes + len > max_bytes)
        };
        if self.current.as_ref().is_some_and(full) {
            let part = self.current.take().expect("checked above");
            self.done.push(self.close(part)?);
        }
        if self.current.is_none() {
            self.current = Some(self.open_part()?);
        }
        let part = self.current.as_mut().expect("opened above");
        if part.bytes + len > max_bytes {
            return Err(Error::Other(format!(
                "{}: one row is {len} bytes, more than a whole file may hold",
                self.path.display()
            )));
        }
        part.writer
            .write_all(&self.row)
            .map_err(|e| Error::io(&self.path, e))?;
        part.rows += 1;
        part.bytes += len;
        Ok(())
    }

    fn open_part(&self) -> Result<Part> {
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&self.path, e))?;
        let mut writer = BufWriter::with_capacity(256 * 1024, tmp);
        writer
            .write_all(&self.header)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(Part {
            writer,
            rows: 0,
            bytes: self.header.len() as u64,
        })
    }

    fn close(&self, part: Part) -> Result<NamedTempFile> {
        let tmp = part
            .writer
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(tmp)
    }

    /// Renames the parts into place and returns their paths. A run without a
    /// row still writes one file with the header. Numbered parts left by an
    /// earlier run beyond this run's count (and the unnumbered file when this
    /// run is split, or the numbered ones when it is not) are removed, so the
    /// directory holds exactly this run's files.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        let part = match self.current.take() {
            Some(p) => p,
            None if self.done.is_empty() => self.open_part()?,
            None => return Err(Error::Other("no part open".into())),
        };
        let last = self.close(part)?;
        self.done.push(last);
        let parts = std::mem::take(&mut self.done);
        let mut paths = Vec::with_capacity(parts.len());
        if parts.len() == 1 {
            paths.push(self.path.clone());
        } else {
            paths.extend((1..=parts.len()).map(|n| numbered(&self.path, n)));
        }
        for (tmp, path) in parts.into_iter().zip(&paths) {
            tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        }
        self.remove_stale(paths.len())?;
        Ok(paths)
    }

    fn remove_stale(&self, written: usize) -> Result<()> {
        if written > 1 {
            crate::io::output::remove_if_exists(&self.path)?;
        }
        let first = if written > 1 { written + 1 } else { 1 };
        for n in first.. {
            let p = numbered(&self.path, n);
            if !p.exists() {
                break;
            }
            crate::io::output::remove_if_exists(&p)?;
        }
        Ok(())
    }
}

impl FormatWriter for CsvSink {
    fn write(&mut self, parts: &[Indicator]) -> Result<Emitted> {
        let mut written = 0;
        let mut first_skip = None;
        for ind in parts {
            match CsvSink::write(self, ind)? {
                Outcome::Written => written += 1,
                Outcome::Skipped(reason) => {
                    first_skip.get_or_insert(reason);
                }
            }
        }
        Ok(match first_skip {
            Some(reason) if written == 0 => Emitted::Skipped(reason),
            _ => Emitted::Written(written),
        })
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let paths = CsvSink::finish(*self)?;
        if paths.len() > 1 {
            eprintln!(
                "ioc-map: {} files: {} … {}",
                paths.len(),
                paths[0].display(),
                paths[paths.len() - 1].display()
            );
        }
        Ok(())
    }
}

/// `dir/out.csv` → `dir/out-0001.csv`; a name without extension gets the number at its end.
pub fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n:04}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n:04}"),
    };
    path.with_file_name(name)
}

/// One CSV record with CRLF (RFC 4180; both portals run on Windows tooling).
fn encode<'a>(fields: impl IntoIterator<Item = &'a str>) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(1024)
            .from_writer(&mut buf);
        w.write_record(fields)
            .and_then(|_| w.flush().map_err(csv::Error::from))
            .map_err(|e| Error::Other(format!("CSV: {e}")))?;
    }
    Ok(buf)
}

/// The row of Sentinel's "All other indicator types" template, or why not.
fn sentinel_row(
    ind: &Indicator,
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
    let tags = ind
        .labels
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
    text::truncate(name, crate::map::format::stix::NAME_MAX);
    text::describe(ind, description);
    text::truncate(description, crate::map::format::stix::DESCRIPTION_MAX);
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

/// The row of Defender's import file, or why not.
fn defender_row(
    ind: &Indicator,
    opts: &DefenderOptions,
    text: &mut (String, String),
) -> std::result::Result<[String; 12], SkipReason> {
    if ind.retired {
        return Err(SkipReason::DeletedNoRetirement);
    }
    let itype = ind.kind.defender_type()?;
    let refuse = |why: &str| Err(SkipReason::NotExpressible(format!("defender-csv: {why}")));
    match ind.kind {
        ValueKind::Hash(HashAlgo::Md5) => {
            return refuse("MD5 (the file import takes no FileMd5; use --format defender)")
        }
        ValueKind::X509(_) => return refuse(
            "certificate (the file import takes no CertificateThumbprint; use --format defender)",
        ),
        ValueKind::Url if !ind.value.contains("://") => return refuse("relative URI"),
        _ => {}
    }
    if opts.action == Action::BlockAndRemediate && is_network(ind.kind) {
        return refuse("BlockAndRemediate on a network indicator");
    }
    // The same title and description as `--format defender`.
    let (title, description) = text;
    text::name(ind, description);
    title.clear();
    title.push_str("MISP: ");
    title.push_str(description);
    text::truncate(title, crate::map::format::defender::TITLE_MAX);
    text::describe(ind, description);
    text::truncate(description, crate::map::format::defender::DESCRIPTION_MAX);
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
        String::new(), // MitreTechniques
        if opts.generate_alert { "True" } else { "False" }.into(),
    ])
}

/// Line breaks and tabs become spaces: a multi-line cell is legal CSV but
/// not every importer reads it.
fn one_line(s: &str) -> String {
    if !s.contains(['\r', '\n', '\t']) {
        return s.to_string();
    }
    s.split(['\r', '\n', '\t'])
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::indicator::{EventContext, ObjectContext};
    use crate::time::parse_rfc3339;
    use std::fs;
    use uuid::Uuid;

    fn ind(kind: ValueKind, part_type: &str, value: &str) -> Indicator {
        let t = |s| parse_rfc3339(s).unwrap();
        Indicator {
            id: Uuid::from_u128(1),
            attribute_uuid: "5f0e8b1a-6d2c-4a8e-b1f3-0c9d8e7f6a5b".into(),
            misp_type: part_type.into(),
            part_type: part_type.into(),
            kind,
            value: value.into(),
            port: None,
            category: Some("Network activity".into()),
            comment: None,
            object: None,
            event: EventContext {
                uuid: Some("0b3c6d1e-2f4a-4b5c-8d6e-7f8091a2b3c4".into()),
                id: Some("4711".into()),
                info: Some("C2, \"infra\"".into()),
                orgc_uuid: None,
                orgc_name: None,
                threat_level: Some(2),
            },
            labels: vec!["misp".into(), "demo".into()],
            tlp: Tlp::Green,
            tlp_tagged: true,
            confidence: 75,
            to_ids: true,
            kill_chain: vec![],
            context: Default::default(),
            created: t("2026-03-02T00:00:00Z"),
            modified: t("2026-03-02T10:15:00Z"),
            valid_from: t("2026-03-02T10:15:00Z"),
            valid_until: t("2026-06-01T00:00:00Z"),
            retired: false,
            revoked: false,
        }
    }

    fn srow(i: &Indicator) -> std::result::Result<[String; 12], SkipReason> {
        sentinel_row(i, &mut Default::default())
    }

    fn drow(i: &Indicator, o: &DefenderOptions) -> std::result::Result<[String; 12], SkipReason> {
        defender_row(i, o, &mut Default::default())
    }

    fn read_dir(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn write_all(
        format: CsvFormat,
        path: &Path,
        opts: CsvOptions,
        inds: &[Indicator],
    ) -> Vec<PathBuf> {
        let mut sink = CsvSink::create(format, path, opts).unwrap();
        for i in inds {
            assert_eq!(sink.write(i).unwrap(), Outcome::Written);
        }
        sink.finish().unwrap()
    }

    #[test]
    fn sentinel_row_and_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let mut i = ind(ValueKind::Domain, "domain", "login.example.org");
        i.tlp = Tlp::AmberStrict;
        i.labels.push("a,b".into());
        write_all(
            CsvFormat::Sentinel,
            &path,
            CsvOptions::for_format(CsvFormat::Sentinel, None),
            &[i],
        );
        let text = fs::read_to_string(&path).unwrap();
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

    #[test]
    fn defender_writes_each_key_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut sink = CsvSink::create(
            CsvFormat::Defender,
            &path,
            CsvOptions::for_format(CsvFormat::Defender, None),
        )
        .unwrap();
        let a = ind(ValueKind::Domain, "domain", "c2.example.net");
        assert_eq!(sink.write(&a).unwrap(), Outcome::Written);
        assert_eq!(
            sink.write(&a).unwrap(),
            Outcome::Skipped(SkipReason::DuplicateKey)
        );
        assert_eq!(
            sink.write(&ind(ValueKind::Url, "url", "http://c2.example.net"))
                .unwrap(),
            Outcome::Written
        );
        assert_eq!(sink.rows(), 2);
        sink.finish().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3);
    }

    #[test]
    fn splits_by_rows_and_cleans_up_stale_parts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        fs::write(&path, "stale").unwrap();
        fs::write(numbered(&path, 4), "stale").unwrap();
        fs::write(numbered(&path, 6), "not ours").unwrap();
        let inds: Vec<Indicator> = (0..5)
            .map(|n| ind(ValueKind::Domain, "domain", &format!("h{n}.example.net")))
            .collect();
        let opts = CsvOptions::for_format(CsvFormat::Defender, Some(2));
        let paths = write_all(CsvFormat::Defender, &path, opts, &inds);
        assert_eq!(paths.len(), 3);
        // out-0006.csv survives: only the contiguous run after the last part is cleaned.
        assert_eq!(
            read_dir(dir.path()),
            [
                "out-0001.csv",
                "out-0002.csv",
                "out-0003.csv",
                "out-0006.csv"
            ]
        );
        let rows: Vec<usize> = paths
            .iter()
            .map(|p| fs::read_to_string(p).unwrap().lines().count() - 1)
            .collect();
        assert_eq!(rows, [2, 2, 1]);
        for p in &paths {
            assert!(fs::read_to_string(p).unwrap().starts_with("IndicatorType,"));
        }

        // A later run that fits one file removes the numbered parts of the earlier one.
        let paths = write_all(
            CsvFormat::Defender,
            &path,
            CsvOptions::for_format(CsvFormat::Defender, Some(0)),
            &inds,
        );
        assert_eq!(paths, std::slice::from_ref(&path));
        assert_eq!(read_dir(dir.path()), ["out-0006.csv", "out.csv"]);
    }

    #[test]
    fn splits_by_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        let header_len = encode(SENTINEL_HEADER).unwrap().len() as u64;
        let one = ind(ValueKind::Domain, "domain", "a.example.net");
        let row_len = encode(srow(&one).unwrap().iter().map(String::as_str))
            .unwrap()
            .len() as u64;
        let opts = CsvOptions {
            max_bytes: header_len + 2 * row_len,
            ..CsvOptions::for_format(CsvFormat::Sentinel, None)
        };
        let inds: Vec<Indicator> = (0..5).map(|_| one.clone()).collect();
        let paths = write_all(CsvFormat::Sentinel, &path, opts.clone(), &inds);
        assert_eq!(paths.len(), 3);
        for p in &paths {
            assert!(fs::metadata(p).unwrap().len() <= opts.max_bytes);
        }
        // A row that fits no file at all is an error, and nothing is left behind.
        let tiny = CsvOptions {
            max_bytes: header_len + 10,
            ..opts
        };
        let mut sink =
            CsvSink::create(CsvFormat::Sentinel, &dir.path().join("t.csv"), tiny).unwrap();
        assert!(sink.write(&one).is_err());
        drop(sink);
        assert!(!dir.path().join("t.csv").exists());
    }

    #[test]
    fn empty_run_writes_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.csv");
        let paths = write_all(
            CsvFormat::Sentinel,
            &path,
            CsvOptions::for_format(CsvFormat::Sentinel, None),
            &[],
        );
        assert_eq!(paths, std::slice::from_ref(&path));
        assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 1);
    }

    #[test]
    fn nothing_appears_before_finish() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        let mut sink = CsvSink::create(
            CsvFormat::Defender,
            &path,
            CsvOptions::for_format(CsvFormat::Defender, Some(1)),
        )
        .unwrap();
        sink.write(&ind(ValueKind::Domain, "domain", "a.example.net"))
            .unwrap();
        sink.write(&ind(ValueKind::Domain, "domain", "b.example.net"))
            .unwrap();
        assert!(read_dir(dir.path()).iter().all(|n| n.starts_with(".tmp-")));
        drop(sink);
        assert!(read_dir(dir.path()).is_empty());
    }

    #[test]
    fn refuses_stdout_and_gzip() {
        let opts = CsvOptions::for_format(CsvFormat::Sentinel, None);
        for p in ["-", "", "out.csv.gz"] {
            let err = CsvSink::create(CsvFormat::Sentinel, Path::new(p), opts.clone())
                .err()
                .unwrap();
            assert_eq!(err.exit_code(), crate::cli::exit::USAGE, "{p}");
        }
    }

    #[test]
    fn numbered_names() {
        assert_eq!(
            numbered(Path::new("d/out.csv"), 1),
            Path::new("d/out-0001.csv")
        );
        assert_eq!(numbered(Path::new("out"), 12), Path::new("out-0012"));
        assert_eq!(
            numbered(Path::new("a.b.csv"), 10000),
            Path::new("a.b-10000.csv")
        );
    }

    #[test]
    fn long_text_is_cut() {
        let mut i = ind(ValueKind::Domain, "domain", "x.example");
        i.event.info = Some("é".repeat(500));
        let row = srow(&i).unwrap();
        assert_eq!(row[2].chars().count(), crate::map::format::stix::NAME_MAX);
        assert!(row[2].ends_with('…'));
    }
}
