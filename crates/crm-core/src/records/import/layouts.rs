//! Which record type a CSV file holds and where each column goes, from its header row.
//!
//! The export layouts of HubSpot, Salesforce and Pipedrive (contacts, companies, deals,
//! activities, and HubSpot's notes), Google Contacts and Outlook are recognised by their
//! signature headers; the layout whose signature matches most headers wins, and a tie between
//! layouts of different record types is reported as ambiguous rather than guessed. A file in no
//! known layout (our own export, a hand-made sheet) is matched against each record type's field
//! names and common header words; the type that maps the most columns and has a column for its
//! required field wins, again only when no other type does as well. `--entity` settles any
//! doubt, and `--map "Header=field"` wins over everything for single columns.

mod known;

use super::super::EffectiveField;
use super::super::fields::Entity;
use super::Target;
use crate::error::{Error, Result};
use known::{EXPORT_ONLY, words};
pub(crate) use known::{LAYOUTS, Layout};

/// What the header row says.
pub(crate) struct Detected {
    /// The record type of the rows.
    pub entity: Entity,
    /// The layout's name, `strongroom` (our own export) or `generic`.
    pub layout: &'static str,
    /// One target per column.
    pub targets: Vec<Target>,
    /// Values for fields the layout does not carry.
    pub defaults: &'static [(&'static str, &'static str)],
}

