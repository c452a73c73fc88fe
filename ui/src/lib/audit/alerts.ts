// Alerts in words: the banner after unlock and the audit viewer's Alerts tab say what an
// alert is about the same way. Kinds are crm-core's (watched actions, and the vault's own).

const VAULT_ALERTS: Record<string, string> = {
  backup_failed: "a backup, verification or restore drill failed",
  audit_head_missing: "the audit trail's head file was missing",
  audit_head_mismatch: "the audit trail's head file does not match the database",
  audit_prune_refused: "audit retention could not prune: an entry does not verify",
};

const USER_ALERTS: Record<string, string> = {
  unlock_failed: "failed sign-ins for",
  view: "unusually many records viewed by",
  export: "unusually many exports by",
  search: "unusually many searches by",
  reveal: "unusually many reveals by",
};

/** What an alert is about, in words. */
export function alertText(kind: string, user: string): string {
  if (VAULT_ALERTS[kind]) return VAULT_ALERTS[kind];
  if (USER_ALERTS[kind]) return `${USER_ALERTS[kind]} ${user}`;
  const who = user && user !== "-" ? ` (${user})` : "";
  return `${kind.replaceAll("_", " ")}${who}`;
}

/** Whether the alert concerns one user's activity (it has a count against their usual). */
export function isUserAlert(kind: string): boolean {
  return kind in USER_ALERTS;
}
