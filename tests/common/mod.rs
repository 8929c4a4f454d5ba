//! Helpers shared by the end-to-end tests of the dexstudio binary.

use std::process::Command;

/// Run the binary; (success, stdout, stderr).
pub fn dexstudio(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dexstudio"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Run the binary, expect success, parse stdout as JSON.
pub fn json(args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = dexstudio(args);
    assert!(ok, "{args:?} failed: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}): {stdout}"))
}
