//! Parser for the filter language: `evt.type = open and not proc.name in (sh, bash)`.
//!
//! Grammar (lowest precedence first):
//! ```text
//! expr    := and ("or" and)*
//! and     := not ("and" not)*
//! not     := "not" not | primary
//! primary := "(" expr ")" | check
//! check   := FIELD OP value | FIELD "exists" | MACRO
//! value   := QUOTED | BARE | "(" [item ("," item)*] ")"
//! ```

use std::fmt;

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `contains`.
    Contains,
    /// `icontains` (ASCII case-insensitive).
    IContains,
    /// `bcontains` (hex bytes).
    BContains,
    /// `startswith`.
    StartsWith,
    /// `bstartswith` (hex bytes).
    BStartsWith,
    /// `endswith`.
    EndsWith,
    /// `glob` (`*`, `?`, `[...]`).
    Glob,
    /// `iglob` (case-insensitive glob).
    IGlob,
    /// `pmatch` (path is, or is below, one of the listed paths).
    PMatch,
    /// `in` (value is one of the list).
    In,
    /// `intersects` (some value is in the list).
    Intersects,
    /// `exists` (unary).
    Exists,
}

impl Op {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "contains",
            Op::IContains => "icontains",
            Op::BContains => "bcontains",
            Op::StartsWith => "startswith",
            Op::BStartsWith => "bstartswith",
            Op::EndsWith => "endswith",
            Op::Glob => "glob",
            Op::IGlob => "iglob",
            Op::PMatch => "pmatch",
            Op::In => "in",
            Op::Intersects => "intersects",
            Op::Exists => "exists",
        }
    }
    /// Whether the operand is a list.
    pub fn takes_list(self) -> bool {
        matches!(self, Op::In | Op::Intersects | Op::PMatch)
    }
}

const WORD_OPS: [(&str, Op); 12] = [
    ("contains", Op::Contains),
    ("icontains", Op::IContains),
    ("bcontains", Op::BContains),
    ("startswith", Op::StartsWith),
    ("bstartswith", Op::BStartsWith),
    ("endswith", Op::EndsWith),
    ("glob", Op::Glob),
    ("iglob", Op::IGlob),
    ("pmatch", Op::PMatch),
    ("in", Op::In),
    ("intersects", Op::Intersects),
    ("exists", Op::Exists),
];

/// A literal operand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lit {
    /// Text with quotes and escapes removed.
    pub text: String,
    /// Whether it was quoted (quoted list items are never list references).
    pub quoted: bool,
    /// Byte offset in the source.
    pub pos: usize,
}

/// Right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// One value.
    Single(Lit),
    /// A parenthesised list.
    List(Vec<Lit>),
    /// Another field's value: `val(proc.exepath)`.
    Field(Lit),
}

/// Parsed filter expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// All must hold.
    And(Vec<Expr>),
    /// Any must hold.
    Or(Vec<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// `field op value` or `field exists`.
    Check {
        /// Field name as written (`proc.aname[2]`).
        field: String,
        /// Byte offset of the field.
        pos: usize,
        /// Operator.
        op: Op,
        /// Operand (`None` for `exists`).
        value: Option<Operand>,
    },
    /// A macro reference.
    Macro {
        /// Macro name.
        name: String,
        /// Byte offset.
        pos: usize,
    },
}

