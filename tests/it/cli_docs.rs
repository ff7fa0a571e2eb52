//! Every tool prints the shared exit-code table in `--help`, and generates its
//! man page and shell completions from its own argument definitions.

use std::process::Command;

const TOOLS: [(&str, &str); 4] = [
    ("misp-pull", env!("CARGO_BIN_EXE_misp-pull")),
    ("ioc-map", env!("CARGO_BIN_EXE_ioc-map")),
    ("graph-push", env!("CARGO_BIN_EXE_graph-push")),
    ("misp-airgap", env!("CARGO_BIN_EXE_misp-airgap")),
];

fn run(bin: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn help_prints_the_exit_table() {
    for (name, bin) in TOOLS {
        let (code, out, _) = run(bin, &["--help"]);
        assert_eq!(code, Some(0), "{name}");
        assert!(
            out.contains(misp2ms::cli::exit::TABLE),
            "{name} --help lacks the exit table"
        );
        assert!(out.contains("Examples"), "{name} --help lacks examples");
    }
}

#[test]
fn man_pages_and_completions() {
    for (name, bin) in TOOLS {
        let (code, man, _) = run(bin, &["--generate", "man"]);
        assert_eq!(code, Some(0), "{name}");
        assert!(man.contains(&format!(".TH {name} 1")), "{name} man page");
        for shell in ["bash", "zsh", "fish"] {
            let (code, script, _) = run(bin, &["--generate", shell]);
            assert_eq!(code, Some(0), "{name} {shell}");
            assert!(script.contains(name), "{name} {shell} completion");
        }
        let (code, out, err) = run(bin, &["--generate", "tcsh"]);
        assert_eq!(code, Some(misp2ms::cli::exit::USAGE), "{name}");
        assert!(
            out.is_empty() && err.contains("bash, zsh, fish"),
            "{name}: {err}"
        );
    }
}
