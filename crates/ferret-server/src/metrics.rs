//! `/metrics` in the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Task states in the order they are exported (every state is written, zero or not,
/// so a dashboard never sees a series vanish).
pub const STATES: [&str; 4] = ["queued", "running", "done", "failed"];

/// Counts of HTTP responses by status class (1xx..5xx), kept by a middleware.
#[derive(Debug, Default)]
pub struct HttpCounters {
    by_class: [AtomicU64; 5],
}

impl HttpCounters {
    /// Counts one response with `status`.
    pub fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = self.by_class.get(class) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Responses so far with a status in class `n`xx (1..=5).
    pub fn get(&self, n: usize) -> u64 {
        n.checked_sub(1)
            .and_then(|i| self.by_class.get(i))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// Inputs of one `/metrics` page, in plain types (the queue's statistics converted).
#[derive(Debug, Default)]
pub struct Snapshot<'a> {
    /// Tasks per state name.
    pub by_state: Vec<(&'static str, u64)>,
    /// Tasks waiting for a worker.
    pub queue_len: u64,
    /// Durations of recently completed analyses, milliseconds.
    pub durations_ms: &'a [u64],
    /// Workers and their last heartbeat (unix ms).
    pub workers: &'a [(String, i64)],
    /// Now, unix ms (heartbeat ages are relative to it).
    pub now_ms: i64,
}

/// Escapes a label value: backslash, double quote and newline.
fn label(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The `q` quantile (0..=1) of sorted `v` by the nearest-rank method.
fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Renders the exposition text.
pub fn render(s: &Snapshot<'_>, http: &HttpCounters) -> String {
    let mut out = String::with_capacity(2048);
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "# HELP ferret_queue_length Tasks waiting for a worker.\n\
         # TYPE ferret_queue_length gauge\n\
         ferret_queue_length {}",
        s.queue_len
    );
    out.push_str(
        "# HELP ferret_tasks Tasks in the database by state.\n# TYPE ferret_tasks gauge\n",
    );
    for st in STATES {
        let n = s
            .by_state
            .iter()
            .find(|(name, _)| *name == st)
            .map_or(0, |&(_, n)| n);
        let _ = writeln!(out, "ferret_tasks{{state=\"{st}\"}} {n}");
    }

    let mut d = s.durations_ms.to_vec();
    d.sort_unstable();
    out.push_str(
        "# HELP ferret_analysis_duration_seconds Wall-clock duration of recently completed \
         analyses (the queue's window of recent tasks).\n\
         # TYPE ferret_analysis_duration_seconds summary\n",
    );
    for q in [0.5, 0.9, 0.99] {
        match quantile(&d, q) {
            Some(v) => {
                let _ = writeln!(
                    out,
                    "ferret_analysis_duration_seconds{{quantile=\"{q}\"}} {}",
                    v as f64 / 1000.0
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "ferret_analysis_duration_seconds{{quantile=\"{q}\"}} NaN"
                );
            }
        }
    }
    let sum: u64 = d.iter().sum();
    let _ = writeln!(
        out,
        "ferret_analysis_duration_seconds_sum {}\nferret_analysis_duration_seconds_count {}",
        sum as f64 / 1000.0,
        d.len()
    );

    out.push_str(
        "# HELP ferret_worker_last_heartbeat_timestamp_seconds Last heartbeat of each worker \
         (unix time).\n\
         # TYPE ferret_worker_last_heartbeat_timestamp_seconds gauge\n",
    );
    for (w, at) in s.workers {
        out.push_str("ferret_worker_last_heartbeat_timestamp_seconds{worker=\"");
        label(&mut out, w);
        let _ = writeln!(out, "\"}} {}", *at as f64 / 1000.0);
    }
    out.push_str(
        "# HELP ferret_worker_heartbeat_age_seconds Seconds since each worker's last heartbeat.\n\
         # TYPE ferret_worker_heartbeat_age_seconds gauge\n",
    );
    for (w, at) in s.workers {
        out.push_str("ferret_worker_heartbeat_age_seconds{worker=\"");
        label(&mut out, w);
        let age = (s.now_ms.saturating_sub(*at)).max(0) as f64 / 1000.0;
        let _ = writeln!(out, "\"}} {age}");
    }

    out.push_str(
        "# HELP ferret_http_responses_total HTTP responses sent by this server, by status class.\n\
         # TYPE ferret_http_responses_total counter\n",
    );
    for n in 1..=5 {
        let _ = writeln!(
            out,
            "ferret_http_responses_total{{code=\"{n}xx\"}} {}",
            http.get(n)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&[7], 0.99), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn renders_every_family_and_escapes_labels() {
        let http = HttpCounters::default();
        http.record(200);
        http.record(404);
        http.record(404);
        let workers = vec![("w\"1\\\n".to_owned(), 10_000)];
        let s = Snapshot {
            by_state: vec![("done", 3), ("queued", 2)],
            queue_len: 2,
            durations_ms: &[3000, 1000, 2000],
            workers: &workers,
            now_ms: 12_500,
        };
        let text = render(&s, &http);
        assert!(text.contains("ferret_queue_length 2\n"), "{text}");
        assert!(text.contains("ferret_tasks{state=\"done\"} 3\n"));
        assert!(text.contains("ferret_tasks{state=\"running\"} 0\n"));
        assert!(text.contains("ferret_analysis_duration_seconds{quantile=\"0.5\"} 2\n"));
        assert!(text.contains("ferret_analysis_duration_seconds_sum 6\n"));
        assert!(text.contains("ferret_analysis_duration_seconds_count 3\n"));
        assert!(text.contains(
            "ferret_worker_last_heartbeat_timestamp_seconds{worker=\"w\\\"1\\\\\\n\"} 10\n"
        ));
        assert!(
            text.contains("ferret_worker_heartbeat_age_seconds{worker=\"w\\\"1\\\\\\n\"} 2.5\n")
        );
        assert!(text.contains("ferret_http_responses_total{code=\"4xx\"} 2\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap_or("");
            assert!(
                value == "NaN" || value.parse::<f64>().is_ok(),
                "bad sample line {line:?}"
            );
        }
    }
}
