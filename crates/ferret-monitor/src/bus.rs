//! The publish/subscribe bus: each publisher owns a bounded queue and counts what it had
//! to drop; one dispatcher thread drains the queues, keeps the process/fd state once for
//! all subscribers, and hands every event with its resolved view to each subscriber.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, Select, Sender, TrySendError, bounded};
use ferret_event::{Event, View};

use crate::tracker::Tracker;

/// Counters of one publisher, shared between its thread and the reporters.
#[derive(Debug, Default)]
pub struct PubStats {
    /// Publisher name (`audit`, `proc-connector`, `fanotify`, `inotify`).
    pub name: String,
    /// Events put on the bus.
    pub published: AtomicU64,
    /// Events dropped because the publisher's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Events the kernel reported lost before they reached ferret (netlink `ENOBUFS`
    /// overruns, the audit `lost` counter's growth, fanotify/inotify queue overflows).
    pub lost_kernel: AtomicU64,
    /// Events read and deliberately not published (outside the watched paths, duplicates
    /// of another source, threads, ferret's own activity).
    pub filtered: AtomicU64,
    /// Records or events that could not be parsed.
    pub malformed: AtomicU64,
}

impl PubStats {
    /// A one-line summary.
    pub fn line(&self) -> String {
        format!(
            "{}: published={} dropped_queue_full={} lost_kernel={} filtered={} malformed={}",
            self.name,
            self.published.load(Ordering::Relaxed),
            self.dropped_queue_full.load(Ordering::Relaxed),
            self.lost_kernel.load(Ordering::Relaxed),
            self.filtered.load(Ordering::Relaxed),
            self.malformed.load(Ordering::Relaxed),
        )
    }
}

/// The sending end a publisher thread holds.
#[derive(Debug, Clone)]
pub struct Publisher {
    tx: Sender<Event>,
    /// This publisher's counters.
    pub stats: Arc<PubStats>,
}

impl Publisher {
    /// Queues an event without blocking; when the queue is full the event is dropped and
    /// counted. Returns `false` once the bus has shut down.
    pub fn publish(&self, ev: Event) -> bool {
        match self.tx.try_send(ev) {
            Ok(()) => {
                self.stats.published.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.stats
                    .dropped_queue_full
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
    /// Counts `n` events the kernel lost.
    pub fn lost(&self, n: u64) {
        self.stats.lost_kernel.fetch_add(n, Ordering::Relaxed);
    }
    /// Counts an event read but not published.
    pub fn filtered(&self) {
        self.stats.filtered.fetch_add(1, Ordering::Relaxed);
    }
    /// Counts an unparseable record.
    pub fn malformed(&self) {
        self.stats.malformed.fetch_add(1, Ordering::Relaxed);
    }
}

/// A consumer of events, called on the dispatcher thread in publication order of each
/// queue. The view is the state after the event (process, fd).
pub trait Subscriber {
    /// Name used in reports.
    fn name(&self) -> &str;
    /// Handles one event.
    fn event(&mut self, ev: &Event, view: View<'_>) -> io::Result<()>;
    /// Called about every 200 ms and when the queues are idle (flush batches).
    fn tick(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Called once after the last event.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// What this subscriber had to drop (e.g. store batches when the writer lags), and a
    /// one-line summary of its counters.
    fn summary(&self) -> String {
        String::new()
    }
}

/// The bus: queues of the publishers created so far.
#[derive(Debug)]
pub struct Bus {
    capacity: usize,
    receivers: Vec<Receiver<Event>>,
    stats: Vec<Arc<PubStats>>,
}

impl Bus {
    /// A bus whose publishers each get a queue of `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Bus {
            capacity: capacity.max(1),
            receivers: Vec::new(),
            stats: Vec::new(),
        }
    }

    /// Creates a publisher with its own queue.
    pub fn publisher(&mut self, name: &str) -> Publisher {
        let (tx, rx) = bounded(self.capacity);
        let stats = Arc::new(PubStats {
            name: name.to_owned(),
            ..PubStats::default()
        });
        self.receivers.push(rx);
        self.stats.push(Arc::clone(&stats));
        Publisher { tx, stats }
    }

    /// The counters of every publisher.
    pub fn stats(&self) -> Vec<Arc<PubStats>> {
        self.stats.clone()
    }

    /// Dispatches until every publisher has dropped its sender (they stop on the stop
    /// flag), then finishes the subscribers. Returns the number of events dispatched.
    pub fn run(
        self,
        tracker: &mut Tracker,
        subs: &mut [Box<dyn Subscriber + Send>],
        dispatched: &AtomicU64,
    ) -> io::Result<u64> {
        let mut live: Vec<Receiver<Event>> = self.receivers;
        let mut num = 0u64;
        let tick = Duration::from_millis(200);
        let mut last_tick = std::time::Instant::now();
        while !live.is_empty() {
            let picked = {
                let mut sel = Select::new();
                for r in &live {
                    sel.recv(r);
                }
                match sel.select_timeout(tick) {
                    Ok(op) => {
                        let i = op.index();
                        live.get(i).map(|r| (i, op.recv(r)))
                    }
                    Err(_) => None,
                }
            };
            let got = match picked {
                Some((_, Ok(ev))) => Some(ev),
                Some((i, Err(_))) => {
                    live.swap_remove(i);
                    None
                }
                None => None,
            };
            if let Some(mut ev) = got {
                num += 1;
                ev.num = num;
                let view = tracker.update(&ev);
                for s in subs.iter_mut() {
                    s.event(&ev, view)?;
                }
                dispatched.store(num, Ordering::Relaxed);
                // Drain what is already queued before the next select, cheaply.
                for r in &live {
                    for _ in 0..256 {
                        let Ok(mut ev) = r.try_recv() else { break };
                        num += 1;
                        ev.num = num;
                        let view = tracker.update(&ev);
                        for s in subs.iter_mut() {
                            s.event(&ev, view)?;
                        }
                    }
                }
                dispatched.store(num, Ordering::Relaxed);
            }
            if last_tick.elapsed() >= tick {
                last_tick = std::time::Instant::now();
                for s in subs.iter_mut() {
                    s.tick()?;
                }
            }
        }
        for s in subs.iter_mut() {
            s.finish()?;
        }
        Ok(num)
    }
}
