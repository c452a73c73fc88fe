//! The test-hook variables (`STRONGROOM_KDF=floor`, `STRONGROOM_FAULT`) are inert in a build
//! without crm-core's `test-hooks` feature, as every release build is.
//!
//! This test run has the feature on (crm-cli's tests need it), and building crm a second time
//! without it would take minutes. So instead: every hook is read through one gate,
//! `src/test_hooks.rs`, which uses the standard library only; this test compiles that file on
//! its own with `rustc`, once without the feature and once with it, and runs its unit test with
//! every hook variable set (the feature-less build must not see them, the other must). A
//! second test checks that nothing in crm-core, crm-cli, crm-api or src-tauri reads a hook
//! variable around the gate.

use std::path::{Path, PathBuf};
use std::process::Command;

type TestResult = Result<(), String>;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The hook variable names, as the gate lists them.
fn hook_variables() -> &'static [&'static str] {
    &crm_core::test_hooks::VARIABLES
}

/// Compiles the gate alone into a test binary in `out` and runs it with every hook variable
/// set, returning its output.
fn run_gate_alone(out: &Path, with_feature: bool) -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let binary = out.join(if with_feature { "gate-on" } else { "gate-off" });
    let mut compile = Command::new(rustc);
    compile
        .args(["--edition", "2024", "--test", "--crate-name", "test_hooks"])
        .arg(crate_dir().join("src/test_hooks.rs"))
        .arg("-o")
        .arg(&binary);
    if with_feature {
        compile.args(["--cfg", "feature=\"test-hooks\""]);
    }
    let compiled = compile
        .output()
        .map_err(|error| format!("running rustc: {error}"))?;
    if !compiled.status.success() {
        return Err(format!(
            "rustc failed: {}",
            String::from_utf8_lossy(&compiled.stderr)
        ));
    }
    let mut run = Command::new(&binary);
    for name in hook_variables() {
        run.env(name, "floor");
    }
    let ran = run
        .output()
        .map_err(|error| format!("running the gate's test: {error}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    if !ran.status.success() {
        return Err(format!(
            "the gate's test failed (feature {}):\n{text}",
            if with_feature { "on" } else { "off" }
        ));
    }
    Ok(text)
}

#[test]
fn hook_variables_are_ignored_without_the_feature_and_read_with_it() -> TestResult {
    let out = tempfile::tempdir().map_err(|error| error.to_string())?;
    for with_feature in [false, true] {
        let text = run_gate_alone(out.path(), with_feature)?;
        if !text.contains("1 passed") {
            return Err(format!("the gate's test did not run:\n{text}"));
        }
    }
    Ok(())
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
    Ok(())
}

#[test]
fn nothing_reads_a_hook_variable_around_the_gate() -> TestResult {
    let mut files = Vec::new();
    for dir in [
        crate_dir().join("src"),
        crate_dir().join("../crm-cli/src"),
        crate_dir().join("../crm-api/src"),
        crate_dir().join("../../src-tauri/src"),
    ] {
        rust_files(&dir, &mut files).map_err(|error| format!("{}: {error}", dir.display()))?;
    }
    let gate = crate_dir().join("src/test_hooks.rs");
    let mut bypasses = Vec::new();
    for file in files.iter().filter(|file| **file != gate) {
        let text = std::fs::read_to_string(file).map_err(|error| error.to_string())?;
        for (number, line) in text.lines().enumerate() {
            let reads_env = line.contains("env::var") || line.contains("env = \"");
            if reads_env && hook_variables().iter().any(|name| line.contains(name)) {
                bypasses.push(format!(
                    "{}:{}: {}",
                    file.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    if bypasses.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "read a hook variable through crm_core::test_hooks::var instead:\n{}",
            bypasses.join("\n")
        ))
    }
}
