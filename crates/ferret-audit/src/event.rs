//! Events: the records sharing one `audit(SECONDS.MILLIS:SERIAL)` stamp, and the grouping
//! of a record stream into them with bounded buffering.

use std::collections::VecDeque;

use crate::record::Record;
use crate::types::is_standalone;

/// Record type number of `EOE`, the end-of-event marker.
const EOE: u32 = 1320;

/// The records of one audit event, in the order they were read.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// `node=` of the records, if any.
    pub node: Option<String>,
    /// Seconds part of the timestamp.
    pub sec: u64,
    /// Milliseconds part of the timestamp.
    pub ms: u32,
    /// Serial number.
    pub serial: u64,
    /// The records (never empty; `EOE` markers are not kept).
    pub records: Vec<Record>,
    /// Records of this event dropped because the event exceeded
    /// [`GroupConfig::max_records`].
    pub dropped_records: u32,
}

impl AuditEvent {
    fn new(rec: Record) -> Self {
        AuditEvent {
            node: rec.node.clone(),
            sec: rec.sec,
            ms: rec.ms,
            serial: rec.serial,
            records: vec![rec],
            dropped_records: 0,
        }
    }

    fn same(&self, rec: &Record) -> bool {
        self.serial == rec.serial
            && self.sec == rec.sec
            && self.ms == rec.ms
            && self.node == rec.node
    }

    /// Timestamp in nanoseconds since the epoch.
    pub fn ts_nanos(&self) -> u64 {
        self.sec
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(self.ms) * 1_000_000)
    }

    /// The first record of type `name` (`SYSCALL`, `CWD`...).
    pub fn record(&self, name: &str) -> Option<&Record> {
        self.records.iter().find(|r| r.type_name == name)
    }

    /// All records of type `name`.
    pub fn records_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Record> + 'a {
        self.records.iter().filter(move |r| r.type_name == name)
    }

    /// The command line of an `execve`, assembled from the event's EXECVE records:
    /// `aN` arguments and `aN[i]` chunks of long arguments (which may span records), decoded.
    pub fn argv(&self) -> Vec<String> {
        // An absurd index in a hostile log must not allocate without bound.
        const MAX_ARGS: usize = 1 << 17;
        let mut args: Vec<String> = Vec::new();
        for rec in self.records_of("EXECVE") {
            for (k, v) in rec.fields() {
                let Some(r) = k.strip_prefix('a') else {
                    continue;
                };
                let (num, chunk) = match r.split_once('[') {
                    Some((n, _)) => (n, true),
                    None => (r, false),
                };
                let Ok(n) = num.parse::<usize>() else {
                    continue;
                };
                if n >= MAX_ARGS {
                    continue;
                }
                if args.len() <= n {
                    args.resize_with(n + 1, String::new);
                }
                if let Some(slot) = args.get_mut(n) {
                    if chunk {
                        slot.push_str(v);
                    } else {
                        v.clone_into(slot);
                    }
                }
            }
        }
        args
    }
}

/// Limits of the grouping buffer. Records of concurrent events interleave in a log, so an
/// event is held open until it is known complete: at its `EOE` record, at once for
/// user-space types (which are single records), when a record `window` serials newer (or
/// `max_age_secs` seconds newer) has been read, when more than `max_open` events are
/// open (the oldest is then emitted), or at the end of input. Memory is therefore bounded by
/// `max_open × max_records` records plus one line.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfig {
    /// Serial distance after which an open event is complete (default 32).
    pub window: u64,
    /// Timestamp distance, seconds, after which an open event is complete (default 5).
    pub max_age_secs: u64,
    /// Most events held open at once (default 1024).
    pub max_open: usize,
    /// Most records kept per event; more are counted in
    /// [`AuditEvent::dropped_records`] (default 4096).
    pub max_records: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            window: 32,
            max_age_secs: 5,
            max_open: 1024,
            max_records: 4096,
        }
    }
}

/// Groups records into events.
#[derive(Debug, Default)]
pub struct Grouper {
    cfg: GroupConfig,
    open: VecDeque<AuditEvent>,
    ready: VecDeque<AuditEvent>,
    /// Events emitted early because `max_open` was reached.
    pub forced: u64,
}

impl Grouper {
    /// A grouper with the given limits.
    pub fn new(cfg: GroupConfig) -> Self {
        Grouper {
            cfg,
            ..Grouper::default()
        }
    }

    /// Adds one record.
    pub fn push(&mut self, rec: Record) {
        let (serial, sec) = (rec.serial, rec.sec);
        let is_eoe = rec.type_num == Some(EOE);
        match self.open.iter().rposition(|e| e.same(&rec)) {
            Some(i) => {
                if is_eoe {
                    if let Some(ev) = self.open.remove(i) {
                        self.ready.push_back(ev);
                    }
                } else if let Some(ev) = self.open.get_mut(i) {
                    if ev.records.len() < self.cfg.max_records {
                        ev.records.push(rec);
                    } else {
                        ev.dropped_records = ev.dropped_records.saturating_add(1);
                    }
                }
            }
            None if is_eoe => {} // end of an event already emitted (or never seen)
            None => {
                let standalone = rec.type_num.is_some_and(is_standalone);
                let ev = AuditEvent::new(rec);
                if standalone {
                    self.ready.push_back(ev);
                } else {
                    self.open.push_back(ev);
                }
            }
        }
        self.expire(serial, sec);
        while self.open.len() > self.cfg.max_open {
            if let Some(ev) = self.open.pop_front() {
                self.forced += 1;
                self.ready.push_back(ev);
            }
        }
    }

    fn expire(&mut self, serial: u64, sec: u64) {
        let (w, age) = (self.cfg.window, self.cfg.max_age_secs);
        let done =
            |e: &AuditEvent| e.serial.saturating_add(w) < serial || e.sec.saturating_add(age) < sec;
        if !self.open.iter().any(done) {
            return;
        }
        let mut keep = VecDeque::with_capacity(self.open.len());
        for e in self.open.drain(..) {
            if done(&e) {
                self.ready.push_back(e);
            } else {
                keep.push_back(e);
            }
        }
        self.open = keep;
    }

    /// The next complete event.
    pub fn pop(&mut self) -> Option<AuditEvent> {
        self.ready.pop_front()
    }

    /// Marks every open event complete (end of input).
    pub fn flush(&mut self) {
        self.ready.extend(self.open.drain(..));
    }
}
