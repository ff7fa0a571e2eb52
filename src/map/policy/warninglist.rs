//! `--warninglist-dir DIR`: MISP warninglists (MISP/misp-warninglists
//! `lists/<name>/list.json`): known-benign values that must not be exported.
//! Types `string` (exact), `substring`, `hostname` (the name and its
//! subdomains), `cidr` and `regex` (PCRE `/…/flags`, as far as the regex crate
//! understands it). A list applies to the MISP types in its
//! `matching_attributes` (all types when absent).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use regex::RegexSet;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::map::indicator::ValueKind;
use crate::map::mapper::network::parse_ip_value;
use crate::map::policy::allowlist::{host_of, Host};
use crate::map::policy::ipset::IpSet;

#[derive(Deserialize)]
struct File {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    list: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    matching_attributes: Vec<String>,
}

enum Matcher {
    Substring(Vec<String>),
    Cidr(IpSet),
    Regex(RegexSet),
}

struct List {
    name: String,
    types: HashSet<String>,
    /// `None` for the `string` and `hostname` lists, which live in the shared indexes.
    matcher: Option<Matcher>,
}

#[derive(Default)]
pub struct Warninglists {
    lists: Vec<List>,
    /// Exact values of all `string` lists → the lists holding them.
    strings: HashMap<String, Vec<u32>>,
    /// Names of all `hostname` lists → the lists holding them.
    hostnames: HashMap<String, Vec<u32>>,
    entries: usize,
}

impl Warninglists {
    /// Loads every warninglist JSON file under the directories (recursively).
    /// JSON files that are not warninglists (no `list` or `type`) are ignored.
    pub fn load(dirs: &[PathBuf]) -> Result<Self> {
        let mut w = Warninglists::default();
        for dir in dirs {
            let mut files = Vec::new();
            collect_json(dir, &mut files)?;
            files.sort();
            for f in files {
                let text = std::fs::read(&f).map_err(|e| Error::io(&f, e))?;
                let parsed: File = serde_json::from_slice(&text).map_err(|e| {
                    Error::usage(format!("{}: not a warninglist: {e}", f.display()))
                })?;
                w.add(parsed, &f);
            }
        }
        Ok(w)
    }

    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    pub fn entries(&self) -> usize {
        self.entries
    }

    fn add(&mut self, f: File, path: &Path) {
        let (Some(kind), Some(list)) = (f.kind, f.list) else {
            return;
        };
        let idx = self.lists.len() as u32;
        let name = f.name.unwrap_or_else(|| path.display().to_string());
        let entries = list
            .iter()
            .filter_map(|v| v.as_str())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let mut count = 0;
        let matcher = match kind.as_str() {
            "string" | "hostname" => {
                let map = if kind == "string" {
                    &mut self.strings
                } else {
                    &mut self.hostnames
                };
                for e in entries {
                    let e = e
                        .trim_start_matches("*.")
                        .trim_start_matches('.')
                        .trim_end_matches('.');
                    map.entry(e.to_lowercase()).or_default().push(idx);
                    count += 1;
                }
                None
            }
            "substring" => {
                let v: Vec<String> = entries.map(str::to_lowercase).collect();
                count = v.len();
                Some(Matcher::Substring(v))
            }
            "cidr" => {
                let mut set = IpSet::new();
                for e in entries {
                    if let Some(n) = parse_ip_value(e) {
                        set.insert(n);
                    }
                }
                set.finish();
                count = set.len();
                Some(Matcher::Cidr(set))
            }
            "regex" => {
                let pats: Vec<String> = entries
                    .map(pcre_to_regex)
                    .filter(|p| regex::Regex::new(p).is_ok())
                    .collect();
                count = pats.len();
                Some(Matcher::Regex(
                    RegexSet::new(&pats).expect("each pattern compiled"),
                ))
            }
            other => {
                eprintln!(
                    "ioc-map: {}: warninglist type {other:?} not supported; list ignored",
                    path.display()
                );
                return;
            }
        };
        self.entries += count;
        self.lists.push(List {
            name,
            types: f.matching_attributes.into_iter().collect(),
            matcher,
        });
    }

    fn applies(&self, i: u32, misp_type: &str, part_type: &str) -> bool {
        let t = &self.lists[i as usize].types;
        t.is_empty() || t.contains(misp_type) || t.contains(part_type)
    }

    /// The name of the first warninglist that holds this normalised value.
    /// Inline, so that a run without warninglists (most) pays no call.
    #[inline]
    pub fn check(
        &self,
        misp_type: &str,
        part_type: &str,
        kind: ValueKind,
        value: &str,
    ) -> Option<&str> {
        if self.lists.is_empty() {
            return None;
        }
        self.check_loaded(misp_type, part_type, kind, value)
    }

