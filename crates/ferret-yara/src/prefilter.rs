//! A cheap pass over the data that proves, for most files, that no rule of a
//! namespace can match, so that yara-x's full scan is skipped.
//!
//! Rule formulas are first pruned to the pattern runs worth looking for (see
//! [`Formula::prune`]). Runs of at least [`LONG_RUN`] bytes are found by a strided
//! pass: with stride `s`, every occurrence of a run of `s + 7` bytes or more covers
//! an 8-byte window that starts at a multiple of `s`, so only those windows are
//! looked at, against the run's `s` windows. Shorter runs need every 4-byte window
//! of the data. Windows are case-folded (see [`FOLD`]) and tested against bitmaps
//! of hashed anchors; a hit is confirmed against the exact anchor table and marks
//! the anchor's run present. As soon as the formula of some non-private rule
//! becomes true the pass stops: the namespace must be scanned. If the pass ends
//! with every formula false, no rule can match.

use std::collections::HashMap;

use crate::analyse::{Analysis, FOLD, Formula, LONG_RUN, RunSpec};
use crate::prefilter_simd::Avx512;

/// log2 of the bitmap's size in bits: 2^20 bits are 128 KiB (L2), sparse enough
/// for a few thousand anchors to leave well under 1% of windows to confirm.
pub(crate) const BITMAP_BITS: u32 = 20;
/// Odd multiplier of a multiplicative hash (2^32 / golden ratio).
pub(crate) const HASH_MUL: u32 = 0x9e37_79b1;

#[inline(always)]
fn bucket(w: u32) -> usize {
    (w.wrapping_mul(HASH_MUL) >> (32 - BITMAP_BITS)) as usize
}

/// The folding of [`FOLD`] over 8 bytes.
const FOLD64: u64 = 0x2020_2020_2020_2020;

#[inline(always)]
fn bucket64(w: u64) -> usize {
    (w.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BITMAP_BITS)) as usize
}

#[inline(always)]
fn bit_set(bitmap: &[u64], b: usize) -> bool {
    bitmap
        .get(b >> 6)
        .is_some_and(|word| (word >> (b & 63)) & 1 != 0)
}

fn set_bit(bitmap: &mut [u64], b: usize) {
    if let Some(word) = bitmap.get_mut(b >> 6) {
        *word |= 1 << (b & 63);
    }
}

/// The strided pass's anchors: every run of at least [`LONG_RUN`] bytes, through
/// its 8-byte windows at offsets `0..stride`.
#[derive(Debug)]
pub(crate) struct LongRuns {
    stride: usize,
    bitmap: Vec<u64>,
    /// Folded window -> (variable, offset of the window in its run).
    table: HashMap<u64, Vec<(u32, u32)>>,
}

impl LongRuns {
    fn build(vars: &[u32], runs: &[RunSpec]) -> Option<LongRuns> {
        let shortest = vars
            .iter()
            .filter_map(|&v| runs.get(v as usize))
            .map(|r| r.run.len())
            .min()?;
        // A run of `stride + 7` bytes covers a window at a multiple of `stride`.
        let stride = [8, 4, 2, 1].into_iter().find(|&s| shortest >= s + 7)?;
        let mut bitmap = vec![0u64; 1 << (BITMAP_BITS - 6)];
        let mut table: HashMap<u64, Vec<(u32, u32)>> = HashMap::new();
        for &v in vars {
            let Some(run) = runs.get(v as usize) else {
                continue;
            };
            for k in 0..stride {
                let Some(w) = run
                    .run
                    .get(k..k + 8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                else {
                    continue;
                };
                let w = u64::from_le_bytes(w) | FOLD64;
                set_bit(&mut bitmap, bucket64(w));
                table.entry(w).or_default().push((v, k as u32));
            }
        }
        Some(LongRuns {
            stride,
            bitmap,
            table,
        })
    }
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
    /// Runs shorter than [`LONG_RUN`], looked for at every position.
    bitmap: Vec<u64>,
    table: AnchorTable,
    pub(crate) short: bool,
    /// The vector search of the look at every position, where the CPU has it.
    simd: Option<Avx512>,
    /// Runs of [`LONG_RUN`] bytes or more, looked for by the strided pass.
    pub(crate) long: Option<LongRuns>,
    /// The run behind each variable, confirmed at every anchor hit.
    runs: Vec<RunSpec>,
    /// Pruned formulas of the non-private rules, and their names.
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
        // Pruned formulas spare the pass every short run, and with it the look at
        // every position, only if no short run is left at all; otherwise that look
        // is paid anyway and the whole formulas filter better.
        let run_len = |v: u32| analysis.vars.get(v as usize).map_or(0, |r| r.run.len());
        let pruned: Vec<Formula> = formulas.iter().map(|f| f.prune(&run_len).0).collect();
        let mut used = Vec::new();
        for f in &pruned {
            f.vars(&mut used);
        }
        if used.iter().all(|&v| run_len(v) >= LONG_RUN) {
            formulas = pruned;
        } else {
            used.clear();
            for f in &formulas {
                f.vars(&mut used);
            }
        }
        used.sort_unstable();
        used.dedup();
        let (long_vars, short_vars): (Vec<u32>, Vec<u32>) = used.iter().partition(|&&v| {
            analysis
                .vars
                .get(v as usize)
                .is_some_and(|r| r.run.len() >= LONG_RUN)
        });
        let mut by_anchor: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut bitmap = vec![0u64; 1 << (BITMAP_BITS - 6)];
        for &v in &short_vars {
            let Some(spec) = analysis.vars.get(v as usize) else {
                continue;
            };
            by_anchor.entry(spec.anchor).or_default().push(v);
            set_bit(&mut bitmap, bucket(spec.anchor));
        }
        let long = LongRuns::build(&long_vars, &analysis.vars);
        if std::env::var_os("FERRET_PF_DEBUG").is_some() {
            let shorts: Vec<String> = short_vars
                .iter()
                .take(30)
                .filter_map(|&v| analysis.vars.get(v as usize))
                .map(|r| String::from_utf8_lossy(&r.run).into_owned())
                .collect();
            eprintln!(
                "{namespace}: long {} short {} stride {:?} shorts {:?}",
                long_vars.len(),
                short_vars.len(),
                long.as_ref().map(|l| l.stride),
                shorts
            );
        }
        summary.anchors = by_anchor.len() + long.as_ref().map_or(0, |l| l.table.len());
        let short = !by_anchor.is_empty();
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
                short,
                simd: Avx512::detect(),
                long,
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
        self.pass(data, &mut state.present, true)
    }

