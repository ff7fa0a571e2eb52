//! The ledger on disk (docs/graph-push.md#ledger---ledger-file): a header line,
//! then an append-only journal of frames (frame.rs), one per accepted record,
//! written only after the remote accepted it (a crash can lose the last frames,
//! which makes the next run resend them, but can never mark an unsent record as
//! sent). A torn last frame is cut off on open; superseded frames are dropped
//! by compaction on open. The index (index.rs) holds where each key's latest
//! frame is.
//!
//! Ledgers of format 1 (NDJSON lines holding the whole record) are still read
//! (format1.rs): a run that writes converts one to format 2 when it opens it; a
//! dry run reads it as it is.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::codec::Reader;
use super::damage::{corrupt, truncate, zeros_from};
use super::format1::{load_v1, read_v1_at};
use super::frame::{frame, frame_end, payload, payload_head, read_frame_at, read_full, MAX_FRAME};
use super::index::{Entry, KeyIndex};
use super::kept::kept_of_text;
use super::lock::{self, LedgerLock};
use crate::cli::interrupt::Interrupt;
use crate::error::{Error, Result};
use crate::push::record::{self, RecordKind};

// The tests compare what the ledger stored with `super::kept`.
#[cfg(test)]
use super::kept::kept;

/// The format this version writes.
const FORMAT: u32 = 2;

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

pub struct Ledger {
    path: PathBuf,
    kind: RecordKind,
    /// The format of the file as it is on disk (1 only when read, never written).
    format: u32,
    /// None in a dry run: nothing is ever written.
    writer: Option<BufWriter<File>>,
    reader: Option<File>,
    end: u64,
    dirty: bool,
    index: KeyIndex,
    /// Held from open to drop by a ledger that writes.
    _lock: Option<LedgerLock>,
}

impl Ledger {
    /// Opens the ledger of `target` + `workspace` to read only (dry run): never
    /// creates, converts or changes the file, and takes no lock.
    pub fn open_read_only(
        path: &Path,
        kind: RecordKind,
        target: &str,
        workspace: &str,
    ) -> Result<Self> {
        Self::open_inner(path, kind, target, workspace, None)
    }

    /// Opens (or creates) the ledger of `target` + `workspace` for a run that
    /// writes it: first takes its lock (refused at once, or after `wait`, while
    /// another run holds it).
    pub fn open(
        path: &Path,
        kind: RecordKind,
        target: &str,
        workspace: &str,
        wait: Option<Duration>,
        interrupt: &Interrupt,
    ) -> Result<Self> {
        let lock = lock::acquire(path, wait, interrupt, "graph-push")?;
        Self::open_inner(path, kind, target, workspace, Some(lock))
    }

