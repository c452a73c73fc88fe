//! Finding the records an import row updates or links to, through indexes only (an import of
//! a few rows into a vault of a million contacts must not scan it per row).
//!
//! * Contacts by their emails, ignoring case: the first through `contacts.email_key`, the
//!   second to fifth through partial expression indexes on `contacts.emails` (only contacts with
//!   that many emails have entries). SQLite keeps the indexes in step with every write path
//!   (create, update, import, erasure, the demo generator) without any of them knowing. A sixth
//!   or later email is not matched (see docs/decisions.md: a trigger-kept table of every email
//!   made each contact insert flush the search index, costing imports a third more CPU).
//!   Contacts by full name through the last-name index.
//! * Companies by name, ignoring case, or by website domain (`https://www.acme.example/about`
//!   → `acme.example`) through an expression index; the domain rule is one SQL expression,
//!   used by the index and by the lookup alike.
//! * Deals by title, ignoring case.
//!
//! Callers pass the importer's scope condition and check that the fields matched on are visible
//! to them, so an import cannot probe values the role may not see.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Transaction, params_from_iter};

use crate::error::Result;

use crate::schema::lookup::{has_nth_email, nth_email, website_domain};

/// The SQL matching a contact whose `n`th email (n = 1…4) is `?`, in the exact form of its
/// partial index, so SQLite uses it.
const LATER_EMAILS: [&str; 4] = [
    concat!(
        nth_email!("r.emails", 1),
        " = ? AND ",
        has_nth_email!("r.emails", 1)
    ),
    concat!(
        nth_email!("r.emails", 2),
        " = ? AND ",
        has_nth_email!("r.emails", 2)
    ),
    concat!(
        nth_email!("r.emails", 3),
        " = ? AND ",
        has_nth_email!("r.emails", 3)
    ),
    concat!(
        nth_email!("r.emails", 4),
        " = ? AND ",
        has_nth_email!("r.emails", 4)
    ),
];

/// A record found by a lookup: id, owner and the values the caller asked for.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    /// Record id.
    pub id: i64,
    /// Its owner's user id.
    pub owner_id: i64,
    /// The selected values, in the order of the query.
    pub values: Vec<Option<String>>,
}

/// At most this many candidates per lookup (a name shared by more is ambiguous anyway).
const CANDIDATES: usize = 20;