    fn check_loaded(
        &self,
        misp_type: &str,
        part_type: &str,
        kind: ValueKind,
        value: &str,
    ) -> Option<&str> {
        let lower = value.to_lowercase();
        let hit = |ids: Option<&Vec<u32>>| {
            ids.and_then(|ids| {
                ids.iter()
                    .copied()
                    .find(|&i| self.applies(i, misp_type, part_type))
            })
        };
        if let Some(i) = hit(self.strings.get(&lower)) {
            return Some(&self.lists[i as usize].name);
        }
        let host = host_of(kind, value);
        if let Some(Host::Name(h)) = &host {
            let mut d = h.to_lowercase();
            loop {
                if let Some(i) = hit(self.hostnames.get(&d)) {
                    return Some(&self.lists[i as usize].name);
                }
                match d.split_once('.') {
                    Some((_, p)) => d = p.to_string(),
                    None => break,
                }
            }
        }
        for (i, l) in self.lists.iter().enumerate() {
            let Some(m) = &l.matcher else { continue };
            if !self.applies(i as u32, misp_type, part_type) {
                continue;
            }
            let hit = match m {
                Matcher::Substring(v) => v.iter().any(|s| lower.contains(s.as_str())),
                Matcher::Cidr(set) => matches!(&host, Some(Host::Ip(n)) if set.overlaps(n)),
                Matcher::Regex(set) => set.is_match(value),
            };
            if hit {
                return Some(&l.name);
            }
        }
        None
    }
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in rd {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        if p.is_dir() {
            collect_json(&p, out)?;
        } else if p.extension().is_some_and(|e| e == "json") {
            out.push(p);
        }
    }
    Ok(())
}

/// `/^bad\.example$/i` → `(?i)^bad\.example$`; a bare pattern stays as it is.
fn pcre_to_regex(p: &str) -> String {
    if let Some(rest) = p.strip_prefix('/') {
        if let Some(end) = rest.rfind('/') {
            let (body, flags) = (&rest[..end], &rest[end + 1..]);
            let f: String = flags.chars().filter(|c| "imsx".contains(*c)).collect();
            return if f.is_empty() {
                body.to_string()
            } else {
                format!("(?{f}){body}")
            };
        }
    }
    p.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lists() -> Warninglists {
        let dir = tempfile::tempdir().unwrap();
        let w = |name: &str, body: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("list.json"), body).unwrap();
        };
        w(
            "a",
            r#"{"name":"Top domains","type":"hostname","list":["google.com"],"matching_attributes":["domain","hostname","url"]}"#,
        );
        w(
            "b",
            r#"{"name":"Public DNS","type":"cidr","list":["8.8.8.0/24","2001:4860::/32"],"matching_attributes":["ip-dst","ip-src","domain|ip"]}"#,
        );
        w(
            "c",
            r#"{"name":"Empty hash","type":"string","list":["D41D8CD98F00B204E9800998ECF8427E"]}"#,
        );
        w(
            "d",
            r#"{"name":"Sinkholes","type":"regex","list":["/^sinkhole\\./i","(unclosed"]}"#,
        );
        w(
            "e",
            r#"{"name":"Subs","type":"substring","list":["amazonaws"]}"#,
        );
        std::fs::write(dir.path().join("schema.json"), "{}").unwrap();
        Warninglists::load(&[dir.path().to_path_buf()]).unwrap()
    }

    #[test]
    fn each_type_matches() {
        let w = lists();
        assert_eq!(w.len(), 5);
        assert_eq!(
            w.check("domain", "domain", ValueKind::Domain, "mail.google.com"),
            Some("Top domains")
        );
        assert_eq!(
            w.check("url", "url", ValueKind::Url, "https://google.com/x"),
            Some("Top domains")
        );
        assert_eq!(
            w.check("email-src", "email-src", ValueKind::Email, "a@google.com"),
            None,
            "type not listed"
        );
        assert_eq!(
            w.check(
                "ip-dst",
                "ip-dst",
                ValueKind::Ipv4 { cidr: false },
                "8.8.8.8"
            ),
            Some("Public DNS")
        );
        assert_eq!(
            w.check(
                "domain|ip",
                "ip-dst",
                ValueKind::Ipv6 { cidr: false },
                "2001:4860::8888"
            ),
            Some("Public DNS")
        );
        assert_eq!(
            w.check(
                "ip-dst",
                "ip-dst",
                ValueKind::Ipv4 { cidr: false },
                "9.9.9.9"
            ),
            None
        );
        let md5 = ValueKind::Hash(crate::map::indicator::HashAlgo::Md5);
        assert_eq!(
            w.check("md5", "md5", md5, "d41d8cd98f00b204e9800998ecf8427e"),
            Some("Empty hash")
        );
        assert_eq!(
            w.check("domain", "domain", ValueKind::Domain, "SINKHOLE.example"),
            Some("Sinkholes")
        );
        assert_eq!(
            w.check("hostname", "hostname", ValueKind::Domain, "x.amazonaws.com"),
            Some("Subs")
        );
        assert_eq!(
            w.check("domain", "domain", ValueKind::Domain, "bad.example"),
            None
        );
    }
}
