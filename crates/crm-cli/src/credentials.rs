//! Gathering credentials: which vault, which user, the key file and passwords.
//!
//! The signing-in password comes, in this order, from:
//! 1. standard input, first line, with `--password-stdin` (scripts, explicitly);
//! 2. the `CRM_PASSWORD` environment variable (scripts; `STRONGROOM_PASSWORD` is the older
//!    name, still read);
//! 3. a hidden prompt at the terminal;
//! 4. standard input, first line, when no terminal is attached.
//!
//! New passwords (init, `user add`, `user passwd`, restore) are typed twice at a hidden prompt,
//! or, with `--password-stdin` or without a terminal, read from the next line of standard
//! input. So one rule holds for scripts: passwords that are read from standard input come one
//! per line, the signing-in password first.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crm_core::{Credentials, Error, KeyFileDigest, Password, Result, Session, Vault};

use crate::Cli;

/// The environment variables a script may put the signing-in password in, preferred first.
pub const PASSWORD_ENV: [&str; 2] = ["CRM_PASSWORD", "STRONGROOM_PASSWORD"];

/// Set once from `--password-stdin` before any password is read: passwords come from standard
/// input even when a terminal is attached. Process-wide because every command reads passwords
/// through this module, some of them (restore) far from the parsed arguments.
static PASSWORDS_FROM_STDIN: AtomicBool = AtomicBool::new(false);

/// Applies `--password-stdin` for the rest of the process.
pub fn read_passwords_from_stdin(enabled: bool) {
    PASSWORDS_FROM_STDIN.store(enabled, Ordering::Relaxed);
}

/// Whether passwords are read from standard input rather than a terminal prompt.
fn passwords_from_stdin() -> bool {
    PASSWORDS_FROM_STDIN.load(Ordering::Relaxed) || !std::io::stdin().is_terminal()
}

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
            "{what}: standard input is empty (pass passwords one per line, or set CRM_PASSWORD for the signing-in password)"
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

/// The signing-in user's password (see the module docs for where it comes from).
pub fn current_password(user: &str) -> Result<Password> {
    if PASSWORDS_FROM_STDIN.load(Ordering::Relaxed) {
        return read_stdin_line("password");
    }
    for variable in PASSWORD_ENV {
        if let Ok(password) = std::env::var(variable) {
            return Ok(Password::new(password));
        }
    }
    if passwords_from_stdin() {
        read_stdin_line("password")
    } else {
        prompt(&format!("Password for {user}: "))
    }
}

/// A new password, typed twice at a terminal (with a strength hint), or one stdin line.
pub fn new_password(whose: &str) -> Result<Password> {
    if passwords_from_stdin() {
        return read_stdin_line(&format!("new password for {whose}"));
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

/// Digest of `--key-file` (`--keyfile`), if given.
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
    if let Some(notice) = crate::output::alert_notice(&session.alerts_to_show()?) {
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
