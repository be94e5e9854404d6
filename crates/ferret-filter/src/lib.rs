//! The sysdig/Falco filter language over ferret events.
//!
//! * [`fields`]: the field registry ([`fields::FIELDS`]) and extraction.
//! * [`parse()`]: text to [`Expr`], errors with line and column.
//! * [`Compiler`]: [`Expr`] to an evaluation tree ([`Node`]) with macros and lists expanded.
//! * [`Filter`]: a standalone compiled filter (`ferret rules run --filter`).

pub mod compile;
pub mod fields;
mod glob;
pub mod parse;

pub use compile::{
    BUILTIN_MACROS, CompileError, CompileInfo, Compiler, Definitions, EvalCtx, Memo, MemoSharing,
    Net, NoDefinitions, Node, Program, TypeSet, TypeTable, Types,
};
pub use fields::{
    Ctx, FIELDS, FieldArg, FieldInfo, FieldRef, FieldType, Val, extract, field_info,
    format_iso8601, format_time,
};
pub use glob::glob_match;
pub use parse::{Expr, Lit, Op, Operand, ParseError, line_col, parse};

use ferret_event::{Event, View};

/// Error building a standalone filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based column of the problem.
    pub col: usize,
    /// Message.
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.col, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A compiled standalone filter (built-in macros available, no lists).
#[derive(Debug, Clone)]
pub struct Filter {
    node: Node,
    types: TypeTable,
    info: CompileInfo,
}

impl Filter {
    /// Parses and compiles `text`.
    pub fn new(text: &str) -> Result<Filter, FilterError> {
        let expr = parse(text).map_err(|e| FilterError {
            col: e.col,
            message: e.message,
        })?;
        let defs = NoDefinitions;
        let mut c = Compiler::new(&defs);
        let (node, info) = c.compile(&expr).map_err(|e| {
            let col = if e.origin.is_some() {
                1
            } else {
                line_col(text, e.pos).1
            };
            FilterError {
                col,
                message: e.to_string(),
            }
        })?;
        Ok(Filter {
            node,
            types: c.types,
            info,
        })
    }

    /// Whether the event matches.
    pub fn matches(&self, ev: &Event, view: View<'_>) -> bool {
        let type_id = self.types.get(&ev.ty);
        self.node.eval(&EvalCtx {
            ctx: Ctx { ev, view },
            type_id,
            memo: None,
        })
    }

    /// Absent fields the filter reads (always false comparisons).
    pub fn absent_fields(&self) -> &[String] {
        &self.info.absent_fields
    }

    /// The compiled tree.
    pub fn node(&self) -> &Node {
        &self.node
    }
}
