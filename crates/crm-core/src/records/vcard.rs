//! vCard 3.0 and 4.0: import (through the same row path and rules as CSV import) and export
//! (4.0, through the role view, folded at 75 octets with CRLF line ends).
//!
//! Import unfolds continuation lines, drops property groups (`item1.EMAIL`), unescapes `\n`,
//! `\,`, `\;` and `\\`, splits structured values (N, ADR, ORG) on unescaped `;`, and reads
//! FN, N, EMAIL and TEL (any number), ORG, TITLE, BDAY, ADR and NOTE. Cards are read one at a
//! time, so memory does not grow with the file.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use super::import::{Cell, ImportOptions, ImportReport, RowWriter, Target, finish, settle};
use super::view::RecordView;
use crate::error::{Error, Result};
use crate::vault::{Progress, ProgressFn, Session};

/// Splits on unescaped `sep` and unescapes each part.
fn split_unescaped(value: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n' | 'N') => parts.last_mut().map(|p| p.push('\n')).unwrap_or_default(),
                Some(other) => parts.last_mut().map(|p| p.push(other)).unwrap_or_default(),
                None => {}
            },
            c if c == sep => parts.push(String::new()),
            c => parts.last_mut().map(|p| p.push(c)).unwrap_or_default(),
        }
    }
    parts
}

fn unescape(value: &str) -> String {
    split_unescaped(value, '\u{0}').join("")
}

/// One card's properties, as (upper-case name without group, parameters, raw value).
type Card = Vec<(String, String, String)>;

/// Turns one card into import cells (column = property name).
fn card_cells(card: &Card) -> Vec<(Target, String, String)> {
    let mut cells = Vec::new();
    let field = |name: &str| Target::Field(name.into());
    for (name, params, value) in card {
        match name.as_str() {
            "FN" => cells.push((Target::FullName, "FN".into(), unescape(value))),
            "N" => {
                let parts = split_unescaped(value, ';');
                let family = parts.first().cloned().unwrap_or_default();
                let given = parts.get(1).cloned().unwrap_or_default();
                cells.push((field("last_name"), "N".into(), family));
                cells.push((field("first_name"), "N".into(), given));
            }
            "EMAIL" => cells.push((field("emails"), "EMAIL".into(), unescape(value))),
            "TEL" => {
                let text = unescape(value);
                let text = text.strip_prefix("tel:").unwrap_or(&text).to_owned();
                let _ = params;
                cells.push((field("phones"), "TEL".into(), text));
            }
            "ORG" => {
                let org = split_unescaped(value, ';')
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                cells.push((Target::Company, "ORG".into(), org));
            }
            "TITLE" => cells.push((field("job_title"), "TITLE".into(), unescape(value))),
            "BDAY" => {
                let text = unescape(value);
                let date = if text.len() == 8 && text.chars().all(|c| c.is_ascii_digit()) {
                    format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..])
                } else {
                    text.split('T').next().unwrap_or_default().to_owned()
                };
                cells.push((field("birthday"), "BDAY".into(), date));
            }
            "ADR" => {
                let parts: Vec<String> = split_unescaped(value, ';')
                    .into_iter()
                    .map(|part| part.trim().to_owned())
                    .filter(|part| !part.is_empty())
                    .collect();
                cells.push((field("address"), "ADR".into(), parts.join(", ")));
            }
            "NOTE" => cells.push((field("notes"), "NOTE".into(), unescape(value))),
            _ => {}
        }
    }
    // N wins over FN when both name the person: FN is only a fallback.
    if cells.iter().any(|(target, _, value)| {
        *target == Target::Field("last_name".into()) && !value.trim().is_empty()
    }) {
        cells.retain(|(target, _, _)| *target != Target::FullName);
    }
    cells
}

