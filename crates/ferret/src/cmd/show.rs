//! `ferret show ID`: one stored analysis.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args as ClapArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Analysis id (see `ferret list`).
    #[arg(value_name = "ID")]
    id: i64,
    /// Print the stored report.json.
    #[arg(long)]
    json: bool,
    /// Analysis database [default: as for `ferret analyze`].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = super::list::open(args.db.as_ref())?;
    let Some((entry, report)) = store.get(args.id)? else {
        anyhow::bail!(
            "no analysis with id {} in {}",
            args.id,
            store.path().display()
        );
    };
    let mut out = io::stdout().lock();
    if args.json {
        out.write_all(report.as_bytes())?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let v: serde_json::Value = serde_json::from_str(&report).with_context(|| {
        format!(
            "the stored report of analysis {} is not valid JSON",
            args.id
        )
    })?;
    writeln!(out, "time:     {} UTC", super::list::utc(entry.time))?;
    super::analyze::write_summary(&mut out, &v, Some(entry.id))?;
    writeln!(out, "output:   {}", entry.out_dir)?;
    Ok(ExitCode::SUCCESS)
}
