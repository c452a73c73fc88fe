//! `crm backup …`: make, list, verify, prune and drill backups; settings; restore.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use crm_core::backup::{self, BackupSettings, BackupState, BackupStatus, RestoreOptions, Schedule};
use crm_core::{Error, KdfStrength, Progress, RecoveryIdentity, Result};

use crate::Cli;
use crate::credentials::{new_password, unlock};
use crate::output::{Output, fail_on, render_backups, render_report};

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Make a backup now and verify it (to --to DIR, else to every configured destination)
    Now {
        /// Destination folder for this backup
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// List backups: time, size, status (verified / failed) and age of the newest verified
    List {
        /// Folder to list [default: the configured destinations]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Re-verify a backup (id or path), or every backup with --all (goes on after a failure)
    Verify {
        /// Backup id or directory
        #[arg(required_unless_present = "all")]
        backup: Option<String>,
        /// Verify every backup in the configured destinations
        #[arg(long, conflicts_with = "backup")]
        all: bool,
        /// Recovery identity, for backups whose key this vault does not hold
        #[arg(long, value_name = "FILE")]
        identity: Option<PathBuf>,
    },
    /// Delete backups beyond the retention rules (never the newest verified one)
    Prune {
        /// Folder to prune [default: the configured destinations]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Restore a backup into a scratch vault, compare it with its manifest, remove the scratch
    Drill {
        /// Backup id or directory [default: the newest verified]
        backup: Option<String>,
    },
    /// Show or change the schedule, retention, destinations and extra recipients
    Settings(SettingsArgs),
    /// Newest verified backup present, schedule, next run, each destination's state
    Status,
    /// Run whatever the schedule says is due (backups, pruning, a restore drill)
    RunDue,
    /// The unattended agent for the office server: setup, then run (see installer/systemd)
    #[command(subcommand)]
    Agent(crate::AgentCommand),
    /// Restore a backup into a NEW vault with the recovery identity (no unlock needed)
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct SettingsArgs {
    /// Destination folder (repeat for a second one, e.g. a USB drive); replaces the list.
    /// It must exist (drive mounted): it receives this vault's marker file
    #[arg(long = "destination", value_name = "DIR")]
    destinations: Vec<PathBuf>,
    /// Set or replace only the second destination (USB drive, NAS path)
    #[arg(long, value_name = "DIR", conflicts_with = "clear_second_destination")]
    second_destination: Option<PathBuf>,
    /// Remove the second destination (its backups stay where they are)
    #[arg(long)]
    clear_second_destination: bool,
    /// When backups run, in local time: "daily 13:00", "daily mon-fri 12:30,18:00",
    /// "hourly mon-fri 08:00-18:00", "every 24h" or "off"
    #[arg(long, value_name = "WHEN")]
    schedule: Option<String>,
    /// Shorthand for --schedule "every Nh": a backup when the newest verified one is N hours
    /// old (0: off)
    #[arg(long, value_name = "N", conflicts_with = "schedule")]
    every_hours: Option<u32>,
    /// Run a restore drill every N days (0: never)
    #[arg(long, value_name = "N")]
    drill_every_days: Option<u32>,
    /// Keep the newest backup of each of the last N days
    #[arg(long, value_name = "N")]
    keep_daily: Option<u32>,
    /// Keep the newest backup of each of the last N weeks
    #[arg(long, value_name = "N")]
    keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the last N months
    #[arg(long, value_name = "N")]
    keep_monthly: Option<u32>,
    /// Extra age recipient (age1…) to seal backup keys to; repeat; replaces the list
    #[arg(long = "recipient", value_name = "AGE1…")]
    recipients: Vec<String>,
    /// Remove every extra recipient (later backups are sealed to the recovery identity only)
    #[arg(long, conflicts_with = "recipients")]
    clear_recipients: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup directory
    backup: PathBuf,
    /// The recovery identity file (AGE-SECRET-KEY-1…)
    #[arg(long, value_name = "FILE")]
    identity: PathBuf,
    /// The new vault directory (must not exist, unless --move-aside)
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Rename an existing directory at --to aside instead of refusing
    #[arg(long)]
    move_aside: bool,
    /// The Owner who gets a new password [default: the backup's first active Owner]
    #[arg(long, value_name = "NAME")]
    owner: Option<String>,
    /// Write the new vault's recovery identity to this new file instead of printing it
    #[arg(long, value_name = "FILE")]
    recovery_out: Option<PathBuf>,
}

/// Runs `command`; `crm backup agent …` goes to `run_agent` (the agent's own command file).
pub fn backup(
    cli: &Cli,
    command: &BackupCommand,
    out: &Output,
    run_agent: impl FnOnce(&crate::AgentCommand) -> Result<()>,
) -> Result<()> {
    let mut progress = |step: Progress| out.progress(&step);
    match command {
        BackupCommand::Restore(args) => return restore(args, out),
        BackupCommand::Agent(command) => return run_agent(command),
        BackupCommand::Now { to } => {
            let mut session = unlock(cli)?;
            let job = session.start_backup_now(to.as_deref())?;
            let report = job.run(&mut progress);
            let report = session.finish_backup_job(report);
            out.show(&report.made, |made| render_backups(made));
            fail_on(&report)?;
        }
        BackupCommand::List { dir } => {
            let session = unlock(cli)?;
            let list = session.list_backups(dir.as_deref())?;
            let (unreachable, no_destination) = if dir.is_none() {
                let destinations = session.backup_status()?.destinations;
                let unreachable: Vec<String> = destinations
                    .iter()
                    .filter(|state| !state.reachable)
                    .map(|state| state.problem.clone().unwrap_or_default())
                    .collect();
                (unreachable, destinations.is_empty())
            } else {
                (Vec::new(), false)
            };
            out.show(&list, |list| {
                let mut text = render_backups(list);
                for problem in &unreachable {
                    text.push_str(&format!("not reachable: {problem}\n"));
                }
                if no_destination {
                    text.push_str(
                        "\n(no backup destination is set: list a folder with --dir DIR, or set \
                         one with `crm backup settings --destination DIR`)\n",
                    );
                }
                text
            });
        }
        BackupCommand::Verify {
            backup,
            all,
            identity,
        } => {
            let mut session = unlock(cli)?;
            let identity = identity
                .as_deref()
                .map(RecoveryIdentity::from_file)
                .transpose()?;
            let results = match (backup, all) {
                (Some(backup), _) => {
                    let dir = session.find_backup(backup)?;
                    vec![session.verify_backup(&dir, identity.as_ref())?]
                }
                (None, _) => session.verify_all_backups(identity.as_ref())?,
            };
            out.show(&results, |results| render_backups(results));
            let bad: Vec<String> = results
                .iter()
                .filter(|info| info.state != BackupState::Verified)
                .map(|info| format!("{}: {}", info.id, info.problems.join("; ")))
                .collect();
            if !bad.is_empty() {
                return Err(Error::Backup(format!(
                    "{} of {} backup(s) failed verification: {}",
                    bad.len(),
                    results.len(),
                    bad.join(" | ")
                )));
            }
        }
        BackupCommand::Prune { dir } => {
            let mut session = unlock(cli)?;
            let removed = session.prune_backups(dir.as_deref())?;
            out.show(&removed, |removed| {
                if removed.is_empty() {
                    "nothing to prune".into()
                } else {
                    format!("removed {}", removed.join(", "))
                }
            });
        }
        BackupCommand::Drill { backup } => {
            let mut session = unlock(cli)?;
            let dir = backup
                .as_deref()
                .map(|backup| session.find_backup(backup))
                .transpose()?;
            let report = session.drill_backup(dir.as_deref(), &mut progress)?;
            out.show(&report, |report| {
                if report.problems.is_empty() {
                    format!(
                        "drill of {}: restored and identical ({} tables compared)",
                        report.backup_id, report.tables_compared
                    )
                } else {
                    format!(
                        "drill of {} FAILED: {}",
                        report.backup_id,
                        report.problems.join("; ")
                    )
                }
            });
            if !report.problems.is_empty() {
                return Err(Error::Backup("the restore drill found differences".into()));
            }
        }
        BackupCommand::Settings(args) => {
            let mut session = unlock(cli)?;
            let mut settings = session.backup_settings()?;
            if apply(args, &mut settings)? {
                session.set_backup_settings(settings.clone())?;
            }
            out.show(&settings, render_settings);
        }
        BackupCommand::Status => {
            let session = unlock(cli)?;
            let status = session.backup_status()?;
            out.show(&status, render_status);
        }
        BackupCommand::RunDue => {
            let mut session = unlock(cli)?;
            let report = session.run_due_backups(&mut progress);
            out.show(&report, render_report);
            fail_on(&report)?;
        }
    }
    Ok(())
}

/// Maps the options onto the settings; true when anything changed. The core checks the result.
fn apply(args: &SettingsArgs, settings: &mut BackupSettings) -> Result<bool> {
    let mut changed = false;
    if !args.destinations.is_empty() {
        settings.destinations = args.destinations.clone();
        changed = true;
    }
    if let Some(second) = &args.second_destination {
        let Some(first) = settings.destinations.first().cloned() else {
            return Err(Error::Invalid(
                "no main destination yet: set it with --destination DIR first".into(),
            ));
        };
        settings.destinations = vec![first, second.clone()];
        changed = true;
    }
    if args.clear_second_destination {
        settings.destinations.truncate(1);
        changed = true;
    }
    if let Some(text) = &args.schedule {
        settings.schedule = text.parse()?;
        changed = true;
    }
    if let Some(hours) = args.every_hours {
        settings.schedule = Schedule::every_hours(hours)?;
        changed = true;
    }
    if !args.recipients.is_empty() {
        settings.extra_recipients = args.recipients.clone();
        changed = true;
    }
    if args.clear_recipients {
        settings.extra_recipients.clear();
        changed = true;
    }
    for (value, field) in [
        (args.drill_every_days, &mut settings.drill_interval_days),
        (args.keep_daily, &mut settings.retention.keep_daily),
        (args.keep_weekly, &mut settings.retention.keep_weekly),
        (args.keep_monthly, &mut settings.retention.keep_monthly),
    ] {
        if let Some(value) = value {
            *field = value;
            changed = true;
        }
    }
    Ok(changed)
}

fn render_settings(settings: &BackupSettings) -> String {
    let destinations: Vec<String> = settings
        .destinations
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    format!(
        "destinations: {}\nschedule: {} ({})\ndrill every: {} days\nkeep: {} daily, {} weekly, {} monthly\nextra recipients: {}",
        if destinations.is_empty() {
            "(none)".into()
        } else {
            destinations.join(", ")
        },
        settings.schedule,
        settings.schedule.describe(),
        settings.drill_interval_days,
        settings.retention.keep_daily,
        settings.retention.keep_weekly,
        settings.retention.keep_monthly,
        if settings.extra_recipients.is_empty() {
            "(none)".into()
        } else {
            settings.extra_recipients.join(", ")
        },
    )
}

fn render_status(status: &BackupStatus) -> String {
    let newest = match (&status.newest_verified_at, status.newest_verified_age_hours) {
        (Some(at), Some(age)) => format!("{at} ({age} h ago)"),
        _ => "none present".into(),
    };
    let mut text = format!(
        "newest verified backup: {newest}\nschedule: {}\nlast run: {}{}\ndue now: {}\nnext backup: {}\nnext drill: {}\n",
        status.schedule_text,
        status.last_outcome.as_deref().unwrap_or("never"),
        status
            .last_problem
            .as_deref()
            .map(|problem| format!(" ({problem})"))
            .unwrap_or_default(),
        if status.due { "yes" } else { "no" },
        status.next_run_at.as_deref().unwrap_or("not scheduled"),
        status.next_drill_at.as_deref().unwrap_or("not scheduled"),
    );
    if status.destinations.is_empty() {
        text.push_str(
            "destinations: none (set one with `crm backup settings --destination DIR`)\n",
        );
    }
    for state in &status.destinations {
        text.push_str(&format!(
            "destination {}: {}, {} verified, {} failed{}\n",
            state.path.display(),
            if state.reachable {
                "ready"
            } else {
                "NOT REACHABLE"
            },
            state.verified_backups,
            state.failed_backups,
            state
                .problem
                .as_deref()
                .map(|problem| format!(" — {problem}"))
                .unwrap_or_default()
        ));
    }
    text
}

fn restore(args: &RestoreArgs, out: &Output) -> Result<()> {
    if let Some(path) = &args.recovery_out
        && path.exists()
    {
        return Err(Error::Invalid(format!(
            "{} already exists; choose a new file for the new recovery identity",
            path.display()
        )));
    }
    let identity = RecoveryIdentity::from_file(&args.identity)?;
    let password = new_password("the restored vault's owner")?;
    let mut progress = |step: Progress| out.progress(&step);
    let restored = backup::restore(
        &args.backup,
        &identity,
        RestoreOptions {
            to: args.to.clone(),
            move_aside: args.move_aside,
            owner: args.owner.clone(),
            password,
            kdf: KdfStrength::from_env(),
        },
        &mut progress,
    )?;
    let new_identity = restored.recovery.to_identity_file();
    let mut written = None;
    if let Some(path) = &args.recovery_out {
        match crm_core::fsutil::write_new_private_file(path, new_identity.expose().as_bytes()) {
            Ok(()) => written = Some(path.clone()),
            Err(error) => eprintln!("warning: {error}; printing the recovery identity instead"),
        }
    }
    let owner = restored.session.user().name.clone();
    out.show(
        &serde_json::json!({
            "vault": args.to,
            "backup_id": restored.manifest.backup_id,
            "owner": owner,
            "moved_aside": restored.moved_aside,
            "recovery_recipient": restored.recovery.recipient(),
            "recovery_identity_file": written,
            "erasures": restored.erasures,
        }),
        |_| {
            let mut text = format!(
                "Restored backup {} into {}\nOwner: {owner} (the new password you gave)\n",
                restored.manifest.backup_id,
                args.to.display()
            );
            if let Some(aside) = &restored.moved_aside {
                text.push_str(&format!("The existing directory was moved to {}\n", aside.display()));
            }
            if let Some(replay) = &restored.erasures {
                if !replay.reapplied.is_empty() {
                    let erased: Vec<String> = replay
                        .reapplied
                        .iter()
                        .map(|erasure| format!("contact {} (erased {})", erasure.contact_id, erasure.at))
                        .collect();
                    text.push_str(&format!(
                        "Erased again {} contact(s) erased after this backup was made: {}\n",
                        replay.reapplied.len(),
                        erased.join(", ")
                    ));
                } else if replay.read {
                    text.push_str("No erasure was made after this backup.\n");
                }
                if let Some(problem) = &replay.problem {
                    text.push_str(&format!("WARNING: {problem}\n"));
                }
            }
            text.push_str(
                "Other users cannot unlock until the owner resets their passwords \
                 (`crm user passwd NAME`).\n\n",
            );
            match &written {
                Some(path) => text.push_str(&format!(
                    "The NEW RECOVERY IDENTITY was written to {}.\n",
                    path.display()
                )),
                None => text.push_str(&format!(
                    "NEW RECOVERY IDENTITY — shown this once:\n\n{}\n",
                    new_identity.expose()
                )),
            }
            text.push_str("Store it offline; new backups are sealed to it. Keep the old one for older backups.");
            text
        },
    );
    Ok(())
}
