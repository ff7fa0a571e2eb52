//! Feeds of plain values, CSV or freetext (docs/design.md#misp-feeds): the
//! text is fetched or read, its candidate values are typed like MISP's feed
//! parser does, and each typed value becomes an `{"Attribute":{…}}` line with
//! a uuid derived from the feed name, type and value
//! (docs/design.md#ids-and-keys), so that it keeps its id across runs and paths.

use std::collections::HashSet;
use std::path::Path;
use std::time::SystemTime;

use serde_json::json;

use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::misp::ids::feed_value_uuid;
use crate::pull::feed::csv::csv_cells;
use crate::pull::feed::freetext;
use crate::pull::server::RunOptions;

/// CSV or freetext.
#[derive(Debug, Clone)]
pub enum TextKind {
    Csv {
        /// 1-based columns to read; empty = all.
        columns: Vec<usize>,
        delimiter: u8,
    },
    Freetext,
}

/// Settings of a CSV or freetext feed.
#[derive(Debug, Clone)]
pub struct TextFeedConfig {
    pub location: String,
    pub kind: TextKind,
    pub feed_name: Option<String>,
    pub run: RunOptions,
}

/// The feed name of a location: its base name.
fn base_name(location: &str) -> String {
    let trimmed = location.trim_end_matches('/');
    let name = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let name = name.split(['?', '#']).next().unwrap_or(name);
    if name.is_empty() {
        location.to_string()
    } else {
        name.to_string()
    }
}

/// Reads a CSV or freetext feed and writes one attribute per typed value.
pub fn run_text_feed(cfg: TextFeedConfig) -> Result<i32> {
    let started = std::time::Instant::now();
    let (body, modified) =
        if cfg.location.starts_with("http://") || cfg.location.starts_with("https://") {
            let mut client = cfg.run.client("", None)?;
            let (bytes, fetched) = client.get_bytes(&cfg.location, "feed")?;
            (bytes, fetched.last_modified)
        } else {
            let path = Path::new(&cfg.location);
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            (bytes, mtime)
        };
    let when = modified
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(cfg.run.now.timestamp(), |d| d.as_secs() as i64);
    let name = cfg
        .feed_name
        .clone()
        .unwrap_or_else(|| base_name(&cfg.location));
    let text = String::from_utf8_lossy(&body);

    let candidates: Vec<String> = match &cfg.kind {
        TextKind::Freetext => freetext::tokens(&text),
        TextKind::Csv { columns, delimiter } => {
            csv_cells(&text, columns, *delimiter, &cfg.location)?
        }
    };

    let mut out = cfg.run.open_output()?;
    let mut seen: HashSet<uuid::Uuid> = HashSet::new();
    let (mut written, mut duplicates, mut untyped) = (0u64, 0u64, 0u64);
    let timestamp = when.to_string();
    for c in &candidates {
        let Some(hit) = freetext::resolve(c) else {
            untyped += 1;
            if cfg.run.verbose {
                eprintln!(
                    "misp-pull: {}: {c:?} is not an indicator MISP would type, skipped",
                    cfg.location
                );
            }
            continue;
        };
        let id = feed_value_uuid(&name, hit.kind, &hit.value);
        if !seen.insert(id) {
            duplicates += 1;
            continue;
        }
        let line = json!({"Attribute": {
            "uuid": id.to_string(),
            "type": hit.kind,
            "category": hit.category(),
            "value": hit.value,
            "to_ids": hit.to_ids(),
            "comment": hit.comment,
            "timestamp": timestamp,
            "deleted": false,
            "disable_correlation": false,
            "Event": {"info": name},
        }});
        out.write_json(&line)?;
        written += 1;
    }
    out.finish()?;
    eprintln!(
        "misp-pull: {} written from {} feed {} (feed name {name:?}); {}, {duplicates} repeated, {untyped} not an indicator; in {:.1}s",
        count(written, "attribute", "attributes"),
        match cfg.kind {
            TextKind::Csv { .. } => "CSV",
            TextKind::Freetext => "freetext",
        },
        cfg.location,
        count(candidates.len() as u64, "candidate value", "candidate values"),
        started.elapsed().as_secs_f64()
    );
    Ok(crate::cli::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (location, name) in [
            ("/x/y/feed.csv", "feed.csv"),
            ("https://h.example/a/list.txt?x=1", "list.txt"),
            ("https://h.example/feeds/", "feeds"),
        ] {
            assert_eq!(base_name(location), name);
        }
    }
}
