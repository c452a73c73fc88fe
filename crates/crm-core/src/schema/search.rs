//! The full-text search index (`crate::records::search`).

/// Schema of the index, appended to the store's migrations.
pub(crate) const MIGRATION: &str = "
CREATE VIRTUAL TABLE search_index USING fts5 (
    l0, l1, l2, l3,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3 4'
);
";

/// One index per kind of record, each with a `reach` column (owner and team tokens) and a
/// one-character prefix index, carrying the indexed text over from the single `search_index`.
///
/// Per kind, because FTS5 writes its pending terms out as a new segment whenever a row arrives
/// with a lower rowid than the last: an import that creates companies between contacts made a
/// segment (and merge work) for every new company. The one-character prefix index answers
/// "Jane D" without merging the doclists of every term that starts with "d".
pub(crate) const PER_KIND_MIGRATION: &str = "
CREATE VIRTUAL TABLE search_companies USING fts5 (
    l0, l1, l2, l3, reach,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3 4'
);
INSERT INTO search_companies (rowid, l0, l1, l2, l3, reach)
SELECT r.id, s.l0, s.l1, s.l2, s.l3, 'o' || r.owner_id || coalesce(' t' || r.team_id, '')
FROM companies r JOIN search_index s ON s.rowid = (1 << 40) + r.id
ORDER BY r.id;
-- The reach follows the record whichever code path gives it a new owner or team.
CREATE TRIGGER companies_reach AFTER UPDATE OF owner_id, team_id ON companies BEGIN
    UPDATE search_companies SET reach = 'o' || NEW.owner_id || coalesce(' t' || NEW.team_id, '')
    WHERE rowid = NEW.id;
END;
CREATE VIRTUAL TABLE search_contacts USING fts5 (
    l0, l1, l2, l3, reach,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3 4'
);
INSERT INTO search_contacts (rowid, l0, l1, l2, l3, reach)
SELECT r.id, s.l0, s.l1, s.l2, s.l3, 'o' || r.owner_id || coalesce(' t' || r.team_id, '')
FROM contacts r JOIN search_index s ON s.rowid = (2 << 40) + r.id
ORDER BY r.id;
-- The reach follows the record whichever code path gives it a new owner or team.
CREATE TRIGGER contacts_reach AFTER UPDATE OF owner_id, team_id ON contacts BEGIN
    UPDATE search_contacts SET reach = 'o' || NEW.owner_id || coalesce(' t' || NEW.team_id, '')
    WHERE rowid = NEW.id;
END;
CREATE VIRTUAL TABLE search_deals USING fts5 (
    l0, l1, l2, l3, reach,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '1 2 3 4'
);
INSERT INTO search_deals (rowid, l0, l1, l2, l3, reach)
SELECT r.id, s.l0, s.l1, s.l2, s.l3, 'o' || r.owner_id || coalesce(' t' || r.team_id, '')
FROM deals r JOIN search_index s ON s.rowid = (3 << 40) + r.id
ORDER BY r.id;
-- The reach follows the record whichever code path gives it a new owner or team.
CREATE TRIGGER deals_reach AFTER UPDATE OF owner_id, team_id ON deals BEGIN
    UPDATE search_deals SET reach = 'o' || NEW.owner_id || coalesce(' t' || NEW.team_id, '')
    WHERE rowid = NEW.id;
END;
DROP TABLE search_index;
";
