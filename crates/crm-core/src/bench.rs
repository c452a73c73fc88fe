//! The benchmark behind `crm bench`: a deterministic synthetic customer base, the daily
//! workloads measured through the real session API, each beside the same workload on a plain
//! (unencrypted) SQLite twin of the same database, and backups beside a plain file copy.
//!
//! Figures are printed, never asserted: the test suite runs the bench at a tiny scale only to
//! prove it works. See `docs/performance.md` for a full run and how to read it.

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::keyslot::{Credentials, KdfStrength, KeySlotFile};
use crate::records::ListQuery;
use crate::records::demo::DemoScale;
use crate::records::export::ExportFormat;
use crate::records::fields::Entity;
use crate::records::import::ImportOptions;
use crate::schema::MIGRATIONS;
use crate::secret::Password;
use crate::store::Store;
use crate::vault::{NewUser, NewVault, Progress, Session, Vault, VaultPaths};

const PASSWORD: &str = "bench-password-1";

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Data scale (contacts; the rest in proportion).
    pub contacts: u64,
    /// Seed of the synthetic data.
    pub seed: u64,
    /// Typed queries per search run (each typed letter is one search).
    pub queries: usize,
    /// Argon2 cost of the bench users' slots.
    pub kdf: KdfStrength,
    /// Measure the vault and plain twin an earlier run left in the directory instead of
    /// generating new data (for tuning: a million contacts take minutes to generate).
    pub reuse: bool,
    /// Measure only unlock, search, lists and opening a contact (skip backup and CSV).
    pub query_path_only: bool,
}

/// One figure.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// On the encrypted vault.
    pub encrypted: f64,
    /// The same on the plain twin, when there is one.
    pub plain: Option<f64>,
    /// Unit (`ms`, `rows/s`, `MB/s`, `MiB`).
    pub unit: String,
    /// Encrypted ÷ plain for times, plain ÷ encrypted for rates (so > 1 means "costs more").
    pub ratio: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Machine description.
    pub machine: String,
    /// Data description.
    pub data: String,
    /// Database size in bytes.
    pub database_bytes: u64,
    /// The figures.
    pub figures: Vec<Figure>,
    /// The slowest searches of each reader on the encrypted vault, slowest first: what the
    /// tail latencies are made of.
    pub slowest_searches: Vec<SlowSearch>,
}

/// One slow search, for reading the tail of the latency figures.
#[derive(Debug, Clone, Serialize)]
pub struct SlowSearch {
    /// Who searched (`owner` or `sales rep`).
    pub reader: String,
    /// The text typed so far.
    pub text: String,
    /// How long it took (ms).
    pub millis: f64,
}

impl BenchReport {
    /// The report as an aligned text table.
    pub fn to_table(&self) -> String {
        let mut text = format!(
            "machine: {}\ndata:    {}\ndatabase: {:.1} MiB\n\n",
            self.machine,
            self.data,
            self.database_bytes as f64 / 1_048_576.0
        );
        text.push_str(&format!(
            "{:<52} {:>12} {:>12} {:>8}  unit\n",
            "figure", "encrypted", "plain", "ratio"
        ));
        for figure in &self.figures {
            text.push_str(&format!(
                "{:<52} {:>12.2} {:>12} {:>8}  {}\n",
                figure.name,
                figure.encrypted,
                figure
                    .plain
                    .map(|plain| format!("{plain:.2}"))
                    .unwrap_or_else(|| "—".into()),
                figure
                    .ratio
                    .map(|ratio| format!("{ratio:.2}×"))
                    .unwrap_or_else(|| "—".into()),
                figure.unit
            ));
        }
        if !self.slowest_searches.is_empty() {
            text.push_str("\nslowest searches (encrypted):\n");
            for slow in &self.slowest_searches {
                text.push_str(&format!(
                    "  {:>8.2} ms  {:<10} {:?}\n",
                    slow.millis, slow.reader, slow.text
                ));
            }
        }
        text
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|name| name.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("MemTotal"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or_else(
            || "? GiB".into(),
            |kib| format!("{:.0} GiB", kib / 1_048_576.0),
        );
    format!(
        "{cpu}, {cores} cores, {memory}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn peak_memory_mib() -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
        })
}

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}

