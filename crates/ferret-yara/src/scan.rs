//! Scanning buffers with a compiled rule set.

use std::time::Duration;

use ferret_report::{YaraMatch, YaraMatchSpan, YaraResult, YaraStringMatch};

use crate::load::CompiledRules;

/// Bounds on one scan, so that a hostile file cannot make a report unbounded.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub timeout: Option<Duration>,
    /// Offsets kept in the report per pattern; `total` still counts the rest.
    pub offsets_per_pattern: usize,
    /// yara-x stops recording a pattern's matches past this many.
    pub max_matches_per_pattern: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(60)),
            offsets_per_pattern: 16,
            max_matches_per_pattern: 10_000,
        }
    }
}

/// A reusable scanner; create one per thread and scan many buffers with it (creating
/// a yara-x scanner instantiates its WebAssembly module, which is not free).
pub struct Scanner<'r> {
    inner: yara_x::Scanner<'r>,
    offsets_per_pattern: usize,
}

impl std::fmt::Debug for Scanner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").finish_non_exhaustive()
    }
}

impl<'r> Scanner<'r> {
    pub fn new(rules: &'r CompiledRules, options: &ScanOptions) -> Self {
        let mut inner = yara_x::Scanner::new(&rules.rules);
        if let Some(t) = options.timeout {
            inner.set_timeout(t);
        }
        inner.max_matches_per_pattern(options.max_matches_per_pattern.max(1));
        Self {
            inner,
            offsets_per_pattern: options.offsets_per_pattern,
        }
    }

    /// Scans one buffer. A scan that fails (timeout) yields an error and no matches,
    /// since yara-x does not expose partial results.
    pub fn scan(&mut self, data: &[u8]) -> YaraResult {
        let keep = self.offsets_per_pattern;
        match self.inner.scan(data) {
            Ok(results) => YaraResult {
                matches: results
                    .matching_rules()
                    .map(|r| convert(&r, keep))
                    .collect(),
                error: None,
            },
            Err(e) => YaraResult {
                matches: Vec::new(),
                error: Some(e.to_string()),
            },
        }
    }
}

fn convert(rule: &yara_x::Rule<'_, '_>, keep: usize) -> YaraMatch {
    let mut metadata = serde_json::Map::new();
    for (key, value) in rule.metadata() {
        let value = match value {
            yara_x::MetaValue::Integer(i) => serde_json::Value::from(i),
            yara_x::MetaValue::Float(f) => serde_json::Value::from(f),
            yara_x::MetaValue::Bool(b) => serde_json::Value::from(b),
            yara_x::MetaValue::String(s) => serde_json::Value::from(s),
            yara_x::MetaValue::Bytes(b) => serde_json::Value::from(b.to_string()),
        };
        // Repeated keys (several `reference`s) are common; keep them all.
        match metadata.get_mut(key) {
            None => {
                metadata.insert(key.to_owned(), value);
            }
            Some(serde_json::Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = serde_json::Value::Array(vec![first, value]);
            }
        }
    }
    let strings = rule
        .patterns()
        .filter_map(|p| {
            let mut total = 0u64;
            let mut matches = Vec::new();
            for m in p.matches() {
                total += 1;
                if matches.len() < keep {
                    let r = m.range();
                    matches.push(YaraMatchSpan {
                        offset: r.start as u64,
                        length: r.len() as u64,
                        xor_key: m.xor_key(),
                    });
                }
            }
            (total > 0).then(|| YaraStringMatch {
                identifier: p.identifier().to_owned(),
                total,
                matches,
            })
        })
        .collect();
    YaraMatch {
        rule: rule.identifier().to_owned(),
        namespace: rule.namespace().to_owned(),
        tags: rule.tags().map(|t| t.identifier().to_owned()).collect(),
        metadata,
        strings,
    }
}
