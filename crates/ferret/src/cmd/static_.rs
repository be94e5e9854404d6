//! `ferret static`: static analysis of files, with YARA when compiled in.

use std::io::{self, IsTerminal, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Mutex, PoisonError, mpsc};
use std::thread;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use rayon::prelude::*;
use serde::Serialize;

use ferret_static::Options;

use crate::render;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Files to analyse; a directory is walked (regular files only, links not followed).
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print one JSON document (schema: docs/schema/static-report.schema.json).
    #[arg(long)]
    json: bool,
    /// A directory (or file) of YARA rules to use besides the bundled ones; repeatable.
    #[arg(long = "rules", value_name = "DIR")]
    rules: Vec<PathBuf>,
    /// Do not use ferret's bundled YARA rules.
    #[arg(long)]
    no_bundled_rules: bool,
    /// Skip YARA scanning altogether.
    #[arg(long)]
    no_yara: bool,
    /// Where compiled YARA rules are cached [default: $FERRET_CACHE_DIR, else
    /// $XDG_CACHE_HOME/ferret, else ~/.cache/ferret].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile the rules every time instead of using the cache.
    #[arg(long)]
    no_cache: bool,
    /// Shortest string reported.
    #[arg(long, default_value_t = 4, value_name = "N")]
    min_len: usize,
    /// Most strings kept per file (IOCs are extracted from all of them).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_strings: usize,
    /// Files analysed in parallel [default: number of CPUs].
    #[arg(long, short = 'j', value_name = "N")]
    jobs: Option<usize>,
}

/// The JSON document: versioned envelope, the rule set used, then one report a file.
#[derive(Serialize)]
struct Envelope<'a, R: Serialize> {
    schema_version: &'static str,
    ferret_version: &'static str,
    yara: Option<&'a R>,
}

/// A file that could not be analysed at all.
#[derive(Debug, Clone, Serialize)]
struct FileError {
    path: String,
    error: String,
}

pub const SCHEMA_VERSION: &str = "1.0";

/// Largest read buffer kept for the next group of files.
const SPARE_MAX: usize = 64 << 20;
/// File bytes a group holds at most (a larger file goes alone): enough files
/// that MD5 keeps its 16 lanes busy, little enough memory.
const GROUP_BYTES: u64 = 128 << 20;
/// Files in a group at most, which bounds the reports held before output.
const GROUP_FILES: usize = 128;
/// File bytes of the groups started but not yet written, at most: two full
/// groups, so that the next one runs beside the tail of the current one.
const IN_FLIGHT_BYTES: u64 = 2 * GROUP_BYTES;