fn parse_line(line: &str) -> Option<(String, String, String)> {
    // The value starts after the first ':' not inside a quoted parameter.
    let mut quoted = false;
    let split = line.char_indices().find(|(_, c)| {
        if *c == '"' {
            quoted = !quoted;
        }
        *c == ':' && !quoted
    })?;
    let (head, value) = (&line[..split.0], &line[split.0 + 1..]);
    let (name, params) = head.split_once(';').unwrap_or((head, ""));
    let name = name
        .rsplit('.')
        .next()
        .unwrap_or(name)
        .trim()
        .to_ascii_uppercase();
    Some((name, params.to_owned(), value.to_owned()))
}

impl Session {
    /// Imports contacts from a vCard 3.0/4.0 file, all or nothing, like [`Session::import_csv`].
    pub fn import_vcard(
        &mut self,
        path: &Path,
        options: &ImportOptions,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        let writer = RowWriter::new(self)?;
        let mut report = ImportReport::new("vcard", options.dry_run);
        let file = File::open(path).map_err(|source| Error::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        let total = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let mut reader = BufReader::with_capacity(64 * 1024, file);
        let dry_run = options.dry_run;
        let mut intentional = false;
        let result = self.write_bulk(|tx, audit| {
            let mut card: Option<Card> = None;
            let mut card_no = 0u64;
            let mut card_ok = true;
            let mut logical = String::new();
            let mut raw = Vec::new();
            let mut read = 0u64;
            let mut line_no = 0u64;
            loop {
                raw.clear();
                let n = reader
                    .read_until(b'\n', &mut raw)
                    .map_err(|source| Error::Io {
                        context: "reading the vCard file".into(),
                        source,
                    })?;
                read += n as u64;
                let text = if n == 0 {
                    None
                } else {
                    line_no += 1;
                    let bytes = if line_no == 1 {
                        raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&raw)
                    } else {
                        &raw
                    };
                    match std::str::from_utf8(bytes) {
                        Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
                        Err(_) => {
                            if card.is_some() && card_ok {
                                card_ok = false;
                                report.rows += 1;
                                report.reject(
                                    card_no,
                                    None,
                                    format!("line {line_no} is not UTF-8 text"),
                                );
                            }
                            continue;
                        }
                    }
                };
                // Unfolding: a line starting with a space or tab continues the previous one.
                if let Some(text) = &text
                    && (text.starts_with(' ') || text.starts_with('\t'))
                {
                    logical.push_str(&text[1..]);
                    continue;
                }
                let complete = std::mem::take(&mut logical);
                if let Some(text) = &text {
                    logical = text.clone();
                }
                if !complete.trim().is_empty() {
                    let Some((name, params, value)) = parse_line(&complete) else {
                        if card.is_some() && card_ok {
                            card_ok = false;
                            report.rows += 1;
                            report.reject(
                                card_no,
                                None,
                                format!(
                                    "line {} is not a vCard property",
                                    line_no.saturating_sub(1)
                                ),
                            );
                        }
                        if text.is_none() { break } else { continue }
                    };
                    match (name.as_str(), card.as_mut()) {
                        ("BEGIN", None) if value.eq_ignore_ascii_case("VCARD") => {
                            card = Some(Vec::new());
                            card_no += 1;
                            card_ok = true;
                        }
                        ("END", Some(_)) if value.eq_ignore_ascii_case("VCARD") => {
                            let done = card.take().unwrap_or_default();
                            if card_ok {
                                report.rows += 1;
                                let cells = card_cells(&done);
                                let cells: Vec<Cell<'_>> = cells
                                    .iter()
                                    .map(|(target, column, value)| Cell {
                                        target,
                                        column,
                                        value: value.clone(),
                                    })
                                    .collect();
                                writer.apply(tx, card_no, &cells, &mut report, audit)?;
                                if report.rows.is_multiple_of(10_000) {
                                    progress(Progress {
                                        step: format!("importing: {} cards", report.rows),
                                        done: read.min(total),
                                        total,
                                    });
                                }
                            }
                        }
                        (_, Some(props)) => props.push((name, params, value)),
                        (_, None) => {
                            report.rows += 1;
                            report.reject(
                                card_no + 1,
                                None,
                                format!(
                                    "text outside BEGIN:VCARD … END:VCARD near line {}",
                                    line_no.saturating_sub(1)
                                ),
                            );
                        }
                    }
                }
                if text.is_none() {
                    break;
                }
            }
            if card.is_some() {
                report.rows += 1;
                report.reject(card_no, None, "the card has no END:VCARD");
            }
            finish(
                &mut report,
                dry_run,
                audit,
                &mut intentional,
                total,
                progress,
            )
        });
        settle(result, intentional, report)
    }
}

