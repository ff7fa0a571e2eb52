//! The design document names, next to each rule, the tests that pin it
//! (`` `tests/it/pipeline.rs: fn_name` ``, `` `src/misp/ids.rs: fn_name` ``). A
//! citation that no longer points at a test is a rule nobody checks: every one
//! must name a file that exists and defines that function.

use std::collections::BTreeSet;

use crate::support::docs::repo;

/// Every `` `PATH.rs: NAME` `` citation in TEXT.
fn citations(text: &str) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for piece in text.split('`').skip(1).step_by(2) {
        let Some((path, name)) = piece.split_once(".rs: ") else {
            continue;
        };
        let is_fn = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if is_fn && (path.starts_with("src/") || path.starts_with("tests/")) {
            found.insert((format!("{path}.rs"), name.to_string()));
        }
    }
    found
}

#[test]
fn every_test_the_design_cites_exists() {
    let text = std::fs::read_to_string(repo().join("docs/design.md")).unwrap();
    let cited = citations(&text);
    assert!(cited.len() > 100, "only {} citations found", cited.len());
    let missing: Vec<String> = cited
        .iter()
        .filter(|(path, name)| {
            let Ok(code) = std::fs::read_to_string(repo().join(path)) else {
                return true;
            };
            // A test function, or a case of a `cases!` table (ioc_map_golden.rs).
            !code.contains(&format!("fn {name}(")) && !code.contains(&format!("\n    {name}: "))
        })
        .map(|(path, name)| format!("{path}: {name}"))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/design.md cites tests that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn citations_are_read_from_backquoted_path_and_name() {
    let text = "Pinned by `src/a/b.rs: one_test`, `tests/it/x.rs: two` and `not: this`.";
    let got: Vec<(String, String)> = citations(text).into_iter().collect();
    assert_eq!(
        got,
        [
            ("src/a/b.rs".to_string(), "one_test".to_string()),
            ("tests/it/x.rs".to_string(), "two".to_string())
        ]
    );
}
