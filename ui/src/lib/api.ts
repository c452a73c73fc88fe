// Thin helpers over the generated bindings: unwrap `{status, data|error}` into a value or a
// thrown `AppError`, so screens can use try/catch and show `message` next to the form.
import type { ApiError as CommandError } from "./bindings";

/** A command failure with the shell's stable `code`. */
export class AppError extends Error {
  readonly code: string;
  readonly retryAfterSecs: number | null;
  constructor(error: CommandError) {
    super(error.message);
    this.code = error.code;
    this.retryAfterSecs = error.retry_after_secs ?? null;
  }
}

type Res<T> = { status: "ok"; data: T } | { status: "error"; error: CommandError };

/** Returns the data or throws an `AppError`. */
export async function call<T>(result: Promise<Res<T>>): Promise<T> {
  const r = await result;
  if (r.status === "error") throw new AppError(r.error);
  return r.data;
}

/** A message for any thrown value (framework errors arrive as strings). A `busy` answer (a
 *  long operation holds the vault for a while) reads as a request to wait, not a failure. */
export function messageOf(error: unknown): string {
  if (error instanceof AppError && error.code === "busy") return `Please wait: ${error.message}.`;
  if (error instanceof Error) return error.message;
  if (typeof error === "string") return error;
  return "unexpected error";
}

/** Calls `ping` at most once per `intervalMs` however often `poke` is called. */
export function throttle(ping: () => void, intervalMs: number): () => void {
  let last = -Infinity;
  return () => {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      ping();
    }
  };
}

/** Maps the core's strength verdict to a 0–4 meter level. */
export function strengthLevel(verdict: string): number {
  return { weak: 1, fair: 2, good: 3, strong: 4 }[verdict] ?? 0;
}

/** "in 3 min", "12 s" style countdown text. */
export function formatWait(secs: number): string {
  if (secs >= 120) return `${Math.ceil(secs / 60)} min`;
  return `${secs} s`;
}
