//! Finding rule files and compiling them into one rule set.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::analyse::Analysis;
use crate::cache;
use crate::prefilter::{Prefilter, PrefilterSummary};

/// Rules to compile into one namespace: a file or directory, or text held in memory
/// (ferret's bundled rules are compiled into the binary so that it works anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleSource {
    Path {
        namespace: String,
        path: PathBuf,
    },
    Inline {
        namespace: String,
        name: String,
        text: String,
    },
}

impl RuleSource {
    pub fn new(namespace: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self::Path {
            namespace: namespace.into(),
            path: path.into(),
        }
    }

    /// A source whose namespace is the directory's (or file's) name, which is what an
    /// analyst recognises in a match: `elastic-linux`, `my_rules`.
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        Self::Path {
            namespace: name,
            path,
        }
    }

    pub fn inline(
        namespace: impl Into<String>,
        name: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        Self::Inline {
            namespace: namespace.into(),
            name: name.into(),
            text: text.into(),
        }
    }

    pub fn namespace(&self) -> &str {
        match self {
            Self::Path { namespace, .. } | Self::Inline { namespace, .. } => namespace,
        }
    }
}

/// ferret's own rules (`rules/yara/` in the repository), embedded at build time, in
/// the `ferret` namespace.
pub fn bundled() -> Vec<RuleSource> {
    crate::BUNDLED
        .iter()
        .map(|(name, text)| RuleSource::inline("ferret", *name, *text))
        .collect()
}

/// Where compiled rule sets are cached; `None` compiles every time.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub cache_dir: Option<PathBuf>,
}

/// Errors that stop loading altogether. A rule file that does not compile is not one
/// of these: it is skipped and listed in [`LoadReport::failures`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rules path {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rules path {} is neither a file nor a directory", .0.display())]
    NotFileOrDir(PathBuf),
    #[error("no YARA rule files (*.yar, *.yara) under {}", .0.display())]
    NoRuleFiles(PathBuf),
}

/// Why one rule file was left out of the compiled set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleFileError {
    pub path: String,
    /// 1-based line of the first error, when yara-x located it.
    pub line: Option<usize>,
    /// One line: yara-x's error code, title and label.
    pub message: String,
}

/// How the compiled set was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// No cache directory was given.
    Disabled,
    /// Loaded from the cache without compiling.
    Hit,
    /// Compiled, then stored in the cache.
    Miss,
    /// Compiled because the cached entry was unreadable; the entry was replaced.
    Rebuilt,
}

/// What loading the rules gave: counts, skipped files and how the cache was used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Rule files found.
    pub files: usize,
    /// Rule files that compiled without error.
    pub files_compiled: usize,
    /// Rules in the compiled set.
    pub rules: usize,
    pub failures: Vec<RuleFileError>,
    pub cache: CacheStatus,
    /// Hex SHA-256 over yara-x's version and every rule file's namespace, path and
    /// content: the cache key.
    pub key: String,
    /// Why the cache could not be written, when it could not (loading still worked).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cache_note: Option<String>,
}

/// A compiled rule set ready for scanning.
///
/// Each namespace (each run of consecutive sources with the same namespace, which is
/// what yara-x makes one namespace of) is its own yara-x rule set with its own
/// prefilter, so that a namespace the prefilter cannot reason about does not force
/// full scans for the others. yara-x keeps namespaces apart (a rule can only refer
/// to rules of its own namespace), so compiling them apart gives the same rules.
pub struct CompiledRules {
    pub(crate) units: Vec<Unit>,
    pub report: LoadReport,
}

/// One namespace's compiled rules and, when every rule was understood, its
/// prefilter.
pub(crate) struct Unit {
    pub(crate) rules: yara_x::Rules,
    pub(crate) prefilter: Option<Prefilter>,
    pub(crate) summary: PrefilterSummary,
}

impl CompiledRules {
    /// Per namespace, the first rule that the prefilter finds `data` may match
    /// (why yara-x would scan it); `None` when it proves that no rule can match,
    /// or when the namespace has no prefilter.
    pub fn prefilter_explain(&self, data: &[u8]) -> Vec<(String, Option<String>)> {
        self.units
            .iter()
            .map(|u| {
                let rule = u
                    .prefilter
                    .as_ref()
                    .and_then(|p| p.first_possible_rule(data))
                    .map(str::to_owned);
                (u.summary.namespace.clone(), rule)
            })
            .collect()
    }

    /// What the prefilter understood of each namespace, in scan order.
    pub fn prefilter_summaries(&self) -> Vec<PrefilterSummary> {
        self.units.iter().map(|u| u.summary.clone()).collect()
    }
}

