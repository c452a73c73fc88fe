//! `crm`: the Strongroom CRM command line.
//!
//! A thin adapter over crm-core for the owner, the sysadmin and scripts: it parses arguments,
//! gathers credentials, calls one session method and prints the answer (as text, or JSON with
//! `--json`). No rule lives here.

mod audit_cmd;
mod credentials;
mod output;
mod vault_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::output::Output;

/// Strongroom CRM: an encrypted, on-premise customer vault.
///
/// Credentials for commands that unlock the vault: `--user` (or STRONGROOM_USER; optional when
/// the vault has one user), `--key-file` (or STRONGROOM_KEY_FILE) when the user's slot needs
/// one, and the password typed at the prompt, or read from STRONGROOM_PASSWORD or the first
/// line of standard input when no terminal is attached (scripts). New passwords are read the
/// same way: at a prompt, or from the next line of standard input.
#[derive(Debug, Parser)]
#[command(name = "crm", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The vault directory [default: STRONGROOM_VAULT, else the user's data directory]
    #[arg(long, global = true, value_name = "DIR")]
    vault: Option<PathBuf>,

    /// Sign in as this user
    #[arg(
        long,
        short = 'u',
        global = true,
        env = "STRONGROOM_USER",
        value_name = "NAME"
    )]
    user: Option<String>,

    /// Key file for the signing-in user (e.g. on a USB stick)
    #[arg(long, global = true, env = "STRONGROOM_KEY_FILE", value_name = "PATH")]
    key_file: Option<PathBuf>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new encrypted vault and its owner; prints the recovery identity once
    Init(vault_cmd::InitArgs),
    /// Unlock and show who you are, your role and the vault's state
    Status,
    /// Manage users (owner and administrators)
    #[command(subcommand)]
    User(vault_cmd::UserCommand),
    /// Key files, key rotation and the raw data key
    #[command(subcommand)]
    Key(vault_cmd::KeyCommand),
    /// The tamper-evident audit trail: list, verify, incident reports, retention
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Reviews for the owner: who holds which rights and uses them
    #[command(subcommand)]
    Review(audit_cmd::ReviewCommand),
    /// Unusual-activity alerts (spikes of views, exports, searches, failed unlocks)
    Alerts(audit_cmd::AlertsArgs),
}

fn main() -> ExitCode {
    crm_core::process::harden();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CRM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let cli = Cli::parse();
    let out = Output::new(cli.json);
    let result = match &cli.command {
        Command::Init(args) => vault_cmd::init(&cli, args, &out),
        Command::Status => vault_cmd::status(&cli, &out),
        Command::User(command) => vault_cmd::user(&cli, command, &out),
        Command::Key(command) => vault_cmd::key(&cli, command, &out),
        Command::Audit(command) => audit_cmd::audit(&cli, command, &out),
        Command::Review(command) => audit_cmd::review(&cli, command, &out),
        Command::Alerts(args) => audit_cmd::alerts(&cli, args, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            out.error(&error);
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and subcommand explains itself in `--help`.
    #[test]
    fn every_subcommand_has_help_text() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for sub in command.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let command = super::Cli::command();
        command.clone().debug_assert();
        let mut missing = Vec::new();
        walk(&command, "crm", &mut missing);
        assert!(missing.is_empty(), "subcommands without help: {missing:?}");
    }
}
