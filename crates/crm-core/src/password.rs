//! The password rule: one strength estimate for every password a vault accepts.
//!
//! A password is accepted when it has at least [`MIN_PASSWORD_CHARS`] characters and the
//! zxcvbn estimate (Dropbox's, a 0–4 score from the guesses an attacker with common-password
//! lists, dictionaries, names, keyboard patterns, dates and l33t substitutions would need)
//! reaches the owner's minimum, [`DEFAULT_MIN_SCORE`] until the owner sets another with
//! `crm policy password --min-score N`. The user's name and the vault's folder name are given
//! to zxcvbn as words an attacker would try first, so `olivia2024` is as weak as it looks.
//!
//! The same [`PasswordRule::check`] answers the desktop's strength meter, the CLI's hint and the
//! core's refusal (`Vault::create`, `Session::add_user`, `change_password`,
//! `reset_password`, and the owner of a restored vault, against the backup's own minimum), so what the meter calls acceptable
//! is exactly what the vault accepts. The score at set time is kept per user (the score only:
//! no password material) for the security checkup.
//!
//! ```
//! use crm_core::password::PasswordRule;
//! use crm_core::Password;
//!
//! let rule = PasswordRule::for_new_vault(std::path::Path::new("/srv/acme-crm"));
//! assert!(!rule.check("olivia", &Password::new("Password12")).acceptable);
//! assert!(rule.check("olivia", &Password::new("Harbour lights at 6 o'clock")).acceptable);
//! ```

use std::path::Path;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditAction, AuditEvent};
use crate::error::{Error, Result};
use crate::policy::Right;
use crate::secret::Password;
use crate::store::Connection;
use crate::vault::Session;

/// The shortest password any slot accepts, whatever its score.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The minimum score of a new vault, and the security checkup's baseline: zxcvbn's own advice
/// ("any score less than 3 should be considered too weak"), about 10^10 guesses.
pub const DEFAULT_MIN_SCORE: u8 = 3;

/// The highest zxcvbn score.
pub const MAX_SCORE: u8 = 4;

/// `vault_meta` key of the owner's minimum score.
const MIN_SCORE_KEY: &str = "password_min_score";

/// Words every vault's passwords are checked against besides the user's and the vault's name.
const PRODUCT_WORDS: [&str; 3] = ["strongroom", "crm", "vault"];

/// What the estimate says about one password, against the vault's minimum. Nothing in it can
/// rebuild the password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PasswordStrength {
    /// zxcvbn's score, 0 (guessed at once) to 4 (more than 10^10 guesses).
    pub score: u8,
    /// The score in a word: `very weak`, `weak`, `fair`, `good` or `strong`.
    pub label: String,
    /// The vault's minimum score.
    pub min_score: u8,
    /// Whether the vault accepts it (long enough and at least the minimum score).
    pub acceptable: bool,
    /// Why it is weak, when zxcvbn says (e.g. "This is a top-100 common password.").
    pub warning: Option<String>,
    /// How to make it stronger (zxcvbn's suggestions; the length rule when it is too short).
    pub suggestions: Vec<String>,
}

impl PasswordStrength {
    /// The refusal text: why this password is not accepted and what to do instead.
    fn refusal(&self) -> String {
        let mut text = format!(
            "this password is too easy to guess: {} ({} of {MAX_SCORE}; this vault needs at least {})",
            self.label, self.score, self.min_score
        );
        if let Some(warning) = &self.warning {
            text.push_str(". ");
            text.push_str(warning.trim_end_matches('.'));
        }
        for suggestion in &self.suggestions {
            text.push_str(". ");
            text.push_str(suggestion.trim_end_matches('.'));
        }
        text.push('.');
        text
    }
}

/// The rule one vault applies: its minimum score and its name as a word to avoid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordRule {
    /// The minimum zxcvbn score (0 to 4).
    pub min_score: u8,
    /// The vault's folder name, checked as a word an attacker would try.
    pub vault_name: Option<String>,
}

impl PasswordRule {
    /// The rule for a vault about to be created in `dir` (or restored there): the default
    /// minimum.
    pub fn for_new_vault(dir: &Path) -> Self {
        Self {
            min_score: DEFAULT_MIN_SCORE,
            vault_name: dir
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
        }
    }

    /// The rule of the vault whose database is `conn`, in the folder `dir` (the owner's
    /// minimum as stored).
    pub(crate) fn of_vault(conn: &Connection, dir: &Path) -> Result<Self> {
        Ok(Self {
            min_score: min_score(conn)?,
            ..Self::for_new_vault(dir)
        })
    }

