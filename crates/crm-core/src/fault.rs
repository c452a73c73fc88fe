//! Named crash points for fault-injection tests.
//!
//! When `STRONGROOM_FAULT` names a point (e.g. `rotation:after-rekey`), the process aborts
//! there, exactly as if it had been killed. Tests use it to prove that every interrupted
//! operation leaves a vault that opens; in normal use the variable is unset and this is a
//! no-op.

/// Aborts the process if `STRONGROOM_FAULT` names this point.
pub fn point(name: &str) {
    if std::env::var("STRONGROOM_FAULT").is_ok_and(|wanted| wanted == name) {
        std::process::abort();
    }
}

/// Whether `STRONGROOM_FAULT` names this point as an injected failure (a destination filling
/// up, a copy damaged on the way): the caller then fails exactly as it would for real. Lets
/// tests reach failure paths that need root to provoke (a full disk). Always false in normal
/// use.
pub fn injected(name: &str) -> bool {
    std::env::var("STRONGROOM_FAULT").is_ok_and(|wanted| wanted == name)
}
