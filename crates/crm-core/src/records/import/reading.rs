//! Reading a CSV file: its encoding (chosen or sniffed from the first 64 KiB), its separator
//! (told from the header row or an Excel `sep=` line), and the day/month order of its date
//! columns, streamed one record at a time.

use std::io::Read;

use serde::Serialize;

use super::*;
use crate::error::{Error, Result};

/// The character encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceEncoding {
    /// Sniff the first 64 KiB.
    Auto,
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// Windows-1252 (Western European Excel exports).
    Windows1252,
    /// Windows-1251 (Cyrillic Excel exports).
    Windows1251,
}

impl SourceEncoding {
    /// Parses `auto`, `utf-8`, `windows-1252`, `windows-1251` (also `cp1252`, `utf8`…).
    pub fn parse(text: &str) -> Result<Self> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Ok(Self::Auto),
            "utf-8" | "utf8" => Ok(Self::Utf8),
            "windows-1252" | "cp1252" | "latin1" => Ok(Self::Windows1252),
            "windows-1251" | "cp1251" => Ok(Self::Windows1251),
            _ => Err(Error::Invalid(format!(
                "unknown encoding {text:?}; use utf-8, windows-1252 or windows-1251"
            ))),
        }
    }

    /// Name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Utf8 => "utf-8",
            Self::Windows1252 => "windows-1252",
            Self::Windows1251 => "windows-1251",
        }
    }
}

/// Sniffs the encoding of the first bytes of a file (BOM already stripped or not).
pub fn detect_encoding(sample: &[u8]) -> SourceEncoding {
    let sample = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    match std::str::from_utf8(sample) {
        Ok(_) => return SourceEncoding::Utf8,
        // Cut in the middle of a character at the end of the sample: still UTF-8.
        Err(error) if error.error_len().is_none() => return SourceEncoding::Utf8,
        Err(_) => {}
    }
    // Cyrillic words are runs of high bytes; Western accented letters sit between ASCII letters.
    let high = |byte: u8| byte >= 0x80;
    let mut cyrillic = 0usize;
    let mut western = 0usize;
    for (index, &byte) in sample.iter().enumerate() {
        if !high(byte) {
            continue;
        }
        let before = index.checked_sub(1).and_then(|i| sample.get(i)).copied();
        let after = sample.get(index + 1).copied();
        let high_neighbour = before.is_some_and(high) || after.is_some_and(high);
        let ascii_letter_neighbour = before.is_some_and(|b| b.is_ascii_alphabetic())
            || after.is_some_and(|b| b.is_ascii_alphabetic());
        let as_1251 = decode_char(encoding_rs::WINDOWS_1251, byte);
        let as_1252 = decode_char(encoding_rs::WINDOWS_1252, byte);
        if high_neighbour && as_1251.is_alphabetic() {
            cyrillic += 1;
        }
        if ascii_letter_neighbour && as_1252.is_alphabetic() {
            western += 1;
        }
    }
    if cyrillic > western {
        SourceEncoding::Windows1251
    } else {
        SourceEncoding::Windows1252
    }
}

pub(crate) fn decode_char(encoding: &'static encoding_rs::Encoding, byte: u8) -> char {
    let bytes = [byte];
    let (text, _) = encoding.decode_without_bom_handling(&bytes);
    text.chars().next().unwrap_or('\u{fffd}')
}

/// How a CSV file is laid out beyond its encoding: where the header starts and what separates
/// the fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CsvDialect {
    /// Bytes before the header row: a UTF-8 byte-order mark, an Excel `sep=` line.
    pub(crate) skip: u64,
    /// `,`, `;` or tab.
    pub(crate) delimiter: u8,
}

