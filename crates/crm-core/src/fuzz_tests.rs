//! Fuzz properties for the parsers of untrusted input that this module owns: backup settings and
//! role JSON, CSV import and vCard import. Arbitrary bytes (and bytes shaped to get past the
//! first checks: a real header, a card's frame) go through the same entry points the CLI and the
//! desktop use. The properties: no panic; every refusal is an error that says what is wrong
//! (never a database or crypto failure); a refused or dry-run import writes nothing.
//!
//! The normal test run tries a bounded number of cases. A long run, e.g. before a release:
//!
//! ```sh
//! PROPTEST_CASES=20000 STRONGROOM_KDF=floor cargo test -p crm-core --lib fuzz_tests -- --nocapture
//! ```

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::backup::BackupSettings;
use crate::error::{Error, Result};
use crate::policy::RoleDef;
use crate::records::fields::Entity;
use crate::records::import::ImportOptions;
use crate::test_support::owner_vault;
use crate::vault::Session;

/// `PROPTEST_CASES` if set (long runs), else `quick` (the normal test run).
fn runner(quick: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(quick);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A refusal a user can act on: it has a message, and it is not an internal failure.
fn is_clear(error: &Error) -> bool {
    !error.to_string().trim().is_empty()
        && !matches!(
            error,
            Error::Crypto(_) | Error::DatabaseDamaged { .. } | Error::KeySlotsDamaged(_)
        )
}

/// Bytes that are mostly text: pieces a parser cares about (separators, quotes, line ends,
/// encodings' odd bytes) among arbitrary ones.
fn texty_bytes(pieces: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => proptest::sample::select(pieces).prop_map(|piece| piece.as_bytes().to_vec()),
        2 => "[a-zA-Z0-9 @.+()-]{0,12}".prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..6),
        1 => "\\PC{0,4}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

const JSON_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "-1",
    "4294967296",
    "1e999",
    "\\u0000",
    "\"destinations\"",
    "\"schedule\"",
    "\"interval_hours\"",
    "\"drill_interval_days\"",
    "\"retention\"",
    "\"extra_recipients\"",
    "\"/srv/backups\"",
    "\"daily 13:00\"",
    "\"every 4h\"",
    "\"hourly mon-fri 08:00-18:00\"",
    "\"age1\"",
    "\"name\"",
    "\"grants\"",
    "\"rights\"",
    "\"clearance\"",
    "\"others_clearance\"",
    "\"reveal\"",
    "\"contact\"",
];

#[test]
fn settings_and_role_json_never_panic_and_bad_json_is_a_clear_error() {
    let valid = serde_json::to_string(&BackupSettings::default()).unwrap_or_default();
    let valid_bytes = valid.into_bytes();
    let strategy = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        texty_bytes(JSON_PIECES),
        // A stored setting with bytes changed, inserted or cut.
        (0..valid_bytes.len(), texty_bytes(JSON_PIECES), 0usize..8).prop_map(
            move |(at, inserted, cut)| {
                let mut bytes = valid_bytes.clone();
                let end = (at + cut).min(bytes.len());
                bytes.splice(at..end, inserted);
                bytes
            }
        ),
    ];
    let outcome = runner(512).run(&strategy, |bytes| {
        let text = String::from_utf8_lossy(&bytes);
        match BackupSettings::from_json(&text) {
            Ok(settings) => {
                if let Err(error) = settings.validate() {
                    prop_assert!(is_clear(&error), "{error:?}");
                }
            }
            Err(error) => prop_assert!(is_clear(&error), "{error:?}"),
        }
        // Role definitions are stored as JSON too; a damaged one must fail the same way.
        let _ = serde_json::from_slice::<RoleDef>(&bytes);
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Customer records of every kind, for "a refused import wrote nothing".
fn records(session: &Session) -> Result<i64> {
    let mut total = 0;
    for entity in Entity::ALL {
        total += session.store().conn().query_row(
            &format!("SELECT count(*) FROM {}", entity.table()),
            [],
            |row| row.get::<_, i64>(0),
        )?;
    }
    Ok(total)
}

type Import =
    fn(&mut Session, &Path, &ImportOptions) -> Result<crate::records::import::ImportReport>;

/// Imports each generated file through `import` into one vault: no panic, clear refusals, and
/// nothing written unless the import says it committed.
fn fuzz_import(
    extension: &str,
    quick: u32,
    strategy: impl Strategy<Value = (Vec<u8>, Option<Entity>, bool)>,
    import: Import,
) -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let session = std::cell::RefCell::new(owner_vault(&dir.path().join("vault"))?);
    let file = dir.path().join(format!("input.{extension}"));
    let committed = std::cell::Cell::new(0u32);
    let mut runner = runner(quick);
    let cases = runner.config().cases;
    let outcome = runner.run(&strategy, |(bytes, entity, dry_run)| {
        let failed = |error: Error| TestCaseError::fail(error.to_string());
        std::fs::write(&file, &bytes).map_err(|error| TestCaseError::fail(error.to_string()))?;
        let mut session = session.borrow_mut();
        let before = records(&session).map_err(failed)?;
        let options = ImportOptions {
            entity,
            dry_run,
            ..ImportOptions::default()
        };
        let result = import(&mut session, &file, &options);
        let after = records(&session).map_err(failed)?;
        match result {
            Ok(report) => {
                committed.set(committed.get() + u32::from(report.committed));
                prop_assert!(
                    report.committed || after == before,
                    "uncommitted, yet written"
                );
                prop_assert!(!(dry_run && report.committed), "a dry run committed");
            }
            Err(error) => {
                prop_assert!(is_clear(&error), "{error:?}");
                prop_assert_eq!(after, before, "refused, yet written: {}", error);
            }
        }
        Ok(())
    });
    outcome.map_err(|failure| Error::Invalid(format!("{extension} import: {failure}")))?;
    // The shaped inputs must get past the header and into the writer, or this fuzzes nothing.
    if cases >= 64 && committed.get() == 0 {
        return Err(Error::Invalid(format!(
            "{extension} import: none of {cases} inputs was imported"
        )));
    }
    Ok(())
}

fn entity_and_dry_run() -> impl Strategy<Value = (Option<Entity>, bool)> {
    (
        proptest::option::of(proptest::sample::select(&Entity::ALL[..])),
        any::<bool>(),
    )
}

const CSV_PIECES: &[&str] = &[
    ",",
    ";",
    "\t",
    "\"",
    "\"\"",
    "\n",
    "\r\n",
    "\r",
    "\u{feff}",
    "sep=;\n",
    "\u{0}",
    "\u{e9}",
    "\u{fffd}",
    "first_name",
    "last_name",
    "emails",
    "phones",
    "birthday",
    "tags",
    "company",
    "name",
    "title",
    "value",
    "stage",
    "status",
    "deal",
    "contact",
    "owner",
    "Labels",
    "E-mail Address",
    "Categories",
    "2026-02-30",
    "31/12/2026",
    "12/31/2026",
    "-1e308",
    "99999999999999999999",
    "a@b.example",
    "+1 (555) 123-4567",
    "Won",
    "Lost",
];

#[test]
fn csv_import_never_panics_and_refuses_bad_files_clearly_without_writing() -> Result<()> {
    let header = proptest::sample::select(
        &[
            "",
            "first_name,last_name,emails,phones,birthday,tags,company\n",
            "name,industry,phone,tags\n",
            "title,value,stage,company,contact,status\n",
            "First Name;Last Name;E-mail Address;Categories\n",
        ][..],
    );
    let strategy = (
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            (header, texty_bytes(CSV_PIECES)).prop_map(|(header, body)| {
                let mut bytes = header.as_bytes().to_vec();
                bytes.extend(body);
                bytes
            }),
        ],
        entity_and_dry_run(),
    )
        .prop_map(|(bytes, (entity, dry_run))| (bytes, entity, dry_run));
    // Well-formed rows of odd cells, so that imports also get through to the writer.
    let cell = prop_oneof![
        "[a-zA-Z]{1,10}",
        proptest::sample::select(CSV_PIECES)
            .prop_map(|piece| format!("\"{}\"", piece.replace('"', "\"\""))),
        "\\PC{1,8}".prop_map(|text| format!("\"{}\"", text.replace('"', "\"\""))),
    ];
    let rows =
        proptest::collection::vec(proptest::collection::vec(cell, 4), 1..6).prop_map(|rows| {
            let mut text = String::from("first_name,last_name,job_title,tags\n");
            for row in rows {
                text.push_str(&row.join(","));
                text.push('\n');
            }
            (text.into_bytes(), Some(Entity::Contact), false)
        });
    let strategy = prop_oneof![strategy, rows];
    fuzz_import("csv", 96, strategy, |session, path, options| {
        session.import_csv(path, options, &mut |_| {})
    })
}

