//! Golden test of the audit chain's MAC input, like the key-slot and manifest goldens: every
//! entry's MAC is HMAC-SHA256 under the chain key over the previous entry's MAC, a newline and
//! the entry's body, a compact JSON array of its columns in a fixed order. Vaults in the field
//! hold chains MACed this way; a change here makes every existing trail fail to verify, so it
//! must be a decision (a new format next to this one), never an accident.

use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use rusqlite::OptionalExtension;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Actor, AuditAction, AuditEvent, AuditKey, append};
use crate::error::Result;

/// The first entry's body, byte for byte: seq, at, user, role, workstation, action, entity,
/// record id, field, old value, new value, level, detail (its JSON text).
const FIRST_BODY: &str = r#"[1,"2026-01-02T03:04:05.000006Z","olivia","Owner","desk-7","update","contact","42","email","a@example.com","b@example.com",2,"{\"reason\":\"golden\"}"]"#;

/// The second entry's body: no user, role, target or values (a failed unlock by nobody known).
const SECOND_BODY: &str = r#"[2,"2026-01-02T03:04:06.000000Z",null,null,"desk-8","unlock_failed",null,null,null,null,null,0,"{}"]"#;

const GOLDEN_KEY: [u8; 32] = *b"strongroom-golden-audit-key-32b!";

/// The documented construction, written out here without the product's code.
fn documented_mac(prev_mac: &str, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&GOLDEN_KEY).expect("any key length");
    mac.update(prev_mac.as_bytes());
    mac.update(b"\n");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Frozen MACs of the two entries (the first chains from `genesis`).
const FIRST_MAC: &str = "f9264f369f9b967da674adea565509e0a9121faca12d610c26ab8ed91a4304a0";
const SECOND_MAC: &str = "38d65964e737fd7785ea4941beb524ce85af45dc1420d4b0120902d260921be5";

#[test]
fn the_audit_chain_mac_input_is_frozen() -> Result<()> {
    // Only the trail's own tables: the chain needs nothing else.
    #[allow(clippy::disallowed_types, clippy::disallowed_methods)]
    let conn = rusqlite::Connection::open_in_memory()?;
    conn.execute_batch(crate::schema::audit::MIGRATION)?;
    let key = AuditKey(Zeroizing::new(GOLDEN_KEY));
    let at = |second, micros| {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, second)
            .single()
            .expect("a valid time")
            + chrono::Duration::microseconds(micros)
    };
    let first = AuditEvent::new(AuditAction::Update)
        .target("contact", 42)
        .field("email", 2)
        .change(Some("a@example.com".into()), Some("b@example.com".into()))
        .detail("reason", "golden");
    let olivia = Actor {
        user: Some("olivia"),
        role: Some("Owner"),
        workstation: "desk-7",
    };
    let head = append(&conn, &key, olivia, at(5, 6), &first)?;
    let nobody = Actor {
        user: None,
        role: None,
        workstation: "desk-8",
    };
    let second = AuditEvent::new(AuditAction::UnlockFailed);
    let head2 = append(&conn, &key, nobody, at(6, 0), &second)?;

    // The bodies the documented construction MACs give the stored MACs...
    assert_eq!(head.mac, documented_mac("genesis", FIRST_BODY));
    assert_eq!(head2.mac, documented_mac(&head.mac, SECOND_BODY));
    // ...which are frozen: the same key and entries give the same chain forever.
    assert_eq!(head.mac, FIRST_MAC);
    assert_eq!(head2.mac, SECOND_MAC);
    let stored: Option<(String, String)> = conn
        .query_row(
            "SELECT prev_mac, mac FROM audit_log WHERE seq = 2",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    assert_eq!(stored, Some((FIRST_MAC.to_owned(), SECOND_MAC.to_owned())));
    Ok(())
}
