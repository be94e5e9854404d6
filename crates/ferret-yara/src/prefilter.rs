//! A cheap pass over the data that proves, for most files, that no rule of a
//! namespace can match, so that yara-x's full scan is skipped.
//!
//! One pass looks at every 4-byte window of the data (case-folded, see
//! [`FOLD`]) and tests it against a bitmap of hashed anchors; a hit is confirmed
//! against the exact anchor table and marks the anchor's patterns present. As soon as
//! the formula of some non-private rule becomes true the pass stops: the namespace
//! must be scanned. If the pass ends with every formula false, no rule can match.

use std::collections::HashMap;

use crate::analyse::{Analysis, FOLD, Formula, RunSpec};

/// log2 of the bitmap's size in bits: 2^20 bits are 128 KiB (L2), sparse enough
/// for a few thousand anchors to leave well under 1% of windows to confirm.
const BITMAP_BITS: u32 = 20;
/// Odd multiplier of a multiplicative hash (2^32 / golden ratio).
const HASH_MUL: u32 = 0x9e37_79b1;

#[inline(always)]
fn bucket(w: u32) -> usize {
    (w.wrapping_mul(HASH_MUL) >> (32 - BITMAP_BITS)) as usize
}

/// Counts of what the analysis of one namespace understood.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefilterSummary {
    /// The namespace (the rule source's).
    pub namespace: String,
    /// Whether the namespace is prefiltered; when false every buffer is scanned.
    pub enabled: bool,
    /// Why it is not, when it is not.
    pub reason: Option<String>,
    /// Non-private rules, and how many of them need at least one pattern.
    pub rules: usize,
    pub rules_analysable: usize,
    /// Patterns, and how many have anchors.
    pub patterns: usize,
    pub patterns_anchored: usize,
    /// Distinct anchors in the table.
    pub anchors: usize,
    /// Why the other patterns have none: (reason with example patterns, how many).
    pub unanchored: Vec<(String, usize)>,
    /// Non-private rules that may match without any pattern being present (the
    /// reason a namespace is not prefiltered), up to 20.
    pub unanalysable_rules: Vec<String>,
}

/// The compiled prefilter of one namespace.
#[derive(Debug)]
pub(crate) struct Prefilter {
    bitmap: Vec<u64>,
    table: AnchorTable,
    /// The run behind each variable, confirmed at every anchor hit.
    runs: Vec<RunSpec>,
    /// Formulas of the non-private rules, and their names.
    formulas: Vec<Formula>,
    names: Vec<String>,
    /// Pattern variable -> indices into `formulas` that mention it.
    users: Vec<Vec<u32>>,
    vars: usize,
}

/// Per-scanner scratch: which pattern variables were seen.
#[derive(Debug, Default)]
pub(crate) struct PrefilterState {
    present: Vec<u64>,
}