/// Each file's output, or why it could not be analysed, in a group's order.
type GroupResults = Vec<Result<Vec<u8>, FileError>>;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.min_len == 0 {
        anyhow::bail!("--min-len must be at least 1");
    }
    let options = Options {
        min_string_len: args.min_len,
        max_strings: args.max_strings,
        ..Options::default()
    };
    let yara = crate::yara::Yara::load(&crate::yara::YaraArgs {
        enabled: !args.no_yara,
        bundled: !args.no_bundled_rules,
        dirs: &args.rules,
        cache_dir: if args.no_cache {
            None
        } else {
            Some(cache_dir(args.cache_dir.as_deref()))
        },
    })?;
    if let Some(note) = yara.note() {
        eprintln!("ferret: {note}");
    }

    let mut errors = Vec::new();
    let files = expand(&args.files, &mut errors);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting worker threads")?;

    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 20, stdout.lock());
    let color = !args.json && io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    if args.json {
        let env = Envelope {
            schema_version: SCHEMA_VERSION,
            ferret_version: env!("CARGO_PKG_VERSION"),
            yara: yara.report(),
        };
        let head = serde_json::to_string(&env)?;
        // Stream the files array so memory stays bounded on large batches.
        out.write_all(&head.as_bytes()[..head.len() - 1])?;
        out.write_all(b",\"files\":[")?;
    }
    let style = render::Style::new(color);
    // Files go in groups, in command-line order, so that output keeps that
    // order while memory stays bounded, and so that MD5 can hash a whole
    // group at once (several streams side by side are much faster than one).
    let sizes: Vec<u64> = files
        .iter()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len().min(options.max_file_size)))
        .collect();
    let mut groups = Vec::new();
    let mut start = 0;
    while start < files.len() {
        let end = group_end(&sizes, start);
        groups.push(start..end);
        start = end;
    }
    let work = Work {
        options: &options,
        yara: &yara,
        json: args.json,
        style,
    };
    let buffers = Mutex::new(Vec::new());
    let (tx, rx) = mpsc::channel::<(usize, thread::Result<GroupResults>)>();
    // Several groups are in flight at once, so that a core that would wait
    // for the last large file of one group starts on the next, and this
    // (non-worker) thread writes one group's output while workers analyse.
    // Groups start in order while the file bytes of the groups not yet
    // written stay within IN_FLIGHT_BYTES (one group always may start).
    pool.in_place_scope(|scope| -> anyhow::Result<()> {
        let mut ready: Vec<Option<GroupResults>> = groups.iter().map(|_| None).collect();
        let group_bytes = |i: usize| -> u64 {
            groups
                .get(i)
                .and_then(|g| sizes.get(g.clone()))
                .map_or(0, |s| s.iter().sum())
        };
        let mut next = 0;
        let mut in_flight = 0u64;
        let mut first = true;
        for written in 0..groups.len() {
            while next < groups.len()
                && (next == written || in_flight + group_bytes(next) <= IN_FLIGHT_BYTES)
            {
                in_flight += group_bytes(next);
                // Groups are ranges of `files` (and `sizes`), so both are
                // found; an empty group would still be sent, never awaited
                // in vain.
                let paths = groups.get(next).and_then(|g| files.get(g.clone()));
                let group_sizes = groups.get(next).and_then(|g| sizes.get(g.clone()));
                let (paths, group_sizes) =
                    (paths.unwrap_or_default(), group_sizes.unwrap_or_default());
                let (tx, buffers, work, index) = (tx.clone(), &buffers, &work, next);
                scope.spawn(move |_| {
                    // A panic goes to the writer, which would otherwise wait
                    // for this group forever.
                    let results = panic::catch_unwind(AssertUnwindSafe(|| {
                        analyse_group(paths, group_sizes, buffers, work)
                    }));
                    // The writer has stopped (on a write error) if this fails.
                    let _ = tx.send((index, results));
                });
                next += 1;
            }
            let results = loop {
                if let Some(results) = ready.get_mut(written).and_then(Option::take) {
                    break results;
                }
                let (index, results) = rx.recv().context("a worker thread stopped")?;
                match results {
                    Ok(results) => {
                        if let Some(slot) = ready.get_mut(index) {
                            *slot = Some(results);
                        }
                    }
                    Err(payload) => panic::resume_unwind(payload),
                }
            };
            for r in results {
                match r {
                    Ok(bytes) => {
                        if args.json && !first {
                            out.write_all(b",")?;
                        }
                        first = false;
                        out.write_all(&bytes)?;
                    }
                    Err(e) => {
                        eprintln!("ferret: {}: {}", e.path, e.error);
                        errors.push(e);
                    }
                }
            }
            in_flight -= group_bytes(written);
        }
        Ok(())
    })?;
    if args.json {
        out.write_all(b"],\"errors\":")?;
        serde_json::to_writer(&mut out, &errors)?;
        out.write_all(b"}\n")?;
    }
    out.flush()?;
    Ok(if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What every file of a run is analysed with.
struct Work<'a> {
    options: &'a Options,
    yara: &'a crate::yara::Yara,
    json: bool,
    style: render::Style,
}

/// The end of the group that starts at `start`: at most [`GROUP_FILES`] files
/// holding at most [`GROUP_BYTES`] (a larger file goes alone).
fn group_end(sizes: &[u64], start: usize) -> usize {
    let mut bytes = 0u64;
    let mut end = start;
    for &size in sizes.iter().skip(start).take(GROUP_FILES) {
        bytes = bytes.saturating_add(size);
        if end > start && bytes > GROUP_BYTES {
            break;
        }
        end += 1;
    }
    end
}

