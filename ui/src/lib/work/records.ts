// What the work screens show per kind of record: names, list columns, sort choices, and small
// helpers over the core's record shape (values arrive as display text, already masked).
import type { FieldValue_Serialize as FieldValue, RecordDetail_Serialize as RecordDetail, RecordKind } from "../bindings";

/** A kind of record: the core's own enum, so a renamed kind breaks this build. */
export type EntityName = RecordKind;

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

/** What an activity or note is about: its deal, else its contact, else its company — the
 *  first reference it holds, named or shown as not shared (the core decides which). */
export function about(record: RecordDetail): FieldValue | undefined {
  return ["deal_id", "contact_id", "company_id"]
    .map((name) => field(record, name))
    .find((f) => f !== undefined && (f.value !== null || f.masked !== null));
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
  if (f.kind === "money") return formatMoney(f.value);
  return f.value;
}

/**
 * The core's money text (`12500.00`, `-1250.5`) with thousands grouped: `12,500.00`. Works on
 * the text, so no amount is rounded through floating point; anything else is left as it is.
 * (The core reads `12,500.00` back as the same amount.)
 */
export function formatMoney(text: string): string {
  const match = /^(-?)(\d+)(\.\d+)?$/.exec(text.trim());
  if (!match) return text;
  const [, sign, whole, fraction = ""] = match;
  return `${sign}${whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${fraction}`;
}

/** The end of this week (Sunday 23:59:59.999, local time) as an RFC 3339 instant. */
export function endOfWeek(now = new Date()): Date {
  const end = new Date(now);
  const daysToSunday = (7 - end.getDay()) % 7;
  end.setDate(end.getDate() + daysToSunday);
  end.setHours(23, 59, 59, 999);
  return end;
}

export type DueGroup = "overdue" | "today" | "week";

/** Which group of "my tasks" a due time falls in, by local calendar day: before today is
 *  overdue, today is today (also earlier today), anything later is "week". */
export function dueGroup(due: string, now = new Date()): DueGroup {
  const at = new Date(due);
  const startOfToday = new Date(now);
  startOfToday.setHours(0, 0, 0, 0);
  if (at.getTime() < startOfToday.getTime()) return "overdue";
  const endOfToday = new Date(now);
  endOfToday.setHours(23, 59, 59, 999);
  return at.getTime() <= endOfToday.getTime() ? "today" : "week";
}

/** A date typed as YYYY-MM-DD as the start of that day in local time (RFC 3339, UTC), so a
 *  task due "on the 30th" is due on the 30th wherever the office is. "" stays "". */
export function localDayStart(date: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return date;
  const [year, month, day] = match.slice(1).map(Number);
  return new Date(year, month - 1, day).toISOString();
}

/** Today as YYYY-MM-DD in local time. */
export function today(offsetDays = 0): string {
  const d = new Date();
  d.setDate(d.getDate() + offsetDays);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