impl CsvDialect {
    /// Reads the dialect from the file's first bytes. Excel writes `;` where the decimal
    /// separator is a comma (most of Europe) and tabs for "Unicode text", and may name the
    /// separator outright in a first `sep=;` line. Otherwise the separator is the one of `,`
    /// `;` and tab that occurs most often, outside quotes, in the header row; a tie is a comma.
    pub(crate) fn sniff(sample: &[u8], encoding: SourceEncoding) -> Self {
        let bom: &[u8] = b"\xEF\xBB\xBF";
        let skip = if encoding == SourceEncoding::Utf8 && sample.starts_with(bom) {
            bom.len()
        } else {
            0
        };
        let rest = &sample[skip..];
        let line_end = rest
            .iter()
            .position(|&byte| byte == b'\n')
            .unwrap_or(rest.len());
        let first = &rest[..line_end];
        let first = first.strip_suffix(b"\r").unwrap_or(first);
        if let [b's' | b'S', b'e' | b'E', b'p' | b'P', b'=', named] = first {
            return Self {
                skip: (skip + line_end + 1) as u64,
                delimiter: *named,
            };
        }
        let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
        let mut quoted = false;
        for &byte in first {
            if byte == b'"' {
                quoted = !quoted;
            } else if let Some(slot) = counts.iter_mut().find(|(delimiter, _)| *delimiter == byte)
                && !quoted
            {
                slot.1 += 1;
            }
        }
        // `max_by_key` keeps the last of equals: walk backwards so a tie goes to the comma.
        let (delimiter, _) = counts
            .into_iter()
            .rev()
            .max_by_key(|(_, count)| *count)
            .unwrap_or((b',', 0));
        Self {
            skip: skip as u64,
            delimiter,
        }
    }

    /// The separator's name for reports.
    pub(crate) fn separator_name(self) -> String {
        match self.delimiter {
            b',' => "comma".into(),
            b';' => "semicolon".into(),
            b'\t' => "tab".into(),
            other => format!("{:?}", char::from(other)),
        }
    }
}

/// A CSV reader over the file from the header row on (after any BOM or `sep=` line), decoding
/// a code page to UTF-8.
pub(crate) fn csv_reader<'a>(
    source: &ImportSource<'a>,
    encoding: SourceEncoding,
    dialect: CsvDialect,
) -> Result<csv::Reader<Box<dyn Read + 'a>>> {
    let file = source.open_at(dialect.skip)?;
    let buffered = std::io::BufReader::with_capacity(64 * 1024, file);
    let source: Box<dyn Read + 'a> = match encoding {
        SourceEncoding::Windows1252 | SourceEncoding::Windows1251 => {
            let code_page = if encoding == SourceEncoding::Windows1252 {
                encoding_rs::WINDOWS_1252
            } else {
                encoding_rs::WINDOWS_1251
            };
            Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(code_page))
                    .build(buffered),
            )
        }
        _ => Box::new(buffered),
    };
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(dialect.delimiter)
        .from_reader(source))
}

/// Reads the whole file once for what its date columns say about day/month order.
pub(crate) fn scan_date_columns(
    source: &ImportSource<'_>,
    encoding: SourceEncoding,
    dialect: CsvDialect,
    columns: &[usize],
) -> Result<Vec<dates::ColumnEvidence>> {
    let mut reader = csv_reader(source, encoding, dialect)?;
    let mut record = csv::ByteRecord::new();
    let mut evidence = vec![dates::ColumnEvidence::default(); columns.len()];
    let mut header = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            // Broken rows are reported by the import pass itself.
            Err(error) if !matches!(error.kind(), csv::ErrorKind::Io(_)) => continue,
            Err(error) => {
                return Err(source.error(std::io::Error::other(csv_reason(&error))));
            }
        }
        if std::mem::take(&mut header) {
            continue;
        }
        for (slot, &index) in evidence.iter_mut().zip(columns) {
            if let Some(text) = record
                .get(index)
                .and_then(|cell| std::str::from_utf8(cell).ok())
            {
                slot.add(text);
            }
        }
    }
    Ok(evidence)
}

pub(crate) fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} columns, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "is not valid text in the chosen encoding".into(),
        csv::ErrorKind::Io(error) => format!("read error: {error}"),
        _ => "is not valid CSV".into(),
    }
}
