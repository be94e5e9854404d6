//! What a rule needs in the data before it can match, worked out from its source.
//!
//! Every rule condition is turned into a monotone [`Formula`] that the condition
//! implies: whenever the condition can be true, the formula is true. Its variables
//! say "this fixed run of bytes occurs in the data"; every pattern becomes an `or`
//! over alternatives (ascii/wide forms, xor keys, regex literals, hex branches) of an
//! `and` of runs that each of its matches holds. Parts that depend only on the file
//! size and integers at fixed offsets are kept as exact checks. Anything not
//! understood becomes [`Formula::True`], so the analysis can only ever say "scan",
//! never hide a match.

use std::collections::HashMap;

use yara_x_parser::ast::{
    self, Expr, HexSubPattern, HexToken, OfItems, PatternSet, Quantifier, RuleFlags,
};

/// A monotone boolean formula over pattern variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Formula {
    True,
    False,
    /// Run `n` of the unit (see [`Analysis::vars`]) occurs in the data.
    Var(u32),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    /// At least `n` of the operands are true (`n` >= 2 and < operands after
    /// simplification).
    AtLeast(usize, Vec<Formula>),
    /// A part of the condition that depends only on the data's size and bytes at
    /// fixed offsets, evaluated exactly (or taken as true when a read falls
    /// outside the data).
    Check(Box<Check>),
}

/// An integer the prefilter can compute from the data alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Int {
    Lit(i64),
    Filesize,
    /// `uintN(offset)`, `intNbe(offset)` and the like.
    Read {
        offset: i64,
        size: u8,
        signed: bool,
        big_endian: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A boolean sub-condition over [`Int`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    Cmp(CmpOp, Int, Int),
    Not(Box<Check>),
    And(Vec<Check>),
    Or(Vec<Check>),
}

impl Int {
    /// `None` when a read falls outside the data (YARA's undefined).
    fn eval(&self, data: &[u8]) -> Option<i64> {
        match *self {
            Int::Lit(v) => Some(v),
            Int::Filesize => i64::try_from(data.len()).ok(),
            Int::Read {
                offset,
                size,
                signed,
                big_endian,
            } => {
                let start = usize::try_from(offset).ok()?;
                let bytes = data.get(start..start.checked_add(usize::from(size))?)?;
                let mut buf = [0u8; 8];
                let tail = buf.get_mut(8usize.checked_sub(bytes.len())?..)?;
                tail.copy_from_slice(bytes);
                if !big_endian {
                    tail.reverse();
                }
                let v = u64::from_be_bytes(buf);
                let bits = u32::from(size) * 8;
                if signed && bits < 64 && (v >> (bits - 1)) & 1 == 1 {
                    // Sign-extend.
                    Some((v | (!0u64 << bits)) as i64)
                } else {
                    i64::try_from(v).ok()
                }
            }
        }
    }
}

impl Check {
    /// The sub-condition's value, or `None` when YARA would find it undefined.
    pub(crate) fn eval(&self, data: &[u8]) -> Option<bool> {
        match self {
            Check::Cmp(op, a, b) => {
                let (a, b) = (a.eval(data)?, b.eval(data)?);
                Some(match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                    CmpOp::Lt => a < b,
                    CmpOp::Le => a <= b,
                    CmpOp::Gt => a > b,
                    CmpOp::Ge => a >= b,
                })
            }
            Check::Not(c) => c.eval(data).map(|v| !v),
            Check::And(items) => {
                let mut all = true;
                for c in items {
                    all &= c.eval(data)?;
                }
                Some(all)
            }
            Check::Or(items) => {
                let mut any = false;
                for c in items {
                    any |= c.eval(data)?;
                }
                Some(any)
            }
        }
    }
}

impl Formula {
    pub(crate) fn and(items: Vec<Formula>) -> Formula {
        let mut out = Vec::with_capacity(items.len());
        for f in items {
            match f {
                Formula::True => {}
                Formula::False => return Formula::False,
                Formula::And(inner) => out.extend(inner),
                f => out.push(f),
            }
        }
        match out.len() {
            0 => Formula::True,
            1 => out.pop().unwrap_or(Formula::True),
            _ => Formula::And(out),
        }
    }

