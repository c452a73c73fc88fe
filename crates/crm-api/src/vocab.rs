//! The words every use case shares, as real enums on the wire: a renamed variant breaks the
//! UI build (its TypeScript bindings are generated from these), not the user.
//!
//! Each mirrors a crm-core type and converts both ways. The names are crm-core's stored names
//! (`company`, `team`, `won`), except levels, which travel as the label people read
//! (`Highly Confidential`: the owner's screens show and choose them by it) and are also
//! accepted in their stored spelling (`highly_confidential`).

use crm_core::policy::Scope as CoreScope;
use crm_core::records::Outcome;
use crm_core::records::fields::{Entity, Level as CoreLevel};
use serde::{Deserialize, Serialize};

/// A record id (a number in TypeScript; ids stay far below 2^53).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(transparent)]
pub struct RecordId(
    #[cfg_attr(feature = "specta", specta(type = specta_typescript::Number))] pub i64,
);

/// A kind of customer record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A customer organisation.
    Company,
    /// A person.
    Contact,
    /// A sales opportunity.
    Deal,
    /// A call, meeting, email or task.
    Activity,
    /// A free-text note.
    Note,
}

impl From<Entity> for RecordKind {
    fn from(entity: Entity) -> Self {
        match entity {
            Entity::Company => Self::Company,
            Entity::Contact => Self::Contact,
            Entity::Deal => Self::Deal,
            Entity::Activity => Self::Activity,
            Entity::Note => Self::Note,
        }
    }
}

impl From<RecordKind> for Entity {
    fn from(kind: RecordKind) -> Self {
        match kind {
            RecordKind::Company => Self::Company,
            RecordKind::Contact => Self::Contact,
            RecordKind::Deal => Self::Deal,
            RecordKind::Activity => Self::Activity,
            RecordKind::Note => Self::Note,
        }
    }
}

/// How sensitive a field is, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum Level {
    /// Anyone with access to the record.
    #[serde(alias = "public")]
    Public,
    /// Staff.
    #[serde(alias = "internal")]
    Internal,
    /// Personal and financial data.
    #[serde(alias = "confidential")]
    Confidential,
    /// Revealed one value at a time, with a reason.
    #[serde(rename = "Highly Confidential", alias = "highly_confidential")]
    HighlyConfidential,
}

impl From<CoreLevel> for Level {
    fn from(level: CoreLevel) -> Self {
        match level {
            CoreLevel::Public => Self::Public,
            CoreLevel::Internal => Self::Internal,
            CoreLevel::Confidential => Self::Confidential,
            CoreLevel::HighlyConfidential => Self::HighlyConfidential,
        }
    }
}

impl From<Level> for CoreLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Public => Self::Public,
            Level::Internal => Self::Internal,
            Level::Confidential => Self::Confidential,
            Level::HighlyConfidential => Self::HighlyConfidential,
        }
    }
}

/// Which records an action reaches, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// No records.
    None,
    /// Records the user owns.
    Own,
    /// Records owned by anyone in the user's team.
    Team,
    /// Every record.
    All,
}

impl From<CoreScope> for Scope {
    fn from(scope: CoreScope) -> Self {
        match scope {
            CoreScope::None => Self::None,
            CoreScope::Own => Self::Own,
            CoreScope::Team => Self::Team,
            CoreScope::All => Self::All,
        }
    }
}

impl From<Scope> for CoreScope {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::None => Self::None,
            Scope::Own => Self::Own,
            Scope::Team => Self::Team,
            Scope::All => Self::All,
        }
    }
}

/// How a deal in a pipeline stage has ended, if it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    /// Still being worked.
    Open,
    /// Closed and won.
    Won,
    /// Closed and lost.
    Lost,
}

impl From<Outcome> for StageOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Open => Self::Open,
            Outcome::Won => Self::Won,
            Outcome::Lost => Self::Lost,
        }
    }
}

impl From<StageOutcome> for Outcome {
    fn from(outcome: StageOutcome) -> Self {
        match outcome {
            StageOutcome::Open => Self::Open,
            StageOutcome::Won => Self::Won,
            StageOutcome::Lost => Self::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire names are crm-core's names (levels: their labels), so every front end agrees.
    #[test]
    fn wire_names_are_the_cores_names() {
        for entity in Entity::ALL {
            let wire = serde_json::to_value(RecordKind::from(entity)).expect("json");
            assert_eq!(wire, entity.name());
            assert_eq!(Entity::from(RecordKind::from(entity)), entity);
        }
        for level in CoreLevel::ALL {
            let wire = serde_json::to_value(Level::from(level)).expect("json");
            assert_eq!(wire, level.label());
            let stored = serde_json::to_value(level).expect("json");
            let back: Level = serde_json::from_value(stored).expect("stored spelling accepted");
            assert_eq!(CoreLevel::from(back), level);
        }
        for outcome in [Outcome::Open, Outcome::Won, Outcome::Lost] {
            let wire = serde_json::to_value(StageOutcome::from(outcome)).expect("json");
            assert_eq!(wire, outcome.name());
        }
        for scope in [
            CoreScope::None,
            CoreScope::Own,
            CoreScope::Team,
            CoreScope::All,
        ] {
            let wire = serde_json::to_value(Scope::from(scope)).expect("json");
            assert_eq!(wire, scope.name());
        }
    }
}
