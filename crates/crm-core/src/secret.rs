//! Secret material, one type per role.
//!
//! Each type zeroizes on drop, prints `[redacted]` under `Debug`, and implements neither
//! `Clone` nor `Serialize`, so a secret cannot be copied or logged by accident. Anything that
//! renders a secret (the recovery identity, the data key in hex) returns another secret type,
//! never a plain `String`.

use std::fmt;
use std::io::Read;
use std::path::Path;

use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

macro_rules! redacted_debug {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

/// The 32-byte SQLCipher raw key of one vault database (the DEK).
pub struct DataKey(Zeroizing<[u8; 32]>);
redacted_debug!(DataKey);

impl DataKey {
    /// A fresh random data key from the OS random source.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self(bytes)
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key as SQLCipher's raw-key literal body (64 lowercase hex digits), for
    /// `PRAGMA key = "x'…'"` in any stock SQLCipher 4 tool.
    pub fn to_hex(&self) -> SecretText {
        SecretText(Zeroizing::new(hex::encode(self.0.as_ref())))
    }
}

/// A key-encryption key derived by Argon2id from a password and an optional key file.
pub(crate) struct Kek(pub(crate) Zeroizing<[u8; 32]>);
redacted_debug!(Kek);

/// A user's password as typed. Not trimmed or normalised: what was typed is what counts.
pub struct Password(Zeroizing<String>);
redacted_debug!(Password);

impl Password {
    /// Wraps a typed password. The caller's copy should be zeroized or dropped promptly.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The credential's text, to store it for an unattended agent (keyring or credential file).
    pub fn expose_for_storage(&self) -> &str {
        &self.0
    }

    /// Number of characters, for policy checks and strength hints.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    /// The typed text, for the strength estimate only.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// SHA-256 digest of a key file's contents. The file itself may be any file (a generated
/// random key or an existing document on a USB stick); only this digest enters the KDF.
pub struct KeyFileDigest(Zeroizing<[u8; 32]>);
redacted_debug!(KeyFileDigest);

impl KeyFileDigest {
    /// Hashes the file at `path`. An empty file is refused: it would add no secret.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut file = std::fs::File::open(path).map_err(|source| Error::KeyFile {
            path: path.to_owned(),
            reason: source.to_string(),
        })?;
        let mut hasher = Sha256::new();
        hasher.update(b"strongroom-keyfile-v1\0");
        let mut buffer = Zeroizing::new(vec![0u8; 64 * 1024]);
        let mut total = 0u64;
        loop {
            let read = file.read(&mut buffer).map_err(|source| Error::KeyFile {
                path: path.to_owned(),
                reason: source.to_string(),
            })?;
            if read == 0 {
                break;
            }
            total += read as u64;
            hasher.update(&buffer[..read]);
        }
        if total == 0 {
            return Err(Error::KeyFile {
                path: path.to_owned(),
                reason: "the file is empty".into(),
            });
        }
        Ok(Self(Zeroizing::new(hasher.finalize().into())))
    }

    /// The digest of a key file's content that arrived as bytes (a workstation digests the
    /// file it reads; this is for content already in memory). Same rules as [`from_file`].
    ///
    /// [`from_file`]: KeyFileDigest::from_file
    pub fn from_content(name: &str, content: &[u8]) -> Result<Self> {
        if content.is_empty() {
            return Err(Error::KeyFile {
                path: name.into(),
                reason: "the file is empty".into(),
            });
        }
        let mut hasher = Sha256::new();
        hasher.update(b"strongroom-keyfile-v1\0");
        hasher.update(content);
        Ok(Self(Zeroizing::new(hasher.finalize().into())))
    }

    /// The digest in hex, to send over a protected channel (it is key material).
    pub fn to_hex(&self) -> SecretText {
        SecretText::new(hex::encode(self.0.as_ref()))
    }

    /// A digest sent as hex ([`to_hex`](KeyFileDigest::to_hex)).
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), bytes.as_mut())
            .map_err(|_| Error::Invalid("a key file digest is 64 hex digits".into()))?;
        Ok(Self(bytes))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Writes a new random key file (64 random bytes) at `path`, refusing to overwrite anything.
pub fn generate_key_file(path: &Path) -> Result<()> {
    let mut bytes = Zeroizing::new([0u8; 64]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    crate::fsutil::write_new_private_file(path, bytes.as_ref())
}

/// Text that is itself secret: a recovery identity (`AGE-SECRET-KEY-1…`) or a data key in
/// hex. Expose it only to show it to the person entitled to it.
pub struct SecretText(Zeroizing<String>);
redacted_debug!(SecretText);

impl SecretText {
    pub(crate) fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// Secret text that arrived from elsewhere (a recovery identity file's content read on a
    /// workstation), zeroized when dropped.
    pub fn from_string(text: String) -> Self {
        Self::new(text)
    }

    /// The secret text, for display to its owner or writing to their chosen file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The offline recovery identity (an age X25519 identity). Held only transiently: printed
/// once at setup, later read from the sysadmin's file to restore or extract the data key.
pub struct RecoveryIdentity(age::x25519::Identity);

impl fmt::Debug for RecoveryIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryIdentity([redacted])")
    }
}