    fn open_inner(
        path: &Path,
        kind: RecordKind,
        target: &str,
        workspace: &str,
        lock: Option<LedgerLock>,
    ) -> Result<Self> {
        let read_only = lock.is_none();
        let header = Header {
            version: FORMAT,
            target: target.to_string(),
            workspace: workspace.to_string(),
        };
        let mut ledger = Ledger {
            path: path.to_path_buf(),
            kind,
            format: FORMAT,
            writer: None,
            reader: None,
            end: 0,
            dirty: false,
            index: KeyIndex::default(),
            _lock: lock,
        };
        let exists = path.exists();
        if !exists && read_only {
            return Ok(ledger);
        }
        if !exists {
            crate::io::output::write_atomic(path, &header_line(&header))?;
        }
        let records = ledger.load(&header, read_only)?;
        if !read_only && (ledger.format != FORMAT || records > 2 * ledger.index.len() as u64 + 1024)
        {
            let (from, before) = (ledger.format, ledger.end);
            ledger.compact(&header)?;
            if from != FORMAT {
                eprintln!(
                    "graph-push: {}: ledger converted from format {from} to {FORMAT}: {} keys, \
                     {before} bytes now {}",
                    path.display(),
                    ledger.index.len(),
                    ledger.end
                );
            }
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

    /// Reads the journal into the index; returns the number of records on disk.
    fn load(&mut self, want: &Header, read_only: bool) -> Result<u64> {
        let path = self.path.clone();
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let mut r = BufReader::with_capacity(256 * 1024, file);
        let mut head = Vec::new();
        let n = r
            .read_until(b'\n', &mut head)
            .map_err(|e| Error::io(&path, e))?;
        let got: Header = serde_json::from_slice(&head)
            .ok()
            .filter(|_| head.ends_with(b"\n"))
            .ok_or_else(|| corrupt(&path, "line 1", "not a graph-push ledger"))?;
        if got.target != want.target || got.workspace != want.workspace {
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
        self.format = got.version;
        match got.version {
            1 => {
                let (lines, end) =
                    load_v1(&path, self.kind, &mut self.index, r, n as u64, read_only)?;
                self.end = end;
                Ok(lines)
            }
            FORMAT => self.load_frames(r, n as u64, file_len, read_only),
            v => Err(Error::usage(format!(
                "{}: ledger format {v} is newer than this graph-push reads (1 and {FORMAT}): \
                 use the graph-push that wrote it",
                path.display()
            ))),
        }
    }

    /// Format 2: frames after the header.
    fn load_frames(
        &mut self,
        mut r: BufReader<File>,
        start: u64,
        file_len: u64,
        read_only: bool,
    ) -> Result<u64> {
        let path = self.path.clone();
        let mut offset = start;
        let mut records = 0u64;
        let mut buf = Vec::new();
        loop {
            let mut len = [0u8; 4];
            let got = read_full(&mut r, &mut len).map_err(|e| Error::io(&path, e))?;
            if got == 0 {
                break;
            }
            let n = u32::from_le_bytes(len);
            let valid_len = got == 4 && n > 0 && n <= MAX_FRAME;
            let fits = valid_len && frame_end(offset, n) <= file_len && {
                buf.resize(n as usize + 4, 0);
                read_full(&mut r, &mut buf).map_err(|e| Error::io(&path, e))? == buf.len()
            };
            let head = if fits {
                let (p, crc) = buf.split_at(n as usize);
                if crc32fast::hash(p).to_le_bytes() == crc {
                    payload_head(&mut Reader::new(p)).ok()
                } else {
                    None
                }
            } else {
                None
            };
            let Some((entry, key)) = head else {
                // The frame a crash cut short ends the journal (also when only its
                // length made it to disk, or when the file system left zeros after
                // it); damage before the last frame is an error.
                let torn = got < 4
                    || (valid_len && !fits)
                    || (fits && frame_end(offset, n) == file_len)
                    || zeros_from(&path, offset, file_len)?;
                if !torn {
                    return Err(corrupt(&path, &format!("byte {offset}"), "damaged record"));
                }
                if !read_only {
                    truncate(&path, offset)?;
                }
                break;
            };
            let mut e = entry;
            e.moved_to(offset);
            self.index.insert(record::key_hash(self.kind, &key), e);
            records += 1;
            offset = frame_end(offset, n);
        }
        self.end = offset;
        Ok(records)
    }

    /// Rewrites the journal in the current format with only the latest
    /// record of each key, and moves it into place atomically.
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
        let head = header_line(header);
        w.write_all(&head).map_err(|e| Error::io(&path, e))?;
        let mut end = head.len() as u64;
        let mut order: Vec<(u64, u128)> = self.index.iter().map(|(k, e)| (e.offset(), k)).collect();
        order.sort_unstable();
        for (off, k) in order {
            let e = self.index.get_mut(k).expect("key indexed");
            let bytes = if self.format == FORMAT {
                read_frame_at(&src, off).map_err(|e| Error::io(&path, e))?
            } else {
                let (key, rec) = read_v1_at(&src, &path, off, self.kind)?;
                let m = (e.modified != i64::MIN).then_some(e.modified);
                let v = (e.valid_end != i64::MAX).then_some(e.valid_end);
                frame(&payload(&key, e.content_hash, m, v, e.live(), &rec))
            };
            w.write_all(&bytes).map_err(|e| Error::io(&path, e))?;
            e.moved_to(end);
            end += bytes.len() as u64;
        }
        let tmp = w
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(&path, e))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        self.format = FORMAT;
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

    /// The key and what the ledger kept of the record last accepted for an
    /// entry ([`kept`](super::kept::kept)), read from disk.
    pub fn stored(&mut self, entry: &Entry) -> Result<(String, Value)> {
        self.flush()?;
        let reader = self
            .reader
            .as_ref()
            .ok_or_else(|| Error::Other(format!("{}: ledger not open", self.path.display())))?;
        let at = entry.offset();
        if self.format != FORMAT {
            let (key, rec) = read_v1_at(reader, &self.path, at, self.kind)?;
            return Ok((key, Value::Object(rec)));
        }
        let bytes = read_frame_at(reader, at).map_err(|e| Error::io(&self.path, e))?;
        let bad = |msg| corrupt(&self.path, &format!("byte {at}"), msg);
        if bytes.len() < 8 {
            return Err(bad("cut short"));
        }
        let p = &bytes[4..bytes.len() - 4];
        if crc32fast::hash(p).to_le_bytes() != bytes[bytes.len() - 4..] {
            return Err(bad("damaged record"));
        }
        let mut r = Reader::new(p);
        let (_, key) = payload_head(&mut r).map_err(bad)?;
        let rec = r.value(&key).map_err(bad)?;
        Ok((key, rec))
    }

    /// Records a version the remote accepted.
    pub fn append(&mut self, a: &Accepted) -> Result<()> {
        if self.writer.is_none() {
            return Ok(());
        }
        let rec = kept_of_text(self.kind, a.record).map_err(|e| {
            Error::Other(format!(
                "{}: record of {} not kept: {e}",
                self.path.display(),
                a.key
            ))
        })?;
        let bytes = frame(&payload(
            a.key,
            a.content_hash,
            a.modified,
            a.valid_end,
            a.live,
            &rec,
        ));
        let w = self.writer.as_mut().expect("checked above");
        w.write_all(&bytes).map_err(|e| Error::io(&self.path, e))?;
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
        self.end += bytes.len() as u64;
        self.dirty = true;
        Ok(())
    }

    /// Hands the appended frames to the operating system (a killed process keeps them).
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

fn header_line(h: &Header) -> Vec<u8> {
    let mut line = serde_json::to_vec(h).expect("header serialises");
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    fn open(path: &Path) -> Result<Ledger> {
        Ledger::open(
            path,
            RecordKind::Stix,
            "sentinel",
            "ws",
            None,
            &Interrupt::none(),
        )
    }

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

    fn kh(key: &str) -> u128 {
        record::key_hash(RecordKind::Stix, key)
    }

    fn append_bytes(path: &Path, b: &[u8]) {
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(b).unwrap();
    }

    #[test]
    fn survives_reopen_keeps_latest_and_cuts_torn_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        {
            let mut l = open(&path).unwrap();
            l.append(&accept("a", 1, true, br#"{"id":"a","name":"v1"}"#))
                .unwrap();
            l.append(&accept("b", 2, true, br#"{"id":"b"}"#)).unwrap();
            l.append(&accept("a", 3, false, br#"{"id":"a","name":"v2"}"#))
                .unwrap();
            l.sync().unwrap();
        }
        let sound = std::fs::metadata(&path).unwrap().len();
        // A crash in the middle of a frame: its length says more than follows.
        append_bytes(&path, &[100, 0, 0, 0, 1, 2, 3]);
        let mut l = open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), sound, "cut off");
        assert_eq!(l.len(), 2);
        let a = l.get(kh("a")).unwrap();
        assert!(!a.live());
        assert_eq!(a.content_hash, 3);
        assert_eq!((a.modified, a.valid_end), (1000, 5000));
        let (key, rec) = l.stored(&a).unwrap();
        assert_eq!(key, "a");
        assert_eq!(rec, json!({"id": "a", "name": "v2"}));
        drop(l);
        // A whole frame whose content never made it (a bad checksum), then the
        // zeros some file systems leave after a crash.
        let mut f = frame(&payload("c", 9, None, None, true, &Map::new()));
        let n = f.len();
        f[n - 1] ^= 0xff;
        append_bytes(&path, &f);
        let l = open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), sound);
        assert!(l.get(kh("c")).is_none());
        drop(l);
        append_bytes(&path, &[0u8; 4096]);
        assert_eq!(open(&path).unwrap().len(), 2);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), sound);
        let other = Ledger::open(
            &path,
            RecordKind::Stix,
            "sentinel",
            "other",
            None,
            &Interrupt::none(),
        );
        assert_eq!(other.err().map(|e| e.exit_code()), Some(2));
    }

    #[test]
    fn damage_before_the_end_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        {
            let mut l = open(&path).unwrap();
            l.append(&accept("a", 1, true, br#"{"id":"a","name":"first"}"#))
                .unwrap();
            l.append(&accept("b", 2, true, br#"{"id":"b"}"#)).unwrap();
            l.sync().unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(5).position(|w| w == b"first").unwrap();
        bytes[at] = b'F';
        std::fs::write(&path, &bytes).unwrap();
        let err = open(&path).err().expect("damage is an error");
        assert!(err.to_string().contains("ledger unreadable"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing cut");
    }

    #[test]
    fn seen_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        let mut l = open(&path).unwrap();
        for k in ["a", "b", "c"] {
            l.append(&accept(k, 1, true, b"{}")).unwrap();
        }
        assert!(l.missing(0).is_empty(), "accepted in this run means seen");
        l.sync().unwrap();
        drop(l);
        // The next run.
        let mut l = open(&path).unwrap();
        assert!(!l.mark_seen(kh("b")));
        assert!(l.mark_seen(kh("b")), "a duplicate");
        assert_eq!(l.active_count(0), 3);
        assert_eq!(l.active_count(6000), 0, "lapsed keys are not active");
        assert_eq!(l.missing(0), vec![kh("a"), kh("c")]);
    }

    #[test]
    fn compaction_drops_superseded_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        {
            let mut l = open(&path).unwrap();
            for i in 0..1100u64 {
                l.append(&accept("a", i, true, br#"{"name":"x"}"#)).unwrap();
            }
            l.append(&accept("b", 7, true, br#"{"name":"y"}"#)).unwrap();
            l.sync().unwrap();
        }
        let big = std::fs::metadata(&path).unwrap().len();
        let mut l = open(&path).unwrap();
        let small = std::fs::metadata(&path).unwrap().len();
        assert!(small * 100 < big, "{small} of {big}");
        let b = l.get(kh("b")).unwrap();
        assert_eq!(l.stored(&b).unwrap().1["name"], "y");
        let a = l.get(kh("a")).unwrap();
        assert_eq!(a.content_hash, 1099);
        assert_eq!(l.stored(&a).unwrap().1["name"], "x");
    }

    #[test]
    fn dry_run_never_creates_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        let l = Ledger::open_read_only(&path, RecordKind::Stix, "sentinel", "ws").unwrap();
        assert!(l.is_empty());
        assert!(!path.exists());
        assert!(!lock::lock_path(&path).exists());
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        let first = open(&path).unwrap();
        let err = open(&path).err().expect("refused");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("l.ledger: in use"), "{err}");
        // A dry run reads beside it.
        Ledger::open_read_only(&path, RecordKind::Stix, "sentinel", "ws").unwrap();
        drop(first);
        open(&path).unwrap();
    }

    /// An indicator as ioc-map writes it.
    fn indicator() -> Value {
        json!({"type":"indicator","spec_version":"2.1",
            "id":"indicator--87b341d6-90d7-428a-af9b-6dae6f4c57a8",
            "created":"2026-11-21T00:00:00.000Z","modified":"2026-11-22T15:55:19.000Z",
            "created_by_ref":"identity--5b1d7f0e-3c2a-4e8b-9d61-0a7ce4f29b35",
            "name":"Generated campaign 1: driti",
            "description":"MISP ip-src from event: Generated campaign 1: driti; comment: observed 192 times",
            "indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '141.165.117.99']",
            "pattern_type":"stix","pattern_version":"2.1","valid_from":"2026-11-22T03:26:29.000Z",
            "valid_until":"2026-12-22T15:55:19.000Z",
            "kill_chain_phases":[{"kill_chain_name":"misp-category","phase_name":"network-activity"}],
            "labels":["osint:source-type=\"block-or-filter-list\"","TLP:AMBER+STRICT"],"confidence":50,
            "object_marking_refs":["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"],
            "external_references":[{"source_name":"MISP","external_id":"a768b5d2-79fb-4c81-a81c-8e4e063cc61a"}]})
    }

    #[test]
    fn stix_keeps_what_versions_and_retirements_need_in_little_space() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.ledger");
        let rec = indicator();
        let key = rec["id"].as_str().unwrap();
        let body = serde_json::to_vec(&rec).unwrap();
        let mut l = open(&path).unwrap();
        let before = l.end;
        l.append(&Accepted {
            key,
            key_hash: kh(key),
            content_hash: 42,
            modified: Some(1_795_000_000_000),
            valid_end: Some(1_797_000_000_000),
            live: true,
            record: &body,
        })
        .unwrap();
        let size = l.end - before;
        assert!(size <= 200, "{size} bytes for a {} byte record", body.len());
        let (k, kept) = l.stored(&l.get(kh(key)).unwrap()).unwrap();
        assert_eq!(k, key);
        assert_eq!(
            Value::Object(kept_of_text(RecordKind::Stix, &body).unwrap()),
            Value::Object(super::kept(
                RecordKind::Stix,
                rec.as_object().unwrap().clone()
            ))
        );
        let mut want = rec.clone();
        let o = want.as_object_mut().unwrap();
        for f in [
            "description",
            "indicator_types",
            "valid_until",
            "kill_chain_phases",
            "confidence",
            "external_references",
        ] {
            o.remove(f);
        }
        o["labels"] = json!(["TLP:AMBER+STRICT"]);
        assert_eq!(kept, want);
        // Defender and Graph records are kept whole.
        let d = json!({"indicatorValue":"x.example","indicatorType":"DomainName","action":"Audit",
            "title":"t","description":"d","expirationTime":"2027-01-01T00:00:00Z"});
        assert_eq!(
            super::kept(RecordKind::Defender, d.as_object().unwrap().clone()),
            *d.as_object().unwrap()
        );
    }

    #[test]
    fn a_format_1_ledger_is_read_and_converted_by_a_run_that_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.ledger");
        let rec = serde_json::to_string(&indicator()).unwrap();
        let key = indicator()["id"].as_str().unwrap().to_string();
        // As the earlier graph-push wrote it: a superseded line, and a torn one.
        let mut v1 = String::from(
            "{\"graph-push-ledger\":1,\"target\":\"sentinel\",\"workspace\":\"ws\"}\n",
        );
        v1 += &format!(
            "{{\"key\":\"{key}\",\"hash\":\"00000000000000aa\",\"modified\":1,\"end\":null,\"live\":true,\"record\":{{\"name\":\"old\"}}}}\n"
        );
        v1 += &format!(
            "{{\"key\":\"{key}\",\"hash\":\"00000000000000bb\",\"modified\":1795000000000,\"end\":1797000000000,\"live\":true,\"record\":{rec}}}\n"
        );
        v1 += "{\"key\":\"b\",\"hash\":\"00000000000000cc\",\"modified\":null,\"end\":null,\"live\":false,\"record\":{}}\n";
        v1 += "{\"key\":\"torn";
        std::fs::write(&path, &v1).unwrap();
        let check = |l: &mut Ledger| {
            assert_eq!(l.len(), 2);
            let e = l.get(kh(&key)).unwrap();
            assert!(e.live());
            assert_eq!(e.content_hash, 0xbb);
            assert_eq!(
                (e.modified, e.valid_end),
                (1_795_000_000_000, 1_797_000_000_000)
            );
            let (k, kept) = l.stored(&e).unwrap();
            assert_eq!(k, key);
            assert_eq!(
                Value::Object(super::kept(
                    RecordKind::Stix,
                    indicator().as_object().unwrap().clone()
                )),
                kept
            );
            let b = l.get(kh("b")).unwrap();
            assert!(!b.live());
            assert_eq!((b.modified, b.valid_end), (i64::MIN, i64::MAX));
            assert_eq!(l.stored(&b).unwrap(), ("b".to_string(), json!({})));
        };
        // A dry run reads it and changes nothing.
        check(&mut Ledger::open_read_only(&path, RecordKind::Stix, "sentinel", "ws").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), v1);
        // A run that writes converts it, and goes on appending.
        let mut l = open(&path).unwrap();
        check(&mut l);
        l.append(&accept("c", 5, true, br#"{"name":"new"}"#))
            .unwrap();
        l.sync().unwrap();
        drop(l);
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"{\"graph-push-ledger\":2,"));
        assert!(
            bytes.len() * 4 < v1.len(),
            "{} of {}",
            bytes.len(),
            v1.len()
        );
        let mut l = open(&path).unwrap();
        assert_eq!(l.len(), 3);
        let c = l.get(kh("c")).unwrap();
        assert_eq!(l.stored(&c).unwrap().1["name"], "new");
        l.get(kh(&key)).unwrap();
        drop(l);
        // A ledger of a later format is refused, not misread.
        std::fs::write(
            &path,
            "{\"graph-push-ledger\":3,\"target\":\"sentinel\",\"workspace\":\"ws\"}\n",
        )
        .unwrap();
        let err = open(&path).err().expect("refused");
        assert!(err.to_string().contains("format 3 is newer"), "{err}");
    }
}
