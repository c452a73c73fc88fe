//! Roles and what they may do: the access-control model, enforced in crm-core.
//!
//! A role has a **clearance** (the highest classification level it sees on its own records), an
//! **others' clearance** (the highest level it sees on records other people own), per entity and
//! action a **scope** (none, own, team, all), and **special rights**. Role definitions live in the
//! `roles` table, seeded from [`templates`]; every check reads the current definition, so a
//! change applies to open sessions at once. `docs/access-control.md` is generated from
//! [`templates`] by a test, so the documented matrix cannot drift from the code.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::records::fields::{Entity, Level};

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

/// Creates the `roles` table rows for the templates that are missing.
pub(crate) fn ensure_templates(conn: &Connection) -> Result<()> {
    for role in templates() {
        conn.execute(
            "INSERT OR IGNORE INTO roles (name, definition) VALUES (?1, ?2)",
            params![role.name, encode(&role)?],
        )?;
    }
    Ok(())
}

fn encode(role: &RoleDef) -> Result<String> {
    serde_json::to_string(role).map_err(|error| Error::Invalid(format!("role: {error}")))
}

/// The current definition of a role (a deleted role can do nothing).
pub(crate) fn load(conn: &Connection, name: &str) -> Result<RoleDef> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT definition FROM roles WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|error| Error::DatabaseDamaged(format!("role {name}: {error}"))),
        None => Ok(RoleDef::nothing(name)),
    }
}

/// Every role, templates first.
pub(crate) fn list(conn: &Connection) -> Result<Vec<RoleDef>> {
    let mut statement = conn.prepare("SELECT definition FROM roles")?;
    let mut roles = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .map(|json| {
            json.map_err(Error::from).and_then(|json| {
                serde_json::from_str::<RoleDef>(&json)
                    .map_err(|error| Error::DatabaseDamaged(format!("role: {error}")))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let order = template_names();
    roles.sort_by_key(|role| {
        (
            order
                .iter()
                .position(|name| *name == role.name)
                .unwrap_or(usize::MAX),
            role.name.clone(),
        )
    });
    Ok(roles)
}

/// Creates or replaces a role after checking that `editor` may grant everything in it.
pub(crate) fn save(
    conn: &Connection,
    editor: &RoleDef,
    role: &RoleDef,
    create: bool,
) -> Result<()> {
    role.validate()?;
    if role.name == OWNER_ROLE {
        return Err(Error::Invalid("the Owner role cannot be changed".into()));
    }
    if !editor.dominates(role) {
        return Err(Error::Forbidden(
            "you cannot grant a right, scope or clearance you do not hold yourself".into(),
        ));
    }
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM roles WHERE name = ?1)",
        [&role.name],
        |row| row.get(0),
    )?;
    match (create, exists) {
        (true, true) => return Err(Error::AlreadyExists(format!("role {}", role.name))),
        (false, false) => return Err(Error::NotFound(format!("role {}", role.name))),
        _ => {}
    }
    let mut stored = role.clone();
    // Whether a role is a built-in template is the vault's fact, never the editor's input.
    stored.builtin = !create && load(conn, &role.name)?.builtin;
    conn.execute(
        "INSERT INTO roles (name, definition) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
        params![stored.name, encode(&stored)?],
    )?;
    Ok(())
}

/// Deletes a role nobody holds.
pub(crate) fn delete(conn: &Connection, name: &str) -> Result<()> {
    if name == OWNER_ROLE {
        return Err(Error::Invalid("the Owner role cannot be deleted".into()));
    }
    let holders: i64 = conn.query_row(
        "SELECT count(*) FROM users WHERE role = ?1 AND removed_at IS NULL",
        [name],
        |row| row.get(0),
    )?;
    if holders > 0 {
        return Err(Error::Invalid(format!(
            "{holders} user(s) hold the role {name}; give them another role first"
        )));
    }
    if conn.execute("DELETE FROM roles WHERE name = ?1", [name])? == 0 {
        return Err(Error::NotFound(format!("role {name}")));
    }
    // A role made later under the same name starts without the deleted role's policy.
    set_role_requires_key_file(conn, name, false)
}

/// Whether a role counts as an owner (the last one cannot be removed or demoted).
pub fn is_owner_role(role: &str) -> bool {
    role == OWNER_ROLE
}

/// `vault_meta` key listing the roles whose users must sign in with a key file (a JSON array
/// of role names). Kept beside the other vault-wide security settings rather than in the role
/// definition, so that the policy also applies to the Owner role, whose definition is fixed.
const KEY_FILE_ROLES_KEY: &str = "key_file_required_roles";

fn key_file_roles(conn: &Connection) -> Result<BTreeSet<String>> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM vault_meta WHERE key = ?1",
            [KEY_FILE_ROLES_KEY],
            |row| row.get(0),
        )
        .optional()?;
    match stored {
        Some(json) => serde_json::from_str(&json)
            .map_err(|error| Error::DatabaseDamaged(format!("{KEY_FILE_ROLES_KEY}: {error}"))),
        None => Ok(BTreeSet::new()),
    }
}

