//! vCard import (2.1, 3.0 and 4.0, through the same row path and rules as CSV import) and
//! export (3.0 or 4.0, through the role view, folded at 75 octets with CRLF line ends).
//!
//! Import unfolds continuation lines and quoted-printable soft line breaks, drops property
//! groups (`item1.EMAIL`), decodes quoted-printable values and `CHARSET=` code pages (vCard 2.1
//! as Outlook writes it), unescapes `\n`, `\,`, `\;` and `\\`, splits structured values (N,
//! ADR, ORG) on unescaped `;`, and reads FN, N, EMAIL and TEL (any number; a `tel:` URI's
//! `;ext=` becomes ` x…`), ORG, TITLE, BDAY (also year-less `--0415` and Apple's
//! `X-APPLE-OMIT-YEAR`), ADR, NOTE and CATEGORIES (tags). A card with a value that cannot be
//! read is rejected with the property named. Cards are read one at a time, so memory does not
//! grow with the file.
//!
//! Export writes what the role may see. The versions differ in the version line, type
//! parameters and year-less birthdays: 4.0 writes `BDAY:--0415`, 3.0 writes
//! `BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15`, which address books that know no year-less dates
//! still read as a date.

use std::io::{BufRead, BufReader};

use serde::Serialize;

mod writing;

pub(crate) use writing::write_card;
#[cfg(test)]
use writing::{birthday_line, write_line};

use super::fields::Entity;
use super::import::{
    Cell, ImportOptions, ImportReport, ImportSource, RowWriter, Target, finish, settle,
};
use crate::error::{Error, Result};
use crate::vault::{Progress, ProgressFn, Session};

/// The vCard version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VcardVersion {
    /// vCard 3.0 (RFC 2426): what older address books and phones read.
    #[serde(rename = "3.0")]
    V3,
    /// vCard 4.0 (RFC 6350).
    #[serde(rename = "4.0")]
    V4,
}

impl VcardVersion {
    /// Parses `3.0` / `3` or `4.0` / `4`.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            "3.0" | "3" => Ok(Self::V3),
            "4.0" | "4" => Ok(Self::V4),
            _ => Err(Error::Invalid(format!(
                "unknown vCard version {text:?}; use 3.0 or 4.0"
            ))),
        }
    }

    /// `3.0` or `4.0`.
    pub fn name(self) -> &'static str {
        match self {
            Self::V3 => "3.0",
            Self::V4 => "4.0",
        }
    }
}

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

/// One property of a card: upper-case name without group, its parameters, its decoded value.
struct Property {
    name: String,
    params: Vec<String>,
    value: String,
}

impl Property {
    /// A `KEY=value` parameter's value (case-insensitive key).
    fn param(&self, key: &str) -> Option<&str> {
        param(&self.params, key)
    }
}

fn param<'a>(params: &'a [String], key: &str) -> Option<&'a str> {
    params.iter().find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case(key)
            .then(|| value.trim().trim_matches('"'))
    })
}

/// Whether a parameter list says the value is quoted-printable (`ENCODING=QUOTED-PRINTABLE`,
/// or vCard 2.1's bare `QUOTED-PRINTABLE`).
fn is_quoted_printable(params: &[String]) -> bool {
    params.iter().any(|param| {
        let param = param.trim();
        param.eq_ignore_ascii_case("QUOTED-PRINTABLE")
            || param.split_once('=').is_some_and(|(key, value)| {
                key.eq_ignore_ascii_case("ENCODING")
                    && value.eq_ignore_ascii_case("QUOTED-PRINTABLE")
            })
    })
}

fn is_base64(params: &[String]) -> bool {
    params.iter().any(|param| {
        let param = param.trim();
        param.eq_ignore_ascii_case("BASE64")
            || param.split_once('=').is_some_and(|(key, value)| {
                key.eq_ignore_ascii_case("ENCODING")
                    && (value.eq_ignore_ascii_case("B") || value.eq_ignore_ascii_case("BASE64"))
            })
    })
}

