//! The key-slot file: how each user's credentials unseal the vault's data key.
//!
//! Format (`strongroom-keyslots`, version 1, JSON; byte-exact in `docs/vault-format.md`):
//!
//! - Every **user slot** owns an age X25519 *slot identity*. Its secret half is sealed with
//!   XChaCha20-Poly1305 under the user's KEK = Argon2id(password ‖ key-file digest, salt); the
//!   vault id, slot id, user name, key-file flag, KDF parameters and recipient are the
//!   associated data, so no field can be edited or moved to another slot or vault unnoticed.
//! - The **data key** is sealed with age to each slot's public recipient and to the recovery
//!   recipient. Because sealing needs only public keys, a key rotation re-seals the new data
//!   key for every remaining user without knowing their passwords.
//! - A **pending** set, present only while a rotation is under way, seals the *next* data key
//!   for the slots that remain. Unlock tries the current key, then the pending one; whichever
//!   opens the database wins, so a rotation killed at any point still opens.
//!
//! The file is written atomically twice (`keyslots.json` and `keyslots.json.bak`); on read the
//! valid copy with the highest generation wins and a damaged copy is reported.

use std::path::Path;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::secret::{DataKey, Kek, KeyFileDigest, Password, RecoveryIdentity};

/// The `format` field of every key-slot file.
pub const FORMAT: &str = "strongroom-keyslots";
/// The only version this build reads and writes.
pub const VERSION: u32 = 1;

const SEALED_KEY_MAGIC: &[u8] = b"strongroom-data-key-v1\0";
const IDENTITY_AD_MAGIC: &[u8] = b"strongroom-slot-identity-v1\0";

/// Lowest accepted Argon2 memory (64 MiB) and passes: the floor below which no slot is made.
pub const KDF_MIN_MEMORY_KIB: u32 = 64 * 1024;
/// Lowest accepted Argon2 passes.
pub const KDF_MIN_ITERATIONS: u32 = 3;
const KDF_MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
const KDF_MAX_ITERATIONS: u32 = 64;
const KDF_MAX_PARALLELISM: u32 = 16;

/// The whole key-slot file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySlotFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The vault this file belongs to; bound into every seal.
    pub vault_id: Uuid,
    /// Increases with every write; the higher of the two copies wins.
    pub generation: u64,
    /// The slots that open the database as it is now.
    pub current: SlotSet,
    /// During a key rotation only: the remaining slots sealed to the next data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<SlotSet>,
    /// `sha256:` + hex SHA-256 of this file serialised with an empty checksum: any flipped
    /// byte, even inside a base64 field, marks the copy damaged so the other copy is used.
    #[serde(default)]
    pub checksum: String,
}

/// All slots sealing one data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotSet {
    /// Random id of the data key these slots seal (changes on every rotation).
    pub key_id: Uuid,
    /// One slot per user.
    pub users: Vec<UserSlot>,
    /// The slot sealed to the offline recovery identity.
    pub recovery: RecoverySlot,
}

/// A user's slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSlot {
    /// Stable id of the slot (kept across rotations and password changes).
    pub slot_id: Uuid,
    /// The user's login name.
    pub user: String,
    /// Whether a key file is part of the credential.
    pub requires_key_file: bool,
    /// Argon2id settings calibrated when the slot was made.
    pub kdf: KdfParams,
    /// The slot identity's public recipient (`age1…`).
    pub recipient: String,
    /// Base64 of nonce (24 bytes) ‖ XChaCha20-Poly1305 ciphertext of the slot identity.
    pub sealed_identity: String,
    /// Base64 of the age-encrypted data-key record (see `seal_data_key`).
    pub sealed_data_key: String,
}

/// The recovery slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverySlot {
    /// Stable id of the recovery slot.
    pub slot_id: Uuid,
    /// The recovery identity's public recipient (`age1…`).
    pub recipient: String,
    /// Base64 of the age-encrypted data-key record.
    pub sealed_data_key: String,
}

/// Argon2id parameters stored in a slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KdfParams {
    /// Always `argon2id`.
    pub algorithm: String,
    /// Argon2 version (19 = 0x13).
    pub version: u32,
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Base64 of the 16-byte random salt.
    pub salt: String,
}

