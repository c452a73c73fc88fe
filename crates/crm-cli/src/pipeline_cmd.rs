//! `crm pipeline …`: the sales pipeline's stages: list, plan a change, apply it.

use clap::Subcommand;
use crm_core::Result;
use crm_core::records::pipeline::{Outcome, plan_from_text};

use crate::Cli;
use crate::credentials::unlock;
use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// The pipeline's stages: id, name, default probability, outcome
    Show,
    /// Replace the stage list: NAME[:PROBABILITY[:OUTCOME]], comma-separated, in order
    SetStages {
        /// e.g. "Lead:10, Qualified:30, Proposal:50, Won:100:won, Lost:0:lost"; a current
        /// stage named again keeps its deals
        stages: String,
        /// Move deals out of stages left out into this stage (id or name)
        #[arg(long, value_name = "STAGE")]
        move_deals_to: Option<String>,
    },
    /// Add a stage
    AddStage {
        /// Stage name
        name: String,
        /// Default probability in percent (0–100)
        #[arg(long, default_value_t = 0)]
        probability: i64,
        /// open, won or lost
        #[arg(long, default_value = "open")]
        outcome: String,
        /// Position from 1 (default: last)
        #[arg(long)]
        position: Option<usize>,
    },
    /// Rename a stage; its deals stay in it
    RenameStage {
        /// Stage id or name
        stage: String,
        /// New name
        name: String,
    },
    /// Change a stage's probability, outcome or position
    EditStage {
        /// Stage id or name
        stage: String,
        /// Default probability in percent (0–100)
        #[arg(long)]
        probability: Option<i64>,
        /// open, won or lost
        #[arg(long)]
        outcome: Option<String>,
        /// Position from 1
        #[arg(long)]
        position: Option<usize>,
    },
    /// Remove a stage: refused while deals sit in it, unless --move-deals-to says where
    RemoveStage {
        /// Stage id or name
        stage: String,
        /// Move its deals to this stage (id or name)
        #[arg(long, value_name = "STAGE")]
        move_deals_to: Option<String>,
    },
}

pub fn pipeline(cli: &Cli, command: &PipelineCommand, out: &Output) -> Result<()> {
    let mut session = unlock(cli)?;
    let stage_id = |session: &crm_core::Session, text: &Option<String>| -> Result<Option<i64>> {
        text.as_deref()
            .map(|text| session.find_stage(text).map(|stage| stage.id))
            .transpose()
    };
    match command {
        PipelineCommand::Show => {}
        PipelineCommand::SetStages {
            stages,
            move_deals_to,
        } => {
            let plan = plan_from_text(&session.pipeline()?, stages)?;
            let target = stage_id(&session, move_deals_to)?;
            session.set_stages(&plan, target)?;
        }
        PipelineCommand::AddStage {
            name,
            probability,
            outcome,
            position,
        } => {
            session.add_stage(name, *probability, Outcome::parse(outcome)?, *position)?;
        }
        PipelineCommand::RenameStage { stage, name } => {
            let id = session.find_stage(stage)?.id;
            session.rename_stage(id, name)?;
        }
        PipelineCommand::EditStage {
            stage,
            probability,
            outcome,
            position,
        } => {
            let id = session.find_stage(stage)?.id;
            let outcome = outcome.as_deref().map(Outcome::parse).transpose()?;
            session.edit_stage(id, *probability, outcome, *position)?;
        }
        PipelineCommand::RemoveStage {
            stage,
            move_deals_to,
        } => {
            let id = session.find_stage(stage)?.id;
            let target = stage_id(&session, move_deals_to)?;
            session.remove_stage(id, target)?;
        }
    }
    let stages = session.pipeline()?;
    out.show(&stages, |stages| {
        stages
            .iter()
            .map(|stage| {
                format!(
                    "{:>4}  {:<24} {:>3}%  {}",
                    stage.id,
                    stage.name,
                    stage.probability,
                    stage.outcome.name()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}