    pub(crate) fn or(items: Vec<Formula>) -> Formula {
        let mut out = Vec::with_capacity(items.len());
        for f in items {
            match f {
                Formula::True => return Formula::True,
                Formula::False => {}
                Formula::Or(inner) => out.extend(inner),
                f => out.push(f),
            }
        }
        match out.len() {
            0 => Formula::False,
            1 => out.pop().unwrap_or(Formula::False),
            _ => Formula::Or(out),
        }
    }

    /// At least `n` of `items`.
    pub(crate) fn at_least(n: usize, items: Vec<Formula>) -> Formula {
        let mut n = n;
        let mut out = Vec::with_capacity(items.len());
        for f in items {
            match f {
                Formula::True => n = n.saturating_sub(1),
                Formula::False => {}
                f => out.push(f),
            }
        }
        if n == 0 {
            Formula::True
        } else if n > out.len() {
            Formula::False
        } else if n == 1 {
            Formula::or(out)
        } else if n == out.len() {
            Formula::and(out)
        } else {
            Formula::AtLeast(n, out)
        }
    }

    /// Evaluates with `present(v)` telling whether variable `v` is set; checks
    /// read `data`.
    pub(crate) fn eval(&self, present: &impl Fn(u32) -> bool, data: &[u8]) -> bool {
        match self {
            Formula::True => true,
            // Undefined is taken as possibly true: only a definite false excludes.
            Formula::Check(c) => c.eval(data) != Some(false),
            Formula::False => false,
            Formula::Var(v) => present(*v),
            Formula::And(items) => items.iter().all(|f| f.eval(present, data)),
            Formula::Or(items) => items.iter().any(|f| f.eval(present, data)),
            Formula::AtLeast(n, items) => {
                let mut hits = 0;
                for f in items {
                    if f.eval(present, data) {
                        hits += 1;
                        if hits >= *n {
                            return true;
                        }
                    }
                }
                false
            }
        }
    }

    /// Every variable the formula mentions.
    pub(crate) fn vars(&self, out: &mut Vec<u32>) {
        match self {
            Formula::True | Formula::False | Formula::Check(_) => {}
            Formula::Var(v) => out.push(*v),
            Formula::And(items) | Formula::Or(items) | Formula::AtLeast(_, items) => {
                for f in items {
                    f.vars(out);
                }
            }
        }
    }
}

/// Runs at least this long are found by the prefilter's pass over the 8-byte
/// windows at every 8th position (a run of 15 bytes covers one of them whatever
/// its alignment); shorter ones need a look at every position.
pub(crate) const LONG_RUN: usize = 15;

impl Formula {
    /// A weaker formula, implied by this one, that spares the prefilter short runs
    /// where long ones do, with the length of the shortest run it still mentions
    /// (`usize::MAX` when none). Long runs are cheap to look for (a strided pass)
    /// and rarely hit by chance; short ones need a look at every position. An `and`
    /// needs only one false operand, so when some operands mention long runs only,
    /// the others are dropped; an `at least n of m` drops its short operands when
    /// its long ones alone can still refute it. Every dropped operand becomes
    /// `True`: the formulas are monotone, so the result is implied by the original
    /// and the prefilter stays sound.
    pub(crate) fn prune(&self, run_len: &impl Fn(u32) -> usize) -> (Formula, usize) {
        match self {
            Formula::True | Formula::False | Formula::Check(_) => (self.clone(), usize::MAX),
            Formula::Var(v) => (self.clone(), run_len(*v)),
            Formula::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut shortest = usize::MAX;
                for f in items {
                    let (g, len) = f.prune(run_len);
                    shortest = shortest.min(len);
                    out.push(g);
                }
                (Formula::or(out), shortest)
            }
            Formula::And(items) => {
                let pruned: Vec<(Formula, usize)> = items
                    .iter()
                    .map(|f| f.prune(run_len))
                    .filter(|(g, _)| *g != Formula::True)
                    .collect();
                if pruned.iter().any(|(g, _)| *g == Formula::False) {
                    return (Formula::False, usize::MAX);
                }
                let Some(best) = pruned.iter().map(|(_, len)| *len).max() else {
                    return (Formula::True, usize::MAX);
                };
                let floor = if best >= LONG_RUN { LONG_RUN } else { 0 };
                let mut out = Vec::new();
                let mut shortest = usize::MAX;
                for (g, len) in pruned {
                    if len >= floor {
                        shortest = shortest.min(len);
                        out.push(g);
                    }
                }
                (Formula::and(out), shortest)
            }
            Formula::AtLeast(n, items) => {
                let mut pruned: Vec<(Formula, usize)> = Vec::with_capacity(items.len());
                let mut n = *n;
                for f in items {
                    match f.prune(run_len) {
                        (Formula::True, _) => n = n.saturating_sub(1),
                        p => pruned.push(p),
                    }
                }
                if n == 0 {
                    return (Formula::True, usize::MAX);
                }
                let m = pruned.len();
                if n > m {
                    return (Formula::False, usize::MAX);
                }
                // With fewer than m - n + 1 operands kept, the rest (true) would
                // already make n.
                let need = m - n + 1;
                let long = pruned.iter().filter(|(_, len)| *len >= LONG_RUN).count();
                let keep = if long >= need { long } else { m };
                pruned.sort_by_key(|(_, len)| std::cmp::Reverse(*len));
                let shortest = pruned
                    .iter()
                    .take(keep)
                    .map(|(_, len)| *len)
                    .min()
                    .unwrap_or(usize::MAX);
                let dropped = m - keep;
                let kept = pruned.into_iter().take(keep).map(|(g, _)| g).collect();
                (Formula::at_least(n - dropped, kept), shortest)
            }
        }
    }
}