/// How hard to make a new slot's KDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfStrength {
    /// Measure this machine and aim for about `target` per unlock (never below the floor).
    Calibrated {
        /// Desired unlock time.
        target: Duration,
    },
    /// Exactly the floor (64 MiB, 3 passes): for tests and very slow machines.
    Floor,
}

impl KdfStrength {
    /// The strength to use: calibrated to about 0.75 s. In test builds (crm-core's `test-hooks`
    /// feature, see [`crate::test_hooks`]) `STRONGROOM_KDF=floor` selects the floor; a release
    /// build ignores the variable, so nobody can make a shipped binary seal cheap slots.
    pub fn from_env() -> Self {
        match crate::test_hooks::var("STRONGROOM_KDF").as_deref() {
            Some("floor") => KdfStrength::Floor,
            _ => KdfStrength::Calibrated {
                target: Duration::from_millis(750),
            },
        }
    }
}

impl KdfParams {
    fn with_cost(memory_kib: u32, iterations: u32) -> Self {
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Self {
            algorithm: "argon2id".into(),
            version: 0x13,
            memory_kib,
            iterations,
            parallelism: 1,
            salt: B64.encode(salt),
        }
    }

    /// New parameters with a fresh salt, calibrated as asked.
    pub fn new(strength: KdfStrength) -> Result<Self> {
        let floor = Self::with_cost(KDF_MIN_MEMORY_KIB, KDF_MIN_ITERATIONS);
        let KdfStrength::Calibrated { target } = strength else {
            return Ok(floor);
        };
        let started = Instant::now();
        floor.derive(b"calibration", None)?;
        let elapsed = started.elapsed().max(Duration::from_millis(1));
        let scale = target.as_secs_f64() / elapsed.as_secs_f64();
        let iterations =
            ((f64::from(KDF_MIN_ITERATIONS) * scale).ceil() as u32).clamp(KDF_MIN_ITERATIONS, 12);
        Ok(Self {
            iterations,
            ..floor
        })
    }

    /// Refuses settings that are too weak to trust or so costly they would hang the machine
    /// (a tampered file must not be able to do either).
    pub fn check(&self) -> Result<()> {
        let refuse = |what: &str| Err(Error::UnsupportedKdf(what.to_owned()));
        if self.algorithm != "argon2id" || self.version != 0x13 {
            return refuse("algorithm");
        }
        if !(KDF_MIN_MEMORY_KIB..=KDF_MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return refuse("memory");
        }
        if !(KDF_MIN_ITERATIONS..=KDF_MAX_ITERATIONS).contains(&self.iterations) {
            return refuse("iterations");
        }
        if !(1..=KDF_MAX_PARALLELISM).contains(&self.parallelism) {
            return refuse("parallelism");
        }
        match B64.decode(&self.salt) {
            Ok(salt) if salt.len() >= 16 => Ok(()),
            _ => refuse("salt"),
        }
    }

    fn derive(&self, password: &[u8], key_file: Option<&KeyFileDigest>) -> Result<Kek> {
        self.check()?;
        let salt = B64
            .decode(&self.salt)
            .map_err(|_| Error::UnsupportedKdf("salt".into()))?;
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|error| Error::UnsupportedKdf(error.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        // Password ‖ marker ‖ key-file digest: the marker keeps "no key file" distinct.
        let mut input = Zeroizing::new(Vec::with_capacity(password.len() + 33));
        input.extend_from_slice(password);
        match key_file {
            Some(digest) => {
                input.push(1);
                input.extend_from_slice(digest.as_bytes());
            }
            None => input.push(0),
        }
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(&input, &salt, out.as_mut())
            .map_err(|error| Error::Crypto(error.to_string()))?;
        Ok(Kek(out))
    }
}

/// Credentials offered at unlock.
#[derive(Debug)]
pub struct Credentials {
    /// Login name.
    pub user: String,
    /// Typed password.
    pub password: Password,
    /// Digest of the key file, if one was chosen.
    pub key_file: Option<KeyFileDigest>,
}

/// A slot identity opened by its owner's credentials; enough to unseal any data key sealed
/// to this slot (current or pending).
pub(crate) struct OpenedSlot {
    identity: age::x25519::Identity,
    slot_id: Uuid,
}

impl UserSlot {
    /// Makes a new slot for `user`, sealing `data_key` (identified by `key_id`).
    pub(crate) fn create(
        vault_id: Uuid,
        key_id: Uuid,
        user: &str,
        password: &Password,
        key_file: Option<&KeyFileDigest>,
        strength: KdfStrength,
        data_key: &DataKey,
    ) -> Result<Self> {
        let identity = age::x25519::Identity::generate();
        let mut slot = Self {
            slot_id: Uuid::new_v4(),
            user: user.to_owned(),
            requires_key_file: key_file.is_some(),
            kdf: KdfParams::new(strength)?,
            recipient: identity.to_public().to_string(),
            sealed_identity: String::new(),
            sealed_data_key: String::new(),
        };
        slot.seal_identity(vault_id, &identity, password, key_file)?;
        slot.sealed_data_key =
            seal_data_key(vault_id, key_id, slot.slot_id, &slot.recipient, data_key)?;
        Ok(slot)
    }

