//! `docs/access-control.md`, generated from the role templates and the field registry.

use super::*;
use crate::vocab::Entity;

/// `docs/access-control.md`, generated from [`templates`] and the field registry so the
/// documented defaults cannot drift from the code (a test compares the committed file).
pub fn access_control_doc() -> String {
    use crate::vocab::{Kind, MaskStyle};
    let mut doc = String::from(
        "# Access control: the default matrix\n\n\
         Generated from `crm_core::policy::templates()` and the field registry by\n\
         `STRONGROOM_UPDATE_DOCS=1 cargo test -p crm-core access_control_doc`; a test fails if this\n\
         file and the code disagree. The owner changes roles and classifications in settings or\n\
         with `crm role …` and `crm field classify …`; changes apply to open sessions at once.\n\n\
         ## How a field is shown\n\n\
         - A role sees a field when its level is at or below the role's **clearance** on records the\n\
           user owns, or the role's **others' clearance** on records owned by someone else.\n\
         - **Financial** fields also need the `view_financial` right; without it they are absent, not\n\
           even masked.\n\
         - Above clearance, phones and ids show `•••• 1234` (last four, only when the value has at\n\
           least eight characters) and emails `j•••@example.com`; other fields are absent.\n\
         - **Highly Confidential** values show `••••`; roles with the `reveal` right reveal one value\n\
           at a time with a reason, recorded in the audit trail. Only Highly Confidential values are\n\
           revealed: anything lower is shown or hidden by clearance alone.\n\
         - **Tags** are Internal: they show, filter and search where the reader sees a record's\n\
           Internal fields. A record's owner, team, times and who created and last changed it show\n\
           with every record the reader may view.\n\
         - Search only matches index columns at or below what the reader may see on each record;\n\
           filtering or sorting on a field above clearance is refused (the due and done filters of\n\
           activities follow their fields, the tag filter the tags' level). Records outside the\n\
           scope are \"not found\".\n\
         - Changes reach every record they touch: deleting a record with linked records needs edit\n\
           scope (to detach) or delete scope (to delete) on each of them, and a refusal counts only\n\
           the linked records the user may view.\n\
         - Nobody reclassifies, relabels or deletes a field they cannot see at its current level, or\n\
           classifies one above their own clearance.\n\n## Roles\n\n",
    );
    doc.push_str("| role | clearance (own) | clearance (others') | rights |\n|---|---|---|---|\n");
    for role in templates() {
        let rights: Vec<&str> = role.rights.iter().map(|right| right.name()).collect();
        doc.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            role.name,
            role.clearance.label(),
            role.others_clearance.label(),
            if rights.is_empty() {
                "—".to_owned()
            } else {
                rights.join(", ")
            }
        ));
    }
    doc.push_str("\n## Scopes per entity and action\n\nScopes: `own` records the user owns, `team` the user's team's, `all` every record, `—` none.\n\nA team is made by putting a user in it (the Users screen, or `crm user set-team`). A record belongs to the team of the user who created it, or to the team it is given later; `team` reaches the records of the user's own team.\n");
    for role in templates() {
        doc.push_str(&format!(
            "\n### {}\n\n{}\n\n| entity |",
            role.name, role.description
        ));
        for action in Action::ALL {
            doc.push_str(&format!(" {} |", action.name()));
        }
        doc.push_str("\n|---|");
        doc.push_str(&"---|".repeat(Action::ALL.len()));
        doc.push('\n');
        for entity in Entity::ALL {
            doc.push_str(&format!("| {} |", entity.table()));
            for action in Action::ALL {
                let scope = role.scope(entity, action);
                doc.push_str(&format!(
                    " {} |",
                    if scope == Scope::None {
                        "—"
                    } else {
                        scope.name()
                    }
                ));
            }
            doc.push('\n');
        }
    }
    doc.push_str("\n## Rights\n\n| right | meaning |\n|---|---|\n");
    for right in Right::ALL {
        doc.push_str(&format!(
            "| `{}` | {} |\n",
            right.name(),
            right.explanation()
        ));
    }
    doc.push_str("\n## Default field classification\n\n| entity | field | level | financial | shown above clearance as |\n|---|---|---|---|---|\n");
    for entity in Entity::ALL {
        for field in entity.fields() {
            let mask = match (field.kind, field.mask) {
                (_, MaskStyle::LastFour) => "`•••• 1234`",
                (_, MaskStyle::Email) => "`j•••@example.com`",
                (Kind::Emails | Kind::Phones, MaskStyle::Absent) | (_, MaskStyle::Absent) => {
                    "absent"
                }
            };
            doc.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                entity.name(),
                field.name,
                field.level.label(),
                if field.financial { "yes" } else { "" },
                mask
            ));
        }
    }
    doc
}