    /// Estimates `password` as `user`'s password in this vault.
    pub fn check(&self, user: &str, password: &Password) -> PasswordStrength {
        let text = password.as_str();
        let mut inputs: Vec<&str> = vec![user];
        // Name parts too: "olivia.smith" gives "olivia" and "smith".
        inputs.extend(
            user.split(|c: char| !c.is_alphanumeric())
                .filter(|part| part.chars().count() >= 3),
        );
        if let Some(vault) = &self.vault_name {
            inputs.push(vault);
            inputs.extend(
                vault
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|part| part.chars().count() >= 3),
            );
        }
        inputs.extend(PRODUCT_WORDS);
        let estimate = zxcvbn::zxcvbn(text, &inputs);
        let score = u8::from(estimate.score());
        let (warning, mut suggestions) = match estimate.feedback() {
            Some(feedback) => (
                feedback.warning().map(|warning| warning.to_string()),
                feedback
                    .suggestions()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        let long_enough = password.char_count() >= MIN_PASSWORD_CHARS;
        if !long_enough {
            suggestions.insert(0, format!("Use at least {MIN_PASSWORD_CHARS} characters."));
        }
        PasswordStrength {
            score,
            label: label(score).to_owned(),
            min_score: self.min_score,
            acceptable: long_enough && score >= self.min_score,
            warning,
            suggestions,
        }
    }

    /// Checks `password` for `user` and refuses it, saying why and how to do better, unless
    /// the vault accepts it; returns the estimate to record.
    pub(crate) fn require(&self, user: &str, password: &Password) -> Result<PasswordStrength> {
        let strength = self.check(user, password);
        if strength.acceptable {
            Ok(strength)
        } else if password.char_count() < MIN_PASSWORD_CHARS {
            Err(Error::Invalid(format!(
                "a password needs at least {MIN_PASSWORD_CHARS} characters"
            )))
        } else {
            Err(Error::Invalid(strength.refusal()))
        }
    }
}

/// The score in a word (the desktop meter's text).
pub fn label(score: u8) -> &'static str {
    match score {
        0 => "very weak",
        1 => "weak",
        2 => "fair",
        3 => "good",
        _ => "strong",
    }
}

/// The owner's minimum score as stored (the default until set; a damaged value reads as the
/// default, never as a lower bar).
pub(crate) fn min_score(conn: &Connection) -> Result<u8> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT value FROM vault_meta WHERE key = ?1",
            [MIN_SCORE_KEY],
            |row| row.get(0),
        )
        .optional()?;
    Ok(stored
        .and_then(|text| text.parse::<u8>().ok())
        .filter(|score| *score <= MAX_SCORE)
        .unwrap_or(DEFAULT_MIN_SCORE))
}

/// Keeps `user`'s score at set time (no password material) for the security checkup.
pub(crate) fn record_score(
    conn: &Connection,
    user: &str,
    strength: &PasswordStrength,
) -> Result<()> {
    conn.execute(
        "UPDATE users SET password_score = ?1, password_scored_at = ?2
         WHERE name = ?3 AND removed_at IS NULL",
        params![
            i64::from(strength.score),
            chrono::Utc::now().to_rfc3339(),
            user
        ],
    )?;
    Ok(())
}

impl Session {
    /// This vault's password rule (anyone signed in may ask: the meter needs it).
    pub fn password_rule(&self) -> Result<PasswordRule> {
        PasswordRule::of_vault(self.store().conn(), &self.paths().dir)
    }

    /// Estimates `password` as `user`'s in this vault: the desktop meter's answer.
    pub fn password_strength(&self, user: &str, password: &Password) -> Result<PasswordStrength> {
        Ok(self.password_rule()?.check(user, password))
    }

