//! `ferret audit`: read auditd logs (ferret-audit), print interpreted events, or run
//! filters and rules over them (ferret-filter, ferret-rules).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args as ClapArgs;

use ferret_audit::json::{RenderOptions, event_json, event_text, push_json_str};
use ferret_audit::model::to_event;
use ferret_audit::{AuditReader, GroupConfig, IdNames, Item};
use ferret_event::State;
use ferret_filter::Filter;
use ferret_rules::{Analyzer, BUNDLED_RULES, Engine, RuleSet};

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Audit log to read (plain or enriched); "-" or none: standard input.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Print events as JSON lines (records with record_type, keys, interpreted data).
    #[arg(long)]
    json: bool,
    /// Print events in ferret's event model (docs/events.md JSON lines, source "audit"),
    /// e.g. for `ferret rules run --events -`.
    #[arg(long, conflicts_with = "json")]
    events: bool,
    /// Rule files (Falco YAML; rules with `source: audit` apply); repeatable. Alerts are
    /// printed instead of events.
    #[arg(long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Also load ferret's bundled rules (with --rules, or alone).
    #[arg(long)]
    bundled: bool,
    /// Only print (or test rules on) events matching this filter expression.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Include each record's raw message in JSON output.
    #[arg(long)]
    raw: bool,
    /// passwd file for user names of uid fields.
    #[arg(long, value_name = "FILE")]
    passwd: Option<PathBuf>,
    /// group file for group names of gid fields.
    #[arg(long, value_name = "FILE")]
    group: Option<PathBuf>,
    /// An event without EOE is complete once a record this many serials newer is read.
    #[arg(long, value_name = "N", default_value_t = GroupConfig::default().window)]
    window: u64,
    /// Most events held open while waiting for their records (memory bound).
    #[arg(long, value_name = "N", default_value_t = GroupConfig::default().max_open)]
    max_open: usize,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match run_inner(&args) {
        Err(e)
            if e.downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

fn load_rules(args: &Args) -> anyhow::Result<Option<Engine>> {
    if args.rules.is_empty() && !args.bundled {
        return Ok(None);
    }
    let mut set = RuleSet::new();
    if args.bundled {
        set.load_str("<bundled>/ferret_rules.yaml", BUNDLED_RULES)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    for f in &args.rules {
        set.load_file(f).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let engine = Engine::compile(&set).map_err(|errs| {
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("rules do not compile:\n{}", text.join("\n"))
    })?;
    Ok(Some(engine))
}

fn run_inner(args: &Args) -> anyhow::Result<ExitCode> {
    let engine = load_rules(args)?;
    let filter = match &args.filter {
        Some(f) => Some(Filter::new(f).map_err(|e| anyhow::anyhow!("--filter {e}"))?),
        None => None,
    };
    let names = IdNames::load(args.passwd.as_deref(), args.group.as_deref())
        .context("reading --passwd/--group")?;
    let opts = RenderOptions {
        raw: args.raw,
        names,
    };
    let name = match &args.file {
        Some(p) if p.as_os_str() != "-" => p.display().to_string(),
        _ => "<stdin>".to_owned(),
    };
    let input: Box<dyn BufRead> = match &args.file {
        Some(p) if p.as_os_str() != "-" => Box::new(BufReader::with_capacity(
            1 << 20,
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        )),
        _ => Box::new(BufReader::with_capacity(1 << 20, io::stdin().lock())),
    };
    let cfg = GroupConfig {
        window: args.window,
        max_open: args.max_open.max(1),
        ..GroupConfig::default()
    };
    let mut reader = AuditReader::with_config(input, cfg);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let mut analyzer = engine.as_ref().map(Analyzer::new);
    let mut filter_state = filter.as_ref().map(|_| State::new());
    let need_model = filter.is_some() || analyzer.is_some() || args.events;
    let mut buf = String::with_capacity(4096);
    let (mut num, mut shown, mut alerts) = (0u64, 0u64, 0u64);
    while let Some(item) = reader
        .next_item()
        .with_context(|| format!("reading {name}"))?
    {
        buf.clear();
        match item {
            Item::Event(ev) => {
                num += 1;
                if need_model {
                    let e = to_event(&ev, num);
                    if let (Some(f), Some(st)) = (&filter, &mut filter_state) {
                        let view = st.update(&e);
                        if !f.matches(&e, view) {
                            if let Some(a) = &mut analyzer {
                                a.state_mut().update(&e);
                            }
                            continue;
                        }
                    }
                    if let Some(a) = &mut analyzer {
                        let mut err = None;
                        a.feed_with(&e, |alert| {
                            alerts += 1;
                            let r = if args.json || args.events {
                                serde_json::to_writer(&mut out, &alert)
                                    .map_err(io::Error::from)
                                    .and_then(|()| out.write_all(b"\n"))
                            } else {
                                writeln!(out, "{}", alert.output)
                            };
                            if err.is_none() {
                                err = r.err();
                            }
                        });
                        if let Some(e) = err {
                            return Err(e.into());
                        }
                        continue;
                    }
                    if args.events {
                        buf.push_str(&e.to_json_line());
                        buf.push('\n');
                    }
                }
                shown += 1;
                if !args.events {
                    if args.json {
                        event_json(&mut buf, &ev, &opts);
                        buf.push('\n');
                    } else {
                        event_text(&mut buf, &ev, &opts);
                    }
                }
                out.write_all(buf.as_bytes())?;
            }
            Item::Malformed { line, text, error } => {
                if analyzer.is_some() || args.events {
                    continue; // counted in the summary
                }
                if args.json {
                    use std::fmt::Write as _;
                    let _ = write!(buf, "{{\"malformed\":");
                    push_json_str(&mut buf, &text);
                    let _ = write!(buf, ",\"line\":{line},\"error\":\"{error}\"}}");
                    buf.push('\n');
                } else {
                    use std::fmt::Write as _;
                    let _ = writeln!(buf, "---- malformed line {line} ({error}): {text}");
                }
                out.write_all(buf.as_bytes())?;
            }
        }
    }
    out.flush()?;
    let st = reader.stats();
    let mut summary = format!(
        "{name}: {} records, {} events ({shown} shown), {} warnings ({} malformed lines, {} too long, {} unknown record types, {} records over the per-event limit), {} events completed early (--max-open)",
        st.records,
        st.events,
        st.warnings(),
        st.malformed,
        st.too_long,
        st.unknown_types,
        st.dropped_records,
        st.forced
    );
    if let Some(a) = &analyzer {
        let rep = a.report();
        summary.push_str(&format!(
            "; {alerts} alerts, {} signatures, score {:.1}, verdict {:?}",
            rep.signatures.len(),
            rep.score,
            rep.verdict
        ));
    }
    eprintln!("{summary}");
    if st.records == 0 && st.malformed > 0 {
        bail!("{name}: no audit records found");
    }
    Ok(ExitCode::SUCCESS)
}
