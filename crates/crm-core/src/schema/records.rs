//! Tables of the customer base (`crate::records`) and the indexes its lists use.

/// Schema of the customer base, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE TABLE pipelines (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
CREATE TABLE stages (
    id          INTEGER PRIMARY KEY,
    pipeline_id INTEGER NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    position    INTEGER NOT NULL,
    probability INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', 'won', 'lost')),
    UNIQUE (pipeline_id, name)
) STRICT;
INSERT INTO pipelines (id, name) VALUES (1, 'Sales');
INSERT INTO stages (pipeline_id, name, position, probability, outcome) VALUES
    (1, 'Lead', 1, 10, 'open'), (1, 'Qualified', 2, 25, 'open'), (1, 'Proposal', 3, 50, 'open'),
    (1, 'Negotiation', 4, 75, 'open'), (1, 'Won', 5, 100, 'won'), (1, 'Lost', 6, 0, 'lost');

CREATE TABLE companies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL, industry TEXT, size TEXT, website TEXT, address TEXT, phone TEXT,
    tax_id TEXT, notes TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    first_name TEXT, last_name TEXT NOT NULL, job_title TEXT,
    company_id INTEGER REFERENCES companies (id) ON DELETE RESTRICT,
    emails TEXT, phones TEXT, address TEXT, birthday TEXT, notes TEXT,
    do_not_contact INTEGER, consent TEXT, bank_account TEXT,
    email_key TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE deals (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    company_id INTEGER REFERENCES companies (id) ON DELETE RESTRICT,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE SET NULL,
    value INTEGER, currency TEXT,
    stage_id INTEGER REFERENCES stages (id),
    expected_close TEXT, probability INTEGER, lost_reason TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE activities (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL, subject TEXT NOT NULL, due_at TEXT, done INTEGER,
    company_id INTEGER REFERENCES companies (id) ON DELETE CASCADE,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    deal_id INTEGER REFERENCES deals (id) ON DELETE CASCADE,
    notes TEXT,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    company_id INTEGER REFERENCES companies (id) ON DELETE CASCADE,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    deal_id INTEGER REFERENCES deals (id) ON DELETE CASCADE,
    owner_id INTEGER NOT NULL REFERENCES users (id), team_id INTEGER REFERENCES teams (id),
    created_at TEXT NOT NULL, created_by INTEGER, updated_at TEXT NOT NULL, updated_by INTEGER
) STRICT;

CREATE INDEX companies_owner ON companies (owner_id, updated_at);
CREATE INDEX companies_name ON companies (name COLLATE NOCASE);
CREATE INDEX contacts_owner ON contacts (owner_id, updated_at);
CREATE INDEX contacts_company ON contacts (company_id);
CREATE INDEX contacts_email ON contacts (email_key);
CREATE INDEX contacts_last_name ON contacts (last_name COLLATE NOCASE);
CREATE INDEX deals_owner ON deals (owner_id, updated_at);
CREATE INDEX deals_stage ON deals (stage_id);
CREATE INDEX deals_company ON deals (company_id);
CREATE INDEX activities_owner_due ON activities (owner_id, done, due_at);
CREATE INDEX activities_contact ON activities (contact_id);
CREATE INDEX activities_company ON activities (company_id);
CREATE INDEX activities_deal ON activities (deal_id);
CREATE INDEX notes_contact ON notes (contact_id);
CREATE INDEX notes_company ON notes (company_id);
CREATE INDEX notes_deal ON notes (deal_id);

CREATE TABLE tags (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE
) STRICT;
CREATE TABLE record_tags (
    entity    TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    tag_id    INTEGER NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (entity, record_id, tag_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX record_tags_by_tag ON record_tags (tag_id, entity);

-- The owner's reclassification of built-in fields.
CREATE TABLE field_levels (
    entity TEXT NOT NULL,
    field  TEXT NOT NULL,
    level  INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    PRIMARY KEY (entity, field)
) STRICT, WITHOUT ROWID;

CREATE TABLE custom_fields (
    id        INTEGER PRIMARY KEY,
    entity    TEXT NOT NULL,
    name      TEXT NOT NULL,
    label     TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('text', 'number', 'date', 'choice', 'money')),
    choices   TEXT NOT NULL DEFAULT '[]',
    level     INTEGER NOT NULL CHECK (level BETWEEN 0 AND 3),
    financial INTEGER NOT NULL DEFAULT 0,
    UNIQUE (entity, name)
) STRICT;
CREATE TABLE custom_values (
    entity    TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    field_id  INTEGER NOT NULL REFERENCES custom_fields (id) ON DELETE CASCADE,
    value     TEXT NOT NULL,
    PRIMARY KEY (entity, record_id, field_id)
) STRICT, WITHOUT ROWID;
";

/// Indexes for the list filters people use most (measured by `crm bench`): companies by
/// industry and name, deals by stage and close date, and every list's default order.
pub(crate) const LIST_INDEXES: &str = "
CREATE INDEX companies_industry_name ON companies (industry COLLATE NOCASE, name COLLATE NOCASE);
CREATE INDEX deals_stage_close ON deals (stage_id, expected_close);
CREATE INDEX companies_updated ON companies (updated_at);
CREATE INDEX contacts_updated ON contacts (updated_at);
CREATE INDEX deals_updated ON deals (updated_at);
CREATE INDEX activities_updated ON activities (updated_at);
CREATE INDEX notes_updated ON notes (updated_at);
";

/// A sales rep's contacts by name and companies by name: with only `(owner_id, updated_at)`,
/// SQLite planned "every record of mine, then sort" (half a million rows at a million contacts,
/// 1.7 s a page) rather than walking the name index, whatever the statistics said.
pub(crate) const OWNER_NAME_INDEXES: &str = "
CREATE INDEX contacts_owner_last_name ON contacts (owner_id, last_name COLLATE NOCASE);
CREATE INDEX companies_owner_name ON companies (owner_id, name COLLATE NOCASE);
";

/// Tags, one row per spelling (the name was unique without case): tagging an own record with
/// `VIP` no longer returns the `vip` of a tag used only on records out of the tagger's sight.
/// `tags` is rebuilt as SQLite needs for a new collation, with `record_tags` rebuilt first so
/// dropping the old table cascades to nothing.
pub(crate) const SPELLING_MIGRATION: &str = "
CREATE TABLE tag_spellings (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;
INSERT INTO tag_spellings (id, name) SELECT id, name FROM tags;
CREATE TABLE record_tags_new (
    entity    TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    tag_id    INTEGER NOT NULL REFERENCES tag_spellings (id) ON DELETE CASCADE,
    PRIMARY KEY (entity, record_id, tag_id)
) STRICT, WITHOUT ROWID;
INSERT INTO record_tags_new (entity, record_id, tag_id)
    SELECT entity, record_id, tag_id FROM record_tags;
DROP TABLE record_tags;
DROP TABLE tags;
ALTER TABLE tag_spellings RENAME TO tags;
ALTER TABLE record_tags_new RENAME TO record_tags;
CREATE INDEX record_tags_by_tag ON record_tags (tag_id, entity);
CREATE INDEX tags_by_name_nocase ON tags (name COLLATE NOCASE);
";
