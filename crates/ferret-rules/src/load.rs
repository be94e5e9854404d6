//! Loading Falco-format rule files: `list`, `macro`, `rule`, `append: true`, `override:`,
//! `required_engine_version`.

use std::fmt;
use std::path::Path;

use yaml_rust2::parser::{Event as YEvent, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;
use yaml_rust2::{Yaml, YamlLoader};

use ferret_filter::{Expr, parse};

use crate::Priority;

/// Where a definition came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// File name as given to the loader.
    pub file: String,
    /// 1-based line of the `- rule:`/`- macro:`/`- list:` item.
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A rule-file error: file, line, item and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// Location of the offending item.
    pub origin: Origin,
    /// `rule 'X'`, `macro 'm'`, `list 'l'`, or empty.
    pub item: String,
    /// The problem.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.item.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.item, self.message)
        }
    }
}

impl std::error::Error for RuleError {}

/// A list definition.
#[derive(Debug, Clone)]
pub struct ListDef {
    /// Items (may name other lists).
    pub items: Vec<String>,
    /// Definition site.
    pub origin: Origin,
}

/// A macro definition.
#[derive(Debug, Clone)]
pub struct MacroDef {
    /// Condition text (appends included).
    pub condition: String,
    /// Parsed condition.
    pub expr: Expr,
    /// Definition site.
    pub origin: Origin,
}

/// One exception of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionDef {
    /// Exception name.
    pub name: String,
    /// Fields compared.
    pub fields: Vec<String>,
    /// Comparison operator per field.
    pub comps: Vec<String>,
    /// Value tuples; each tuple has one entry per field, an entry being one value or a list.
    pub values: Vec<Vec<ExcValue>>,
    /// Whether `fields` was a single string (then `values` items are single values).
    pub single_field: bool,
}

/// One value in an exception tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExcValue {
    /// A scalar.
    One(String),
    /// A list of values (for `in`, `pmatch`, `intersects`).
    Many(Vec<String>),
}

/// A rule definition, before compilation.
#[derive(Debug, Clone)]
pub struct RuleDef {
    /// Name.
    pub name: String,
    /// Description.
    pub desc: String,
    /// Condition text.
    pub condition: String,
    /// Output template.
    pub output: String,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    pub tags: Vec<String>,
    /// Enabled.
    pub enabled: bool,
    /// Exceptions.
    pub exceptions: Vec<ExceptionDef>,
    /// Event source (`syscall` default).
    pub source: String,
    /// Score weight (ferret extension, 0-10); `None`: derived from the priority.
    pub weight: Option<f64>,
    /// Definition site.
    pub origin: Origin,
}

/// Counts of what a load added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// `- rule:` items.
    pub rules: usize,
    /// `- macro:` items.
    pub macros: usize,
    /// `- list:` items.
    pub lists: usize,
}

/// Rule files loaded so far (compile them with [`crate::Engine::compile`]).
#[derive(Debug, Default, Clone)]
pub struct RuleSet {
    pub(crate) lists: Vec<(String, ListDef)>,
    pub(crate) macros: Vec<(String, MacroDef)>,
    pub(crate) rules: Vec<RuleDef>,
    /// Highest `required_engine_version` seen.
    pub required_engine_version: Option<String>,
    /// Non-fatal remarks (unknown keys, unsupported sources).
    pub warnings: Vec<String>,
}

/// Records the line of each top-level sequence item.
struct LineRecorder {
    depth: usize,
    lines: Vec<usize>,
}

impl MarkedEventReceiver for LineRecorder {
    fn on_event(&mut self, ev: YEvent, mark: Marker) {
        match ev {
            YEvent::SequenceStart(..) | YEvent::MappingStart(..) => {
                if self.depth == 1 {
                    self.lines.push(mark.line());
                }
                self.depth += 1;
            }
            YEvent::SequenceEnd | YEvent::MappingEnd => self.depth = self.depth.saturating_sub(1),
            YEvent::Scalar(..) | YEvent::Alias(_) if self.depth == 1 => {
                self.lines.push(mark.line())
            }
            _ => {}
        }
    }
}

