//! The trail on a real vault: every recorded action leaves exactly its entries, retention
//! checkpoints keep the chain verifiable and cannot be forged unseen, and entries name the role
//! their user holds when they are written.
//!
//! Entries are read back with a stock SQLCipher connection (only the data key set), so what is
//! asserted is what was written, not what a listing shows.

use std::path::{Path, PathBuf};

use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::backup::{BackupSettings, RestoreOptions};
use crate::error::{Error, Result};
use crate::keyslot::{Credentials, KdfStrength};
use crate::records::export::ExportFormat;
use crate::records::fields::{Entity, Level};
use crate::records::import::ImportOptions;
use crate::records::{ListQuery, RecordInput};
use crate::secret::{Password, RecoveryIdentity};
use crate::test_support::{PASSWORD, add_user, login, owner_vault};
use crate::vault::{NewVault, Session, Vault};

fn tempdir() -> Result<tempfile::TempDir> {
    tempfile::tempdir().map_err(Error::io("tempdir"))
}

/// A connection that knows only the data key, as an insider with stock tools would have.
#[allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "plays the attacker who edits the database with stock SQLCipher"
)]
fn stock_connection(database: &Path, key_hex: &str) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(database)?;
    conn.pragma_update(None, "cipher_log_level", "NONE")?;
    conn.pragma_update(None, "key", format!("x'{key_hex}'"))?;
    Ok(conn)
}

fn key_hex(session: &Session) -> String {
    session.data_key().to_hex().expose().to_owned()
}

fn input(values: &[(&str, &str)]) -> RecordInput {
    values
        .iter()
        .map(|(name, value)| ((*name).to_owned(), serde_json::json!(value)))
        .collect()
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    seq: i64,
    action: String,
    user: Option<String>,
    role: Option<String>,
    entity: Option<String>,
    record_id: Option<String>,
    field: Option<String>,
    old: Option<String>,
    new: Option<String>,
    detail: serde_json::Value,
}

/// Reads the entries after the last one already seen, from one vault's database.
struct TrailReader {
    database: PathBuf,
    key_hex: String,
    seen: i64,
}

