//! Named fault points for fault-injection tests.
//!
//! `STRONGROOM_FAULT` says what to do when the process reaches one named point (e.g.
//! `rotation:after-rekey`):
//!
//! - `POINT`: abort there, exactly as if the process had been killed;
//! - `pause:POINT`: create the file named by `STRONGROOM_FAULT_SIGNAL`, then wait there until
//!   killed, so a test can kill the process at a moment it knows;
//! - `signal:POINT`: create that file and carry on, so a test can time a kill from that moment.
//!
//! Tests use it to prove that every interrupted operation leaves a vault that opens, and that
//! their kills land where they mean them to. The variables are test hooks
//! ([`crate::test_hooks`]): a build without the `test-hooks` feature ignores them, and every
//! point is a no-op.

use std::time::Duration;

use crate::test_hooks;

/// Acts on `STRONGROOM_FAULT` if it names this point (see the module docs).
pub fn point(name: &str) {
    let Some(wanted) = test_hooks::var("STRONGROOM_FAULT") else {
        return;
    };
    if wanted == name {
        std::process::abort();
    }
    if wanted.strip_prefix("pause:") == Some(name) {
        announce(name);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    if wanted.strip_prefix("signal:") == Some(name) {
        announce(name);
    }
}

/// Tells the waiting test that the point was reached, by creating its signal file.
fn announce(name: &str) {
    if let Some(path) = test_hooks::var("STRONGROOM_FAULT_SIGNAL")
        && let Err(error) = std::fs::write(&path, name)
    {
        tracing::warn!("fault point {name}: could not write the signal file: {error}");
    }
}

/// Whether `STRONGROOM_FAULT` names this point as an injected failure (a destination filling
/// up, a copy damaged on the way): the caller then fails exactly as it would for real. Lets
/// tests reach failure paths that need root to provoke (a full disk). Always false in normal
/// use, and in a build without the `test-hooks` feature.
pub fn injected(name: &str) -> bool {
    test_hooks::var("STRONGROOM_FAULT").is_some_and(|wanted| wanted == name)
}
