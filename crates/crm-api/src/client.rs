//! Who is at the other end of a session: the workstation's name and network address, stamped
//! on every audit entry the session makes.
//!
//! A front end in this process is its own workstation ([`ClientInfo::this_computer`]); a
//! server fills it from the client certificate and the connection's source address.

use serde::{Deserialize, Serialize};

/// The workstation a session is used from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ClientInfo {
    /// The workstation's name (`Front desk PC`; the host name for this computer).
    pub workstation: String,
    /// Its network address, when it comes over a network.
    pub address: Option<String>,
}

impl ClientInfo {
    /// This computer, by its host name.
    pub fn this_computer() -> Self {
        Self {
            workstation: crm_core::throttle::workstation(),
            address: None,
        }
    }

    /// The name stamped on audit entries: the workstation, with its address when known.
    pub fn audit_name(&self) -> String {
        match &self.address {
            Some(address) => format!("{} ({address})", self.workstation),
            None => self.workstation.clone(),
        }
    }
}
