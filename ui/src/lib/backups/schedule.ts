// The schedule editor's presets: what an owner picks in words, turned into the schedule text
// crm-core reads (and back, to show a saved schedule as its preset). crm-core validates the
// text and explains it; nothing here decides whether a schedule is valid.

export type SchedulePreset = "office-hours" | "daily" | "every-24h" | "off" | "custom";

/** Every hour during office hours, Monday to Friday. */
export const OFFICE_HOURS = "hourly mon-fri 08:00-18:00";

export interface ScheduleChoice {
  preset: SchedulePreset;
  /** The time of day for "daily at" (HH:MM as typed). */
  time: string;
  /** The text of a custom schedule, as typed. */
  custom: string;
}

export const PRESETS: { id: SchedulePreset; label: string; hint: string }[] = [
  { id: "office-hours", label: "Every hour during office hours", hint: "Monday to Friday, on the hour from 08:00 to 18:00" },
  { id: "daily", label: "Once a day at", hint: "every day, at the time you choose" },
  { id: "every-24h", label: "Every 24 hours", hint: "24 hours after the last good backup: for a computer that is often off" },
  { id: "off", label: "Off", hint: "only when someone clicks \"Back up now\"" },
  { id: "custom", label: "Custom", hint: "several times a day or some days only" },
];

/** The schedule text for a choice. */
export function scheduleText(choice: ScheduleChoice): string {
  switch (choice.preset) {
    case "office-hours":
      return OFFICE_HOURS;
    case "daily":
      return `daily ${choice.time.trim()}`;
    case "every-24h":
      return "every 24h";
    case "off":
      return "off";
    case "custom":
      return choice.custom.trim();
  }
}

/** The preset a saved (canonical) schedule text is shown as; anything else is custom. */
export function choiceFor(text: string): ScheduleChoice {
  const daily = /^daily (\d{2}:\d{2})$/.exec(text);
  if (text === OFFICE_HOURS) return { preset: "office-hours", time: "13:00", custom: text };
  if (daily) return { preset: "daily", time: daily[1], custom: text };
  if (text === "every 24h") return { preset: "every-24h", time: "13:00", custom: text };
  if (text === "off") return { preset: "off", time: "13:00", custom: text };
  return { preset: "custom", time: "13:00", custom: text };
}
