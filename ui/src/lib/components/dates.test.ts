import { describe, expect, it } from "vitest";
import { isDate } from "./dates";

describe("typed dates", () => {
  it("accepts real dates written YYYY-MM-DD", () => {
    expect(isDate("2026-11-30")).toBe(true);
    expect(isDate("2028-02-29")).toBe(true);
  });

  it("refuses half-typed and impossible dates", () => {
    for (const text of ["", "2026-11", "2026-11-3", "30.11.2026", "2026-02-30", "2026-13-01"]) {
      expect(isDate(text)).toBe(false);
    }
  });
});
