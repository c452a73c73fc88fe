//! `crm init`, `crm status`, `crm user …` and `crm key …`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use crm_core::password::PasswordRule;
use crm_core::vault::KeyFileChange;
use crm_core::{
    Error, KdfStrength, KeyFileDigest, NewUser, NewVault, RecoveryIdentity, Result, Vault,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::Cli;
use crate::credentials::{self, new_password, unlock, vault_dir};
use crate::output::Output;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The owner's login name
    #[arg(long, value_name = "NAME")]
    owner: String,

    /// Require this existing file as the owner's key file (any file; only its hash is used)
    #[arg(long, value_name = "PATH", conflicts_with = "generate_key_file")]
    owner_key_file: Option<PathBuf>,

    /// Generate a new random key file here (e.g. on a USB stick) and require it
    #[arg(long, value_name = "PATH")]
    generate_key_file: Option<PathBuf>,

    /// Write the recovery identity to this new file (0600) instead of printing it (with
    /// --json it is otherwise in the answer's `recovery_identity`)
    #[arg(long, value_name = "FILE")]
    recovery_out: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user with a role; asks for their initial password
    Add {
        /// Login name
        name: String,
        /// Role: Owner, Administrator, Sales Manager, Sales Representative, Marketing, Support, Auditor
        #[arg(long)]
        role: String,
        /// Require this key file for the new user (any file; see `crm key generate-keyfile`)
        #[arg(long = "new-key-file", value_name = "PATH")]
        new_key_file: Option<PathBuf>,
    },
    /// List active users with their roles and last unlock
    List,
    /// Remove a user and rotate the data key (needs the vault alone)
    Remove {
        /// Login name
        name: String,
    },
    /// Give a user another role
    SetRole {
        /// Login name
        name: String,
        /// Role name (see `crm role list`)
        role: String,
    },
    /// Put a user in a team (omit TEAM to take them out); records they create join that team
    SetTeam {
        /// Login name
        name: String,
        /// Team name (created if new)
        team: Option<String>,
    },
    /// Change your own password, or with NAME reset another user's (owner/administrator)
    ///
    /// A key file stays required unless you say otherwise: changing your own password keeps the
    /// key file you signed in with; resetting someone whose sign-in needs a key file requires
    /// --new-key-file (their key file again, or a new one) or --no-key-file.
    Passwd {
        /// Whose password to reset; omit to change your own
        name: Option<String>,
        /// Require this key file from now on (any file; see `crm key generate-keyfile`)
        #[arg(long = "new-key-file", value_name = "PATH")]
        new_key_file: Option<PathBuf>,
        /// Stop requiring a key file (refused when the user's role requires one)
        #[arg(long, conflicts_with = "new_key_file")]
        no_key_file: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the raw SQLCipher key, given the recovery identity (for stock SQLCipher tools)
    ShowDataKey {
        /// The recovery identity file printed at `crm init`
        #[arg(long, value_name = "FILE")]
        identity: PathBuf,
    },
    /// Write a new random key file (e.g. onto a USB stick); refuses to overwrite
    GenerateKeyfile {
        /// Where to write it
        path: PathBuf,
    },
    /// Rotate the data key now (after a suspected compromise); needs the vault alone
    Rotate,
}

pub fn init(cli: &Cli, args: &InitArgs, out: &Output) -> Result<()> {
    let dir = vault_dir(cli)?;
    if crm_core::VaultPaths::new(&dir).exists() {
        return Err(Error::VaultExists(dir));
    }
    // The global --key-file is the signing-in user's, and init signs nobody in: taken silently,
    // it would leave the new owner without the key file they believe they require.
    if let Some(path) = &cli.key_file {
        return Err(Error::Invalid(format!(
            "--key-file {} (also spelled --keyfile, or STRONGROOM_KEY_FILE) is the signing-in \
             user's key file and init signs nobody in; to require a key file for the new owner, \
             use --owner-key-file {0} (or --generate-key-file PATH for a new one)",
            path.display()
        )));
    }
    // Refuse before creating anything: the identity exists only once, in memory.
    for (path, what) in [
        (&args.recovery_out, "the recovery identity"),
        (&args.generate_key_file, "the new key file"),
    ] {
        if let Some(path) = path
            && path.exists()
        {
            return Err(Error::Invalid(format!(
                "{} already exists; choose a new file for {what}",
                path.display()
            )));
        }
    }
    let owner_key_file = args
        .owner_key_file
        .as_deref()
        .map(KeyFileDigest::from_file)
        .transpose()?;
    let password = new_password(&args.owner, &PasswordRule::for_new_vault(&dir))?;
    if !out.is_json() {
        eprintln!("creating the vault (calibrating the key derivation, about a second)…");
    }
    let created = match &args.generate_key_file {
        Some(path) => create_with_generated_key_file(&dir, &args.owner, password, path)?,
        None => Vault::create(
            &dir,
            NewVault {
                owner: args.owner.clone(),
                password,
                key_file: owner_key_file,
                kdf: KdfStrength::from_env(),
            },
        )?,
    };
    if let Some(path) = &args.generate_key_file
        && !out.is_json()
    {
        eprintln!(
            "wrote a new key file to {}; keep a second copy somewhere safe",
            path.display()
        );
    }
    let identity = created.recovery.to_identity_file();
    let mut written_to = None;
    if let Some(path) = &args.recovery_out {
        match crm_core::fsutil::write_new_private_file(path, identity.expose().as_bytes()) {
            Ok(()) => written_to = Some(path.as_path()),
            // The vault exists now; losing the identity would be worse than printing it.
            Err(error) => eprintln!("warning: {error}; printing the recovery identity instead"),
        }
    }
    let recipient = created.recovery.recipient();
    if out.is_json() {
        /// The answer to `crm --json init`. It carries the recovery identity itself unless it
        /// went to a file: this is the only moment the identity exists.
        #[derive(Serialize)]
        struct Created<'a> {
            vault: &'a Path,
            owner: &'a str,
            recovery_recipient: &'a str,
            recovery_identity_file: Option<&'a Path>,
            recovery_identity: Option<&'a str>,
            key_file: Option<&'a Path>,
        }
        return print_secret_json(&Created {
            vault: &dir,
            owner: &args.owner,
            recovery_recipient: &recipient,
            recovery_identity_file: written_to,
            recovery_identity: written_to.is_none().then(|| identity.expose()),
            key_file: args.generate_key_file.as_deref(),
        });
    }
    let mut text = Zeroizing::new(String::with_capacity(2048));
    text.push_str(&format!(
        "Created the vault at {}\nOwner: {}\n\n",
        dir.display(),
        args.owner
    ));
    match written_to {
        Some(path) => text.push_str(&format!(
            "The RECOVERY IDENTITY was written to {}.\n",
            path.display()
        )),
        None => {
            text.push_str("RECOVERY IDENTITY — shown this once:\n\n");
            text.push_str(identity.expose());
            text.push('\n');
        }
    }
    text.push_str(
        "Print it, store it offline (a safe, not this computer) and delete any copy on disk. \
         With it a sysadmin can restore backups and open the vault if every password is lost; \
         without it, nobody can.\n",
    );
    print_secret_text(&text)
}

