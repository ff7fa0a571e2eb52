//! `misp-pull` from a MISP server: list the matching events (metadata only,
//! ordered by id, paged), then fetch them by id in batches, streaming each
//! event or attribute to the output as soon as it is complete.
//!
//! Why two phases: MISP has no cursor, only `limit`/`page` offsets, so an
//! event that is edited (and so unpublished) or deleted while a long run
//! pages would shift every later event one place forward and one of them
//! would fall between two pages. The listing is small and quick, and is
//! checked for such shifts (a smaller total, or a page that overlaps the one
//! before) by reading the pages before again; the long part, fetching full
//! events, then asks for fixed ids and cannot shift.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::cli::interrupt::Interrupt;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::http::HttpOptions;
use crate::io::output::Output;
use crate::misp::stream::Shape;
use crate::pull::api::{Client, Request, RetryPolicy, Secret};
use crate::pull::filters::Filters;
use crate::pull::pulled::{attribute_count, attribute_info, event_id, event_info};
use crate::pull::state::{Mark, State};
use crate::time::Timestamp;

/// `--scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Events,
    Attributes,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Events => "events",
            Scope::Attributes => "attributes",
        }
    }
}

/// Everything a pull from a server needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub url: String,
    pub key: Secret,
    pub scope: Scope,
    pub filters: Filters,
    /// Events per request when fetching full events.
    pub page_size: usize,
    /// Events per listing page (metadata only); 0 = one unpaged listing.
    pub list_page_size: usize,
    /// Most attributes (by the listing's `attribute_count`) asked for in one request.
    pub batch_attributes: u64,
    /// Largest single event or attribute accepted, in bytes.
    pub max_event: usize,
    pub state: Option<PathBuf>,
    pub overlap: Duration,
    pub run: RunOptions,
}

/// How a pull, from a server or a feed, talks, writes and reports.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output: Option<PathBuf>,
    pub gzip: bool,
    pub verbose: bool,
    pub now: Timestamp,
    pub http: HttpOptions,
    pub retry: RetryPolicy,
}

impl RunOptions {
    /// A MISP client for `url` (`""` for a feed, which asks for full URLs only).
    pub fn client(&self, url: &str, key: Option<Secret>) -> Result<Client> {
        Client::new(url, key, &self.http, self.retry.clone(), self.verbose)
    }

    /// The output: stdout, or `-o FILE` (gzip with `--gzip`).
    pub fn open_output(&self) -> Result<Output> {
        Output::open(self.output.as_deref(), self.gzip)
    }
}

/// One event of the listing.
#[derive(Debug, Clone, Copy)]
struct Listed {
    id: i64,
    attributes: u64,
    mark: Option<i64>,
}

/// Counters for the summary.
#[derive(Debug, Default)]
struct Counts {
    events: u64,
    attributes: u64,
    listed: u64,
    gone: u64,
    malformed: u64,
}

/// The field the state mark is on (docs/design.md#state-and-commit).
fn mark_field(filters: &Filters) -> &'static str {
    if filters.include_unpublished {
        "timestamp"
    } else {
        "publish_timestamp"
    }
}

/// Adds the state's lower bound to the body, merged with a `--since` on the same field.
fn apply_mark(body: &mut Map<String, Value>, filters: &Filters, field: &str, lower: i64) {
    if filters.time_field() == field && (filters.since.is_some() || filters.until.is_some()) {
        let since = filters.since.map_or(lower, |s| s.max(lower));
        if let Some(v) = crate::pull::filters::time_value(Some(since), filters.until) {
            body.insert(field.to_string(), v);
        }
    } else {
        body.insert(field.to_string(), json!(lower));
    }
}

