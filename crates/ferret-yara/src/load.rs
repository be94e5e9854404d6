//! Finding rule files and compiling them into one rule set.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache;

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
pub struct CompiledRules {
    pub(crate) rules: yara_x::Rules,
    pub report: LoadReport,
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

/// Loads every source into one rule set, from the cache when the rules are unchanged.
pub fn load(sources: &[RuleSource], options: &LoadOptions) -> Result<CompiledRules, Error> {
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
    let key = cache_key(&files);

    let Some(dir) = &options.cache_dir else {
        let (rules, mut report) = compile(&files, key);
        report.cache = CacheStatus::Disabled;
        return Ok(CompiledRules { rules, report });
    };
    let status = match cache::read(dir, &key) {
        Ok(Some((rules, mut report))) => {
            report.cache = CacheStatus::Hit;
            report.cache_note = None;
            return Ok(CompiledRules { rules, report });
        }
        Ok(None) => CacheStatus::Miss,
        Err(_) => CacheStatus::Rebuilt,
    };
    let (rules, mut report) = compile(&files, key);
    report.cache = status;
    if let Err(e) = cache::write(dir, &rules, &report) {
        report.cache_note = Some(format!(
            "compiled rules not cached in {}: {e}",
            dir.display()
        ));
    }
    Ok(CompiledRules { rules, report })
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
