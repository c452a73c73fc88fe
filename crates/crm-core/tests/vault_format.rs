//! An independent reader of the key-slot file, written only from `docs/vault-format.md`.
//!
//! It proves the document is precise enough: key-slot files written by the product (a fresh
//! vault, and the golden file caught mid-rotation) are checked and opened to the data key with
//! nothing but a JSON parser and the primitives the document names (SHA-256, Argon2id,
//! XChaCha20-Poly1305, age X25519, base64, hex). No parsing or opening code of crm-core's
//! `keyslot` module is used; crm-core only writes the vault and, at the end, confirms the key.

use std::path::Path;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use crm_core::{Credentials, KdfStrength, KeyFileDigest, NewUser, NewVault, Password, Vault};
use serde_json::Value;
use sha2::{Digest, Sha256};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// "Key-file digest": SHA-256 over the label and the file's bytes.
fn key_file_digest(contents: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"strongroom-keyfile-v1\0");
    hasher.update(contents);
    hasher.finalize().into()
}

/// "Uuids": the 16 bytes the 32 hex digits of the text spell, in order.
fn uuid_bytes(text: &str) -> TestResult<Vec<u8>> {
    let bytes = hex::decode(text.replace('-', ""))?;
    if bytes.len() != 16 {
        return Err(format!("not a uuid: {text}").into());
    }
    Ok(bytes)
}

fn text<'a>(value: &'a Value, field: &str) -> TestResult<&'a str> {
    value[field]
        .as_str()
        .ok_or_else(|| format!("{field} is not a string").into())
}

fn number(value: &Value, field: &str) -> TestResult<u32> {
    Ok(u32::try_from(
        value[field]
            .as_u64()
            .ok_or(format!("{field} is not a number"))?,
    )?)
}

/// "Checksum": the canonical form is the file without whitespace outside strings and with
/// `checksum` set to the empty string.
fn verify_checksum(file_text: &str, stated: &str) -> TestResult {
    let mut compact = String::with_capacity(file_text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in file_text.chars() {
        if in_string {
            compact.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_ascii_whitespace() {
            if c == '"' {
                in_string = true;
            }
            compact.push(c);
        }
    }
    let canonical = compact.replacen(
        &format!("\"checksum\":\"{stated}\""),
        "\"checksum\":\"\"",
        1,
    );
    assert_ne!(canonical, compact, "the checksum member was found");
    let computed = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    assert_eq!(computed, stated, "checksum");
    Ok(())
}

/// "User slots": the KEK, the associated data, and the slot identity they unseal.
fn open_user_slot(
    vault_id: &str,
    slot: &Value,
    password: &str,
    key_file: Option<&[u8]>,
) -> TestResult<age::x25519::Identity> {
    let kdf = &slot["kdf"];
    assert_eq!(text(kdf, "algorithm")?, "argon2id");
    assert_eq!(number(kdf, "version")?, 0x13);
    let (memory, passes, lanes) = (
        number(kdf, "memory_kib")?,
        number(kdf, "iterations")?,
        number(kdf, "parallelism")?,
    );
    let salt_text = text(kdf, "salt")?;
    let requires_key_file = slot["requires_key_file"]
        .as_bool()
        .ok_or("requires_key_file is not a boolean")?;

    // KEK = Argon2id(password ‖ marker ‖ digest, salt), 32 bytes.
    let mut input = password.as_bytes().to_vec();
    match (requires_key_file, key_file) {
        (true, Some(contents)) => {
            input.push(0x01);
            input.extend_from_slice(&key_file_digest(contents));
        }
        (true, None) => return Err("this slot requires a key file".into()),
        (false, _) => input.push(0x00),
    }
    let params = Params::new(memory, passes, lanes, Some(32)).map_err(|e| e.to_string())?;
    let mut kek = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(&input, &B64.decode(salt_text)?, &mut kek)
        .map_err(|e| e.to_string())?;

    // Associated data, byte by byte.
    let user = text(slot, "user")?;
    let recipient = text(slot, "recipient")?;
    let mut aad = b"strongroom-slot-identity-v1\0".to_vec();
    aad.extend(uuid_bytes(vault_id)?);
    aad.extend(uuid_bytes(text(slot, "slot_id")?)?);
    aad.extend((user.len() as u32).to_be_bytes());
    aad.extend(user.as_bytes());
    aad.push(u8::from(requires_key_file));
    for field in [memory, passes, lanes, 0x13] {
        aad.extend(field.to_be_bytes());
    }
    aad.extend(salt_text.as_bytes());
    aad.push(0x00);
    aad.extend(recipient.as_bytes());

    let blob = B64.decode(text(slot, "sealed_identity")?)?;
    let (nonce, sealed) = blob.split_at(24);
    let plaintext = XChaCha20Poly1305::new((&kek).into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: &aad,
            },
        )
        .map_err(|_| "wrong password or key file")?;
    let identity: age::x25519::Identity = std::str::from_utf8(&plaintext)?.parse()?;
    assert_eq!(identity.to_public().to_string(), recipient);
    Ok(identity)
}

/// "Sealed data key": an age file whose plaintext binds the key to vault, key and slot.
fn unseal_data_key(
    vault_id: &str,
    key_id: &str,
    slot: &Value,
    identity: &age::x25519::Identity,
) -> TestResult<[u8; 32]> {
    let sealed = B64.decode(text(slot, "sealed_data_key")?)?;
    let record = age::decrypt(identity, &sealed)?;
    let mut expected = b"strongroom-data-key-v1\0".to_vec();
    expected.extend(uuid_bytes(vault_id)?);
    expected.extend(uuid_bytes(key_id)?);
    expected.extend(uuid_bytes(text(slot, "slot_id")?)?);
    assert_eq!(record.len(), expected.len() + 32);
    assert_eq!(&record[..expected.len()], expected.as_slice());
    Ok(record[expected.len()..].try_into()?)
}

fn find_user<'a>(set: &'a Value, name: &str) -> TestResult<&'a Value> {
    set["users"]
        .as_array()
        .ok_or("users is not an array")?
        .iter()
        .find(|slot| slot["user"] == name)
        .ok_or_else(|| format!("no slot for {name}").into())
}

