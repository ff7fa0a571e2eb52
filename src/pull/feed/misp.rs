//! A MISP-format feed (docs/design.md#misp-feeds): a directory or URL with
//! `manifest.json` and one `<uuid>.json` per event. The manifest is filtered
//! the way MISP filters it (tags and organisations with SQL LIKE, uuids,
//! times), the event files of the chosen entries are streamed out as they
//! are, and the state keeps a mark on the manifest timestamp.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::cli::interrupt::Interrupt;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::misp::stream::{for_each_element, Shape, StreamError};
use crate::pull::api::Request;
use crate::pull::filters::Filters;
use crate::pull::pulled::event_info;
use crate::pull::server::RunOptions;
use crate::pull::state::{Mark, State};

/// Where a feed lives.
#[derive(Debug, Clone)]
pub enum Location {
    Dir(PathBuf),
    Url(String),
}

impl Location {
    pub fn parse(s: &str) -> Self {
        if s.starts_with("http://") || s.starts_with("https://") {
            Location::Url(s.to_string())
        } else {
            Location::Dir(PathBuf::from(s))
        }
    }

    fn display(&self) -> String {
        match self {
            Location::Dir(p) => p.display().to_string(),
            Location::Url(u) => u.clone(),
        }
    }

    /// The entry `name` inside a feed directory or URL.
    fn join(&self, name: &str) -> String {
        match self {
            Location::Dir(p) => p.join(name).display().to_string(),
            Location::Url(u) => format!("{}/{name}", u.trim_end_matches('/')),
        }
    }
}

/// Settings of a MISP-format feed.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    pub location: Location,
    pub filters: Filters,
    pub state: Option<PathBuf>,
    pub overlap: Duration,
    pub run: RunOptions,
    pub max_event: usize,
}

/// SQL LIKE as MISP's tag filters use it: `%` any run, `_` one character, case-insensitive.
pub fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '_' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

/// A list filter in MISP's value syntax: positive values (any must match) and `!` negations.
#[derive(Debug, Default)]
struct ValueFilter {
    any: Vec<String>,
    not: Vec<String>,
}

impl ValueFilter {
    fn new(values: &[String]) -> Self {
        let mut f = ValueFilter::default();
        for v in values {
            for part in v.split("&&").flat_map(|p| p.split("||")) {
                match part.strip_prefix('!') {
                    Some(n) => f.not.push(n.to_string()),
                    None if !part.is_empty() => f.any.push(part.to_string()),
                    None => {}
                }
            }
        }
        f
    }

    fn matches(&self, candidates: &[&str]) -> bool {
        let hit = |p: &String| candidates.iter().any(|c| like(p, c));
        (self.any.is_empty() || self.any.iter().any(hit)) && !self.not.iter().any(hit)
    }
}

fn manifest_time(v: &Value) -> Option<i64> {
    match v.get("timestamp")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// What a feed manifest says of one event, as the filters read it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ManifestEntry<'a> {
    /// `timestamp`, a number or a numeric string.
    pub timestamp: Option<i64>,
    /// The names of `Tag[]`.
    pub tags: Vec<&'a str>,
    /// `Orgc.name` and `Orgc.uuid`.
    pub orgs: Vec<&'a str>,
}

/// Reads one manifest entry (any JSON: what is missing or misshapen is absent).
pub fn manifest_entry(entry: &Value) -> ManifestEntry<'_> {
    let tags = entry
        .get("Tag")
        .and_then(|t| t.as_array())
        .map(|a| a.iter().filter_map(|t| t.get("name")?.as_str()).collect())
        .unwrap_or_default();
    let orgc = entry.get("Orgc").or_else(|| entry.get("orgc"));
    let orgs = ["name", "uuid"]
        .iter()
        .filter_map(|k| orgc?.get(*k)?.as_str())
        .collect();
    ManifestEntry {
        timestamp: manifest_time(entry),
        tags,
        orgs,
    }
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

