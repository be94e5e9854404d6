//! Minimal strace-like front end for debugging and benchmarks:
//! `ftrace [--all] [--pin none|tracer|all] [-o FILE] [--timeout SECS] -- PROGRAM [ARGS...]`.
//! Prints one line per event (to FILE, or stderr) and a summary.

use ferret_trace::{
    CpuPin, FnSink, PtraceTracer, SyscallSet, TraceEvent, TraceOptions, Tracer, ptrace_filter,
    spawn_stopped,
};
use std::io::Write;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut all = false;
    let mut pin = CpuPin::None;
    let mut out: Option<String> = None;
    let mut timeout = 60u64;
    let mut prog = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--all" => all = true,
            "--pin" => {
                pin = match args.next().as_deref() {
                    Some("none") => CpuPin::None,
                    Some("tracer") => CpuPin::Tracer,
                    Some("all") => CpuPin::TracerAndTracees,
                    _ => return Err("--pin takes none, tracer or all".into()),
                }
            }
            "-o" => out = Some(args.next().ok_or("-o needs a file")?),
            "--timeout" => timeout = args.next().ok_or("--timeout needs seconds")?.parse()?,
            "--" => {
                prog.extend(args.by_ref());
            }
            _ => prog.push(a),
        }
    }
    if prog.is_empty() {
        return Err("usage: ftrace [--all] [--pin none|tracer|all] [-o FILE] [--timeout SECS] -- PROGRAM [ARGS...]".into());
    }
    let set = if all {
        SyscallSet::all()
    } else {
        SyscallSet::default()
    };
    let env: Vec<String> = std::env::vars().map(|(k, v)| format!("{k}={v}")).collect();
    let child = spawn_stopped(&prog, &env, &ptrace_filter(&set))?;
    let opts = TraceOptions {
        cpu_pin: pin,
        ..TraceOptions::default()
    };
    let mut tracer = PtraceTracer::seize_with(child.pid, opts)?;
    child.release()?;
    let mut w: Box<dyn Write> = match out {
        Some(f) => Box::new(std::io::BufWriter::new(std::fs::File::create(f)?)),
        None => Box::new(std::io::stderr()),
    };
    let mut sink = FnSink(|ev: TraceEvent| {
        let _ = writeln!(w, "{ev}");
    });
    let summary = tracer.run(Instant::now() + Duration::from_secs(timeout), &mut sink)?;
    eprintln!("ftrace: {summary:?}");
    Ok(())
}
