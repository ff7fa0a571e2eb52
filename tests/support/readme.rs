//! Reads the fenced code blocks of README.md that the tests run: a block whose
//! info string is `sh test=NAME` is run by a test under that name; `sh settings`
//! is the walkthrough's list of environment variables (shown, not run).

#![allow(dead_code)] // each test binary uses a part
use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).expect("read README.md")
}

/// The text between `<!-- section: NAME -->` and `<!-- end: NAME -->`.
pub fn section(readme: &str, name: &str) -> String {
    let start = format!("<!-- section: {name} -->");
    let end = format!("<!-- end: {name} -->");
    let a = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README has no {start}"));
    let b = readme[a..]
        .find(&end)
        .unwrap_or_else(|| panic!("README has no {end}"))
        + a;
    readme[a..b].to_string()
}

/// The text from the line `start` to the line `end` (headings, say).
pub fn section_between(readme: &str, start: &str, end: &str) -> String {
    let a = readme
        .lines()
        .position(|l| l == start)
        .unwrap_or_else(|| panic!("README has no line {start:?}"));
    let lines: Vec<&str> = readme.lines().skip(a).take_while(|l| *l != end).collect();
    lines.join("\n")
}

/// One fenced block: its info string, its text and the line it starts on.
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

/// Every ``` fenced block of `text`.
pub fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_string(),
                    code: String::new(),
                    line: i + 1,
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
    assert!(open.is_none(), "an unclosed ``` block");
    out
}

/// The `test=NAME` block of `text` (exactly one).
pub fn tested(text: &str, name: &str) -> Block {
    let found: Vec<Block> = blocks(text)
        .into_iter()
        .filter(|b| b.test_name() == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "README: {} blocks test={name}", found.len());
    found.into_iter().next().unwrap()
}

/// The names the `export NAME=` lines of a block set.
pub fn exported_names(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('=').map(|(n, _)| n.trim().to_string()))
        .collect()
}

/// Whether a program runs here (`openssl version`, …).
pub fn have(program: &str, arg: &str) -> bool {
    std::process::Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The directory holding the binaries under test.
pub fn bin_dir() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_misp-pull")).parent().unwrap()
}