impl Formula {
    /// `True` replaced by an exact check of `e`, when `e` is one.
    fn or_check(self, e: &Expr<'_>) -> Formula {
        if self != Formula::True {
            return self;
        }
        match check(e) {
            Some(c) => Formula::Check(Box::new(c)),
            None => Formula::True,
        }
    }
}

/// `e` as an exact check, when it only compares the data's size and fixed-offset
/// integers read from it.
fn check(e: &Expr<'_>) -> Option<Check> {
    let cmp = |op, b: &ast::BinaryExpr<'_>| Some(Check::Cmp(op, int(&b.lhs)?, int(&b.rhs)?));
    match e {
        Expr::Eq(b) => cmp(CmpOp::Eq, b),
        Expr::Ne(b) => cmp(CmpOp::Ne, b),
        Expr::Lt(b) => cmp(CmpOp::Lt, b),
        Expr::Le(b) => cmp(CmpOp::Le, b),
        Expr::Gt(b) => cmp(CmpOp::Gt, b),
        Expr::Ge(b) => cmp(CmpOp::Ge, b),
        Expr::Not(u) => Some(Check::Not(Box::new(check(&u.operand)?))),
        Expr::And(n) => n
            .operands()
            .map(check)
            .collect::<Option<_>>()
            .map(Check::And),
        Expr::Or(n) => n
            .operands()
            .map(check)
            .collect::<Option<_>>()
            .map(Check::Or),
        _ => None,
    }
}

fn int(e: &Expr<'_>) -> Option<Int> {
    match e {
        Expr::LiteralInteger(l) if !l.is_unsigned => Some(Int::Lit(l.value)),
        Expr::Minus(u) => match &u.operand {
            Expr::LiteralInteger(l) if !l.is_unsigned => l.value.checked_neg().map(Int::Lit),
            _ => None,
        },
        Expr::Filesize { .. } => Some(Int::Filesize),
        Expr::FuncCall(f) if f.object.is_none() => {
            let [Expr::LiteralInteger(off)] = f.args.as_slice() else {
                return None;
            };
            if off.is_unsigned {
                return None;
            }
            let name = f.identifier.name;
            let (signed, rest) = match name.strip_prefix("uint") {
                Some(r) => (false, r),
                None => (true, name.strip_prefix("int")?),
            };
            let (bits, big_endian) = match rest.strip_suffix("be") {
                Some(b) => (b, true),
                None => (rest, false),
            };
            let size = match bits {
                "8" => 1,
                "16" => 2,
                "32" => 4,
                _ => return None,
            };
            Some(Int::Read {
                offset: off.value,
                size,
                signed,
                big_endian,
            })
        }
        _ => None,
    }
}

/// The case fold applied to both the data and the anchors: setting bit 5 of every
/// byte maps each ASCII letter's two cases together. Equal bytes stay equal, so it
/// never loses an occurrence of an anchor; it only adds candidates.
pub(crate) const FOLD: u32 = 0x2020_2020;