fn time<T>(work: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let started = Instant::now();
    let value = work()?;
    Ok((started.elapsed(), value))
}

fn figure(
    name: &str,
    encrypted: f64,
    plain: Option<f64>,
    unit: &str,
    higher_is_better: bool,
) -> Figure {
    let ratio = plain
        .filter(|plain| *plain > 0.0 && encrypted > 0.0)
        .map(|plain| {
            if higher_is_better {
                plain / encrypted
            } else {
                encrypted / plain
            }
        });
    Figure {
        name: name.into(),
        encrypted,
        plain,
        unit: unit.into(),
        ratio,
    }
}

/// Typed search strings: prefixes of names, emails and phone fragments, as a user types them.
fn query_mix(session: &Session, count: usize, seed: u64) -> Result<Vec<String>> {
    let conn = session.store().conn();
    let max_id: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM contacts", [], |row| {
        row.get(0)
    })?;
    if max_id == 0 {
        return Err(Error::Invalid("no contacts to search".into()));
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    let mut typed = Vec::new();
    let mut sample =
        conn.prepare("SELECT first_name, last_name, emails, phones FROM contacts WHERE id = ?1")?;
    while typed.len() < count {
        let id = rng.gen_range(1..=max_id);
        let Ok((first, last, emails, phones)) = sample.query_row([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
            ))
        }) else {
            continue;
        };
        let email: String = serde_json::from_str::<Vec<String>>(&emails)
            .ok()
            .and_then(|list| list.into_iter().next())
            .unwrap_or_default();
        let phone: String = serde_json::from_str::<Vec<String>>(&phones)
            .ok()
            .and_then(|list| list.into_iter().next())
            .unwrap_or_default();
        let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
        let target = match rng.gen_range(0..4) {
            0 => last.clone(),
            1 => format!("{first} {last}"),
            2 => email.chars().take(12).collect(),
            _ => digits
                .chars()
                .skip(digits.len().saturating_sub(7))
                .collect(),
        };
        // Type it: every prefix from two characters up to eight.
        let chars: Vec<char> = target.chars().collect();
        for end in 2..=chars.len().min(8) {
            typed.push(chars[..end].iter().collect());
        }
    }
    typed.truncate(count);
    Ok(typed)
}

fn search_latencies(session: &mut Session, queries: &[String]) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(queries.len());
    for query in queries {
        let (elapsed, _) = time(|| session.search(query, 20))?;
        samples.push(elapsed);
    }
    Ok(samples)
}

fn list_latencies(session: &mut Session, rounds: usize, seed: u64) -> Result<Vec<Duration>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let query = match round % 3 {
            0 => (
                Entity::Contact,
                ListQuery {
                    sort: Some("last_name".into()),
                    page: Some(rng.gen_range(1..20)),
                    ..ListQuery::default()
                },
            ),
            1 => (
                Entity::Company,
                ListQuery {
                    filters: vec![("industry".into(), "Retail".into())],
                    sort: Some("name".into()),
                    page: Some(rng.gen_range(1..5)),
                    ..ListQuery::default()
                },
            ),
            _ => (
                Entity::Deal,
                ListQuery {
                    stage: Some(rng.gen_range(1..5)),
                    sort: Some("expected_close".into()),
                    descending: true,
                    ..ListQuery::default()
                },
            ),
        };
        let (elapsed, _) = time(|| session.list(query.0, &query.1))?;
        samples.push(elapsed);
    }
    Ok(samples)
}

