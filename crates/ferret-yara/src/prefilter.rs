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

use std::borrow::Cow;
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

/// One line: namespace, on or off (and why), and the counts.
impl std::fmt::Display for PrefilterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: prefilter {}; {} of {} rules need a pattern, {} of {} patterns anchored, {} anchors",
            self.namespace,
            if self.enabled { "on" } else { "off" },
            self.rules_analysable,
            self.rules,
            self.patterns_anchored,
            self.patterns,
            self.anchors,
        )?;
        match &self.reason {
            Some(r) => write!(f, " ({r})"),
            None => Ok(()),
        }
    }
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

/// Scratch of [`Prefilter::may_match`] (tests): which pattern variables were seen.
#[cfg(test)]
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
    #[cfg(test)]
    pub(crate) fn may_match(&self, data: &[u8], state: &mut PrefilterState) -> bool {
        let mut hot = [self.start(&mut state.present, data)];
        let mut presents = [std::mem::take(&mut state.present)];
        Joint::new(vec![self]).run(data, &mut presents, &mut hot, true);
        let [present] = presents;
        state.present = present;
        hot[0]
    }

    /// Clears `present` for a new buffer; `true` when some formula is true with no
    /// pattern present (through its exact checks of the data), so that the buffer
    /// needs a scan whatever the pass finds.
    pub(crate) fn start(&self, present: &mut Vec<u64>, data: &[u8]) -> bool {
        present.clear();
        present.resize(self.vars.div_ceil(64), 0);
        self.any_true(present, data)
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
        let mut presents = [Vec::new()];
        let mut hot = [self.start(&mut presents[0], data)];
        Joint::new(vec![self]).run(data, &mut presents, &mut hot, false);
        let present = &presents[0];
        let i = self
            .formulas
            .iter()
            .position(|f| f.eval(&|x| is_set(present, x), data))?;
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

/// The passes of one or more namespaces' prefilters over the same data, sharing one
/// look at each position: the namespaces' bitmaps are merged, and a candidate is
/// confirmed against each namespace's own tables and variables.
#[derive(Debug)]
pub(crate) struct Joint<'p> {
    filters: Vec<&'p Prefilter>,
    /// Merged bitmap of the runs shorter than [`LONG_RUN`], if any.
    short: Option<Cow<'p, [u64]>>,
    /// Merged bitmap of the long runs and the smallest stride among them.
    long: Option<(Cow<'p, [u64]>, usize)>,
    simd: Option<Avx512>,
}

impl<'p> Joint<'p> {
    pub(crate) fn new(filters: Vec<&'p Prefilter>) -> Joint<'p> {
        fn merge<'p>(maps: Vec<&'p [u64]>) -> Option<Cow<'p, [u64]>> {
            match maps.as_slice() {
                [] => None,
                [one] => Some(Cow::Borrowed(*one)),
                _ => {
                    let mut merged = vec![0u64; 1 << (BITMAP_BITS - 6)];
                    for map in maps {
                        for (m, w) in merged.iter_mut().zip(map) {
                            *m |= w;
                        }
                    }
                    Some(Cow::Owned(merged))
                }
            }
        }
        let short = merge(
            filters
                .iter()
                .filter(|f| f.short)
                .map(|f| f.bitmap.as_slice())
                .collect(),
        );
        // A smaller stride visits every position a larger one does.
        let stride = filters
            .iter()
            .filter_map(|f| f.long.as_ref().map(|l| l.stride))
            .min()
            .unwrap_or(1);
        let long = merge(
            filters
                .iter()
                .filter_map(|f| f.long.as_ref().map(|l| l.bitmap.as_slice()))
                .collect(),
        )
        .map(|b| (b, stride));
        // The scalar look where any filter asks for it (tests force it that way).
        let simd = filters
            .iter()
            .map(|f| f.simd)
            .reduce(|a, b| a.and(b))
            .flatten();
        Joint {
            simd,
            filters,
            short,
            long,
        }
    }

    /// Marks in `presents[i]` the runs of filter `i` found in `data`, setting
    /// `hot[i]` once some formula of filter `i` is true (a filter already hot is
    /// not looked at again). With `stop`, returns as soon as every filter is hot;
    /// without, marks every run it finds (for explaining).
    pub(crate) fn run(&self, data: &[u8], presents: &mut [Vec<u64>], hot: &mut [bool], stop: bool) {
        let mut cold = hot.iter().filter(|h| !**h).count();
        if stop && cold == 0 {
            return;
        }
        if let Some((bitmap, stride)) = &self.long {
            let mut i = 0;
            while let Some(w) = data.get(i..i + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
                let w = u64::from_le_bytes(w) | FOLD64;
                if bit_set(bitmap, bucket64(w)) {
                    self.confirm(Window::Long(w), i, data, presents, hot, &mut cold, stop);
                    if stop && cold == 0 {
                        return;
                    }
                }
                i += stride;
            }
        }
        let Some(bitmap) = &self.short else {
            return;
        };
        let n = data.len();
        let window = |pos: usize| {
            data.get(pos..pos + 4)
                .and_then(|c| <[u8; 4]>::try_from(c).ok())
                .map(|w| u32::from_le_bytes(w) | FOLD)
        };
        let mut i = 0;
        while i + 4 <= n {
            // Candidates among the next 16 positions.
            let mut m = match self.simd {
                Some(simd) => simd.hits16(data, i, bitmap),
                None => (0..16).fold(0u32, |m, j| {
                    let hit = window(i + j).is_some_and(|w| bit_set(bitmap, bucket(w)));
                    m | u32::from(hit) << j
                }),
            };
            while m != 0 {
                let pos = i + m.trailing_zeros() as usize;
                m &= m - 1;
                if let Some(w) = window(pos) {
                    self.confirm(Window::Short(w), pos, data, presents, hot, &mut cold, stop);
                    if stop && cold == 0 {
                        return;
                    }
                }
            }
            i += 16;
        }
    }

    /// Learns the runs behind window `w` at `pos`, for every filter still cold.
    #[allow(clippy::too_many_arguments)]
    fn confirm(
        &self,
        w: Window,
        pos: usize,
        data: &[u8],
        presents: &mut [Vec<u64>],
        hot: &mut [bool],
        cold: &mut usize,
        stop: bool,
    ) {
        for ((f, present), h) in self
            .filters
            .iter()
            .zip(presents.iter_mut())
            .zip(hot.iter_mut())
        {
            if *h && stop {
                continue;
            }
            let mut now_hot = false;
            match w {
                Window::Long(w) => {
                    let Some(long) = &f.long else {
                        continue;
                    };
                    for &(v, k) in long.table.get(&w).map(Vec::as_slice).unwrap_or(&[]) {
                        if let Some(start) = pos.checked_sub(k as usize) {
                            now_hot |= f.learn(v, start, data, present);
                        }
                    }
                }
                Window::Short(w) => {
                    if !f.short {
                        continue;
                    }
                    for &v in f.table.get(w) {
                        if let Some(start) = f
                            .runs
                            .get(v as usize)
                            .and_then(|r| pos.checked_sub(r.offset))
                        {
                            now_hot |= f.learn(v, start, data, present);
                        }
                    }
                }
            }
            if now_hot && !*h {
                *h = true;
                *cold -= 1;
            }
        }
    }
}

/// A folded window of the data: 8 bytes for long runs, 4 for short ones.
#[derive(Debug, Clone, Copy)]
enum Window {
    Long(u64),
    Short(u32),
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

/// Whether variable `v` is marked in `present` (the same bit layout as the bitmaps).
fn is_set(present: &[u64], v: u32) -> bool {
    bit_set(present, v as usize)
}