fn hits(
    tx: &Transaction<'_>,
    sql: &str,
    values: Vec<SqlValue>,
    columns: usize,
) -> Result<Vec<Hit>> {
    let mut statement = tx.prepare_cached(sql)?;
    let rows = statement.query_map(params_from_iter(values), |row| {
        let mut selected = Vec::with_capacity(columns);
        for index in 0..columns {
            selected.push(row.get::<_, Option<String>>(2 + index)?);
        }
        Ok(Hit {
            id: row.get(0)?,
            owner_id: row.get(1)?,
            values: selected,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

fn placeholders(count: usize) -> String {
    vec!["?"; count].join(", ")
}

/// How many of the later-email indexes (second to fifth email) have entries: 0 when no contact
/// has a second email, so a lookup need not probe them.
pub(crate) fn later_emails_in_use(conn: &crate::store::Connection) -> Result<usize> {
    let mut in_use = 0;
    for (position, condition) in [
        has_nth_email!("r.emails", 1),
        has_nth_email!("r.emails", 2),
        has_nth_email!("r.emails", 3),
        has_nth_email!("r.emails", 4),
    ]
    .iter()
    .enumerate()
    {
        let any: bool = conn.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM contacts r WHERE {condition})"),
            [],
            |row| row.get(0),
        )?;
        if any {
            in_use = position + 1;
        }
    }
    Ok(in_use)
}

/// Contacts in scope having any of `emails` (ignoring case) among their first five, oldest
/// first, with their `[emails, first_name, last_name]`. `later` is how many later-email
/// indexes to probe ([`later_emails_in_use`], kept up to date by the caller).
///
/// Indexed equality probes only, with no ordering work left to SQLite: this runs once per
/// imported contact.
pub(crate) fn contacts_by_email(
    tx: &Transaction<'_>,
    emails: &[String],
    later: usize,
    scope: &(String, Vec<SqlValue>),
) -> Result<Vec<Hit>> {
    let select = "SELECT r.id, r.owner_id, r.emails, r.first_name, r.last_name FROM contacts r";
    let first = format!(
        "{select} WHERE r.email_key = ? AND {} LIMIT {CANDIDATES}",
        scope.0
    );
    let mut found: Vec<Hit> = Vec::new();
    for email in emails {
        // `email_key` holds the first email in Unicode lower case; the index expressions use
        // SQLite's ASCII `lower`: each is asked in its own form.
        let mut probes = vec![(first.clone(), email.to_lowercase())];
        probes.extend(LATER_EMAILS.iter().take(later).map(|condition| {
            (
                format!(
                    "{select} WHERE {condition} AND {} LIMIT {CANDIDATES}",
                    scope.0
                ),
                email.to_ascii_lowercase(),
            )
        }));
        for (sql, key) in probes {
            let mut values = vec![SqlValue::Text(key)];
            values.extend(scope.1.iter().cloned());
            for hit in hits(tx, &sql, values, 3)? {
                if !found.iter().any(|known| known.id == hit.id) {
                    found.push(hit);
                }
            }
        }
    }
    found.sort_by_key(|hit| hit.id);
    Ok(found)
}

/// Contacts in scope whose `First Last` is `full_name` (ignoring case), with their
/// `[first_name, last_name]`. The last name may be any number of trailing words.
pub(crate) fn contacts_by_name(
    tx: &Transaction<'_>,
    full_name: &str,
    scope: &(String, Vec<SqlValue>),
) -> Result<Vec<Hit>> {
    let words: Vec<&str> = full_name.split_whitespace().collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let last_names: Vec<String> = (0..words.len().min(4))
        .map(|skip| words[words.len() - 1 - skip..].join(" "))
        .collect();
    let sql = format!(
        "SELECT r.id, r.owner_id, r.first_name, r.last_name FROM contacts r
         WHERE r.last_name COLLATE NOCASE IN ({})
           AND trim(coalesce(r.first_name, '') || ' ' || r.last_name) = ? COLLATE NOCASE
           AND {} ORDER BY r.id LIMIT {CANDIDATES}",
        placeholders(last_names.len()),
        scope.0
    );
    let mut values: Vec<SqlValue> = last_names.into_iter().map(SqlValue::Text).collect();
    values.push(SqlValue::Text(words.join(" ")));
    values.extend(scope.1.iter().cloned());
    hits(tx, &sql, values, 2)
}

/// Companies in scope named `name` (ignoring case), oldest first, with their `[name]`.
pub(crate) fn companies_by_name(
    tx: &Transaction<'_>,
    name: &str,
    scope: &(String, Vec<SqlValue>),
) -> Result<Vec<Hit>> {
    let sql = format!(
        "SELECT r.id, r.owner_id, r.name FROM companies r
         WHERE r.name = ? COLLATE NOCASE AND {} ORDER BY r.id LIMIT {CANDIDATES}",
        scope.0
    );
    let mut values = vec![SqlValue::Text(name.to_owned())];
    values.extend(scope.1.iter().cloned());
    hits(tx, &sql, values, 1)
}

/// Companies in scope whose website has the same domain as `website`, with their `[name]`.
pub(crate) fn companies_by_domain(
    tx: &Transaction<'_>,
    website: &str,
    scope: &(String, Vec<SqlValue>),
) -> Result<Vec<Hit>> {
    let sql = format!(
        "SELECT r.id, r.owner_id, r.name FROM companies r
         WHERE {} = {} AND {} ORDER BY r.id LIMIT {CANDIDATES}",
        website_domain!("website"),
        website_domain!("?1"),
        scope.0
    );
    let mut values = vec![SqlValue::Text(website.to_owned())];
    values.extend(scope.1.iter().cloned());
    hits(tx, &sql, values, 1)
}

/// Deals in scope titled `title` (ignoring case), with their `[title]`; `company` limits them to
/// one company (`Some(None)`: deals without a company).
pub(crate) fn deals_by_title(
    tx: &Transaction<'_>,
    title: &str,
    company: Option<Option<i64>>,
    scope: &(String, Vec<SqlValue>),
) -> Result<Vec<Hit>> {
    let company_condition = match company {
        None => "",
        Some(None) => "AND r.company_id IS NULL",
        Some(Some(_)) => "AND r.company_id = ?",
    };
    let sql = format!(
        "SELECT r.id, r.owner_id, r.title FROM deals r
         WHERE r.title = ? COLLATE NOCASE {company_condition} AND {} ORDER BY r.id LIMIT {CANDIDATES}",
        scope.0
    );
    let mut values = vec![SqlValue::Text(title.to_owned())];
    if let Some(Some(id)) = company {
        values.push(SqlValue::Integer(id));
    }
    values.extend(scope.1.iter().cloned());
    hits(tx, &sql, values, 1)
}

#[cfg(test)]
#[allow(
    clippy::disallowed_types,
    clippy::disallowed_methods,
    reason = "the index expressions are checked on a bare in-memory database"
)]
mod tests {
    use super::*;
    use crate::schema::lookup::MIGRATION;

    fn domain_of(conn: &crate::store::Connection, website: &str) -> Option<String> {
        conn.query_row(
            &format!("SELECT {}", website_domain!("?1")),
            [website],
            |row| row.get(0),
        )
        .expect("query")
    }

    #[test]
    fn a_website_domain_ignores_scheme_www_path_port_and_case() {
        let conn = rusqlite::Connection::open_in_memory().expect("db");
        for website in [
            "acme.example",
            "https://www.Acme.example/about",
            "http://acme.example:8080",
            " WWW.ACME.EXAMPLE/ ",
        ] {
            assert_eq!(
                domain_of(&conn, website).as_deref(),
                Some("acme.example"),
                "{website}"
            );
        }
        assert_eq!(domain_of(&conn, ""), None);
        assert_eq!(domain_of(&conn, "https://"), None);
    }

    #[test]
    fn later_emails_are_found_through_their_indexes_after_every_kind_of_write() {
        let conn = rusqlite::Connection::open_in_memory().expect("db");
        conn.execute_batch(
            "CREATE TABLE contacts (id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, emails TEXT, email_key TEXT, owner_id INTEGER);
             CREATE TABLE companies (id INTEGER PRIMARY KEY, website TEXT);
             CREATE TABLE deals (id INTEGER PRIMARY KEY, title TEXT);",
        )
        .expect("tables");
        conn.execute_batch(MIGRATION).expect("migration");
        let tx = conn.unchecked_transaction().expect("tx");
        let everyone = ("1 = 1".to_owned(), Vec::new());
        let ids = |email: &str| -> Vec<i64> {
            let later = later_emails_in_use(&tx).expect("in use");
            contacts_by_email(&tx, &[email.to_owned()], later, &everyone)
                .expect("lookup")
                .into_iter()
                .map(|hit| hit.id)
                .collect()
        };
        tx.execute(
            "INSERT INTO contacts (id, emails, email_key, owner_id) VALUES
                (1, '[\"first@x.example\",\"Second@X.example\",\"3@x.example\",\"4@x.example\",\"Fifth@x.example\"]', 'first@x.example', 1),
                (2, '[\"only@x.example\"]', 'only@x.example', 1),
                (3, NULL, NULL, 1)",
            [],
        )
        .expect("insert");
        assert_eq!(later_emails_in_use(&tx).expect("in use"), 4);
        assert_eq!(ids("SECOND@x.example"), vec![1]);
        assert_eq!(ids("fifth@x.example"), vec![1]);
        assert_eq!(ids("First@x.example"), vec![1]);
        tx.execute(
            "UPDATE contacts SET emails = '[\"only@x.example\",\"more@x.example\"]' WHERE id = 2",
            [],
        )
        .expect("update");
        tx.execute(
            "UPDATE contacts SET emails = NULL, email_key = NULL WHERE id = 1",
            [],
        )
        .expect("erase");
        assert_eq!(ids("more@x.example"), vec![2]);
        assert!(
            ids("second@x.example").is_empty(),
            "an erased contact is not found"
        );
        let plan: String = tx
            .query_row(
                &format!(
                    "EXPLAIN QUERY PLAN SELECT r.id FROM contacts r WHERE {}",
                    LATER_EMAILS[0]
                ),
                ["x"],
                |row| row.get(3),
            )
            .expect("plan");
        assert!(plan.contains("contacts_email_2"), "{plan}");
    }
}
