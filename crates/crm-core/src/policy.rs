//! Role names and the rights that the vault layer needs before the full policy exists.
//!
//! The role templates are the product's defaults; the per-role matrix (clearance, entity
//! scopes, special rights) grows here.

use crate::error::{Error, Result};

/// The role of the person who created the vault.
pub const OWNER_ROLE: &str = "Owner";

/// The built-in role templates, most privileged first.
pub const ROLE_TEMPLATES: &[&str] = &[
    OWNER_ROLE,
    "Administrator",
    "Sales Manager",
    "Sales Representative",
    "Marketing",
    "Support",
    "Auditor",
];

/// Whether a role may add, remove and reset users.
pub fn can_manage_users(role: &str) -> bool {
    matches!(role, OWNER_ROLE | "Administrator")
}

/// Whether a role counts as an owner (the last one cannot be removed).
pub fn is_owner_role(role: &str) -> bool {
    role == OWNER_ROLE
}

/// Accepts one of the role templates.
pub fn validate_role_name(role: &str) -> Result<()> {
    if ROLE_TEMPLATES.contains(&role) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "unknown role {role:?}; choose one of: {}",
            ROLE_TEMPLATES.join(", ")
        )))
    }
}

/// Whether a role may read the audit trail, access reviews and alerts.
/// (Used by the audit module; keep this entry point when the policy model grows.)
pub fn can_view_audit(role: &str) -> bool {
    matches!(role, OWNER_ROLE | "Administrator" | "Auditor")
}

/// The role's clearance as a level 0 (Public) … 3 (Highly Confidential), used to mask audit
/// values. (Used by the audit module; keep this entry point when the policy model grows.)
pub fn clearance_level(role: &str) -> u8 {
    match role {
        OWNER_ROLE => 3,
        "Administrator" | "Sales Manager" => 2,
        "Sales Representative" | "Marketing" | "Support" => 1,
        _ => 1,
    }
}