impl RecoveryIdentity {
    pub(crate) fn generate() -> Self {
        Self(age::x25519::Identity::generate())
    }

    /// Parses an age identity file: the first `AGE-SECRET-KEY-1…` line; `#` comments ignored.
    pub fn parse(text: &str) -> Result<Self> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("AGE-SECRET-KEY-1"))
            .ok_or(Error::RecoveryIdentityInvalid)?;
        line.parse::<age::x25519::Identity>()
            .map(Self)
            .map_err(|_| Error::RecoveryIdentityInvalid)
    }

    /// Reads an identity file from disk.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| Error::Io {
            context: format!("reading recovery identity {}", path.display()),
            source,
        })?);
        Self::parse(&text)
    }

    /// The public recipient (`age1…`) that the recovery slot and backups are sealed to.
    pub fn recipient(&self) -> String {
        self.0.to_public().to_string()
    }

    /// The identity as an age identity file, to print or save once.
    pub fn to_identity_file(&self) -> SecretText {
        use secrecy::ExposeSecret;
        let secret = self.0.to_string();
        let mut text = format!(
            "# Strongroom CRM recovery identity\n# public key: {}\n{}\n",
            self.recipient(),
            secret.expose_secret()
        );
        let out = SecretText::new(text.clone());
        text.zeroize();
        out
    }

    pub(crate) fn as_age(&self) -> &age::x25519::Identity {
        &self.0
    }
}

/// A rough password strength estimate shared by the CLI and the desktop app.
///
/// Counts character classes and length into an entropy estimate; it exists to nudge, not to
/// certify. Returns (bits, verdict).
pub fn password_strength(password: &Password) -> (u32, &'static str) {
    let text = password.as_str();
    let mut pool = 0u32;
    if text.chars().any(|c| c.is_ascii_lowercase()) {
        pool += 26;
    }
    if text.chars().any(|c| c.is_ascii_uppercase()) {
        pool += 26;
    }
    if text.chars().any(|c| c.is_ascii_digit()) {
        pool += 10;
    }
    if text.chars().any(|c| !c.is_ascii_alphanumeric()) {
        pool += 33;
    }
    let distinct = {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        chars.len() as f64
    };
    let length = (text.chars().count() as f64).min(distinct * 2.0);
    let bits = (length * f64::from(pool.max(1)).log2()) as u32;
    let verdict = match bits {
        0..=39 => "weak",
        40..=59 => "fair",
        60..=79 => "good",
        _ => "strong",
    };
    (bits, verdict)
}

/// A random machine credential (43 base64 characters, 256 bits) for unattended slots such as
/// the backup agent's.
pub fn random_credential() -> Password {
    use base64::Engine;
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(bytes.as_mut());
    Password::new(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes.as_ref()))
}

/// Whether two typed passwords are the same (for "repeat it" prompts).
pub fn same_password(a: &Password, b: &Password) -> bool {
    a.as_bytes() == b.as_bytes()
}

/// The shortest password any slot accepts.
pub const MIN_PASSWORD_CHARS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print_their_contents() {
        let key = DataKey::from_bytes([7; 32]);
        let password = Password::new("hunter2hunter2");
        assert_eq!(format!("{key:?}"), "DataKey([redacted])");
        assert_eq!(format!("{password:?}"), "Password([redacted])");
        assert!(!format!("{:?}", RecoveryIdentity::generate()).contains("AGE-SECRET"));
    }

    #[test]
    fn recovery_identity_round_trips_through_its_file() -> Result<()> {
        let identity = RecoveryIdentity::generate();
        let file = identity.to_identity_file();
        let parsed = RecoveryIdentity::parse(file.expose())?;
        assert_eq!(parsed.recipient(), identity.recipient());
        Ok(())
    }

    #[test]
    fn weak_and_strong_passwords_are_told_apart() {
        assert_eq!(password_strength(&Password::new("aaaaaaaaaa")).1, "weak");
        assert_eq!(
            password_strength(&Password::new("Correct-Horse-Battery-9")).1,
            "strong"
        );
    }

    #[test]
    fn a_key_file_digests_the_same_from_disk_from_content_and_from_hex() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            context: "tempdir".into(),
            source,
        })?;
        let path = dir.path().join("usb.key");
        generate_key_file(&path)?;
        let content = std::fs::read(&path).map_err(|source| Error::Io {
            context: "read".into(),
            source,
        })?;
        let from_file = KeyFileDigest::from_file(&path)?;
        let from_content = KeyFileDigest::from_content("usb.key", &content)?;
        assert_eq!(from_file.as_bytes(), from_content.as_bytes());
        let from_hex = KeyFileDigest::from_hex(from_file.to_hex().expose())?;
        assert_eq!(from_hex.as_bytes(), from_file.as_bytes());
        assert!(KeyFileDigest::from_content("empty.key", b"").is_err());
        assert!(KeyFileDigest::from_hex("not hex").is_err());
        Ok(())
    }
}
