//! The one gate for test hooks: environment variables that tests use to make a vault cheap to
//! open or to stop a process at a chosen moment.
//!
//! - `STRONGROOM_KDF=floor`: new key slots at the Argon2id floor instead of the calibrated cost
//!   ([`crate::KdfStrength::from_env`]);
//! - `STRONGROOM_FAULT`, `STRONGROOM_FAULT_SIGNAL`: named fault points ([`crate::fault`]);
//! - `STRONGROOM_AUTO_LOCK_SECS`: the desktop's idle period, fixed for a test (src-tauri).
//!
//! They are honoured only in builds with crm-core's `test-hooks` feature: test builds enable it
//! (crm-cli's tests through a dev-dependency, `scripts/e2e.sh` for the desktop it drives), a
//! release build does not, so a shipped binary that finds `STRONGROOM_KDF` set ignores it. Front ends read any
//! hook of their own (the desktop's idle override) through [`var`] too, so that one switch
//! covers them all.
//!
//! This file uses the standard library only: a test compiles it on its own with `rustc`, with
//! and without the feature, to show that the variables are inert without it
//! (`crates/crm-core/tests/test_hooks.rs`).

/// Whether this build honours test hooks (crm-core's `test-hooks` feature).
pub const ENABLED: bool = cfg!(feature = "test-hooks");

/// The test-hook variables, crm-core's and the front ends'. Nothing reads them but [`var`]
/// (a test checks).
pub const VARIABLES: [&str; 4] = [
    "STRONGROOM_KDF",
    "STRONGROOM_FAULT",
    "STRONGROOM_FAULT_SIGNAL",
    "STRONGROOM_AUTO_LOCK_SECS",
];

/// The value of test-hook variable `name`: `None` when it is unset or not valid Unicode, and
/// always `None` in a build without the `test-hooks` feature.
pub fn var(name: &str) -> Option<String> {
    if ENABLED {
        std::env::var(name).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run with every hook variable set (the standalone check sets them): they are read exactly
    /// when the feature is on.
    #[test]
    fn hook_variables_are_read_only_with_the_feature() {
        for name in VARIABLES {
            let set = std::env::var(name).is_ok();
            assert_eq!(var(name).is_some(), set && ENABLED, "{name}");
        }
    }
}