/// One pattern of a rule, as the prefilter sees it.
#[derive(Debug, Clone)]
pub(crate) struct PatternInfo {
    /// `$name` as declared (`$` for anonymous patterns).
    pub(crate) identifier: String,
    /// Runs, as alternatives each of whose runs all occur in a match; `None` when
    /// none could be derived soundly.
    pub(crate) anchors: Option<Alternatives>,
    /// "May be present": or over the alternatives of and over their windows'
    /// variables, or `True` without anchors.
    pub(crate) formula: Formula,
    /// Why there are no anchors.
    pub(crate) why_not: Option<&'static str>,
}

/// One rule after analysis.
#[derive(Debug, Clone)]
pub(crate) struct RuleInfo {
    pub(crate) name: String,
    pub(crate) private: bool,
    pub(crate) global: bool,
    /// Implied by the condition, with rule references already substituted.
    pub(crate) formula: Formula,
}

/// The rules and patterns of one namespace, in declaration order.
#[derive(Debug, Default)]
pub(crate) struct Analysis {
    pub(crate) rules: Vec<RuleInfo>,
    pub(crate) patterns: Vec<PatternInfo>,
    /// The run behind each variable.
    pub(crate) vars: Vec<RunSpec>,
    by_name: HashMap<String, usize>,
    /// Rule names declared twice: the analysis cannot tell which one was compiled.
    pub(crate) duplicate_names: Vec<String>,
}

impl Analysis {
    /// Adds every rule of one source file. `Err` when the file does not parse
    /// cleanly (it then adds nothing).
    pub(crate) fn add_source(&mut self, text: &[u8]) -> Result<(), String> {
        let ast = ast::AST::from(text);
        if let Some(e) = ast.errors().first() {
            return Err(format!("{e:?}"));
        }
        for rule in ast.rules() {
            self.add_rule(rule);
        }
        Ok(())
    }

    fn add_rule(&mut self, rule: &ast::Rule<'_>) {
        let patterns: &[ast::Pattern<'_>] = rule.patterns.as_deref().unwrap_or(&[]);
        let first = self.patterns.len();
        for p in patterns {
            let (anchors, why_not) = match pattern_anchors(p) {
                Ok(a) if !a.is_empty() && a.iter().all(|w| !w.is_empty()) => (Some(a), None),
                Ok(_) => (None, Some("no anchor windows")),
                Err(why) => (None, Some(why)),
            };
            let formula = match &anchors {
                Some(alts) => Formula::or(
                    alts.iter()
                        .map(|windows| {
                            Formula::and(
                                windows
                                    .iter()
                                    .map(|spec| {
                                        self.vars.push(spec.clone());
                                        Formula::Var((self.vars.len() - 1) as u32)
                                    })
                                    .collect(),
                            )
                        })
                        .collect(),
                ),
                None => Formula::True,
            };
            self.patterns.push(PatternInfo {
                identifier: p.identifier().name.to_owned(),
                anchors,
                formula,
                why_not,
            });
        }
        let ctx = RuleCtx {
            analysis: self,
            decls: patterns,
            first: first as u32,
        };
        let formula = ctx.formula(&rule.condition);
        let name = rule.identifier.name.to_owned();
        if self.by_name.contains_key(&name) {
            self.duplicate_names.push(name.clone());
        }
        self.by_name.insert(name.clone(), self.rules.len());
        self.rules.push(RuleInfo {
            name,
            private: rule.flags.contains(RuleFlags::Private),
            global: rule.flags.contains(RuleFlags::Global),
            formula,
        });
    }

    pub(crate) fn rule(&self, name: &str) -> Option<&RuleInfo> {
        self.by_name.get(name).and_then(|&i| self.rules.get(i))
    }
}

/// Condition analysis within one rule.
struct RuleCtx<'a, 'src> {
    analysis: &'a Analysis,
    decls: &'a [ast::Pattern<'src>],
    /// Unit-wide index of the rule's first pattern.
    first: u32,
}

impl RuleCtx<'_, '_> {
    /// The variable for pattern `$name`, or `True` when it has no anchors (or the
    /// name is unknown or anonymous, which only a `for .. of` body can use).
    fn var(&self, name: &str) -> Formula {
        if name == "$" {
            return Formula::True;
        }
        let mut found = None;
        for (i, p) in self.decls.iter().enumerate() {
            if p.identifier().name == name {
                if found.is_some() {
                    return Formula::True;
                }
                found = Some(i);
            }
        }
        match found {
            Some(i) => self.var_index(i),
            None => Formula::True,
        }
    }

    fn var_index(&self, i: usize) -> Formula {
        self.analysis
            .patterns
            .get(self.first as usize + i)
            .map_or(Formula::True, |p| p.formula.clone())
    }

