//! Handing records to another user: who may, and what each side sees afterwards; and the
//! signed-in user's task list.

use super::fields::Entity;
use super::{ListQuery, RecordInput};
use crate::error::{Error, Result};
use crate::test_support::{add_user, login, owner_vault};

#[test]
fn the_owner_hands_a_contact_to_a_rep_who_then_works_it_but_cannot_give_it_away() -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let mut owner = owner_vault(dir.path())?;
    add_user(&mut owner, "rita", "Sales Representative")?;
    let input: RecordInput = [
        ("last_name", serde_json::json!("Berg")),
        ("phones", serde_json::json!("+1 555 0199 123")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let id = owner.create(Entity::Contact, &input)?;
    let mut rep = login(dir.path(), "rita")?;
    assert!(matches!(
        rep.show(Entity::Contact, id),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(rep.assignable_users(), Err(Error::Forbidden(_))));

    assert!(matches!(
        owner.reassign(Entity::Contact, id, "nobody"),
        Err(Error::NotFound(_))
    ));
    owner.reassign(Entity::Contact, id, "rita")?;
    assert_eq!(owner.assignable_users()?, ["olivia", "rita"]);
    let seen = rep.show(Entity::Contact, id)?;
    assert!(seen.mine);
    assert_eq!(seen.owner, "rita");
    assert!(matches!(
        rep.reassign(Entity::Contact, id, "olivia"),
        Err(Error::Forbidden(_))
    ));
    Ok(())
}

#[test]
fn a_task_due_exactly_at_the_bound_is_in_the_due_list() -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let mut owner = owner_vault(dir.path())?;
    let input: RecordInput = [
        ("kind", serde_json::json!("task")),
        ("subject", serde_json::json!("Call back")),
        ("due_at", serde_json::json!("2026-11-24 09:00")),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let id = owner.create(Entity::Activity, &input)?;
    for bound in ["2026-11-24T09:00:00Z", "2026-11-24T10:00:00+01:00"] {
        let page = owner.list(
            Entity::Activity,
            &ListQuery {
                due_before: Some(bound.into()),
                ..ListQuery::default()
            },
        )?;
        assert_eq!(
            page.records
                .iter()
                .map(|record| record.id)
                .collect::<Vec<_>>(),
            [id],
            "due before {bound}"
        );
    }
    let page = owner.list(
        Entity::Activity,
        &ListQuery {
            due_before: Some("2026-11-24T08:59:59Z".into()),
            ..ListQuery::default()
        },
    )?;
    assert!(page.records.is_empty());
    Ok(())
}
