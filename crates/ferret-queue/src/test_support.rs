//! A private PostgreSQL cluster for tests (feature `test-support`).
//!
//! CI machines have Debian's `postgresql` installed but no running server (service
//! starts are blocked there), so each test starts its own: `initdb` in a temporary
//! directory, a server on a free loopback port with its unix socket in that directory,
//! stopped and removed when the [`PgCluster`] is dropped, also when the test panics.
//! As root the server programs run as the `postgres` user (`runuser`), since PostgreSQL
//! refuses to run as root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running PostgreSQL server of a test.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
    url: String,
}

/// The directory of the PostgreSQL server programs: `$FERRET_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` that has `initdb`.
pub fn pg_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("FERRET_PG_BIN") {
        let dir = PathBuf::from(dir);
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(format!("FERRET_PG_BIN={}: no initdb there", dir.display()))
        };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        "PostgreSQL server programs not found (no /usr/lib/postgresql/*/bin/initdb): \
         install Debian's postgresql package (scripts/apt-packages.txt lists it; \
         scripts/install.sh installs it)"
            .to_owned()
    })
}

fn uid_gid_of(user: &str) -> Result<(u32, u32), String> {
    let passwd =
        std::fs::read_to_string("/etc/passwd").map_err(|e| format!("reading /etc/passwd: {e}"))?;
    passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            if f.next()? != user {
                return None;
            }
            let _password = f.next()?;
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .ok_or_else(|| {
            format!("no user {user:?} (Debian's postgresql package creates it); cannot run PostgreSQL as root")
        })
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl PgCluster {
    /// Creates and starts a cluster. Errors say what is missing or what failed (with the
    /// server log).
    pub fn start() -> Result<PgCluster, String> {
        let bin = pg_bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("ferret-pg-")
            .tempdir()
            .map_err(|e| format!("creating a directory for the cluster: {e}"))?;
        if as_postgres {
            let (uid, gid) = uid_gid_of("postgres")?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .map_err(|e| format!("chown {} to postgres: {e}", dir.path().display()))?;
        }
        let port = free_port()?;
        let cluster = PgCluster {
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            port,
            as_postgres,
        };
        let data = cluster.data_dir();
        let data = data
            .to_str()
            .ok_or("temporary directory path is not UTF-8")?;
        cluster.run(
            "initdb",
            &[
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        )?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket (`.s.PGSQL.PORT`).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<String, String> {
        let exe = self.bin.join(program);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        // The postgres user may not be able to enter the test's directory.
        cmd.args(args).current_dir(self.dir.path());
        let out = cmd
            .output()
            .map_err(|e| format!("running {}: {e}", exe.display()))?;
        if out.status.success() {
            Ok(text(&out))
        } else {
            let log = std::fs::read_to_string(self.log_file()).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            Err(format!(
                "{program} {args:?} failed ({}): {}\nserver log (last lines, newest first):\n{}",
                out.status,
                text(&out).trim(),
                tail.join("\n")
            ))
        }
    }

    fn pg_ctl(&self, action: &str, extra: &[&str]) -> Result<(), String> {
        let data = self.data_dir();
        let log = self.log_file();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off \
             -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let mut args = vec![
            action,
            "-w",
            "-t",
            "60",
            "-D",
            data.to_str().ok_or("path is not UTF-8")?,
            "-l",
            log.to_str().ok_or("path is not UTF-8")?,
            "-o",
            &opts,
        ];
        args.extend_from_slice(extra);
        self.run("pg_ctl", &args).map(|_| ())
    }

    fn start_server(&self) -> Result<(), String> {
        self.pg_ctl("start", &[])
    }

    /// Stops the server (fast shutdown: sessions are disconnected).
    pub fn stop(&self) -> Result<(), String> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "stop",
                "-w",
                "-m",
                "fast",
                "-D",
                data.to_str().ok_or("path is not UTF-8")?,
            ],
        )
        .map(|_| ())
    }

    /// Starts the server again after [`PgCluster::stop`].
    pub fn start_again(&self) -> Result<(), String> {
        self.start_server()
    }

    /// Restarts the server: every client connection is cut.
    pub fn restart(&self) -> Result<(), String> {
        self.pg_ctl("restart", &["-m", "fast"])
    }

    /// Runs SQL with `psql` in the database `postgres` and returns its unaligned,
    /// tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.psql_in("postgres", sql)
    }

    /// Runs SQL with `psql` in database `db`.
    pub fn psql_in(&self, db: &str, sql: &str) -> Result<String, String> {
        let port = self.port.to_string();
        self.run(
            "psql",
            &[
                "-X",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ],
        )
        .map(|s| s.trim().to_owned())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        if let Some(data) = data.to_str() {
            // Immediate: the data is thrown away anyway.
            let _ = self.run("pg_ctl", &["stop", "-w", "-m", "immediate", "-D", data]);
        }
        // The TempDir removes the directory (root may remove the postgres user's files;
        // as another user, the files are ours).
    }
}

fn is_root() -> bool {
    // /proc/self/status "Uid:" line: real, effective, saved, fs.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .map(|euid| euid == "0")
        })
        .unwrap_or(false)
}
