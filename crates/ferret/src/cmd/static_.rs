//! `ferret static`: static analysis of files, with YARA when compiled in.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
#[derive(Debug, Serialize)]
struct FileError {
    path: String,
    error: String,
}

pub const SCHEMA_VERSION: &str = "1.0";

/// Largest read buffer a worker keeps for the next file.
const SPARE_MAX: usize = 64 << 20;

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
    let mut first = true;
    // Chunks keep output in command-line order while bounding what is held at once;
    // each worker renders its own output so that serialisation runs in parallel too.
    for chunk in files.chunks(64) {
        let results: Vec<Result<Vec<u8>, FileError>> = pool.install(|| {
            chunk
                .par_iter()
                .map_init(
                    || (yara.scanner(), Vec::new()),
                    |(scanner, spare), path| {
                        let input =
                            ferret_static::read_input_into(path, &options, std::mem::take(spare))
                                .map_err(|e| FileError {
                                path: path.display().to_string(),
                                error: e.to_string(),
                            })?;
                        let report = match scanner.as_mut() {
                            // A large file's YARA scan runs beside its analysis, so
                            // that an idle worker can take one of them.
                            Some(s) if input.data.len() >= ferret_static::hashes::PARALLEL_MIN => {
                                let mut analysed = None;
                                let yara = rayon::in_place_scope(|scope| {
                                    scope.spawn(|_| {
                                        analysed = Some(ferret_static::analyze(&input, &options));
                                    });
                                    s.scan(&input.data)
                                });
                                // The scope has run the spawned analysis (a panic in it
                                // would have propagated), so this fallback never runs.
                                let mut report = analysed
                                    .unwrap_or_else(|| ferret_static::analyze(&input, &options));
                                report.yara = Some(yara);
                                report
                            }
                            Some(s) => {
                                let mut report = ferret_static::analyze(&input, &options);
                                report.yara = Some(s.scan(&input.data));
                                report
                            }
                            None => ferret_static::analyze(&input, &options),
                        };
                        let out = if args.json {
                            serde_json::to_vec(&report).map_err(|e| FileError {
                                path: input.path.clone(),
                                error: format!("serialising the report: {e}"),
                            })?
                        } else {
                            render::static_report(&report, style).into_bytes()
                        };
                        drop(report);
                        // Reuse the file's memory for the next one, unless it is
                        // large enough that holding on to it would be wasteful.
                        if input.data.capacity() <= SPARE_MAX {
                            *spare = input.data;
                        }
                        Ok(out)
                    },
                )
                .collect()
        });
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
    }
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