/// Reads a MISP-format feed. Missing or broken event files are reported by
/// uuid and skipped; the run then ends with status 3.
pub fn run_misp_feed(cfg: FeedConfig) -> Result<i32> {
    let interrupt = Interrupt::install()?;
    let started = std::time::Instant::now();
    let mut client = cfg.run.client("", None)?.interruptible(&interrupt);
    let manifest_at = cfg.location.join("manifest.json");
    let manifest: Map<String, Value> = match &cfg.location {
        Location::Dir(_) => {
            let bytes = std::fs::read(&manifest_at).map_err(|e| Error::io(&manifest_at, e))?;
            serde_json::from_slice(&bytes).map_err(|e| {
                Error::Other(format!("{manifest_at}: not a MISP feed manifest: {e}"))
            })?
        }
        Location::Url(_) => {
            let (v, _) = client.get_json(&manifest_at, "feed manifest")?;
            match v {
                Value::Object(m) => m,
                _ => {
                    return Err(Error::Other(format!(
                        "{manifest_at}: not a MISP feed manifest (expected an object keyed by event uuid)"
                    )))
                }
            }
        }
    };

    // State: a mark on the manifest timestamp, keyed by feed and filters.
    let source = match &cfg.location {
        Location::Dir(p) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
        Location::Url(u) => u.trim_end_matches('/').to_string(),
    };
    let state_key = format!(
        "feed {source} events timestamp {}",
        json!({"tags": cfg.filters.tags, "org": cfg.filters.orgs, "uuid": cfg.filters.uuids,
               "since": cfg.filters.since, "until": cfg.filters.until})
    );
    let mut state = cfg.state.as_deref().map(State::open).transpose()?;
    let previous = state
        .as_ref()
        .and_then(|s| s.get(&state_key))
        .map(|m| m.mark);
    let lower = previous
        .map(|m| m - cfg.overlap.as_secs() as i64)
        .into_iter()
        .chain(cfg.filters.since)
        .max();

    let tags = ValueFilter::new(&cfg.filters.tags);
    let orgs = ValueFilter::new(&cfg.filters.orgs);
    let uuids = ValueFilter::new(&cfg.filters.uuids);
    let mut out = cfg.run.open_output()?;
    let (mut events, mut attributes, mut selected) = (0u64, 0u64, 0u64);
    let mut missing: Vec<String> = Vec::new();
    let mut new_mark: Option<i64> = None;
    let total = manifest.len();
    let progress = crate::cli::progress::spinner("{spinner} {msg}");

    let result = (|| -> Result<()> {
        for (uuid, entry) in &manifest {
            if let Some(code) = interrupt.exit_code() {
                return Err(Error::Interrupted(code));
            }
            let ManifestEntry {
                timestamp: ts,
                tags: tag_names,
                orgs: org_names,
            } = manifest_entry(entry);
            if let (Some(low), Some(t)) = (lower, ts) {
                if t < low {
                    continue;
                }
            }
            if let (Some(up), Some(t)) = (cfg.filters.until, ts) {
                if t > up {
                    continue;
                }
            }
            if !tags.matches(&tag_names) {
                continue;
            }
            if !orgs.matches(&org_names) {
                continue;
            }
            if !uuids.matches(&[uuid.as_str()]) {
                continue;
            }
            selected += 1;
            let at = cfg.location.join(&format!("{uuid}.json"));
            if !is_uuid(uuid) {
                eprintln!(
                    "misp-pull: {}: manifest key {uuid:?} is not a uuid, skipped",
                    manifest_at
                );
                missing.push(uuid.clone());
                continue;
            }
            let mut wrote = 0u64;
            let mut on_event = |e: &[u8]| -> Result<()> {
                let info = event_info(e)
                    .map_err(|err| Error::Other(format!("not a MISP event: {err}")))?;
                if info.uuid.as_deref().unwrap_or("").is_empty() {
                    return Err(Error::Other("the event has no uuid".into()));
                }
                out.write_line(e)?;
                wrote += 1;
                events += 1;
                attributes += info.attributes;
                Ok(())
            };
            let read = match &cfg.location {
                Location::Dir(_) => read_event_file(Path::new(&at), cfg.max_event, &mut on_event),
                Location::Url(_) => {
                    let req = Request {
                        post: None,
                        url: at.clone(),
                        what: format!("feed event {uuid}"),
                    };
                    client
                        .stream(&req, Shape::FeedEvent, cfg.max_event, &mut on_event)
                        .map(|_| ())
                }
            };
            match read {
                Ok(()) if wrote > 0 => {
                    new_mark = new_mark.max(ts);
                }
                Ok(()) => {
                    eprintln!("misp-pull: {at}: holds no event (manifest event {uuid}), skipped");
                    missing.push(uuid.clone());
                }
                Err(e @ (Error::BrokenPipe | Error::Interrupted(_) | Error::Auth(_))) => {
                    return Err(e)
                }
                Err(Error::Stream {
                    what: "stdout",
                    source,
                }) => return Err(Error::stdout(source)),
                Err(e) => {
                    eprintln!(
                        "misp-pull: {at}: {} (manifest event {uuid}), skipped",
                        describe_missing(&e)
                    );
                    missing.push(uuid.clone());
                }
            }
            progress.set_message(format!(
                "{events}/{total} events, {}",
                count(attributes, "attribute", "attributes")
            ));
        }
        Ok(())
    })();
    progress.finish_and_clear();
    let summary = |end: &str| {
        eprintln!(
            "misp-pull: {}, {} written from feed {} ({} in the manifest, {selected} selected, {} missing or unreadable{}){end} in {:.1}s",
            count(events, "event", "events"),
            count(attributes, "attribute", "attributes"),
            cfg.location.display(),
            total,
            missing.len(),
            if missing.is_empty() { String::new() } else { format!(": {}", missing.join(", ")) },
            started.elapsed().as_secs_f64()
        )
    };
    if let Err(e) = result {
        if matches!(e, Error::Interrupted(_)) {
            let _ = out.finish();
        }
        summary("; stopped");
        return Err(e);
    }
    out.finish()?;
    if let Some(st) = &mut state {
        if let Some(mark) = new_mark.max(previous) {
            st.set(
                &state_key,
                Mark {
                    field: "timestamp".into(),
                    mark,
                    updated: crate::time::fmt_secs(&cfg.run.now),
                },
            );
        }
        st.write_next()?;
    }
    summary("");
    Ok(if missing.is_empty() {
        crate::cli::exit::OK
    } else {
        crate::cli::exit::PARTIAL
    })
}

