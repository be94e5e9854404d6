//! Compiled rules: conditions with macros, lists and exceptions expanded, an index by event
//! type, and alert formatting.

use std::collections::BTreeMap;

use ferret_event::{Event, Source, View};
use ferret_filter::{
    CompileError, Compiler, Ctx, Definitions, EvalCtx, Expr, FieldRef, Lit, Memo, MemoSharing,
    Node, Op, Operand, Program, TypeTable, Types, Val, extract, line_col,
};
use serde::Serialize;

use crate::Priority;
use crate::load::{ExcValue, Origin, RuleDef, RuleError, RuleSet};

impl Definitions for RuleSet {
    fn macro_expr(&self, name: &str) -> Option<&Expr> {
        self.macro_def(name).map(|m| &m.expr)
    }
    fn list_items(&self, name: &str) -> Option<&[String]> {
        self.list_def(name).map(|l| l.items.as_slice())
    }
}

/// A piece of an output template.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Field(FieldRef),
}

/// A parsed output template (`... file=%fd.name ...`).
#[derive(Debug, Clone)]
pub struct Output {
    pieces: Vec<Piece>,
}

impl Output {
    /// Parses `%field` references; `%%` is a literal `%`.
    pub fn parse(text: &str) -> Result<Output, String> {
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'%' {
                let next = text[i..].find('%').map_or(text.len(), |n| i + n);
                lit.push_str(&text[i..next]);
                i = next;
                continue;
            }
            if b.get(i + 1) == Some(&b'%') {
                lit.push('%');
                i += 2;
                continue;
            }
            let start = i + 1;
            let mut end = start;
            while end < b.len()
                && (b[end].is_ascii_alphanumeric() || b[end] == b'_' || b[end] == b'.')
            {
                end += 1;
            }
            if b.get(end) == Some(&b'[')
                && let Some(close) = text[end..].find(']')
            {
                end += close + 1;
            }
            // A field name never ends with '.', so "%fd.name." ends the sentence.
            while end > start && b[end - 1] == b'.' {
                end -= 1;
            }
            let name = &text[start..end];
            if name.is_empty() || !name.contains('.') {
                // Not a field reference (e.g. "100%"): keep literally.
                lit.push('%');
                i += 1;
                continue;
            }
            let f = FieldRef::parse(name).map_err(|e| e.0)?;
            if !lit.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut lit)));
            }
            pieces.push(Piece::Field(f));
            i = end;
        }
        if !lit.is_empty() {
            pieces.push(Piece::Text(lit));
        }
        Ok(Output { pieces })
    }

    /// Renders the template for one event; absent values print as `<NA>`.
    pub fn render(&self, ctx: &Ctx<'_>) -> String {
        let mut out = String::with_capacity(128);
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => match extract(f, ctx) {
                    Some(v) => v.render(&mut out),
                    None => out.push_str("<NA>"),
                },
            }
        }
        out
    }

    /// The fields the template names, with their values (JSON null when absent).
    pub fn fields(&self, ctx: &Ctx<'_>) -> BTreeMap<String, serde_json::Value> {
        let mut m = BTreeMap::new();
        for p in &self.pieces {
            if let Piece::Field(f) = p {
                let v = match extract(f, ctx) {
                    None => serde_json::Value::Null,
                    Some(Val::Int(i)) => serde_json::Value::from(i),
                    Some(Val::Bool(b)) => serde_json::Value::Bool(b),
                    Some(v) => {
                        let mut s = String::new();
                        v.render(&mut s);
                        serde_json::Value::String(s)
                    }
                };
                m.insert(f.display(), v);
            }
        }
        m
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// MITRE ATT&CK technique ids found in the tags (`T1059`, `T1036.004`).
    pub attack: Vec<String>,
    /// Score weight (explicit or derived from the priority).
    pub weight: f64,
    /// Enabled.
    pub enabled: bool,
    /// Event source.
    pub source: String,
    source_id: Source,
    /// Fields evaluated as absent that the condition reads.
    pub absent_fields: Vec<String>,
    /// Whether the condition folded to `false` (it can never fire in ferret).
    pub never_fires: bool,
    /// Output template.
    pub output: Output,
    /// Definition site.
    pub origin: Origin,
    node: Node,
    /// `node` without the root `evt.type` tests the type index already guarantees.
    indexed: Node,
}

