//! `ferret serve`: the HTTP API and web UI (ferret-server) and N in-process workers
//! (ferret-worker) on one task queue (ferret-queue).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use clap::Args as ClapArgs;
use tokio_util::sync::CancellationToken;

/// Workers one process runs at most.
const MAX_WORKERS: usize = 256;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Address to listen on. Loopback by default: any other address is reachable from
    /// the network (a warning is printed). Port 0 picks a free port (printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: SocketAddr,
    /// Task database: a SQLite file, sqlite://PATH, or postgres://USER@HOST/DB
    /// [default: DATA/queue.db].
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// In-process workers (0: API only; run `ferret worker` elsewhere).
    #[arg(long, default_value_t = 1, value_name = "N")]
    workers: usize,
    /// Data directory: the SQLite database and the workers' scratch space
    /// [default: $FERRET_DATA_DIR, else $XDG_DATA_HOME/ferret, else ~/.local/share/ferret].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Largest upload: bytes, or with a K, M or G suffix (binary units).
    #[arg(long, default_value = "64M", value_parser = parse_size, value_name = "SIZE")]
    max_upload: u64,
    /// Skip YARA scanning of samples and dropped files in the workers.
    #[arg(long)]
    no_yara: bool,
}

/// `64M` → 67108864; plain numbers are bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 1048576, 512K, 64M, 1G)"))?;
    let v = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    if v == 0 {
        return Err("the upload limit must be at least 1 byte".into());
    }
    Ok(v)
}

/// A YARA scan shared by the workers (bundled rules), or `None` without YARA.
pub fn yara_scan(no_yara: bool) -> anyhow::Result<Option<ferret_worker::YaraScan>> {
    let yara = crate::yara::Yara::load(&crate::yara::YaraArgs {
        enabled: !no_yara,
        bundled: true,
        dirs: &[],
        cache_dir: None,
    })?;
    if yara.scanner().is_none() {
        return Ok(None);
    }
    // One rule set for every worker; the mutex makes it usable from their threads
    // whatever the rules' own thread-safety (scans are short next to a detonation).
    let yara = Mutex::new(yara);
    Ok(Some(Arc::new(move |data: &[u8]| {
        let guard = yara.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .scanner()
            .map(|mut s| s.scan(data))
            .unwrap_or_default()
    })))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn signalled() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.workers > MAX_WORKERS {
        anyhow::bail!("--workers {}: at most {MAX_WORKERS}", args.workers);
    }
    let data = match args.data {
        Some(d) => d,
        None => ferret_store::data_dir()?,
    };
    std::fs::create_dir_all(&data)
        .with_context(|| format!("cannot create the data directory {}", data.display()))?;
    let yara = if args.workers > 0 {
        yara_scan(args.no_yara)?
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let db = args.db.as_deref().unwrap_or("");
        let queue = ferret_queue::Queue::open(db, &data)
            .await
            .with_context(|| format!("opening the task database {db:?}"))?;
        let listener = ferret_server::bind(args.listen)
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let local = listener.local_addr().context("reading the bound address")?;
        if !ferret_server::is_loopback(&local) {
            eprintln!(
                "ferret serve: warning: listening on {local}, which other machines may reach; \
                 every route but /healthz needs a token, but traffic is plain HTTP (put TLS in \
                 front of it)"
            );
        }

        let shutdown = CancellationToken::new();
        let mut workers = Vec::with_capacity(args.workers);
        for n in 0..args.workers {
            let id = ferret_worker::default_worker_id(n);
            let work = data.join("work").join(&id);
            std::fs::create_dir_all(&work)
                .with_context(|| format!("cannot create {}", work.display()))?;
            let mut cfg = ferret_worker::WorkerConfig::new(id, work);
            cfg.yara = yara.clone();
            let w = ferret_worker::Worker::new(queue.clone(), cfg);
            workers.push(tokio::spawn(w.run(shutdown.clone())));
        }

        let state = ferret_server::AppState::new(
            queue.clone(),
            ferret_server::Config {
                upload_limit: args.max_upload,
                ..ferret_server::Config::default()
            },
        );
        // The address line is what scripts (and the tests) wait for: print it last.
        println!(
            "ferret serve: listening on http://{local}/ (database {}, {} worker{})",
            queue.description(),
            args.workers,
            if args.workers == 1 { "" } else { "s" }
        );
        std::io::stdout().flush().ok();

        let stop = shutdown.clone();
        tokio::spawn(async move {
            signalled().await;
            eprintln!("ferret serve: shutting down (the running analyses finish first)");
            stop.cancel();
        });
        let served =
            ferret_server::serve(listener, state, shutdown.clone().cancelled_owned()).await;
        shutdown.cancel();
        for w in workers {
            let _ = w.await;
        }
        served.context("serving HTTP")?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("-1M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }
}