/// Runs a pull. Returns the exit status (0, or 3 when some objects could not be read).
pub fn run(cfg: Config) -> Result<i32> {
    let interrupt = Interrupt::install()?;
    cfg.filters.check()?;
    let started = Instant::now();
    let mut client = cfg
        .run
        .client(&cfg.url, Some(cfg.key.clone()))?
        .interruptible(&interrupt);

    let base_body = cfg.filters.body();
    let field = mark_field(&cfg.filters);
    let state_key = format!(
        "{} {} {} {}",
        client.base(),
        cfg.scope.as_str(),
        field,
        Value::Object(base_body.clone())
    );
    let mut state = cfg.state.as_deref().map(State::open).transpose()?;
    let mut body = base_body;
    let mut previous = None;
    if let Some(st) = &state {
        // Incremental runs must carry deletions (docs/design.md#retirement).
        body.entry("deleted").or_insert(json!([0, 1]));
        previous = st.get(&state_key).map(|m| m.mark);
        if let Some(mark) = previous {
            let lower = mark - cfg.overlap.as_secs() as i64;
            apply_mark(&mut body, &cfg.filters, field, lower);
        }
    }

    let progress = crate::cli::progress::spinner("{spinner} {msg}");
    let mut out = cfg.run.open_output()?;
    let mut counts = Counts::default();
    let result = (|| -> Result<Option<i64>> {
        let listed = list(&mut client, &cfg, &body, field, &interrupt)?;
        counts.listed = listed.len() as u64;
        let new_mark = listed.iter().filter_map(|l| l.mark).max();
        progress.set_message(format!(
            "{} listed",
            count(listed.len() as u64, "event", "events")
        ));
        fetch(
            &mut client,
            &cfg,
            &body,
            &listed,
            &mut out,
            &mut counts,
            &interrupt,
            &progress,
        )?;
        Ok(new_mark)
    })();
    progress.finish_and_clear();

    let secs = started.elapsed().as_secs_f64();
    let summary = |end: &str| {
        eprintln!(
            "misp-pull: {}, {} written from {} ({} scope; {} listed, {} gone during the run{}); {}, {}, {:.1} MB in {:.1}s{end}",
            count(counts.events, "event", "events"),
            count(counts.attributes, "attribute", "attributes"),
            client.base(),
            cfg.scope.as_str(),
            counts.listed,
            counts.gone,
            if counts.malformed > 0 { format!(", {} unreadable", counts.malformed) } else { String::new() },
            count(client.stats.requests, "request", "requests"),
            count(client.stats.retries, "retry", "retries"),
            client.stats.bytes as f64 / 1e6,
            secs,
        )
    };
    let new_mark = match result {
        Ok(m) => m,
        Err(Error::BrokenPipe) => {
            summary("; stdout closed early, state not advanced");
            return Err(Error::BrokenPipe);
        }
        Err(e) => {
            // Keep what was written (it is valid), but never advance the state.
            if matches!(e, Error::Interrupted(_)) {
                let _ = out.finish();
            }
            summary("; stopped");
            return Err(e);
        }
    };
    match out.finish() {
        Ok(()) => {}
        Err(Error::BrokenPipe) => {
            summary("; stdout closed early, state not advanced");
            return Err(Error::BrokenPipe);
        }
        Err(e) => return Err(e),
    }
    if let Some(st) = &mut state {
        if let Some(mark) = new_mark.max(previous) {
            st.set(
                &state_key,
                Mark {
                    field: field.to_string(),
                    mark,
                    updated: crate::time::fmt_secs(&cfg.run.now),
                },
            );
        }
        let next = st.write_next()?;
        if cfg.run.verbose {
            eprintln!("misp-pull: wrote {}", next.display());
        }
    }
    summary("");
    Ok(if counts.malformed > 0 {
        crate::cli::exit::PARTIAL
    } else {
        crate::cli::exit::OK
    })
}

fn stop_if_interrupted(interrupt: &Interrupt) -> Result<()> {
    match interrupt.exit_code() {
        Some(code) => Err(Error::Interrupted(code)),
        None => Ok(()),
    }
}

