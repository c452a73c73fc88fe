//! Field values for `add` and `edit`. `--set FIELD=VALUE` puts the value on the command line,
//! where every user of the machine can read it in the process list (`ps`, `/proc/PID/cmdline`)
//! while the command runs; customer data belongs in `--set-stdin` (lines from standard input)
//! or `--set-file FILE` instead.

use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;
use crm_core::records::RecordInput;
use crm_core::{Error, Result};

/// Where the values of `add` and `edit` come from (at least one; all may be combined, and a
/// field given twice takes its last value: --set, then --set-file, then --set-stdin).
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct SetArgs {
    /// FIELD=VALUE (repeatable); lists (emails, phones) are comma-separated; an empty VALUE
    /// clears the field. Other users of this machine can see it in the process list: give
    /// customer data with --set-stdin or --set-file
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Read FIELD=VALUE lines from standard input until it ends, after the password lines if
    /// passwords come from there too (one field per line; blank lines are skipped)
    #[arg(long)]
    set_stdin: bool,
    /// Read FIELD=VALUE lines from this file (as --set-stdin)
    #[arg(long, value_name = "FILE")]
    set_file: Option<PathBuf>,
}

impl SetArgs {
    /// The values given, read from wherever they were asked for.
    pub fn input(&self) -> Result<RecordInput> {
        let mut input = RecordInput::new();
        for set in &self.set {
            let (field, value) = set
                .split_once('=')
                .ok_or_else(|| Error::Invalid(format!("{set:?}: use FIELD=VALUE")))?;
            insert(&mut input, field, value);
        }
        if let Some(path) = &self.set_file {
            let file = std::fs::File::open(path).map_err(|source| Error::Io {
                context: format!("opening {}", path.display()),
                source,
            })?;
            read_lines(
                std::io::BufReader::new(file),
                &path.display().to_string(),
                &mut input,
            )?;
        }
        if self.set_stdin {
            // Standard input buffers globally: this reads on after any password lines.
            read_lines(std::io::stdin().lock(), "standard input", &mut input)?;
        }
        Ok(input)
    }
}

fn insert(input: &mut RecordInput, field: &str, value: &str) {
    input.insert(
        field.trim().to_owned(),
        serde_json::Value::String(value.to_owned()),
    );
}

/// FIELD=VALUE lines into `input`. A bad line is named by its number, never quoted: it may hold
/// the very value that was to be kept out of sight.
fn read_lines(reader: impl BufRead, source: &str, input: &mut RecordInput) -> Result<()> {
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|error| Error::Io {
            context: format!("reading {source}"),
            source: error,
        })?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let (field, value) = line.split_once('=').ok_or_else(|| {
            Error::Invalid(format!(
                "line {} of {source} has no '=': give one FIELD=VALUE per line",
                index + 1
            ))
        })?;
        insert(input, field, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_as_fields_and_a_bad_line_is_named_not_quoted() -> Result<()> {
        let mut input = RecordInput::new();
        read_lines(
            "last_name=Berg\r\n\nemails=a@b.se, c@d.se\nnotes=x=y\n".as_bytes(),
            "standard input",
            &mut input,
        )?;
        assert_eq!(input["last_name"], "Berg");
        assert_eq!(input["emails"], "a@b.se, c@d.se");
        assert_eq!(input["notes"], "x=y");
        let error = read_lines("first_name=Ann\nsecret-value\n".as_bytes(), "f", &mut input)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(error.contains("line 2 of f"), "{error}");
        assert!(!error.contains("secret-value"), "{error}");
        Ok(())
    }
}
