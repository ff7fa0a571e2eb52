//! `graph-push --target graph --delete-external-ids FILE`: removes, through
//! the legacy Graph `deleteTiIndicatorsByExternalId`, the tiIndicators an
//! older tool left behind. FILE holds one external id a line (or tiIndicator
//! JSON lines, whose `externalId` is used). One result line per id.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::cli::exit;
use crate::cli::interrupt::Interrupt;
use crate::cli::words::count;
use crate::error::{Error, Result};
use crate::io::input::{Lines, Next};
use crate::io::output::Output;
use crate::push::pacer::Pacer;
use crate::push::setup::{common_setup, token_source, Options};
use crate::push::targets::{self, Target};
use crate::push::uploader::{Stats, Uploader};

const TOOL: &str = "graph-push";

#[derive(Default)]
struct Counts {
    ids: u64,
    accepted: u64,
    rejected: u64,
    failed: u64,
}

/// Reads the id of one line: a bare id, or a JSON object's `externalId`.
fn id_of(line: &[u8]) -> std::result::Result<String, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let t = text.trim();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).map_err(|e| format!("not JSON: {e}"))?;
        return v
            .get("externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| "JSON line without externalId".to_string());
    }
    let t = t.trim_matches('"');
    if t.is_empty() || t.chars().any(char::is_whitespace) {
        return Err("not an external id".to_string());
    }
    Ok(t.to_string())
}

/// What the answer says about each id: `resultInfo` items, matched by
/// position when there is one per id. A code of 0 or 2xx is success.
pub fn delete_results(body: &str, n: usize) -> Vec<Result<(), String>> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let items: &[Value] = v
        .get("value")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let verdict = |item: &Value| {
        let code = item.get("code").and_then(Value::as_i64).unwrap_or(0);
        if code == 0 || (200..300).contains(&code) {
            Ok(())
        } else {
            let msg = item.get("message").and_then(Value::as_str).unwrap_or("");
            Err(format!("{code}: {msg}")
                .trim_end_matches([' ', ':'])
                .to_string())
        }
    };
    if items.len() == n {
        items.iter().map(verdict).collect()
    } else if items.iter().all(|i| verdict(i).is_ok()) {
        vec![Ok(()); n]
    } else {
        vec![
            Err(format!(
                "answer not matched to the ids: {}",
                targets::error_text(body)
            ));
            n
        ]
    }
}

