//! Compiles parsed expressions into evaluation trees: fields resolved, operands parsed to
//! the field's type, strings pre-lowered, lists turned into sets, macros and lists
//! expanded, constant parts folded.

use std::cell::Cell;
use std::fmt;
use std::net::IpAddr;

use memchr::memmem;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::fields::{self, Ctx, Field, FieldArg, FieldRef, FieldType, Val};
use crate::glob::glob_match;
use crate::parse::{Expr, Lit, Op, Operand};

/// Interned event-type names, shared by every filter evaluated over the same events.
#[derive(Debug, Default, Clone)]
pub struct TypeTable {
    map: FxHashMap<Box<str>, u16>,
    names: Vec<Box<str>>,
}

impl TypeTable {
    /// Id of `name`, adding it when new.
    pub fn intern(&mut self, name: &str) -> u16 {
        if let Some(id) = self.map.get(name) {
            return *id;
        }
        let id = u16::try_from(self.names.len()).unwrap_or(u16::MAX);
        self.names.push(name.into());
        self.map.insert(name.into(), id);
        id
    }
    /// Id of `name` if any filter mentions it.
    pub fn get(&self, name: &str) -> Option<u16> {
        self.map.get(name).copied()
    }
    /// Number of interned names.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    /// Name of an id.
    pub fn name(&self, id: u16) -> Option<&str> {
        self.names.get(usize::from(id)).map(|n| &**n)
    }
}

/// A set of event-type ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeSet(Vec<u64>);

impl TypeSet {
    /// Adds an id.
    pub fn insert(&mut self, id: u16) {
        let w = usize::from(id / 64);
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1 << (id % 64);
    }
    /// Membership.
    #[inline]
    pub fn contains(&self, id: u16) -> bool {
        self.0
            .get(usize::from(id / 64))
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
    fn union(&mut self, o: &TypeSet) {
        if self.0.len() < o.0.len() {
            self.0.resize(o.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&o.0) {
            *a |= b;
        }
    }
    fn intersect(&mut self, o: &TypeSet) {
        for (i, a) in self.0.iter_mut().enumerate() {
            *a &= o.0.get(i).copied().unwrap_or(0);
        }
    }
    /// Ids in the set.
    pub fn ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.0.iter().enumerate().flat_map(|(w, bits)| {
            (0..64u16)
                .filter(move |b| bits & (1 << b) != 0)
                .filter_map(move |b| u16::try_from(w * 64).ok().map(|base| base + b))
        })
    }
}

/// Which event types a filter can match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Types {
    /// Any type (no usable `evt.type` restriction).
    Any,
    /// Only these.
    Only(TypeSet),
}

/// An IP network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Parses `1.2.3.4`, `10.0.0.0/8`, `::1`, `fe80::/10`.
    pub fn parse(s: &str) -> Option<Net> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Net { addr, prefix })
    }
    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A string set with a 256-bit pre-filter on (length, first byte, last byte): most
/// values tested against exclusion lists are not in them, and this rejects them without
/// hashing the whole string.
#[derive(Debug, Clone)]
struct StrSet {
    set: FxHashSet<Box<str>>,
    bloom: [u64; 4],
}

fn bloom_bit(s: &str) -> usize {
    let b = s.as_bytes();
    let (f, l) = (
        b.first().copied().unwrap_or(0),
        b.last().copied().unwrap_or(0),
    );
    (b.len().wrapping_mul(31) ^ usize::from(f).wrapping_mul(7) ^ usize::from(l).wrapping_mul(131))
        & 255
}

impl StrSet {
    fn new(vals: Vec<String>) -> StrSet {
        let mut bloom = [0u64; 4];
        for v in &vals {
            let bit = bloom_bit(v);
            bloom[bit / 64] |= 1 << (bit % 64);
        }
        StrSet {
            set: vals.into_iter().map(Into::into).collect(),
            bloom,
        }
    }
    #[inline]
    fn contains(&self, v: &str) -> bool {
        let bit = bloom_bit(v);
        self.bloom[bit / 64] & (1 << (bit % 64)) != 0 && self.set.contains(v)
    }
}

/// A compiled comparison.
#[derive(Debug, Clone)]
enum Test {
    Str {
        op: Op,
        s: Box<str>,
        finder: Option<memmem::Finder<'static>>,
    },
    StrSet(StrSet),
    PMatch(Box<[Box<str>]>),
    Glob {
        pat: Box<str>,
        icase: bool,
    },
    Bytes {
        op: Op,
        b: Box<[u8]>,
    },
    Num {
        op: Op,
        n: i64,
    },
    NumSet(Box<[i64]>),
    Bool {
        want: bool,
    },
    Ip {
        nets: Box<[Net]>,
        negate: bool,
    },
    /// `evt.arg.*`: numeric when both sides are numbers, text otherwise.
    Dyn {
        op: Op,
        s: Box<str>,
        n: Option<i64>,
        finder: Option<memmem::Finder<'static>>,
    },
    DynSet {
        strs: FxHashSet<Box<str>>,
        nums: Box<[i64]>,
    },
}

/// A compiled filter tree.
#[derive(Debug, Clone)]
pub enum Node {
    /// Constant (absent fields fold to `false`).
    Const(bool),
    /// Conjunction.
    And(Box<[Node]>),
    /// Disjunction.
    Or(Box<[Node]>),
    /// Negation.
    Not(Box<Node>),
    /// `evt.type` in a set of interned ids.
    TypeIn(TypeSet),
    /// `field exists`.
    Exists(FieldRef),
    /// A comparison.
    Test(Box<(FieldRef, TestBox)>),
    /// A comparison of two fields (`fs.path.name = val(proc.exepath)`).
    FieldCmp(Box<(FieldRef, Op, FieldRef)>),
    /// A macro's tree whose result is cached per event in [`Memo`] slot `.0`.
    Memo(u32, Box<Node>),
}

