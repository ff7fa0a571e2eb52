//! Running misp-pull and reading a run: shared by the tests that pull.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::emulator::misp::{Emulator, TEST_KEY};

pub const BIN: &str = env!("CARGO_BIN_EXE_misp-pull");

/// misp-pull against `emu` (its URL and the test key), with short retry
/// waits and no proxy from the environment.
pub fn command(emu: &Emulator) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--retry-wait", "50ms"])
        .env("MISP_URL", &emu.url)
        .env("MISP_KEY", TEST_KEY)
        .env_remove("HTTPS_PROXY")
        .env_remove("HTTP_PROXY")
        .env_remove("https_proxy")
        .env_remove("http_proxy");
    c
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The lines written, each parsed as JSON.
pub fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}