/// Phase 1: the ids (and sizes and marks) of every matching event, in id order.
fn list(
    client: &mut Client,
    cfg: &Config,
    body: &Map<String, Value>,
    field: &str,
    interrupt: &Interrupt,
) -> Result<Vec<Listed>> {
    let url = client.url("/events/restSearch");
    let mut listed: Vec<Listed> = Vec::new();
    let limit = cfg.list_page_size;
    let fetch_page = |client: &mut Client, page: usize| -> Result<(Vec<Listed>, Option<u64>)> {
        let mut b = body.clone();
        b.insert("metadata".into(), json!(1));
        b.insert("order".into(), json!("Event.id asc"));
        if limit > 0 {
            b.insert("limit".into(), json!(limit));
            b.insert("page".into(), json!(page));
        }
        let bytes = serde_json::to_vec(&b).expect("a JSON map serialises");
        let req = Request {
            post: Some(&bytes),
            url: url.clone(),
            what: format!("listing page {page}"),
        };
        let mut got = Vec::new();
        let fetched = client.stream(&req, Shape::Events, cfg.max_event, &mut |e| {
            stop_if_interrupted(interrupt)?;
            let info = event_info(e).map_err(|err| {
                bad_answer(
                    &url,
                    format!("listing page {page}: unreadable event: {err}"),
                )
            })?;
            let id = info.id.ok_or_else(|| {
                bad_answer(&url, format!("listing page {page}: an event without an id"))
            })?;
            got.push(Listed {
                id,
                attributes: info.attribute_count.unwrap_or(0).max(0) as u64,
                mark: if field == "publish_timestamp" {
                    info.publish_timestamp
                } else {
                    info.timestamp
                },
            });
            Ok(())
        })?;
        Ok((got, fetched.result_count))
    };

    let mut page = 1;
    let mut last_total: Option<u64> = None;
    let mut last_max: Option<i64> = None;
    let mut rereads = 0;
    loop {
        let (got, total) = fetch_page(client, page)?;
        let n = got.len();
        let shrunk = matches!((last_total, total), (Some(a), Some(b)) if b < a);
        let overlaps = matches!((last_max, got.first()), (Some(m), Some(f)) if f.id <= m);
        if page > 1 && (shrunk || overlaps) && rereads < 100 {
            // Events before this offset left the result set: the ones that
            // moved forward are now on the pages before. Read them again.
            let gone = match (last_total, total) {
                (Some(a), Some(b)) if a > b => (a - b) as usize,
                _ => 1,
            };
            let back = gone.div_ceil(limit.max(1)).max(1);
            for p in page.saturating_sub(back).max(1)..page {
                if cfg.run.verbose {
                    eprintln!(
                        "misp-pull: the listing changed while paging; reading page {p} again"
                    );
                }
                rereads += 1;
                let (again, _) = fetch_page(client, p)?;
                listed.extend(again);
            }
        }
        last_total = total;
        last_max = got.last().map(|l| l.id).or(last_max);
        listed.extend(got);
        if limit == 0 || n < limit {
            break;
        }
        if n > limit {
            eprintln!("misp-pull: warning: listing page {page} holds {n} events, more than the limit {limit}: the server ignored paging; taking it as the whole result");
            break;
        }
        page += 1;
    }
    listed.sort_by_key(|l| l.id);
    listed.dedup_by_key(|l| l.id);
    Ok(listed)
}

/// Splits the listing into requests of at most `page_size` events and
/// `batch_attributes` attributes (a bigger event goes alone).
fn batches(listed: &[Listed], page_size: usize, max_attrs: u64) -> Vec<&[Listed]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut attrs = 0u64;
    for (i, l) in listed.iter().enumerate() {
        let n = i - start;
        if n > 0 && (n >= page_size || attrs + l.attributes > max_attrs) {
            out.push(&listed[start..i]);
            start = i;
            attrs = 0;
        }
        attrs += l.attributes;
    }
    if start < listed.len() {
        out.push(&listed[start..]);
    }
    out
}

