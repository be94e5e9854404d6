//! Scanning buffers with a compiled rule set.

use std::time::Duration;

use ferret_report::{YaraMatch, YaraMatchSpan, YaraResult, YaraStringMatch};

use crate::load::CompiledRules;
use crate::prefilter::{Joint, Prefilter};

/// Bounds on one scan, so that a hostile file cannot make a report unbounded.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub timeout: Option<Duration>,
    /// Offsets kept in the report per pattern; `total` still counts the rest.
    pub offsets_per_pattern: usize,
    /// yara-x stops recording a pattern's matches past this many.
    pub max_matches_per_pattern: usize,
    /// Skip yara-x's scan of a namespace when the prefilter proves that none of its
    /// rules can match (results are the same either way; off is for comparisons).
    pub prefilter: bool,
    /// Namespaces with fewer patterns are always scanned by yara-x: its automaton
    /// of a small rule set stays in cache and scans about as fast as the
    /// prefilter's pass plus the scans it lets through (measured on /usr/bin's ELFs:
    /// ferret's 84 bundled patterns alone, 1.13 s of CPU without the prefilter and
    /// 1.5 s with it; beside the 1,789 Elastic patterns, whose pass they share, the
    /// same 2.38 s either way; the Elastic patterns alone, 3.73 s without, 1.78 s
    /// with).
    pub prefilter_min_patterns: usize,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            timeout: Some(Duration::from_secs(60)),
            offsets_per_pattern: 16,
            max_matches_per_pattern: 10_000,
            prefilter: true,
            prefilter_min_patterns: 256,
        }
    }
}

/// How often the prefilter spared a yara-x scan, over a scanner's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PrefilterStats {
    /// Namespace scans asked for (buffers times namespaces).
    pub namespace_scans: u64,
    /// Of those, the ones handed to yara-x.
    pub yara_scans: u64,
}

/// A reusable scanner; create one per thread and scan many buffers with it (creating
/// a yara-x scanner instantiates its WebAssembly module, which is not free).
pub struct Scanner<'r> {
    units: Vec<UnitScanner<'r>>,
    offsets_per_pattern: usize,
    /// One pass over the data for every prefiltered namespace.
    joint: Joint<'r>,
    /// Per prefiltered namespace (in unit order): runs seen, and whether some rule
    /// may match.
    presents: Vec<Vec<u64>>,
    hot: Vec<bool>,
}

struct UnitScanner<'r> {
    namespace: &'r str,
    inner: yara_x::Scanner<'r>,
    prefilter: Option<&'r Prefilter>,
    stats: PrefilterStats,
}

impl std::fmt::Debug for Scanner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner")
            .field("stats", &self.prefilter_stats())
            .finish_non_exhaustive()
    }
}

impl<'r> Scanner<'r> {
    pub fn new(rules: &'r CompiledRules, options: &ScanOptions) -> Self {
        let units = rules
            .units
            .iter()
            .map(|u| {
                let mut inner = yara_x::Scanner::new(&u.rules);
                if let Some(t) = options.timeout {
                    inner.set_timeout(t);
                }
                inner.max_matches_per_pattern(options.max_matches_per_pattern.max(1));
                UnitScanner {
                    namespace: &u.summary.namespace,
                    inner,
                    prefilter: u.prefilter.as_ref().filter(|_| {
                        options.prefilter && u.summary.patterns >= options.prefilter_min_patterns
                    }),
                    stats: PrefilterStats::default(),
                }
            })
            .collect::<Vec<_>>();
        let filters: Vec<&Prefilter> = units.iter().filter_map(|u| u.prefilter).collect();
        let n = filters.len();
        Self {
            units,
            offsets_per_pattern: options.offsets_per_pattern,
            joint: Joint::new(filters),
            presents: vec![Vec::new(); n],
            hot: vec![false; n],
        }
    }

    /// Scans one buffer. A scan that fails (timeout) yields an error and no matches,
    /// since yara-x does not expose partial results.
    pub fn scan(&mut self, data: &[u8]) -> YaraResult {
        let keep = self.offsets_per_pattern;
        let mut matches = Vec::new();
        let prefiltered = self.units.iter().filter_map(|u| u.prefilter);
        for ((p, present), hot) in prefiltered.zip(&mut self.presents).zip(&mut self.hot) {
            *hot = p.start(present, data);
        }
        self.joint
            .run(data, &mut self.presents, &mut self.hot, true);
        let mut verdicts = self.hot.iter();
        for unit in &mut self.units {
            unit.stats.namespace_scans += 1;
            // A prefiltered namespace none of whose rules can match is not scanned.
            if unit.prefilter.is_some() && verdicts.next() == Some(&false) {
                continue;
            }
            unit.stats.yara_scans += 1;
            match unit.inner.scan(data) {
                Ok(results) => matches.extend(results.matching_rules().map(|r| convert(&r, keep))),
                Err(e) => {
                    return YaraResult {
                        matches: Vec::new(),
                        error: Some(e.to_string()),
                    };
                }
            }
        }
        YaraResult {
            matches,
            error: None,
        }
    }

    /// How many namespace scans the prefilter spared so far, over all namespaces.
    pub fn prefilter_stats(&self) -> PrefilterStats {
        let mut all = PrefilterStats::default();
        for u in &self.units {
            all.namespace_scans += u.stats.namespace_scans;
            all.yara_scans += u.stats.yara_scans;
        }
        all
    }

    /// The same per namespace, in scan order.
    pub fn prefilter_stats_by_namespace(&self) -> Vec<(String, PrefilterStats)> {
        self.units
            .iter()
            .map(|u| (u.namespace.to_owned(), u.stats))
            .collect()
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
