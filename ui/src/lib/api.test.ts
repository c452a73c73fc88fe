// Front-end unit tests: the IPC wrapper over the generated bindings (with Tauri's mockIPC)
// and the small helpers the screens rely on.
import { afterEach, describe, expect, it, vi } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { commands } from "./bindings";
import { AppError, call, formatWait, messageOf, strengthLevel, throttle } from "./api";

afterEach(() => clearMocks());

describe("calling commands", () => {
  it("sends the unlock arguments the Rust command expects", async () => {
    const seen: Array<{ cmd: string; args: unknown }> = [];
    mockIPC((cmd, args) => {
      seen.push({ cmd, args });
      return { user: "olivia", role: "Owner", can_manage_users: true, can_view_audit: true, failed_unlocks: 0, warnings: [], auto_lock_secs: 600 };
    });
    const session = await call(commands.unlock("olivia", "pw", "/media/usb/k.key"));
    expect(session.role).toBe("Owner");
    expect(seen).toEqual([{ cmd: "unlock", args: { user: "olivia", password: "pw", keyFile: "/media/usb/k.key" } }]);
  });

  it("turns a command error into an AppError with its code", async () => {
    mockIPC(() => {
      throw { code: "throttled", message: "too many failed unlock attempts", retry_after_secs: 30 };
    });
    const failure = await call(commands.unlock("olivia", "x", null)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(AppError);
    expect((failure as AppError).code).toBe("throttled");
    expect((failure as AppError).retryAfterSecs).toBe(30);
    expect(messageOf(failure)).toBe("too many failed unlock attempts");
  });
});

describe("helpers", () => {
  it("maps the core's zxcvbn scores onto the meter", () => {
    expect([null, 0, 1, 2, 3, 4].map(strengthLevel)).toEqual([0, 0, 1, 2, 3, 4]);
    expect([-1, 7].map(strengthLevel)).toEqual([0, 4]);
  });

  it("formats waits in seconds, then minutes", () => {
    expect(formatWait(45)).toBe("45 s");
    expect(formatWait(600)).toBe("10 min");
  });

  it("throttles activity pings", () => {
    vi.useFakeTimers();
    const ping = vi.fn();
    const poke = throttle(ping, 1000);
    poke();
    poke();
    expect(ping).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1001);
    poke();
    expect(ping).toHaveBeenCalledTimes(2);
    vi.useRealTimers();
  });

  it("asks politely to wait when a long operation holds the vault", async () => {
    mockIPC(() => {
      throw { code: "busy", message: "a backup is running: this can be done as soon as it finishes", retry_after_secs: null };
    });
    const failure = await call(commands.listUsers()).catch((e: unknown) => e);
    expect(messageOf(failure)).toBe("Please wait: a backup is running: this can be done as soon as it finishes.");
  });

  it("explains a framework error given as a string", () => {
    expect(messageOf("command unlock not allowed")).toBe("command unlock not allowed");
  });
});