/// Opaque compiled comparison.
#[derive(Debug, Clone)]
pub struct TestBox(Test);

/// A compile error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Byte offset in the source of `origin`.
    pub pos: usize,
    /// Macro whose text holds the error; `None` for the filter itself.
    pub origin: Option<String>,
    /// What is wrong.
    pub message: String,
    /// The unknown field, when that is the problem.
    pub unknown_field: Option<String>,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(m) => write!(f, "in macro '{m}': {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Where macros and lists come from.
pub trait Definitions {
    /// A macro's parsed condition.
    fn macro_expr(&self, name: &str) -> Option<&Expr>;
    /// A list's items.
    fn list_items(&self, name: &str) -> Option<&[String]>;
}

/// Built-in macros available when the rule files do not define them (handy in `--filter`).
pub const BUILTIN_MACROS: &[(&str, &str)] = &[
    (
        "spawned_process",
        "evt.type in (execve, execveat) and evt.dir=<",
    ),
    (
        "open_read",
        "evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='f' and fd.num>=0",
    ),
    (
        "open_write",
        "evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0",
    ),
    (
        "open_directory",
        "evt.type in (open,openat,openat2) and evt.is_open_read=true and fd.typechar='d' and fd.num>=0",
    ),
    ("container", "container.id != host"),
    ("never_true", "evt.num=0"),
    ("always_true", "evt.num>=0"),
];

/// No definitions (a standalone filter).
#[derive(Debug, Default)]
pub struct NoDefinitions;

impl Definitions for NoDefinitions {
    fn macro_expr(&self, _: &str) -> Option<&Expr> {
        None
    }
    fn list_items(&self, _: &str) -> Option<&[String]> {
        None
    }
}

/// Facts gathered while compiling.
#[derive(Debug, Default, Clone)]
pub struct CompileInfo {
    /// Absent fields referenced (directly or through macros).
    pub absent_fields: Vec<String>,
}

/// Compiles expressions against definitions, interning event types into `types`.
pub struct Compiler<'d> {
    defs: &'d dyn Definitions,
    /// Event-type table shared with the evaluator.
    pub types: TypeTable,
    cache: FxHashMap<String, (Node, Vec<String>)>,
    builtin: FxHashMap<&'static str, Expr>,
    stack: Vec<String>,
    info: CompileInfo,
    memo_slots: u32,
}

impl fmt::Debug for Compiler<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiler")
            .field("types", &self.types.len())
            .finish_non_exhaustive()
    }
}

