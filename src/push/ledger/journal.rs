//! The ledger on disk: an append-only journal of NDJSON lines, one per
//! accepted record, written only after the remote accepted it (a crash can
//! lose the last lines, which makes the next run resend them, but can never
//! mark an unsent record as sent). A torn last line is cut off on open;
//! superseded lines are dropped by compaction on open. The records stay on
//! disk; the index (index.rs) holds where each key's latest line is.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::index::{Entry, KeyIndex};
use crate::error::{Error, Result};
use crate::push::record::{self, RecordKind};

/// What is recorded for one accepted record.
pub struct Accepted<'a> {
    pub key: &'a str,
    pub key_hash: u128,
    pub content_hash: u64,
    pub modified: Option<i64>,
    pub valid_end: Option<i64>,
    pub live: bool,
    /// The record exactly as sent.
    pub record: &'a [u8],
}

/// The first line of a ledger file.
#[derive(Debug, Deserialize, serde::Serialize, PartialEq)]
struct Header {
    #[serde(rename = "graph-push-ledger")]
    version: u32,
    target: String,
    workspace: String,
}

#[derive(Deserialize)]
struct Line {
    key: String,
    hash: String,
    modified: Option<i64>,
    end: Option<i64>,
    live: bool,
    #[allow(dead_code)]
    record: serde::de::IgnoredAny,
}

pub struct Ledger {
    path: PathBuf,
    kind: RecordKind,
    /// None in a dry run: nothing is ever written.
    writer: Option<BufWriter<File>>,
    reader: Option<File>,
    end: u64,
    dirty: bool,
    index: KeyIndex,
}

fn corrupt(path: &Path, line: u64, msg: impl std::fmt::Display) -> Error {
    Error::Other(format!(
        "{}:{line}: ledger line unreadable: {msg} (move the file away to start a new ledger)",
        path.display()
    ))
}

impl Ledger {
    /// Opens (or creates) the ledger of `target` + `workspace`. `read_only`
    /// (dry run) never creates or changes the file.
    pub fn open(
        path: &Path,
        kind: RecordKind,
        target: &str,
        workspace: &str,
        read_only: bool,
    ) -> Result<Self> {
        let header = Header {
            version: 1,
            target: target.to_string(),
            workspace: workspace.to_string(),
        };
        let mut ledger = Ledger {
            path: path.to_path_buf(),
            kind,
            writer: None,
            reader: None,
            end: 0,
            dirty: false,
            index: KeyIndex::default(),
        };
        let exists = path.exists();
        if !exists && read_only {
            return Ok(ledger);
        }
        if !exists {
            let mut line = serde_json::to_vec(&header).expect("header serialises");
            line.push(b'\n');
            crate::io::output::write_atomic(path, &line)?;
        }
        let lines = ledger.load(&header, read_only)?;
        if !read_only && lines > 2 * ledger.index.len() as u64 + 1024 {
            ledger.compact(&header)?;
        }
        let reader = File::open(path).map_err(|e| Error::io(path, e))?;
        ledger.reader = Some(reader);
        if !read_only {
            let f = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            ledger.writer = Some(BufWriter::with_capacity(256 * 1024, f));
        }
        Ok(ledger)
    }