fn scalar_text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key<'y>(h: &'y yaml_rust2::yaml::Hash, k: &str) -> Option<&'y Yaml> {
    h.get(&Yaml::String(k.to_owned()))
}

impl RuleSet {
    /// An empty set.
    pub fn new() -> Self {
        RuleSet::default()
    }

    /// Loads a rule file from disk.
    pub fn load_file(&mut self, path: &Path) -> Result<LoadStats, RuleError> {
        let text = std::fs::read_to_string(path).map_err(|e| RuleError {
            origin: Origin {
                file: path.display().to_string(),
                line: 0,
            },
            item: String::new(),
            message: format!("cannot read rule file: {e}"),
        })?;
        self.load_str(&path.display().to_string(), &text)
    }

    /// Loads rule-file text; `file` names it in errors.
    pub fn load_str(&mut self, file: &str, text: &str) -> Result<LoadStats, RuleError> {
        let at = |line: usize| Origin {
            file: file.to_owned(),
            line,
        };
        let fixed = indent_flow_closers(text);
        let text = fixed.as_deref().unwrap_or(text);
        let docs = YamlLoader::load_from_str(text).map_err(|e| RuleError {
            origin: at(e.marker().line()),
            item: String::new(),
            message: format!("invalid YAML: {}", e.info()),
        })?;
        let mut rec = LineRecorder {
            depth: 0,
            lines: Vec::new(),
        };
        // Depth 0 is the document; items of the top-level sequence are at depth 1.
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut rec, true);
        let mut stats = LoadStats::default();
        let mut line_idx = 0usize;
        for doc in &docs {
            let items = match doc {
                Yaml::Array(a) => a,
                Yaml::Null | Yaml::BadValue => continue,
                _ => {
                    return Err(RuleError {
                        origin: at(1),
                        item: String::new(),
                        message:
                            "a rule file must be a YAML sequence of list, macro and rule items"
                                .into(),
                    });
                }
            };
            for item in items {
                let line = rec.lines.get(line_idx).copied().unwrap_or(0);
                line_idx += 1;
                self.load_item(item, at(line), &mut stats)?;
            }
        }
        Ok(stats)
    }

    fn load_item(
        &mut self,
        item: &Yaml,
        origin: Origin,
        stats: &mut LoadStats,
    ) -> Result<(), RuleError> {
        let err = |item: String, message: String| RuleError {
            origin: origin.clone(),
            item,
            message,
        };
        let Yaml::Hash(h) = item else {
            return Err(err(
                String::new(),
                "expected a mapping with a list, macro or rule key".into(),
            ));
        };
        if let Some(v) = key(h, "required_engine_version") {
            let v = scalar_text(v).ok_or_else(|| {
                err(
                    String::new(),
                    "required_engine_version must be a version".into(),
                )
            })?;
            self.required_engine_version = Some(v);
            return Ok(());
        }
        if key(h, "required_plugin_versions").is_some() {
            return Ok(());
        }
        let kind = ["list", "macro", "rule"]
            .into_iter()
            .find(|k| key(h, k).is_some());
        let Some(kind) = kind else {
            let keys: Vec<String> = h.keys().filter_map(scalar_text).collect();
            return Err(err(
                String::new(),
                format!(
                    "unknown item with keys [{}]; expected list, macro, rule or required_engine_version",
                    keys.join(", ")
                ),
            ));
        };
        let name = key(h, kind)
            .and_then(scalar_text)
            .ok_or_else(|| err(String::new(), format!("{kind} name must be a string")))?;
        let what = format!("{kind} '{name}'");
        let append = match key(h, "append") {
            None => false,
            Some(Yaml::Boolean(b)) => *b,
            Some(_) => return Err(err(what, "append must be true or false".into())),
        };
        let overrides = match key(h, "override") {
            None => Vec::new(),
            Some(Yaml::Hash(o)) => {
                let mut v = Vec::new();
                for (k, mode) in o {
                    let (Some(k), Some(mode)) = (scalar_text(k), scalar_text(mode)) else {
                        return Err(err(
                            what,
                            "override entries must be KEY: append|replace".into(),
                        ));
                    };
                    if mode != "append" && mode != "replace" {
                        return Err(err(
                            what,
                            format!("override of '{k}' must be append or replace, not '{mode}'"),
                        ));
                    }
                    if key(h, &k).is_none() {
                        return Err(err(
                            what,
                            format!("override names '{k}' but the item has no '{k}' key"),
                        ));
                    }
                    v.push((k, mode == "append"));
                }
                v
            }
            Some(_) => return Err(err(what, "override must be a mapping".into())),
        };
        if append && !overrides.is_empty() {
            return Err(err(
                what,
                "append and override cannot be used together".into(),
            ));
        }
        let mode = |k: &str| -> Option<bool> {
            if append {
                return Some(true);
            }
            overrides.iter().find(|(ok, _)| ok == k).map(|(_, a)| *a)
        };
        let amending = append || !overrides.is_empty();
        match kind {
            "list" => {
                stats.lists += 1;
                let items = string_list(key(h, "items"))
                    .map_err(|m| err(what.clone(), format!("items: {m}")))?;
                match self.lists.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, l)) if amending => {
                        if mode("items") == Some(true) {
                            l.items.extend(items);
                        } else {
                            l.items = items;
                        }
                    }
                    Some((_, l)) => {
                        *l = ListDef {
                            items,
                            origin: origin.clone(),
                        }
                    }
                    None if amending => {
                        return Err(err(
                            what,
                            "append/override of a list that is not defined".into(),
                        ));
                    }
                    None => self.lists.push((
                        name,
                        ListDef {
                            items,
                            origin: origin.clone(),
                        },
                    )),
                }
            }
            "macro" => {
                stats.macros += 1;
                let cond = key(h, "condition")
                    .and_then(scalar_text)
                    .ok_or_else(|| err(what.clone(), "missing condition".into()))?;
                let existing = self.macros.iter().position(|(n, _)| *n == name);
                let text = match (existing, amending) {
                    (Some(i), true) if mode("condition") == Some(true) => {
                        format!("{} {}", self.macros[i].1.condition, cond)
                    }
                    (None, true) => {
                        return Err(err(
                            what,
                            "append/override of a macro that is not defined".into(),
                        ));
                    }
                    _ => cond,
                };
                let expr = parse(&text).map_err(|e| err(what.clone(), format!("condition {e}")))?;
                let def = MacroDef {
                    condition: text,
                    expr,
                    origin: origin.clone(),
                };
                match existing {
                    Some(i) => {
                        let keep = if amending {
                            self.macros[i].1.origin.clone()
                        } else {
                            origin.clone()
                        };
                        self.macros[i].1 = MacroDef {
                            origin: keep,
                            ..def
                        };
                    }
                    None => self.macros.push((name, def)),
                }
            }
            _ => {
                stats.rules += 1;
                self.load_rule(h, name, origin, amending, &mode)?;
            }
        }
        Ok(())
    }

    fn load_rule(
        &mut self,
        h: &yaml_rust2::yaml::Hash,
        name: String,
        origin: Origin,
        amending: bool,
        mode: &dyn Fn(&str) -> Option<bool>,
    ) -> Result<(), RuleError> {
        let what = format!("rule '{name}'");
        let err = |message: String| RuleError {
            origin: origin.clone(),
            item: what.clone(),
            message,
        };
        const KNOWN: [&str; 14] = [
            "rule",
            "desc",
            "condition",
            "output",
            "priority",
            "tags",
            "enabled",
            "exceptions",
            "source",
            "append",
            "override",
            "warn_evttypes",
            "skip-if-unknown-filter",
            "weight",
        ];
        for k in h.keys().filter_map(scalar_text) {
            if !KNOWN.contains(&k.as_str()) {
                self.warnings
                    .push(format!("{origin}: {what}: unknown key '{k}' ignored"));
            }
        }
        let text = |k: &str| -> Result<Option<String>, RuleError> {
            match key(h, k) {
                None => Ok(None),
                Some(v) => scalar_text(v)
                    .map(Some)
                    .ok_or_else(|| err(format!("'{k}' must be a string"))),
            }
        };
        let desc = text("desc")?;
        let condition = text("condition")?;
        let output = text("output")?;
        let priority = match text("priority")? {
            Some(p) => {
                Some(Priority::parse(&p).ok_or_else(|| err(format!("unknown priority '{p}'")))?)
            }
            None => None,
        };
        let tags = match key(h, "tags") {
            Some(t) => Some(string_list(Some(t)).map_err(|m| err(format!("tags: {m}")))?),
            None => None,
        };
        let enabled = match key(h, "enabled") {
            None => None,
            Some(Yaml::Boolean(b)) => Some(*b),
            Some(_) => return Err(err("enabled must be true or false".into())),
        };
        let exceptions = match key(h, "exceptions") {
            Some(e) => Some(parse_exceptions(e).map_err(err)?),
            None => None,
        };
        let source = text("source")?;
        let weight = match key(h, "weight") {
            None => None,
            Some(Yaml::Integer(i)) => Some(*i as f64),
            Some(Yaml::Real(r)) => r.parse::<f64>().ok(),
            Some(_) => return Err(err("weight must be a number from 0 to 10".into())),
        };
        if let Some(w) = weight
            && !(0.0..=10.0).contains(&w)
        {
            return Err(err(format!("weight {w} is outside 0..=10")));
        }
        let existing = self.rules.iter().position(|r| r.name == name);
        if amending || (existing.is_some() && condition.is_none() && enabled.is_some()) {
            let Some(i) = existing else {
                return Err(err("append/override of a rule that is not defined".into()));
            };
            let r = &mut self.rules[i];
            let join = |old: &mut String, new: Option<String>, k: &str| match (new, mode(k)) {
                (Some(n), Some(true)) => {
                    old.push(' ');
                    old.push_str(&n);
                }
                (Some(n), _) => *old = n,
                (None, _) => {}
            };
            join(&mut r.condition, condition, "condition");
            join(&mut r.output, output, "output");
            join(&mut r.desc, desc, "desc");
            if let Some(p) = priority {
                r.priority = p;
            }
            if let Some(t) = tags {
                if mode("tags") == Some(true) {
                    r.tags.extend(t)
                } else {
                    r.tags = t
                }
            }
            if let Some(e) = enabled {
                r.enabled = e;
            }
            if let Some(ex) = exceptions {
                if mode("exceptions") == Some(true) {
                    for e in ex {
                        match r.exceptions.iter_mut().find(|o| o.name == e.name) {
                            Some(o) => o.values.extend(e.values),
                            None => r.exceptions.push(e),
                        }
                    }
                } else {
                    r.exceptions = ex;
                }
            }
            if let Some(s) = source {
                r.source = s;
            }
            if weight.is_some() {
                r.weight = weight;
            }
            return Ok(());
        }
        let missing: Vec<&str> = [
            ("desc", desc.is_none()),
            ("condition", condition.is_none()),
            ("output", output.is_none()),
            ("priority", priority.is_none()),
        ]
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(k, _)| k)
        .collect();
        if !missing.is_empty() {
            return Err(err(format!(
                "missing required key(s): {}",
                missing.join(", ")
            )));
        }
        let def = RuleDef {
            name,
            desc: desc.unwrap_or_default(),
            condition: condition.unwrap_or_default(),
            output: output.unwrap_or_default(),
            priority: priority.unwrap_or(Priority::Debug),
            tags: tags.unwrap_or_default(),
            enabled: enabled.unwrap_or(true),
            exceptions: exceptions.unwrap_or_default(),
            source: source.unwrap_or_else(|| "syscall".into()),
            weight,
            origin,
        };
        match existing {
            Some(i) => self.rules[i] = def,
            None => self.rules.push(def),
        }
        Ok(())
    }

    /// Rule definitions in load order.
    pub fn rules(&self) -> &[RuleDef] {
        &self.rules
    }
    /// Number of macros.
    pub fn macro_count(&self) -> usize {
        self.macros.len()
    }
    /// Number of lists.
    pub fn list_count(&self) -> usize {
        self.lists.len()
    }
    /// A macro by name.
    pub fn macro_def(&self, name: &str) -> Option<&MacroDef> {
        self.macros.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }
    /// A list by name.
    pub fn list_def(&self, name: &str) -> Option<&ListDef> {
        self.lists.iter().find(|(n, _)| n == name).map(|(_, l)| l)
    }
}