    /// Re-seals the slot identity under new credentials (password change); the sealed data
    /// key is untouched, so no other slot changes. `key_file` is the key file the slot requires
    /// from now on (`None`: none): the caller decides, and keeps the old one explicitly (see
    /// `vault::KeyFileChange`), so a password change never drops a requirement by omission.
    pub(crate) fn reseal_credentials(
        &mut self,
        vault_id: Uuid,
        opened: &OpenedSlot,
        password: &Password,
        key_file: Option<&KeyFileDigest>,
        strength: KdfStrength,
    ) -> Result<()> {
        self.requires_key_file = key_file.is_some();
        self.kdf = KdfParams::new(strength)?;
        self.seal_identity(vault_id, &opened.identity, password, key_file)
    }

    fn seal_identity(
        &mut self,
        vault_id: Uuid,
        identity: &age::x25519::Identity,
        password: &Password,
        key_file: Option<&KeyFileDigest>,
    ) -> Result<()> {
        use secrecy::ExposeSecret;
        let kek = self.kdf.derive(password.as_bytes(), key_file)?;
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let secret = identity.to_string();
        let cipher = XChaCha20Poly1305::new((&*kek.0).into());
        let aad = self.associated_data(vault_id);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret.expose_secret().as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Crypto("sealing slot identity".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&sealed);
        self.sealed_identity = B64.encode(blob);
        Ok(())
    }

    /// Opens the slot identity with the offered credentials.
    pub(crate) fn open(&self, vault_id: Uuid, credentials: &Credentials) -> Result<OpenedSlot> {
        let key_file = match (&credentials.key_file, self.requires_key_file) {
            (None, true) => return Err(Error::KeyFileRequired),
            (Some(digest), true) => Some(digest),
            // A key file offered to a slot that does not use one changes nothing.
            (_, false) => None,
        };
        let kek = self.kdf.derive(credentials.password.as_bytes(), key_file)?;
        let blob = B64
            .decode(&self.sealed_identity)
            .map_err(|_| Error::KeySlotsDamaged("sealed identity is not base64".into()))?;
        if blob.len() < 24 + 16 {
            return Err(Error::KeySlotsDamaged("sealed identity too short".into()));
        }
        let (nonce, sealed) = blob.split_at(24);
        let cipher = XChaCha20Poly1305::new((&*kek.0).into());
        let aad = self.associated_data(vault_id);
        let secret = Zeroizing::new(
            cipher
                .decrypt(
                    XNonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: &aad,
                    },
                )
                .map_err(|_| Error::WrongCredentials)?,
        );
        let text = std::str::from_utf8(&secret)
            .map_err(|_| Error::KeySlotsDamaged("slot identity is not text".into()))?;
        let identity = text
            .parse::<age::x25519::Identity>()
            .map_err(|_| Error::KeySlotsDamaged("slot identity unreadable".into()))?;
        if identity.to_public().to_string() != self.recipient {
            return Err(Error::KeySlotsDamaged(
                "slot identity does not match its recipient".into(),
            ));
        }
        Ok(OpenedSlot {
            identity,
            slot_id: self.slot_id,
        })
    }

