//! The checks of the vault itself: what each standard is and how this vault is rated on it.
//!
//! Each `rate_*` function returns the check's subjects: what fails it, one line each, empty
//! when it meets the standard. Times come from the users table, the audit trail and the backup
//! destinations as they are now; nothing here changes the vault.

use std::path::Path;

use chrono::{DateTime, Duration, Local, SecondsFormat, Utc};
use rusqlite::params;

use super::{CheckId, CheckResult, CheckSpec, Risk};
use crate::backup::job::{self, parse_time};
use crate::error::Result;
use crate::password::{self, DEFAULT_MIN_SCORE};
use crate::policy::{self, Action as Do, Right, Scope};
use crate::records::fields::Entity;
use crate::vault::Session;

/// A right unused this long is a finding (the access review's period).
pub const UNUSED_RIGHT_DAYS: i64 = crate::audit::review::UNUSED_AFTER_DAYS;
/// A user who has not signed in this long is a finding.
pub const INACTIVE_USER_DAYS: i64 = 60;
/// A restore drill must have passed within this many days.
pub const DRILL_DAYS: i64 = 90;
/// The longest auto-lock period that meets the standard.
pub const MAX_AUTO_LOCK_MINUTES: u32 = 15;

/// Every check's class, title, reason and fix.
pub(super) fn spec(id: CheckId) -> CheckSpec {
    let (risk, title, why, fix) = match id {
        CheckId::PrivilegedKeyFiles => (
            Risk::High,
            "The Owner and administrators sign in with a key file",
            "Whoever manages users or roles can reach every record and make themselves any role; a guessed or shoulder-surfed password alone must not be enough.",
            "Give each of them a key file (their own: `crm user passwd --new-key-file PATH`; someone else's: `crm user passwd NAME --new-key-file PATH`), then require it for the role: `crm role edit ROLE --require-key-file true`.",
        ),
        CheckId::WeakPasswords => (
            Risk::High,
            "Every password was strong when it was set",
            "A copy of the vault folder can be attacked offline at the attacker's pace; Argon2id slows each guess, but a common or patterned password falls to the first lists tried.",
            "Ask each of them to choose a passphrase the vault accepts now (`crm user passwd`), or reset it for them (`crm user passwd NAME`).",
        ),
        CheckId::PasswordPolicy => (
            Risk::Medium,
            "New passwords must reach strength 3 of 4",
            "The minimum score is what stops common and patterned passwords; below 3 (about 10^10 guesses) a stolen copy of the vault folder is cracked in hours.",
            "Set the minimum back to the baseline: `crm policy password --min-score 3`.",
        ),
        CheckId::UnusedExportReveal => (
            Risk::Medium,
            "Roles hold export and reveal rights only if their users use them",
            "Export and reveal are how customer data leaves the vault in bulk or in clear; a right nobody has used in 90 days is only exposure (least privilege).",
            "Take the right away from the role: `crm role edit ROLE --grant ENTITY:export=none` for each record type, `--revoke reveal` for reveal.",
        ),
        CheckId::InactiveUsers => (
            Risk::Medium,
            "Everyone with a sign-in has used it in the last 60 days",
            "A leaver's sign-in still opens the data key: a copy of their password and key file, or a copy of the key-slot file they took, keeps working until they are removed.",
            "Remove each of them: `crm user remove NAME` (this also rotates the data key).",
        ),
        CheckId::BackupCurrent => (
            Risk::High,
            "A verified backup is no older than the schedule allows",
            "Without a recent verified backup a failed disk, a ransomware infection or a mistaken restore loses everything since the last one.",
            "Set a destination and a schedule (`crm backup settings --destination DIR --schedule \"daily 13:00\"`) and make a backup now: `crm backup now`.",
        ),
        CheckId::SecondDestination => (
            Risk::Medium,
            "Backups go to a second destination, off the vault's disk",
            "Backups on the vault's own disk die with it (theft, fire, ransomware that encrypts the disk); a second destination on a USB drive or a NAS survives.",
            "Add a second destination on another disk (a USB drive or a NAS share): `crm backup settings --second-destination /media/usb/strongroom`.",
        ),
        CheckId::RestoreDrill => (
            Risk::Medium,
            "A restore drill passed in the last 90 days",
            "A backup that was never restored is a hope: the drill restores the newest backup into a scratch vault and compares it with its manifest.",
            "Run a drill: `crm backup drill` (or set drills on the schedule: `crm backup settings --drill-every-days 30`).",
        ),
        CheckId::AuditTrail => (
            Risk::High,
            "The audit trail verifies, with its head file, without warnings",
            "A trail that does not verify, or whose head file is missing, can no longer show who did what: entries may have been removed, changed, or rolled back with an older copy of the vault.",
            "Run `crm audit verify`, investigate what it names (docs/audit.md), and keep `audit-head.json` in the vault folder.",
        ),
        CheckId::FilePermissions => (
            Risk::High,
            "Only the vault's own account can read or change the vault folder and its files",
            "Anyone else on this machine who can write the vault folder can swap files the vault trusts, and anyone who can read it can copy the vault for an offline attack.",
            "Make the folder 0700 and its files 0600, owned by the account that runs the vault: `chmod 700 VAULT_DIR && chmod 600 VAULT_DIR/*`.",
        ),
        CheckId::AutoLock => (
            Risk::Medium,
            "The app locks itself after at most 15 idle minutes",
            "An unlocked app on an unattended desk gives the next person at it the signed-in user's view of the customer base.",
            "Shorten the period: `crm policy auto-lock --minutes 10`.",
        ),
        CheckId::RecoveryConfirmed => (
            Risk::High,
            "Someone has shown they hold the recovery identity",
            "The recovery identity is the only way to open a backup after the vault is lost; if nobody can produce it, every backup is unreadable.",
            "Find the identity printed at setup and confirm it: `crm security confirm-recovery --identity FILE` (it stays offline; only its public key is compared).",
        ),
    };
    CheckSpec {
        risk,
        title,
        why,
        fix,
    }
}