fn same(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

/// The target of one header without a layout: a field name, a companion column of our export,
/// or a common header word.
fn generic_target(entity: Entity, header: &str, fields: &[EffectiveField]) -> Option<Target> {
    let lower = header.trim().to_ascii_lowercase();
    if EXPORT_ONLY.contains(&lower.as_str()) {
        return Some(Target::Ignore);
    }
    let word = words(entity)
        .iter()
        .find(|(word, _)| *word == lower)
        .map(|(_, target)| *target)
        .unwrap_or(lower.as_str());
    Target::parse(word, entity, fields).ok()
}

/// Applies `--map` pairs over `targets`; an unknown field or header is an error.
fn apply_explicit(
    headers: &[String],
    targets: &mut [Target],
    explicit: &[(String, String)],
    entity: Entity,
    fields: &[EffectiveField],
) -> Result<()> {
    for (header, field) in explicit {
        let target = Target::parse(field, entity, fields)?;
        let index = headers
            .iter()
            .position(|name| same(name, header))
            .ok_or_else(|| {
                Error::Invalid(format!("column mapping: the file has no column {header:?}"))
            })?;
        targets[index] = target;
    }
    Ok(())
}

/// Whether the targets fill the record type's required field (a contact's last name may come
/// from a full name), or the layout gives it a default.
pub(crate) fn covers_required(
    targets: &[Target],
    defaults: &[(&str, &str)],
    fields: &[EffectiveField],
) -> Option<String> {
    for field in fields.iter().filter(|field| field.required) {
        let mapped = targets.iter().any(|target| match target {
            Target::Field(name) => *name == field.name,
            Target::FullName => field.name == "last_name",
            _ => false,
        });
        let defaulted = defaults.iter().any(|(name, _)| *name == field.name);
        if !mapped && !defaulted {
            return Some(field.name.clone());
        }
    }
    None
}

/// Reads the header row: record type, layout and one target per column. `Ok(Err(reason))` is
/// a header the rows cannot be imported under (ambiguous); `Err` a bad `--map`.
pub(crate) fn detect(
    headers: &[String],
    requested: Option<Entity>,
    explicit: &[(String, String)],
    fields_of: &dyn Fn(Entity) -> Vec<EffectiveField>,
) -> Result<std::result::Result<Detected, String>> {
    let present = |name: &str| headers.iter().any(|header| same(header, name));
    let mut scored: Vec<(usize, &Layout)> = LAYOUTS
        .iter()
        .filter(|layout| requested.is_none_or(|entity| entity == layout.entity))
        .map(|layout| {
            let hits = layout.signature.iter().filter(|name| present(name)).count();
            (hits, layout)
        })
        .filter(|(hits, _)| *hits > 0)
        .collect();
    scored.sort_by_key(|(hits, _)| std::cmp::Reverse(*hits));
    if let Some(&(best, layout)) = scored.first() {
        let rivals: Vec<Entity> = scored
            .iter()
            .filter(|(hits, other)| *hits == best && other.entity != layout.entity)
            .map(|(_, other)| other.entity)
            .collect();
        if !rivals.is_empty() {
            return Ok(Err(ambiguous(layout.entity, rivals[0])));
        }
        let fields = fields_of(layout.entity);
        let mut targets: Vec<Target> = headers
            .iter()
            .map(|header| {
                layout
                    .columns
                    .iter()
                    .find(|(name, _)| same(name, header))
                    .and_then(|(_, target)| Target::parse(target, layout.entity, &fields).ok())
                    .or_else(|| {
                        // Columns the layout does not name may still be our field names.
                        let lower = header.trim().to_ascii_lowercase();
                        Target::parse(&lower, layout.entity, &fields)
                            .ok()
                            .filter(|target| matches!(target, Target::Field(_)))
                    })
                    .unwrap_or(Target::Ignore)
            })
            .collect();
        apply_explicit(headers, &mut targets, explicit, layout.entity, &fields)?;
        return Ok(Ok(Detected {
            entity: layout.entity,
            layout: layout.name,
            targets,
            defaults: layout.defaults,
        }));
    }
    // No known layout: the record type that maps most columns and has its required field.
    let candidates: Vec<Entity> = match requested {
        Some(entity) => vec![entity],
        None => Entity::ALL.to_vec(),
    };
    let mut fits: Vec<(usize, bool, Entity, Vec<Target>)> = Vec::new();
    let mut explicit_error = None;
    for entity in candidates {
        let fields = fields_of(entity);
        let mut targets: Vec<Target> = headers
            .iter()
            .map(|header| generic_target(entity, header, &fields).unwrap_or(Target::Ignore))
            .collect();
        if let Err(error) = apply_explicit(headers, &mut targets, explicit, entity, &fields) {
            explicit_error.get_or_insert(error);
            continue;
        }
        let mapped = targets.iter().filter(|t| **t != Target::Ignore).count();
        let complete = covers_required(&targets, &[], &fields).is_none();
        fits.push((mapped, complete, entity, targets));
    }
    // Complete fits first, then by mapped columns; contacts win a draw among incomplete ones
    // (the file's rows will then be told what is missing).
    fits.sort_by(|a, b| {
        (b.1, b.0)
            .cmp(&(a.1, a.0))
            .then_with(|| (b.2 == Entity::Contact).cmp(&(a.2 == Entity::Contact)))
    });
    let Some((mapped, complete, entity, targets)) = fits.first().cloned() else {
        return Err(explicit_error
            .unwrap_or_else(|| Error::Invalid("no record type fits the file's columns".into())));
    };
    if complete
        && let Some((_, _, rival, _)) = fits
            .iter()
            .skip(1)
            .find(|(other_mapped, other_complete, _, _)| *other_complete && *other_mapped == mapped)
    {
        return Ok(Err(ambiguous(entity, *rival)));
    }
    let fields = fields_of(entity);
    let ours = headers.iter().any(|header| same(header, "updated_at"))
        && headers
            .iter()
            .any(|header| fields.iter().any(|field| same(header, &field.name)));
    Ok(Ok(Detected {
        entity,
        layout: if ours { "strongroom" } else { "generic" },
        targets,
        defaults: &[],
    }))
}

fn ambiguous(one: Entity, other: Entity) -> String {
    format!(
        "the columns fit both {} and {}: choose the record type ({} or {})",
        one.table(),
        other.table(),
        one.name(),
        other.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields_of(entity: Entity) -> Vec<EffectiveField> {
        entity
            .fields()
            .iter()
            .map(|def| EffectiveField::from_builtin(def, def.level))
            .collect()
    }

    fn detect_headers(
        headers: &[&str],
        requested: Option<Entity>,
    ) -> std::result::Result<Detected, String> {
        let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        detect(&headers, requested, &[], &fields_of).expect("no --map")
    }

    #[test]
    fn each_layout_is_recognised_from_its_own_signature() {
        for layout in LAYOUTS {
            let detected = detect_headers(layout.signature, None)
                .unwrap_or_else(|why| panic!("{}: {why}", layout.name));
            assert_eq!(detected.layout, layout.name);
            assert_eq!(detected.entity, layout.entity);
        }
    }

    #[test]
    fn every_layout_target_is_a_target_of_its_record_type() {
        for layout in LAYOUTS {
            let fields = fields_of(layout.entity);
            for (header, target) in layout.columns {
                assert!(
                    Target::parse(target, layout.entity, &fields).is_ok(),
                    "{}: {header} → {target}",
                    layout.name
                );
            }
            for (field, _) in layout.defaults {
                assert!(
                    fields.iter().any(|candidate| candidate.name == *field),
                    "{}: default for {field}",
                    layout.name
                );
            }
        }
    }

    #[test]
    fn our_own_exports_are_told_apart_by_their_field_names() {
        for (headers, entity) in [
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "first_name",
                    "last_name",
                    "company",
                    "tags",
                ][..],
                Entity::Contact,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "name",
                    "website",
                    "industry",
                    "tags",
                ][..],
                Entity::Company,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "title",
                    "company",
                    "value",
                    "stage",
                    "tags",
                ][..],
                Entity::Deal,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "kind",
                    "subject",
                    "due_at",
                    "done",
                ][..],
                Entity::Activity,
            ),
            (
                &[
                    "id",
                    "owner",
                    "created_at",
                    "updated_at",
                    "body",
                    "company",
                    "contact",
                ][..],
                Entity::Note,
            ),
        ] {
            let detected = detect_headers(headers, None).expect("detected");
            assert_eq!(detected.entity, entity, "{headers:?}");
            assert_eq!(detected.layout, "strongroom");
        }
    }

    #[test]
    fn a_header_that_fits_two_record_types_equally_is_ambiguous_unless_chosen() {
        let why = match detect_headers(&["Name"], None) {
            Err(why) => why,
            Ok(detected) => panic!("detected {:?}", detected.entity),
        };
        assert!(why.contains("choose the record type"), "{why}");
        let chosen = detect_headers(&["Name"], Some(Entity::Company)).expect("chosen");
        assert_eq!(chosen.entity, Entity::Company);
        assert_eq!(chosen.targets, vec![Target::Field("name".into())]);
        let contact = detect_headers(&["Name", "Email"], None).expect("contact");
        assert_eq!(contact.entity, Entity::Contact);
    }
}