/// libyaml (hence Falco) accepts a flow sequence whose closing `]` sits at the parent key's
/// indentation; yaml-rust2 rejects it. Whitespace inside flow collections is insignificant,
/// so a line holding only `]` or `}` that is indented less than the line before it gets that
/// line's indentation. Returns `None` when nothing needed fixing. Line numbers are kept.
fn indent_flow_closers(text: &str) -> Option<String> {
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let mut prev_indent = 0;
    let mut out: Option<String> = None;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim();
        let closer = (t == "]" || t == "}" || t == "]," || t == "},") && indent(line) < prev_indent;
        if closer && out.is_none() {
            let done: usize = text.split_inclusive('\n').take(i).map(str::len).sum();
            out = Some(text[..done].to_owned());
        }
        if let Some(o) = &mut out {
            if closer {
                o.push_str(&" ".repeat(prev_indent));
                o.push_str(line.trim_start_matches(' '));
            } else {
                o.push_str(line);
            }
        }
        if !t.is_empty() && !closer {
            prev_indent = indent(line);
        }
    }
    out
}

fn string_list(y: Option<&Yaml>) -> Result<Vec<String>, String> {
    match y {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Array(a)) => a
            .iter()
            .map(|v| scalar_text(v).ok_or_else(|| "items must be strings".to_owned()))
            .collect(),
        Some(_) => Err("expected a list".into()),
    }
}