fn cerr(pos: usize, msg: String) -> CompileError {
    CompileError {
        pos,
        origin: None,
        message: msg,
        unknown_field: None,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    s.parse().ok()
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

impl<'d> Compiler<'d> {
    /// A compiler using `defs` for macros and lists.
    pub fn new(defs: &'d dyn Definitions) -> Self {
        let builtin = BUILTIN_MACROS
            .iter()
            .filter_map(|(n, t)| crate::parse::parse(t).ok().map(|e| (*n, e)))
            .collect();
        Compiler {
            defs,
            types: TypeTable::default(),
            cache: FxHashMap::default(),
            builtin,
            stack: Vec::new(),
            info: CompileInfo::default(),
            memo_slots: 0,
        }
    }

    /// Number of [`Memo`] slots the compiled trees use.
    pub fn memo_slots(&self) -> usize {
        self.memo_slots as usize
    }

    /// Compiles `expr`; returns the tree and the absent fields it depends on.
    pub fn compile(&mut self, expr: &Expr) -> Result<(Node, CompileInfo), CompileError> {
        self.info = CompileInfo::default();
        let node = self.node(expr)?;
        let mut info = std::mem::take(&mut self.info);
        info.absent_fields.sort();
        info.absent_fields.dedup();
        Ok((node, info))
    }

    fn node(&mut self, e: &Expr) -> Result<Node, CompileError> {
        Ok(match e {
            Expr::And(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    match self.node(i)? {
                        Node::Const(true) => {}
                        Node::Const(false) => return Ok(Node::Const(false)),
                        Node::And(inner) => out.extend(inner.into_vec()),
                        n => out.push(n),
                    }
                }
                match out.len() {
                    0 => Node::Const(true),
                    1 => out.pop().unwrap_or(Node::Const(true)),
                    _ => {
                        // Pure, side-effect-free tests, so any order gives the same result;
                        // the one that rejects soonest for the least work runs first.
                        order_and(&mut out);
                        Node::And(out.into_boxed_slice())
                    }
                }
            }
            Expr::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    match self.node(i)? {
                        Node::Const(false) => {}
                        Node::Const(true) => return Ok(Node::Const(true)),
                        Node::Or(inner) => out.extend(inner.into_vec()),
                        n => out.push(n),
                    }
                }
                merge_type_tests(&mut out);
                order_or(&mut out);
                match out.len() {
                    0 => Node::Const(false),
                    1 => out.pop().unwrap_or(Node::Const(false)),
                    _ => Node::Or(out.into_boxed_slice()),
                }
            }
            Expr::Not(inner) => match self.node(inner)? {
                Node::Const(b) => Node::Const(!b),
                Node::Not(n) => *n,
                n => Node::Not(Box::new(n)),
            },
            Expr::Macro { name, pos } => self.macro_ref(name, *pos)?,
            Expr::Check {
                field,
                pos,
                op,
                value,
            } => self.check(field, *pos, *op, value.as_ref())?,
        })
    }

    fn macro_ref(&mut self, name: &str, pos: usize) -> Result<Node, CompileError> {
        if let Some((n, absent)) = self.cache.get(name) {
            self.info.absent_fields.extend(absent.iter().cloned());
            return Ok(n.clone());
        }
        if self.stack.iter().any(|m| m == name) {
            return Err(cerr(
                pos,
                format!(
                    "macro '{name}' refers to itself (through {})",
                    self.stack.join(" -> ")
                ),
            ));
        }
        let defs = self.defs;
        let expr = match defs.macro_expr(name) {
            Some(e) => e.clone(),
            None => match self.builtin.get(name) {
                Some(e) => e.clone(),
                None => {
                    let mut e = cerr(pos, format!("unknown macro or field '{name}'"));
                    e.unknown_field = Some(name.to_owned());
                    return Err(e);
                }
            },
        };
        self.stack.push(name.to_owned());
        let saved = std::mem::take(&mut self.info.absent_fields);
        let res = self.node(&expr);
        self.stack.pop();
        let absent = std::mem::replace(&mut self.info.absent_fields, saved);
        let node = res.map_err(|mut e| {
            if e.origin.is_none() {
                e.origin = Some(name.to_owned());
            }
            e
        })?;
        self.info.absent_fields.extend(absent.iter().cloned());
        // Worth caching only when evaluating it costs more than a cache lookup.
        let node = if node.cost() >= 10 && !matches!(node, Node::Memo(..)) {
            let slot = self.memo_slots;
            self.memo_slots += 1;
            Node::Memo(slot, Box::new(node))
        } else {
            node
        };
        self.cache.insert(name.to_owned(), (node.clone(), absent));
        Ok(node)
    }

    fn expand_list(
        &self,
        items: &[Lit],
        out: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), CompileError> {
        for it in items {
            if !it.quoted
                && let Some(sub) = self.defs.list_items(&it.text)
            {
                self.expand_names(sub, out, depth + 1, it.pos)?;
            } else {
                out.push(it.text.clone());
            }
        }
        Ok(())
    }

    fn expand_names(
        &self,
        items: &[String],
        out: &mut Vec<String>,
        depth: usize,
        pos: usize,
    ) -> Result<(), CompileError> {
        if depth > 32 {
            return Err(cerr(
                pos,
                "lists nested more than 32 deep (a list that includes itself?)".into(),
            ));
        }
        for it in items {
            match self.defs.list_items(it) {
                Some(sub) => self.expand_names(sub, out, depth + 1, pos)?,
                // Falco splices list items into the condition text, so an item written
                // with its own quotes ('"10.0.0.0/8"') stands for the unquoted value.
                None => out.push(unquote(it).to_owned()),
            }
        }
        Ok(())
    }

    fn check(
        &mut self,
        name: &str,
        pos: usize,
        op: Op,
        value: Option<&Operand>,
    ) -> Result<Node, CompileError> {
        let field = match FieldRef::parse(name) {
            Ok(f) => f,
            Err(e) => {
                let mut err = cerr(pos, e.0);
                err.unknown_field = Some(name.to_owned());
                return Err(err);
            }
        };
        let ty = field.info.ty;
        if let Some(Operand::Field(other)) = value {
            let rhs = FieldRef::parse(&other.text).map_err(|e| {
                let mut err = cerr(other.pos, e.0);
                err.unknown_field = Some(other.text.clone());
                err
            })?;
            if !matches!(
                op,
                Op::Eq
                    | Op::Ne
                    | Op::Lt
                    | Op::Le
                    | Op::Gt
                    | Op::Ge
                    | Op::Contains
                    | Op::StartsWith
                    | Op::EndsWith
            ) {
                return Err(cerr(
                    pos,
                    format!("operator '{}' cannot compare with val(...)", op.as_str()),
                ));
            }
            if field.is_absent() || rhs.is_absent() {
                self.info.absent_fields.push(if field.is_absent() {
                    name.to_owned()
                } else {
                    other.text.clone()
                });
                return Ok(Node::Const(false));
            }
            return Ok(Node::FieldCmp(Box::new((field, op, rhs))));
        }
        // Values as text (lists expanded).
        let mut vals: Vec<String> = Vec::new();
        let vpos = match value {
            Some(Operand::Single(l)) => {
                vals.push(l.text.clone());
                l.pos
            }
            Some(Operand::List(items)) => {
                self.expand_list(items, &mut vals, 0)?;
                items.first().map_or(pos, |l| l.pos)
            }
            Some(Operand::Field(_)) | None => pos,
        };
        if field.is_absent() {
            self.info.absent_fields.push(name.to_owned());
            return Ok(Node::Const(false));
        }
        let bad_op = || {
            cerr(
                pos,
                format!(
                    "operator '{}' cannot be used with field '{name}' ({})",
                    op.as_str(),
                    ty.name()
                ),
            )
        };
        if op == Op::Exists {
            return Ok(Node::Exists(field));
        }
        // evt.type equality and membership use interned ids.
        if field.info.id == Field::EvtType && matches!(op, Op::Eq | Op::Ne | Op::In) {
            let mut set = TypeSet::default();
            for v in &vals {
                set.insert(self.types.intern(v));
            }
            let n = Node::TypeIn(set);
            return Ok(if op == Op::Ne {
                Node::Not(Box::new(n))
            } else {
                n
            });
        }
        let first = vals.first().cloned().unwrap_or_default();
        // Falco spells constants as `evt.num=0` (never_true) and `evt.num>=0` (always_true);
        // event numbers start at 1, so these fold away instead of costing a test per event.
        if field.id == Field::EvtNum
            && let Ok(0) = first.parse::<i64>()
        {
            match op {
                Op::Eq | Op::Le | Op::Lt => return Ok(Node::Const(false)),
                Op::Ne | Op::Ge | Op::Gt => return Ok(Node::Const(true)),
                _ => {}
            }
        }
        let test = match ty {
            FieldType::Str => match op {
                Op::Eq
                | Op::Ne
                | Op::Lt
                | Op::Le
                | Op::Gt
                | Op::Ge
                | Op::Contains
                | Op::StartsWith
                | Op::EndsWith => {
                    let finder = (op == Op::Contains)
                        .then(|| memmem::Finder::new(first.as_bytes()).into_owned());
                    Test::Str {
                        op,
                        s: first.into(),
                        finder,
                    }
                }
                Op::IContains => {
                    let low = first.to_ascii_lowercase();
                    Test::Str {
                        op,
                        s: low.into(),
                        finder: None,
                    }
                }
                Op::In | Op::Intersects => Test::StrSet(StrSet::new(vals)),
                Op::PMatch => Test::PMatch(
                    vals.into_iter()
                        .map(|v| v.trim_end_matches('/').to_owned().into())
                        .collect(),
                ),
                Op::Glob => Test::Glob {
                    pat: first.into(),
                    icase: false,
                },
                Op::IGlob => Test::Glob {
                    pat: first.to_ascii_lowercase().into(),
                    icase: true,
                },
                Op::BContains | Op::BStartsWith => {
                    let b = parse_hex(&first).ok_or_else(|| {
                        cerr(
                            vpos,
                            format!(
                                "'{}' needs hex bytes (e.g. 7f454c46), found '{first}'",
                                op.as_str()
                            ),
                        )
                    })?;
                    Test::Bytes { op, b: b.into() }
                }
                Op::Exists => return Err(bad_op()),
            },
            FieldType::Int
            | FieldType::Uint
            | FieldType::Port
            | FieldType::AbsTime
            | FieldType::RelTime => {
                let num = |v: &str| {
                    parse_int(v).ok_or_else(|| {
                        cerr(
                            vpos,
                            format!("field '{name}' is numeric: expected a number, found '{v}'"),
                        )
                    })
                };
                match op {
                    Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge => Test::Num {
                        op,
                        n: num(&first)?,
                    },
                    Op::In | Op::Intersects => {
                        Test::NumSet(vals.iter().map(|v| num(v)).collect::<Result<_, _>>()?)
                    }
                    _ => return Err(bad_op()),
                }
            }
            FieldType::Bool => {
                let want = match first.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(cerr(
                            vpos,
                            format!(
                                "field '{name}' is boolean: expected true or false, found '{first}'"
                            ),
                        ));
                    }
                };
                match op {
                    Op::Eq => Test::Bool { want },
                    Op::Ne => Test::Bool { want: !want },
                    _ => return Err(bad_op()),
                }
            }
            FieldType::Ip | FieldType::Net => {
                let net = |v: &str| {
                    Net::parse(v).ok_or_else(|| {
                        cerr(
                            vpos,
                            format!(
                                "field '{name}' expects an IP address or CIDR network, found '{v}'"
                            ),
                        )
                    })
                };
                match op {
                    Op::Eq | Op::Ne => Test::Ip {
                        nets: Box::new([net(&first)?]),
                        negate: op == Op::Ne,
                    },
                    Op::In | Op::Intersects => Test::Ip {
                        nets: vals.iter().map(|v| net(v)).collect::<Result<_, _>>()?,
                        negate: false,
                    },
                    _ => return Err(bad_op()),
                }
            }
            FieldType::Dyn => match op {
                Op::In | Op::Intersects => {
                    let nums = vals.iter().filter_map(|v| parse_int(v)).collect();
                    Test::DynSet {
                        strs: vals.into_iter().map(Into::into).collect(),
                        nums,
                    }
                }
                Op::PMatch => Test::PMatch(
                    vals.into_iter()
                        .map(|v| v.trim_end_matches('/').to_owned().into())
                        .collect(),
                ),
                Op::Glob => Test::Glob {
                    pat: first.into(),
                    icase: false,
                },
                Op::IGlob => Test::Glob {
                    pat: first.to_ascii_lowercase().into(),
                    icase: true,
                },
                Op::BContains | Op::BStartsWith => {
                    let b = parse_hex(&first).ok_or_else(|| {
                        cerr(
                            vpos,
                            format!("'{}' needs hex bytes, found '{first}'", op.as_str()),
                        )
                    })?;
                    Test::Bytes { op, b: b.into() }
                }
                _ => {
                    let n = parse_int(&first);
                    let s: Box<str> = if op == Op::IContains {
                        first.to_ascii_lowercase().into()
                    } else {
                        first.into()
                    };
                    let finder = (op == Op::Contains)
                        .then(|| memmem::Finder::new(s.as_bytes()).into_owned());
                    Test::Dyn { op, s, n, finder }
                }
            },
        };
        Ok(Node::Test(Box::new((field, TestBox(test)))))
    }
}

fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

/// Orders the operands of an `and` for the cheapest expected evaluation: by cost divided by
/// the chance of rejecting (the classic rule for short-circuit conjunctions of independent
/// tests). Ordering by cost alone put cheap exclusions (`not proc.name in (...)`, true for
/// nearly every event) ahead of the selective test that rejects, so they ran on every event.
fn order_and(items: &mut [Node]) {
    // Ranks are non-negative, so their bit patterns order like the values.
    items.sort_by_cached_key(|n| (n.cost() as f32 / (1.0 - n.likelihood()).max(0.01)).to_bits());
}

/// Orders the operands of an `or`: by cost divided by the chance of accepting.
fn order_or(items: &mut [Node]) {
    items.sort_by_cached_key(|n| (n.cost() as f32 / n.likelihood().max(0.01)).to_bits());
}

/// Merges `evt.type` tests under one `or` into one set test.
fn merge_type_tests(items: &mut Vec<Node>) {
    let mut merged: Option<TypeSet> = None;
    items.retain(|n| {
        if let Node::TypeIn(s) = n {
            merged.get_or_insert_with(TypeSet::default).union(s);
            false
        } else {
            true
        }
    });
    if let Some(s) = merged {
        items.insert(0, Node::TypeIn(s));
    }
}

fn cmp_ord(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        Op::Eq => o == Equal,
        Op::Ne => o != Equal,
        Op::Lt => o == Less,
        Op::Le => o != Greater,
        Op::Gt => o == Greater,
        Op::Ge => o != Less,
        _ => false,
    }
}

