//! `crm backup agent setup|run`: scheduled backups on the office server with nobody logged in.
//!
//! Setup adds a user `backup-agent` holding the Backup Agent role (make and verify backups, read
//! no record) with a random 256-bit credential, kept in the OS keyring or, on a headless server
//! where the keyring does not survive a reboot, in a root-only credential file handed to the
//! service by systemd (`LoadCredential=`, see `installer/systemd/`). Run unlocks as that user,
//! runs what the schedule says is due, locks, and sleeps.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crm_core::policy::BACKUP_AGENT_ROLE;
use crm_core::{Credentials, Error, NewUser, Password, Result, Vault};

use crate::credentials::{unlock, vault_dir};
use crate::output::{Output, fail_on, render_report};
use crate::{AgentCommand, Cli};

/// The agent's login name.
const AGENT_USER: &str = "backup-agent";
const KEYRING_SERVICE: &str = "strongroom-backup-agent";

fn keyring_entry(vault_dir: &Path) -> Result<keyring::Entry> {
    let account = std::fs::canonicalize(vault_dir)
        .unwrap_or_else(|_| vault_dir.to_owned())
        .display()
        .to_string();
    keyring::Entry::new(KEYRING_SERVICE, &account).map_err(|error| {
        Error::Invalid(format!(
            "the OS keyring is unavailable ({error}); use --credential-file"
        ))
    })
}

pub fn agent(cli: &Cli, command: &AgentCommand, out: &Output) -> Result<()> {
    match command {
        AgentCommand::Setup { credential_file } => setup(cli, credential_file.as_deref(), out),
        AgentCommand::Run {
            credential_file,
            interval_secs,
            once,
        } => run(
            cli,
            credential_file.clone(),
            Duration::from_secs((*interval_secs).max(10)),
            *once,
            out,
        ),
    }
}

fn setup(cli: &Cli, credential_file: Option<&Path>, out: &Output) -> Result<()> {
    if let Some(path) = credential_file
        && path.exists()
    {
        return Err(Error::Invalid(format!("{} already exists", path.display())));
    }
    let mut session = unlock(cli)?;
    let credential = crm_core::secret::random_credential();
    session.add_user(NewUser {
        name: AGENT_USER.into(),
        role: BACKUP_AGENT_ROLE.into(),
        password: Password::new(credential.expose_for_storage()),
        key_file: None,
    })?;
    let stored_in = match credential_file {
        Some(path) => {
            crm_core::fsutil::write_new_private_file(
                path,
                credential.expose_for_storage().as_bytes(),
            )?;
            path.display().to_string()
        }
        None => {
            let entry = keyring_entry(&session.paths().dir)?;
            entry
                .set_password(credential.expose_for_storage())
                .map_err(|error| Error::Invalid(format!("the OS keyring refused the credential ({error}); remove the user with `crm user remove {AGENT_USER}` and use --credential-file")))?;
            "the OS keyring".to_owned()
        }
    };
    out.done(&format!(
        "added {AGENT_USER} (role {BACKUP_AGENT_ROLE}: backups only); its credential is in {stored_in}"
    ));
    Ok(())
}

fn read_credential(vault_dir: &Path, credential_file: Option<PathBuf>) -> Result<Password> {
    let file = credential_file.or_else(|| {
        std::env::var_os("CREDENTIALS_DIRECTORY")
            .map(|dir| PathBuf::from(dir).join("strongroom-agent"))
    });
    match file {
        Some(path) => std::fs::read_to_string(&path)
            .map(|text| Password::new(text.trim()))
            .map_err(|source| Error::Io {
                context: format!("reading {}", path.display()),
                source,
            }),
        None => keyring_entry(vault_dir)?
            .get_password()
            .map(Password::new)
            .map_err(|error| {
                Error::Invalid(format!(
                    "no agent credential in the OS keyring ({error}): run `crm backup agent setup`"
                ))
            }),
    }
}

fn run(
    cli: &Cli,
    credential_file: Option<PathBuf>,
    interval: Duration,
    once: bool,
    out: &Output,
) -> Result<()> {
    let dir = vault_dir(cli)?;
    loop {
        let password = read_credential(&dir, credential_file.clone())?;
        let outcome = Vault::open(&dir).and_then(|vault| {
            let mut session = vault.unlock(&Credentials {
                user: AGENT_USER.into(),
                password,
                key_file: None,
            })?;
            Ok(session.run_due_backups(&mut |progress| out.progress(&progress)))
        });
        match outcome {
            Ok(report) => {
                if report.is_empty() {
                    tracing::info!("no backup due");
                } else {
                    out.show(&report, render_report);
                }
                // Each failure is recorded and alerted on in the vault; the loop goes on.
                if once {
                    return fail_on(&report);
                }
            }
            // A wrong credential will not fix itself: stop rather than feed the throttle.
            Err(error @ (Error::WrongCredentials | Error::UserRemoved)) => return Err(error),
            Err(error) if once => return Err(error),
            Err(error) => eprintln!(
                "backup agent: {error} (retrying in {} s)",
                interval.as_secs()
            ),
        }
        std::thread::sleep(interval);
    }
}
