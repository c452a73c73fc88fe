//! Gathering credentials: which vault, which user, the key file and passwords.
//!
//! Passwords come from a terminal prompt; without a terminal (scripts, tests) the signing-in
//! password comes from `STRONGROOM_PASSWORD` or the first line of standard input, and each
//! new password from the next line.

use std::io::IsTerminal;
use std::path::PathBuf;

use crm_core::{Credentials, Error, KeyFileDigest, Password, Result, Session, Vault};

use crate::Cli;

fn read_stdin_line(what: &str) -> Result<Password> {
    // Stdin buffers globally, so successive calls read successive lines.
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = std::io::stdin()
        .read_line(&mut line)
        .map_err(|source| Error::Io {
            context: "reading standard input".into(),
            source,
        })?;
    if read == 0 {
        return Err(Error::Invalid(format!(
            "{what}: no terminal to ask on and standard input is empty"
        )));
    }
    Ok(Password::new(line.trim_end_matches(['\r', '\n'])))
}

fn prompt(label: &str) -> Result<Password> {
    rpassword::prompt_password(label)
        .map(Password::new)
        .map_err(|source| Error::Io {
            context: "reading the password".into(),
            source,
        })
}

/// The signing-in user's password.
pub fn current_password(user: &str) -> Result<Password> {
    if let Ok(password) = std::env::var("STRONGROOM_PASSWORD") {
        return Ok(Password::new(password));
    }
    if std::io::stdin().is_terminal() {
        prompt(&format!("Password for {user}: "))
    } else {
        read_stdin_line("password")
    }
}

/// A new password, typed twice at a terminal (with a strength hint), or one stdin line.
pub fn new_password(whose: &str) -> Result<Password> {
    if !std::io::stdin().is_terminal() {
        return read_stdin_line("new password");
    }
    loop {
        let first = prompt(&format!("New password for {whose}: "))?;
        let (bits, verdict) = crm_core::secret::password_strength(&first);
        eprintln!("strength: {verdict} (about {bits} bits)");
        let second = prompt("Repeat it: ")?;
        if crm_core::secret::same_password(&first, &second) {
            return Ok(first);
        }
        eprintln!("the two passwords differ; try again");
    }
}

/// The vault directory from `--vault` or the default.
pub fn vault_dir(cli: &Cli) -> Result<PathBuf> {
    match &cli.vault {
        Some(dir) => Ok(dir.clone()),
        None => crm_core::default_vault_dir(),
    }
}

/// Digest of `--key-file`, if given.
pub fn key_file(cli: &Cli) -> Result<Option<KeyFileDigest>> {
    cli.key_file
        .as_deref()
        .map(KeyFileDigest::from_file)
        .transpose()
}

/// Opens the vault and unlocks it as the chosen user.
pub fn unlock(cli: &Cli) -> Result<Session> {
    unlock_keeping_credentials(cli).map(|(session, _)| session)
}

/// Unlocks and also returns the credentials used (to re-seal the user's own slot).
pub fn unlock_keeping_credentials(cli: &Cli) -> Result<(Session, Credentials)> {
    let vault = Vault::open(&vault_dir(cli)?)?;
    for warning in vault.warnings() {
        eprintln!("warning: {warning}");
    }
    let user = match &cli.user {
        Some(user) => user.clone(),
        None => default_user(&vault)?,
    };
    let credentials = Credentials {
        password: current_password(&user)?,
        key_file: key_file(cli)?,
        user,
    };
    let session = vault.unlock(&credentials)?;
    for warning in session.warnings() {
        eprintln!("warning: {warning}");
    }
    // Alerts wait at every unlock until someone who reads the trail acknowledges them.
    if let Some(notice) = crate::audit_cmd::alert_notice(&session.alerts_to_show()?) {
        eprintln!("{notice}");
    }
    Ok((session, credentials))
}

fn default_user(vault: &Vault) -> Result<String> {
    let users = vault.users();
    if let [only] = users.as_slice() {
        return Ok(only.name.clone());
    }
    let login = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok();
    if let Some(login) = login
        && users.iter().any(|user| user.name == login)
    {
        return Ok(login);
    }
    Err(Error::Invalid(
        "this vault has several users: say which with --user NAME".into(),
    ))
}
