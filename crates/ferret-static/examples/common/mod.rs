//! What the timing examples share: the files to read and a CPU clock.

use std::io::BufRead as _;
use std::time::Duration;

/// CPU time of this thread (Linux schedstat), steadier than wall time on a busy machine.
pub fn cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

/// The files named on the command line (or, with no arguments, on stdin, one a
/// line), read whole; unreadable ones are skipped. Also gives their total size.
pub fn read_files() -> (Vec<Vec<u8>>, usize) {
    let mut paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        paths = std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .collect();
    }
    let files: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let bytes = files.iter().map(Vec::len).sum();
    (files, bytes)
}