impl Prefilter {
    /// Builds the prefilter of an analysed namespace; `Err` names why a namespace
    /// must always be scanned (the summary still counts what was understood).
    pub(crate) fn build(
        namespace: &str,
        analysis: &Analysis,
    ) -> (Result<Prefilter, String>, PrefilterSummary) {
        let mut summary = PrefilterSummary {
            namespace: namespace.to_owned(),
            patterns: analysis.patterns.len(),
            patterns_anchored: analysis
                .patterns
                .iter()
                .filter(|p| p.anchors.is_some())
                .count(),
            ..Default::default()
        };
        let mut unanchored: Vec<(&str, usize, Vec<&str>)> = Vec::new();
        for p in &analysis.patterns {
            if let Some(why) = p.why_not {
                let i = match unanchored.iter().position(|(w, _, _)| *w == why) {
                    Some(i) => i,
                    None => {
                        unanchored.push((why, 0, Vec::new()));
                        unanchored.len() - 1
                    }
                };
                if let Some((_, n, ids)) = unanchored.get_mut(i) {
                    *n += 1;
                    if ids.len() < 5 {
                        ids.push(&p.identifier);
                    }
                }
            }
        }
        summary.unanchored = unanchored
            .into_iter()
            .map(|(why, n, ids)| (format!("{why} (e.g. {})", ids.join(", ")), n))
            .collect();
        let mut formulas = Vec::new();
        let mut names = Vec::new();
        for r in analysis.rules.iter().filter(|r| !r.private) {
            names.push(r.name.clone());
            summary.rules += 1;
            if r.formula == Formula::True {
                if summary.unanalysable_rules.len() < 20 {
                    summary.unanalysable_rules.push(r.name.clone());
                }
            } else {
                summary.rules_analysable += 1;
            }
            formulas.push(r.formula.clone());
        }
        let vars = analysis.vars.len();
        let mut by_anchor: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut bitmap = vec![0u64; 1 << (BITMAP_BITS - 6)];
        for (v, spec) in analysis.vars.iter().enumerate() {
            let a = spec.anchor;
            by_anchor.entry(a).or_default().push(v as u32);
            let b = bucket(a);
            if let Some(word) = bitmap.get_mut(b >> 6) {
                *word |= 1 << (b & 63);
            }
        }
        summary.anchors = by_anchor.len();
        let table = AnchorTable::new(by_anchor);
        let mut users = vec![Vec::new(); vars];
        let mut seen = Vec::new();
        for (i, f) in formulas.iter().enumerate() {
            seen.clear();
            f.vars(&mut seen);
            seen.sort_unstable();
            seen.dedup();
            for &v in &seen {
                if let Some(u) = users.get_mut(v as usize) {
                    u.push(i as u32);
                }
            }
        }
        let result = if !analysis.duplicate_names.is_empty() {
            Err(format!(
                "rule names declared twice: {}",
                analysis.duplicate_names.join(", ")
            ))
        } else if summary.rules_analysable < summary.rules {
            Err(format!(
                "{} rule(s) may match without any anchored pattern: {}",
                summary.rules - summary.rules_analysable,
                summary.unanalysable_rules.join(", ")
            ))
        } else {
            Ok(Prefilter {
                bitmap,
                table,
                runs: analysis.vars.clone(),
                formulas,
                names,
                users,
                vars,
            })
        };
        summary.enabled = result.is_ok();
        summary.reason = result.as_ref().err().cloned();
        (result, summary)
    }