/// Escapes a text value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Writes one content line folded at 75 octets (never inside a UTF-8 character), CRLF.
fn write_line(out: &mut dyn Write, line: &str) -> std::io::Result<()> {
    let mut width = 0;
    let mut first = true;
    for c in line.chars() {
        let len = c.len_utf8();
        let limit = if first { 75 } else { 74 };
        if width + len > limit {
            out.write_all(b"\r\n ")?;
            width = 0;
            first = false;
        }
        let mut buf = [0u8; 4];
        out.write_all(c.encode_utf8(&mut buf).as_bytes())?;
        width += len;
    }
    out.write_all(b"\r\n")
}

fn text_of(record: &RecordView, name: &str) -> Option<String> {
    match record.value(name)? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn list_of(record: &RecordView, name: &str) -> Vec<String> {
    match record.value(name) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(text)) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// Writes one contact view as a vCard 4.0 (visible values only).
pub(crate) fn write_card(out: &mut dyn Write, record: &RecordView) -> std::io::Result<()> {
    write_line(out, "BEGIN:VCARD")?;
    write_line(out, "VERSION:4.0")?;
    let first = text_of(record, "first_name").unwrap_or_default();
    let last = text_of(record, "last_name").unwrap_or_default();
    let full = [first.as_str(), last.as_str()]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    write_line(
        out,
        &format!(
            "FN:{}",
            escape(if full.is_empty() {
                &record.title
            } else {
                &full
            })
        ),
    )?;
    write_line(out, &format!("N:{};{};;;", escape(&last), escape(&first)))?;
    let company = record
        .fields
        .iter()
        .find(|field| field.name == "company_id")
        .and_then(|field| field.display.clone());
    if let Some(company) = company {
        write_line(out, &format!("ORG:{}", escape(&company)))?;
    }
    if let Some(title) = text_of(record, "job_title") {
        write_line(out, &format!("TITLE:{}", escape(&title)))?;
    }
    for email in list_of(record, "emails") {
        write_line(out, &format!("EMAIL:{}", escape(&email)))?;
    }
    for phone in list_of(record, "phones") {
        write_line(out, &format!("TEL;VALUE=text:{}", escape(&phone)))?;
    }
    if let Some(address) = text_of(record, "address") {
        write_line(out, &format!("ADR:;;{};;;;", escape(&address)))?;
    }
    if let Some(birthday) = text_of(record, "birthday") {
        write_line(out, &format!("BDAY:{}", birthday.replace('-', "")))?;
    }
    if let Some(notes) = text_of(record, "notes") {
        write_line(out, &format!("NOTE:{}", escape(&notes)))?;
    }
    write_line(out, "END:VCARD")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = Vec::new();
        let line = format!("NOTE:{}", "ж".repeat(60));
        write_line(&mut out, &line).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        for physical in text.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{}", physical.len());
        }
        let unfolded = text.replace("\r\n ", "");
        assert_eq!(unfolded.trim_end(), line);
    }

    #[test]
    fn structured_values_split_on_unescaped_semicolons() {
        assert_eq!(
            split_unescaped("Doe\\;Jr;Jane;;;", ';'),
            vec!["Doe;Jr", "Jane", "", "", ""]
        );
        assert_eq!(unescape("a\\nb\\, c\\\\"), "a\nb, c\\");
        let (name, _, value) =
            parse_line("item1.EMAIL;TYPE=\"work:x\":jane@x.example").expect("line");
        assert_eq!((name.as_str(), value.as_str()), ("EMAIL", "jane@x.example"));
    }
}