    /// Reads the journal into the index; returns the number of record lines.
    fn load(&mut self, want: &Header, read_only: bool) -> Result<u64> {
        let path = self.path.clone();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let mut r = BufReader::with_capacity(256 * 1024, file);
        let mut buf = Vec::new();
        let mut offset = 0u64;
        let mut line_no = 0u64;
        let mut lines = 0u64;
        loop {
            buf.clear();
            let n = r
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::io(&path, e))?;
            if n == 0 {
                break;
            }
            line_no += 1;
            if buf.last() != Some(&b'\n') {
                // A torn last line: the crash came before it was complete.
                if !read_only {
                    truncate(&path, offset)?;
                }
                break;
            }
            if line_no == 1 {
                let got: Header = serde_json::from_slice(&buf)
                    .map_err(|_| corrupt(&path, 1, "not a graph-push ledger"))?;
                if got != *want {
                    return Err(Error::usage(format!(
                        "{}: this ledger belongs to --target {} workspace {:?}, not --target {} \
                         workspace {:?}: use one ledger per target and workspace",
                        path.display(),
                        got.target,
                        got.workspace,
                        want.target,
                        want.workspace
                    )));
                }
            } else {
                let l: Line =
                    serde_json::from_slice(&buf).map_err(|e| corrupt(&path, line_no, e))?;
                let hash =
                    u64::from_str_radix(&l.hash, 16).map_err(|e| corrupt(&path, line_no, e))?;
                self.index.insert(
                    record::key_hash(self.kind, &l.key),
                    Entry::on_disk(
                        offset,
                        l.live,
                        hash,
                        l.modified.unwrap_or(i64::MIN),
                        l.end.unwrap_or(i64::MAX),
                    ),
                );
                lines += 1;
            }
            offset += n as u64;
        }
        self.end = offset;
        Ok(lines)
    }

    /// Rewrites the journal with only the latest line of each key.
    fn compact(&mut self, header: &Header) -> Result<()> {
        let path = self.path.clone();
        let src = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".tmp-ledger-")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&path, e))?;
        let mut w = BufWriter::with_capacity(256 * 1024, tmp);
        let mut head = serde_json::to_vec(header).expect("header serialises");
        head.push(b'\n');
        w.write_all(&head).map_err(|e| Error::io(&path, e))?;
        let mut end = head.len() as u64;
        let mut order: Vec<(u64, u128)> = self.index.iter().map(|(k, e)| (e.offset(), k)).collect();
        order.sort_unstable();
        for (off, k) in order {
            let line = read_line_at(&src, off).map_err(|e| Error::io(&path, e))?;
            w.write_all(&line).map_err(|e| Error::io(&path, e))?;
            let e = self.index.get_mut(k).expect("key indexed");
            e.moved_to(end);
            end += line.len() as u64;
        }
        let tmp = w
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        self.end = end;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, key_hash: u128) -> Option<Entry> {
        self.index.get(key_hash).copied()
    }

    /// Notes that this run's input holds the key (so `--retire-missing` spares it).
    /// Returns true if the key was already seen in this run (a duplicate).
    pub fn mark_seen(&mut self, key_hash: u128) -> bool {
        self.index.get_mut(key_hash).is_some_and(Entry::mark_seen)
    }

    /// Keys live and not lapsed at `now_ms`.
    pub fn active_count(&self, now_ms: i64) -> usize {
        self.index.values().filter(|e| e.active(now_ms)).count()
    }

    /// Live, unlapsed keys this run's input did not hold, in journal order.
    pub fn missing(&self, now_ms: i64) -> Vec<u128> {
        let mut v: Vec<(u64, u128)> = self
            .index
            .iter()
            .filter(|(_, e)| e.active(now_ms) && !e.seen())
            .map(|(k, e)| (e.offset(), k))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, k)| k).collect()
    }

    /// The key and the record last accepted for an entry, read from disk.
    pub fn stored(&mut self, entry: &Entry) -> Result<(String, Value)> {
        self.flush()?;
        let reader = self
            .reader
            .as_ref()
            .ok_or_else(|| Error::Other(format!("{}: ledger not open", self.path.display())))?;
        let line = read_line_at(reader, entry.offset()).map_err(|e| Error::io(&self.path, e))?;
        let mut v: Value = serde_json::from_slice(&line)
            .map_err(|e| corrupt(&self.path, 0, format!("at byte {}: {e}", entry.offset())))?;
        let key = v
            .get("key")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Ok((
            key,
            v.get_mut("record").map(Value::take).unwrap_or_default(),
        ))
    }

    /// Records a version the remote accepted.
    pub fn append(&mut self, a: &Accepted) -> Result<()> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut line = Vec::with_capacity(a.record.len() + a.key.len() + 128);
        line.extend_from_slice(b"{\"key\":");
        serde_json::to_writer(&mut line, a.key).expect("a string serialises");
        write!(
            line,
            ",\"hash\":\"{:016x}\",\"modified\":{},\"end\":{},\"live\":{},\"record\":",
            a.content_hash,
            a.modified.map_or("null".to_string(), |m| m.to_string()),
            a.valid_end.map_or("null".to_string(), |m| m.to_string()),
            a.live
        )
        .expect("writing to a Vec");
        line.extend_from_slice(a.record);
        line.extend_from_slice(b"}\n");
        w.write_all(&line).map_err(|e| Error::io(&self.path, e))?;
        // A key accepted in this run counts as seen: a later duplicate is noticed.
        let mut entry = Entry::on_disk(
            self.end,
            a.live,
            a.content_hash,
            a.modified.unwrap_or(i64::MIN),
            a.valid_end.unwrap_or(i64::MAX),
        );
        entry.mark_seen();
        self.index.insert(a.key_hash, entry);
        self.end += line.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Hands the appended lines to the operating system (a killed process keeps them).
    pub fn flush(&mut self) -> Result<()> {
        if self.dirty {
            if let Some(w) = self.writer.as_mut() {
                w.flush().map_err(|e| Error::io(&self.path, e))?;
            }
            self.dirty = false;
        }
        Ok(())
    }

    /// Flushes and syncs to disk (end of run).
    pub fn sync(&mut self) -> Result<()> {
        self.flush()?;
        if let Some(w) = self.writer.as_mut() {
            w.get_ref()
                .sync_all()
                .map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    f.set_len(len).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Reads the line starting at `offset`, newline included.
fn read_line_at(f: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut at = offset;
    loop {
        let n = f.read_at(&mut chunk, at)?;
        if n == 0 {
            return Ok(out);
        }
        if let Some(i) = chunk[..n].iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&chunk[..=i]);
            return Ok(out);
        }
        out.extend_from_slice(&chunk[..n]);
        at += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept<'a>(key: &'a str, hash: u64, live: bool, record: &'a [u8]) -> Accepted<'a> {
        Accepted {
            key,
            key_hash: record::key_hash(RecordKind::Stix, key),
            content_hash: hash,
            modified: Some(1000),
            valid_end: Some(5000),
            live,
            record,
        }
    }

    #[test]
    fn survives_reopen_keeps_latest_and_cuts_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        {
            let mut l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", false).unwrap();
            l.append(&accept("a", 1, true, b"{\"id\":\"a\",\"v\":1}"))
                .unwrap();
            l.append(&accept("b", 2, true, b"{\"id\":\"b\"}")).unwrap();
            l.append(&accept("a", 3, false, b"{\"id\":\"a\",\"v\":2}"))
                .unwrap();
            l.sync().unwrap();
        }
        // A crash in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"key\":\"c\",\"hash\":\"00").unwrap();
        drop(f);
        let mut l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", false).unwrap();
        assert_eq!(l.len(), 2);
        let a = l.get(record::key_hash(RecordKind::Stix, "a")).unwrap();
        assert!(!a.live());
        assert_eq!(a.content_hash, 3);
        let (key, rec) = l.stored(&a).unwrap();
        assert_eq!(key, "a");
        assert_eq!(rec["v"], 2);
        assert!(!std::fs::read_to_string(&path).unwrap().contains("\"c\""));
        assert!(Ledger::open(&path, RecordKind::Stix, "sentinel", "other", false).is_err());
    }

    #[test]
    fn seen_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        let mut l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", false).unwrap();
        for k in ["a", "b", "c"] {
            l.append(&accept(k, 1, true, b"{}")).unwrap();
        }
        assert!(l.missing(0).is_empty(), "accepted in this run means seen");
        l.sync().unwrap();
        // The next run.
        let mut l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", false).unwrap();
        assert!(!l.mark_seen(record::key_hash(RecordKind::Stix, "b")));
        assert!(
            l.mark_seen(record::key_hash(RecordKind::Stix, "b")),
            "a duplicate"
        );
        assert_eq!(l.active_count(0), 3);
        assert_eq!(l.active_count(6000), 0, "lapsed keys are not active");
        assert_eq!(
            l.missing(0),
            vec![
                record::key_hash(RecordKind::Stix, "a"),
                record::key_hash(RecordKind::Stix, "c")
            ]
        );
    }

    #[test]
    fn compaction_drops_superseded_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        {
            let mut l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", false).unwrap();
            for i in 0..1100u64 {
                l.append(&accept("a", i, true, b"{\"x\":1}")).unwrap();
            }
            l.append(&accept("b", 7, true, b"{\"y\":2}")).unwrap();
            l.sync().unwrap();
        }
        let mut l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", false).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 3);
        let b = l.get(record::key_hash(RecordKind::Stix, "b")).unwrap();
        assert_eq!(l.stored(&b).unwrap().1["y"], 2);
        let a = l.get(record::key_hash(RecordKind::Stix, "a")).unwrap();
        assert_eq!(a.content_hash, 1099);
    }

    #[test]
    fn dry_run_never_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        let l = Ledger::open(&path, RecordKind::Stix, "sentinel", "ws", true).unwrap();
        assert!(l.is_empty());
        assert!(!path.exists());
    }
}
