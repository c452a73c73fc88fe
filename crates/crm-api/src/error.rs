//! The one error shape every front end receives: `{ code, message }`.
//!
//! `code` is `crm_core::Error::code()` (stable, machine-readable) or one of the host's own
//! codes (`locked`, `busy`, `internal`); `message` is the core's message, which never holds
//! customer values or secrets, so it is safe to show as is and to send over a wire.

use serde::{Deserialize, Serialize};

/// An error returned by a use case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ApiError {
    /// Stable code: front ends branch on this, never on the message.
    pub code: String,
    /// Human-readable explanation, shown to the user.
    pub message: String,
    /// For `throttled`: seconds until the next attempt is accepted.
    pub retry_after_secs: Option<u32>,
}

impl ApiError {
    /// An error of the host or the API itself (not from crm-core).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// Bad input the API refuses before it reaches the core.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("invalid", message)
    }

    /// The vault is locked: the use case needs a session.
    pub fn locked() -> Self {
        Self::new("locked", "the vault is locked: unlock it first")
    }

    /// A long operation is already running.
    pub fn busy() -> Self {
        Self::new(
            "busy",
            "another long operation is still running: wait for it to finish",
        )
    }

    /// A long operation (named as the user knows it, e.g. "a backup") holds the session.
    pub fn busy_with(operation: &str) -> Self {
        Self::new(
            "busy",
            format!("{operation} is running: this can be done as soon as it finishes"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crm_core::Error> for ApiError {
    fn from(error: crm_core::Error) -> Self {
        let retry_after_secs = match &error {
            crm_core::Error::Throttled { retry_after_secs } => {
                Some(u32::try_from(*retry_after_secs).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        Self {
            code: error.code().into(),
            message: error.to_string(),
            retry_after_secs,
        }
    }
}

/// What every use case returns.
pub type ApiResult<T> = Result<T, ApiError>;

/// Counts as `u32` for the wire, saturating (no count here comes near it).
pub(crate) fn count<N: TryInto<u32>>(n: N) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}