/// Writes a new random key file at `path`, creates the vault requiring it, and removes the key
/// file again if the vault cannot be created: a failed init leaves nothing that blocks a rerun.
fn create_with_generated_key_file(
    dir: &Path,
    owner: &str,
    password: crm_core::Password,
    path: &Path,
) -> Result<crm_core::CreatedVault> {
    crm_core::secret::generate_key_file(path)?;
    let created = KeyFileDigest::from_file(path).and_then(|key_file| {
        Vault::create(
            dir,
            NewVault {
                owner: owner.to_owned(),
                password,
                key_file: Some(key_file),
                kdf: KdfStrength::from_env(),
            },
        )
    });
    if created.is_err()
        && let Err(error) = std::fs::remove_file(path)
    {
        eprintln!(
            "warning: could not remove the unused key file {}: {error}",
            path.display()
        );
    }
    created
}

/// Prints an answer that carries a secret as JSON. The text is built in a zeroizing buffer
/// reserved up front (so no reallocation leaves a copy behind) and written straight to
/// standard output.
fn print_secret_json(value: &impl Serialize) -> Result<()> {
    let mut json = Zeroizing::new(Vec::with_capacity(4096));
    serde_json::to_writer_pretty(&mut *json, value)
        .map_err(|error| Error::Invalid(format!("could not encode the answer: {error}")))?;
    json.push(b'\n');
    write_stdout(&json)
}

