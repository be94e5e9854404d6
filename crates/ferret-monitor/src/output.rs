//! Printing subscribers: events with sysdig-style format strings or as JSON lines, and the
//! rules engine's alerts as Falco-style JSON lines or text.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use ferret_event::{Event, View};
use ferret_filter::{Ctx, Filter, Memo};
use ferret_rules::{Engine, Output};

use crate::bus::Subscriber;
use crate::store::{Row, StoreHandle};

/// sysdig's default event line.
pub const DEFAULT_FORMAT: &str =
    "%evt.num %evt.time %proc.name (%thread.tid) %evt.dir %evt.type %evt.args";

/// Where printers write; shared by the event printer and the alert printer.
#[derive(Clone)]
pub struct Sink(Arc<Mutex<Box<dyn Write + Send>>>);

impl Sink {
    /// A sink writing to `w`.
    pub fn new(w: Box<dyn Write + Send>) -> Sink {
        Sink(Arc::new(Mutex::new(w)))
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

fn with_sink(sink: &Sink, f: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let mut g = sink
        .0
        .lock()
        .map_err(|_| io::Error::other("output writer poisoned by a panic"))?;
    f(&mut **g)
}

/// How events are printed.
#[derive(Debug)]
pub enum EventFormat {
    /// A `%field` template (ferret-filter's field registry).
    Template(Output),
    /// ferret's event JSON lines (docs/events.md).
    Json,
}

/// Prints the events the filter (if any) accepts.
#[derive(Debug)]
pub struct Printer {
    sink: Sink,
    format: EventFormat,
    filter: Option<Filter>,
    line: String,
    /// Events printed.
    pub printed: u64,
}

impl Printer {
    /// A printer.
    pub fn new(sink: Sink, format: EventFormat, filter: Option<Filter>) -> Self {
        Printer {
            sink,
            format,
            filter,
            line: String::with_capacity(256),
            printed: 0,
        }
    }
}

impl Subscriber for Printer {
    fn name(&self) -> &str {
        "printer"
    }
    fn event(&mut self, ev: &Event, view: View<'_>) -> io::Result<()> {
        if self.filter.as_ref().is_some_and(|f| !f.matches(ev, view)) {
            return Ok(());
        }
        self.line.clear();
        match &self.format {
            EventFormat::Template(o) => self.line.push_str(&o.render(&Ctx { ev, view })),
            EventFormat::Json => self.line.push_str(&ev.to_json_line()),
        }
        self.line.push('\n');
        self.printed += 1;
        let line = &self.line;
        with_sink(&self.sink, |w| w.write_all(line.as_bytes()))
    }
    fn tick(&mut self) -> io::Result<()> {
        with_sink(&self.sink, |w| w.flush())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.tick()
    }
    fn summary(&self) -> String {
        format!("printer: printed={}", self.printed)
    }
}

/// Runs the rules over every event (the filter does not apply: rules need all of them)
/// and prints the alerts.
#[derive(Debug)]
pub struct RulesSub {
    engine: Engine,
    memo: Memo,
    hits: Vec<usize>,
    sink: Sink,
    json: bool,
    store: Option<StoreHandle>,
    /// Alerts raised.
    pub alerts: u64,
}

impl RulesSub {
    /// A rules subscriber printing alerts as JSON lines (`json`) or Falco's text lines,
    /// and storing them when a store is open.
    pub fn new(engine: Engine, sink: Sink, json: bool, store: Option<StoreHandle>) -> Self {
        RulesSub {
            memo: engine.new_memo(),
            engine,
            hits: Vec::new(),
            sink,
            json,
            store,
            alerts: 0,
        }
    }
}

impl Subscriber for RulesSub {
    fn name(&self) -> &str {
        "rules"
    }
    fn event(&mut self, ev: &Event, view: View<'_>) -> io::Result<()> {
        self.hits.clear();
        self.engine.matches(ev, view, &self.memo, &mut self.hits);
        if self.hits.is_empty() {
            return Ok(());
        }
        let mut rows = Vec::new();
        for &i in &self.hits {
            let Some(alert) = self.engine.alert(i, ev, view) else {
                continue;
            };
            self.alerts += 1;
            let mut line = if self.json {
                serde_json::to_string(&alert).map_err(io::Error::other)?
            } else {
                alert.output.clone()
            };
            line.push('\n');
            with_sink(&self.sink, |w| w.write_all(line.as_bytes()))?;
            if self.store.is_some() {
                rows.push(Row::Alert {
                    ts: ev.ts,
                    rule: alert.rule,
                    priority: alert.priority.to_owned(),
                    pid: ev.pid,
                    output: alert.output,
                    tags: alert.tags.join(","),
                });
            }
        }
        if let Some(s) = &self.store
            && !rows.is_empty()
        {
            s.send(rows);
        }
        Ok(())
    }
    fn tick(&mut self) -> io::Result<()> {
        with_sink(&self.sink, |w| w.flush())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.tick()
    }
    fn summary(&self) -> String {
        format!("rules: alerts={}", self.alerts)
    }
}
