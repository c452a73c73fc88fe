//! An import row's cells sorted by where they go (fields, links, tags, the stage, the won/lost
//! status) and each field's value parsed by the field registry's rules.

use super::*;

impl RowWriter {
    /// Sorts the non-empty cells by target: several columns may feed one field (address
    /// parts, email columns), a full name fills first and last name, and the layout's defaults
    /// fill fields no column gave.
    pub(super) fn sort_cells<'a>(&'a self, cells: &[Cell<'a>]) -> RowResult<RowCells<'a>> {
        let mut row = RowCells::default();
        for cell in cells {
            let value = cell.value.trim();
            if value.is_empty() {
                continue;
            }
            let link = Some((cell.column, value));
            match cell.target {
                Target::Ignore => {}
                Target::Company => row.company = link,
                Target::Contact => row.contact = link,
                Target::Deal => row.deal = link,
                Target::Stage => row.stage = link,
                Target::Status => row.status = link,
                Target::FullName => row.full_name = link,
                Target::Tags => row.tags.extend(
                    values::split_tags(value)
                        .into_iter()
                        .map(|tag| (cell.column, tag)),
                ),
                Target::Field(name) => {
                    let Some(field) = self.fields.iter().find(|field| field.name == *name) else {
                        continue;
                    };
                    match row.fields.iter_mut().find(|item| item.field.name == *name) {
                        Some(item) => {
                            let separator = match field.kind {
                                Kind::Text | Kind::DateTime => " ",
                                _ => ", ",
                            };
                            item.text.push_str(separator);
                            item.text.push_str(value);
                            item.columns.push(cell.column);
                            item.order = item.order.or(cell.date_order);
                        }
                        None => row.fields.push(Gathered {
                            field,
                            text: value.to_owned(),
                            columns: vec![cell.column],
                            order: cell.date_order,
                        }),
                    }
                }
            }
        }
        if row.fields.is_empty()
            && row.full_name.is_none()
            && row.tags.is_empty()
            && row.link_cells().iter().all(|(_, cell)| cell.is_none())
        {
            return reject(None, "the row is empty");
        }
        let field = |name: &str| self.fields.iter().find(|field| field.name == name);
        if let Some((column, name)) = row.full_name
            && !row.has("last_name")
        {
            let (first, last) = match name.rsplit_once(' ') {
                Some((first, last)) => (Some(first.trim()), last.trim()),
                None => (None, name),
            };
            if let (Some(first), Some(field)) = (first, field("first_name"))
                && !row.has("first_name")
            {
                row.fields.push(Gathered {
                    field,
                    text: first.to_owned(),
                    columns: vec![column],
                    order: None,
                });
            }
            if let Some(field) = field("last_name") {
                row.fields.push(Gathered {
                    field,
                    text: last.to_owned(),
                    columns: vec![column],
                    order: None,
                });
            }
        }
        for (name, value) in &self.defaults {
            if !row.has(name)
                && let Some(field) = field(name)
            {
                row.fields.push(Gathered {
                    field,
                    text: value.clone(),
                    columns: Vec::new(),
                    order: None,
                });
            }
        }
        Ok(row)
    }

    /// Tidies, checks and parses every value as `create` / `update` would; required fields and
    /// tag lengths are checked too.
    pub(super) fn parse_fields<'r>(
        &self,
        row: &'r RowCells<'_>,
        cells: &[Cell<'_>],
    ) -> RowResult<Vec<Parsed<'r, 'r>>> {
        let mut parsed: Vec<Parsed<'_, '_>> = Vec::with_capacity(row.fields.len());
        for item in &row.fields {
            let field = item.field;
            let column = columns_text(&item.columns);
            if !view::visible(&self.role, field, self.role.clearance) {
                return reject(
                    column.as_deref(),
                    format!("the {} field is above your clearance", field.label),
                );
            }
            let value = match values::normalise(field, &item.text, item.order) {
                Ok(value) => value,
                Err(why) => return reject(column.as_deref(), format!("{}: {why}", field.label)),
            };
            if value.is_empty() && !field.required {
                continue;
            }
            match parse_value(field, &text_value(&value)) {
                Ok(stored) => parsed.push((field, stored, &item.columns)),
                Err(error) => return reject(column.as_deref(), reason(&error)),
            }
        }
        for field in self.fields.iter().filter(|field| field.required) {
            if !parsed
                .iter()
                .any(|(parsed, _, _)| parsed.name == field.name)
            {
                let columns: Vec<&str> = cells
                    .iter()
                    .filter(|cell| match cell.target {
                        Target::Field(name) => *name == field.name,
                        Target::FullName => field.name == "last_name",
                        _ => false,
                    })
                    .map(|cell| cell.column)
                    .collect();
                return reject(
                    columns_text(&columns).as_deref(),
                    format!("{} is required", field.label),
                );
            }
        }
        for (column, tag) in &row.tags {
            if tag.chars().count() > MAX_TAG_CHARS {
                return reject(
                    Some(column),
                    format!("a tag is 1 to {MAX_TAG_CHARS} characters"),
                );
            }
        }
        Ok(parsed)
    }
}