impl std::fmt::Debug for CompiledRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledRules")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

/// The rule files of one source, sorted so that the cache key and the namespace's
/// rule order do not depend on directory order.
pub fn collect_rule_files(root: &Path) -> Result<Vec<PathBuf>, Error> {
    let meta = fs::metadata(root).map_err(|e| Error::Io {
        path: root.to_owned(),
        source: e,
    })?;
    if meta.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    if !meta.is_dir() {
        return Err(Error::NotFileOrDir(root.to_owned()));
    }
    let mut files = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| Error::Io {
            path: dir.clone(),
            source: e,
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::Io {
                path: dir.clone(),
                source: e,
            })?;
            let path = entry.path();
            // file_type() does not follow symlinks, so a link cycle cannot loop us.
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(path);
            } else if is_rule_file(&path) {
                files.push(path);
            }
        }
    }
    if files.is_empty() {
        return Err(Error::NoRuleFiles(root.to_owned()));
    }
    files.sort();
    Ok(files)
}

fn is_rule_file(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yar") || e.eq_ignore_ascii_case("yara"))
}

struct RuleFile {
    namespace: String,
    /// The path, or the name of an inline source: shown in errors, part of the key.
    origin: String,
    text: Vec<u8>,
}

fn read_sources(sources: &[RuleSource]) -> Result<Vec<RuleFile>, Error> {
    let mut files = Vec::new();
    for source in sources {
        match source {
            RuleSource::Path { namespace, path } => {
                for path in collect_rule_files(path)? {
                    let text = fs::read(&path).map_err(|e| Error::Io {
                        path: path.clone(),
                        source: e,
                    })?;
                    let origin = path.display().to_string();
                    files.push(RuleFile {
                        namespace: namespace.clone(),
                        origin,
                        text,
                    });
                }
            }
            RuleSource::Inline {
                namespace,
                name,
                text,
            } => files.push(RuleFile {
                namespace: namespace.clone(),
                origin: name.clone(),
                text: text.clone().into_bytes(),
            }),
        }
    }
    Ok(files)
}

/// Loads every source, one yara-x rule set per namespace, each from the cache when
/// its rules are unchanged, and builds each namespace's prefilter.
pub fn load(sources: &[RuleSource], options: &LoadOptions) -> Result<CompiledRules, Error> {
    let files = read_sources(sources)?;
    let key = cache_key(&files);
    let mut units = Vec::new();
    let mut report = LoadReport {
        files: 0,
        files_compiled: 0,
        rules: 0,
        failures: Vec::new(),
        cache: if options.cache_dir.is_some() {
            CacheStatus::Hit
        } else {
            CacheStatus::Disabled
        },
        key,
        cache_note: None,
    };
    let mut start = 0;
    while start < files.len() {
        let ns = &files[start].namespace;
        let end = files[start..]
            .iter()
            .position(|f| &f.namespace != ns)
            .map_or(files.len(), |n| start + n);
        let group = &files[start..end];
        let (rules, unit_report) = load_set(group, cache_key(group), options);
        let (prefilter, summary) = build_prefilter(ns, group, &rules, &unit_report);
        report.files += unit_report.files;
        report.files_compiled += unit_report.files_compiled;
        report.rules += unit_report.rules;
        report.failures.extend(unit_report.failures);
        report.cache = worse(report.cache, unit_report.cache);
        if let Some(note) = unit_report.cache_note {
            match &mut report.cache_note {
                Some(n) => {
                    n.push_str("; ");
                    n.push_str(&note);
                }
                None => report.cache_note = Some(note),
            }
        }
        units.push(Unit {
            rules,
            prefilter,
            summary,
        });
        start = end;
    }
    Ok(CompiledRules { units, report })
}

/// Loads every source into a single yara-x rule set with no prefilter, which is how
/// [`load`] worked before namespaces were compiled apart: for comparing the two.
pub fn load_single_set(
    sources: &[RuleSource],
    options: &LoadOptions,
) -> Result<CompiledRules, Error> {
    let files = read_sources(sources)?;
    let key = cache_key(&files);
    let (rules, report) = load_set(&files, key, options);
    let summary = PrefilterSummary {
        namespace: String::new(),
        reason: Some("prefilter not built for a single rule set".to_owned()),
        ..Default::default()
    };
    Ok(CompiledRules {
        units: vec![Unit {
            rules,
            prefilter: None,
            summary,
        }],
        report,
    })
}