fn open_contact_latencies(
    session: &mut Session,
    rounds: usize,
    seed: u64,
) -> Result<Vec<Duration>> {
    let max_id: i64 = session.store().conn().query_row(
        "SELECT coalesce(max(id), 1) FROM contacts",
        [],
        |row| row.get(0),
    )?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let id = rng.gen_range(1..=max_id);
        let (elapsed, _) = time(|| {
            session.show(Entity::Contact, id)?;
            session.list(
                Entity::Activity,
                &ListQuery {
                    contact_id: Some(id),
                    page_size: Some(20),
                    ..ListQuery::default()
                },
            )
        })?;
        samples.push(elapsed);
    }
    Ok(samples)
}

fn bench_credentials(user: &str) -> Credentials {
    Credentials {
        user: user.into(),
        password: Password::new(PASSWORD),
        key_file: None,
    }
}

/// The data of a reused vault, counted.
fn describe_data(session: &Session) -> Result<String> {
    let conn = session.store().conn();
    let count = |table: &str| -> Result<i64> {
        Ok(
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })?,
        )
    };
    Ok(format!(
        "{} contacts, {} companies, {} deals, {} activities (reused)",
        count("contacts")?,
        count("companies")?,
        count("deals")?,
        count("activities")?
    ))
}

/// Runs the whole benchmark in `dir` (created; must be empty or missing).
pub fn run(dir: &Path, options: BenchOptions, log: &mut dyn FnMut(&str)) -> Result<BenchReport> {
    std::fs::create_dir_all(dir).map_err(Error::io("creating the bench directory"))?;
    let vault_dir = dir.join("vault");
    let plain_path = dir.join("plain-twin.db");
    let paths = VaultPaths::new(&vault_dir);
    let mut figures = Vec::new();
    let (mut owner, data) = if options.reuse {
        if !paths.exists() {
            return Err(Error::Invalid(format!(
                "{} holds no bench vault to reuse; run once without --reuse",
                dir.display()
            )));
        }
        log("reusing the vault of an earlier run");
        let owner = Vault::open(&vault_dir)?.unlock(&bench_credentials("owner"))?;
        // As an import or the demo generator leaves it (a vault made by an older build may
        // have none yet).
        owner.store().refresh_statistics()?;
        let data = describe_data(&owner)?;
        (owner, data)
    } else {
        if vault_dir.exists() {
            return Err(Error::Invalid(format!(
                "{} already holds a bench vault; use an empty directory or --reuse",
                dir.display()
            )));
        }
        let scale = DemoScale::for_contacts(options.contacts, options.seed);
        log("creating the vault");
        let created = Vault::create(
            &vault_dir,
            NewVault {
                owner: "owner".into(),
                password: Password::new(PASSWORD),
                key_file: None,
                kdf: options.kdf,
            },
        )?;
        let mut owner = created.session;
        owner.set_kdf_strength(options.kdf);
        owner.add_user(NewUser {
            name: "rep".into(),
            role: "Sales Representative".into(),
            password: Password::new(PASSWORD),
            key_file: None,
        })?;
        log(&format!(
            "generating {} contacts, {} companies, {} deals, {} activities",
            scale.contacts, scale.companies, scale.deals, scale.activities
        ));
        let rows = scale.contacts + scale.companies + scale.deals + scale.activities;
        let (generate, _) = time(|| owner.generate_demo(scale, &mut |_| {}))?;
        figures.push(figure(
            "bulk insert (demo generator, incl. search index)",
            rows as f64 / generate.as_secs_f64(),
            None,
            "rows/s",
            true,
        ));
        owner
            .store()
            .conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        log("making the plain twin");
        owner.store().export_plain_twin(&plain_path)?;
        let data = format!(
            "{} contacts, {} companies, {} deals, {} activities (seed {})",
            scale.contacts, scale.companies, scale.deals, scale.activities, scale.seed
        );
        (owner, data)
    };
    let database_bytes = std::fs::metadata(&paths.database)
        .map_err(Error::io("database size"))?
        .len();
    let mut plain = Store::open_plain_twin(&plain_path, MIGRATIONS)?;

    log("timing unlock");
    let (slots, _) = KeySlotFile::read(&paths.key_slots)?;
    let credentials = bench_credentials("owner");
    let slot = slots
        .current
        .user("owner")
        .ok_or_else(|| Error::NotFound("owner slot".into()))?;
    let mut kdf_samples = Vec::new();
    for _ in 0..3 {
        kdf_samples.push(time(|| slot.open(slots.vault_id, &credentials))?.0);
    }
    let opened = slot.open(slots.vault_id, &credentials)?;
    let key = opened
        .data_key_in(slots.vault_id, &slots.current)?
        .ok_or_else(|| Error::NotFound("data key".into()))?;
    let mut db_samples = Vec::new();
    let mut plain_open_samples = Vec::new();
    for _ in 0..10 {
        db_samples.push(
            time(|| {
                Store::open(&paths.database, &key, MIGRATIONS)
                    .map_err(|_| Error::damaged("bench reopen"))
            })?
            .0,
        );
        plain_open_samples.push(time(|| Store::open_plain_twin(&plain_path, MIGRATIONS))?.0);
    }
    figures.push(figure(
        "unlock: Argon2id + unseal (owner slot)",
        percentile(&mut kdf_samples, 0.5),
        None,
        "ms",
        false,
    ));
    figures.push(figure(
        "unlock: database open (key, first read, settings)",
        percentile(&mut db_samples, 0.5),
        Some(percentile(&mut plain_open_samples, 0.5)),
        "ms",
        false,
    ));

    let mut rep = Vault::open(&vault_dir)?.unlock(&bench_credentials("rep"))?;
    let queries = query_mix(&owner, options.queries, options.seed)?;
    log(&format!(
        "search as you type: {} searches as owner and as sales rep",
        queries.len()
    ));
    let mut slowest_searches = Vec::new();
    for (who, session) in [("owner", &mut owner), ("sales rep", &mut rep)] {
        let mut encrypted = search_latencies(session, &queries)?;
        let mut by_time: Vec<(Duration, &String)> =
            encrypted.iter().copied().zip(&queries).collect();
        by_time.sort_by_key(|(elapsed, _)| std::cmp::Reverse(*elapsed));
        slowest_searches.extend(
            by_time
                .into_iter()
                .take(8)
                .map(|(elapsed, text)| SlowSearch {
                    reader: who.into(),
                    text: text.clone(),
                    millis: elapsed.as_secs_f64() * 1000.0,
                }),
        );
        session.swap_store_for_bench(&mut plain);
        let plain_samples = search_latencies(session, &queries);
        session.swap_store_for_bench(&mut plain);
        let mut plain_samples = plain_samples?;
        for (label, p) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            figures.push(figure(
                &format!("search as {who}, {label}"),
                percentile(&mut encrypted, p),
                Some(percentile(&mut plain_samples, p)),
                "ms",
                false,
            ));
        }
    }

    log("list pages and open contact");
    let rounds = (options.queries / 2).max(20);
    for (who, session) in [("owner", &mut owner), ("sales rep", &mut rep)] {
        let mut encrypted = list_latencies(session, rounds, options.seed)?;
        session.swap_store_for_bench(&mut plain);
        let plain_lists = list_latencies(session, rounds, options.seed);
        session.swap_store_for_bench(&mut plain);
        let mut plain_lists = plain_lists?;
        for (label, p) in [("p50", 0.5), ("p95", 0.95)] {
            figures.push(figure(
                &format!("list page as {who} (50 rows, filtered, sorted), {label}"),
                percentile(&mut encrypted, p),
                Some(percentile(&mut plain_lists, p)),
                "ms",
                false,
            ));
        }
    }
    let mut encrypted = open_contact_latencies(&mut owner, rounds, options.seed)?;
    owner.swap_store_for_bench(&mut plain);
    let plain_open = open_contact_latencies(&mut owner, rounds, options.seed);
    owner.swap_store_for_bench(&mut plain);
    let mut plain_open = plain_open?;
    for (label, p) in [("p50", 0.5), ("p95", 0.95)] {
        figures.push(figure(
            &format!("open contact + its activities, {label}"),
            percentile(&mut encrypted, p),
            Some(percentile(&mut plain_open, p)),
            "ms",
            false,
        ));
    }

    if options.query_path_only {
        drop(rep);
        drop(owner);
        return Ok(BenchReport {
            machine: machine(),
            data,
            database_bytes,
            figures,
            slowest_searches,
        });
    }
    // Backups, the file copy and the import vault go to a scratch folder of this run, so a
    // reused directory can be measured again.
    let scratch = dir.join("scratch");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .map_err(Error::io("clearing the bench scratch folder"))?;
    }
    std::fs::create_dir_all(&scratch).map_err(Error::io("creating the bench scratch folder"))?;
    log("backup + verify against a plain file copy");
    let backups = scratch.join("backups");
    std::fs::create_dir_all(&backups).map_err(Error::io("bench backups"))?;
    // Each progress report starts a step: the time between reports is what each step took.
    let mut steps: Vec<(String, Instant)> = Vec::new();
    let (backup_time, _) = time(|| {
        owner.backup_now(Some(&backups), &mut |progress: Progress| {
            steps.push((progress.step, Instant::now()));
        })
    })?;
    let finished = Instant::now();
    let step_times: Vec<(String, f64)> = steps
        .iter()
        .enumerate()
        .map(|(index, (step, started))| {
            let ended = steps.get(index + 1).map_or(finished, |(_, at)| *at);
            (
                step.clone(),
                ended.duration_since(*started).as_secs_f64() * 1000.0,
            )
        })
        .collect();
    let copy_target = scratch.join("copy-of-vault.db");
    let (copy_time, _) = time(|| {
        std::fs::copy(&paths.database, &copy_target).map_err(Error::io("copying"))?;
        std::fs::File::open(&copy_target)
            .and_then(|file| file.sync_all())
            .map_err(Error::io("syncing the copy"))
    })?;
    let megabytes = database_bytes as f64 / 1_000_000.0;
    figures.push(figure(
        "backup + verify (vs plain file copy + fsync)",
        megabytes / backup_time.as_secs_f64(),
        Some(megabytes / copy_time.as_secs_f64()),
        "MB/s",
        true,
    ));
    for (step, millis) in step_times {
        figures.push(figure(
            &format!("  backup step: {step}"),
            millis,
            None,
            "ms",
            false,
        ));
    }

    log("CSV export of every contact, then its import into a new vault");
    let csv_path = scratch.join("contacts.csv");
    let (export_time, exported) = time(|| {
        let file = std::fs::File::create(&csv_path).map_err(Error::io("creating the CSV"))?;
        let mut out = std::io::BufWriter::new(file);
        let report = owner.export(Entity::Contact, ExportFormat::Csv, &mut out, &mut |_| {})?;
        std::io::Write::flush(&mut out).map_err(Error::io("writing the CSV"))?;
        Ok(report.rows)
    })?;
    figures.push(figure(
        "CSV export, contacts",
        exported as f64 / export_time.as_secs_f64(),
        None,
        "rows/s",
        true,
    ));
    let mut importer = Vault::create(
        &scratch.join("import-vault"),
        NewVault {
            owner: "owner".into(),
            password: Password::new(PASSWORD),
            key_file: None,
            kdf: options.kdf,
        },
    )?
    .session;
    let (import_time, imported) = time(|| {
        let report = importer.import_csv(&csv_path, &ImportOptions::default(), &mut |_| {})?;
        Ok(report.created)
    })?;
    drop(importer);
    figures.push(figure(
        "CSV import into an empty vault (dedupe, validation, index)",
        imported as f64 / import_time.as_secs_f64(),
        None,
        "rows/s",
        true,
    ));
    if let Some(peak) = peak_memory_mib() {
        figures.push(figure(
            "peak memory of the bench process",
            peak,
            None,
            "MiB",
            false,
        ));
    }
    drop(rep);
    drop(owner);
    Ok(BenchReport {
        machine: machine(),
        data,
        database_bytes,
        figures,
        slowest_searches,
    })
}
