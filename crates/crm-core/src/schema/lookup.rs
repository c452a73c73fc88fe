//! Indexes that let an import find the records a row updates or links to
//! (`crate::records::import`'s lookups), and the SQL expressions they index. The lookups
//! build their queries from the same macros, so a query matches its index exactly and SQLite
//! uses it.

/// The website's domain, as SQL over `$w` (a column or a parameter): lower case, without scheme,
/// `www.`, path or port; NULL when nothing is left.
macro_rules! website_domain {
    ($w:literal) => {
        concat!(
            "nullif(substr(",
            $crate::schema::lookup::website_host!($w),
            ", 1, instr(",
            $crate::schema::lookup::website_host!($w),
            " || ':', ':') - 1), '')"
        )
    };
}

macro_rules! website_host {
    ($w:literal) => {
        concat!(
            "substr(",
            $crate::schema::lookup::website_without_www!($w),
            ", 1, instr(",
            $crate::schema::lookup::website_without_www!($w),
            " || '/', '/') - 1)"
        )
    };
}

macro_rules! website_without_www {
    ($w:literal) => {
        concat!(
            "substr(replace('^' || replace(replace(lower(trim(",
            $w,
            ")), 'https://', ''), 'http://', ''), '^www.', '^'), 2)"
        )
    };
}

/// The `n`th email (from 0) of `contacts.emails`, lower case, as an index expression over `$e`
/// (`emails` or `r.emails`), and the condition under which a contact has an entry.
macro_rules! nth_email {
    ($e:literal, $n:literal) => {
        concat!("lower(json_extract(", $e, ", '$[", $n, "]'))")
    };
}

macro_rules! has_nth_email {
    ($e:literal, $n:literal) => {
        concat!(
            "json_valid(",
            $e,
            ") AND json_array_length(",
            $e,
            ") > ",
            $n
        )
    };
}

macro_rules! email_index {
    ($n:literal, $name:literal) => {
        concat!(
            "CREATE INDEX ",
            $name,
            " ON contacts (",
            $crate::schema::lookup::nth_email!("emails", $n),
            ") WHERE ",
            $crate::schema::lookup::has_nth_email!("emails", $n),
            ";\n"
        )
    };
}

/// Indexes for import dedupe and links, appended to the store's migrations.
pub(crate) const MIGRATION: &str = concat!(
    email_index!(1, "contacts_email_2"),
    email_index!(2, "contacts_email_3"),
    email_index!(3, "contacts_email_4"),
    email_index!(4, "contacts_email_5"),
    "CREATE INDEX deals_title ON deals (title COLLATE NOCASE);\n",
    "CREATE INDEX companies_domain ON companies (",
    website_domain!("website"),
    ");\n"
);

pub(crate) use {has_nth_email, nth_email, website_domain, website_host, website_without_www};
