//! Shell completions and man pages, generated from each tool's own clap
//! definition so they never drift: `TOOL --generate bash|zsh|fish|elvish|powershell|man`.

use std::io::Write;

use clap::{CommandFactory, Parser};

/// Parses the tool's arguments, or, when the first argument is `--generate
/// KIND`, writes that completion script or man page to stdout and exits.
pub fn parse_or_generate<A: Parser + CommandFactory>() -> A {
    let mut argv = std::env::args_os().skip(1);
    if argv.next().as_deref() == Some(std::ffi::OsStr::new("--generate")) {
        let kind = argv
            .next()
            .and_then(|k| k.into_string().ok())
            .unwrap_or_default();
        std::process::exit(
            match generate(&mut A::command(), &kind, &mut std::io::stdout()) {
                Ok(()) => crate::cli::exit::OK,
                Err(msg) => {
                    eprintln!("{msg}");
                    crate::cli::exit::USAGE
                }
            },
        );
    }
    A::parse()
}

/// Writes one completion script (`bash`, `zsh`, `fish`, `elvish`, `powershell`) or the man page (`man`).
pub fn generate(cmd: &mut clap::Command, kind: &str, out: &mut dyn Write) -> Result<(), String> {
    let name = cmd.get_name().to_string();
    if kind == "man" {
        return clap_mangen::Man::new(cmd.clone())
            .render(out)
            .map_err(|e| format!("{name}: writing the man page: {e}"));
    }
    let shell: clap_complete::Shell = kind.parse().map_err(|_| {
        format!("{name}: --generate takes bash, zsh, fish, elvish, powershell or man, not {kind:?}")
    })?;
    clap_complete::generate(shell, cmd, name, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    #[command(name = "demo", about = "A demo tool")]
    struct Demo {
        /// A flag.
        #[arg(long)]
        flag: bool,
    }

    #[test]
    fn man_and_completions() {
        let mut out = Vec::new();
        generate(&mut Demo::command(), "man", &mut out).unwrap();
        assert!(String::from_utf8_lossy(&out).contains(".TH demo"));
        out.clear();
        generate(&mut Demo::command(), "bash", &mut out).unwrap();
        assert!(String::from_utf8_lossy(&out).contains("--flag"));
        assert!(generate(&mut Demo::command(), "tcsh", &mut out).is_err());
    }
}
