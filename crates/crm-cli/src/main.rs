//! `crm`: the Strongroom CRM command line.
//!
//! A thin adapter over crm-core for the owner, the sysadmin and scripts: it parses arguments,
//! gathers credentials, calls one session method and prints the answer (as text, or JSON with
//! `--json`). No rule lives here.

mod agent_cmd;
mod audit_cmd;
mod backup_cmd;
mod bench_cmd;
mod credentials;
mod fields_cmd;
mod output;
mod pipeline_cmd;
mod records_cmd;
mod roles_cmd;
mod security_cmd;
mod set_input;
mod transfer_cmd;
mod vault_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crm_core::records::fields::Entity;

use crate::output::Output;

/// Strongroom CRM: an encrypted, on-premise customer vault.
#[derive(Debug, Parser)]
#[command(
    name = "crm",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = PASSWORD_HELP
)]
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
    #[arg(
        long,
        visible_alias = "keyfile",
        global = true,
        env = "STRONGROOM_KEY_FILE",
        value_name = "PATH"
    )]
    key_file: Option<PathBuf>,

    /// Read passwords from standard input, one per line (the signing-in password first, then
    /// any new password), even at a terminal
    #[arg(long, global = true)]
    password_stdin: bool,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

/// How to sign in, shown under `crm --help`.
const PASSWORD_HELP: &str = "\
Signing in: --user NAME (or STRONGROOM_USER; optional when the vault has one user), --key-file
PATH (or STRONGROOM_KEY_FILE) when the user's sign-in needs one, and the password at a hidden
prompt.

Passwords in scripts:
  --password-stdin  read passwords from standard input, one per line: the signing-in password
                    first (it wins over CRM_PASSWORD; init has none), then any new password
                    (init, user add, user passwd)
  CRM_PASSWORD      the signing-in password (STRONGROOM_PASSWORD is the older name and still
                    works); new passwords still come from standard input
Without a terminal, any password not given otherwise is read from standard input, one per line.";

