//! The documentation's tested parts. The tests run fenced blocks whose info
//! string is `sh test=NAME`; `sh settings` is the walkthrough's list of
//! environment variables (shown, not run). A section is either marked
//! `<!-- section: NAME -->` … `<!-- end: NAME -->` or is a `## NAME` heading
//! with what follows it up to the next `## ` heading; it is looked for in
//! README.md and every docs/*.md, and exactly one of them must hold it, so
//! that a section may move from one file to another.
//!
//! Also the Quick start test's own binary (tests/docs/main.rs): everything
//! here is used by both.

use std::path::PathBuf;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and docs/*.md, as (name relative to the repository, text).
fn files() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string()];
    if let Ok(dir) = std::fs::read_dir(repo().join("docs")) {
        let mut md: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".md"))
            .map(|n| format!("docs/{n}"))
            .collect();
        md.sort();
        names.extend(md);
    }
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(repo().join(&n))
                .unwrap_or_else(|e| panic!("read {n}: {e}"));
            (n, text)
        })
        .collect()
}

/// A part of one documentation file.
#[derive(Debug, Clone)]
pub struct Section {
    /// README.md or docs/NAME.md.
    pub file: String,
    pub text: String,
    /// The file's line (from 1) the text starts on.
    pub line: usize,
}

/// The section `name` (see the module's comment), from whichever file holds it.
pub fn section(name: &str) -> Section {
    let found: Vec<Section> = files()
        .into_iter()
        .filter_map(|(file, text)| {
            let (line, part) = marked(&text, name).or_else(|| headed(&text, name))?;
            Some(Section {
                file,
                text: part,
                line,
            })
        })
        .collect();
    let files: Vec<&str> = found.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(
        found.len(),
        1,
        "section {name:?}: expected in exactly one of README.md and docs/*.md, found in {files:?}"
    );
    found.into_iter().next().unwrap()
}

/// The text between `<!-- section: NAME -->` and `<!-- end: NAME -->`, and its first line.
fn marked(text: &str, name: &str) -> Option<(usize, String)> {
    let start = format!("<!-- section: {name} -->");
    let end = format!("<!-- end: {name} -->");
    let a = text.find(&start)?;
    let b = text[a..]
        .find(&end)
        .unwrap_or_else(|| panic!("{start} without {end}"))
        + a;
    let line = text[..a].lines().count() + 1;
    Some((line, text[a..b].to_string()))
}

/// The heading line `## NAME` and the lines after it up to the next `## `
/// heading (outside code blocks), and its first line.
fn headed(text: &str, name: &str) -> Option<(usize, String)> {
    let heading = format!("## {name}");
    let lines: Vec<&str> = text.lines().collect();
    let a = lines.iter().position(|l| l.trim_end() == heading)?;
    let mut fenced = false;
    let mut b = lines.len();
    for (i, l) in lines.iter().enumerate().skip(a + 1) {
        if l.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && l.starts_with("## ") {
            b = i;
            break;
        }
    }
    Some((a + 1, lines[a..b].join("\n")))
}

/// One fenced block: its info string, its text and the file's line it starts on.
#[derive(Debug, Clone)]
pub struct Block {
    pub info: String,
    pub code: String,
    pub line: usize,
}

impl Block {
    /// NAME of a `test=NAME` block.
    pub fn test_name(&self) -> Option<&str> {
        self.info
            .split_whitespace()
            .find_map(|w| w.strip_prefix("test="))
    }
}

/// Every ``` fenced block of a section.
pub fn blocks(section: &Section) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in section.text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    code: String::new(),
                    line: section.line + i,
                })
            }
            (Some(_), Some(rest)) if rest.trim().is_empty() => out.push(open.take().unwrap()),
            (Some(b), _) => {
                b.code.push_str(line);
                b.code.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "{}: an unclosed ``` block", section.file);
    out
}

/// The `test=NAME` block of a section (exactly one).
pub fn tested(section: &Section, name: &str) -> Block {
    let found: Vec<Block> = blocks(section)
        .into_iter()
        .filter(|b| b.test_name() == Some(name))
        .collect();
    let lines: Vec<usize> = found.iter().map(|b| b.line).collect();
    assert_eq!(
        found.len(),
        1,
        "{}: blocks test={name} at lines {lines:?}, expected one",
        section.file
    );
    found.into_iter().next().unwrap()
}
