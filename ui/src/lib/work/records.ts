// What the work screens show per kind of record: names, list columns, sort choices, and small
// helpers over the core's record shape (values arrive as display text, already masked).
import type { FieldValue_Serialize as FieldValue, RecordDetail_Serialize as RecordDetail } from "../bindings";

export type EntityName = "company" | "contact" | "deal" | "activity" | "note";

export const ENTITY_LABEL: Record<EntityName, { one: string; many: string }> = {
  company: { one: "Company", many: "Companies" },
  contact: { one: "Contact", many: "Contacts" },
  deal: { one: "Deal", many: "Deals" },
  activity: { one: "Activity", many: "Activities" },
  note: { one: "Note", many: "Notes" },
};

/** Columns of each list after the title (field names). */
export const LIST_COLUMNS: Record<EntityName, string[]> = {
  company: ["industry", "phone", "website"],
  contact: ["company_id", "emails", "phones"],
  deal: ["company_id", "stage_id", "value", "expected_close"],
  activity: ["kind", "due_at", "done"],
  note: ["body"],
};

/** Sort choices of each list: [field, label]. */
export const SORTS: Record<EntityName, [string, string][]> = {
  company: [["updated_at", "Last changed"], ["name", "Name"], ["industry", "Industry"]],
  contact: [["updated_at", "Last changed"], ["last_name", "Last name"], ["first_name", "First name"]],
  deal: [["updated_at", "Last changed"], ["title", "Title"], ["value", "Value"], ["expected_close", "Expected close"]],
  activity: [["due_at", "Due"], ["updated_at", "Last changed"], ["subject", "Subject"]],
  note: [["updated_at", "Last changed"]],
};

export function field(record: RecordDetail, name: string): FieldValue | undefined {
  return record.fields.find((f) => f.name === name);
}

/** The field's visible text, or null when hidden or empty. */
export function text(record: RecordDetail, name: string): string | null {
  return field(record, name)?.value ?? null;
}

/** "2026-11-22T09:00:00Z" → "22 Nov 2026, 09:00" (dates alone stay dates). */
export function formatWhen(value: string | null): string {
  if (!value) return "";
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) {
    return new Date(`${value}T00:00:00`).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  }
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) return value;
  return at.toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** Display text for one cell or detail row. */
export function shown(f: FieldValue): string {
  if (f.value === null) return "";
  if (f.kind === "date_time" || f.kind === "date") return formatWhen(f.value);
  if (f.kind === "bool") return f.value === "true" ? "Yes" : "No";
  return f.value;
}

/** Today as YYYY-MM-DD in local time. */
export function today(offsetDays = 0): string {
  const d = new Date();
  d.setDate(d.getDate() + offsetDays);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