    /// Marks in `present` the runs found in `data`; with `stop`, returns as soon
    /// as some formula is true (`true`), else after the whole pass (`false`).
    fn pass(&self, data: &[u8], present: &mut [u64], stop: bool) -> bool {
        if let Some(long) = &self.long {
            let bitmap = long.bitmap.as_slice();
            let mut i = 0;
            while let Some(w) = data.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
                let w = u64::from_le_bytes(w) | FOLD64;
                if bit_set(bitmap, bucket64(w)) {
                    for &(v, k) in long.table.get(&w).map(Vec::as_slice).unwrap_or(&[]) {
                        if let Some(start) = i.checked_sub(k as usize)
                            && self.learn(v, start, data, present)
                            && stop
                        {
                            return true;
                        }
                    }
                }
                i += long.stride;
            }
        }
        if !self.short {
            return false;
        }
        let n = data.len();
        let bitmap = self.bitmap.as_slice();
        let hit = |w: u32| bit_set(bitmap, bucket(w));
        let confirm = |w: u32, pos: usize, present: &mut [u64]| -> bool {
            let mut now_true = false;
            for &v in self.table.get(w) {
                if let Some(start) = self
                    .runs
                    .get(v as usize)
                    .and_then(|r| pos.checked_sub(r.offset))
                {
                    now_true |= self.learn(v, start, data, present);
                }
            }
            now_true && stop
        };
        if let Some(simd) = self.simd {
            let mut i = 0;
            while i + 4 <= n {
                let mut m = simd.hits16(data, i, bitmap);
                while m != 0 {
                    let pos = i + m.trailing_zeros() as usize;
                    m &= m - 1;
                    let Some(w) = data
                        .get(pos..pos + 4)
                        .and_then(|c| <[u8; 4]>::try_from(c).ok())
                    else {
                        continue;
                    };
                    if confirm(u32::from_le_bytes(w) | FOLD, pos, present) {
                        return true;
                    }
                }
                i += 16;
            }
            return false;
        }
        // Eight bytes at a time give four windows; the chunks overlap by four.
        let mut i = 0;
        while i + 8 <= n {
            let Some(chunk) = data.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) else {
                break;
            };
            let x = u64::from_le_bytes(chunk) | FOLD64;
            let w = [
                x as u32,
                (x >> 8) as u32,
                (x >> 16) as u32,
                (x >> 24) as u32,
            ];
            if (hit(w[0]) | hit(w[1]) | hit(w[2]) | hit(w[3]))
                && (0..4).any(|k| hit(w[k]) && confirm(w[k], i + k, present))
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
            if hit(w) && confirm(w, i, present) {
                return true;
            }
            i += 1;
        }
        false
    }

    /// Marks variable `v` present if its run occurs at `start` (and it was not yet
    /// seen); `true` when that makes some rule's formula true.
    #[cold]
    #[inline(never)]
    fn learn(&self, v: u32, start: usize, data: &[u8], present: &mut [u64]) -> bool {
        if is_set(present, v)
            || !self
                .runs
                .get(v as usize)
                .is_some_and(|r| r.occurs_from(data, start))
        {
            return false;
        }
        set_bit(present, v as usize);
        self.users
            .get(v as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .any(|&f| {
                self.formulas
                    .get(f as usize)
                    .is_some_and(|f| f.eval(&|x| is_set(present, x), data))
            })
    }

    /// The first non-private rule that `data` may match, for explaining why a
    /// buffer is scanned (slow: a plain pass with no early exit).
    pub(crate) fn first_possible_rule(&self, data: &[u8]) -> Option<&str> {
        let mut present = vec![0u64; self.vars.div_ceil(64)];
        self.pass(data, &mut present, false);
        let i = self
            .formulas
            .iter()
            .position(|f| f.eval(&|x| is_set(&present, x), data))?;
        self.names.get(i).map(String::as_str)
    }

    /// The same prefilter with the scalar look at every position.
    #[cfg(test)]
    pub(crate) fn scalar(mut self) -> Prefilter {
        self.simd = None;
        self
    }

    /// The pruned formulas of the non-private rules, in order.
    #[cfg(test)]
    pub(crate) fn formulas(&self) -> &[Formula] {
        &self.formulas
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