/// Whether users holding `role` must sign in with a key file.
pub(crate) fn role_requires_key_file(conn: &Connection, role: &str) -> Result<bool> {
    Ok(key_file_roles(conn)?.contains(role))
}

/// Makes users holding `role` need (or no longer need) a key file to sign in. The caller
/// checks who may do it and records it.
pub(crate) fn set_role_requires_key_file(
    conn: &Connection,
    role: &str,
    required: bool,
) -> Result<()> {
    let mut roles = key_file_roles(conn)?;
    let changed = if required {
        roles.insert(role.to_owned())
    } else {
        roles.remove(role)
    };
    if changed {
        let json = serde_json::to_string(&roles)
            .map_err(|error| Error::Invalid(format!("{KEY_FILE_ROLES_KEY}: {error}")))?;
        conn.execute(
            "INSERT INTO vault_meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![KEY_FILE_ROLES_KEY, json],
        )?;
    }
    Ok(())
}

/// Lifts the key-file requirement from the role `user` holds; returns that role if it had the
/// requirement. For a restore, whose new owner slot has a password only: the requirement would
/// lock the restored vault's only sign-in out. The restore records what was lifted.
pub(crate) fn lift_key_file_requirement_of(
    conn: &Connection,
    user: &str,
) -> Result<Option<String>> {
    let role: Option<String> = conn
        .query_row(
            "SELECT role FROM users WHERE name = ?1 AND removed_at IS NULL",
            [user],
            |row| row.get(0),
        )
        .optional()?;
    match role {
        Some(role) if role_requires_key_file(conn, &role)? => {
            set_role_requires_key_file(conn, &role, false)?;
            Ok(Some(role))
        }
        _ => Ok(None),
    }
}

/// The role schema, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE TABLE roles (
    name       TEXT PRIMARY KEY NOT NULL,
    definition TEXT NOT NULL
) STRICT;
CREATE TABLE teams (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
) STRICT;
ALTER TABLE users ADD COLUMN team_id INTEGER REFERENCES teams (id);
";