    /// Whether some non-private rule may match `data`: `false` proves that none can.
    pub(crate) fn may_match(&self, data: &[u8], state: &mut PrefilterState) -> bool {
        let words = self.vars.div_ceil(64);
        state.present.clear();
        state.present.resize(words, 0);
        // Formulas true with no pattern present (through their exact checks of
        // the data) need a scan whatever the pass finds.
        if self.any_true(&state.present, data) {
            return true;
        }
        let n = data.len();
        let bitmap = self.bitmap.as_slice();
        let hit = |w: u32| -> bool {
            let b = bucket(w);
            bitmap
                .get(b >> 6)
                .is_some_and(|word| (word >> (b & 63)) & 1 != 0)
        };
        // Eight bytes at a time give four windows; the chunks overlap by four.
        let mut i = 0;
        while i + 8 <= n {
            let Some(chunk) = data.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) else {
                break;
            };
            let x = u64::from_le_bytes(chunk) | 0x2020_2020_2020_2020;
            let w = [
                x as u32,
                (x >> 8) as u32,
                (x >> 16) as u32,
                (x >> 24) as u32,
            ];
            if (hit(w[0]) | hit(w[1]) | hit(w[2]) | hit(w[3]))
                && (0..4).any(|k| hit(w[k]) && self.confirm(w[k], i + k, data, &mut state.present))
            {
                return true;
            }
            i += 4;
        }
        while i + 4 <= n {
            let Some(w) = data.get(i..i + 4).and_then(|c| <[u8; 4]>::try_from(c).ok()) else {
                break;
            };
            let w = u32::from_le_bytes(w) | FOLD;
            if hit(w) && self.confirm(w, i, data, &mut state.present) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Marks the runs whose anchor `w` is and which occur with it at `pos`; `true`
    /// when that makes some rule's formula true.
    #[cold]
    #[inline(never)]
    fn confirm(&self, w: u32, pos: usize, data: &[u8], present: &mut [u64]) -> bool {
        for &v in self.table.get(w) {
            let (word, bit) = ((v >> 6) as usize, v & 63);
            // Already seen: nothing new to learn (and no run to compare).
            if is_set(present, v)
                || !self
                    .runs
                    .get(v as usize)
                    .is_some_and(|r| r.occurs_at(data, pos))
            {
                continue;
            }
            let Some(cell) = present.get_mut(word) else {
                continue;
            };
            *cell |= 1 << bit;
            for &f in self.users.get(v as usize).map(Vec::as_slice).unwrap_or(&[]) {
                if self
                    .formulas
                    .get(f as usize)
                    .is_some_and(|f| f.eval(&|x| is_set(present, x), data))
                {
                    return true;
                }
            }
        }
        false
    }

    /// The first non-private rule that `data` may match, for explaining why a
    /// buffer is scanned (slow: a plain pass with no early exit).
    pub(crate) fn first_possible_rule(&self, data: &[u8]) -> Option<&str> {
        let mut present = vec![0u64; self.vars.div_ceil(64)];
        for (pos, win) in data.windows(4).enumerate() {
            if let Some(w) = crate::analyse::fold_window(win) {
                for &v in self.table.get(w) {
                    if !self
                        .runs
                        .get(v as usize)
                        .is_some_and(|r| r.occurs_at(data, pos))
                    {
                        continue;
                    }
                    if let Some(cell) = present.get_mut((v >> 6) as usize) {
                        *cell |= 1 << (v & 63);
                    }
                }
            }
        }
        let i = self
            .formulas
            .iter()
            .position(|f| f.eval(&|x| is_set(&present, x), data))?;
        self.names.get(i).map(String::as_str)
    }

    fn any_true(&self, present: &[u64], data: &[u8]) -> bool {
        self.formulas
            .iter()
            .any(|f| f.eval(&|x| is_set(present, x), data))
    }
}

/// Open-addressing map from anchor to its variables. Folded anchors have bit 5 set
/// in every byte, so 0 marks an empty slot.
#[derive(Debug)]
struct AnchorTable {
    keys: Vec<u32>,
    /// Per slot, a range of `vars`.
    spans: Vec<(u32, u32)>,
    vars: Vec<u32>,
    shift: u32,
}

impl AnchorTable {
    fn new(by_anchor: HashMap<u32, Vec<u32>>) -> Self {
        let bits = (by_anchor.len().max(1) * 2)
            .next_power_of_two()
            .trailing_zeros()
            .max(4);
        let size = 1usize << bits;
        let mut t = AnchorTable {
            keys: vec![0; size],
            spans: vec![(0, 0); size],
            vars: Vec::new(),
            shift: 32 - bits,
        };
        let mask = size - 1;
        for (a, vs) in by_anchor {
            let mut i = t.slot(a);
            while t.keys.get(i).is_some_and(|&k| k != 0) {
                i = (i + 1) & mask;
            }
            let start = t.vars.len() as u32;
            t.vars.extend(vs);
            if let (Some(k), Some(sp)) = (t.keys.get_mut(i), t.spans.get_mut(i)) {
                *k = a;
                *sp = (start, t.vars.len() as u32);
            }
        }
        t
    }

    fn slot(&self, a: u32) -> usize {
        (a.wrapping_mul(0x85eb_ca6b) >> self.shift) as usize
    }

    /// The variables of anchor `a` (none when it is not one).
    fn get(&self, a: u32) -> &[u32] {
        let mask = self.keys.len() - 1;
        let mut i = self.slot(a);
        loop {
            match self.keys.get(i) {
                Some(&k) if k == a => {
                    let (s, e) = self.spans.get(i).copied().unwrap_or((0, 0));
                    return self.vars.get(s as usize..e as usize).unwrap_or(&[]);
                }
                Some(&0) | None => return &[],
                Some(_) => i = (i + 1) & mask,
            }
        }
    }
}

fn is_set(present: &[u64], v: u32) -> bool {
    present
        .get((v >> 6) as usize)
        .is_some_and(|w| (w >> (v & 63)) & 1 != 0)
}
