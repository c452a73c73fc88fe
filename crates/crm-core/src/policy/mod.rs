//! Roles and what they may do: the access-control model, enforced in crm-core.
//!
//! A role has a **clearance** (the highest classification level it sees on its own records), an
//! **others' clearance** (the highest level it sees on records other people own), per entity and
//! action a **scope** (none, own, team, all), and **special rights**. Role definitions live in the
//! `roles` table, seeded from [`templates`]; every check reads the current definition, so a
//! change applies to open sessions at once. `docs/access-control.md` is generated from
//! [`templates`] by a test, so the documented matrix cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

mod doc;
mod roles;

pub use doc::access_control_doc;
pub(crate) use roles::{
    delete, ensure_templates, lift_key_file_requirement_of, list, load, role_requires_key_file,
    save, set_role_requires_key_file,
};

use crate::error::{Error, Result};
use crate::vocab::{Entity, Level};

/// The role of the person who created the vault; it always holds everything.
pub const OWNER_ROLE: &str = "Owner";

/// The role of the unattended backup agent's slot (`crm backup agent setup`).
pub const BACKUP_AGENT_ROLE: &str = "Backup Agent";

/// What can be done to records of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read.
    View,
    /// Add new.
    Create,
    /// Change.
    Edit,
    /// Remove.
    Delete,
    /// Bring in from files.
    Import,
    /// Take out to files.
    Export,
}

impl Action {
    /// All actions in matrix order.
    pub const ALL: [Action; 6] = [
        Action::View,
        Action::Create,
        Action::Edit,
        Action::Delete,
        Action::Import,
        Action::Export,
    ];

    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            Action::View => "view",
            Action::Create => "create",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::Import => "import",
            Action::Export => "export",
        }
    }
}

/// Which records an action reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// No records.
    None,
    /// Records the user owns.
    Own,
    /// Records owned by anyone in the user's team.
    Team,
    /// Every record.
    All,
}

impl Scope {
    /// Parses `none`, `own`, `team`, `all`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().as_str() {
            "none" | "-" => Ok(Scope::None),
            "own" => Ok(Scope::Own),
            "team" => Ok(Scope::Team),
            "all" => Ok(Scope::All),
            _ => Err(Error::Invalid(format!(
                "unknown scope {text:?}; use none, own, team or all"
            ))),
        }
    }

    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            Scope::None => "none",
            Scope::Own => "own",
            Scope::Team => "team",
            Scope::All => "all",
        }
    }
}

/// Rights beyond records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Right {
    /// Add, remove and reset users; assign roles.
    ManageUsers,
    /// Create and edit roles; classify fields.
    ManageRoles,
    /// Read the audit trail, reviews and alerts.
    ViewAudit,
    /// Make and verify backups.
    RunBackups,
    /// Change where backups go, when they run, how long they are kept and who can unseal them.
    ManageBackupSettings,
    /// Restore from backups.
    Restore,
    /// Erase a person's data on request.
    ErasePersonalData,
    /// Reveal Highly Confidential values one at a time, with a reason.
    Reveal,
    /// See financial fields (tax ids, bank accounts) within clearance.
    ViewFinancial,
}

impl Right {
    /// All rights.
    pub const ALL: [Right; 9] = [
        Right::ManageUsers,
        Right::ManageRoles,
        Right::ViewAudit,
        Right::RunBackups,
        Right::ManageBackupSettings,
        Right::Restore,
        Right::ErasePersonalData,
        Right::Reveal,
        Right::ViewFinancial,
    ];

    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            Right::ManageUsers => "manage_users",
            Right::ManageRoles => "manage_roles",
            Right::ViewAudit => "view_audit",
            Right::RunBackups => "run_backups",
            Right::ManageBackupSettings => "manage_backup_settings",
            Right::Restore => "restore",
            Right::ErasePersonalData => "erase_personal_data",
            Right::Reveal => "reveal",
            Right::ViewFinancial => "view_financial",
        }
    }

    /// What it means, for the settings screen.
    pub fn explanation(self) -> &'static str {
        match self {
            Right::ManageUsers => "add and remove users, reset passwords, assign roles",
            Right::ManageRoles => "edit roles and field classification",
            Right::ViewAudit => "read the audit trail, access reviews and alerts",
            Right::RunBackups => "make and verify backups",
            Right::ManageBackupSettings => {
                "change backup destinations, schedule, retention and extra recipients"
            }
            Right::Restore => "restore the vault from a backup",
            Right::ErasePersonalData => "erase a person's data on request",
            Right::Reveal => "reveal Highly Confidential values, one at a time, with a reason",
            Right::ViewFinancial => "see financial fields such as tax ids and bank accounts",
        }
    }

    /// Parses a right's name.
    pub fn parse(text: &str) -> Result<Self> {
        let wanted = text.to_ascii_lowercase().replace(['-', ' '], "_");
        Right::ALL
            .into_iter()
            .find(|right| right.name() == wanted)
            .ok_or_else(|| {
                let names: Vec<&str> = Right::ALL.iter().map(|right| right.name()).collect();
                Error::Invalid(format!(
                    "unknown right {text:?}; known: {}",
                    names.join(", ")
                ))
            })
    }
}

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    /// Name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Highest level visible on the user's own records.
    pub clearance: Level,
    /// Highest level visible on records owned by others (never above `clearance`).
    pub others_clearance: Level,
    /// Scope per entity and action; missing means none.
    pub grants: BTreeMap<Entity, BTreeMap<Action, Scope>>,
    /// Special rights.
    pub rights: BTreeSet<Right>,
    /// A built-in template (the Owner template cannot be changed or deleted).
    pub builtin: bool,
}

