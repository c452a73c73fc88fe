// Alerts read as words in the banner and the audit viewer.
import { describe, expect, it } from "vitest";
import { alertText, isUserAlert } from "./alerts";

describe("alerts in words", () => {
  it("name the user for activity alerts and leave the placeholder user out for the vault's", () => {
    expect(alertText("unlock_failed", "sam")).toBe("failed sign-ins for sam");
    expect(alertText("backup_failed", "-")).toBe("a backup, verification or restore drill failed");
    expect(alertText("something_new", "-")).toBe("something new");
    expect(alertText("something_new", "rita")).toBe("something new (rita)");
    expect(isUserAlert("view")).toBe(true);
    expect(isUserAlert("audit_head_missing")).toBe(false);
  });
});
