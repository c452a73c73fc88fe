// The display helpers of the work screens: money grouping, the end of the week that bounds
// "my tasks", and the groups tasks fall in.
import { describe, expect, it } from "vitest";
import { about, dueGroup, endOfWeek, formatMoney, localDayStart } from "./records";

describe("money", () => {
  it("groups thousands without touching the cents", () => {
    expect(formatMoney("12500.00")).toBe("12,500.00");
    expect(formatMoney("1234567.89")).toBe("1,234,567.89");
    expect(formatMoney("999.99")).toBe("999.99");
    expect(formatMoney("-1250.50")).toBe("-1,250.50");
    expect(formatMoney("0.00")).toBe("0.00");
  });

  it("leaves text that is not a plain amount alone", () => {
    expect(formatMoney("••••")).toBe("••••");
    expect(formatMoney("")).toBe("");
  });
});

describe("my tasks", () => {
  // Wednesday 25 November 2026, 10:00 local time.
  const wednesday = new Date(2026, 10, 25, 10, 0, 0);

  it("ends the week on Sunday night", () => {
    const end = endOfWeek(wednesday);
    expect([end.getFullYear(), end.getMonth(), end.getDate(), end.getDay()]).toEqual([2026, 10, 29, 0]);
    expect([end.getHours(), end.getMinutes()]).toEqual([23, 59]);
  });

  it("keeps Sunday's own tasks in this week", () => {
    const sunday = new Date(2026, 10, 29, 8, 0, 0);
    expect(endOfWeek(sunday).getDate()).toBe(29);
  });

  it("groups tasks as overdue, today and later this week", () => {
    expect(dueGroup(new Date(2026, 10, 24, 9, 0).toISOString(), wednesday)).toBe("overdue");
    expect(dueGroup(new Date(2026, 10, 25, 9, 0).toISOString(), wednesday)).toBe("today");
    expect(dueGroup(new Date(2026, 10, 25, 16, 0).toISOString(), wednesday)).toBe("today");
    expect(dueGroup(new Date(2026, 10, 27, 9, 0).toISOString(), wednesday)).toBe("week");
  });
});

describe("task due dates", () => {
  it("reads a typed day as the start of that local day", () => {
    const start = new Date(localDayStart("2026-11-30"));
    expect([start.getFullYear(), start.getMonth(), start.getDate(), start.getHours()]).toEqual([2026, 10, 30, 0]);
    expect(localDayStart("")).toBe("");
  });
});

describe("what an activity is about", () => {
  const ref = (name: string, value: string | null, masked: string | null = null) => ({
    name,
    label: name,
    kind: "deal_ref",
    level: "Internal" as const,
    value,
    masked,
    revealable: false,
    link: null,
  });
  const record = (fields: ReturnType<typeof ref>[]) => ({
    entity: "activity" as const,
    id: 1,
    title: "Call",
    owner: "olivia",
    mine: true,
    team: null,
    created_at: "",
    created_by: null,
    updated_at: "",
    updated_by: null,
    tags: [],
    fields,
    may_edit: false,
    may_delete: false,
  });

  it("is the deal first, then the contact, then the company", () => {
    expect(about(record([ref("company_id", "Acme"), ref("contact_id", "Anna Berg")]))?.name).toBe("contact_id");
    expect(about(record([ref("company_id", "Acme"), ref("deal_id", "Renewal")]))?.name).toBe("deal_id");
  });

  it("counts a reference not shared with the reader, and skips empty ones", () => {
    expect(about(record([ref("deal_id", null, "not shared with you"), ref("company_id", "Acme")]))?.name).toBe("deal_id");
    expect(about(record([ref("deal_id", null), ref("company_id", "Acme")]))?.name).toBe("company_id");
    expect(about(record([]))).toBeUndefined();
  });
});