/// Reads one copy: format, version and checksum checked, then parsed.
fn read_copy(path: &Path) -> TestResult<Value> {
    let file_text = std::fs::read_to_string(path)?;
    let file: Value = serde_json::from_str(&file_text)?;
    assert_eq!(text(&file, "format")?, "strongroom-keyslots");
    assert_eq!(number(&file, "version")?, 1);
    verify_checksum(&file_text, text(&file, "checksum")?)?;
    Ok(file)
}

#[test]
fn a_vault_written_by_the_product_opens_with_only_the_documented_primitives() -> TestResult {
    let root = tempfile::tempdir()?;
    let usb = root.path().join("olivia.key");
    let key_file: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    std::fs::write(&usb, &key_file)?;
    let dir = root.path().join("vault");
    let created = Vault::create(
        &dir,
        NewVault {
            owner: "olivia".into(),
            password: Password::new("owner-password-1"),
            key_file: Some(KeyFileDigest::from_file(&usb)?),
            kdf: KdfStrength::Floor,
        },
    )?;
    let mut session = created.session;
    session.set_kdf_strength(KdfStrength::Floor);
    session.add_user(NewUser {
        name: "Zoë \"Z\" Ørsted".into(),
        role: "Sales Representative".into(),
        password: Password::new("zoe-password-12"),
        key_file: None,
    })?;
    let recovery_file = created.recovery.to_identity_file();
    drop(session);

    let primary = dir.join("keyslots.json");
    let copy = dir.join("keyslots.json.bak");
    assert_eq!(std::fs::read(&primary)?, std::fs::read(&copy)?, "the copy");
    let file = read_copy(&primary)?;
    let vault_id = text(&file, "vault_id")?;
    let current = &file["current"];
    let key_id = text(current, "key_id")?;
    assert!(file.get("pending").is_none(), "no rotation under way");

    let olivia = find_user(current, "olivia")?;
    let identity = open_user_slot(vault_id, olivia, "owner-password-1", Some(&key_file))?;
    let data_key = unseal_data_key(vault_id, key_id, olivia, &identity)?;

    let zoe = find_user(current, "Zoë \"Z\" Ørsted")?;
    let identity = open_user_slot(vault_id, zoe, "zoe-password-12", None)?;
    assert_eq!(unseal_data_key(vault_id, key_id, zoe, &identity)?, data_key);

    let recovery_line = recovery_file
        .expose()
        .lines()
        .find(|line| line.starts_with("AGE-SECRET-KEY-1"))
        .ok_or("no identity line")?;
    let recovery: age::x25519::Identity = recovery_line.parse()?;
    let recovery_slot = &current["recovery"];
    assert_eq!(
        text(recovery_slot, "recipient")?,
        recovery.to_public().to_string()
    );
    assert_eq!(
        unseal_data_key(vault_id, key_id, recovery_slot, &recovery)?,
        data_key
    );

    // The key is SQLCipher's raw key: the database opens with it and nothing else.
    #[allow(
        clippy::disallowed_types,
        clippy::disallowed_methods,
        reason = "an independent reader opens the file with stock SQLCipher"
    )]
    let conn = rusqlite::Connection::open(dir.join("vault.db"))?;
    conn.pragma_update(None, "key", format!("x'{}'", hex::encode(data_key)))?;
    let stored_id: String = conn.query_row(
        "SELECT value FROM vault_meta WHERE key = 'vault_id'",
        [],
        |row| row.get(0),
    )?;
    assert_eq!(stored_id, vault_id);
    drop(conn);

    // And the product agrees.
    let session = Vault::open(&dir)?.unlock(&Credentials {
        user: "olivia".into(),
        password: Password::new("owner-password-1"),
        key_file: Some(KeyFileDigest::from_file(&usb)?),
    })?;
    drop(session);
    Ok(())
}

#[test]
fn the_golden_file_caught_mid_rotation_opens_with_only_the_documented_primitives() -> TestResult {
    let golden =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/keyslots-v1-keyfile-pending.json");
    let file = read_copy(&golden)?;
    let vault_id = text(&file, "vault_id")?;
    let (current, pending) = (&file["current"], &file["pending"]);
    let kim = find_user(current, "kim")?;
    let key_file = b"strongroom golden key file: any file will do\n";
    let identity = open_user_slot(vault_id, kim, "golden-password-1", Some(key_file))?;
    assert_eq!(
        &unseal_data_key(vault_id, text(current, "key_id")?, kim, &identity)?,
        b"strongroom-golden-data-key-32-b!"
    );
    // The pending slot of the same user has the same identity and seals the next key.
    let pending_kim = find_user(pending, "kim")?;
    for field in [
        "slot_id",
        "recipient",
        "sealed_identity",
        "kdf",
        "requires_key_file",
    ] {
        assert_eq!(pending_kim[field], kim[field], "{field}");
    }
    assert_eq!(
        &unseal_data_key(vault_id, text(pending, "key_id")?, pending_kim, &identity)?,
        b"strongroom-golden-next-key-32-b!"
    );
    // Without the key file the slot does not open.
    assert!(open_user_slot(vault_id, kim, "golden-password-1", Some(b"another file")).is_err());
    Ok(())
}
