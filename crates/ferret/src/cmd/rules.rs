//! `ferret rules check|run` and `ferret fields`: Falco-compatible rules over ferret events
//! (ferret-rules, ferret-filter, ferret-event).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args as ClapArgs, Subcommand};

use ferret_event::{State, read_json_lines};
use ferret_filter::{FIELDS, Filter};
use ferret_rules::{Analyzer, BUNDLED_RULES, Engine, RuleSet};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Load and compile rule files; report counts, or every error with file and line.
    Check {
        /// Rule files (Falco YAML), loaded in order; none: the bundled rules.
        #[arg(value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run rules over events (JSON lines, docs/events.md); print alerts as Falco JSON lines.
    Run {
        /// Rule files, loaded in order (repeatable); none: the bundled rules.
        #[arg(long = "rules", value_name = "FILE", num_args = 1..)]
        rules: Vec<PathBuf>,
        /// Also load the bundled rules when --rules is given.
        #[arg(long)]
        bundled: bool,
        /// Events file ("-" for standard input).
        #[arg(long, value_name = "EVENTS.jsonl")]
        events: PathBuf,
        /// Only test events matching this filter (all events still update process state).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Write signatures, score and verdict as JSON to this file at the end.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
}

/// `ferret fields` arguments.
#[derive(Debug, ClapArgs)]
pub struct FieldsArgs {
    /// Print as JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn load(files: &[PathBuf], bundled: bool) -> anyhow::Result<(RuleSet, Vec<String>)> {
    let mut set = RuleSet::new();
    let mut lines = Vec::new();
    if bundled || files.is_empty() {
        let st = set
            .load_str("<bundled>/ferret_rules.yaml", BUNDLED_RULES)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        lines.push(format!(
            "<bundled>: {} rules, {} macros, {} lists",
            st.rules, st.macros, st.lists
        ));
    }
    for f in files {
        let st = set.load_file(f).map_err(|e| anyhow::anyhow!("{e}"))?;
        lines.push(format!(
            "{}: {} rules, {} macros, {} lists",
            f.display(),
            st.rules,
            st.macros,
            st.lists
        ));
    }
    Ok((set, lines))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Check { files } => check(&files),
        Action::Run {
            rules,
            bundled,
            events,
            filter,
            report,
        } => run_rules(&rules, bundled, &events, filter.as_deref(), report),
    }
}

fn check(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let (set, lines) = match load(files, false) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut out = io::stdout().lock();
    for l in &lines {
        writeln!(out, "{l}")?;
    }
    for w in &set.warnings {
        writeln!(out, "warning: {w}")?;
    }
    match Engine::compile(&set) {
        Ok(engine) => {
            let s = engine.stats();
            writeln!(
                out,
                "ok: {} rules ({} enabled), {} macros, {} lists; {} rules read fields ferret never has ({} can never fire)",
                s.rules,
                s.enabled,
                s.macros,
                s.lists,
                s.rules_with_absent_fields,
                s.rules_never_firing
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s)", errs.len());
            Ok(ExitCode::from(1))
        }
    }
}

fn run_rules(
    files: &[PathBuf],
    bundled: bool,
    events: &PathBuf,
    filter: Option<&str>,
    report: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (set, _) = load(files, bundled)?;
    let engine = Engine::compile(&set).map_err(|errs| {
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("rules do not compile:\n{}", text.join("\n"))
    })?;
    let filter = match filter {
        Some(f) => Some(Filter::new(f).map_err(|e| anyhow::anyhow!("--filter {e}"))?),
        None => None,
    };
    let reader: Box<dyn io::BufRead> = if events.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(BufReader::new(
            File::open(events).with_context(|| format!("cannot open {}", events.display()))?,
        ))
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let mut analyzer = Analyzer::new(&engine);
    // A second state machine decides the filter on the same view the rules would see.
    let mut filter_state = filter.as_ref().map(|_| State::new());
    let (mut n, mut tested, mut alerts) = (0u64, 0u64, 0u64);
    for ev in read_json_lines(reader) {
        let ev = ev.with_context(|| format!("reading {}", events.display()))?;
        n += 1;
        if let (Some(f), Some(st)) = (&filter, &mut filter_state) {
            let view = st.update(&ev);
            if !f.matches(&ev, view) {
                analyzer.state_mut().update(&ev);
                continue;
            }
        }
        tested += 1;
        let mut err = None;
        analyzer.feed_with(&ev, |a| {
            alerts += 1;
            if err.is_none()
                && let Err(e) = serde_json::to_writer(&mut out, &a)
                    .map_err(io::Error::from)
                    .and_then(|()| out.write_all(b"\n"))
            {
                err = Some(e);
            }
        });
        if let Some(e) = err {
            if e.kind() == io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            bail!("writing alerts: {e}");
        }
    }
    out.flush()?;
    let rep = analyzer.report();
    eprintln!(
        "{n} events ({tested} tested), {alerts} alerts, {} signatures, score {:.1}, verdict {:?}",
        rep.signatures.len(),
        rep.score,
        rep.verdict
    );
    if let Some(path) = report {
        let f = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
        serde_json::to_writer_pretty(BufWriter::new(f), &rep)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferret fields`: the field registry, like `sysdig -l`.
pub fn fields(args: FieldsArgs) -> anyhow::Result<ExitCode> {
    match write_fields(&args) {
        // `ferret fields | head` is fine.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e.into()),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

fn write_fields(args: &FieldsArgs) -> io::Result<()> {
    let mut out = BufWriter::new(io::stdout().lock());
    if args.json {
        let v: Vec<serde_json::Value> = FIELDS
            .iter()
            .map(|f| {
                serde_json::json!({
                    "name": f.name,
                    "type": f.ty.name(),
                    "arg": !matches!(f.arg, ferret_filter::fields::ArgKind::No),
                    "absent": f.id == ferret_filter::fields::Field::Absent,
                    "desc": f.desc,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &v).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        let mut class = "";
        for f in FIELDS {
            let c = f.name.split('.').next().unwrap_or("");
            if c != class {
                class = c;
                writeln!(out, "\n----------------------\nField Class: {c}\n")?;
            }
            let name = match f.arg {
                ferret_filter::fields::ArgKind::No => f.name.to_owned(),
                ferret_filter::fields::ArgKind::Index => format!("{}[N]", f.name),
                ferret_filter::fields::ArgKind::NameOrIndex => format!("{}.NAME|[N]", f.name),
                ferret_filter::fields::ArgKind::Key => format!("{}[NAME]", f.name),
            };
            writeln!(out, "{name:<28} {:<9} {}", f.ty.name(), f.desc)?;
        }
    }
    out.flush()
}