    fn associated_data(&self, vault_id: Uuid) -> Vec<u8> {
        let mut aad = IDENTITY_AD_MAGIC.to_vec();
        aad.extend_from_slice(vault_id.as_bytes());
        aad.extend_from_slice(self.slot_id.as_bytes());
        aad.extend_from_slice(&(self.user.len() as u32).to_be_bytes());
        aad.extend_from_slice(self.user.as_bytes());
        aad.push(u8::from(self.requires_key_file));
        for field in [
            self.kdf.memory_kib,
            self.kdf.iterations,
            self.kdf.parallelism,
            self.kdf.version,
        ] {
            aad.extend_from_slice(&field.to_be_bytes());
        }
        aad.extend_from_slice(self.kdf.salt.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.recipient.as_bytes());
        aad
    }

    /// The same slot sealing a different data key (used when building a rotation's pending set).
    pub(crate) fn resealed_for(
        &self,
        vault_id: Uuid,
        key_id: Uuid,
        data_key: &DataKey,
    ) -> Result<Self> {
        Ok(Self {
            sealed_data_key: seal_data_key(
                vault_id,
                key_id,
                self.slot_id,
                &self.recipient,
                data_key,
            )?,
            ..self.clone()
        })
    }
}

impl OpenedSlot {
    /// Unseals the data key this slot holds in `set`, if the set has this slot.
    pub(crate) fn data_key_in(&self, vault_id: Uuid, set: &SlotSet) -> Result<Option<DataKey>> {
        let Some(slot) = set.users.iter().find(|slot| slot.slot_id == self.slot_id) else {
            return Ok(None);
        };
        unseal_data_key(
            vault_id,
            set.key_id,
            self.slot_id,
            &slot.sealed_data_key,
            &self.identity,
        )
        .map(Some)
    }
}

impl RecoverySlot {
    pub(crate) fn create(
        vault_id: Uuid,
        key_id: Uuid,
        recipient: &str,
        data_key: &DataKey,
    ) -> Result<Self> {
        let slot_id = Uuid::new_v4();
        Ok(Self {
            slot_id,
            recipient: recipient.to_owned(),
            sealed_data_key: seal_data_key(vault_id, key_id, slot_id, recipient, data_key)?,
        })
    }

    pub(crate) fn resealed_for(
        &self,
        vault_id: Uuid,
        key_id: Uuid,
        data_key: &DataKey,
    ) -> Result<Self> {
        Ok(Self {
            sealed_data_key: seal_data_key(
                vault_id,
                key_id,
                self.slot_id,
                &self.recipient,
                data_key,
            )?,
            ..self.clone()
        })
    }

    /// Unseals the data key with the offline recovery identity.
    pub(crate) fn open(
        &self,
        vault_id: Uuid,
        key_id: Uuid,
        identity: &RecoveryIdentity,
    ) -> Result<DataKey> {
        if identity.recipient() != self.recipient {
            return Err(Error::RecoveryIdentityMismatch);
        }
        unseal_data_key(
            vault_id,
            key_id,
            self.slot_id,
            &self.sealed_data_key,
            identity.as_age(),
        )
    }
}

/// Seals the data-key record `magic ‖ vault id ‖ key id ‖ slot id ‖ key` to an age recipient.
/// The ids inside the authenticated payload bind the sealed key to its vault, key and slot.
fn seal_data_key(
    vault_id: Uuid,
    key_id: Uuid,
    slot_id: Uuid,
    recipient: &str,
    data_key: &DataKey,
) -> Result<String> {
    let recipient: age::x25519::Recipient = recipient
        .parse()
        .map_err(|_| Error::KeySlotsDamaged("recipient is not an age X25519 key".into()))?;
    let record = data_key_record(vault_id, key_id, slot_id, data_key);
    let sealed =
        age::encrypt(&recipient, &record).map_err(|error| Error::Crypto(error.to_string()))?;
    Ok(B64.encode(sealed))
}

fn data_key_record(
    vault_id: Uuid,
    key_id: Uuid,
    slot_id: Uuid,
    data_key: &DataKey,
) -> Zeroizing<Vec<u8>> {
    let mut record = Zeroizing::new(SEALED_KEY_MAGIC.to_vec());
    record.extend_from_slice(vault_id.as_bytes());
    record.extend_from_slice(key_id.as_bytes());
    record.extend_from_slice(slot_id.as_bytes());
    record.extend_from_slice(data_key.as_bytes());
    record
}

