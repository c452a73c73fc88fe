//! Writing records as vCards (3.0 or 4.0): escaping, folding long lines at 75 octets, and one
//! card per contact with the fields the reader may see.

use std::io::Write;

use super::super::import::dates::NO_YEAR;
use super::super::view::RecordView;
use super::VcardVersion;

/// Escapes a text value.
pub(super) fn escape(text: &str) -> String {
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
pub(super) fn write_line(out: &mut dyn Write, line: &str) -> std::io::Result<()> {
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

pub(super) fn text_of(record: &RecordView, name: &str) -> Option<String> {
    match record.value(name)? {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub(super) fn list_of(record: &RecordView, name: &str) -> Vec<String> {
    match record.value(name) {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(serde_json::Value::String(text)) => vec![text.clone()],
        _ => Vec::new(),
    }
}

/// The BDAY line: year-less birthdays (stored with [`NO_YEAR`]) in each version's form.
pub(super) fn birthday_line(birthday: &str, version: VcardVersion) -> String {
    let year_less = birthday
        .strip_prefix(&format!("{NO_YEAR}-"))
        .filter(|rest| rest.len() == 5);
    match (year_less, version) {
        (Some(month_day), VcardVersion::V4) => format!("BDAY:--{}", month_day.replace('-', "")),
        (Some(_), VcardVersion::V3) => format!("BDAY;X-APPLE-OMIT-YEAR={NO_YEAR}:{birthday}"),
        (None, VcardVersion::V4) => format!("BDAY:{}", birthday.replace('-', "")),
        (None, VcardVersion::V3) => format!("BDAY:{birthday}"),
    }
}

/// Writes one contact view as a vCard of `version` (visible values only).
pub(crate) fn write_card(
    out: &mut dyn Write,
    record: &RecordView,
    version: VcardVersion,
) -> std::io::Result<()> {
    write_line(out, "BEGIN:VCARD")?;
    write_line(out, &format!("VERSION:{}", version.name()))?;
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
    let (email_prefix, tel_prefix) = match version {
        VcardVersion::V3 => ("EMAIL;TYPE=INTERNET:", "TEL:"),
        VcardVersion::V4 => ("EMAIL:", "TEL;VALUE=text:"),
    };
    for email in list_of(record, "emails") {
        write_line(out, &format!("{email_prefix}{}", escape(&email)))?;
    }
    for phone in list_of(record, "phones") {
        write_line(out, &format!("{tel_prefix}{}", escape(&phone)))?;
    }
    if let Some(address) = text_of(record, "address") {
        write_line(out, &format!("ADR:;;{};;;;", escape(&address)))?;
    }
    if let Some(birthday) = text_of(record, "birthday") {
        write_line(out, &birthday_line(&birthday, version))?;
    }
    if let Some(notes) = text_of(record, "notes") {
        write_line(out, &format!("NOTE:{}", escape(&notes)))?;
    }
    if !record.tags.is_empty() {
        let tags: Vec<String> = record.tags.iter().map(|tag| escape(tag)).collect();
        write_line(out, &format!("CATEGORIES:{}", tags.join(",")))?;
    }
    write_line(out, "END:VCARD")
}