impl RoleDef {
    /// The scope of `action` on `entity`.
    pub fn scope(&self, entity: Entity, action: Action) -> Scope {
        self.grants
            .get(&entity)
            .and_then(|actions| actions.get(&action))
            .copied()
            .unwrap_or(Scope::None)
    }

    /// Whether the role holds a right.
    pub fn has(&self, right: Right) -> bool {
        self.rights.contains(&right)
    }

    /// Whether this role holds everything `other` holds (needed to grant or assign `other`).
    pub fn dominates(&self, other: &RoleDef) -> bool {
        self.clearance >= other.clearance
            && self.others_clearance >= other.others_clearance
            && other.rights.is_subset(&self.rights)
            && Entity::ALL.iter().all(|entity| {
                Action::ALL
                    .iter()
                    .all(|action| self.scope(*entity, *action) >= other.scope(*entity, *action))
            })
    }

    /// A role that can do nothing (a user whose role was deleted).
    pub fn nothing(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            description: "no access".into(),
            clearance: Level::Public,
            others_clearance: Level::Public,
            grants: BTreeMap::new(),
            rights: BTreeSet::new(),
            builtin: false,
        }
    }

    fn validate(&self) -> Result<()> {
        let name = self.name.trim();
        if name.is_empty() || name != self.name || name.chars().count() > 48 {
            return Err(Error::Invalid(
                "a role name must be 1 to 48 characters without leading or trailing spaces".into(),
            ));
        }
        if self.others_clearance > self.clearance {
            return Err(Error::Invalid(
                "others' clearance cannot be above the role's own clearance".into(),
            ));
        }
        Ok(())
    }
}

fn grants(rows: &[(Entity, [Scope; 6])]) -> BTreeMap<Entity, BTreeMap<Action, Scope>> {
    rows.iter()
        .map(|(entity, scopes)| {
            let actions = Action::ALL
                .iter()
                .zip(scopes)
                .filter(|(_, scope)| **scope != Scope::None)
                .map(|(action, scope)| (*action, *scope))
                .collect();
            (*entity, actions)
        })
        .collect()
}