    fn set_vars(&self, set: &PatternSet<'_>) -> Vec<Formula> {
        self.decls
            .iter()
            .enumerate()
            .filter(|(_, p)| match set {
                PatternSet::Them { .. } => true,
                PatternSet::Set(items) => items.iter().any(|it| it.matches(p.identifier())),
            })
            .map(|(i, _)| self.var_index(i))
            .collect()
    }

    fn formula(&self, e: &Expr<'_>) -> Formula {
        match e {
            Expr::True { .. } => Formula::True,
            Expr::False { .. } => Formula::False,
            Expr::And(n) => Formula::and(n.operands().map(|o| self.formula(o)).collect()),
            Expr::Or(n) => Formula::or(n.operands().map(|o| self.formula(o)).collect()),
            Expr::PatternMatch(m) => self.var(m.identifier.name),
            Expr::Ident(id) => match self.analysis.rule(id.name) {
                Some(r) => r.formula.clone(),
                // An external variable or something else this analysis does not model.
                None => Formula::True,
            },
            Expr::Of(of) => self.of(of),
            Expr::Gt(b) => self.count_cmp(&b.lhs, &b.rhs, |k| k >= 0).or_check(e),
            Expr::Ge(b) => self.count_cmp(&b.lhs, &b.rhs, |k| k >= 1).or_check(e),
            Expr::Lt(b) => self.count_cmp(&b.rhs, &b.lhs, |k| k >= 0).or_check(e),
            Expr::Le(b) => self.count_cmp(&b.rhs, &b.lhs, |k| k >= 1).or_check(e),
            Expr::Eq(b) => {
                let f = self.count_cmp(&b.lhs, &b.rhs, |k| k >= 1);
                if f == Formula::True {
                    self.count_cmp(&b.rhs, &b.lhs, |k| k >= 1).or_check(e)
                } else {
                    f
                }
            }
            Expr::Ne(b) => {
                let f = self.count_cmp(&b.lhs, &b.rhs, |k| k == 0);
                if f == Formula::True {
                    self.count_cmp(&b.rhs, &b.lhs, |k| k == 0).or_check(e)
                } else {
                    f
                }
            }
            Expr::Not(_) => Formula::True.or_check(e),
            // `not`, arithmetic, other comparisons, modules, loops, `with`, `defined`:
            // all may be true without any pattern, as far as this analysis knows.
            _ => Formula::True,
        }
    }

    /// `count OP k` where `count` is `#p` (optionally `in` a range) and `k` an
    /// integer literal: implies `$p` present when `implies(k)` (the count must then
    /// be at least 1).
    fn count_cmp(&self, count: &Expr<'_>, k: &Expr<'_>, implies: impl Fn(i64) -> bool) -> Formula {
        let (Expr::PatternCount(c), Expr::LiteralInteger(k)) = (count, k) else {
            return Formula::True;
        };
        if k.is_unsigned || !implies(k.value) {
            return Formula::True;
        }
        // `#p` names pattern `$p`.
        match c.identifier.name.strip_prefix('#') {
            Some(rest) if !rest.is_empty() => self.var(&format!("${rest}")),
            _ => Formula::True,
        }
    }

    fn of(&self, of: &ast::Of<'_>) -> Formula {
        let items = match &of.items {
            OfItems::PatternSet(set) => self.set_vars(set),
            OfItems::BoolExprTuple(exprs) => exprs.iter().map(|e| self.formula(e)).collect(),
        };
        let len = items.len();
        let n = match &of.quantifier {
            Quantifier::All { .. } => len,
            Quantifier::Any { .. } => 1,
            // `none of`: true exactly when nothing matches.
            Quantifier::None { .. } => return Formula::True,
            Quantifier::Expr(Expr::LiteralInteger(k)) if !k.is_unsigned && k.value >= 1 => {
                // More than the set holds cannot be met; asking for all is weaker
                // than that, hence still implied.
                usize::try_from(k.value).unwrap_or(usize::MAX).min(len)
            }
            // `p% of`: with p > 0 at least one item must be true.
            Quantifier::Percentage(Expr::LiteralInteger(p)) if !p.is_unsigned && p.value >= 1 => {
                1.min(len)
            }
            _ => return Formula::True,
        };
        if len == 0 {
            return Formula::True;
        }
        Formula::at_least(n, items)
    }
}