impl TrailReader {
    fn new_entries(&mut self) -> Result<Vec<Stored>> {
        let conn = stock_connection(&self.database, &self.key_hex)?;
        let mut statement = conn.prepare(
            "SELECT seq, action, user_name, role, entity, record_id, field, old_value, new_value,
                    detail
             FROM audit_log WHERE seq > ?1 ORDER BY seq",
        )?;
        let entries = statement
            .query_map([self.seen], |row| {
                Ok(Stored {
                    seq: row.get(0)?,
                    action: row.get(1)?,
                    user: row.get(2)?,
                    role: row.get(3)?,
                    entity: row.get(4)?,
                    record_id: row.get(5)?,
                    field: row.get(6)?,
                    old: row.get(7)?,
                    new: row.get(8)?,
                    detail: serde_json::from_str(&row.get::<_, String>(9)?)
                        .unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if let Some(last) = entries.last() {
            self.seen = last.seq;
        }
        Ok(entries)
    }
}

/// What one entry must be: every column named here, and the detail keys listed.
#[derive(Debug, Clone)]
struct Expect {
    action: &'static str,
    user: Option<String>,
    role: Option<String>,
    entity: Option<String>,
    record_id: Option<String>,
    field: Option<String>,
    old: Option<String>,
    new: Option<String>,
    detail: Vec<(&'static str, serde_json::Value)>,
}

fn entry(action: &'static str, user: &str, role: Option<&str>) -> Expect {
    Expect {
        action,
        user: Some(user.to_owned()),
        role: role.map(str::to_owned),
        entity: None,
        record_id: None,
        field: None,
        old: None,
        new: None,
        detail: Vec::new(),
    }
}

fn by_olivia(action: &'static str) -> Expect {
    entry(action, "olivia", Some("Owner"))
}

fn by_sam(action: &'static str) -> Expect {
    entry(action, "sam", Some("Sales Representative"))
}

impl Expect {
    fn on(mut self, entity: &str, id: impl ToString) -> Self {
        self.entity = Some(entity.to_owned());
        self.record_id = Some(id.to_string());
        self
    }

    fn field(mut self, name: &str) -> Self {
        self.field = Some(name.to_owned());
        self
    }

    fn change(mut self, old: Option<&str>, new: Option<&str>) -> Self {
        self.old = old.map(str::to_owned);
        self.new = new.map(str::to_owned);
        self
    }

    fn detail(mut self, key: &'static str, value: impl serde::Serialize) -> Self {
        self.detail.push((
            key,
            serde_json::to_value(value).unwrap_or(serde_json::Value::Null),
        ));
        self
    }

    fn differences(&self, stored: &Stored) -> Vec<String> {
        let mut differences = Vec::new();
        let mut compare = |what: &str, expected: Option<&str>, found: Option<&str>| {
            if expected != found {
                differences.push(format!("{what}: expected {expected:?}, found {found:?}"));
            }
        };
        compare("action", Some(self.action), Some(&stored.action));
        compare("user", self.user.as_deref(), stored.user.as_deref());
        compare("role", self.role.as_deref(), stored.role.as_deref());
        compare("entity", self.entity.as_deref(), stored.entity.as_deref());
        compare(
            "record_id",
            self.record_id.as_deref(),
            stored.record_id.as_deref(),
        );
        compare("field", self.field.as_deref(), stored.field.as_deref());
        compare("old", self.old.as_deref(), stored.old.as_deref());
        compare("new", self.new.as_deref(), stored.new.as_deref());
        for (key, value) in &self.detail {
            if stored.detail.get(key) != Some(value) {
                differences.push(format!(
                    "detail.{key}: expected {value}, found {:?}",
                    stored.detail.get(key)
                ));
            }
        }
        differences
    }
}

/// The people and files the steps act on.
struct Ctx {
    root: PathBuf,
    dir: PathBuf,
    recovery: Option<RecoveryIdentity>,
    olivia: Option<Session>,
    sam: Option<Session>,
    trail: TrailReader,
    okafor: i64,
    berg: i64,
    /// The contact erased after the backup: the restore erases it again.
    erased: Option<i64>,
    backup: Option<PathBuf>,
}

impl Ctx {
    fn olivia(&mut self) -> Result<&mut Session> {
        self.olivia
            .as_mut()
            .ok_or_else(|| Error::Invalid("the owner is signed out".into()))
    }

    fn contact_id(&self, last_name: &str) -> Result<i64> {
        let conn = stock_connection(&self.dir.join("vault.db"), &self.trail.key_hex)?;
        Ok(conn.query_row(
            "SELECT id FROM contacts WHERE last_name = ?1",
            [last_name],
            |row| row.get(0),
        )?)
    }
}

type Step = Box<dyn FnOnce(&mut Ctx) -> Result<Vec<Expect>>>;

fn step(
    name: &'static str,
    run: impl FnOnce(&mut Ctx) -> Result<Vec<Expect>> + 'static,
) -> (&'static str, Step) {
    (name, Box::new(run))
}

fn wrong_password(user: &str) -> Credentials {
    Credentials {
        user: user.into(),
        password: Password::new("not-the-password-1"),
        key_file: None,
    }
}

/// The list of recorded actions, one step each, with the exact entries each leaves.
fn steps() -> Vec<(&'static str, Step)> {
    vec![
        step("unlock", |ctx| {
            ctx.sam = Some(login(&ctx.dir, "sam")?);
            Ok(vec![by_sam("unlock")])
        }),
        step("lock", |ctx| {
            if let Some(sam) = ctx.sam.take() {
                sam.lock();
            }
            Ok(vec![by_sam("lock")])
        }),
        step("a failed unlock, folded in at the next unlock", |ctx| {
            let failed = Vault::open(&ctx.dir)?.unlock(&wrong_password("sam"));
            assert!(matches!(failed, Err(Error::WrongCredentials)));
            assert!(
                ctx.trail.new_entries()?.is_empty(),
                "nothing can be written before an unlock"
            );
            ctx.sam = Some(login(&ctx.dir, "sam")?);
            Ok(vec![
                entry("unlock_failed", "sam", None).detail("reason", "wrong_credentials"),
                by_sam("unlock"),
            ])
        }),
        step("auto-lock", |ctx| {
            if let Some(sam) = ctx.sam.take() {
                sam.auto_lock();
            }
            Ok(vec![by_sam("auto_lock")])
        }),
        step("view of a record holding Confidential values", |ctx| {
            let okafor = ctx.okafor;
            ctx.olivia()?.show(Entity::Contact, okafor)?;
            Ok(vec![by_olivia("view").on("contact", okafor)])
        }),
        step(
            "view of a record without Confidential values leaves nothing",
            |ctx| {
                let berg = ctx.berg;
                ctx.olivia()?.show(Entity::Contact, berg)?;
                Ok(vec![])
            },
        ),
        step(
            "a list page names the Confidential records it showed",
            |ctx| {
                let okafor = ctx.okafor;
                ctx.olivia()?.list(Entity::Contact, &ListQuery::default())?;
                Ok(vec![
                    by_olivia("view")
                        .on("contact", "list")
                        .detail("ids", [okafor]),
                ])
            },
        ),
        step("search", |ctx| {
            ctx.olivia()?.search("Okafor", 10)?;
            Ok(vec![
                by_olivia("search")
                    .field("query")
                    .change(None, Some("Okafor"))
                    .detail("results", 1),
            ])
        }),
        step("create: every field old → new, then the record", |ctx| {
            let lind = ctx.olivia()?.create(
                Entity::Contact,
                &input(&[("last_name", "Lind"), ("emails", "lind@example.com")]),
            )?;
            Ok(vec![
                by_olivia("update")
                    .on("contact", lind)
                    .field("last_name")
                    .change(None, Some("Lind")),
                by_olivia("update")
                    .on("contact", lind)
                    .field("emails")
                    .change(None, Some("lind@example.com")),
                by_olivia("create").on("contact", lind).detail("fields", 2),
            ])
        }),
        step("field change", |ctx| {
            let okafor = ctx.okafor;
            ctx.olivia()?.update(
                Entity::Contact,
                okafor,
                &input(&[("phones", "+44 20 7946 0999")]),
            )?;
            Ok(vec![
                by_olivia("update")
                    .on("contact", okafor)
                    .field("phones")
                    .change(Some("+44 20 7946 0018"), Some("+44 20 7946 0999")),
            ])
        }),
        step(
            "import: changed fields of updated contacts, then the import",
            |ctx| {
                let okafor = ctx.okafor;
                let file = ctx.root.join("contacts.csv");
                std::fs::write(
                    &file,
                    "first_name,last_name,emails,phones\n\
                     Ada,Okafor,okafor@example.com,+44 20 7946 0111\n\
                     Nils,Holm,holm@example.com,\n",
                )
                .map_err(Error::io("writing the CSV"))?;
                let report =
                    ctx.olivia()?
                        .import_csv(&file, &ImportOptions::default(), &mut |_| {})?;
                assert!(report.committed, "{report:?}");
                Ok(vec![
                    by_olivia("update")
                        .on("contact", okafor)
                        .field("first_name")
                        .change(None, Some("Ada")),
                    by_olivia("update")
                        .on("contact", okafor)
                        .field("phones")
                        // An import adds to a contact's phones; it does not replace them.
                        .change(
                            Some("+44 20 7946 0999"),
                            Some("+44 20 7946 0999, +44 20 7946 0111"),
                        ),
                    by_olivia("import")
                        .on("contact", "import")
                        .detail("format", "csv")
                        .detail("rows", 2)
                        .detail("created", 1)
                        .detail("updated", 1),
                ])
            },
        ),
        step("export: format and rows", |ctx| {
            let mut out = Vec::new();
            ctx.olivia()?
                .export(Entity::Contact, ExportFormat::Csv, &mut out, &mut |_| {})?;
            Ok(vec![
                by_olivia("export")
                    .on("contact", "list")
                    .detail("format", "csv")
                    .detail("rows", 4),
            ])
        }),
        step("classification change", |ctx| {
            ctx.olivia()?.classify(
                Entity::Contact,
                "birthday",
                Level::HighlyConfidential,
                &mut |_| {},
            )?;
            Ok(vec![
                by_olivia("classification_changed")
                    .on("field", "contact.birthday")
                    .change(Some("Confidential"), Some("Highly Confidential")),
            ])
        }),
        step("reveal with its reason", |ctx| {
            let okafor = ctx.okafor;
            let value = ctx.olivia()?.reveal(
                Entity::Contact,
                okafor,
                "birthday",
                "identity check on the phone",
            )?;
            assert_eq!(value, "1980-04-02");
            Ok(vec![
                by_olivia("reveal")
                    .on("contact", okafor)
                    .field("birthday")
                    .detail("reason", "identity check on the phone"),
            ])
        }),
        step("user added", |ctx| {
            add_user(ctx.olivia()?, "rita", "Marketing")?;
            Ok(vec![
                by_olivia("user_added")
                    .on("user", "rita")
                    .detail("role", "Marketing"),
            ])
        }),
        step("user's role changed", |ctx| {
            ctx.olivia()?.set_user_role("rita", "Support")?;
            Ok(vec![
                by_olivia("role_assigned")
                    .on("user", "rita")
                    .change(Some("Marketing"), Some("Support")),
            ])
        }),
        step("role edited", |ctx| {
            let olivia = ctx.olivia()?;
            let before = olivia
                .list_roles()?
                .into_iter()
                .map(|summary| summary.role)
                .find(|role| role.name == "Support")
                .ok_or_else(|| Error::NotFound("role Support".into()))?;
            let mut edited = before.clone();
            edited.description = "Helps customers on the phone".into();
            olivia.save_role(&edited, false)?;
            let json =
                |role: &crate::policy::RoleDef| serde_json::to_string(role).unwrap_or_default();
            Ok(vec![
                by_olivia("role_changed")
                    .on("role", "Support")
                    .change(Some(&json(&before)), Some(&json(&edited))),
            ])
        }),
        step("security policy change", |ctx| {
            ctx.olivia()?.set_auto_lock_minutes(15)?;
            Ok(vec![
                by_olivia("policy_changed")
                    .on("policy", "auto_lock_minutes")
                    .change(Some("10"), Some("15")),
            ])
        }),
        step("backup settings are a policy change, not a backup", |ctx| {
            let destination = ctx.root.join("backups");
            std::fs::create_dir_all(&destination).map_err(Error::io("creating the destination"))?;
            let settings = BackupSettings {
                destinations: vec![destination],
                ..BackupSettings::default()
            };
            let json =
                |settings: &BackupSettings| serde_json::to_string(settings).unwrap_or_default();
            let (before, after) = (json(&BackupSettings::default()), json(&settings));
            ctx.olivia()?.set_backup_settings(settings)?;
            Ok(vec![
                by_olivia("policy_changed")
                    .on("policy", "backup_settings")
                    .change(Some(&before), Some(&after)),
            ])
        }),
        step("key rotation", |ctx| {
            ctx.olivia()?.rotate_data_key(&mut |_| {})?;
            Ok(vec![by_olivia("key_rotated").detail("reason", "requested")])
        }),
        step("backup", |ctx| {
            let made = ctx.olivia()?.backup_now(None, &mut |_| {})?;
            let backup = made
                .first()
                .ok_or_else(|| Error::Backup("no backup made".into()))?;
            let id = backup.id.clone();
            ctx.backup = Some(backup.path.clone());
            Ok(vec![
                by_olivia("backup")
                    .on("backup", id)
                    .detail("kind", "backup")
                    .detail("passed", true),
            ])
        }),
        step("backup verification", |ctx| {
            let path = ctx
                .backup
                .clone()
                .ok_or_else(|| Error::Backup("no backup".into()))?;
            let info = ctx.olivia()?.verify_backup(&path, None)?;
            Ok(vec![
                by_olivia("backup_verified")
                    .on("backup", info.id)
                    .detail("passed", true),
            ])
        }),
        step("erasure", |ctx| {
            let holm = ctx.contact_id("Holm")?;
            ctx.olivia()?.erase_contact(holm, "asked to be forgotten")?;
            ctx.erased = Some(holm);
            Ok(vec![
                by_olivia("erase")
                    .on("contact", holm)
                    .detail("reason", "asked to be forgotten"),
            ])
        }),
        step("user removed (and the key rotated after them)", |ctx| {
            ctx.olivia()?.remove_user("rita", &mut |_| {})?;
            Ok(vec![
                by_olivia("user_removed").on("user", "rita"),
                by_olivia("key_rotated").detail("reason", "user removed"),
            ])
        }),
        step("the owner locks", |ctx| {
            if let Some(olivia) = ctx.olivia.take() {
                olivia.lock();
            }
            Ok(vec![by_olivia("lock")])
        }),
        step(
            "restore (the restored vault's trail continues the backup's)",
            |ctx| {
                let backup = ctx
                    .backup
                    .clone()
                    .ok_or_else(|| Error::Backup("no backup".into()))?;
                let identity = ctx
                    .recovery
                    .take()
                    .ok_or_else(|| Error::Invalid("no recovery identity".into()))?;
                let to = ctx.root.join("restored");
                let restored = crate::backup::restore(
                    &backup,
                    &identity,
                    RestoreOptions {
                        to: to.clone(),
                        move_aside: false,
                        owner: None,
                        password: Password::new(PASSWORD),
                        kdf: KdfStrength::Floor,
                    },
                    &mut |_| {},
                )?;
                let backup_head = restored
                    .manifest
                    .audit_head
                    .clone()
                    .ok_or_else(|| Error::Backup("the manifest has no audit head".into()))?;
                ctx.trail = TrailReader {
                    database: to.join("vault.db"),
                    key_hex: key_hex(&restored.session),
                    seen: backup_head.seq,
                };
                let id = restored.manifest.backup_id.clone();
                ctx.olivia = Some(restored.session);
                let erased = ctx
                    .erased
                    .ok_or_else(|| Error::Invalid("no erasure before the restore".into()))?;
                Ok(vec![
                    by_olivia("unlock"),
                    by_olivia("restore").detail("backup_id", id),
                    // Erased after the backup was made: the restore erases it again.
                    by_olivia("erase").on("contact", erased),
                ])
            },
        ),
    ]
}

/// The "Done means": every action listed leaves exactly the expected entries (action,
/// user, role, target, field, old/new where relevant), nothing more, nothing less.
#[test]
fn every_listed_action_leaves_exactly_its_entries() -> Result<()> {
    let root = tempdir()?;
    let dir = root.path().join("vault");
    let created = Vault::create(
        &dir,
        NewVault {
            owner: "olivia".into(),
            password: Password::new(PASSWORD),
            key_file: None,
            kdf: KdfStrength::Floor,
        },
    )?;
    let mut olivia = created.session;
    olivia.set_kdf_strength(KdfStrength::Floor);
    add_user(&mut olivia, "sam", "Sales Representative")?;
    let okafor = olivia.create(
        Entity::Contact,
        &input(&[
            ("last_name", "Okafor"),
            ("emails", "okafor@example.com"),
            ("phones", "+44 20 7946 0018"),
            ("birthday", "1980-04-02"),
        ]),
    )?;
    let berg = olivia.create(Entity::Contact, &input(&[("last_name", "Berg")]))?;
    let seen = olivia.audit_head()?.seq;
    let mut ctx = Ctx {
        root: root.path().to_path_buf(),
        dir: dir.clone(),
        recovery: Some(created.recovery),
        trail: TrailReader {
            database: dir.join("vault.db"),
            key_hex: key_hex(&olivia),
            seen,
        },
        olivia: Some(olivia),
        sam: None,
        okafor,
        berg,
        erased: None,
        backup: None,
    };
    for (name, step) in steps() {
        let expected = step(&mut ctx)?;
        // Batched reads reach the trail at the next write: flush every open session.
        for session in [ctx.olivia.as_mut(), ctx.sam.as_mut()]
            .into_iter()
            .flatten()
        {
            session.audit_head()?;
        }
        if let Some(olivia) = &ctx.olivia {
            ctx.trail.key_hex = key_hex(olivia); // a rotation changes it
        }
        let found = ctx.trail.new_entries()?;
        assert_eq!(
            found.len(),
            expected.len(),
            "{name}: expected {} entries, found {found:#?}",
            expected.len()
        );
        for (expected, stored) in expected.iter().zip(&found) {
            let differences = expected.differences(stored);
            assert!(
                differences.is_empty(),
                "{name}: entry {} differs: {differences:#?}",
                stored.seq
            );
        }
    }
    let restored = ctx.olivia()?;
    assert!(restored.audit_verify()?.intact);
    Ok(())
}

/// A vault with a little history: the owner, a rep, a contact with Confidential values.
fn vault_with_history(dir: &Path) -> Result<Session> {
    let mut olivia = owner_vault(dir)?;
    add_user(&mut olivia, "sam", "Sales Representative")?;
    let id = olivia.create(
        Entity::Contact,
        &input(&[("last_name", "Okafor"), ("emails", "okafor@example.com")]),
    )?;
    olivia.show(Entity::Contact, id)?;
    olivia.audit_head()?;
    Ok(olivia)
}

#[test]
fn retention_pruning_keeps_the_chain_verifiable_and_a_changed_checkpoint_is_named() -> Result<()> {
    let dir = tempdir()?;
    let mut olivia = vault_with_history(dir.path())?;
    let first = olivia.prune_audit_before(Utc::now())?;
    assert!(first > 0);
    let report = olivia.audit_verify()?;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.checkpoints, 1);
    // More activity, a second pruning: the checkpoints chain.
    drop(login(dir.path(), "sam")?);
    let second = olivia.prune_audit_before(Utc::now())?;
    assert!(second > 0);
    let report = olivia.audit_verify()?;
    assert!(report.intact, "{report:?}");
    assert_eq!(report.checkpoints, 2);
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let conn = stock_connection(&dir.path().join("vault.db"), &key_hex(&olivia))?;
    let refused = conn.execute("UPDATE audit_checkpoints SET by_user = 'mallory'", []);
    assert!(
        refused.is_err_and(|error| error.to_string().contains("append-only")),
        "checkpoints are append-only"
    );
    let refused = conn.execute("DELETE FROM audit_checkpoints", []);
    assert!(refused.is_err_and(|error| error.to_string().contains("append-only")));
    let second_first_seq: i64 = conn.query_row(
        "SELECT first_seq FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
        [],
        |row| row.get(0),
    )?;
    conn.execute_batch(
        "DROP TRIGGER audit_checkpoints_no_update;
         UPDATE audit_checkpoints SET by_user = 'mallory' WHERE id = 2;",
    )?;
    let report = olivia.audit_verify()?;
    assert!(!report.intact);
    let bad = report
        .first_bad
        .clone()
        .ok_or(Error::NotFound("bad".into()))?;
    assert_eq!(bad.seq, second_first_seq);
    assert!(bad.reason.contains("forged or changed"), "{bad:?}");
    assert!(
        report
            .warnings
            .iter()
            .any(|warning| warning.contains("audit_checkpoints_no_update")),
        "{:?}",
        report.warnings
    );

    // Removing the first checkpoint instead breaks the checkpoints' sequence.
    conn.execute_batch(
        "DROP TRIGGER audit_checkpoints_no_delete; DELETE FROM audit_checkpoints WHERE id = 1;",
    )?;
    let report = olivia.audit_verify()?;
    let bad = report.first_bad.ok_or(Error::NotFound("bad".into()))?;
    assert_eq!(bad.seq, 1);
    assert!(
        bad.reason.contains("a checkpoint was removed or inserted"),
        "{bad:?}"
    );
    Ok(())
}

/// The audit's finding: wiping the trail behind a forged checkpoint went unnoticed. A forger
/// without the chain key is caught by the checkpoint MAC; one who reads the chain key from
/// the database and MACs the checkpoint properly is caught by the head file.
#[test]
fn a_checkpoint_forged_to_wipe_the_trail_is_detected_with_or_without_the_chain_key() -> Result<()> {
    for with_chain_key in [false, true] {
        let dir = tempdir()?;
        let olivia = vault_with_history(dir.path())?;
        let database = dir.path().join("vault.db");
        let key = key_hex(&olivia);
        olivia.lock();
        let conn = stock_connection(&database, &key)?;
        let (count, last_seq, last_mac): (i64, i64, String) = conn.query_row(
            "SELECT count(*), max(seq), (SELECT mac FROM audit_log ORDER BY seq DESC LIMIT 1)
             FROM audit_log",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
        let at = Utc::now().to_rfc3339();
        let mac = if with_chain_key {
            let chain_key: String = conn.query_row(
                "SELECT value FROM vault_meta WHERE key = 'audit_hmac_key'",
                [],
                |row| row.get(0),
            )?;
            let chain_key = hex::decode(chain_key).map_err(|_| Error::Invalid("hex".into()))?;
            let body = serde_json::to_vec(&serde_json::json!([
                "checkpoint",
                at,
                "olivia",
                1,
                last_seq,
                last_mac,
                count
            ]))
            .unwrap_or_default();
            let mut hmac = <Hmac<Sha256> as Mac>::new_from_slice(&chain_key)
                .map_err(|_| Error::Invalid("key".into()))?;
            hmac.update(b"genesis\n");
            hmac.update(&body);
            hex::encode(hmac.finalize().into_bytes())
        } else {
            "ab".repeat(32)
        };
        conn.execute_batch("DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log;")?;
        conn.execute(
            "INSERT INTO audit_checkpoints (at, by_user, first_seq, last_seq, last_mac, entries, mac)
             VALUES (?1, 'olivia', 1, ?2, ?3, ?4, ?5)",
            rusqlite::params![at, last_seq, last_mac, count, mac],
        )?;
        drop(conn);

        let mut olivia = login(dir.path(), "olivia")?;
        let report = olivia.audit_verify()?;
        assert!(
            !report.intact,
            "with chain key {with_chain_key}: {report:?}"
        );
        let reason = report.first_bad.map(|bad| bad.reason).unwrap_or_default();
        let expected = if with_chain_key {
            "a checkpoint was forged to hide entries"
        } else {
            "forged or changed"
        };
        assert!(reason.contains(expected), "{reason}");
        if with_chain_key {
            assert!(
                olivia
                    .warnings()
                    .iter()
                    .any(|warning| warning.contains("does not match audit-head.json")),
                "unlock warns too: {:?}",
                olivia.warnings()
            );
        }
    }
    Ok(())
}

#[test]
fn a_demoted_owner_loses_owner_powers_and_its_entries_name_the_role_it_holds_now() -> Result<()> {
    let dir = tempdir()?;
    let mut olivia = owner_vault(dir.path())?;
    add_user(&mut olivia, "otto", "Owner")?;
    let mut otto = login(dir.path(), "otto")?;
    otto.set_audit_retention_days(Some(365))?;
    olivia.set_user_role("otto", "Administrator")?;
    // Otto's session was opened as an Owner; the role is re-read at every check.
    assert!(matches!(
        otto.set_audit_retention_days(Some(400)),
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        otto.sign_off_access_review(90),
        Err(Error::Forbidden(_))
    ));
    otto.search("anything", 5)?;
    otto.audit_head()?;
    let conn = stock_connection(&dir.path().join("vault.db"), &key_hex(&olivia))?;
    let (action, role): (String, Option<String>) = conn.query_row(
        "SELECT action, role FROM audit_log WHERE user_name = 'otto' ORDER BY seq DESC LIMIT 1",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    assert_eq!(
        (action.as_str(), role.as_deref()),
        ("search", Some("Administrator"))
    );
    let unlock_role: Option<String> = conn.query_row(
        "SELECT role FROM audit_log WHERE user_name = 'otto' AND action = 'unlock'",
        [],
        |row| row.get(0),
    )?;
    assert_eq!(unlock_role.as_deref(), Some("Owner"));
    Ok(())
}

/// The access review counts records, not entries: a rep paging through lists of Confidential
/// contacts has viewed every contact on those pages.
#[test]
fn the_access_review_counts_every_record_shown_on_list_pages() -> Result<()> {
    let dir = tempdir()?;
    let mut olivia = owner_vault(dir.path())?;
    add_user(&mut olivia, "sam", "Sales Representative")?;
    let mut sam = login(dir.path(), "sam")?;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(sam.create(
            Entity::Contact,
            &input(&[
                ("last_name", &format!("Customer {n}")),
                ("emails", &format!("customer{n}@example.com")),
            ]),
        )?);
    }
    let page = |page| ListQuery {
        page: Some(page),
        page_size: Some(12),
        ..ListQuery::default()
    };
    for number in 1..=3 {
        sam.list(Entity::Contact, &page(number))?;
    }
    sam.list(Entity::Contact, &page(1))?; // the same twelve again
    sam.show(Entity::Contact, ids[0])?; // one of them opened
    sam.lock();
    let review = olivia.access_review(90)?;
    let line = review
        .users
        .iter()
        .find(|line| line.user == "sam")
        .ok_or(Error::NotFound("sam".into()))?;
    assert_eq!(line.records_viewed, 30);
    Ok(())
}

#[test]
fn alerts_are_shown_at_unlock_only_to_roles_that_read_the_trail() -> Result<()> {
    let dir = tempdir()?;
    let mut olivia = owner_vault(dir.path())?;
    add_user(&mut olivia, "sam", "Sales Representative")?;
    add_user(&mut olivia, "ada", "Auditor")?;
    olivia.lock();
    // Someone guesses at a name five times before anyone unlocks again.
    let vault = Vault::open(dir.path())?;
    for _ in 0..5 {
        assert!(vault.unlock(&wrong_password("mallory")).is_err());
    }
    let mut olivia = login(dir.path(), "olivia")?;
    let shown = olivia.alerts_to_show()?;
    assert_eq!(
        shown
            .iter()
            .map(|alert| alert.kind.as_str())
            .collect::<Vec<_>>(),
        ["unlock_failed"]
    );
    assert_eq!(login(dir.path(), "ada")?.alerts_to_show()?.len(), 1);
    assert!(login(dir.path(), "sam")?.alerts_to_show()?.is_empty());
    olivia.acknowledge_alert(shown[0].id)?;
    assert!(olivia.alerts_to_show()?.is_empty());
    Ok(())
}

/// Issue 19, item 9: an auditor (Public clearance) read the reasons of reveals and erasures in
/// clear, and a reason can quote the value revealed or say why a person asked to be forgotten.
/// They are masked like the value they accompany; the owner still reads them.
#[test]
fn reasons_of_reveals_and_erasures_are_masked_above_the_readers_clearance() -> Result<()> {
    let dir = tempdir()?;
    let mut olivia = owner_vault(dir.path())?;
    add_user(&mut olivia, "ada", "Auditor")?;
    let berg = olivia.create(
        Entity::Contact,
        &input(&[("last_name", "Berg"), ("birthday", "1980-04-02")]),
    )?;
    let holm = olivia.create(Entity::Contact, &input(&[("last_name", "Holm")]))?;
    olivia.classify(
        Entity::Contact,
        "birthday",
        Level::HighlyConfidential,
        &mut |_| {},
    )?;
    let reveal_reason = "she said her birthday is 1980-04-02";
    let erase_reason = "Holm asked to be forgotten after the divorce";
    olivia.reveal(Entity::Contact, berg, "birthday", reveal_reason)?;
    olivia.erase_contact(holm, erase_reason)?;
    let reasons = |session: &Session| -> Result<Vec<String>> {
        Ok(session
            .audit_list(&crate::audit::AuditFilter::default())?
            .into_iter()
            .filter(|entry| entry.action == "reveal" || entry.action == "erase")
            .map(|entry| entry.detail["reason"].as_str().unwrap_or("").to_owned())
            .collect())
    };
    assert_eq!(reasons(&olivia)?, [erase_reason, reveal_reason]);
    let ada = login(dir.path(), "ada")?;
    assert_eq!(
        reasons(&ada)?,
        [crate::audit::MASKED, crate::audit::MASKED],
        "the auditor sees that a reason was given, not what it says"
    );
    Ok(())
}