pub fn run(opts: Options, interrupt: Interrupt) -> Result<i32> {
    let path = opts
        .delete_external_ids
        .clone()
        .expect("called with --delete-external-ids");
    if opts.target != Target::Graph {
        return Err(Error::usage(
            "--delete-external-ids works with --target graph only",
        ));
    }
    if !opts.files.is_empty() {
        return Err(Error::usage(
            "--delete-external-ids FILE takes no other input files",
        ));
    }
    let started = Instant::now();
    let (_, endpoints, _) = common_setup(&opts)?;
    eprintln!(
        "{TOOL}: warning: the Graph tiIndicators API is deprecated and announced as removed (April 2026)"
    );
    let url = targets::graph_delete_url(&endpoints.api_base);
    let batch_size = opts.batch_size.unwrap_or(100).clamp(1, 100);
    let stats = Arc::new(Stats::default());
    let uploader = if opts.dry_run {
        None
    } else {
        let agent = crate::http::agent(&opts.http)?;
        let tokens = Arc::new(token_source(&opts, &endpoints, agent.clone(), &interrupt)?);
        tokens.token()?;
        Some(Uploader {
            target: Target::Graph,
            agent,
            tokens,
            pacer: Arc::new(Pacer::new(opts.rpm.unwrap_or(1000.0))),
            interrupt: interrupt.clone(),
            max_retries: opts.max_retries,
            max_throttled: opts.max_throttled,
            retry_base: opts.retry_base,
            stats: Arc::clone(&stats),
        })
    };
    let mut out = Output::stdout();
    let mut failed_out = match (&opts.failed, opts.dry_run) {
        (Some(p), false) => Some(Output::open(Some(p), false)?),
        _ => None,
    };
    let mut counts = Counts::default();
    let mut lines = Lines::new(&[path.to_string_lossy().into_owned()], opts.max_line);
    let mut buf = Vec::new();
    let mut batch: Vec<(String, String)> = Vec::new();
    let mut malformed = 0u64;
    let mut fatal = None;
    let mut eof = false;
    while !eof || !batch.is_empty() {
        if !eof && batch.len() < batch_size && !interrupt.fired() && fatal.is_none() {
            match lines.next_line(&mut buf)? {
                None => eof = true,
                Some(Next::TooLong(at)) => {
                    malformed += 1;
                    eprintln!("{TOOL}: {at}: line longer than --max-line");
                }
                Some(Next::Line(at)) => match id_of(&buf) {
                    Ok(id) => batch.push((id, at.to_string())),
                    Err(msg) => {
                        malformed += 1;
                        eprintln!("{TOOL}: {at}: {msg}");
                        if opts.strict {
                            return Err(Error::input(at.to_string(), msg));
                        }
                    }
                },
            }
            continue;
        }
        let ids: Vec<&str> = batch.iter().map(|(id, _)| id.as_str()).collect();
        let body = serde_json::to_vec(&serde_json::json!({ "value": ids })).expect("serialises");
        counts.ids += batch.len() as u64;
        let results: Vec<Result<(), String>> = match &uploader {
            None => {
                let mut line = b"{\"method\":\"POST\",\"url\":".to_vec();
                serde_json::to_writer(&mut line, &url).expect("serialises");
                line.extend_from_slice(b",\"headers\":{\"Authorization\":\"Bearer <token>\",\"Content-Type\":\"application/json\"},\"body\":");
                line.extend_from_slice(&body);
                line.push(b'}');
                out.write_line(&line)?;
                batch.clear();
                continue;
            }
            Some(_) if interrupt.fired() || fatal.is_some() => {
                vec![Err("interrupted".to_string()); batch.len()]
            }
            Some(up) => match up.post_raw(&url, &body) {
                Ok(Ok(text)) => delete_results(&text, batch.len()),
                Ok(Err(reason)) => vec![Err(format!("failed: {reason}")); batch.len()],
                Err(e) => {
                    let r = e.to_string();
                    fatal = Some(e);
                    vec![Err(format!("failed: {r}")); batch.len()]
                }
            },
        };
        for ((id, source), r) in batch.drain(..).zip(results) {
            let (status, reason) = match r {
                Ok(()) => {
                    counts.accepted += 1;
                    ("accepted", None)
                }
                Err(m) if m == "interrupted" || m.starts_with("failed: ") => {
                    counts.failed += 1;
                    if let Some(f) = failed_out.as_mut() {
                        f.write_line(id.as_bytes())?;
                    }
                    ("failed", Some(m.trim_start_matches("failed: ").to_string()))
                }
                Err(m) => {
                    counts.rejected += 1;
                    ("rejected", Some(m))
                }
            };
            out.write_json(&serde_json::json!({
                "key": id, "status": status, "reason": reason, "source": source
            }))?;
        }
    }
    out.finish()?;
    if let Some(f) = failed_out {
        f.finish()?;
    }
    eprintln!(
        "{TOOL}: delete by external id: {}: {} deleted, {} rejected, {} failed, {}; {}; {:.1}s",
        count(counts.ids, "id", "ids"),
        counts.accepted,
        counts.rejected,
        counts.failed,
        count(malformed, "malformed line", "malformed lines"),
        count(Stats::get(&stats.requests), "request", "requests"),
        started.elapsed().as_secs_f64()
    );
    if let Some(code) = interrupt.exit_code() {
        return Err(Error::Interrupted(code));
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    Ok(if counts.rejected + counts.failed + malformed > 0 {
        exit::PARTIAL
    } else {
        exit::OK
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_from_plain_or_json_lines() {
        assert_eq!(id_of(b" abc-1 ").unwrap(), "abc-1");
        assert_eq!(
            id_of(br#"{"externalId":"u1","domainName":"x"}"#).unwrap(),
            "u1"
        );
        assert!(id_of(b"two words").is_err());
        assert!(id_of(br#"{"domainName":"x"}"#).is_err());
    }

    #[test]
    fn result_infos() {
        let r = delete_results(
            r#"{"value":[{"code":0},{"code":404,"message":"not found"}]}"#,
            2,
        );
        assert_eq!(r[0], Ok(()));
        assert_eq!(r[1], Err("404: not found".into()));
        assert_eq!(delete_results(r#"{"value":[]}"#, 2), vec![Ok(()), Ok(())]);
    }
}
