//! Realistic synthetic customer data, deterministic for a given seed: for trying the product,
//! for tests and for the benchmark (default scale there: 1,000,000 contacts, 200,000 companies,
//! 300,000 deals, 2,000,000 activities). All people and companies are made up.
//!
//! Rows go in through prepared statements in one transaction, with their search index rows
//! built from the same field registry the rest of the product uses.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::fields::Entity;
use super::search;
use super::{EffectiveField, effective_fields};
use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::Right;
use crate::vault::{Progress, ProgressFn, Session};

/// How much to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoScale {
    /// Contacts.
    pub contacts: u64,
    /// Companies.
    pub companies: u64,
    /// Deals.
    pub deals: u64,
    /// Activities.
    pub activities: u64,
    /// Random seed: the same seed gives the same data.
    pub seed: u64,
}

impl DemoScale {
    /// The benchmark's proportions for `contacts` contacts: a fifth as many companies, 30 % as
    /// many deals, twice as many activities.
    pub fn for_contacts(contacts: u64, seed: u64) -> Self {
        Self {
            contacts,
            companies: (contacts / 5).max(1),
            deals: contacts * 3 / 10,
            activities: contacts * 2,
            seed,
        }
    }
}

const FIRST: &[&str] = &[
    "Olivia", "Liam", "Emma", "Noah", "Amelia", "Oliver", "Ava", "Elijah", "Sophia", "Lucas",
    "Mia", "Mateo", "Isla", "Leo", "Freya", "Hugo", "Ingrid", "Jonas", "Katja", "Lars", "Marta",
    "Nils", "Petra", "Rafael", "Sofia", "Tomas", "Ursula", "Viktor", "Wanda", "Yusuf", "Zoe",
    "Aisha", "Bruno", "Chloé", "Dmitri", "Elena", "Farid", "Greta", "Hana", "Ivan", "Jana", "Kofi",
    "Lena", "Malik", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma",
];
const LAST: &[&str] = &[
    "Andersen",
    "Bakker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Kowalski",
    "Larsen",
    "Moreau",
    "Nielsen",
    "Olsen",
    "Petrov",
    "Quist",
    "Rossi",
    "Schmidt",
    "Thomsen",
    "Urban",
    "Vos",
    "Weber",
    "Young",
    "Zimmermann",
    "Okafor",
    "Haddad",
    "Novak",
    "Lindqvist",
    "Byrne",
    "Murphy",
    "O'Neill",
    "Santos",
    "Silva",
    "Tanaka",
    "Kim",
    "Nguyen",
    "Patel",
    "Shah",
    "Cohen",
    "Mendes",
    "Horvat",
    "Kaya",
    "Demir",
    "Berg",
    "Holm",
];
const COMPANY_A: &[&str] = &[
    "Nordic",
    "Blue",
    "Granite",
    "Harbor",
    "Summit",
    "Maple",
    "Atlas",
    "Pioneer",
    "Silver",
    "Cedar",
    "Evergreen",
    "Copper",
    "Falcon",
    "Meridian",
    "Orchard",
    "Polar",
    "Quarry",
    "Riverside",
];
const COMPANY_B: &[&str] = &[
    "Logistics",
    "Bakery",
    "Dental",
    "Engineering",
    "Foods",
    "Print",
    "Textiles",
    "Timber",
    "Optics",
    "Marine",
    "Pharma",
    "Robotics",
    "Solar",
    "Travel",
    "Brewing",
    "Ceramics",
    "Tools",
];
const SUFFIX: &[&str] = &["Ltd", "GmbH", "AB", "AS", "BV", "SARL", "Inc", "Oy", "ApS"];
const INDUSTRIES: &[&str] = &[
    "Retail",
    "Manufacturing",
    "Healthcare",
    "Logistics",
    "Food & Beverage",
    "Construction",
    "Professional Services",
    "Hospitality",
    "Education",
    "Energy",
];
const SIZES: &[&str] = &["1-10", "11-50", "51-200", "201-1000", "1000+"];
const TITLES: &[&str] = &[
    "Owner",
    "Managing Director",
    "Purchasing Manager",
    "Office Manager",
    "CFO",
    "Head of Sales",
    "Operations Lead",
    "Buyer",
    "IT Manager",
    "Marketing Manager",
];
const DEAL_WORDS: &[&str] = &[
    "Annual service contract",
    "Fleet renewal",
    "Pilot project",
    "Software licences",
    "Maintenance plan",
    "New branch fit-out",
    "Framework agreement",
    "Consulting package",
];
const ACTIVITY_KINDS: &[&str] = &["call", "meeting", "email", "task"];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

