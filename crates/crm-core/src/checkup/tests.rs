//! The checkup on real vaults: its rights, its score, its history and its alert. Each finding
//! on a vault built to have it is covered end to end, through the `crm` binary, in
//! crates/crm-cli/tests/security.rs.

use super::*;
use crate::error::Error;
use crate::test_support::{add_user, login, owner_vault};

fn failing(report: &SecurityReport) -> Vec<CheckId> {
    report
        .checks
        .iter()
        .filter(|check| !check.passes())
        .map(|check| check.id)
        .collect()
}

#[test]
fn the_score_weighs_high_risk_checks_twice_what_medium_ones_weigh() {
    let all_pass = vec![
        CheckResult::rate(CheckId::WeakPasswords, Vec::new()),
        CheckResult::rate(CheckId::AutoLock, Vec::new()),
    ];
    assert_eq!(score(&all_pass), 100);
    let high_fails = vec![
        CheckResult::rate(CheckId::WeakPasswords, vec!["rita".into()]),
        CheckResult::rate(CheckId::AutoLock, Vec::new()),
    ];
    assert_eq!(high_fails[0].rating, Rating::HighRisk);
    assert_eq!(score(&high_fails), 33);
    let medium_fails = vec![
        CheckResult::rate(CheckId::WeakPasswords, Vec::new()),
        CheckResult::rate(CheckId::AutoLock, vec!["60 minutes".into()]),
    ];
    assert_eq!(medium_fails[1].rating, Rating::MediumRisk);
    assert_eq!(score(&medium_fails), 66);
    assert_eq!(score(&[]), 100);
}

#[test]
fn only_roles_that_manage_users_and_read_the_trail_run_the_checkup() -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let mut owner = owner_vault(dir.path())?;
    add_user(&mut owner, "ada", "Administrator")?;
    add_user(&mut owner, "aude", "Auditor")?;
    add_user(&mut owner, "rita", "Sales Representative")?;
    drop(owner);
    for (user, allowed) in [("ada", true), ("aude", false), ("rita", false)] {
        let mut session = login(dir.path(), user)?;
        match session.security_checkup() {
            Ok(_) => assert!(allowed, "{user} ran the checkup"),
            Err(Error::Forbidden(_)) => assert!(!allowed, "{user} was refused"),
            Err(other) => return Err(other),
        }
        if !allowed {
            assert!(matches!(
                session.security_score_history(10),
                Err(Error::Forbidden(_))
            ));
        }
    }
    Ok(())
}

#[test]
fn every_run_is_kept_audited_and_a_drop_raises_one_alert() -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let mut owner = owner_vault(dir.path())?;
    let first = owner.security_checkup()?;
    assert_eq!(first.previous_score, None);
    assert_eq!(first.findings, failing(&first).len());
    // Loosen the auto-lock: the medium-risk check fails and the score drops.
    owner.set_auto_lock_minutes(60)?;
    let second = owner.security_checkup()?;
    assert_eq!(second.previous_score, Some(first.score));
    assert!(second.score < first.score);
    assert!(failing(&second).contains(&CheckId::AutoLock));
    let alerts = owner.alerts(false)?;
    let dropped: Vec<_> = alerts
        .iter()
        .filter(|alert| alert.kind == SCORE_DROPPED_ALERT)
        .collect();
    assert_eq!(dropped.len(), 1, "{alerts:?}");
    assert_eq!(dropped[0].count, i64::from(second.score));
    assert_eq!(dropped[0].baseline, f64::from(first.score));
    let history = owner.security_score_history(10)?;
    assert_eq!(
        history.iter().map(|entry| entry.score).collect::<Vec<_>>(),
        vec![second.score, first.score]
    );
    assert!(history[0].failing.contains(&CheckId::AutoLock));
    let entries = owner.audit_list(&crate::audit::AuditFilter {
        actions: vec![AuditAction::SecurityCheck],
        ..Default::default()
    })?;
    assert_eq!(entries.len(), 2);
    Ok(())
}

#[test]
fn the_recovery_identity_is_confirmed_only_by_the_vaults_own() -> Result<()> {
    let dir = tempfile::tempdir().map_err(Error::io("tempdir"))?;
    let created = crate::vault::Vault::create(
        dir.path(),
        crate::vault::NewVault {
            owner: "olivia".into(),
            password: crate::secret::Password::new(crate::test_support::PASSWORD),
            key_file: None,
            kdf: crate::keyslot::KdfStrength::Floor,
        },
    )?;
    let mut owner = created.session;
    let report = owner.security_checkup()?;
    assert!(failing(&report).contains(&CheckId::RecoveryConfirmed));
    assert!(matches!(
        owner.confirm_recovery_identity(&RecoveryIdentity::generate()),
        Err(Error::Invalid(_))
    ));
    owner.confirm_recovery_identity(&created.recovery)?;
    let report = owner.security_checkup()?;
    assert!(!failing(&report).contains(&CheckId::RecoveryConfirmed));
    Ok(())
}

#[test]
fn the_report_serialises_with_stable_names() -> Result<()> {
    let result = CheckResult::rate(CheckId::PrivilegedKeyFiles, vec!["olivia (Owner)".into()]);
    let json = serde_json::to_value(&result).map_err(|error| Error::Invalid(error.to_string()))?;
    assert_eq!(json["id"], "privileged_key_files");
    assert_eq!(json["risk"], "high");
    assert_eq!(json["rating"], "high_risk");
    assert_eq!(json["weight"], 10);
    Ok(())
}
