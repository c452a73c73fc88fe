//! `crm bench`: the benchmark (see crm_core::bench and docs/performance.md).

use std::path::PathBuf;

use clap::Args;
use crm_core::bench::{self, BenchOptions};
use crm_core::{Error, KdfStrength, Result};

use crate::output::Output;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Contacts to generate (a fifth as many companies, 30 % as many deals, twice as many activities)
    #[arg(long, default_value_t = 1_000_000)]
    contacts: u64,
    /// Seed of the synthetic data
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Searches per search run (each typed letter is one search)
    #[arg(long, default_value_t = 600)]
    queries: usize,
    /// Work directory (default: a new temporary directory, removed afterwards)
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Measure the vault an earlier run left in --dir instead of generating new data
    #[arg(long, requires = "dir")]
    reuse: bool,
    /// Only unlock, search, lists and opening a contact (no backup, no CSV export/import)
    #[arg(long)]
    query_path_only: bool,
}

pub fn bench(args: &BenchArgs, out: &Output) -> Result<()> {
    let temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            temp = std::env::temp_dir().join(format!("strongroom-bench-{}", std::process::id()));
            temp
        }
    };
    let options = BenchOptions {
        contacts: args.contacts,
        seed: args.seed,
        queries: args.queries.max(10),
        kdf: KdfStrength::from_env(),
        reuse: args.reuse,
        query_path_only: args.query_path_only,
    };
    let result = bench::run(&dir, options, &mut |step| {
        if !out.is_json() {
            eprintln!("bench: {step}");
        }
    });
    if args.dir.is_none() {
        std::fs::remove_dir_all(&dir).map_err(|source| Error::Io {
            context: "removing the bench directory".into(),
            source,
        })?;
    }
    let report = result?;
    out.show(&report, |report| report.to_table());
    Ok(())
}