fn phone(rng: &mut StdRng) -> String {
    match rng.gen_range(0..3) {
        0 => format!(
            "+1 ({:03}) {:03}-{:04}",
            rng.gen_range(200..999),
            rng.gen_range(200..999),
            rng.gen_range(0..10_000)
        ),
        1 => format!(
            "+44 20 {:04} {:04}",
            rng.gen_range(0..10_000),
            rng.gen_range(0..10_000)
        ),
        _ => format!("+49 30 {:08}", rng.gen_range(0..100_000_000)),
    }
}

fn ascii(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            'é' => Some('e'),
            'í' => Some('i'),
            '\'' => None,
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// Counts of what was generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DemoReport {
    /// Companies made.
    pub companies: u64,
    /// Contacts made.
    pub contacts: u64,
    /// Deals made.
    pub deals: u64,
    /// Activities made.
    pub activities: u64,
}

fn index_row(
    tx: &crate::store::Connection,
    entity: Entity,
    id: i64,
    fields: &[EffectiveField],
    values: &[(&str, &str)],
) -> Result<()> {
    let texts = search::index_texts(fields.iter().filter_map(|field| {
        values
            .iter()
            .find(|(name, _)| *name == field.name)
            .map(|(_, value)| (field, *value))
    }));
    search::put(tx, entity, id, &texts)
}