    /// Sets the minimum score every new password must reach (0 to 4; the baseline is 3).
    /// Security policy, so it needs the manage-roles right, as the auto-lock period and the
    /// key-file requirement do; recorded. Passwords already set keep working: the checkup
    /// lists those below the minimum by their score at set time.
    pub fn set_password_min_score(&mut self, score: u8) -> Result<()> {
        self.require_right(Right::ManageRoles)?;
        if score > MAX_SCORE {
            return Err(Error::Invalid(format!(
                "the minimum password score is 0 to {MAX_SCORE} (zxcvbn's scale; {DEFAULT_MIN_SCORE} is the baseline), not {score}"
            )));
        }
        let before = min_score(self.store().conn())?;
        if before == score {
            return Ok(());
        }
        self.write(|tx, audit| {
            tx.execute(
                "INSERT INTO vault_meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![MIN_SCORE_KEY, score.to_string()],
            )?;
            audit.record(
                AuditEvent::new(AuditAction::PolicyChanged)
                    .target("policy", MIN_SCORE_KEY)
                    .change(Some(before.to_string()), Some(score.to_string())),
            );
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> PasswordRule {
        PasswordRule::for_new_vault(Path::new("/srv/acme-crm"))
    }

    #[test]
    fn common_and_patterned_passwords_are_refused() {
        for weak in [
            "Password12",
            "aaaaaaaaaa",
            "Summer2024!",
            "password123",
            "qwertyuiop",
            "1234567890",
            "olivia2024!",
            "Olivia123456",
            "acme-crm-2024",
        ] {
            let strength = rule().check("olivia", &Password::new(weak));
            assert!(
                !strength.acceptable,
                "{weak:?} was accepted with score {}",
                strength.score
            );
            assert!(rule().require("olivia", &Password::new(weak)).is_err());
        }
    }

    #[test]
    fn a_good_passphrase_is_accepted() {
        for good in [
            "Harbour lights at 6 o'clock",
            "correct horse battery staple 9",
            "violet tractor sings backwards",
        ] {
            let strength = rule().check("olivia", &Password::new(good));
            assert!(strength.acceptable, "{good:?}: {strength:?}");
            assert!(strength.score >= DEFAULT_MIN_SCORE);
        }
    }

    #[test]
    fn the_refusal_says_why_and_what_to_do() {
        let Err(Error::Invalid(text)) = rule().require("olivia", &Password::new("Password12"))
        else {
            panic!("Password12 was accepted");
        };
        assert!(text.contains("this vault needs at least 3"), "{text}");
        assert!(text.contains("common password"), "{text}");
        let Err(Error::Invalid(short)) = rule().require("olivia", &Password::new("x7#Kp!")) else {
            panic!("a short password was accepted");
        };
        assert!(short.contains("at least 10 characters"), "{short}");
    }

    #[test]
    fn the_users_own_name_counts_against_the_password() {
        let password = Password::new("Maximilian-1987");
        let as_stranger = rule().check("olivia", &password);
        let as_himself = rule().check("maximilian", &password);
        assert!(as_himself.score < as_stranger.score || !as_himself.acceptable);
    }

    #[test]
    fn every_password_set_meets_the_owners_minimum_and_its_score_is_kept() -> Result<()> {
        use crate::test_support::{PASSWORD, add_user, login, owner_vault};
        use crate::vault::{KeyFileChange, NewUser};
        let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
        let mut owner = owner_vault(dir.path())?;
        let weak_user = |name: &str| NewUser {
            name: name.into(),
            role: "Sales Representative".into(),
            password: Password::new("Summer2024!"),
            key_file: None,
        };
        assert!(matches!(
            owner.add_user(weak_user("rita")),
            Err(Error::Invalid(_))
        ));
        add_user(&mut owner, "rita", "Sales Representative")?;
        assert!(matches!(
            owner.reset_password("rita", Password::new("rita123456"), KeyFileChange::Keep),
            Err(Error::Invalid(_))
        ));
        let score_of = |session: &Session, name: &str| -> Result<Option<i64>> {
            Ok(session.store().conn().query_row(
                "SELECT password_score FROM users WHERE name = ?1",
                [name],
                |row| row.get(0),
            )?)
        };
        let expected = rule().check("rita", &Password::new(PASSWORD)).score;
        assert_eq!(score_of(&owner, "rita")?, Some(i64::from(expected)));
        assert!(score_of(&owner, "olivia")?.is_some());

        let mut rep = login(dir.path(), "rita")?;
        assert!(matches!(
            rep.set_password_min_score(1),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            owner.set_password_min_score(5),
            Err(Error::Invalid(_))
        ));
        owner.set_password_min_score(MAX_SCORE)?;
        assert_eq!(rep.password_rule()?.min_score, MAX_SCORE);
        let meter = rep.password_strength("rita", &Password::new("Password12"))?;
        assert!(!meter.acceptable);
        assert_eq!(meter.min_score, MAX_SCORE);
        Ok(())
    }

    #[test]
    fn the_minimum_decides_acceptance_not_the_estimate() {
        let password = Password::new("Password12");
        let lenient = PasswordRule {
            min_score: 0,
            vault_name: None,
        };
        assert!(lenient.check("olivia", &password).acceptable);
        let strict = PasswordRule {
            min_score: MAX_SCORE,
            vault_name: None,
        };
        // "test-password-1" scores 3: enough by default, not for a vault that asks for 4.
        assert!(
            rule()
                .check("olivia", &Password::new("test-password-1"))
                .acceptable
        );
        assert!(
            !strict
                .check("olivia", &Password::new("test-password-1"))
                .acceptable
        );
    }
}
