//! Streaming reader: lines → records → events, in bounded memory.

use std::io::{self, BufRead};

use crate::event::{AuditEvent, GroupConfig, Grouper};
use crate::record::{LineError, Record};

/// Longest line kept (1 MiB); the rest of a longer line is skipped and the line reported
/// as malformed. auditd's own records are under 9 KiB.
pub const MAX_LINE: usize = 1 << 20;

/// What the reader yields.
#[derive(Debug, Clone)]
pub enum Item {
    /// A complete event.
    Event(AuditEvent),
    /// A line that is not an audit record, kept raw (lossily decoded as UTF-8).
    Malformed {
        /// 1-based line number.
        line: u64,
        /// The line (cut at [`MAX_LINE`]).
        text: String,
        /// What is wrong with it.
        error: LineError,
    },
}

/// Counters of a read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Records parsed.
    pub records: u64,
    /// Events emitted.
    pub events: u64,
    /// Lines that are not records (warnings).
    pub malformed: u64,
    /// Records of a type ferret does not know (kept raw; warnings).
    pub unknown_types: u64,
    /// Lines longer than [`MAX_LINE`].
    pub too_long: u64,
    /// Records dropped from events over [`GroupConfig::max_records`].
    pub dropped_records: u64,
    /// Events emitted before they were known complete because too many were open.
    pub forced: u64,
}

impl Stats {
    /// Total warnings (malformed lines, unknown types, cut lines, dropped records).
    pub fn warnings(&self) -> u64 {
        self.malformed + self.unknown_types + self.dropped_records
    }
}

/// Reads an audit log as a stream of [`Item`]s.
#[derive(Debug)]
pub struct AuditReader<R> {
    src: R,
    grouper: Grouper,
    stats: Stats,
    line: Vec<u8>,
    eof: bool,
    pending: Option<Item>,
}

impl<R: BufRead> AuditReader<R> {
    /// A reader with the default grouping limits.
    pub fn new(src: R) -> Self {
        Self::with_config(src, GroupConfig::default())
    }

    /// A reader with explicit grouping limits.
    pub fn with_config(src: R, cfg: GroupConfig) -> Self {
        AuditReader {
            src,
            grouper: Grouper::new(cfg),
            stats: Stats::default(),
            line: Vec::with_capacity(4096),
            eof: false,
            pending: None,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        Stats {
            forced: self.grouper.forced,
            ..self.stats
        }
    }

    /// Reads one line into `self.line`, keeping at most [`MAX_LINE`] bytes.
    /// Returns `Ok(None)` at end of input, `Ok(Some(cut))` otherwise.
    fn read_line(&mut self) -> io::Result<Option<bool>> {
        self.line.clear();
        let mut cut = false;
        let mut any = false;
        loop {
            let buf = match self.src.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(if any { Some(cut) } else { None });
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', buf) {
                Some(p) => (&buf[..p], p + 1, true),
                None => (buf, buf.len(), false),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            if chunk.len() > room {
                cut = true;
            }
            self.line.extend_from_slice(&chunk[..chunk.len().min(room)]);
            self.src.consume(used);
            if done {
                return Ok(Some(cut));
            }
        }
    }

    /// The next event or malformed line; `None` at the end. I/O errors end the stream.
    pub fn next_item(&mut self) -> io::Result<Option<Item>> {
        loop {
            if let Some(it) = self.pending.take() {
                return Ok(Some(it));
            }
            if let Some(ev) = self.grouper.pop() {
                self.stats.events += 1;
                self.stats.dropped_records += u64::from(ev.dropped_records);
                return Ok(Some(Item::Event(ev)));
            }
            if self.eof {
                return Ok(None);
            }
            let Some(cut) = self.read_line()? else {
                self.eof = true;
                self.grouper.flush();
                continue;
            };
            self.stats.lines += 1;
            let text = String::from_utf8_lossy(&self.line);
            if text.trim().is_empty() {
                continue;
            }
            if cut {
                self.stats.too_long += 1;
                self.stats.malformed += 1;
                self.pending = Some(Item::Malformed {
                    line: self.stats.lines,
                    text: text.into_owned(),
                    error: LineError::TooLong,
                });
                continue;
            }
            match Record::parse(&text) {
                Ok(rec) => {
                    self.stats.records += 1;
                    if rec.known_type_name().is_none() {
                        self.stats.unknown_types += 1;
                    }
                    self.grouper.push(rec);
                }
                Err(error) => {
                    self.stats.malformed += 1;
                    self.pending = Some(Item::Malformed {
                        line: self.stats.lines,
                        text: text.into_owned(),
                        error,
                    });
                }
            }
        }
    }
}

impl<R: BufRead> Iterator for AuditReader<R> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_item() {
            Ok(Some(it)) => Some(Ok(it)),
            Ok(None) => None,
            Err(e) => {
                // Emit what was read before the error, then stop.
                self.eof = true;
                self.grouper.flush();
                Some(Err(e))
            }
        }
    }
}
