//! The worker against a real SQLite queue and real analyses: a benign C program that
//! writes a file and prints, a real pcap, and inputs that cannot be analysed.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferret_queue::{Queue, TaskKind, TaskOptions, TaskState};
use ferret_worker::{TaskResult, Worker, WorkerConfig};
use tokio_util::sync::CancellationToken;

const SAMPLE_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    FILE *f = fopen("/tmp/ferret-worker-dropped.txt", "w");
    if (f) { fputs("dropped-marker-5731\n", f); fclose(f); }
    printf("hello from the sample\n");
    fflush(stdout);
    if (argc > 1) sleep((unsigned)atoi(argv[1]));
    return 0;
}
"#;

/// The sample, compiled once per test process.
fn sample() -> &'static [u8] {
    static BIN: OnceLock<Vec<u8>> = OnceLock::new();
    BIN.get_or_init(|| compile("cc"))
}

/// The sample built by `compiler`, statically linked.
fn compile(compiler: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("s.c");
    std::fs::write(&src, SAMPLE_C).unwrap();
    let exe = dir.path().join("s");
    let out = Command::new(compiler)
        .args(["-static", "-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| {
            panic!("{compiler} (scripts/apt-packages.txt) builds the test sample: {e}")
        });
    assert!(
        out.status.success(),
        "{compiler} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&exe).unwrap()
}

fn shared(rel: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/")).join(rel)
}

fn file_opts(args: &[&str]) -> TaskOptions {
    TaskOptions {
        timeout_secs: 20,
        net: "none".into(),
        arch: None,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
    }
}

async fn setup(dir: &Path) -> Queue {
    Queue::open("", &dir.join("data")).await.unwrap()
}

fn worker(q: &Queue, dir: &Path, id: &str) -> Worker {
    let cfg = WorkerConfig::new(id, dir.join("work")).with_lease(Duration::from_secs(10));
    Worker::new(q.clone(), cfg)
}

async fn wait_for(q: &Queue, id: i64, state: TaskState, within: Duration) {
    let t0 = Instant::now();
    loop {
        let t = q.get(id).await.unwrap().unwrap();
        if t.state == state {
            return;
        }
        assert!(
            t0.elapsed() < within,
            "task {id} still {:?} after {within:?}",
            t.state
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_and_pcap_tasks_store_their_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let q = setup(dir.path()).await;
    let file = q
        .submit(
            TaskKind::File,
            file_opts(&[]),
            "../evil name.elf",
            sample().to_vec(),
        )
        .await
        .unwrap();
    let pcap_bytes = std::fs::read(shared("data/l7/irc.pcap")).unwrap();
    let pcap = q
        .submit(
            TaskKind::Pcap,
            TaskOptions::default(),
            "irc.pcap",
            pcap_bytes.clone(),
        )
        .await
        .unwrap();
    let garbage = q
        .submit(
            TaskKind::Pcap,
            TaskOptions::default(),
            "notes.txt",
            b"this is not a capture".to_vec(),
        )
        .await
        .unwrap();

    let w = worker(&q, dir.path(), "w-test");
    let t0 = Instant::now();
    let mut results = Vec::new();
    while let Some(r) = w.run_one().await.unwrap() {
        results.push(r);
    }
    eprintln!("3 tasks in {:.2}s", t0.elapsed().as_secs_f64());
    assert_eq!(results.len(), 3, "{results:?}");

    // The file task.
    let t = q.get(file.id).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Done, "{:?}", t.error);
    assert!(t.verdict.is_some() && t.score.is_some());
    let report: serde_json::Value =
        serde_json::from_slice(&q.artifact(file.id, "report.json").await.unwrap().unwrap())
            .unwrap();
    assert_eq!(report["sample"]["name"], "evil_name.elf");
    assert_eq!(report["sample"]["sha256"], file.input_sha256.as_str());
    let stdout = q.artifact(file.id, "stdout").await.unwrap().unwrap();
    assert_eq!(stdout, b"hello from the sample\n");
    let events = q.artifact(file.id, "events.jsonl").await.unwrap().unwrap();
    assert!(
        events.split(|&b| b == b'\n').any(|l| l
            .windows(27)
            .any(|w| w == b"ferret-worker-dropped.txt\"")
            || l.windows(25).any(|w| w == b"ferret-worker-dropped.txt")),
        "the file write is among the events"
    );
    assert!(q.artifact(file.id, "stderr").await.unwrap().is_some());
    let html =
        String::from_utf8(q.artifact(file.id, "report.html").await.unwrap().unwrap()).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") || html.starts_with("<!doctype html>"),
        "{}",
        &html[..50]
    );
    assert!(html.contains("evil_name.elf"));
    let zip = q.artifact(file.id, "dropped.zip").await.unwrap().unwrap();
    let mut z = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    let names: Vec<String> = z.file_names().map(|n| n.unwrap().into_owned()).collect();
    let dropped = names
        .iter()
        .find(|n| n.ends_with("ferret-worker-dropped.txt"))
        .unwrap_or_else(|| panic!("dropped file not in the zip: {names:?}"))
        .clone();
    let mut text = String::new();
    z.by_name_decrypt(&dropped, b"infected")
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "dropped-marker-5731\n");
    assert!(z.by_name(&dropped).is_err(), "encrypted");

    // The pcap task.
    let t = q.get(pcap.id).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Done, "{:?}", t.error);
    let net: serde_json::Value =
        serde_json::from_slice(&q.artifact(pcap.id, "report.json").await.unwrap().unwrap())
            .unwrap();
    assert!(
        net.to_string().contains("PRIVMSG") || net.to_string().contains("irc"),
        "IRC seen in the network report"
    );
    assert_eq!(
        q.artifact(pcap.id, "capture.pcap").await.unwrap().unwrap(),
        pcap_bytes
    );
    let html =
        String::from_utf8(q.artifact(pcap.id, "report.html").await.unwrap().unwrap()).unwrap();
    assert!(html.contains("irc.pcap") || html.to_ascii_lowercase().contains("irc"));

    // Not a capture: failed at once, no retries.
    let t = q.get(garbage.id).await.unwrap().unwrap();
    assert_eq!((t.state, t.attempts), (TaskState::Failed, 1));
    assert!(
        t.error.as_deref().unwrap().contains("not a usable capture"),
        "{:?}",
        t.error
    );
    assert!(
        results.iter().any(|(id, r)| *id == garbage.id
            && matches!(r, TaskResult::Failed(m) if m.contains("capture"))),
        "{results:?}"
    );

    // The scratch directories are gone.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("work"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_running_task() {
    let dir = tempfile::tempdir().unwrap();
    let q = setup(dir.path()).await;
    let w = worker(&q, dir.path(), "w-graceful");
    let stop = CancellationToken::new();
    let run = tokio::spawn(w.run(stop.clone()));
    let t = q
        .submit(
            TaskKind::File,
            file_opts(&["2"]),
            "sleep2",
            sample().to_vec(),
        )
        .await
        .unwrap();
    wait_for(&q, t.id, TaskState::Running, Duration::from_secs(10)).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the worker stops after its task")
        .unwrap();
    let done = q.get(t.id).await.unwrap().unwrap();
    assert_eq!(done.state, TaskState::Done, "{:?}", done.error);
    // Nothing else is leased after the shutdown.
    let t2 = q
        .submit(TaskKind::File, file_opts(&[]), "later", sample().to_vec())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        q.get(t2.id).await.unwrap().unwrap().state,
        TaskState::Queued
    );
    let stats = q.stats().await.unwrap();
    assert!(stats.workers.iter().any(|(w, _)| w == "w-graceful"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_drops_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let q = setup(dir.path()).await;
    let cfg =
        WorkerConfig::new("w-lost", dir.path().join("work")).with_lease(Duration::from_millis(600));
    let w = Worker::new(q.clone(), cfg);
    let t = q
        .submit(
            TaskKind::File,
            file_opts(&["3"]),
            "sleep3",
            sample().to_vec(),
        )
        .await
        .unwrap();
    let run = tokio::spawn(async move { w.run_one().await });
    wait_for(&q, t.id, TaskState::Running, Duration::from_secs(10)).await;
    // The task is deleted while it runs: the next heartbeat finds the lease gone.
    assert!(q.delete(t.id).await.unwrap());
    let r = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(r, Some((t.id, TaskResult::LeaseLost)));
    assert_eq!(q.stats().await.unwrap().blobs, 0, "nothing stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_network_tasks_store_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let q = setup(dir.path()).await;
    let mut opts = file_opts(&[]);
    opts.net = "fake".into();
    let t = q
        .submit(TaskKind::File, opts, "fake-net", sample().to_vec())
        .await
        .unwrap();
    let w = worker(&q, dir.path(), "w-fake");
    assert!(w.run_one().await.unwrap().is_some());
    let t = q.get(t.id).await.unwrap().unwrap();
    assert_eq!(t.state, TaskState::Done, "{:?}", t.error);
    let pcap = q.artifact(t.id, "capture.pcap").await.unwrap().unwrap();
    // A pcap or pcapng file header, whatever the sample did on the network.
    assert!(
        pcap.starts_with(&[0xd4, 0xc3, 0xb2, 0xa1])
            || pcap.starts_with(&[0xa1, 0xb2, 0xc3, 0xd4])
            || pcap.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]),
        "{:02x?}",
        &pcap[..pcap.len().min(8)]
    );
    let report: serde_json::Value =
        serde_json::from_slice(&q.artifact(t.id, "report.json").await.unwrap().unwrap()).unwrap();
    assert!(report["network"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_arch_option_reaches_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let q = setup(dir.path()).await;
    let arm64 = compile("aarch64-linux-gnu-gcc");
    let mut ids = Vec::new();
    // Detected from the ELF header, then overridden: the report says which and how.
    for arch in [None, Some("arm")] {
        let mut opts = file_opts(&[]);
        opts.arch = arch.map(str::to_owned);
        ids.push(
            q.submit(TaskKind::File, opts, "arm64-sample", arm64.clone())
                .await
                .unwrap()
                .id,
        );
    }
    let w = worker(&q, dir.path(), "w-arch");
    while w.run_one().await.unwrap().is_some() {}
    let mut seen = Vec::new();
    for id in ids {
        let t = q.get(id).await.unwrap().unwrap();
        assert_eq!(t.state, TaskState::Done, "{:?}", t.error);
        let report: serde_json::Value =
            serde_json::from_slice(&q.artifact(id, "report.json").await.unwrap().unwrap()).unwrap();
        let arch = report["analysis"]["arch"].clone();
        seen.push((
            arch["name"].clone(),
            arch["forced"].clone(),
            arch["emulated"].clone(),
        ));
        if arch["name"] == "aarch64" {
            assert_eq!(
                q.artifact(id, "stdout").await.unwrap().unwrap(),
                b"hello from the sample\n"
            );
        }
    }
    assert_eq!(
        seen,
        [
            ("aarch64".into(), false.into(), true.into()),
            ("arm".into(), true.into(), true.into())
        ]
    );
}