/// Phase 2: the full events (or their attributes), batch by batch.
#[allow(clippy::too_many_arguments)]
fn fetch(
    client: &mut Client,
    cfg: &Config,
    body: &Map<String, Value>,
    listed: &[Listed],
    out: &mut Output,
    counts: &mut Counts,
    interrupt: &Interrupt,
    progress: &indicatif::ProgressBar,
) -> Result<()> {
    let (path, shape) = match cfg.scope {
        Scope::Events => ("/events/restSearch", Shape::Events),
        Scope::Attributes => ("/attributes/restSearch", Shape::Attributes),
    };
    let url = client.url(path);
    let total = listed.len();
    let mut line = Vec::new();
    let t0 = Instant::now();
    let mut done = 0usize;
    for (n, batch) in batches(listed, cfg.page_size.max(1), cfg.batch_attributes)
        .into_iter()
        .enumerate()
    {
        let ids: Vec<i64> = batch.iter().map(|l| l.id).collect();
        let mut b = body.clone();
        b.insert("eventid".into(), json!(ids));
        match cfg.scope {
            Scope::Events => {
                b.insert("order".into(), json!("Event.id asc"));
                b.insert("limit".into(), json!(ids.len()));
                b.insert("page".into(), json!(1));
            }
            Scope::Attributes => {
                b.insert("order".into(), json!("Attribute.id asc"));
                // What ioc-map's policy reads of the event travels with each
                // attribute, so that both scopes reach the same decisions
                // (docs/design.md#tlp-and-confidence): the event's tags, also
                // as inherited tags, and its threat level, dates and creator;
                // and its galaxy clusters whole, uuids included, as ioc-map's
                // context reads them from events (docs/design.md#context-objects).
                b.insert("includeEventTags".into(), json!(1));
                b.insert("includeContext".into(), json!(1));
                b.insert("includeGalaxy".into(), json!(1));
            }
        }
        let bytes = serde_json::to_vec(&b).expect("a JSON map serialises");
        let what = format!(
            "batch {} (events {}..{})",
            n + 1,
            ids[0],
            ids[ids.len() - 1]
        );
        let req = Request {
            post: Some(&bytes),
            url: url.clone(),
            what: what.clone(),
        };
        // What this batch has written, so that a retried response writes nothing twice:
        // events by id (uuid 0); attributes by id and uuid, so that two attributes that
        // share an id (MISP's ids are unique, generated data's may not be) are both written.
        let mut written: HashSet<(i64, u128)> = HashSet::new();
        let mut events_seen: HashSet<i64> = HashSet::new();
        let mut on_element = |e: &[u8]| -> Result<()> {
            stop_if_interrupted(interrupt)?;
            match cfg.scope {
                Scope::Events => {
                    // Only the id is read here (and the bytes checked to be
                    // UTF-8); the framing has checked the structure. Parsing
                    // every event in full would halve the throughput, and
                    // ioc-map parses each line anyway.
                    let unreadable =
                        |msg: String| bad_answer(&url, format!("{what}: unreadable event: {msg}"));
                    if std::str::from_utf8(e).is_err() {
                        return Err(unreadable("not UTF-8".into()));
                    }
                    let Some(id) = event_id(e).map_err(|err| unreadable(err.to_string()))? else {
                        eprintln!("misp-pull: {url}: {what}: an event without an id, skipped");
                        counts.malformed += 1;
                        return Ok(());
                    };
                    if ids.binary_search(&id).is_err() {
                        return Err(bad_answer(&url, format!("{what}: MISP returned event {id}, which was not asked for (the server ignored the eventid filter)")));
                    }
                    if !written.insert((id, 0)) {
                        return Ok(());
                    }
                    out.write_line(e)?;
                    counts.events += 1;
                    // Counted as written, object attributes included (as
                    // ioc-map counts them), not by MISP's `attribute_count`.
                    counts.attributes += attribute_count(e);
                }
                Scope::Attributes => {
                    let info = attribute_info(e).map_err(|err| {
                        bad_answer(&url, format!("{what}: unreadable attribute: {err}"))
                    })?;
                    let (Some(id), Some(event_id)) = (info.id, info.event_id) else {
                        eprintln!("misp-pull: {url}: {what}: an attribute without id or event_id, skipped");
                        counts.malformed += 1;
                        return Ok(());
                    };
                    if ids.binary_search(&event_id).is_err() {
                        return Err(bad_answer(&url, format!("{what}: MISP returned an attribute of event {event_id}, which was not asked for (the server ignored the eventid filter)")));
                    }
                    if !written.insert((id, info.uuid.unwrap_or(0))) {
                        return Ok(());
                    }
                    events_seen.insert(event_id);
                    line.clear();
                    line.extend_from_slice(b"{\"Attribute\":");
                    line.extend_from_slice(e);
                    line.push(b'}');
                    out.write_line(&line)?;
                    counts.attributes += 1;
                }
            }
            Ok(())
        };
        client.stream(&req, shape, cfg.max_event, &mut on_element)?;
        match cfg.scope {
            Scope::Events => counts.gone += (ids.len() - written.len()) as u64,
            Scope::Attributes => counts.events += events_seen.len() as u64,
        }
        done += batch.len();
        progress.set_message(format!(
            "{done}/{total} events, {}, {:.1} MB/s",
            count(counts.attributes, "attribute", "attributes"),
            client.stats.bytes as f64 / 1e6 / t0.elapsed().as_secs_f64().max(1e-3)
        ));
    }
    Ok(())
}