/// Why an event file could not be used, in a few words.
fn describe_missing(e: &Error) -> String {
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            "missing".to_string()
        }
        Error::Http {
            status: Some(404), ..
        } => "missing (HTTP 404)".to_string(),
        Error::Io { source, .. } => format!("unreadable: {source}"),
        e => format!("unreadable: {e}"),
    }
}

fn read_event_file(
    path: &Path,
    max_event: usize,
    on_event: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    match for_each_element(BufReader::new(file), Shape::FeedEvent, max_event, |e| {
        on_event(e)
    }) {
        Ok(_) => Ok(()),
        Err(StreamError::Stop(e)) => Err(e),
        Err(e) => Err(Error::Other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like("tlp:%", "TLP:GREEN"));
        assert!(like("%osint%", "type:OSINT"));
        assert!(like("tlp:gr_en", "tlp:green"));
        assert!(!like("tlp:red", "tlp:redder"));
        let f = ValueFilter::new(&["tlp:%".into(), "!tlp:red".into()]);
        assert!(f.matches(&["tlp:green", "x"]));
        assert!(!f.matches(&["tlp:red"]));
        assert!(!f.matches(&["osint"]));
        let f = ValueFilter::new(&["infoblox&&!tlp:red".into()]);
        assert!(f.matches(&["infoblox"]));
    }
}