/// Rough commonness of a byte in executables, after folding: NUL/space, 0xFF, the
/// most frequent x86-64 opcode, REX and ModRM bytes, and the letters of string
/// tables.
fn byte_cost(b: u8) -> u32 {
    match b | 0x20 {
        0x20 => 12,
        0xff => 8,
        // REX.W (48), mov (89, 8b), lea (8d), cmp/add imm (83), test (85), 0f, call,
        // jmp, jcc (74, 75), 24 (SIB), 44/45/4c (REX), c0, 01, and '/', 'e', 't'...
        0x68 | 0xa9 | 0xab | 0xad | 0xa3 | 0xa5 | 0x2f | 0xe8 | 0xe9 | 0x74 | 0x75 | 0x24
        | 0x64 | 0x65 | 0x6c | 0xe0 | 0x21 | 0x6b | 0x6d | 0x61 | 0x6f | 0x6e | 0x69 | 0x73
        | 0x72 => 5,
        0x21..=0x3f | 0x60..=0x7f => 3,
        0xa0..=0xdf => 2,
        _ => 1,
    }
}

fn window_cost(w: &[u8]) -> u32 {
    let mut cost: u32 = w.iter().map(|&b| byte_cost(b)).sum();
    // Repeated bytes (padding, fill) are common whatever their value.
    if let [a, b, c, ..] = w
        && a | 0x20 == b | 0x20
        && b | 0x20 == c | 0x20
    {
        cost += 8;
    }
    cost
}

/// Start of the least common-looking 4-byte window of a fixed run of bytes.
fn best_window(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .enumerate()
        .min_by_key(|(i, w)| (window_cost(w), *i))
        .map(|(i, _)| i)
}

pub(crate) fn fold_window(w: &[u8]) -> Option<u32> {
    let w: [u8; 4] = w.try_into().ok()?;
    Some(u32::from_le_bytes(w) | FOLD)
}

/// A fixed run of bytes that every match of (one alternative of) a pattern holds,
/// found through one 4-byte window of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RunSpec {
    /// The folded window.
    pub(crate) anchor: u32,
    /// Where the window starts in `run`.
    pub(crate) offset: usize,
    pub(crate) run: Vec<u8>,
    /// Compare with bit 5 of every byte ignored (nocase text, and regex literals,
    /// which are derived folded); otherwise byte for byte.
    pub(crate) folded: bool,
}

impl RunSpec {
    /// The run at its best window; `None` when it is shorter than 4 bytes or even
    /// its best window is mostly zeros, spaces or 0xff (padding and tables hold
    /// such windows everywhere: looking for them would cost more than it saves,
    /// and leaving the run out only makes the filter pass more).
    fn new(run: Vec<u8>, folded: bool) -> Option<RunSpec> {
        let offset = best_window(&run)?;
        let window = run.get(offset..offset + 4)?;
        if window
            .iter()
            .filter(|&&b| matches!(b | 0x20, 0x20 | 0xff))
            .count()
            >= 3
        {
            return None;
        }
        let anchor = fold_window(window)?;
        Some(RunSpec {
            anchor,
            offset,
            run,
            folded,
        })
    }

    /// Whether the run occurs in `data` starting at `start`.
    pub(crate) fn occurs_from(&self, data: &[u8], start: usize) -> bool {
        let Some(found) = start
            .checked_add(self.run.len())
            .and_then(|end| data.get(start..end))
        else {
            return false;
        };
        if self.folded {
            found
                .iter()
                .zip(&self.run)
                .all(|(a, b)| a | 0x20 == b | 0x20)
        } else {
            found == self.run.as_slice()
        }
    }
}

/// Most runs that must all occur for one alternative of a hex pattern: each one
/// more makes a chance hit in unrelated data rarer.
const RUNS_PER_ALT: usize = 3;

/// Alternatives of one pattern: every match holds all the runs of at least one.
pub(crate) type Alternatives = Vec<Vec<RunSpec>>;

fn normalise(mut alts: Alternatives) -> Alternatives {
    for a in &mut alts {
        a.sort_unstable();
        a.dedup();
    }
    alts.sort_unstable();
    alts.dedup();
    alts
}