/// `docs/access-control.md`, generated from [`templates`] and the field registry so the
/// documented defaults cannot drift from the code (a test compares the committed file).
pub fn access_control_doc() -> String {
    use crate::records::fields::{Kind, MaskStyle};
    let mut doc = String::from(
        "# Access control: the default matrix\n\n\
         Generated from `crm_core::policy::templates()` and the field registry by\n\
         `STRONGROOM_UPDATE_DOCS=1 cargo test -p crm-core access_control_doc`; a test fails if this\n\
         file and the code disagree. The owner changes roles and classifications in settings or\n\
         with `crm role …` and `crm field classify …`; changes apply to open sessions at once.\n\n\
         **What these rules hold against, in local mode.** On this computer every user's key slot\n\
         opens the one data key, and the app applies the role after unlocking. So the views below\n\
         hold against well-behaved use of the app, not against a user who writes a short script\n\
         from `docs/vault-format.md`: with their own password it reads every field of every record,\n\
         can change their own role and can rewrite the audit trail. The office server mode\n\
         (planned, issue 14) is what protects against that: the data key stays on the server and a\n\
         workstation receives only what the role may see. See `docs/security.md`.\n\n\
         ## How a field is shown\n\n\
         - A role sees a field when its level is at or below the role's **clearance** on records the\n\
           user owns, or the role's **others' clearance** on records owned by someone else.\n\
         - **Financial** fields also need the `view_financial` right; without it they are absent, not\n\
           even masked.\n\
         - Above clearance, phones and ids show `•••• 1234` (last four, only when the value has at\n\
           least eight characters) and emails `j•••@example.com`; other fields are absent.\n\
         - **Highly Confidential** values show `••••`; roles with the `reveal` right reveal one value\n\
           at a time with a reason, recorded in the audit trail. Only Highly Confidential values are\n\
           revealed: anything lower is shown or hidden by clearance alone.\n\
         - **Tags** are Internal: they show, filter and search where the reader sees a record's\n\
           Internal fields. A record's owner, team, times and who created and last changed it show\n\
           with every record the reader may view.\n\
         - Search only matches index columns at or below what the reader may see on each record;\n\
           filtering or sorting on a field above clearance is refused (the due and done filters of\n\
           activities follow their fields, the tag filter the tags' level). Records outside the\n\
           scope are \"not found\".\n\
         - Changes reach every record they touch: deleting a record with linked records needs edit\n\
           scope (to detach) or delete scope (to delete) on each of them, and a refusal counts only\n\
           the linked records the user may view.\n\
         - Nobody reclassifies, relabels or deletes a field they cannot see at its current level, or\n\
           classifies one above their own clearance.\n\n## Roles\n\n",
    );
    doc.push_str("| role | clearance (own) | clearance (others') | rights |\n|---|---|---|---|\n");
    for role in templates() {
        let rights: Vec<&str> = role.rights.iter().map(|right| right.name()).collect();
        doc.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            role.name,
            role.clearance.label(),
            role.others_clearance.label(),
            if rights.is_empty() {
                "—".to_owned()
            } else {
                rights.join(", ")
            }
        ));
    }
    doc.push_str("\n## Scopes per entity and action\n\nScopes: `own` records the user owns, `team` the user's team's, `all` every record, `—` none.\n\nA team is made by putting a user in it (the Users screen, or `crm user set-team`). A record belongs to the team of the user who created it, or to the team it is given later; `team` reaches the records of the user's own team.\n");
    for role in templates() {
        doc.push_str(&format!(
            "\n### {}\n\n{}\n\n| entity |",
            role.name, role.description
        ));
        for action in Action::ALL {
            doc.push_str(&format!(" {} |", action.name()));
        }
        doc.push_str("\n|---|");
        doc.push_str(&"---|".repeat(Action::ALL.len()));
        doc.push('\n');
        for entity in Entity::ALL {
            doc.push_str(&format!("| {} |", entity.table()));
            for action in Action::ALL {
                let scope = role.scope(entity, action);
                doc.push_str(&format!(
                    " {} |",
                    if scope == Scope::None {
                        "—"
                    } else {
                        scope.name()
                    }
                ));
            }
            doc.push('\n');
        }
    }
    doc.push_str("\n## Rights\n\n| right | meaning |\n|---|---|\n");
    for right in Right::ALL {
        doc.push_str(&format!(
            "| `{}` | {} |\n",
            right.name(),
            right.explanation()
        ));
    }
    doc.push_str("\n## Default field classification\n\n| entity | field | level | financial | shown above clearance as |\n|---|---|---|---|---|\n");
    for entity in Entity::ALL {
        for field in entity.fields() {
            let mask = match (field.kind, field.mask) {
                (_, MaskStyle::LastFour) => "`•••• 1234`",
                (_, MaskStyle::Email) => "`j•••@example.com`",
                (Kind::Emails | Kind::Phones, MaskStyle::Absent) | (_, MaskStyle::Absent) => {
                    "absent"
                }
            };
            doc.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                entity.name(),
                field.name,
                field.level.label(),
                if field.financial { "yes" } else { "" },
                mask
            ));
        }
    }
    doc
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