/// Prints text that carries a secret (see [`print_secret_json`]).
fn print_secret_text(text: &Zeroizing<String>) -> Result<()> {
    write_stdout(text.as_bytes())
}

fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|source| Error::Io {
            context: "writing to standard output".into(),
            source,
        })
}

pub fn status(cli: &Cli, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    // A scheduled backup missed while nothing was unlocked happens now. Its failures are
    // reported (and alerted on in the vault), never a reason to fail the unlock.
    let caught_up = session.run_due_backups(&mut |progress| out.progress(&progress));
    if !out.is_json() {
        if !caught_up.made.is_empty() {
            eprintln!(
                "made {} scheduled backup(s) that were due",
                caught_up.made.len()
            );
        }
        for failure in &caught_up.failures {
            eprintln!("warning: scheduled backup: {}", failure.problem);
        }
    }
    let backup_failures: Vec<&str> = caught_up
        .failures
        .iter()
        .map(|failure| failure.problem.as_str())
        .collect();
    let mut user = session.user().clone();
    user.role = session.role()?.name; // the role held now, should it have changed meanwhile
    let failed = session.failed_unlocks().len();
    let alerts = session.alerts_to_show()?;
    out.show(
        &serde_json::json!({
            "vault": session.paths().dir,
            "vault_id": session.vault_id(),
            "user": user.name,
            "role": user.role,
            "failed_unlocks_since_last": failed,
            "warnings": session.warnings(),
            "backups_made": caught_up.made.len(),
            "backup_failures": backup_failures,
            "alerts": alerts,
        }),
        |_| {
            let mut text = format!(
                "Unlocked {} as {} ({})",
                session.paths().dir.display(),
                user.name,
                user.role
            );
            if failed > 0 {
                text.push_str(&format!(
                    "\n{failed} failed unlock attempt(s) since the last successful unlock"
                ));
            }
            if !alerts.is_empty() {
                text.push_str(&format!(
                    "\n\nUnusual activity ({} alert(s); `crm alerts --ack ID` once handled):\n{}",
                    alerts.len(),
                    crate::output::render_alerts(&alerts)
                ));
            }
            text
        },
    );
    Ok(())
}

