//! Where an import reads from: a file on this machine, or bytes that travelled from a
//! workstation (the desktop and a remote client send a file's content, never its path).
//!
//! The CSV importer reads its source more than once (a sample to tell the encoding and
//! separator, a pass over the date columns, the import itself), so a source opens afresh
//! each time.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// What to import from.
#[derive(Debug, Clone, Copy)]
pub enum ImportSource<'a> {
    /// A file on this machine.
    File(&'a Path),
    /// A file's content, with its name (for messages and to tell vCard from CSV).
    Bytes {
        /// The file name as the user chose it (`contacts.vcf`).
        name: &'a str,
        /// Its bytes.
        content: &'a [u8],
    },
}

impl<'a, P: AsRef<Path> + ?Sized> From<&'a P> for ImportSource<'a> {
    fn from(path: &'a P) -> Self {
        ImportSource::File(path.as_ref())
    }
}

impl<'a> ImportSource<'a> {
    /// A file's content that arrived with its name.
    pub fn bytes(name: &'a str, content: &'a [u8]) -> Self {
        ImportSource::Bytes { name, content }
    }

    /// The name to show in messages.
    pub fn name(&self) -> String {
        match self {
            ImportSource::File(path) => path.display().to_string(),
            ImportSource::Bytes { name, .. } => (*name).to_owned(),
        }
    }

    /// Whether the name says vCard (`.vcf`, `.vcard`); anything else is read as CSV.
    pub fn is_vcard(&self) -> bool {
        let name = match self {
            ImportSource::File(path) => path.to_string_lossy(),
            ImportSource::Bytes { name, .. } => (*name).into(),
        };
        Path::new(name.as_ref())
            .extension()
            .and_then(|extension| extension.to_str())
            .is_some_and(|extension| {
                extension.eq_ignore_ascii_case("vcf") || extension.eq_ignore_ascii_case("vcard")
            })
    }

    /// Its size in bytes (0 when a file cannot say), for progress.
    pub fn len(&self) -> u64 {
        match self {
            ImportSource::File(path) => std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0),
            ImportSource::Bytes { content, .. } => content.len() as u64,
        }
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens it from the start, skipping the first `skip` bytes.
    pub(crate) fn open_at(&self, skip: u64) -> Result<Box<dyn Read + 'a>> {
        match *self {
            ImportSource::File(path) => {
                let mut file = File::open(path).map_err(|source| self.error(source))?;
                std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(skip))
                    .map_err(|source| self.error(source))?;
                Ok(Box::new(file))
            }
            ImportSource::Bytes { content, .. } => {
                let start = usize::try_from(skip)
                    .unwrap_or(usize::MAX)
                    .min(content.len());
                Ok(Box::new(&content[start..]))
            }
        }
    }

    /// A read failure, naming the source.
    pub(crate) fn error(&self, source: std::io::Error) -> Error {
        Error::Io {
            context: format!("reading {}", self.name()),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_files_read_the_same_from_any_offset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("people.csv");
        std::fs::write(&path, b"name\nAda\n").expect("write");
        let content = std::fs::read(&path).expect("read");
        for source in [
            ImportSource::from(&path),
            ImportSource::bytes("people.csv", &content),
        ] {
            let mut text = String::new();
            source
                .open_at(5)
                .expect("open")
                .read_to_string(&mut text)
                .expect("read");
            assert_eq!(text, "Ada\n");
            assert_eq!(source.len(), 9);
            assert!(!source.is_vcard());
        }
        assert!(ImportSource::bytes("Phone.VCF", b"").is_vcard());
        let mut beyond = Vec::new();
        ImportSource::bytes("x.csv", b"ab")
            .open_at(10)
            .expect("open")
            .read_to_end(&mut beyond)
            .expect("read");
        assert!(beyond.is_empty());
    }
}