const VCARD_PIECES: &[&str] = &[
    "BEGIN:VCARD\r\n",
    "END:VCARD\r\n",
    "VERSION:2.1\r\n",
    "VERSION:3.0\r\n",
    "VERSION:4.0\r\n",
    "FN:",
    "N:",
    ";",
    ",",
    ":",
    "\\",
    "\\n",
    "\\,",
    "\r\n",
    "\n",
    "\r\n ",
    "\r\n\t",
    "=\r\n",
    "=C3=A9",
    "=",
    "EMAIL;TYPE=work:",
    "TEL;TYPE=cell:",
    "BDAY:",
    "BDAY;X-APPLE-OMIT-YEAR=1604:",
    "--0415",
    "1604-04-15",
    "19800402",
    "ADR;TYPE=home:",
    "NOTE:",
    "CATEGORIES:",
    "ORG:",
    "TITLE:",
    "item1.EMAIL:",
    ";ENCODING=QUOTED-PRINTABLE",
    ";CHARSET=UTF-8",
    ";CHARSET=x-bad",
    "PHOTO;ENCODING=b:",
    "\u{feff}",
    "\u{e9}",
];

#[test]
fn vcard_import_never_panics_and_refuses_bad_files_clearly_without_writing() -> Result<()> {
    let strategy = (
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            texty_bytes(VCARD_PIECES),
            texty_bytes(VCARD_PIECES).prop_map(|body| {
                let mut bytes = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Berg\r\n".to_vec();
                bytes.extend(body);
                bytes.extend(b"\r\nEND:VCARD\r\n");
                bytes
            }),
        ],
        any::<bool>(),
    )
        .prop_map(|(bytes, dry_run)| (bytes, None, dry_run));
    // Well-formed cards with odd but valid values, so that imports also reach the writer.
    let card = (
        "[A-Za-z]{1,10}",
        "[A-Za-z]{1,10}",
        "[a-z]{1,8}",
        "[A-Za-z .]{0,20}",
    )
        .prop_map(|(first, last, mail, note)| {
            format!(
                "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:{first} {last}\r\nN:{last};{first};;;\r\n\
                 EMAIL:{mail}@example.com\r\nNOTE:{note}\r\nEND:VCARD\r\n"
            )
        });
    let cards = proptest::collection::vec(card, 1..4)
        .prop_map(|cards| (cards.concat().into_bytes(), None, false));
    let strategy = prop_oneof![strategy, cards];
    fuzz_import("vcf", 96, strategy, |session, path, options| {
        session.import_vcard(path, options, &mut |_| {})
    })
}