/// An active user as the checks see them.
struct User {
    name: String,
    role: String,
    created_at: Option<DateTime<Utc>>,
    last_unlock_at: Option<DateTime<Utc>>,
    password_score: Option<u8>,
}

fn active_users(session: &Session) -> Result<Vec<User>> {
    let mut statement = session.store().conn().prepare(
        "SELECT name, role, created_at, last_unlock_at, password_score FROM users
         WHERE removed_at IS NULL ORDER BY name",
    )?;
    let users = statement
        .query_map([], |row| {
            Ok(User {
                name: row.get(0)?,
                role: row.get(1)?,
                created_at: row.get::<_, String>(2).ok().and_then(|at| parse_time(&at)),
                last_unlock_at: row
                    .get::<_, Option<String>>(3)?
                    .and_then(|at| parse_time(&at)),
                password_score: row
                    .get::<_, Option<i64>>(4)?
                    .and_then(|score| u8::try_from(score).ok()),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(users)
}

/// Rates every check of the vault itself, in the order of [`CheckId`].
pub(super) fn run(session: &mut Session, now: DateTime<Utc>) -> Result<Vec<CheckResult>> {
    let users = active_users(session)?;
    let mut results = vec![
        CheckResult::rate(
            CheckId::PrivilegedKeyFiles,
            privileged_key_files(session, &users)?,
        ),
        CheckResult::rate(CheckId::WeakPasswords, weak_passwords(session, &users)?),
        CheckResult::rate(CheckId::PasswordPolicy, password_policy(session)?),
        CheckResult::rate(
            CheckId::UnusedExportReveal,
            unused_export_reveal(session, &users, now)?,
        ),
        CheckResult::rate(CheckId::InactiveUsers, inactive_users(&users, now)),
        CheckResult::rate(CheckId::BackupCurrent, backup_current(session, now)?),
        CheckResult::rate(CheckId::SecondDestination, second_destination(session)?),
        CheckResult::rate(CheckId::RestoreDrill, restore_drill(session, now)?),
        CheckResult::rate(CheckId::AuditTrail, audit_trail(session)?),
    ];
    // Unix file modes: elsewhere the folder's ACLs are the operating system's to report.
    #[cfg(unix)]
    results.push(CheckResult::rate(
        CheckId::FilePermissions,
        file_permissions(&session.paths().dir)?,
    ));
    results.push(CheckResult::rate(CheckId::AutoLock, auto_lock(session)?));
    results.push(CheckResult::rate(
        CheckId::RecoveryConfirmed,
        recovery_confirmed(session)?,
    ));
    Ok(results)
}

fn privileged_key_files(session: &Session, users: &[User]) -> Result<Vec<String>> {
    let roles = policy::list(session.store().conn())?;
    let privileged = |role: &str| {
        policy::is_owner_role(role)
            || roles.iter().any(|def| {
                def.name == role && (def.has(Right::ManageUsers) || def.has(Right::ManageRoles))
            })
    };
    Ok(users
        .iter()
        .filter(|user| privileged(&user.role) && !session.slot_requires_key_file(&user.name))
        .map(|user| format!("{} ({}) signs in without a key file", user.name, user.role))
        .collect())
}

fn weak_passwords(session: &Session, users: &[User]) -> Result<Vec<String>> {
    let wanted = password::min_score(session.store().conn())?.max(DEFAULT_MIN_SCORE);
    Ok(users
        .iter()
        .filter_map(|user| match user.password_score {
            None => Some(format!(
                "{}: strength not measured (set before strength was recorded)",
                user.name
            )),
            Some(score) if score < wanted => Some(format!(
                "{}: {} ({score} of 4) when set",
                user.name,
                password::label(score)
            )),
            Some(_) => None,
        })
        .collect())
}

fn password_policy(session: &Session) -> Result<Vec<String>> {
    let min = password::min_score(session.store().conn())?;
    Ok(if min < DEFAULT_MIN_SCORE {
        vec![format!(
            "new passwords need only strength {min} of 4 ({})",
            password::label(min)
        )]
    } else {
        Vec::new()
    })
}

/// The trail's time format, for comparisons in SQL.
fn trail_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn unused_export_reveal(
    session: &Session,
    users: &[User],
    now: DateTime<Utc>,
) -> Result<Vec<String>> {
    let since = now - Duration::days(UNUSED_RIGHT_DAYS);
    let conn = session.store().conn();
    let used_by_role = |role: &str, action: &str| -> Result<bool> {
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM audit_log WHERE role = ?1 AND action = ?2 AND at >= ?3)",
            params![role, action, trail_time(since)],
            |row| row.get(0),
        )?)
    };
    let mut subjects = Vec::new();
    for role in policy::list(conn)? {
        // The Owner role is fixed: its rights cannot be taken away, so they are no finding.
        if policy::is_owner_role(&role.name) {
            continue;
        }
        // Only holders who have had the role's rights for the whole period can have left them
        // unused; a role held only by newcomers is not judged yet.
        if !users
            .iter()
            .any(|user| user.role == role.name && user.created_at.is_some_and(|at| at <= since))
        {
            continue;
        }
        let exports: Vec<&str> = Entity::ALL
            .into_iter()
            .filter(|entity| role.scope(*entity, Do::Export) != Scope::None)
            .map(Entity::name)
            .collect();
        if !exports.is_empty() && !used_by_role(&role.name, "export")? {
            subjects.push(format!(
                "{}: export ({}) not used in {UNUSED_RIGHT_DAYS} days",
                role.name,
                exports.join(", ")
            ));
        }
        if role.has(Right::Reveal) && !used_by_role(&role.name, "reveal")? {
            subjects.push(format!(
                "{}: reveal not used in {UNUSED_RIGHT_DAYS} days",
                role.name
            ));
        }
    }
    Ok(subjects)
}

fn inactive_users(users: &[User], now: DateTime<Utc>) -> Vec<String> {
    let limit = now - Duration::days(INACTIVE_USER_DAYS);
    users
        .iter()
        .filter_map(|user| match (user.last_unlock_at, user.created_at) {
            (Some(last), _) if last < limit => Some(format!(
                "{}: last signed in {}",
                user.name,
                last.format("%Y-%m-%d")
            )),
            (None, Some(created)) if created < limit => Some(format!(
                "{}: never signed in since being added on {}",
                user.name,
                created.format("%Y-%m-%d")
            )),
            _ => None,
        })
        .collect()
}

fn backup_current(session: &Session, now: DateTime<Utc>) -> Result<Vec<String>> {
    let settings = session.backup_settings()?;
    if settings.destinations.is_empty() {
        return Ok(vec!["no backup destination is set".into()]);
    }
    let states = session.destination_states(&settings, now)?;
    let newest = states
        .iter()
        .filter_map(|state| state.newest_verified_at.as_deref())
        .filter_map(parse_time)
        .max();
    let Some(newest) = newest else {
        return Ok(vec!["no verified backup in any destination".into()]);
    };
    if settings.schedule == crate::backup::Schedule::Off {
        return Ok(vec![format!(
            "scheduled backups are off (newest verified backup: {})",
            job::local_text(newest)
        )]);
    }
    // A run that failed is retried after this long, so a backup counts as late only then.
    let grace = Duration::minutes(job::RETRY_AFTER_MINUTES);
    Ok(
        match settings.schedule.due_since(Some(newest), now, &Local) {
            Some(since) if now - since > grace => vec![format!(
                "newest verified backup {}; one was due {} ({})",
                job::local_text(newest),
                job::local_text(since),
                settings.schedule.describe()
            )],
            _ => Vec::new(),
        },
    )
}

fn second_destination(session: &Session) -> Result<Vec<String>> {
    let destinations = session.backup_settings()?.destinations;
    if destinations.len() < 2 {
        return Ok(vec![match destinations.first() {
            None => "no backup destination is set".to_owned(),
            Some(only) => format!("one destination only: {}", only.display()),
        }]);
    }
    let vault_dir = &session.paths().dir;
    if destinations
        .iter()
        .all(|destination| same_disk(vault_dir, destination))
    {
        return Ok(vec![format!(
            "every destination is on the vault's own disk: {}",
            destinations
                .iter()
                .map(|destination| destination.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )]);
    }
    Ok(Vec::new())
}

/// Whether `destination` is on the same filesystem as the vault folder. A destination that is
/// not there now (an unplugged drive) is not on the vault's disk.
#[cfg(unix)]
fn same_disk(vault_dir: &Path, destination: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(vault_dir), std::fs::metadata(destination)) {
        (Ok(vault), Ok(there)) => vault.dev() == there.dev(),
        _ => false,
    }
}

/// Elsewhere: on the same disk when both paths start with the same drive or share.
#[cfg(not(unix))]
fn same_disk(vault_dir: &Path, destination: &Path) -> bool {
    vault_dir.components().next() == destination.components().next()
}

fn restore_drill(session: &Session, now: DateTime<Utc>) -> Result<Vec<String>> {
    Ok(match session.last_good_run("drill")? {
        Some(at) if now - at <= Duration::days(DRILL_DAYS) => Vec::new(),
        Some(at) => vec![format!("last passed drill {}", job::local_text(at))],
        None => vec!["no restore drill has passed".into()],
    })
}

fn audit_trail(session: &mut Session) -> Result<Vec<String>> {
    let report = session.audit_verify()?;
    let mut subjects = Vec::new();
    if let Some(bad) = &report.first_bad {
        subjects.push(format!("entry {} does not verify: {}", bad.seq, bad.reason));
    } else if !report.intact {
        subjects.push(format!("the trail does not verify: {}", report.head_file));
    }
    subjects.extend(report.warnings);
    Ok(subjects)
}

/// The vault folder and every file in it must be closed to group and others.
#[cfg(unix)]
fn file_permissions(dir: &Path) -> Result<Vec<String>> {
    use std::os::unix::fs::PermissionsExt;
    let loose = |mode: u32| mode & 0o077 != 0;
    let mut subjects = Vec::new();
    let io = crate::error::Error::io("reading the vault folder's permissions");
    let dir_mode = std::fs::metadata(dir).map_err(io)?.permissions().mode();
    if loose(dir_mode) {
        subjects.push(format!(
            "the vault folder is {:04o} (others on this machine can reach its files)",
            dir_mode & 0o7777
        ));
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(crate::error::Error::io("listing the vault folder"))?
        .filter_map(std::result::Result::ok)
        .collect::<Vec<_>>();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let mode = metadata.permissions().mode();
        if loose(mode) {
            subjects.push(format!(
                "{} is {:04o}",
                entry.file_name().to_string_lossy(),
                mode & 0o7777
            ));
        }
    }
    Ok(subjects)
}

fn auto_lock(session: &Session) -> Result<Vec<String>> {
    let minutes = session.auto_lock_minutes()?;
    Ok(if minutes > MAX_AUTO_LOCK_MINUTES {
        vec![format!("the app locks after {minutes} idle minutes")]
    } else {
        Vec::new()
    })
}

fn recovery_confirmed(session: &Session) -> Result<Vec<String>> {
    Ok(match session.recovery_confirmed_at()? {
        Some(_) => Vec::new(),
        None => vec!["the current recovery identity has never been confirmed".into()],
    })
}
