//! `ferret list`: the analyses recorded in the database.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Most analyses shown, newest first.
    #[arg(long, default_value_t = 50, value_name = "N")]
    limit: usize,
    /// Print JSON (an array of objects).
    #[arg(long)]
    json: bool,
    /// Analysis database [default: as for `ferret analyze`].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
}

pub(crate) fn open(db: Option<&PathBuf>) -> anyhow::Result<ferret_store::Store> {
    Ok(match db {
        Some(p) => ferret_store::Store::open(p)?,
        None => ferret_store::Store::open_default()?,
    })
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix time.
pub(crate) fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = ferret_event::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = open(args.db.as_ref())?;
    let rows = store.list(args.limit)?;
    let mut out = io::stdout().lock();
    if args.json {
        let v: Vec<serde_json::Value> = rows
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "time": e.time, "sample": e.sample_name, "sha256": e.sha256,
                    "verdict": e.verdict, "score": e.score, "out_dir": e.out_dir,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:>6}  {:<19}  {:<10}  {:>5}  sample",
        "id", "time (UTC)", "verdict", "score"
    )?;
    for e in &rows {
        writeln!(
            out,
            "{:>6}  {:<19}  {:<10}  {:>5.1}  {}",
            e.id,
            utc(e.time),
            e.verdict,
            e.score,
            e.sample_name
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(super::utc(1_700_000_000), "2023-11-14 22:13:20");
    }
}