/// The least favourable of two cache outcomes, for a report over several sets.
fn worse(a: CacheStatus, b: CacheStatus) -> CacheStatus {
    let rank = |s| match s {
        CacheStatus::Disabled => 0,
        CacheStatus::Hit => 1,
        CacheStatus::Miss => 2,
        CacheStatus::Rebuilt => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// Compiles (or loads from the cache) one set of files under `key`.
fn load_set(files: &[RuleFile], key: String, options: &LoadOptions) -> (yara_x::Rules, LoadReport) {
    let Some(dir) = &options.cache_dir else {
        let (rules, mut report) = compile(files, key);
        report.cache = CacheStatus::Disabled;
        return (rules, report);
    };
    let status = match cache::read(dir, &key) {
        Ok(Some((rules, mut report))) => {
            report.cache = CacheStatus::Hit;
            report.cache_note = None;
            return (rules, report);
        }
        Ok(None) => CacheStatus::Miss,
        Err(_) => CacheStatus::Rebuilt,
    };
    let (rules, mut report) = compile(files, key);
    report.cache = status;
    if let Err(e) = cache::write(dir, &rules, &report) {
        report.cache_note = Some(format!(
            "compiled rules not cached in {}: {e}",
            dir.display()
        ));
    }
    (rules, report)
}

/// Analyses the files of one namespace that compiled and checks that the analysis
/// covers exactly the compiled rules; any doubt leaves the namespace unfiltered.
fn build_prefilter(
    namespace: &str,
    files: &[RuleFile],
    rules: &yara_x::Rules,
    report: &LoadReport,
) -> (Option<Prefilter>, PrefilterSummary) {
    let mut analysis = Analysis::default();
    let mut problem = None;
    for f in files {
        if report.failures.iter().any(|e| e.path == f.origin) {
            continue;
        }
        if let Err(e) = analysis.add_source(&f.text) {
            problem = Some(format!("{} does not parse cleanly: {e}", f.origin));
        }
    }
    if problem.is_none() {
        for r in rules.iter() {
            match analysis.rule(r.identifier()) {
                Some(a) if a.private == r.is_private() && a.global == r.is_global() => {}
                _ => {
                    problem = Some(format!(
                        "compiled rule {} not found in the analysis",
                        r.identifier()
                    ));
                    break;
                }
            }
        }
    }
    let (built, mut summary) = Prefilter::build(namespace, &analysis);
    if let Some(p) = problem {
        summary.enabled = false;
        summary.reason = Some(p);
        return (None, summary);
    }
    (built.ok(), summary)
}

fn cache_key(files: &[RuleFile]) -> String {
    let mut h = Sha256::new();
    h.update(b"ferret-yara/1\0yara-x=");
    h.update(cache::YARA_X_VERSION.as_bytes());
    for f in files {
        for part in [f.namespace.as_bytes(), f.origin.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update((f.text.len() as u64).to_le_bytes());
        h.update(&f.text);
    }
    hex::encode(h.finalize())
}

fn compile(files: &[RuleFile], key: String) -> (yara_x::Rules, LoadReport) {
    let mut compiler = yara_x::Compiler::new();
    let mut failures = Vec::new();
    for f in files {
        compiler.new_namespace(&f.namespace);
        let src = yara_x::SourceCode::from(f.text.as_slice()).with_origin(f.origin.clone());
        // yara-x keeps the compiler usable after an error and leaves the failed
        // file's rules out, so one broken file costs only itself.
        if let Err(err) = compiler.add_source(src) {
            failures.push(describe(&f.origin, &err));
        }
    }
    let rules = compiler.build();
    let report = LoadReport {
        files: files.len(),
        files_compiled: files.len() - failures.len(),
        rules: rules.iter().len(),
        failures,
        cache: CacheStatus::Disabled,
        key,
        cache_note: None,
    };
    (rules, report)
}

/// One line for an analyst: code, title and the first label, with its line.
fn describe(origin: &str, err: &yara_x::errors::CompileError) -> RuleFileError {
    let mut message = format!("{}: {}", err.code(), err.title());
    let mut line = None;
    if let Some(label) = err.labels().next() {
        // Label keeps its line private but serialises it.
        line = serde_json::to_value(&label)
            .ok()
            .and_then(|v| v.get("line").and_then(|l| l.as_u64()))
            .and_then(|l| usize::try_from(l).ok());
        if !label.text().is_empty() {
            message.push_str(": ");
            message.push_str(label.text());
        }
    }
    RuleFileError {
        path: origin.to_owned(),
        line,
        message,
    }
}
