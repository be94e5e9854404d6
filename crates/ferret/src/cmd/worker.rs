//! `ferret worker`: workers only (ferret-worker) on a task database shared with
//! `ferret serve` (ferret-queue), on this or any other machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args as ClapArgs;
use tokio_util::sync::CancellationToken;

/// Workers one process runs at most.
const MAX_WORKERS: usize = 256;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Task database: postgres://USER@HOST/DB (workers on many machines), or the SQLite
    /// file of a `ferret serve` on this machine (PATH or sqlite://PATH)
    /// [default: DATA/queue.db].
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Workers in this process (tasks analysed at once).
    #[arg(long, default_value_t = 1, value_name = "N")]
    workers: usize,
    /// Data directory: scratch space of the analyses (and the default SQLite database)
    /// [default: $FERRET_DATA_DIR, else $XDG_DATA_HOME/ferret, else ~/.local/share/ferret].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Lease length in seconds: a task whose worker stops heartbeating (killed, cut
    /// off) for this long is retried by another worker.
    #[arg(long, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(2..=86_400))]
    lease: u64,
    /// Skip YARA scanning of samples and dropped files.
    #[arg(long)]
    no_yara: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.workers == 0 || args.workers > MAX_WORKERS {
        anyhow::bail!("--workers {}: 1 to {MAX_WORKERS}", args.workers);
    }
    let data = match args.data {
        Some(d) => d,
        None => ferret_store::data_dir()?,
    };
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let yara = super::serve::yara_scan(args.no_yara)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let db = args.db.as_deref().unwrap_or("");
        let queue = open_patiently(db, &data).await?;
        let shutdown = CancellationToken::new();
        let mut workers = Vec::with_capacity(args.workers);
        for n in 0..args.workers {
            let id = ferret_worker::default_worker_id(n);
            let work = data.join("work").join(&id);
            std::fs::create_dir_all(&work)
                .with_context(|| format!("cannot create {}", work.display()))?;
            let mut cfg = ferret_worker::WorkerConfig::new(id, work)
                .with_lease(Duration::from_secs(args.lease));
            cfg.yara = yara.clone();
            let w = ferret_worker::Worker::new(queue.clone(), cfg);
            workers.push(tokio::spawn(w.run(shutdown.clone())));
        }
        eprintln!(
            "ferret worker: {} worker{} on {} (pid {})",
            args.workers,
            if args.workers == 1 { "" } else { "s" },
            queue.description(),
            std::process::id()
        );
        let stop = shutdown.clone();
        tokio::spawn(async move {
            signalled().await;
            eprintln!(
                "ferret worker: stopping after the running analyses (signal again to quit now; \
                 their tasks are then retried elsewhere)"
            );
            stop.cancel();
            signalled().await;
            eprintln!("ferret worker: quitting now");
            std::process::exit(130);
        });
        for w in workers {
            let _ = w.await;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// How long a starting worker waits for an unreachable database.
const DB_WAIT: Duration = Duration::from_secs(60);

/// Opens the queue; while the database is unreachable (a worker machine booting before
/// the database server), retries for up to [`DB_WAIT`].
async fn open_patiently(db: &str, data: &std::path::Path) -> anyhow::Result<ferret_queue::Queue> {
    let start = std::time::Instant::now();
    loop {
        match ferret_queue::Queue::open(db, data).await {
            Ok(q) => return Ok(q),
            Err(e) if e.is_transient() && start.elapsed() < DB_WAIT => {
                eprintln!(
                    "ferret worker: {e}; retrying (for up to {}s)",
                    DB_WAIT.as_secs()
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e))
                    .with_context(|| format!("opening the task database {db:?}"));
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn signalled() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}
