//! `crm init`, `crm status`, `crm user …` and `crm key …`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use crm_core::{
    Error, KdfStrength, KeyFileDigest, NewUser, NewVault, RecoveryIdentity, Result, Vault,
};

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

    /// Also write the recovery identity to this new file (0600) instead of only printing it
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
    Passwd {
        /// Whose password to reset; omit to change your own
        name: Option<String>,
        /// Require this key file from now on (omit to need none)
        #[arg(long = "new-key-file", value_name = "PATH")]
        new_key_file: Option<PathBuf>,
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
    // Refuse before creating anything: the identity exists only once, in memory.
    if let Some(path) = &args.recovery_out
        && path.exists()
    {
        return Err(Error::Invalid(format!(
            "{} already exists; choose a new file for the recovery identity",
            path.display()
        )));
    }
    let key_file = match (&args.generate_key_file, &args.owner_key_file) {
        (Some(path), _) => {
            crm_core::secret::generate_key_file(path)?;
            eprintln!("wrote a new key file to {}", path.display());
            Some(KeyFileDigest::from_file(path)?)
        }
        (None, Some(path)) => Some(KeyFileDigest::from_file(path)?),
        (None, None) => None,
    };
    let password = new_password(&args.owner)?;
    if !out.is_json() {
        eprintln!("creating the vault (calibrating the key derivation, about a second)…");
    }
    let created = Vault::create(
        &dir,
        NewVault {
            owner: args.owner.clone(),
            password,
            key_file,
            kdf: KdfStrength::from_env(),
        },
    )?;
    let identity = created.recovery.to_identity_file();
    let mut recovery_out = args.recovery_out.clone();
    if let Some(path) = &args.recovery_out
        && let Err(error) =
            crm_core::fsutil::write_new_private_file(path, identity.expose().as_bytes())
    {
        // The vault exists now; losing the identity would be worse than printing it.
        eprintln!("warning: {error}; printing the recovery identity instead");
        recovery_out = None;
    }
    let args = InitArgs {
        recovery_out,
        owner: args.owner.clone(),
        owner_key_file: None,
        generate_key_file: None,
    };
    let recipient = created.recovery.recipient();
    out.show(
        &serde_json::json!({
            "vault": dir,
            "owner": args.owner,
            "recovery_recipient": recipient,
            "recovery_identity_file": args.recovery_out,
        }),
        |_| {
            let mut text = format!(
                "Created the vault at {}\nOwner: {}\n\n",
                dir.display(),
                args.owner
            );
            match &args.recovery_out {
                Some(path) => text.push_str(&format!(
                    "The RECOVERY IDENTITY was written to {}.\n",
                    path.display()
                )),
                None => text.push_str(&format!(
                    "RECOVERY IDENTITY — shown this once:\n\n{}\n",
                    identity.expose()
                )),
            }
            text.push_str(
                "Print it, store it offline (a safe, not this computer) and delete any copy on \
                 disk. With it a sysadmin can restore backups and open the vault if every \
                 password is lost; without it, nobody can.",
            );
            text
        },
    );
    Ok(())
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
                    crate::audit_cmd::render_alerts(&alerts)
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
            let password = new_password(name)?;
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
                    "{:<24} {:<22} {:<9} {}\n",
                    "USER", "ROLE", "KEY FILE", "LAST UNLOCK"
                );
                for user in users {
                    text.push_str(&format!(
                        "{:<24} {:<22} {:<9} {}\n",
                        user.name,
                        user.role,
                        if user.requires_key_file { "yes" } else { "no" },
                        user.last_unlock_at.as_deref().unwrap_or("never")
                    ));
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
        UserCommand::Passwd { name, new_key_file } => {
            let new_digest = new_key_file
                .as_deref()
                .map(KeyFileDigest::from_file)
                .transpose()?;
            let me = session.user().name.clone();
            match name {
                Some(other) if !other.eq_ignore_ascii_case(&me) => {
                    let password = new_password(other)?;
                    session.reset_password(other, password, new_digest)?;
                    out.done(&format!("reset the password of {other}"));
                }
                _ => {
                    // The credentials just used to unlock re-open the slot to re-seal it.
                    let password = new_password(&me)?;
                    session.change_password(&signed_in, password, new_digest)?;
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
            out.show(
                &serde_json::json!({ "data_key_hex": hex.expose() }),
                |_| {
                    format!(
                        "{}\n\nOpen the database with any SQLCipher 4 tool:\n  sqlcipher {}\n  PRAGMA key = \"x'{}'\";",
                        hex.expose(),
                        vault.paths().database.display(),
                        hex.expose()
                    )
                },
            );
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