/// Reads, analyses and renders one group of files, giving each file's
/// output (or why it could not be analysed) in the group's order. MD5 hashes
/// the whole group at once, beside the rest of the analysis; `buffers` holds
/// read buffers from one group to the next.
fn analyse_group(
    paths: &[PathBuf],
    sizes: &[u64],
    buffers: &Mutex<Vec<Vec<u8>>>,
    work: &Work<'_>,
) -> GroupResults {
    // Reused buffers go to the largest files, which gain most from memory
    // that is already mapped.
    let mut spares: Vec<Vec<u8>> = paths.iter().map(|_| Vec::new()).collect();
    let mut by_size: Vec<usize> = (0..paths.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(sizes.get(i).copied().unwrap_or(0)));
    {
        // A panic elsewhere cannot leave the list of buffers inconsistent.
        let mut buffers = buffers.lock().unwrap_or_else(PoisonError::into_inner);
        buffers.sort_by_key(Vec::capacity);
        for i in by_size {
            let (Some(slot), Some(buf)) = (spares.get_mut(i), buffers.pop()) else {
                break;
            };
            *slot = buf;
        }
    }
    let inputs: Vec<Result<ferret_static::Input, FileError>> = paths
        .par_iter()
        .zip(spares)
        .map(|(path, spare)| {
            ferret_static::read_input_into(path, work.options, spare).map_err(|e| FileError {
                path: path.display().to_string(),
                error: e.to_string(),
            })
        })
        .collect();
    let data: Vec<&[u8]> = inputs.iter().flatten().map(|i| i.data.as_slice()).collect();
    let (digests, mut reports) = rayon::join(
        || ferret_static::hashes::md5_many(&data),
        || {
            inputs
                .par_iter()
                .map_init(
                    || work.yara.scanner(),
                    |scanner, input| {
                        let scan = scanner.as_mut().map(|s| |data: &[u8]| s.scan(data));
                        Some(analyse(input.as_ref().ok()?, scan, work))
                    },
                )
                .collect::<Vec<_>>()
        },
    );
    // Digests are in the order of the files that could be read.
    for (report, digest) in reports.iter_mut().flatten().zip(&digests) {
        report.hashes.set_md5(digest);
    }
    let results = reports
        .into_par_iter()
        .zip(&inputs)
        .map(|(report, input)| match (report, input) {
            (Some(report), _) => render(&report, work),
            (None, Err(e)) => Err(e.clone()),
            (None, Ok(input)) => Err(FileError {
                path: input.path.clone(),
                error: "not analysed".into(),
            }),
        })
        .collect();
    // Keep read buffers for the next group, up to the size of a group.
    let mut buffers = buffers.lock().unwrap_or_else(PoisonError::into_inner);
    let mut kept: usize = buffers.iter().map(Vec::capacity).sum();
    for input in inputs.into_iter().flatten() {
        let capacity = input.data.capacity();
        if capacity <= SPARE_MAX && kept + capacity <= GROUP_BYTES as usize {
            kept += capacity;
            buffers.push(input.data);
        }
    }
    results
}

/// Analyses one file but for its MD5, with YARA when `scan` is given.
fn analyse<'d>(
    input: &'d ferret_static::Input,
    scan: Option<impl FnMut(&[u8]) -> ferret_report::YaraResult>,
    work: &Work<'_>,
) -> ferret_static::StaticReport<'d> {
    match scan {
        // A large file's YARA scan runs beside its analysis, so that an idle
        // worker can take one of them.
        Some(mut scan) if input.data.len() >= ferret_static::hashes::PARALLEL_MIN => {
            let mut analysed = None;
            let yara = rayon::in_place_scope(|scope| {
                scope.spawn(|_| {
                    analysed = Some(ferret_static::analyze_without_md5(input, work.options));
                });
                scan(&input.data)
            });
            // The scope has run the spawned analysis (a panic in it would
            // have propagated), so this fallback never runs.
            let mut report =
                analysed.unwrap_or_else(|| ferret_static::analyze_without_md5(input, work.options));
            report.yara = Some(yara);
            report
        }
        Some(mut scan) => {
            let mut report = ferret_static::analyze_without_md5(input, work.options);
            report.yara = Some(scan(&input.data));
            report
        }
        None => ferret_static::analyze_without_md5(input, work.options),
    }
}

/// One file's report as JSON or as text.
fn render(report: &ferret_static::StaticReport<'_>, work: &Work<'_>) -> Result<Vec<u8>, FileError> {
    if work.json {
        serde_json::to_vec(report).map_err(|e| FileError {
            path: report.path.clone(),
            error: format!("serialising the report: {e}"),
        })
    } else {
        Ok(render::static_report(report, work.style).into_bytes())
    }
}

/// Files from the arguments; directories walked without following links. Paths that
/// cannot be read are reported (and counted as errors) right away.
fn expand(args: &[PathBuf], errors: &mut Vec<FileError>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for arg in args {
        match std::fs::metadata(arg) {
            Ok(m) if m.is_dir() => walk(arg, &mut files, errors),
            Ok(_) => files.push(arg.clone()),
            Err(e) => {
                let e = FileError {
                    path: arg.display().to_string(),
                    error: e.to_string(),
                };
                eprintln!("ferret: {}: {}", e.path, e.error);
                errors.push(e);
            }
        }
    }
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<FileError>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("ferret: {}: {e}", dir.display());
            errors.push(FileError {
                path: dir.display().to_string(),
                error: e.to_string(),
            });
            return;
        }
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok()).collect();
    paths.sort_by_key(|e| e.path());
    for entry in paths {
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&entry.path(), files, errors),
            Ok(t) if t.is_file() => files.push(entry.path()),
            _ => {}
        }
    }
}

pub fn cache_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_owned();
    }
    if let Some(p) = std::env::var_os("FERRET_CACHE_DIR") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("ferret");
    }
    match std::env::var_os("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/ferret"),
        None => std::env::temp_dir().join("ferret-cache"),
    }
}