fn icontains(hay: &str, needle_lower: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle_lower.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

fn str_test(op: Op, s: &str, finder: Option<&memmem::Finder<'static>>, v: &str) -> bool {
    match op {
        Op::Contains => finder.map_or_else(|| v.contains(s), |f| f.find(v.as_bytes()).is_some()),
        Op::IContains => icontains(v, s),
        Op::StartsWith => v.starts_with(s),
        Op::EndsWith => v.ends_with(s),
        // Equality first compares lengths, which rejects most values without a memcmp.
        Op::Eq => v == s,
        Op::Ne => v != s,
        _ => cmp_ord(op, v.cmp(s)),
    }
}

fn pmatch(prefixes: &[Box<str>], v: &str) -> bool {
    prefixes.iter().any(|p| {
        p.is_empty() && v.starts_with('/')
            || v.strip_prefix(&**p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

impl Test {
    #[inline(never)]
    fn eval(&self, v: &Val<'_>) -> bool {
        match self {
            Test::Str { op, s, finder } => match v {
                Val::Str(t) => str_test(*op, s, finder.as_ref(), t),
                Val::Arg(a) => match a.as_str() {
                    Some(t) => str_test(*op, s, finder.as_ref(), t),
                    None => {
                        let mut t = String::new();
                        a.render(&mut t);
                        str_test(*op, s, finder.as_ref(), &t)
                    }
                },
                other => {
                    let mut t = String::new();
                    other.render(&mut t);
                    str_test(*op, s, finder.as_ref(), &t)
                }
            },
            Test::StrSet(set) => match v {
                Val::Str(t) => set.contains(t),
                other => {
                    let mut t = String::new();
                    other.render(&mut t);
                    set.contains(t.as_str())
                }
            },
            Test::PMatch(p) => match v {
                Val::Str(t) => pmatch(p, t),
                Val::Arg(a) => a.as_str().is_some_and(|t| pmatch(p, t)),
                _ => false,
            },
            Test::Glob { pat, icase } => {
                let mut owned = String::new();
                let t: &str = match v {
                    Val::Str(t) => t,
                    other => {
                        other.render(&mut owned);
                        &owned
                    }
                };
                if *icase {
                    glob_match(pat.as_bytes(), t.to_ascii_lowercase().as_bytes())
                } else {
                    glob_match(pat.as_bytes(), t.as_bytes())
                }
            }
            Test::Bytes { op, b } => {
                let hay: &[u8] = match v {
                    Val::Str(t) => t.as_bytes(),
                    Val::Arg(ferret_event::Value::Bytes(bytes)) => bytes,
                    Val::Arg(a) => a.as_str().map_or(&[][..], str::as_bytes),
                    _ => return false,
                };
                if *op == Op::BStartsWith {
                    hay.starts_with(b)
                } else {
                    memmem::find(hay, b).is_some()
                }
            }
            Test::Num { op, n } => match v {
                Val::Int(i) => cmp_ord(*op, i.cmp(n)),
                Val::Arg(a) => a.as_i64().is_some_and(|i| cmp_ord(*op, i.cmp(n))),
                Val::Bool(b) => cmp_ord(*op, i64::from(*b).cmp(n)),
                _ => false,
            },
            Test::NumSet(set) => match v {
                Val::Int(i) => set.contains(i),
                Val::Arg(a) => a.as_i64().is_some_and(|i| set.contains(&i)),
                _ => false,
            },
            Test::Bool { want } => matches!(v, Val::Bool(b) if b == want),
            Test::Ip { nets, negate } => match v {
                Val::Ip(ip) => nets.iter().any(|n| n.contains(*ip)) != *negate,
                _ => false,
            },
            Test::Dyn { op, s, n, finder } => match v {
                Val::Arg(a) => {
                    if let (Some(n), Some(i), false) = (
                        n,
                        a.as_i64(),
                        matches!(
                            op,
                            Op::Contains | Op::IContains | Op::StartsWith | Op::EndsWith
                        ),
                    ) {
                        // Flags and enums match either their number or their symbolic text.
                        if cmp_ord(*op, i.cmp(n)) {
                            return true;
                        }
                        if !matches!(
                            a,
                            ferret_event::Value::Flags { .. } | ferret_event::Value::Errno(_)
                        ) {
                            return false;
                        }
                    }
                    match a.as_str() {
                        Some(t) => str_test(*op, s, finder.as_ref(), t),
                        None => {
                            let mut t = String::new();
                            a.render(&mut t);
                            str_test(*op, s, finder.as_ref(), &t)
                        }
                    }
                }
                Val::Int(i) => match n {
                    Some(n) => cmp_ord(*op, i.cmp(n)),
                    None => str_test(*op, s, finder.as_ref(), &i.to_string()),
                },
                Val::Str(t) => str_test(*op, s, finder.as_ref(), t),
                _ => false,
            },
            Test::DynSet { strs, nums } => match v {
                Val::Arg(a) => {
                    a.as_i64().is_some_and(|i| nums.contains(&i))
                        || match a.as_str() {
                            Some(t) => strs.contains(t),
                            None => {
                                let mut t = String::new();
                                a.render(&mut t);
                                strs.contains(t.as_str())
                            }
                        }
                }
                Val::Int(i) => nums.contains(i),
                Val::Str(t) => strs.contains(&**t),
                _ => false,
            },
        }
    }
}

/// The evaluation context: an event, its state view and its interned type id.
#[derive(Debug, Clone, Copy)]
pub struct EvalCtx<'a> {
    /// Event and view.
    pub ctx: Ctx<'a>,
    /// `TypeTable` id of the event's type, if any filter mentions it.
    pub type_id: Option<u16>,
    /// Per-event cache of macro results shared by all rules (`None`: no caching).
    pub memo: Option<&'a Memo>,
}

/// Per-event cache of macro results: a macro used by many rules (`open_write`,
/// `spawned_process`) is evaluated once per event. Call [`Memo::next_event`] before each
/// event.
#[derive(Debug)]
pub struct Memo {
    generation: Cell<u32>,
    slots: Box<[Cell<u32>]>,
}

impl Memo {
    /// A cache with `slots` entries ([`Compiler::memo_slots`]).
    pub fn new(slots: usize) -> Memo {
        Memo {
            generation: Cell::new(1),
            slots: (0..slots).map(|_| Cell::new(0)).collect(),
        }
    }
    /// Invalidates every entry.
    pub fn next_event(&self) {
        let g = self.generation.get() + 1;
        if g >= u32::MAX >> 1 {
            self.slots.iter().for_each(|c| c.set(0));
            self.generation.set(1);
        } else {
            self.generation.set(g);
        }
    }
}

impl Node {
    /// Evaluates the tree on one event.
    pub fn eval(&self, c: &EvalCtx<'_>) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::And(items) => items.iter().all(|n| n.eval(c)),
            Node::Or(items) => items.iter().any(|n| n.eval(c)),
            Node::Not(n) => !n.eval(c),
            Node::TypeIn(set) => c.type_id.is_some_and(|id| set.contains(id)),
            Node::Exists(f) => eval_exists(f, c),
            Node::Memo(slot, n) => {
                let Some(m) = c.memo else { return n.eval(c) };
                let Some(cell) = m.slots.get(*slot as usize) else {
                    return n.eval(c);
                };
                let g = m.generation.get();
                let v = cell.get();
                if v >> 1 == g {
                    return v & 1 == 1;
                }
                let r = n.eval(c);
                cell.set(g << 1 | u32::from(r));
                r
            }
            Node::FieldCmp(b) => eval_field_cmp(b, c),
            Node::Test(b) => eval_test(b, c),
        }
    }

    /// Rough evaluation cost, used to order `and`/`or` operands cheapest first.
    pub fn cost(&self) -> u32 {
        match self {
            Node::Const(_) => 0,
            Node::TypeIn(_) => 1,
            Node::Exists(f) => field_cost(f),
            Node::Not(n) => n.cost(),
            // Counted at full cost: ordering by it lets cheap tests reject first.
            Node::Memo(_, n) => n.cost(),
            Node::And(items) | Node::Or(items) => {
                items.iter().map(Node::cost).fold(0u32, u32::saturating_add)
            }
            Node::FieldCmp(b) => field_cost(&b.0) + field_cost(&b.2) + 4,
            Node::Test(b) => {
                let t = match &b.1.0 {
                    Test::Bool { .. } | Test::Num { .. } | Test::NumSet(_) | Test::Ip { .. } => 1,
                    Test::Str { .. } | Test::StrSet(_) | Test::Bytes { .. } => 2,
                    Test::Dyn { .. } | Test::DynSet { .. } => 3,
                    Test::Glob { .. } => 4,
                    Test::PMatch(p) => 2 + u32::try_from(p.len() / 4).unwrap_or(u32::MAX),
                };
                field_cost(&b.0).saturating_add(t)
            }
        }
    }

    /// Rough prior chance that the tree is true on an event of a type it is tested on,
    /// used with [`Node::cost`] to order `and`/`or` operands. Equality, membership and
    /// prefix tests name a few values out of many and are seldom true; their negations
    /// (rule exceptions, exclusion lists) are nearly always true.
    pub fn likelihood(&self) -> f32 {
        match self {
            Node::Const(b) => f32::from(u8::from(*b)),
            Node::TypeIn(_) => 0.2,
            Node::Exists(_) => 0.8,
            Node::Not(n) => 1.0 - n.likelihood(),
            Node::Memo(_, n) => n.likelihood(),
            Node::And(items) => items.iter().map(Node::likelihood).product(),
            Node::Or(items) => 1.0 - items.iter().map(|n| 1.0 - n.likelihood()).product::<f32>(),
            Node::FieldCmp(b) => op_likelihood(b.1),
            Node::Test(b) => match &b.1.0 {
                Test::Str { op, .. } | Test::Dyn { op, .. } | Test::Num { op, .. } => {
                    op_likelihood(*op)
                }
                Test::StrSet(_)
                | Test::PMatch(_)
                | Test::Glob { .. }
                | Test::Bytes { .. }
                | Test::NumSet(_)
                | Test::DynSet { .. } => 0.1,
                Test::Bool { .. } => 0.5,
                Test::Ip { negate, .. } => {
                    if *negate {
                        0.9
                    } else {
                        0.2
                    }
                }
            },
        }
    }

    /// This tree as it evaluates on events of type `ty` (`None`: a type no filter names):
    /// every `evt.type` test becomes a constant and the constants are folded away. Rule
    /// engines keep one specialised tree per indexed type, so the type tests that macros
    /// such as `open_write` repeat inside conditions cost nothing per event. Memo slots
    /// keep their numbers: all trees evaluated on one event share its type, so a slot
    /// still holds one macro's value for that event.
    pub fn specialize(&self, ty: Option<u16>) -> Node {
        match self {
            Node::TypeIn(set) => Node::Const(ty.is_some_and(|id| set.contains(id))),
            Node::Not(n) => match n.specialize(ty) {
                Node::Const(b) => Node::Const(!b),
                Node::Not(inner) => *inner,
                other => Node::Not(Box::new(other)),
            },
            Node::And(items) => {
                let mut out = Vec::with_capacity(items.len());
                for n in items.iter() {
                    match n.specialize(ty) {
                        Node::Const(true) => {}
                        Node::Const(false) => return Node::Const(false),
                        Node::And(inner) => out.extend(inner.into_vec()),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Node::Const(true),
                    1 => out.pop().unwrap_or(Node::Const(true)),
                    _ => Node::And(out.into_boxed_slice()),
                }
            }
            Node::Or(items) => {
                let mut out = Vec::with_capacity(items.len());
                for n in items.iter() {
                    match n.specialize(ty) {
                        Node::Const(false) => {}
                        Node::Const(true) => return Node::Const(true),
                        Node::Or(inner) => out.extend(inner.into_vec()),
                        other => out.push(other),
                    }
                }
                match out.len() {
                    0 => Node::Const(false),
                    1 => out.pop().unwrap_or(Node::Const(false)),
                    _ => Node::Or(out.into_boxed_slice()),
                }
            }
            Node::Memo(slot, n) => match n.specialize(ty) {
                c @ Node::Const(_) => c,
                other => Node::Memo(*slot, Box::new(other)),
            },
            Node::Const(_) | Node::Exists(_) | Node::Test(_) | Node::FieldCmp(_) => self.clone(),
        }
    }

    /// The event types this tree can match.
    pub fn possible_types(&self) -> Types {
        match self {
            Node::Const(false) => Types::Only(TypeSet::default()),
            Node::TypeIn(s) => Types::Only(s.clone()),
            Node::Memo(_, n) => n.possible_types(),
            Node::And(items) => {
                let mut acc: Option<TypeSet> = None;
                for n in items.iter() {
                    if let Types::Only(s) = n.possible_types() {
                        match &mut acc {
                            Some(a) => a.intersect(&s),
                            None => acc = Some(s),
                        }
                    }
                }
                acc.map_or(Types::Any, Types::Only)
            }
            Node::Or(items) => {
                let mut acc = TypeSet::default();
                for n in items.iter() {
                    match n.possible_types() {
                        Types::Any => return Types::Any,
                        Types::Only(s) => acc.union(&s),
                    }
                }
                Types::Only(acc)
            }
            _ => Types::Any,
        }
    }

    /// Fields the tree reads (for diagnostics).
    pub fn fields(&self, out: &mut Vec<String>) {
        match self {
            Node::And(i) | Node::Or(i) => i.iter().for_each(|n| n.fields(out)),
            Node::Not(n) | Node::Memo(_, n) => n.fields(out),
            Node::TypeIn(_) => out.push("evt.type".into()),
            Node::Exists(f) => out.push(f.display()),
            Node::Test(b) => out.push(b.0.display()),
            Node::FieldCmp(b) => {
                out.push(b.0.display());
                out.push(b.2.display());
            }
            Node::Const(_) => {}
        }
    }
}

/// Prior chance that a comparison with operator `op` holds.
fn op_likelihood(op: Op) -> f32 {
    match op {
        Op::Ne => 0.9,
        Op::Lt | Op::Le | Op::Gt | Op::Ge => 0.5,
        _ => 0.1,
    }
}

fn field_cost(f: &FieldRef) -> u32 {
    use fields::Field as F;
    if f.is_multi() {
        return 12;
    }
    match f.info.id {
        F::EvtArgs
        | F::ProcEnv
        | F::EvtTime
        | F::EvtTimeIso
        | F::FsPathName
        | F::FsPathSource
        | F::FsPathTarget => 10,
        F::ProcPname
        | F::ProcPcmdline
        | F::ProcPexe
        | F::ProcPexePath
        | F::ProcAname
        | F::ProcApid
        | F::ProcAexe
        | F::ProcAexePath
        | F::ProcAcmdline
        | F::ProcSname
        | F::ProcVpgidName
        | F::ProcVpgidExe
        | F::UserName
        | F::GroupName
        | F::UserLoginName => 4,
        F::EvtArg | F::EvtRawArg | F::EvtIsOpenRead | F::EvtIsOpenWrite | F::EvtIsOpenExec => 3,
        _ => 2,
    }
}

// Leaves live out of line so that the recursive `Node::eval` keeps a small stack frame.
#[inline(never)]
fn eval_test(b: &(FieldRef, TestBox), c: &EvalCtx<'_>) -> bool {
    let (field, TestBox(test)) = b;
    if field.is_multi() {
        fields::for_each_value(field, &c.ctx, &mut |v| test.eval(&v))
    } else {
        fields::extract(field, &c.ctx).is_some_and(|v| test_str_fast(test, &v))
    }
}

/// The comparisons most rule tests make (text equality, prefix, suffix, set membership
/// on a text field), without a call into [`Test::eval`], whose fallbacks for other value
/// kinds make its entry and exit costlier than these tests themselves. Same results.
#[inline]
fn test_str_fast(test: &Test, v: &Val<'_>) -> bool {
    let Val::Str(t) = v else {
        return test.eval(v);
    };
    match test {
        Test::Str { op, s, .. } => match op {
            Op::Eq => **t == **s,
            Op::Ne => **t != **s,
            Op::StartsWith => t.starts_with(&**s),
            Op::EndsWith => t.ends_with(&**s),
            _ => test.eval(v),
        },
        Test::StrSet(set) => set.contains(t),
        _ => test.eval(v),
    }
}

#[inline(never)]
fn eval_exists(f: &FieldRef, c: &EvalCtx<'_>) -> bool {
    fields::for_each_value(f, &c.ctx, &mut |_| true)
}

#[inline(never)]
fn eval_field_cmp(b: &(FieldRef, Op, FieldRef), c: &EvalCtx<'_>) -> bool {
    let (l, op, r) = b;
    let (Some(a), Some(b)) = (fields::extract(l, &c.ctx), fields::extract(r, &c.ctx)) else {
        return false;
    };
    if let (Val::Int(x), Val::Int(y)) = (&a, &b) {
        return cmp_ord(*op, x.cmp(y));
    }
    let (mut x, mut y) = (String::new(), String::new());
    a.render(&mut x);
    b.render(&mut y);
    str_test(*op, &y, None, &x)
}

/// Whether a field argument is a name (used by output formatting).
pub fn is_named_arg(f: &FieldRef) -> bool {
    matches!(f.arg, FieldArg::Name(_))
}

/// Makes memo nodes with identical trees share one slot, within a set of trees evaluated
/// on the same events (the conditions specialised for one event type). Falco's files
/// define macros such as `open_write` more than once under different names, and after
/// type specialisation more become identical; sharing a slot evaluates them once per
/// event instead of once per name.
#[derive(Debug, Default)]
pub struct MemoSharing {
    by_tree: FxHashMap<String, u32>,
    by_slot: FxHashMap<u32, u32>,
}

impl MemoSharing {
    /// Renumbers the memo slots of `node` to the first slot seen with the same tree.
    pub fn share(&mut self, node: &mut Node) {
        match node {
            Node::Memo(slot, inner) => {
                // Within one type a slot always holds the same specialised tree.
                if let Some(c) = self.by_slot.get(slot) {
                    *slot = *c;
                    return;
                }
                self.share(inner);
                // The debug text spells out every field, operator and value of the tree.
                let key = format!("{inner:?}");
                let canon = *self.by_tree.entry(key).or_insert(*slot);
                self.by_slot.insert(*slot, canon);
                *slot = canon;
            }
            Node::And(items) | Node::Or(items) => items.iter_mut().for_each(|n| self.share(n)),
            Node::Not(inner) => self.share(inner),
            Node::Const(_)
            | Node::TypeIn(_)
            | Node::Exists(_)
            | Node::Test(_)
            | Node::FieldCmp(_) => {}
        }
    }
}

/// Where a [`Program`] step continues: another step, or a final answer.
const ACCEPT: u32 = u32::MAX;
const REJECT: u32 = u32::MAX - 1;

/// One test of a [`Program`].
#[derive(Debug, Clone)]
enum Leaf {
    Const(bool),
    TypeIn(TypeSet),
    Exists(FieldRef),
    Test(Box<(FieldRef, TestBox)>),
    FieldCmp(Box<(FieldRef, Op, FieldRef)>),
    /// A cached macro: its own program, run at most once per event.
    Memo(u32, Box<Program>),
}

/// A test and where to go on each outcome.
#[derive(Debug, Clone)]
struct Step {
    leaf: Leaf,
    on_true: u32,
    on_false: u32,
}

/// A [`Node`] tree flattened into a straight list of tests with short-circuit jumps:
/// `and`, `or` and `not` cost nothing at run time (each becomes the jump targets of its
/// leaves), so an event walks a flat array instead of recursing through the tree. Same
/// results as [`Node::eval`].
#[derive(Debug, Clone)]
pub struct Program {
    steps: Box<[Step]>,
}

/// Number of leaves (= steps) of a tree.
fn leaf_count(n: &Node) -> usize {
    match n {
        Node::And(items) | Node::Or(items) => items.iter().map(leaf_count).sum(),
        Node::Not(inner) => leaf_count(inner),
        _ => 1,
    }
}

/// Jump target of step index `i`.
fn target(i: usize) -> u32 {
    // Programs are far smaller than 4 billion steps; saturate rather than wrap.
    u32::try_from(i).unwrap_or(REJECT)
}

/// Appends the steps of `n` (whose first step lands at `out.len()`), jumping to
/// `on_true`/`on_false` with the tree's result.
fn emit(n: &Node, on_true: u32, on_false: u32, out: &mut Vec<Step>) {
    let leaf = match n {
        Node::And(items) | Node::Or(items) => {
            let is_and = matches!(n, Node::And(_));
            let last = items.len().saturating_sub(1);
            for (k, item) in items.iter().enumerate() {
                if k == last {
                    emit(item, on_true, on_false, out);
                } else {
                    let next = target(out.len() + leaf_count(item));
                    if is_and {
                        emit(item, next, on_false, out);
                    } else {
                        emit(item, on_true, next, out);
                    }
                }
            }
            return;
        }
        Node::Not(inner) => return emit(inner, on_false, on_true, out),
        Node::Const(b) => Leaf::Const(*b),
        Node::TypeIn(s) => Leaf::TypeIn(s.clone()),
        Node::Exists(f) => Leaf::Exists(f.clone()),
        Node::Test(b) => Leaf::Test(b.clone()),
        Node::FieldCmp(b) => Leaf::FieldCmp(b.clone()),
        Node::Memo(slot, inner) => Leaf::Memo(*slot, Box::new(Program::new(inner))),
    };
    out.push(Step {
        leaf,
        on_true,
        on_false,
    });
}

impl Program {
    /// Flattens `node`.
    pub fn new(node: &Node) -> Program {
        let mut out = Vec::with_capacity(leaf_count(node));
        emit(node, ACCEPT, REJECT, &mut out);
        Program {
            steps: out.into_boxed_slice(),
        }
    }

    /// Evaluates the program on one event.
    pub fn eval(&self, c: &EvalCtx<'_>) -> bool {
        let mut pc = 0usize;
        loop {
            let Some(step) = self.steps.get(pc) else {
                return false;
            };
            let r = match &step.leaf {
                Leaf::Test(b) => eval_test(b, c),
                Leaf::Const(b) => *b,
                Leaf::TypeIn(set) => c.type_id.is_some_and(|id| set.contains(id)),
                Leaf::Exists(f) => eval_exists(f, c),
                Leaf::FieldCmp(b) => eval_field_cmp(b, c),
                Leaf::Memo(slot, p) => eval_memo(*slot, p, c),
            };
            match if r { step.on_true } else { step.on_false } {
                ACCEPT => return true,
                REJECT => return false,
                next => pc = next as usize,
            }
        }
    }
}

#[inline(never)]
fn eval_memo(slot: u32, p: &Program, c: &EvalCtx<'_>) -> bool {
    let Some(cell) = c.memo.and_then(|m| m.slots.get(slot as usize)) else {
        return p.eval(c);
    };
    let g = c.memo.map_or(0, |m| m.generation.get());
    let v = cell.get();
    if v >> 1 == g {
        return v & 1 == 1;
    }
    let r = p.eval(c);
    cell.set(g << 1 | u32::from(r));
    r
}
