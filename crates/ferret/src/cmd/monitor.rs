//! `ferret monitor`: live host monitoring (ferret-monitor), and `ferret monitor query` over
//! a stored session.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args as ClapArgs, Subcommand};

use ferret_monitor::store::{QueryFormat, query};
use ferret_monitor::{Config, run as run_monitor};

#[derive(Debug, ClapArgs)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<MonitorCommand>,
    /// Falco rule files, loaded after ferret's bundled rules; repeatable.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Do not load the bundled rules.
    #[arg(long)]
    no_bundled: bool,
    /// Only print and store events matching this filter expression (rules see all).
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Report file changes under this directory (fanotify, else inotify); repeatable.
    #[arg(long = "watch", value_name = "PATH")]
    watch: Vec<PathBuf>,
    /// Event format, sysdig style, e.g. "%evt.time %proc.name (%thread.tid) %evt.type %evt.args".
    #[arg(long, value_name = "STR", conflicts_with = "json")]
    format: Option<String>,
    /// Print events and alerts as JSON lines (events: docs/events.md; alerts: Falco's).
    #[arg(long)]
    json: bool,
    /// Print only alerts, not events.
    #[arg(long)]
    alerts_only: bool,
    /// SQLite store for process_events, socket_events, file_events and alerts.
    #[arg(long, value_name = "FILE")]
    store: Option<PathBuf>,
    /// Stop after this many seconds (default: at SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Print the drop counters every SECS seconds (always printed on exit).
    #[arg(long, value_name = "SECS")]
    stats_every: Option<f64>,
    /// Read audit records alongside an audit daemon that owns audit (multicast group).
    #[arg(long)]
    share_audit: bool,
    /// Do not use audit (no network events; execs from the process connector).
    #[arg(long)]
    no_audit: bool,
    /// Events queued per publisher before drops.
    #[arg(long, value_name = "N", default_value_t = Config::default().queue_capacity)]
    queue: usize,
    /// Processes kept in the state table before exited ones are forgotten.
    #[arg(long, value_name = "N", default_value_t = Config::default().max_procs)]
    max_procs: usize,
}

#[derive(Debug, Subcommand)]
enum MonitorCommand {
    /// Run read-only SQL over a stored monitoring session.
    Query(QueryArgs),
}

#[derive(Debug, ClapArgs)]
struct QueryArgs {
    /// Store file [default: $FERRET_DATA_DIR/monitor.db].
    #[arg(long, value_name = "FILE")]
    store: Option<PathBuf>,
    /// Print rows as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
    /// The SQL statement (SELECT ...).
    #[arg(value_name = "SQL")]
    sql: String,
}

fn seconds(v: Option<f64>, what: &str) -> anyhow::Result<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => bail!("{what} {s}: expected a positive number of seconds"),
    }
}

fn default_store() -> anyhow::Result<PathBuf> {
    Ok(ferret_store::data_dir()
        .context("locating the data directory")?
        .join("monitor.db"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(MonitorCommand::Query(q)) = args.command {
        let path = match q.store {
            Some(p) => p,
            None => default_store()?,
        };
        let fmt = if q.json {
            QueryFormat::Json
        } else {
            QueryFormat::Table
        };
        let mut out = BufWriter::new(io::stdout().lock());
        match query(&path, &q.sql, fmt, &mut out) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            Err(e) => bail!("{e}"),
        }
        out.flush().ok();
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = Config {
        rules_files: args.rules,
        bundled_rules: !args.no_bundled,
        filter: args.filter,
        watch: args.watch,
        format: args.format,
        json: args.json,
        print_events: !args.alerts_only,
        store: args.store,
        duration: seconds(args.duration, "--duration")?,
        stats_every: seconds(args.stats_every, "--stats-every")?,
        share_audit: args.share_audit,
        no_audit: args.no_audit,
        queue_capacity: args.queue.max(1),
        max_procs: args.max_procs,
    };
    let out: Box<dyn Write + Send> = Box::new(BufWriter::with_capacity(1 << 16, io::stdout()));
    let mut log = io::stderr().lock();
    run_monitor(&cfg, out, &mut log).map_err(|e| anyhow::anyhow!("monitor: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