/// An alert in Falco's JSON shape.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// ISO 8601 event time.
    pub time: String,
    /// Rule name.
    pub rule: String,
    /// Priority as Falco spells it.
    pub priority: &'static str,
    /// Rendered output (prefixed by the time and priority, as Falco does).
    pub output: String,
    /// Values of the output's fields.
    pub output_fields: BTreeMap<String, serde_json::Value>,
    /// Rule tags.
    pub tags: Vec<String>,
    /// Event source.
    pub source: String,
    /// Host name.
    pub hostname: String,
}

/// Load/compile statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Rules compiled.
    pub rules: usize,
    /// Enabled rules in the index.
    pub enabled: usize,
    /// Macros defined.
    pub macros: usize,
    /// Lists defined.
    pub lists: usize,
    /// Rules reading at least one absent field.
    pub rules_with_absent_fields: usize,
    /// Rules whose condition folds to `false` because of absent fields.
    pub rules_never_firing: usize,
    /// Enabled rules not restricted to some event types (tested on every event).
    pub rules_any_type: usize,
}

/// A rule's condition specialised for one event type (see [`Node::specialize`]) and
/// flattened into a [`Program`].
#[derive(Debug, Clone)]
struct RuleProgram {
    rule: u32,
    source: Source,
    program: Program,
}

/// Compiled rules indexed by event type.
#[derive(Debug, Clone)]
pub struct Engine {
    rules: Vec<Rule>,
    types: TypeTable,
    by_type: Vec<Vec<u32>>,
    any_type: Vec<u32>,
    /// Per type id, the candidate rules' conditions with `evt.type` tests folded; rules
    /// that fold to `false` for the type are left out.
    programs: Vec<Box<[RuleProgram]>>,
    /// The same for event types no rule names.
    any_programs: Box<[RuleProgram]>,
    stats: EngineStats,
    memo_slots: usize,
}