fn unseal_data_key(
    vault_id: Uuid,
    key_id: Uuid,
    slot_id: Uuid,
    sealed: &str,
    identity: &age::x25519::Identity,
) -> Result<DataKey> {
    let blob = B64
        .decode(sealed)
        .map_err(|_| Error::KeySlotsDamaged("sealed data key is not base64".into()))?;
    let record = Zeroizing::new(
        age::decrypt(identity, &blob)
            .map_err(|_| Error::KeySlotsDamaged("sealed data key does not open".into()))?,
    );
    let prefix_len = SEALED_KEY_MAGIC.len() + 48;
    if record.len() != prefix_len + 32 {
        return Err(Error::KeySlotsDamaged(
            "sealed data key has the wrong length".into(),
        ));
    }
    let expected = data_key_record(vault_id, key_id, slot_id, &DataKey::from_bytes([0; 32]));
    if record[..prefix_len] != expected[..prefix_len] {
        return Err(Error::KeySlotsDamaged(
            "sealed data key belongs to another vault or slot".into(),
        ));
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(&record[prefix_len..]);
    let data_key = DataKey::from_bytes(key);
    zeroize::Zeroize::zeroize(&mut key);
    Ok(data_key)
}

impl SlotSet {
    /// A user's slot by login name.
    pub fn user(&self, name: &str) -> Option<&UserSlot> {
        self.users.iter().find(|slot| slot.user == name)
    }

    /// This set re-sealed for a new data key, keeping only the slots `keep` accepts.
    pub(crate) fn rotated(
        &self,
        vault_id: Uuid,
        data_key: &DataKey,
        keep: impl Fn(&UserSlot) -> bool,
    ) -> Result<Self> {
        let key_id = Uuid::new_v4();
        let users = self
            .users
            .iter()
            .filter(|slot| keep(slot))
            .map(|slot| slot.resealed_for(vault_id, key_id, data_key))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            key_id,
            users,
            recovery: self.recovery.resealed_for(vault_id, key_id, data_key)?,
        })
    }
}

/// Where the two copies of the key-slot file live.
#[derive(Debug, Clone)]
pub struct KeySlotPaths {
    /// `keyslots.json`
    pub primary: std::path::PathBuf,
    /// `keyslots.json.bak`
    pub backup: std::path::PathBuf,
}

/// What reading the key-slot file found besides the file itself.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeySlotReadReport {
    /// Problems with one copy that the other copy covered (shown as warnings).
    pub warnings: Vec<String>,
}

