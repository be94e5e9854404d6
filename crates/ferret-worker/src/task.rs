//! One task, run on a blocking thread: the analysis and the artifacts it leaves.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferret_analyze::{AnalyzeOptions, Network, NoProgress};
use ferret_queue::{TaskInfo, TaskKind, artifact};

use crate::YaraScan;

/// What a task produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Artifacts by name (see [`ferret_queue::artifact`]).
    pub artifacts: Vec<(String, Vec<u8>)>,
    /// The verdict (file tasks).
    pub verdict: Option<String>,
    /// The score (file tasks).
    pub score: Option<f64>,
}

/// Why a task failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The input or options cannot work, whatever the attempt (not a program, not a
    /// capture): the task fails at once.
    Permanent(String),
    /// This attempt failed (sandbox, disk, ...): another may succeed.
    Retry(String),
}

impl TaskError {
    /// The reason.
    pub fn message(&self) -> &str {
        match self {
            TaskError::Permanent(m) | TaskError::Retry(m) => m,
        }
    }
}

pub(crate) struct Job {
    pub(crate) task: TaskInfo,
    pub(crate) input: Vec<u8>,
    pub(crate) dir: PathBuf,
    pub(crate) yara: Option<YaraScan>,
    pub(crate) pcap: Arc<ferret_pcap::Options>,
    pub(crate) max_events: u64,
}

fn io_retry(what: &str, path: &Path) -> impl FnOnce(io::Error) -> TaskError {
    let msg = format!("{what} {}", path.display());
    move |e| TaskError::Retry(format!("{msg}: {e}"))
}

/// A file name for the sample from its submitted name: only `A-Z a-z 0-9 . _ -` kept
/// (the name the sample sees in the sandbox and the report shows), never a path.
pub(crate) fn safe_name(name: &str) -> String {
    let mut out: String = name
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        out = "sample".to_owned();
    }
    out
}

/// Runs the job; its directory is the caller's to remove.
pub(crate) fn run(job: Job) -> Result<Outcome, TaskError> {
    if job.dir.exists() {
        fs::remove_dir_all(&job.dir).map_err(io_retry("removing", &job.dir))?;
    }
    fs::create_dir_all(&job.dir).map_err(io_retry("creating", &job.dir))?;
    match job.task.kind {
        TaskKind::File => run_file(job),
        TaskKind::Pcap => run_pcap(&job),
    }
}

fn network(net: &str) -> Network {
    match net {
        "none" => Network::None,
        // "fake" (validated at submission): the fake internet, capture included.
        _ => ferret_analyze::fake_network(),
    }
}

/// The self-contained HTML report (offline: the event table filters the embedded
/// events in the browser).
fn report_html(report_json: &[u8], events: Option<&[u8]>) -> Result<Vec<u8>, TaskError> {
    let v: serde_json::Value = serde_json::from_slice(report_json)
        .map_err(|e| TaskError::Retry(format!("report.json does not parse: {e}")))?;
    Ok(ferret_html::report_page(&v, events, &ferret_html::ReportPage::default()).into_bytes())
}

fn find<'a>(artifacts: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a [u8]> {
    artifacts
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d.as_slice())
}

fn run_file(job: Job) -> Result<Outcome, TaskError> {
    let o = &job.task.options;
    // Options were validated at submission; a database edited by hand still gets a
    // clear error.
    o.validate().map_err(TaskError::Permanent)?;
    let input_dir = job.dir.join("input");
    fs::create_dir_all(&input_dir).map_err(io_retry("creating", &input_dir))?;
    let sample = input_dir.join(safe_name(&job.task.input_name));
    fs::write(&sample, &job.input).map_err(io_retry("writing", &sample))?;
    drop(job.input);
    let out_dir = job.dir.join("out");
    let arch = match &o.arch {
        Some(a) => Some(
            a.parse::<ferret_analyze::Arch>()
                .map_err(|e| TaskError::Permanent(format!("arch {a:?}: {e}")))?,
        ),
        None => None,
    };
    let network = network(&o.net);
    let yara = job
        .yara
        .map(|y| -> ferret_analyze::YaraFn { Box::new(move |d: &[u8]| y(d)) });
    let opts = AnalyzeOptions {
        timeout: Duration::from_secs(u64::from(o.timeout_secs)),
        args: o.args.iter().map(OsString::from).collect(),
        network,
        out_dir: out_dir.clone(),
        max_events: job.max_events,
        yara,
        arch,
        ..AnalyzeOptions::default()
    };
    let analysis = ferret_analyze::analyze(&sample, &opts, &mut NoProgress).map_err(|e| {
        let permanent = matches!(
            e,
            ferret_analyze::Error::Input { .. } | ferret_analyze::Error::Options(_)
        );
        if permanent {
            TaskError::Permanent(e.to_string())
        } else {
            TaskError::Retry(e.to_string())
        }
    })?;

    let mut artifacts = Vec::with_capacity(7);
    for name in [
        artifact::REPORT_JSON,
        artifact::EVENTS_JSONL,
        artifact::STDOUT,
        artifact::STDERR,
        artifact::CAPTURE_PCAP,
    ] {
        let path = out_dir.join(name);
        match fs::read(&path) {
            Ok(data) => artifacts.push((name.to_owned(), data)),
            // The capture exists only with the fake network.
            Err(e) if e.kind() == io::ErrorKind::NotFound && name == artifact::CAPTURE_PCAP => {}
            Err(e) => return Err(io_retry("reading", &path)(e)),
        }
    }
    let dropped_dir = out_dir.join("dropped");
    let zip = crate::zip_dir(&dropped_dir).map_err(io_retry("zipping", &dropped_dir))?;
    artifacts.push((artifact::DROPPED_ZIP.to_owned(), zip));
    if let Some(report) = find(&artifacts, artifact::REPORT_JSON) {
        let html = report_html(report, find(&artifacts, artifact::EVENTS_JSONL))?;
        artifacts.push((artifact::REPORT_HTML.to_owned(), html));
    }
    let verdict = serde_json::to_value(analysis.report.verdict)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned));
    Ok(Outcome {
        artifacts,
        verdict,
        score: Some(analysis.report.score),
    })
}

fn run_pcap(job: &Job) -> Result<Outcome, TaskError> {
    let report = ferret_pcap::analyze_bytes(&job.input, &job.pcap)
        .map_err(|e| TaskError::Permanent(format!("not a usable capture: {e}")))?;
    let json = serde_json::to_vec(&report)
        .map_err(|e| TaskError::Retry(format!("serialising the network report: {e}")))?;
    let html = report_html(&json, None)?;
    Ok(Outcome {
        artifacts: vec![
            (artifact::REPORT_JSON.to_owned(), json),
            (artifact::REPORT_HTML.to_owned(), html),
            (artifact::CAPTURE_PCAP.to_owned(), job.input.clone()),
        ],
        verdict: None,
        score: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitted_names_never_become_paths() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("a b;c$(x)"), "a_b_c__x_");
        assert_eq!(safe_name(".."), "sample");
        assert_eq!(safe_name(""), "sample");
        assert_eq!(safe_name("dir/"), "sample");
        assert_eq!(safe_name(&"x".repeat(300)).len(), 100);
        assert_eq!(safe_name("ok-1.2_x.elf"), "ok-1.2_x.elf");
    }
}
