// The schedule editor's presets turn into the text crm-core reads, and a saved schedule shows
// as its preset again.
import { describe, expect, it } from "vitest";
import { OFFICE_HOURS, choiceFor, scheduleText } from "./schedule";

describe("schedule presets", () => {
  it("write the schedule text crm-core reads", () => {
    expect(scheduleText({ preset: "office-hours", time: "", custom: "" })).toBe(OFFICE_HOURS);
    expect(scheduleText({ preset: "daily", time: " 13:00 ", custom: "" })).toBe("daily 13:00");
    expect(scheduleText({ preset: "every-24h", time: "", custom: "" })).toBe("every 24h");
    expect(scheduleText({ preset: "off", time: "", custom: "" })).toBe("off");
    expect(scheduleText({ preset: "custom", time: "", custom: " daily mon-sat 12:30,18:00 " })).toBe("daily mon-sat 12:30,18:00");
  });

  it("show a saved schedule as its preset, anything else as custom", () => {
    expect(choiceFor(OFFICE_HOURS).preset).toBe("office-hours");
    expect(choiceFor("daily 13:00")).toMatchObject({ preset: "daily", time: "13:00" });
    expect(choiceFor("every 24h").preset).toBe("every-24h");
    expect(choiceFor("off").preset).toBe("off");
    expect(choiceFor("daily mon-sat 12:30,18:00")).toMatchObject({ preset: "custom", custom: "daily mon-sat 12:30,18:00" });
    expect(choiceFor("every 6h")).toMatchObject({ preset: "custom", custom: "every 6h" });
  });
});