/// `crm backup agent …` (run by `agent_cmd`). Declared here, where the command tree is
/// assembled, so that `backup_cmd`, which nests it, does not import another command file.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Create the agent's backup-only credential (owner or administrator)
    Setup {
        /// Store the credential in this new root-only file instead of the OS keyring
        /// (headless servers: pass it to the service with systemd LoadCredential=)
        #[arg(long, value_name = "PATH")]
        credential_file: Option<PathBuf>,
    },
    /// Run scheduled backups in a loop with the agent credential
    Run {
        /// The credential file [default: $CREDENTIALS_DIRECTORY/strongroom-agent (systemd), else the OS keyring]
        #[arg(long, value_name = "PATH")]
        credential_file: Option<PathBuf>,
        /// Check the schedule this often
        #[arg(long, default_value_t = 300)]
        interval_secs: u64,
        /// Check once and exit (for cron or a systemd timer)
        #[arg(long)]
        once: bool,
    },
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
    /// Companies: add, list, show, edit, delete, tag
    #[command(subcommand)]
    Company(records_cmd::RecordCommand),
    /// Contacts (people): add, list, show, edit, delete, tag
    #[command(subcommand)]
    Contact(records_cmd::RecordCommand),
    /// Deals: add, list, show, edit (e.g. --set stage_id=3), delete, tag
    #[command(subcommand)]
    Deal(records_cmd::RecordCommand),
    /// Activities (calls, meetings, emails, tasks): add, list (--due-before for tasks due), …
    #[command(subcommand)]
    Activity(records_cmd::RecordCommand),
    /// Notes on companies, contacts and deals
    #[command(subcommand)]
    Note(records_cmd::RecordCommand),
    /// Search companies, contacts and deals by name, email, phone (any formatting) or tag
    Search {
        /// What to look for; every word is matched as a prefix
        text: String,
        /// At most this many results
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Generate realistic synthetic data (deterministic for a seed)
    Demo(records_cmd::DemoArgs),
    /// Roles: clearance, per-entity scopes and special rights
    #[command(subcommand)]
    Role(roles_cmd::RoleCommand),
    /// Field classification and custom fields
    #[command(subcommand)]
    Field(fields_cmd::FieldCommand),
    /// Reveal one Highly Confidential value (needs the reveal right; recorded with the reason)
    Reveal {
        /// company, contact, deal, activity or note
        entity: String,
        /// Record id
        id: i64,
        /// Field name
        field: String,
        /// Why you need to see it (recorded in the audit trail)
        #[arg(long)]
        reason: String,
    },
    /// The sales pipeline's stages
    #[command(subcommand)]
    Pipeline(pipeline_cmd::PipelineCommand),
    /// Erase a person's data on request (needs the erase right; recorded, re-applied on restore)
    Erase {
        /// The contact's id
        #[arg(required_unless_present = "reapply_from")]
        contact: Option<i64>,
        /// Why (e.g. the request's reference); recorded in the audit trail
        #[arg(long, required_unless_present = "reapply_from")]
        reason: Option<String>,
        /// Instead: re-apply the erasures logged in this older vault directory (after a restore)
        #[arg(long, value_name = "OLD_VAULT_DIR", conflicts_with_all = ["contact", "reason"])]
        reapply_from: Option<std::path::PathBuf>,
    },
    /// Benchmark on synthetic data: encrypted vs plain SQLite, backup vs file copy
    Bench(bench_cmd::BenchArgs),
    /// Encrypted, verified backups: now, list, verify, prune, drill, settings, restore
    #[command(subcommand)]
    Backup(backup_cmd::BackupCommand),
    /// Import records from CSV (companies, contacts, deals, activities, notes) or contacts from vCard (all or nothing; --dry-run to check first)
    #[command(subcommand)]
    Import(transfer_cmd::ImportCommand),
    /// Export records as your role sees them, to CSV, JSON or vCard
    Export(transfer_cmd::ExportArgs),
    /// The security checkup (a score out of 100 with findings and fixes), its history, and
    /// confirming the recovery identity
    #[command(subcommand)]
    Security(security_cmd::SecurityCommand),
    /// The security policy: minimum password strength, auto-lock period
    #[command(subcommand)]
    Policy(security_cmd::PolicyCommand),
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
    credentials::read_passwords_from_stdin(cli.password_stdin);
    let out = Output::new(cli.json);
    let result = match &cli.command {
        Command::Init(args) => vault_cmd::init(&cli, args, &out),
        Command::Status => vault_cmd::status(&cli, &out),
        Command::User(command) => vault_cmd::user(&cli, command, &out),
        Command::Key(command) => vault_cmd::key(&cli, command, &out),
        Command::Audit(command) => audit_cmd::audit(&cli, command, &out),
        Command::Review(command) => audit_cmd::review(&cli, command, &out),
        Command::Alerts(args) => audit_cmd::alerts(&cli, args, &out),
        Command::Company(command) => records_cmd::record(&cli, Entity::Company, command, &out),
        Command::Contact(command) => records_cmd::record(&cli, Entity::Contact, command, &out),
        Command::Deal(command) => records_cmd::record(&cli, Entity::Deal, command, &out),
        Command::Activity(command) => records_cmd::record(&cli, Entity::Activity, command, &out),
        Command::Note(command) => records_cmd::record(&cli, Entity::Note, command, &out),
        Command::Search { text, limit } => records_cmd::search(&cli, text, *limit, &out),
        Command::Demo(args) => records_cmd::demo(&cli, args, &out),
        Command::Role(command) => roles_cmd::role(&cli, command, &out),
        Command::Field(command) => fields_cmd::field(&cli, command, &out),
        Command::Reveal {
            entity,
            id,
            field,
            reason,
        } => records_cmd::reveal(&cli, entity, *id, field, reason, &out),
        Command::Pipeline(command) => pipeline_cmd::pipeline(&cli, command, &out),
        Command::Bench(args) => bench_cmd::bench(args, &out),
        Command::Erase {
            contact,
            reason,
            reapply_from,
        } => records_cmd::erase(
            &cli,
            *contact,
            reason.as_deref(),
            reapply_from.as_deref(),
            &out,
        ),
        Command::Backup(command) => backup_cmd::backup(&cli, command, &out, |agent| {
            agent_cmd::agent(&cli, agent, &out)
        }),
        Command::Import(command) => transfer_cmd::import(&cli, command, &out),
        Command::Export(args) => transfer_cmd::export(&cli, args, &out),
        Command::Security(command) => security_cmd::security(&cli, command, &out),
        Command::Policy(command) => security_cmd::policy(&cli, command, &out),
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