/// Decodes quoted-printable bytes (`=C3=A9` → é); soft line breaks are already joined.
fn decode_quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let hex = |byte: u8| (byte as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'=' {
            let high = bytes.get(index + 1).copied().and_then(hex);
            let low = bytes.get(index + 2).copied().and_then(hex);
            if let (Some(high), Some(low)) = (high, low) {
                out.push((high * 16 + low) as u8);
                index += 3;
                continue;
            }
            if index + 1 == bytes.len() {
                break;
            }
        }
        out.push(byte);
        index += 1;
    }
    out
}

/// The head of a content line (name and parameters, split on `;` outside quotes) and where
/// the value starts (after the first `:` outside quotes).
fn split_head(line: &[u8]) -> Option<(Vec<String>, usize)> {
    let mut quoted = false;
    let colon = line.iter().position(|&byte| {
        if byte == b'"' {
            quoted = !quoted;
        }
        byte == b':' && !quoted
    })?;
    let head = std::str::from_utf8(&line[..colon]).ok()?;
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in head.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    Some((parts, colon + 1))
}

/// Parses one unfolded content line. `Ok(None)` is a property we do not read (binary data);
/// `Err((property, reason))` a value that cannot be decoded.
fn parse_line(line: &[u8]) -> std::result::Result<Option<Property>, (Option<String>, String)> {
    let Some((mut parts, start)) = split_head(line) else {
        return Err((None, "is not a vCard property (NAME:value)".into()));
    };
    let name_part = parts.remove(0);
    let name = name_part
        .rsplit('.')
        .next()
        .unwrap_or(&name_part)
        .trim()
        .to_ascii_uppercase();
    if is_base64(&parts) {
        return Ok(None);
    }
    let raw = &line[start..];
    let bytes = if is_quoted_printable(&parts) {
        decode_quoted_printable(raw)
    } else {
        raw.to_vec()
    };
    let value = match param(&parts, "CHARSET") {
        Some(label) => {
            let Some(encoding) = encoding_rs::Encoding::for_label(label.as_bytes()) else {
                return Err((Some(name), "names a CHARSET we do not know".into()));
            };
            let (text, _, had_errors) = encoding.decode(&bytes);
            if had_errors {
                return Err((Some(name), "is not valid text in its CHARSET".into()));
            }
            text.into_owned()
        }
        None => match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                return Err((Some(name), "is not UTF-8 text and gives no CHARSET".into()));
            }
        },
    };
    Ok(Some(Property {
        name,
        params: parts,
        // Quoted-printable line breaks are CRLF (`=0D=0A`); stored text uses LF.
        value: value.replace("\r\n", "\n"),
    }))
}

/// A phone value: a `tel:` URI's number with its `;ext=` as ` x…`, or the text as written.
fn phone(value: &str) -> String {
    let text = unescape(value);
    let Some(uri) = text.strip_prefix("tel:") else {
        return text;
    };
    let mut parts = uri.split(';');
    let number = parts.next().unwrap_or_default().to_owned();
    match parts.find_map(|part| part.strip_prefix("ext=")) {
        Some(extension) => format!("{number} x{extension}"),
        None => number,
    }
}

/// A BDAY value as a date the import reads: ISO dates, `19850415`, year-less `--0415`, a date
/// with a time; Apple's `X-APPLE-OMIT-YEAR` year becomes a year-less date.
fn birthday(property: &Property) -> String {
    let text = unescape(&property.value);
    let text = text.trim();
    let date = if text.starts_with("--") {
        text
    } else {
        text.split('T').next().unwrap_or_default()
    };
    match property.param("X-APPLE-OMIT-YEAR") {
        Some(year) if !year.is_empty() && date.starts_with(year) => {
            let rest = date[year.len()..].trim_start_matches('-');
            format!("--{rest}")
        }
        _ => date.to_owned(),
    }
}

