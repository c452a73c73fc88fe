//! The one error shape that crosses to the UI: `{ code, message }`.
//!
//! `code` is `crm_core::Error::code()` (stable, machine-readable) or one of the shell's own
//! codes (`locked`, `busy`); `message` is the core's message, which never holds customer
//! values or secrets, so it is safe to show as is.

use serde::Serialize;

/// An error returned by a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, specta::Type)]
pub struct CommandError {
    /// Stable code: the UI branches on this, never on the message.
    pub code: String,
    /// Human-readable explanation, shown to the user.
    pub message: String,
    /// For `throttled`: seconds until the next attempt is accepted.
    pub retry_after_secs: Option<u32>,
}

impl CommandError {
    /// An error of the shell itself (not from crm-core).
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The vault is locked: the command needs a session.
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

impl From<crm_core::Error> for CommandError {
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

/// What every command returns.
pub type CommandResult<T> = Result<T, CommandError>;