fn is_attack_id(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

fn lit(text: &str) -> Lit {
    Lit {
        text: text.to_owned(),
        quoted: true,
        pos: 0,
    }
}

/// Builds `not ((f1 c1 v1 and f2 c2 v2) or ...)` for a rule's exceptions.
fn exceptions_expr(r: &RuleDef) -> Result<Option<Expr>, String> {
    let mut alts = Vec::new();
    for ex in &r.exceptions {
        for tuple in &ex.values {
            let mut conj = Vec::new();
            for ((field, comp), val) in ex.fields.iter().zip(&ex.comps).zip(tuple) {
                let op = match comp.as_str() {
                    "=" | "==" => Op::Eq,
                    "!=" => Op::Ne,
                    "<" => Op::Lt,
                    "<=" => Op::Le,
                    ">" => Op::Gt,
                    ">=" => Op::Ge,
                    "contains" => Op::Contains,
                    "icontains" => Op::IContains,
                    "startswith" => Op::StartsWith,
                    "endswith" => Op::EndsWith,
                    "glob" => Op::Glob,
                    "pmatch" => Op::PMatch,
                    "in" => Op::In,
                    "intersects" => Op::Intersects,
                    other => {
                        return Err(format!(
                            "exception '{}': unsupported comparison '{other}'",
                            ex.name
                        ));
                    }
                };
                let operand = match (val, op.takes_list()) {
                    (ExcValue::Many(v), true) => Operand::List(v.iter().map(|s| lit(s)).collect()),
                    // A single name with a list operator is a list reference.
                    (ExcValue::One(v), true) => Operand::List(vec![Lit {
                        text: v.clone(),
                        quoted: false,
                        pos: 0,
                    }]),
                    (ExcValue::One(v), false) => Operand::Single(lit(v)),
                    (ExcValue::Many(_), false) => {
                        return Err(format!(
                            "exception '{}': a list value needs in, pmatch or intersects",
                            ex.name
                        ));
                    }
                };
                conj.push(Expr::Check {
                    field: field.clone(),
                    pos: 0,
                    op,
                    value: Some(operand),
                });
            }
            alts.push(if conj.len() == 1 {
                conj.remove(0)
            } else {
                Expr::And(conj)
            });
        }
    }
    Ok(if alts.is_empty() {
        None
    } else {
        Some(Expr::Not(Box::new(Expr::Or(alts))))
    })
}

/// Sources ferret produces.
fn known_source(s: &str) -> Option<Source> {
    match s {
        "syscall" => Some(Source::Syscall),
        "audit" => Some(Source::Audit),
        "filewatch" => Some(Source::Filewatch),
        "network" => Some(Source::Network),
        _ => None,
    }
}

impl Engine {
    /// Compiles every rule of `set`. All errors are returned, each naming the rule (and the
    /// macro, field, file and line involved).
    pub fn compile(set: &RuleSet) -> Result<Engine, Vec<RuleError>> {
        let mut compiler = Compiler::new(set);
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        for def in set.rules() {
            let rerr = |message: String| RuleError {
                origin: def.origin.clone(),
                item: format!("rule '{}'", def.name),
                message,
            };
            if known_source(&def.source).is_none() {
                errors.push(rerr(format!(
                    "source '{}' is not produced by ferret (syscall, audit, filewatch, network)",
                    def.source
                )));
                continue;
            }
            let expr = match ferret_filter::parse(&def.condition) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(rerr(format!("condition {e}")));
                    continue;
                }
            };
            let expr = match exceptions_expr(def) {
                Ok(Some(exc)) => Expr::And(vec![expr, exc]),
                Ok(None) => expr,
                Err(m) => {
                    errors.push(rerr(m));
                    continue;
                }
            };
            let (node, info) = match compiler.compile(&expr) {
                Ok(x) => x,
                Err(e) => {
                    errors.push(describe_compile_error(set, def, &e));
                    continue;
                }
            };
            let output = match Output::parse(&def.output) {
                Ok(o) => o,
                Err(m) => {
                    errors.push(rerr(format!("output: {m}")));
                    continue;
                }
            };
            let never_fires = matches!(node, Node::Const(false));
            rules.push(Rule {
                name: def.name.clone(),
                desc: def.desc.clone(),
                priority: def.priority,
                attack: def
                    .tags
                    .iter()
                    .filter(|t| is_attack_id(t))
                    .cloned()
                    .collect(),
                tags: def.tags.clone(),
                weight: def.weight.unwrap_or_else(|| def.priority.default_weight()),
                enabled: def.enabled,
                source: def.source.clone(),
                source_id: known_source(&def.source).unwrap_or_default(),
                absent_fields: info.absent_fields,
                never_fires,
                output,
                origin: def.origin.clone(),
                indexed: node.clone(),
                node,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let types = std::mem::take(&mut compiler.types);
        let memo_slots = compiler.memo_slots();
        let mut by_type: Vec<Vec<u32>> = vec![Vec::new(); types.len()];
        let mut any_type = Vec::new();
        for (i, r) in rules.iter_mut().enumerate() {
            if !r.enabled || r.never_fires {
                continue;
            }
            let idx = u32::try_from(i).unwrap_or(u32::MAX);
            match r.node.possible_types() {
                Types::Any => any_type.push(idx),
                Types::Only(set) => {
                    r.indexed = strip_root_types(&r.node);
                    for id in set.ids() {
                        if let Some(v) = by_type.get_mut(usize::from(id)) {
                            v.push(idx);
                        }
                    }
                }
            }
        }
        // Rules tested on every event run after the type-indexed ones; merge per type so
        // that each list stays in rule order.
        for v in &mut by_type {
            v.extend(any_type.iter().copied());
            v.sort_unstable();
            v.dedup();
        }
        let specialize = |ids: &[u32], ty: Option<u16>| -> Box<[RuleProgram]> {
            let mut sharing = MemoSharing::default();
            ids.iter()
                .filter_map(|&i| {
                    let r = rules.get(i as usize)?;
                    let mut node = r.indexed.specialize(ty);
                    sharing.share(&mut node);
                    (!matches!(node, Node::Const(false))).then(|| RuleProgram {
                        rule: i,
                        source: r.source_id,
                        program: Program::new(&node),
                    })
                })
                .collect()
        };
        let programs = by_type
            .iter()
            .enumerate()
            .map(|(t, ids)| specialize(ids, u16::try_from(t).ok()))
            .collect();
        let any_programs = specialize(&any_type, None);
        let stats = EngineStats {
            rules: rules.len(),
            enabled: rules.iter().filter(|r| r.enabled).count(),
            macros: set.macro_count(),
            lists: set.list_count(),
            rules_with_absent_fields: rules.iter().filter(|r| !r.absent_fields.is_empty()).count(),
            rules_never_firing: rules.iter().filter(|r| r.never_fires).count(),
            rules_any_type: any_type.len(),
        };
        Ok(Engine {
            rules,
            types,
            by_type,
            any_type,
            programs,
            any_programs,
            stats,
            memo_slots,
        })
    }

    /// Compile statistics.
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Compiled rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Indices of the rules an event of type `ty` is tested against.
    pub fn candidates(&self, ty: &str) -> &[u32] {
        self.types
            .get(ty)
            .and_then(|id| self.by_type.get(usize::from(id)))
            .map_or(self.any_type.as_slice(), Vec::as_slice)
    }

    /// Number of rules an event of type `ty` is tested against.
    pub fn candidates_for(&self, ty: &str) -> usize {
        self.types
            .get(ty)
            .and_then(|id| self.by_type.get(usize::from(id)))
            .map_or(self.any_type.len(), Vec::len)
    }

    /// A macro-result cache sized for this engine, for [`Engine::matches`].
    pub fn new_memo(&self) -> Memo {
        Memo::new(self.memo_slots)
    }

    /// Indices (into [`Engine::rules`]) of the rules `ev` matches, appended to `out`.
    /// `memo` (from [`Engine::new_memo`]) caches macro results within the event.
    pub fn matches(&self, ev: &Event, view: View<'_>, memo: &Memo, out: &mut Vec<usize>) {
        let type_id = self.types.get(&ev.ty);
        let progs = match type_id.and_then(|id| self.programs.get(usize::from(id))) {
            Some(v) => &**v,
            None => &*self.any_programs,
        };
        if progs.is_empty() {
            return;
        }
        let c = EvalCtx {
            ctx: Ctx { ev, view },
            type_id,
            memo: Some(memo),
        };
        memo.next_event();
        for p in progs {
            if p.source == ev.source && p.program.eval(&c) {
                out.push(p.rule as usize);
            }
        }
    }

    /// Whether rule `idx` matches `ev`, which must be of a type in
    /// [`Engine::candidates`] for it. For diagnostics and per-rule profiling.
    pub fn rule_matches(&self, idx: usize, ev: &Event, view: View<'_>) -> bool {
        let Some(r) = self.rules.get(idx) else {
            return false;
        };
        let c = EvalCtx {
            ctx: Ctx { ev, view },
            type_id: self.types.get(&ev.ty),
            memo: None,
        };
        r.source_id == ev.source && r.indexed.eval(&c)
    }

    /// Builds the Falco-style alert for rule `idx` on `ev`.
    pub fn alert(&self, idx: usize, ev: &Event, view: View<'_>) -> Option<Alert> {
        let r = self.rules.get(idx)?;
        let ctx = Ctx { ev, view };
        let time = ferret_filter::format_iso8601(ev.ts);
        let body = r.output.render(&ctx);
        let host = ferret_filter::fields::field_info("evt.hostname")
            .map(|i| FieldRef::new(i, ferret_filter::FieldArg::None))
            .and_then(|f| {
                extract(&f, &ctx).map(|v| {
                    let mut s = String::new();
                    v.render(&mut s);
                    s
                })
            })
            .unwrap_or_default();
        Some(Alert {
            output: format!(
                "{} {}: {}",
                ferret_filter::format_time(ev.ts),
                r.priority.as_str(),
                body
            ),
            time,
            rule: r.name.clone(),
            priority: r.priority.as_str(),
            output_fields: r.output.fields(&ctx),
            tags: r.tags.clone(),
            source: r.source.clone(),
            hostname: host,
        })
    }
}

/// Drops the `evt.type` tests at the root of an indexed rule: an event only reaches the rule
/// through the index when its type is in every one of them.
fn strip_root_types(n: &Node) -> Node {
    match n {
        Node::TypeIn(_) => Node::Const(true),
        Node::And(items) => {
            let mut v: Vec<Node> = items
                .iter()
                .filter(|c| !matches!(c, Node::TypeIn(_)))
                .cloned()
                .collect();
            match v.len() {
                0 => Node::Const(true),
                1 => v.pop().unwrap_or(Node::Const(true)),
                _ => Node::And(v.into_boxed_slice()),
            }
        }
        other => other.clone(),
    }
}

fn describe_compile_error(set: &RuleSet, def: &RuleDef, e: &CompileError) -> RuleError {
    let mut msg = String::new();
    match &e.origin {
        Some(m) => {
            let (site, col) = match set.macro_def(m) {
                Some(md) => (md.origin.to_string(), line_col(&md.condition, e.pos).1),
                None => (String::from("built-in"), 1),
            };
            msg.push_str(&format!(
                "in macro '{m}' ({site}), condition column {col}: {}",
                e.message
            ));
        }
        None => {
            let (l, col) = line_col(&def.condition, e.pos);
            if l > 1 {
                msg.push_str(&format!("condition line {l} column {col}: {}", e.message));
            } else {
                msg.push_str(&format!("condition column {col}: {}", e.message));
            }
        }
    }
    RuleError {
        origin: def.origin.clone(),
        item: format!("rule '{}'", def.name),
        message: msg,
    }
}