/// Turns one card into import cells (column = property name).
fn card_cells(card: &[Property]) -> Vec<(Target, String, String)> {
    let mut cells = Vec::new();
    let field = |name: &str| Target::Field(name.into());
    for property in card {
        let value = &property.value;
        let name = property.name.clone();
        match property.name.as_str() {
            "FN" => cells.push((Target::FullName, name, unescape(value))),
            "N" => {
                let parts = split_unescaped(value, ';');
                let family = parts.first().cloned().unwrap_or_default();
                let given = parts.get(1).cloned().unwrap_or_default();
                cells.push((field("last_name"), name.clone(), family));
                cells.push((field("first_name"), name, given));
            }
            "EMAIL" => cells.push((field("emails"), name, unescape(value))),
            "TEL" => cells.push((field("phones"), name, phone(value))),
            "ORG" => {
                let org = split_unescaped(value, ';')
                    .into_iter()
                    .next()
                    .unwrap_or_default();
                cells.push((Target::Company, name, org));
            }
            "TITLE" => cells.push((field("job_title"), name, unescape(value))),
            "BDAY" => cells.push((field("birthday"), name, birthday(property))),
            "ADR" => {
                let parts: Vec<String> = split_unescaped(value, ';')
                    .into_iter()
                    .map(|part| part.trim().to_owned())
                    .filter(|part| !part.is_empty())
                    .collect();
                cells.push((field("address"), name, parts.join(", ")));
            }
            "NOTE" => cells.push((field("notes"), name, unescape(value))),
            "CATEGORIES" => {
                cells.push((Target::Tags, name, split_unescaped(value, ',').join(", ")))
            }
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

/// Whether an unfinished logical line is a quoted-printable value ending in a soft line break.
fn continues_quoted_printable(line: &[u8]) -> bool {
    line.ends_with(b"=")
        && split_head(line).is_some_and(|(mut parts, _)| {
            parts.remove(0);
            is_quoted_printable(&parts)
        })
}

impl Session {
    /// Imports contacts from a vCard 2.1/3.0/4.0 file, all or nothing, like
    /// [`Session::import_csv`]; attempts that are not committed are recorded in the audit trail.
    pub fn import_vcard<'a>(
        &mut self,
        source: impl Into<ImportSource<'a>>,
        options: &ImportOptions,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        let source = source.into();
        let result = self.import_vcard_cards(&source, options, progress);
        self.record_attempt("vcard", options, &result)?;
        result
    }

    fn import_vcard_cards(
        &mut self,
        source: &ImportSource<'_>,
        options: &ImportOptions,
        progress: ProgressFn<'_>,
    ) -> Result<ImportReport> {
        if options
            .entity
            .is_some_and(|entity| entity != Entity::Contact)
        {
            return Err(Error::Invalid("a vCard file holds contacts only".into()));
        }
        let writer = RowWriter::new(self, Entity::Contact, options, &[])?;
        let mut report = ImportReport::new("vcard", options.dry_run);
        report.entity = Some(Entity::Contact);
        let total = source.len();
        let mut reader = BufReader::with_capacity(64 * 1024, source.open_at(0)?);
        let dry_run = options.dry_run;
        let mut intentional = false;
        let result = self.write_bulk(|tx, audit| {
            let mut card: Option<Vec<Property>> = None;
            let mut card_no = 0u64;
            let mut card_ok = true;
            // The logical line being assembled, with the physical line it started on.
            let mut logical: Option<(u64, Vec<u8>)> = None;
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
                let physical = if n == 0 {
                    None
                } else {
                    line_no += 1;
                    let mut bytes: &[u8] = &raw;
                    if line_no == 1 {
                        bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                    }
                    while let Some(rest) = bytes
                        .strip_suffix(b"\n")
                        .or_else(|| bytes.strip_suffix(b"\r"))
                    {
                        bytes = rest;
                    }
                    Some(bytes.to_vec())
                };
                if let (Some(physical), Some((_, current))) = (&physical, &mut logical) {
                    if continues_quoted_printable(current) {
                        // Quoted-printable soft line break: the value goes on verbatim.
                        current.pop();
                        current.extend_from_slice(physical);
                        continue;
                    }
                    if physical.starts_with(b" ") || physical.starts_with(b"\t") {
                        // Folding: a line starting with a space or tab continues the last one.
                        current.extend_from_slice(&physical[1..]);
                        continue;
                    }
                }
                let at_end = physical.is_none();
                let complete =
                    std::mem::replace(&mut logical, physical.map(|line| (line_no, line)));
                let Some((start, line)) = complete else {
                    if at_end {
                        break;
                    }
                    continue;
                };
                if line.iter().all(u8::is_ascii_whitespace) {
                    if at_end {
                        break;
                    }
                    continue;
                }
                let property = match parse_line(&line) {
                    Ok(Some(property)) => property,
                    Ok(None) => {
                        if at_end {
                            break;
                        }
                        continue;
                    }
                    Err((column, why)) => {
                        if card.is_some() && card_ok {
                            card_ok = false;
                            report.rows += 1;
                            report.reject(
                                card_no,
                                column.as_deref(),
                                format!("line {start} {why}"),
                            );
                        } else if card.is_none() {
                            report.rows += 1;
                            report.reject(card_no + 1, None, format!("line {start} {why}"));
                        }
                        if at_end {
                            break;
                        }
                        continue;
                    }
                };
                match (property.name.as_str(), card.as_mut()) {
                    ("BEGIN", None) if property.value.trim().eq_ignore_ascii_case("VCARD") => {
                        card = Some(Vec::new());
                        card_no += 1;
                        card_ok = true;
                    }
                    ("END", Some(_)) if property.value.trim().eq_ignore_ascii_case("VCARD") => {
                        let done = card.take().unwrap_or_default();
                        if card_ok {
                            report.rows += 1;
                            let cells = card_cells(&done);
                            let cells: Vec<Cell<'_>> = cells
                                .iter()
                                .map(|(target, column, value)| Cell {
                                    target,
                                    column,
                                    value,
                                    date_order: None,
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
                    (_, Some(props)) => props.push(property),
                    (_, None) => {
                        report.rows += 1;
                        report.reject(
                            card_no + 1,
                            None,
                            format!("text outside BEGIN:VCARD … END:VCARD at line {start}"),
                        );
                    }
                }
                if at_end {
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
        let property = parse_line(b"item1.EMAIL;TYPE=\"work:x\":jane@x.example")
            .expect("line")
            .expect("property");
        assert_eq!(
            (property.name.as_str(), property.value.as_str()),
            ("EMAIL", "jane@x.example")
        );
    }

    #[test]
    fn quoted_printable_and_code_pages_are_decoded() {
        let property =
            parse_line(b"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Caf=C3=A9 =0D=0Anext")
                .expect("line")
                .expect("property");
        assert_eq!(property.value, "Café \nnext");
        let property = parse_line(b"N;CHARSET=windows-1252:M\xfcller;Zo\xeb")
            .expect("line")
            .expect("property");
        assert_eq!(property.value, "Müller;Zoë");
        let refused = parse_line(b"N:M\xfcller").err().expect("not utf-8");
        assert_eq!(refused.0.as_deref(), Some("N"));
        assert!(
            parse_line(b"PHOTO;ENCODING=b;TYPE=JPEG:AAAA")
                .expect("photo")
                .is_none()
        );
    }

    #[test]
    fn phone_extensions_and_year_less_birthdays_are_read() {
        assert_eq!(phone("tel:+1-555-555-0100;ext=123"), "+1-555-555-0100 x123");
        assert_eq!(phone("+44 20 7946 0123"), "+44 20 7946 0123");
        let apple = Property {
            name: "BDAY".into(),
            params: vec!["X-APPLE-OMIT-YEAR=1604".into()],
            value: "1604-04-15".into(),
        };
        assert_eq!(birthday(&apple), "--04-15");
        assert_eq!(birthday_line("1604-04-15", VcardVersion::V4), "BDAY:--0415");
        assert_eq!(
            birthday_line("1604-04-15", VcardVersion::V3),
            "BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15"
        );
        assert_eq!(
            birthday_line("1985-03-12", VcardVersion::V3),
            "BDAY:1985-03-12"
        );
    }
}
