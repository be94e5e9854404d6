//! `ferret analyze`: detonation of a sample in the sandbox (ferret-analyze), summary,
//! and a record in the analysis database (ferret-store).

use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Args as ClapArgs, ValueEnum};
use serde_json::Value;

use ferret_analyze::{AnalyzeOptions, Network, Phase, Progress, YaraFn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetMode {
    /// Loopback only.
    None,
    /// The fake internet: DNS, HTTP, IRC, telnet and banner responders on every
    /// address, capture to capture.pcap (needs root).
    Fake,
}

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The file to run (an ELF program or a script with a `#!` line).
    #[arg(value_name = "SAMPLE")]
    sample: PathBuf,
    /// Detonation time limit in seconds.
    #[arg(long, default_value_t = 60.0, value_name = "SECS")]
    timeout: f64,
    /// Network of the sandbox.
    #[arg(long, value_enum, default_value_t = NetMode::Fake)]
    net: NetMode,
    /// Output directory [default: DATA_DIR/analyses/<time>-<sample>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Trace every system call, not only the default set.
    #[arg(long)]
    trace_all: bool,
    /// Print report.json instead of the summary.
    #[arg(long)]
    json: bool,
    /// Events recorded at most.
    #[arg(long, default_value_t = ferret_analyze::DEFAULT_MAX_EVENTS, value_name = "N")]
    max_events: u64,
    /// Analysis database [default: $FERRET_DATA_DIR/ferret.db, else
    /// $XDG_DATA_HOME/ferret/ferret.db, else ~/.local/share/ferret/ferret.db].
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Do not record the analysis in the database.
    #[arg(long)]
    no_store: bool,
    /// Skip YARA scanning of the sample and the dropped files.
    #[arg(long)]
    no_yara: bool,
    /// Run the sample as this architecture instead of the one its ELF header names
    /// (x86_64, i386, arm, armhf, aarch64, mips, mipsel, ppc, ppc64le, riscv64...);
    /// foreign architectures run under qemu-user.
    #[arg(long, value_name = "NAME", value_parser = parse_arch)]
    arch: Option<ferret_analyze::Arch>,
    /// Arguments for the sample (everything after `--args`; put it last).
    #[arg(long = "args", num_args = 1.., allow_hyphen_values = true, value_name = "ARG")]
    args: Vec<OsString>,
}

fn parse_arch(s: &str) -> Result<ferret_analyze::Arch, String> {
    s.parse()
        .map_err(|e: ferret_analyze::EmuError| e.to_string())
}

/// Progress on a terminal: one rewritten line on stderr.
struct TtyProgress {
    last: Option<(Phase, u64)>,
    shown: bool,
}

impl Progress for TtyProgress {
    fn update(&mut self, phase: Phase, elapsed: Duration, events: u64) {
        let tenths = elapsed.as_millis() as u64 / 100;
        if self.last == Some((phase, tenths)) {
            return;
        }
        self.last = Some((phase, tenths));
        let mut err = io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{:<16} {:>6.1}s  {events} events",
            phase.as_str(),
            elapsed.as_secs_f64()
        );
        let _ = err.flush();
        self.shown = true;
    }
}

impl TtyProgress {
    fn clear(&self) {
        if self.shown {
            let _ = write!(io::stderr(), "\r\x1b[2K");
        }
    }
}

fn yara_fn(no_yara: bool) -> anyhow::Result<Option<YaraFn>> {
    let yara = crate::yara::Yara::load(&crate::yara::YaraArgs {
        enabled: !no_yara,
        bundled: true,
        dirs: &[],
        cache_dir: None,
    })?;
    if yara.scanner().is_none() {
        return Ok(None);
    }
    // A scanner borrows the rules; the mutex makes the shared rules usable from the
    // callback whatever their own thread-safety.
    let yara = Mutex::new(yara);
    Ok(Some(Box::new(move |data: &[u8]| {
        let guard = yara
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard
            .scanner()
            .map(|mut s| s.scan(data))
            .unwrap_or_default()
    })))
}