/// The built-in role templates with their least-privilege defaults.
pub fn templates() -> Vec<RoleDef> {
    use Entity::*;
    use Scope::{All, None as No, Own, Team};
    let every = |scope| [scope; 6];
    let role = |name: &str,
                description: &str,
                clearance,
                others_clearance,
                grant_rows: &[(Entity, [Scope; 6])],
                rights: &[Right]| RoleDef {
        name: name.into(),
        description: description.into(),
        clearance,
        others_clearance,
        grants: grants(grant_rows),
        rights: rights.iter().copied().collect(),
        builtin: true,
    };
    vec![
        role(
            OWNER_ROLE,
            "Owns the vault: everything, including revealing Highly Confidential values",
            Level::HighlyConfidential,
            Level::HighlyConfidential,
            &Entity::ALL.map(|entity| (entity, every(All))),
            &Right::ALL,
        ),
        role(
            "Administrator",
            "Runs the system: users, roles, backups; sees up to Confidential",
            Level::Confidential,
            Level::Confidential,
            &Entity::ALL.map(|entity| (entity, every(All))),
            &[
                Right::ManageUsers,
                Right::ManageRoles,
                Right::ViewAudit,
                Right::RunBackups,
                Right::ManageBackupSettings,
                Right::Restore,
                Right::ErasePersonalData,
                Right::ViewFinancial,
            ],
        ),
        role(
            "Sales Manager",
            "Leads a team: the team's records, exports and financial fields",
            Level::Confidential,
            Level::Confidential,
            &[
                (Company, [All, Team, Team, Team, Team, Team]),
                (Contact, [All, Team, Team, Team, Team, Team]),
                (Deal, [Team, Team, Team, Team, Team, Team]),
                (Activity, [Team, Team, Team, Team, No, Team]),
                (Note, [Team, Team, Team, Team, No, Team]),
            ],
            &[Right::ViewFinancial],
        ),
        role(
            "Sales Representative",
            "Works their own customers; no exports, no financial fields",
            Level::Confidential,
            Level::Internal,
            &[
                (Company, [Own, Own, Own, No, No, No]),
                (Contact, [Own, Own, Own, No, No, No]),
                (Deal, [Own, Own, Own, No, No, No]),
                (Activity, [Own, Own, Own, Own, No, No]),
                (Note, [Own, Own, Own, Own, No, No]),
            ],
            &[],
        ),
        role(
            "Marketing",
            "Segments and campaigns: companies and contacts, no deals, no financial data",
            Level::Confidential,
            Level::Confidential,
            &[
                (Company, [All, No, No, No, No, All]),
                (Contact, [All, All, Own, No, All, All]),
                (Activity, [Own, Own, Own, Own, No, No]),
            ],
            &[],
        ),
        role(
            "Support",
            "Helps customers: reads companies and contacts, logs activities and notes",
            Level::Confidential,
            Level::Confidential,
            &[
                (Company, [All, No, No, No, No, No]),
                (Contact, [All, No, Own, No, No, No]),
                (Activity, [All, Own, Own, Own, No, No]),
                (Note, [All, Own, Own, Own, No, No]),
            ],
            &[],
        ),
        role(
            BACKUP_AGENT_ROLE,
            "The unattended backup agent: makes and verifies backups, reads no record",
            Level::Public,
            Level::Public,
            &[],
            &[Right::RunBackups],
        ),
        role(
            "Auditor",
            "Reads the audit trail and nothing it does not need",
            Level::Public,
            Level::Public,
            &[],
            &[Right::ViewAudit],
        ),
    ]
}

/// The names of the built-in templates.
pub fn template_names() -> Vec<String> {
    templates().into_iter().map(|role| role.name).collect()
}

/// Whether a role counts as an owner (the last one cannot be removed or demoted).
pub fn is_owner_role(role: &str) -> bool {
    role == OWNER_ROLE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edited_template_stays_a_template_whatever_the_editor_sends() -> Result<()> {
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = crate::test_support::owner_vault(dir.path())?;
        let find = |session: &crate::vault::Session, name: &str| -> Result<RoleDef> {
            Ok(session
                .list_roles()?
                .into_iter()
                .find(|summary| summary.role.name == name)
                .map(|summary| summary.role)
                .expect("role listed"))
        };
        let mut rep = find(&owner, "Sales Representative")?;
        rep.builtin = false;
        owner.save_role(&rep, false)?;
        assert!(find(&owner, "Sales Representative")?.builtin);
        let mut custom = rep.clone();
        custom.name = "Field sales".into();
        custom.builtin = true;
        owner.save_role(&custom, true)?;
        assert!(!find(&owner, "Field sales")?.builtin);
        owner.save_role(&custom, false)?;
        assert!(!find(&owner, "Field sales")?.builtin);
        Ok(())
    }

    #[test]
    fn access_control_doc_matches_the_code() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/access-control.md");
        let generated = access_control_doc();
        if std::env::var_os("STRONGROOM_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/access-control.md");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/access-control.md is out of date: run STRONGROOM_UPDATE_DOCS=1 cargo test -p crm-core access_control_doc"
        );
    }

    #[test]
    fn the_owner_template_dominates_every_other_template() {
        let templates = templates();
        let owner = &templates[0];
        for role in &templates {
            assert!(owner.dominates(role), "{}", role.name);
        }
    }

    #[test]
    fn a_sales_rep_cannot_export_or_see_financial_fields() {
        let rep = templates()
            .into_iter()
            .find(|role| role.name == "Sales Representative")
            .expect("template");
        for entity in Entity::ALL {
            assert_eq!(rep.scope(entity, Action::Export), Scope::None);
            assert!(rep.scope(entity, Action::View) <= Scope::Own);
        }
        assert!(!rep.has(Right::ViewFinancial));
        assert!(!rep.has(Right::Reveal));
        assert_eq!(rep.others_clearance, Level::Internal);
    }

    #[test]
    fn the_auditor_reads_no_customer_records() {
        let auditor = templates()
            .into_iter()
            .find(|role| role.name == "Auditor")
            .expect("template");
        for entity in Entity::ALL {
            assert_eq!(auditor.scope(entity, Action::View), Scope::None);
        }
        assert!(auditor.has(Right::ViewAudit));
    }
}