/// `--check`: URL, TLS, key and role, with `/servers/getVersion` and `/users/view/me`.
pub fn check(url: &str, key: Secret, run: &RunOptions, out: &mut Output) -> Result<i32> {
    let mut client = run.client(url, Some(key))?;
    let version_url = client.url("/servers/getVersion");
    let (v, _) = client
        .get_json(&version_url, "version check")
        .map_err(not_misp)?;
    let version = v
        .get("version")
        .and_then(|x| x.as_str())
        .ok_or_else(|| {
            bad_answer(
                &version_url,
                "no \"version\" in the answer: this does not look like MISP".into(),
            )
        })?
        .to_string();
    let me_url = client.url("/users/view/me");
    let (me, _) = client.get_json(&me_url, "user check").map_err(not_misp)?;
    let text_at = |pointer: &str| me.pointer(pointer).and_then(|x| x.as_str()).unwrap_or("?");
    let (org, role, email) = (
        text_at("/Organisation/name"),
        text_at("/Role/name"),
        text_at("/User/email"),
    );
    let perm_auth = me
        .pointer("/Role/perm_auth")
        .map(|v| v == &json!(true) || v == &json!(1) || v == &json!("1"));
    out.write_line(format!("MISP {version} at {}", client.base()).as_bytes())?;
    out.write_line(format!("user: {email}").as_bytes())?;
    out.write_line(format!("organisation: {org}").as_bytes())?;
    out.write_line(format!("role: {role}").as_bytes())?;
    if perm_auth == Some(false) {
        return Err(Error::Auth(format!(
            "{me_url}: role {role:?} has no API access (perm_auth is off)"
        )));
    }
    Ok(crate::cli::exit::OK)
}

/// A 200 answer whose content is not what MISP sends.
fn bad_answer(url: &str, msg: String) -> Error {
    Error::Http {
        url: url.to_string(),
        status: Some(200),
        msg,
    }
}

/// Explains a non-JSON answer to a connection check.
fn not_misp(e: Error) -> Error {
    match e {
        Error::Http {
            url,
            status: Some(200),
            msg,
        } => Error::Http {
            url,
            status: Some(200),
            msg: format!("{msg} (not a MISP API: wrong URL, or a login page?)"),
        },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(id: i64, attributes: u64) -> Listed {
        Listed {
            id,
            attributes,
            mark: None,
        }
    }

    #[test]
    fn batches_respect_both_limits() {
        let listed: Vec<Listed> = vec![l(1, 10), l(2, 10), l(3, 500), l(4, 1), l(5, 1), l(6, 1)];
        let b = batches(&listed, 2, 100);
        let ids: Vec<Vec<i64>> = b.iter().map(|b| b.iter().map(|l| l.id).collect()).collect();
        assert_eq!(ids, vec![vec![1, 2], vec![3], vec![4, 5], vec![6]]);
        assert!(batches(&[], 2, 100).is_empty());
    }
}