fn default_out(sample: &std::path::Path) -> anyhow::Result<PathBuf> {
    let base = ferret_store::data_dir()?.join("analyses");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name: String = sample
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    Ok(base.join(format!("{nanos}-{name}")))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout > 0.0 && args.timeout <= 86_400.0) {
        anyhow::bail!("--timeout must be between 0 and 86400 seconds");
    }
    let meta = std::fs::metadata(&args.sample)
        .with_context(|| format!("cannot read the sample {}", args.sample.display()))?;
    if !meta.is_file() {
        anyhow::bail!("the sample {} is not a regular file", args.sample.display());
    }
    let out_dir = match &args.out {
        Some(d) => d.clone(),
        None => default_out(&args.sample)?,
    };
    let network = match args.net {
        NetMode::None => Network::None,
        NetMode::Fake => ferret_analyze::fake_network(),
    };
    let opts = AnalyzeOptions {
        timeout: Duration::from_secs_f64(args.timeout),
        args: args.args.clone(),
        network,
        network_notes: Vec::new(),
        out_dir: out_dir.clone(),
        trace_all: args.trace_all,
        max_events: args.max_events,
        yara: yara_fn(args.no_yara)?,
        arch: args.arch,
        ..AnalyzeOptions::default()
    };
    let tty = io::stderr().is_terminal();
    let mut progress = TtyProgress {
        last: None,
        shown: false,
    };
    let result = if tty {
        ferret_analyze::analyze(&args.sample, &opts, &mut progress)
    } else {
        ferret_analyze::analyze(&args.sample, &opts, &mut ferret_analyze::NoProgress)
    };
    progress.clear();
    let analysis = result?;
    let report_json = serde_json::to_string(&analysis.report).context("serialising the report")?;
    let mut stored = None;
    if !args.no_store {
        let rec = (|| -> anyhow::Result<i64> {
            let mut store = match &args.db {
                Some(p) => ferret_store::Store::open(p)?,
                None => ferret_store::Store::open_default()?,
            };
            let r = &analysis.report;
            let verdict = serde_json::to_value(r.verdict)?;
            Ok(store.insert(&ferret_store::NewAnalysis {
                time: r.analysis.started_at,
                sample_name: &r.sample.name,
                sha256: &r.sample.sha256,
                verdict: verdict.as_str().unwrap_or("unknown"),
                score: r.score,
                report_json: &report_json,
                out_dir: &analysis.out_dir.display().to_string(),
            })?)
        })();
        match rec {
            Ok(id) => stored = Some(id),
            Err(e) => eprintln!("ferret: the analysis was not recorded in the database: {e:#}"),
        }
    }
    // report.html beside report.json (crates/ferret-html).
    let html = ferret_html::write_report_dir(&analysis.out_dir)
        .map_err(|e| eprintln!("ferret: report.html was not written: {e}"))
        .ok();
    let mut out = io::stdout().lock();
    if let (true, Some(p)) = (args.json, &html) {
        eprintln!("ferret: report {}", p.display());
    }
    if args.json {
        let v: Value = serde_json::from_str(&report_json)?;
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        let v: Value = serde_json::from_str(&report_json)?;
        write_summary(&mut out, &v, stored)?;
        writeln!(out, "output: {}", analysis.out_dir.display())?;
        if let Some(p) = &html {
            writeln!(out, "report: {}", p.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn exit_text(e: Option<&Value>) -> String {
    match e {
        Some(e) if e.get("code").is_some() => format!(
            "exit {}",
            e.get("code").and_then(Value::as_i64).unwrap_or(0)
        ),
        Some(e) if e.get("signal").is_some() => format!("killed by {}", s(e, "signal")),
        _ => "running at stop".to_owned(),
    }
}

/// Prints the summary of a report (as JSON): verdict, score, signatures, process tree,
/// files written, connections, limits. Shared with `ferret show`.
pub fn write_summary(out: &mut dyn Write, r: &Value, id: Option<i64>) -> io::Result<()> {
    let sample = r.get("sample").unwrap_or(&Value::Null);
    writeln!(
        out,
        "sample:   {} ({})",
        s(sample, "name"),
        s(sample, "file_type")
    )?;
    writeln!(out, "sha256:   {}", s(sample, "sha256"))?;
    if let Some(a) = r.pointer("/analysis/arch") {
        writeln!(
            out,
            "arch:     {} ({}{})",
            s(a, "name"),
            s(a, "runner"),
            if a.get("forced").and_then(Value::as_bool) == Some(true) {
                ", forced with --arch"
            } else {
                ""
            }
        )?;
    }
    if let Some(id) = id {
        writeln!(out, "id:       {id}")?;
    }
    let score = r.get("score").and_then(Value::as_f64).unwrap_or(0.0);
    writeln!(
        out,
        "verdict:  {} (score {score:.1}/10)",
        s(r, "verdict").to_uppercase()
    )?;
    if let Some(notes) = r
        .pointer("/analysis/network_notes")
        .and_then(Value::as_array)
    {
        for n in notes.iter().filter_map(Value::as_str) {
            writeln!(out, "note:     {n}")?;
        }
    }
    let sigs = r
        .get("signatures")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    writeln!(out, "\nsignatures ({}):", sigs.len())?;
    for sig in sigs {
        let attack: Vec<&str> = sig
            .get("attack")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        writeln!(
            out,
            "  [{}] {} ({}, {} events)",
            attack.join(", "),
            s(sig, "name"),
            s(sig, "severity"),
            u(sig, "count")
        )?;
    }
    let procs = r
        .pointer("/processes/list")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    writeln!(
        out,
        "\nprocesses ({}):",
        r.pointer("/processes/count")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    )?;
    let by_pid: std::collections::HashMap<i64, &Value> = procs
        .iter()
        .filter_map(|p| Some((p.get("pid")?.as_i64()?, p)))
        .collect();
    let roots: Vec<&Value> = procs
        .iter()
        .filter(|p| {
            let ppid = p.get("ppid").and_then(Value::as_i64).unwrap_or(0);
            !by_pid.contains_key(&ppid)
        })
        .collect();
    let mut shown = 0usize;
    // Iterative depth-first walk (a fork chain can be deep).
    let mut stack: Vec<(&Value, usize)> = roots.into_iter().rev().map(|p| (p, 0)).collect();
    let mut seen = std::collections::HashSet::new();
    while let Some((p, depth)) = stack.pop() {
        let pid = p.get("pid").and_then(Value::as_i64).unwrap_or(0);
        if !seen.insert(pid) {
            continue;
        }
        if shown == 50 {
            writeln!(out, "  ... ({} more)", procs.len().saturating_sub(shown))?;
            break;
        }
        shown += 1;
        let cmd = match s(p, "cmdline") {
            "" => s(p, "exe"),
            c => c,
        };
        let cmd: String = cmd.chars().take(100).collect();
        // Only emulated programs name their architecture: native is the default.
        let arch = match p.get("runner").and_then(Value::as_str) {
            Some(r) if r != "native" => format!(" ({} via {r})", s(p, "arch")),
            _ => String::new(),
        };
        writeln!(
            out,
            "  {:indent$}{pid} {cmd} [{}]{arch} {}",
            "",
            s(p, "name"),
            exit_text(p.get("exit")),
            indent = depth.min(20) * 2
        )?;
        if let Some(ch) = p.get("children").and_then(Value::as_array) {
            for c in ch.iter().rev().filter_map(Value::as_i64) {
                if let Some(cp) = by_pid.get(&c) {
                    stack.push((cp, depth + 1));
                }
            }
        }
    }
    let written = r
        .pointer("/files/written")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    writeln!(out, "\nfiles written ({}):", written.len())?;
    for f in written.iter().take(30) {
        writeln!(out, "  {}", s(f, "path"))?;
    }
    if written.len() > 30 {
        writeln!(out, "  ... ({} more)", written.len() - 30)?;
    }
    let conns = r
        .pointer("/network/connections")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    writeln!(out, "\nconnections attempted ({}):", conns.len())?;
    for c in conns.iter().take(30) {
        let addr = match (
            c.get("address").and_then(Value::as_str),
            c.get("port").and_then(Value::as_u64),
        ) {
            (Some(a), Some(p)) if a.contains(':') => format!("[{a}]:{p}"),
            (Some(a), Some(p)) => format!("{a}:{p}"),
            (Some(a), None) => a.to_owned(),
            _ => "?".to_owned(),
        };
        let err = c
            .get("last_error")
            .and_then(Value::as_str)
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {} {} {addr} x{}{err}",
            s(c, "syscall"),
            s(c, "family"),
            u(c, "count")
        )?;
    }
    if conns.len() > 30 {
        writeln!(out, "  ... ({} more)", conns.len() - 30)?;
    }
    out.write_all(crate::render::network_block(r).as_bytes())?;
    let l = r.get("limits").unwrap_or(&Value::Null);
    let mut hits = Vec::new();
    if l.get("timed_out").and_then(Value::as_bool) == Some(true) {
        hits.push("timeout".to_owned());
    }
    if let Some(d) = l
        .pointer("/events/dropped")
        .and_then(Value::as_u64)
        .filter(|d| *d > 0)
    {
        hits.push(format!("{d} events past the cap"));
    }
    for k in ["stdout", "stderr"] {
        if let Some(t) = l
            .pointer(&format!("/{k}/truncated_bytes"))
            .and_then(Value::as_u64)
            .filter(|t| *t > 0)
        {
            hits.push(format!("{k} cut by {t} bytes"));
        }
    }
    if u(l, "oom_kills") > 0 {
        hits.push(format!("{} OOM kills", u(l, "oom_kills")));
    }
    if u(l, "pids_limit_hits") > 0 {
        hits.push(format!(
            "{} forks refused (pids limit)",
            u(l, "pids_limit_hits")
        ));
    }
    if l.get("tmpfs_full").and_then(Value::as_bool) == Some(true) {
        hits.push("writable filesystem full".to_owned());
    }
    if let Some(c) = l
        .pointer("/capture/packets_cut")
        .and_then(Value::as_u64)
        .filter(|c| *c > 0)
    {
        hits.push(format!("{c} packets past the capture limit"));
    }
    if u(l, "denied_total") > 0 {
        hits.push(format!("{} calls denied", u(l, "denied_total")));
    }
    if !hits.is_empty() {
        writeln!(out, "\nlimits hit: {}", hits.join(", "))?;
    }
    if let Some(errs) = r.pointer("/outcome/errors").and_then(Value::as_array)
        && !errs.is_empty()
    {
        writeln!(out, "\nanalysis problems:")?;
        for e in errs.iter().filter_map(Value::as_str) {
            writeln!(out, "  {e}")?;
        }
    }
    Ok(())
}