/// Anchors of one pattern, or why there are none.
pub(crate) fn pattern_anchors(p: &ast::Pattern<'_>) -> Result<Alternatives, &'static str> {
    match p {
        ast::Pattern::Text(t) => text_anchors(&t.text.value, &t.modifiers),
        ast::Pattern::Hex(h) => {
            // Hex patterns take only `private`, which does not change what matches.
            if h.modifiers
                .iter()
                .any(|m| !matches!(m, ast::PatternModifier::Private { .. }))
            {
                return Err("hex pattern with modifiers");
            }
            hex_anchors(&h.sub_patterns)
                .map(normalise)
                .ok_or("hex pattern without 4 fixed bytes in a row")
        }
        ast::Pattern::Regexp(r) => {
            let m = &r.modifiers;
            if m.base64().is_some() || m.base64wide().is_some() || m.xor().is_some() {
                return Err("regular expression with base64 or xor");
            }
            let set = crate::regex_anchors::required_literals(
                r.regexp.src,
                r.regexp.case_insensitive || m.nocase().is_some(),
                r.regexp.dot_matches_new_line,
            )
            .ok_or("regular expression without a literal of 4 bytes that every match holds")?;
            let wide = m.wide().is_some();
            let ascii = m.ascii().is_some() || !wide;
            let mut alts = Vec::new();
            for lit in &set {
                let mut forms = Vec::with_capacity(2);
                if ascii {
                    forms.push(lit.clone());
                }
                if wide {
                    forms.push(lit.iter().flat_map(|&b| [b, 0]).collect());
                }
                for f in forms {
                    // The literals are folded, hence compared folded.
                    let spec = RunSpec::new(f, true).ok_or("regex literal shorter than 4 bytes")?;
                    alts.push(vec![spec]);
                }
            }
            Ok(normalise(alts))
        }
    }
}

fn text_anchors(text: &[u8], m: &ast::PatternModifiers<'_>) -> Result<Alternatives, &'static str> {
    if m.base64().is_some() || m.base64wide().is_some() {
        return Err("base64 modifier");
    }
    let wide = m.wide().is_some();
    // `wide` alone drops the ASCII form; `ascii` or no form modifier keeps it.
    let ascii = m.ascii().is_some() || !wide;
    let keys: (u8, u8) = match m.xor() {
        Some(ast::PatternModifier::Xor { start, end, .. }) => (*start, *end),
        Some(_) => return Err("unexpected xor modifier"),
        None => (0, 0),
    };
    if keys.0 > keys.1 {
        return Err("empty xor range");
    }
    let mut forms: Vec<Vec<u8>> = Vec::with_capacity(2);
    if ascii {
        forms.push(text.to_vec());
    }
    if wide {
        forms.push(text.iter().flat_map(|&b| [b, 0]).collect());
    }
    let nocase = m.nocase().is_some();
    let mut alts = Vec::new();
    for form in &forms {
        for key in keys.0..=keys.1 {
            let run: Vec<u8> = form.iter().map(|b| b ^ key).collect();
            let spec = RunSpec::new(run, nocase).ok_or("text shorter than 4 bytes")?;
            alts.push(vec![spec]);
        }
    }
    Ok(normalise(alts))
}

/// Anchors of a hex sub-pattern: the best windows inside its top-level runs of
/// fixed bytes (every one of which a match holds); failing that, the alternatives
/// of every branch of a top-level alternation (each branch must have its own).
fn hex_anchors(sub: &HexSubPattern) -> Option<Alternatives> {
    let mut runs: Vec<Vec<u8>> = vec![Vec::new()];
    for tok in sub.iter() {
        match tok {
            HexToken::Byte(b) if b.mask == 0xff => {
                if let Some(run) = runs.last_mut() {
                    run.push(b.value);
                }
            }
            // Masked and negated bytes, jumps and alternations end a run.
            _ => runs.push(Vec::new()),
        }
    }
    // The longest runs: the rarest, and the least work to confirm.
    runs.retain(|r| r.len() >= 4);
    runs.sort_by_key(|r| std::cmp::Reverse(r.len()));
    let specs: Vec<RunSpec> = runs
        .into_iter()
        .take(RUNS_PER_ALT)
        .filter_map(|r| RunSpec::new(r, false))
        .collect();
    if !specs.is_empty() {
        return Some(vec![specs]);
    }
    for tok in sub.iter() {
        if let HexToken::Alternative(alt) = tok {
            let mut all = Vec::new();
            let mut ok = !alt.alternatives.is_empty();
            for branch in &alt.alternatives {
                match hex_anchors(branch) {
                    Some(a) => all.extend(a),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return Some(all);
            }
        }
    }
    None
}