pub fn user(cli: &Cli, command: &UserCommand, out: &Output) -> Result<()> {
    let (mut session, signed_in) = credentials::unlock_keeping_credentials(cli)?;
    match command {
        UserCommand::Add {
            name,
            role,
            new_key_file,
        } => {
            let password = new_password(name, &session.password_rule()?)?;
            session.add_user(NewUser {
                name: name.clone(),
                role: role.clone(),
                password,
                key_file: new_key_file
                    .as_deref()
                    .map(KeyFileDigest::from_file)
                    .transpose()?,
            })?;
            out.done(&format!("added {name} as {role}"));
        }
        UserCommand::List => {
            let users = session.list_users()?;
            out.show(&users, |users| {
                let mut text = format!(
                    "{:<24} {:<22} {:<16} {:<9} {}\n",
                    "USER", "ROLE", "TEAM", "KEY FILE", "LAST UNLOCK"
                );
                for user in users {
                    text.push_str(&format!(
                        "{:<24} {:<22} {:<16} {:<9} {}\n",
                        user.name,
                        user.role,
                        user.team.as_deref().unwrap_or("—"),
                        match (user.requires_key_file, user.key_file_missing) {
                            (true, _) => "yes",
                            (false, true) => "MISSING",
                            (false, false) => "no",
                        },
                        user.last_unlock_at.as_deref().unwrap_or("never")
                    ));
                }
                if users.iter().any(|user| user.key_file_missing) {
                    text.push_str(
                        "\nMISSING: the user's role requires a key file and their sign-in has \
                         none, so they cannot sign in; give them one with \
                         `crm user passwd NAME --new-key-file PATH`.\n",
                    );
                }
                text
            });
        }
        UserCommand::SetRole { name, role } => {
            session.set_user_role(name, role)?;
            out.done(&format!("{name} is now {role}"));
        }
        UserCommand::SetTeam { name, team } => {
            session.set_user_team(name, team.as_deref())?;
            out.done(&match team {
                Some(team) => format!("{name} is in team {team}"),
                None => format!("{name} is in no team"),
            });
        }
        UserCommand::Remove { name } => {
            session.remove_user(name, &mut |progress| out.progress(&progress))?;
            out.done(&format!(
                "removed {name} and rotated the data key; their old credentials no longer open the vault"
            ));
        }
        UserCommand::Passwd {
            name,
            new_key_file,
            no_key_file,
        } => {
            let key_file = match (new_key_file, no_key_file) {
                (Some(path), _) => KeyFileChange::Set(KeyFileDigest::from_file(path)?),
                (None, true) => KeyFileChange::Remove,
                (None, false) => KeyFileChange::Keep,
            };
            let me = session.user().name.clone();
            match name {
                Some(other) if !other.eq_ignore_ascii_case(&me) => {
                    let password = new_password(other, &session.password_rule()?)?;
                    session.reset_password(other, password, key_file)?;
                    out.done(&format!("reset the password of {other}"));
                }
                _ => {
                    // The credentials just used to unlock re-open the slot to re-seal it.
                    let password = new_password(&me, &session.password_rule()?)?;
                    session.change_password(&signed_in, password, key_file)?;
                    out.done("password changed");
                }
            }
        }
    }
    Ok(())
}

pub fn key(cli: &Cli, command: &KeyCommand, out: &Output) -> Result<()> {
    match command {
        KeyCommand::ShowDataKey { identity } => {
            let vault = Vault::open(&vault_dir(cli)?)?;
            let identity = RecoveryIdentity::from_file(identity)?;
            let key = vault.recover_data_key(&identity)?;
            let hex = key.to_hex();
            if out.is_json() {
                #[derive(Serialize)]
                struct DataKeyAnswer<'a> {
                    data_key_hex: &'a str,
                }
                return print_secret_json(&DataKeyAnswer {
                    data_key_hex: hex.expose(),
                });
            }
            let mut text = Zeroizing::new(String::with_capacity(512));
            text.push_str(hex.expose());
            text.push_str("\n\nOpen the database with any SQLCipher 4 tool:\n  sqlcipher ");
            text.push_str(&vault.paths().database.display().to_string());
            text.push_str("\n  PRAGMA key = \"x'");
            text.push_str(hex.expose());
            text.push_str("'\";\n");
            print_secret_text(&text)?;
        }
        KeyCommand::GenerateKeyfile { path } => {
            crm_core::secret::generate_key_file(path)?;
            out.done(&format!(
                "wrote a new key file to {}; keep a second copy somewhere safe",
                path.display()
            ));
        }
        KeyCommand::Rotate => {
            let mut session = unlock(cli)?;
            session.rotate_data_key(&mut |progress| out.progress(&progress))?;
            out.done("rotated the data key");
        }
    }
    Ok(())
}