impl Session {
    /// Generates synthetic data, records owned round-robin by the active users. Needs the
    /// manage-users right (it is an owner's tool).
    pub fn generate_demo(
        &mut self,
        scale: DemoScale,
        progress: ProgressFn<'_>,
    ) -> Result<DemoReport> {
        self.require_right(Right::ManageUsers)?;
        if scale.contacts > 20_000_000 {
            return Err(Error::Invalid("at most 20,000,000 contacts".into()));
        }
        let conn = self.store().conn();
        let owners: Vec<(i64, Option<i64>)> = conn
            .prepare("SELECT id, team_id FROM users WHERE removed_at IS NULL ORDER BY id")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let stages: Vec<(i64, i64)> = conn
            .prepare("SELECT id, probability FROM stages ORDER BY position")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let company_fields = effective_fields(conn, Entity::Company)?;
        let contact_fields = effective_fields(conn, Entity::Contact)?;
        let deal_fields = effective_fields(conn, Entity::Deal)?;
        let total = scale.companies + scale.contacts + scale.deals + scale.activities;
        let mut rng = StdRng::seed_from_u64(scale.seed);
        let now = chrono::Utc::now();
        let stamp = now.to_rfc3339();
        self.write_bulk(|tx, audit| {
            let first_company: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM companies", [], |row| row.get(0))?;
            let first_contact: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM contacts", [], |row| row.get(0))?;
            let first_deal: i64 = tx.query_row("SELECT coalesce(max(id), 0) + 1 FROM deals", [], |row| row.get(0))?;
            let mut done = 0u64;
            let mut tick = |done: u64, step: &str| {
                if done.is_multiple_of(20_000) {
                    progress(Progress { step: step.into(), done, total });
                }
            };
            let mut company_names = Vec::with_capacity(scale.companies as usize);
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO companies (id, name, industry, size, website, address, phone, tax_id, notes,
                        owner_id, team_id, created_at, created_by, updated_at, updated_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10, ?11, ?9, ?11, ?9)",
                )?;
                for index in 0..scale.companies {
                    let id = first_company + index as i64;
                    let name = format!("{} {} {}", pick(&mut rng, COMPANY_A), pick(&mut rng, COMPANY_B), pick(&mut rng, SUFFIX));
                    let name = if index >= 300 { format!("{name} {}", index % 997) } else { name };
                    let website = format!("www.{}.example", ascii(&name));
                    let phone_text = phone(&mut rng);
                    let phones = serde_json::json!([phone_text]).to_string();
                    let (owner, team) = owners[index as usize % owners.len()];
                    insert.execute(params![
                        id,
                        name,
                        pick(&mut rng, INDUSTRIES),
                        pick(&mut rng, SIZES),
                        website,
                        format!("{} Harbour Street, Springfield", rng.gen_range(1..400)),
                        phones,
                        format!("EU{:09}", rng.gen_range(0..1_000_000_000u64)),
                        owner,
                        team,
                        stamp
                    ])?;
                    index_row(tx, Entity::Company, id, &company_fields, &[("name", &name), ("website", &website), ("phone", &phone_text)])?;
                    company_names.push(name);
                    done += 1;
                    tick(done, "companies");
                }
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO contacts (id, first_name, last_name, job_title, company_id, emails, phones,
                        address, birthday, notes, do_not_contact, consent, bank_account, email_key,
                        owner_id, team_id, created_at, created_by, updated_at, updated_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, ?10, 'newsletter', ?11, ?12, ?13, ?14, ?15, ?13, ?15, ?13)",
                )?;
                for index in 0..scale.contacts {
                    let id = first_contact + index as i64;
                    let first = pick(&mut rng, FIRST);
                    let last = pick(&mut rng, LAST);
                    let company_index = rng.gen_range(0..scale.companies.max(1)) as usize;
                    let company_id = (scale.companies > 0).then(|| first_company + company_index as i64);
                    let company_name = company_names.get(company_index).cloned().unwrap_or_default();
                    let email = format!("{}.{}{}@{}.example", ascii(first), ascii(last), index, ascii(&company_name).chars().take(20).collect::<String>());
                    let phone_text = phone(&mut rng);
                    let (owner, team) = owners[index as usize % owners.len()];
                    let birthday = format!("{}-{:02}-{:02}", rng.gen_range(1950..2004), rng.gen_range(1..13), rng.gen_range(1..29));
                    insert.execute(params![
                        id,
                        first,
                        last,
                        pick(&mut rng, TITLES),
                        company_id,
                        serde_json::json!([email]).to_string(),
                        serde_json::json!([phone_text]).to_string(),
                        format!("{} Elm Road, Springfield", rng.gen_range(1..900)),
                        birthday,
                        i64::from(rng.gen_ratio(1, 20)),
                        format!("DE{:020}", rng.gen_range(0..u64::MAX / 2)),
                        email.to_lowercase(),
                        owner,
                        team,
                        stamp
                    ])?;
                    index_row(
                        tx,
                        Entity::Contact,
                        id,
                        &contact_fields,
                        &[("first_name", first), ("last_name", last), ("emails", &email), ("phones", &phone_text)],
                    )?;
                    done += 1;
                    tick(done, "contacts");
                }
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO deals (id, title, company_id, contact_id, value, currency, stage_id, expected_close,
                        probability, lost_reason, owner_id, team_id, created_at, created_by, updated_at, updated_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'EUR', ?6, ?7, ?8, NULL, ?9, ?10, ?11, ?9, ?11, ?9)",
                )?;
                for index in 0..scale.deals {
                    let id = first_deal + index as i64;
                    let company_index = rng.gen_range(0..scale.companies.max(1)) as usize;
                    let company_name = company_names.get(company_index).cloned().unwrap_or_default();
                    let title = format!("{} – {}", pick(&mut rng, DEAL_WORDS), company_name);
                    let (stage, probability) = stages[rng.gen_range(0..stages.len())];
                    let contact = (scale.contacts > 0).then(|| first_contact + rng.gen_range(0..scale.contacts) as i64);
                    let (owner, team) = owners[index as usize % owners.len()];
                    let close = (now + chrono::Duration::days(rng.gen_range(-60..180))).date_naive().to_string();
                    insert.execute(params![
                        id,
                        title,
                        (scale.companies > 0).then_some(first_company + company_index as i64),
                        contact,
                        rng.gen_range(50_000..5_000_000i64),
                        stage,
                        close,
                        probability,
                        owner,
                        team,
                        stamp
                    ])?;
                    index_row(tx, Entity::Deal, id, &deal_fields, &[("title", &title)])?;
                    done += 1;
                    tick(done, "deals");
                }
            }
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO activities (kind, subject, due_at, done, company_id, contact_id, deal_id, notes,
                        owner_id, team_id, created_at, created_by, updated_at, updated_by)
                     VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?6, NULL, ?7, ?8, ?9, ?7, ?9, ?7)",
                )?;
                for index in 0..scale.activities {
                    let kind = pick(&mut rng, ACTIVITY_KINDS);
                    let due = now + chrono::Duration::hours(rng.gen_range(-24 * 90..24 * 30));
                    let contact = (scale.contacts > 0).then(|| first_contact + rng.gen_range(0..scale.contacts) as i64);
                    let deal = (scale.deals > 0 && rng.gen_ratio(1, 3)).then(|| first_deal + rng.gen_range(0..scale.deals) as i64);
                    let (owner, team) = owners[index as usize % owners.len()];
                    let subject = match kind {
                        "call" => "Follow-up call",
                        "meeting" => "Quarterly review",
                        "email" => "Sent proposal",
                        _ => "Prepare quote",
                    };
                    insert.execute(params![
                        kind,
                        subject,
                        due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        i64::from(due < now),
                        contact,
                        deal,
                        owner,
                        team,
                        stamp
                    ])?;
                    done += 1;
                    tick(done, "activities");
                }
            }
            progress(Progress { step: "done".into(), done: total, total });
            audit.record(
                AuditEvent::new(AuditAction::Import)
                    .detail("format", "demo")
                    .detail("seed", scale.seed)
                    .detail("rows", total),
            );
            Ok(DemoReport {
                companies: scale.companies,
                contacts: scale.contacts,
                deals: scale.deals,
                activities: scale.activities,
            })
        })
    }
}