fn parse_exceptions(y: &Yaml) -> Result<Vec<ExceptionDef>, String> {
    let Yaml::Array(items) = y else {
        return Err("exceptions must be a list".into());
    };
    let mut out = Vec::new();
    for it in items {
        let Yaml::Hash(h) = it else {
            return Err("each exception must be a mapping".into());
        };
        let name = key(h, "name")
            .and_then(scalar_text)
            .ok_or("exception without a name")?;
        let (fields, single_field) = match key(h, "fields") {
            Some(Yaml::Array(a)) => (a.iter().filter_map(scalar_text).collect::<Vec<_>>(), false),
            Some(v) => (
                vec![scalar_text(v).ok_or(format!("exception '{name}': bad fields"))?],
                true,
            ),
            None => return Err(format!("exception '{name}': missing fields")),
        };
        let comps = match key(h, "comps") {
            Some(Yaml::Array(a)) => a.iter().filter_map(scalar_text).collect(),
            Some(v) => vec![scalar_text(v).ok_or(format!("exception '{name}': bad comps"))?],
            None => vec!["=".to_owned(); fields.len()],
        };
        if comps.len() != fields.len() {
            return Err(format!(
                "exception '{name}': {} fields but {} comps",
                fields.len(),
                comps.len()
            ));
        }
        let mut values = Vec::new();
        match key(h, "values") {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Array(rows)) => {
                for row in rows {
                    let tuple = if single_field {
                        vec![exc_value(row)?]
                    } else {
                        let Yaml::Array(cols) = row else {
                            return Err(format!(
                                "exception '{name}': each value must be a list with one entry per field"
                            ));
                        };
                        if cols.len() != fields.len() {
                            return Err(format!(
                                "exception '{name}': value tuple has {} entries for {} fields",
                                cols.len(),
                                fields.len()
                            ));
                        }
                        cols.iter().map(exc_value).collect::<Result<_, _>>()?
                    };
                    values.push(tuple);
                }
            }
            Some(_) => return Err(format!("exception '{name}': values must be a list")),
        }
        out.push(ExceptionDef {
            name,
            fields,
            comps,
            values,
            single_field,
        });
    }
    Ok(out)
}

fn exc_value(y: &Yaml) -> Result<ExcValue, String> {
    match y {
        Yaml::Array(a) => Ok(ExcValue::Many(a.iter().filter_map(scalar_text).collect())),
        v => scalar_text(v)
            .map(ExcValue::One)
            .ok_or_else(|| "exception values must be strings or lists".into()),
    }
}