impl KeySlotFile {
    /// Parses and checks one copy.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let file: KeySlotFile = serde_json::from_slice(bytes)
            .map_err(|error| Error::KeySlotsDamaged(format!("not a key-slot file: {error}")))?;
        if file.format != FORMAT {
            return Err(Error::KeySlotsDamaged("wrong format name".into()));
        }
        if file.version != VERSION {
            return Err(Error::KeySlotsDamaged(format!(
                "version {} is not supported by this build (expects {VERSION})",
                file.version
            )));
        }
        if file.checksum != file.compute_checksum()? {
            return Err(Error::KeySlotsDamaged("checksum mismatch".into()));
        }
        Ok(file)
    }

    fn compute_checksum(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let unsigned = KeySlotFile {
            checksum: String::new(),
            ..self.clone()
        };
        let bytes = serde_json::to_vec(&unsigned)
            .map_err(|error| Error::Crypto(format!("serialising key slots: {error}")))?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
    }

    /// Reads both copies and returns the valid one with the highest generation.
    pub fn read(paths: &KeySlotPaths) -> Result<(Self, KeySlotReadReport)> {
        let mut report = KeySlotReadReport::default();
        let mut read_copy = |path: &Path| -> Option<KeySlotFile> {
            match std::fs::read(path) {
                Ok(bytes) => match Self::parse(&bytes) {
                    Ok(file) => Some(file),
                    Err(error) => {
                        report.warnings.push(format!("{}: {error}", path.display()));
                        None
                    }
                },
                Err(error) => {
                    report.warnings.push(format!("{}: {error}", path.display()));
                    None
                }
            }
        };
        let primary = read_copy(&paths.primary);
        let backup = read_copy(&paths.backup);
        let chosen = match (primary, backup) {
            (Some(primary), Some(backup)) => {
                if primary.vault_id != backup.vault_id {
                    report.warnings.push(
                        "the two key-slot copies belong to different vaults; using the primary"
                            .into(),
                    );
                    primary
                } else if backup.generation > primary.generation {
                    report.warnings.push(
                        "the primary key-slot file is older than its copy; using the copy".into(),
                    );
                    backup
                } else {
                    if backup.generation < primary.generation {
                        report
                            .warnings
                            .push("the key-slot backup copy is stale; it will be rewritten".into());
                    }
                    primary
                }
            }
            (Some(file), None) | (None, Some(file)) => file,
            (None, None) => return Err(Error::KeySlotsDamaged(report.warnings.join("; "))),
        };
        Ok((chosen, report))
    }

    /// Writes both copies atomically, bumping the generation first.
    pub fn write(&mut self, paths: &KeySlotPaths) -> Result<()> {
        self.generation += 1;
        self.checksum = self.compute_checksum()?;
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|error| Error::Crypto(format!("serialising key slots: {error}")))?;
        bytes.push(b'\n');
        fsutil::write_atomic(&paths.primary, &bytes)?;
        fsutil::write_atomic(&paths.backup, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(password: &str) -> Credentials {
        Credentials {
            user: "owner".into(),
            password: Password::new(password),
            key_file: None,
        }
    }

    fn one_slot() -> Result<(Uuid, SlotSet, DataKey)> {
        let vault_id = Uuid::new_v4();
        let key_id = Uuid::new_v4();
        let key = DataKey::generate();
        let slot = UserSlot::create(
            vault_id,
            key_id,
            "owner",
            &Password::new("correct horse battery"),
            None,
            KdfStrength::Floor,
            &key,
        )?;
        let recovery = RecoverySlot::create(
            vault_id,
            key_id,
            &RecoveryIdentity::generate().recipient(),
            &key,
        )?;
        Ok((
            vault_id,
            SlotSet {
                key_id,
                users: vec![slot],
                recovery,
            },
            key,
        ))
    }

    #[test]
    fn the_right_password_unseals_the_data_key() -> Result<()> {
        let (vault_id, set, key) = one_slot()?;
        let opened = set.users[0].open(vault_id, &credentials("correct horse battery"))?;
        let unsealed = opened
            .data_key_in(vault_id, &set)?
            .ok_or(Error::WrongCredentials)?;
        assert_eq!(unsealed.as_bytes(), key.as_bytes());
        Ok(())
    }

    #[test]
    fn a_wrong_password_is_refused_coarsely() -> Result<()> {
        let (vault_id, set, _) = one_slot()?;
        let result = set.users[0].open(vault_id, &credentials("wrong horse battery"));
        assert!(matches!(result, Err(Error::WrongCredentials)));
        Ok(())
    }

    #[test]
    fn a_slot_moved_to_another_vault_does_not_open() -> Result<()> {
        let (_, set, _) = one_slot()?;
        let result = set.users[0].open(Uuid::new_v4(), &credentials("correct horse battery"));
        assert!(matches!(result, Err(Error::WrongCredentials)));
        Ok(())
    }

    #[test]
    fn editing_slot_metadata_breaks_the_seal() -> Result<()> {
        let (vault_id, mut set, _) = one_slot()?;
        set.users[0].user = "mallory".into();
        let result = set.users[0].open(vault_id, &credentials("correct horse battery"));
        assert!(matches!(result, Err(Error::WrongCredentials)));
        Ok(())
    }

    const GOLDEN_PASSWORD: &str = "golden-password-1";
    const GOLDEN_KEY: [u8; 32] = *b"strongroom-golden-data-key-32-b!";
    const GOLDEN_RECOVERY: &str =
        "AGE-SECRET-KEY-1GQK3J9AXLMNPCM5JDGDVVX64Q7RSN8CYASDFUC29UEMWEFTGE7WQTSZFPC";

    fn golden_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/keyslots-v1.json")
    }

    /// Writes `file` as the golden file at `path` (generation becomes 1), without its copy.
    fn write_golden(file: &mut KeySlotFile, path: &Path) -> Result<()> {
        file.write(&KeySlotPaths {
            primary: path.to_owned(),
            backup: path.with_extension("json.bak"),
        })?;
        std::fs::remove_file(path.with_extension("json.bak")).map_err(Error::io("cleanup"))
    }

    /// Serialising what was parsed gives the same bytes: field names and order are frozen.
    fn assert_serialises_to_the_same_bytes(file: &KeySlotFile, bytes: &[u8]) -> Result<()> {
        let mut again =
            serde_json::to_vec_pretty(file).map_err(|e| Error::Crypto(e.to_string()))?;
        again.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&again),
            String::from_utf8_lossy(bytes)
        );
        Ok(())
    }

    /// Freezes format version 1: a file written once by this code must keep opening with the
    /// same password to the same data key. A failure here means the format changed; that is
    /// a decision (bump VERSION, keep reading v1), never an accident.
    /// Regenerate only deliberately: `STRONGROOM_UPDATE_GOLDEN=1 cargo test -p crm-core golden`.
    #[test]
    fn golden_key_slot_file_still_opens_to_the_same_data_key() -> Result<()> {
        let recovery = RecoveryIdentity::parse(GOLDEN_RECOVERY)?;
        if std::env::var_os("STRONGROOM_UPDATE_GOLDEN").is_some() {
            let vault_id = Uuid::from_u128(0x5354_524f_4e47_524f_4f4d_0000_0000_0001);
            let key_id = Uuid::from_u128(0x5354_524f_4e47_524f_4f4d_0000_0000_0002);
            let key = DataKey::from_bytes(GOLDEN_KEY);
            let slot = UserSlot::create(
                vault_id,
                key_id,
                "olivia",
                &Password::new(GOLDEN_PASSWORD),
                None,
                KdfStrength::Floor,
                &key,
            )?;
            let mut file = KeySlotFile {
                format: FORMAT.into(),
                version: VERSION,
                vault_id,
                generation: 0,
                current: SlotSet {
                    key_id,
                    users: vec![slot],
                    recovery: RecoverySlot::create(vault_id, key_id, &recovery.recipient(), &key)?,
                },
                pending: None,
                checksum: String::new(),
            };
            write_golden(&mut file, &golden_path())?;
        }
        let bytes = std::fs::read(golden_path()).map_err(Error::io("reading golden file"))?;
        let file = KeySlotFile::parse(&bytes)?;
        assert_eq!(file.generation, 1);
        let opened = file.current.users[0].open(file.vault_id, &credentials(GOLDEN_PASSWORD))?;
        let key = opened
            .data_key_in(file.vault_id, &file.current)?
            .ok_or(Error::WrongCredentials)?;
        assert_eq!(key.as_bytes(), &GOLDEN_KEY);
        let by_recovery =
            file.current
                .recovery
                .open(file.vault_id, file.current.key_id, &recovery)?;
        assert_eq!(by_recovery.as_bytes(), &GOLDEN_KEY);
        assert_serialises_to_the_same_bytes(&file, &bytes)
    }

    /// The golden key file: any bytes serve; only their digest enters the KDF.
    const GOLDEN_KEY_FILE: &[u8] = b"strongroom golden key file: any file will do\n";
    const GOLDEN_NEXT_KEY: [u8; 32] = *b"strongroom-golden-next-key-32-b!";

    fn golden_pending_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/keyslots-v1-keyfile-pending.json")
    }

    /// Freezes the parts of format version 1 the first golden file lacks: a slot that requires
    /// a key file, and a file caught mid-rotation with a pending set sealing the next data key.
    /// Regenerate only deliberately (see the test above).
    #[test]
    fn golden_key_slot_file_with_a_key_file_slot_and_a_pending_set_still_opens() -> Result<()> {
        let scratch = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let key_file_path = scratch.path().join("golden.key");
        std::fs::write(&key_file_path, GOLDEN_KEY_FILE).map_err(Error::io("key file"))?;
        let key_file = || KeyFileDigest::from_file(&key_file_path);
        let recovery = RecoveryIdentity::parse(GOLDEN_RECOVERY)?;
        if std::env::var_os("STRONGROOM_UPDATE_GOLDEN").is_some() {
            let vault_id = Uuid::from_u128(0x5354_524f_4e47_524f_4f4d_0000_0000_0001);
            let key_id = Uuid::from_u128(0x5354_524f_4e47_524f_4f4d_0000_0000_0002);
            let next_key_id = Uuid::from_u128(0x5354_524f_4e47_524f_4f4d_0000_0000_0003);
            let key = DataKey::from_bytes(GOLDEN_KEY);
            let next = DataKey::from_bytes(GOLDEN_NEXT_KEY);
            let users = vec![
                UserSlot::create(
                    vault_id,
                    key_id,
                    "olivia",
                    &Password::new(GOLDEN_PASSWORD),
                    None,
                    KdfStrength::Floor,
                    &key,
                )?,
                UserSlot::create(
                    vault_id,
                    key_id,
                    "kim",
                    &Password::new(GOLDEN_PASSWORD),
                    Some(&key_file()?),
                    KdfStrength::Floor,
                    &key,
                )?,
            ];
            let current = SlotSet {
                key_id,
                users,
                recovery: RecoverySlot::create(vault_id, key_id, &recovery.recipient(), &key)?,
            };
            let pending = SlotSet {
                key_id: next_key_id,
                users: current
                    .users
                    .iter()
                    .map(|slot| slot.resealed_for(vault_id, next_key_id, &next))
                    .collect::<Result<_>>()?,
                recovery: current
                    .recovery
                    .resealed_for(vault_id, next_key_id, &next)?,
            };
            let mut file = KeySlotFile {
                format: FORMAT.into(),
                version: VERSION,
                vault_id,
                generation: 0,
                current,
                pending: Some(pending),
                checksum: String::new(),
            };
            write_golden(&mut file, &golden_pending_path())?;
        }
        let bytes =
            std::fs::read(golden_pending_path()).map_err(Error::io("reading golden file"))?;
        let file = KeySlotFile::parse(&bytes)?;
        let pending = file.pending.as_ref().ok_or(Error::WrongCredentials)?;
        let kim = file.current.user("kim").ok_or(Error::WrongCredentials)?;
        assert!(kim.requires_key_file);
        let without_key_file = kim.open(
            file.vault_id,
            &Credentials {
                user: "kim".into(),
                password: Password::new(GOLDEN_PASSWORD),
                key_file: None,
            },
        );
        assert!(matches!(without_key_file, Err(Error::KeyFileRequired)));
        let opened = kim.open(
            file.vault_id,
            &Credentials {
                user: "kim".into(),
                password: Password::new(GOLDEN_PASSWORD),
                key_file: Some(key_file()?),
            },
        )?;
        let key = opened.data_key_in(file.vault_id, &file.current)?;
        let next = opened.data_key_in(file.vault_id, pending)?;
        assert_eq!(key.map(|key| *key.as_bytes()), Some(GOLDEN_KEY));
        assert_eq!(next.map(|key| *key.as_bytes()), Some(GOLDEN_NEXT_KEY));
        let olivia = file.current.users[0].open(file.vault_id, &credentials(GOLDEN_PASSWORD))?;
        let next = olivia.data_key_in(file.vault_id, pending)?;
        assert_eq!(next.map(|key| *key.as_bytes()), Some(GOLDEN_NEXT_KEY));
        let by_recovery = pending
            .recovery
            .open(file.vault_id, pending.key_id, &recovery)?;
        assert_eq!(by_recovery.as_bytes(), &GOLDEN_NEXT_KEY);
        assert_serialises_to_the_same_bytes(&file, &bytes)
    }

    #[test]
    fn absurd_kdf_settings_are_refused_before_any_work() {
        let mut params = KdfParams::with_cost(KDF_MIN_MEMORY_KIB, KDF_MIN_ITERATIONS);
        params.memory_kib = u32::MAX;
        assert!(matches!(params.check(), Err(Error::UnsupportedKdf(_))));
        let mut weak = KdfParams::with_cost(KDF_MIN_MEMORY_KIB, KDF_MIN_ITERATIONS);
        weak.iterations = 1;
        assert!(matches!(weak.check(), Err(Error::UnsupportedKdf(_))));
    }
}