/// A parse error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset in the source.
    pub pos: usize,
    /// 1-based line within the source.
    pub line: usize,
    /// 1-based column (characters) within that line.
    pub col: usize,
    /// What was expected or found.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 1 {
            write!(
                f,
                "line {} column {}: {}",
                self.line, self.col, self.message
            )
        } else {
            write!(f, "column {}: {}", self.col, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Line and column (1-based, in characters) of byte offset `pos` in `src`.
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let mut pos = pos.min(src.len());
    while !src.is_char_boundary(pos) {
        pos -= 1;
    }
    let before = &src[..pos];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// Maximum nesting of parentheses and `not`, so hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-' || c == b'/'
}

fn is_bare(c: u8) -> bool {
    !(c.is_ascii_whitespace() || matches!(c, b'(' | b')' | b',' | b'\'' | b'"'))
}

/// Parses a filter expression.
pub fn parse(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser {
        src,
        b: src.as_bytes(),
        i: 0,
        depth: 0,
    };
    p.ws();
    if p.i >= p.b.len() {
        return Err(p.err(p.i, "empty filter: expected a condition"));
    }
    let e = p.or()?;
    p.ws();
    if p.i < p.b.len() {
        let what = p.describe();
        return Err(p.err(
            p.i,
            &format!("expected 'and', 'or' or the end of the filter, found {what}"),
        ));
    }
    Ok(e)
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: &str) -> ParseError {
        let (line, col) = line_col(self.src, pos);
        ParseError {
            pos,
            line,
            col,
            message: msg.to_owned(),
        }
    }

    fn describe(&self) -> String {
        match self.src.get(self.i..) {
            None | Some("") => "the end of the filter".into(),
            Some(rest) => {
                let tok: String = rest
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .take(20)
                    .collect();
                if tok.is_empty() {
                    format!("{:?}", rest.chars().next().unwrap_or(' '))
                } else {
                    format!("'{tok}'")
                }
            }
        }
    }

    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Matches keyword `kw` at the cursor if it is a whole word.
    fn keyword(&mut self, kw: &str) -> bool {
        let end = self.i + kw.len();
        if self
            .b
            .get(self.i..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
            && !self.b.get(end).is_some_and(|c| is_ident(*c) || *c == b'[')
        {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.and()?];
        loop {
            self.ws();
            if self.keyword("or") {
                items.push(self.and()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut items = vec![self.not()?];
        loop {
            self.ws();
            if self.keyword("and") {
                items.push(self.not()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Expr::And(Vec::new()))
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        if self.keyword("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.err(self.i, "filter nested too deeply"));
            }
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.ws();
        match self.peek() {
            None => Err(self.err(self.i, "expected a condition, found the end of the filter")),
            Some(b'(') => {
                let open = self.i;
                self.i += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(self.err(self.i, "filter nested too deeply"));
                }
                self.ws();
                if self.peek() == Some(b')') {
                    return Err(self.err(self.i, "expected a condition inside '()'"));
                }
                let e = self.or()?;
                self.depth -= 1;
                self.ws();
                if self.peek() == Some(b')') {
                    self.i += 1;
                    Ok(e)
                } else {
                    let what = self.describe();
                    Err(self.err(
                        self.i,
                        &format!(
                            "expected ')' to close the '(' at column {}, found {what}",
                            line_col(self.src, open).1
                        ),
                    ))
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.check(),
            Some(_) => {
                let what = self.describe();
                Err(self.err(
                    self.i,
                    &format!("expected a field name, a macro name, 'not' or '(', found {what}"),
                ))
            }
        }
    }

    fn check(&mut self) -> Result<Expr, ParseError> {
        let start = self.i;
        for kw in ["and", "or"] {
            if self.keyword(kw) {
                self.i = start;
                return Err(self.err(
                    start,
                    &format!("expected a field name, a macro name, 'not' or '(', found '{kw}'"),
                ));
            }
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-')
        {
            self.i += 1;
        }
        if self.peek() == Some(b'[') {
            match self.b[self.i..].iter().position(|c| *c == b']') {
                Some(close) => self.i += close + 1,
                None => return Err(self.err(self.i, "expected ']' to close the field argument")),
            }
        }
        let name = &self.src[start..self.i];
        self.ws();
        let op_pos = self.i;
        let op = self.op();
        let Some(op) = op else {
            if name.contains('.') || name.contains('[') {
                let what = self.describe();
                return Err(self.err(
                    op_pos,
                    &format!("expected an operator after field '{name}', found {what}"),
                ));
            }
            return Ok(Expr::Macro {
                name: name.to_owned(),
                pos: start,
            });
        };
        if op == Op::Exists {
            return Ok(Expr::Check {
                field: name.to_owned(),
                pos: start,
                op,
                value: None,
            });
        }
        self.ws();
        let value = if op.takes_list() {
            if self.peek() != Some(b'(') {
                let what = self.describe();
                return Err(self.err(
                    self.i,
                    &format!(
                        "expected '(' to start the list after '{}', found {what}",
                        op.as_str()
                    ),
                ));
            }
            Operand::List(self.list()?)
        } else if self.peek() == Some(b'(') {
            return Err(self.err(
                self.i,
                &format!(
                    "expected a single value after '{}', found a list",
                    op.as_str()
                ),
            ));
        } else if self.b[self.i..].starts_with(b"val(") {
            let start = self.i;
            self.i += 4;
            let fstart = self.i;
            while self.peek().is_some_and(|c| {
                c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']')
            }) {
                self.i += 1;
            }
            if self.peek() != Some(b')') || self.i == fstart {
                return Err(self.err(self.i, "expected a field name and ')' in val(...)"));
            }
            let name = self.src[fstart..self.i].to_owned();
            self.i += 1;
            Operand::Field(Lit {
                text: name,
                quoted: false,
                pos: start,
            })
        } else {
            Operand::Single(self.value(op)?)
        };
        Ok(Expr::Check {
            field: name.to_owned(),
            pos: start,
            op,
            value: Some(value),
        })
    }

    fn op(&mut self) -> Option<Op> {
        let two = self.b.get(self.i..self.i + 2);
        let sym = match two {
            Some(b"==") => Some((Op::Eq, 2)),
            Some(b"!=") => Some((Op::Ne, 2)),
            Some(b"<=") => Some((Op::Le, 2)),
            Some(b">=") => Some((Op::Ge, 2)),
            _ => match self.peek() {
                Some(b'=') => Some((Op::Eq, 1)),
                Some(b'<') => Some((Op::Lt, 1)),
                Some(b'>') => Some((Op::Gt, 1)),
                _ => None,
            },
        };
        if let Some((op, n)) = sym {
            self.i += n;
            return Some(op);
        }
        for (w, op) in WORD_OPS {
            let end = self.i + w.len();
            if self.b.get(self.i..end) == Some(w.as_bytes())
                && !self
                    .b
                    .get(end)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
            {
                self.i = end;
                return Some(op);
            }
        }
        None
    }

    fn value(&mut self, op: Op) -> Result<Lit, ParseError> {
        match self.peek() {
            Some(b'\'' | b'"') => self.quoted(),
            Some(c) if is_bare(c) => {
                let start = self.i;
                while self.peek().is_some_and(is_bare) {
                    self.i += 1;
                }
                Ok(Lit {
                    text: self.src[start..self.i].to_owned(),
                    quoted: false,
                    pos: start,
                })
            }
            _ => {
                let what = self.describe();
                Err(self.err(
                    self.i,
                    &format!("expected a value after '{}', found {what}", op.as_str()),
                ))
            }
        }
    }

    fn quoted(&mut self) -> Result<Lit, ParseError> {
        let start = self.i;
        let q = self.b[self.i];
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.err(
                        start,
                        "unterminated quoted string: expected the closing quote",
                    ));
                }
                Some(c) if c == q => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') if matches!(self.b.get(self.i + 1), Some(c) if *c == q || *c == b'\\') =>
                {
                    out.push(self.b[self.i + 1]);
                    self.i += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        // Only ASCII quote/backslash bytes were removed, so the bytes stay valid UTF-8.
        let text = String::from_utf8(out)
            .map_err(|_| self.err(start, "invalid UTF-8 in quoted string"))?;
        Ok(Lit {
            text,
            quoted: true,
            pos: start,
        })
    }

    fn list(&mut self) -> Result<Vec<Lit>, ParseError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b')') {
            self.i += 1;
            return Ok(items);
        }
        loop {
            self.ws();
            match self.peek() {
                Some(b'\'' | b'"') => items.push(self.quoted()?),
                Some(c) if is_bare(c) => {
                    let start = self.i;
                    while self.peek().is_some_and(is_bare) {
                        self.i += 1;
                    }
                    items.push(Lit {
                        text: self.src[start..self.i].to_owned(),
                        quoted: false,
                        pos: start,
                    });
                }
                _ => {
                    let what = self.describe();
                    return Err(self.err(self.i, &format!("expected a list item, found {what}")));
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b')') => {
                    self.i += 1;
                    return Ok(items);
                }
                _ => {
                    let what = self.describe();
                    return Err(self.err(
                        self.i,
                        &format!("expected ',' or ')' in the list, found {what}"),
                    ));
                }
            }
        }
    }
}
