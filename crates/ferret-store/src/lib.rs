//! ferret's analysis database: one SQLite file (WAL journal) holding every analysis —
//! id, time, sample name, SHA-256, verdict, score, report JSON and output directory —
//! so that `ferret list` and `ferret show ID` work without a server.
//!
//! The database lives at [`default_path`] unless told otherwise. A file that is not a
//! usable database is reported as such and never overwritten: existing rows are never
//! lost (writes are single transactions, the schema is only ever created if absent).
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

/// Version of the table layout, kept in SQLite's `user_version`.
const SCHEMA_VERSION: i64 = 1;

/// Errors of the store.
#[derive(Debug)]
pub enum Error {
    /// No data directory could be determined.
    NoDataDir,
    /// The database directory cannot be created.
    Dir {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// SQLite refused an operation.
    Db {
        /// The database file.
        path: PathBuf,
        /// What was being done.
        context: &'static str,
        /// The error.
        source: rusqlite::Error,
    },
    /// The database was written by a newer ferret.
    Version {
        /// The database file.
        path: PathBuf,
        /// Its layout version.
        found: i64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDataDir => {
                f.write_str("no data directory: set FERRET_DATA_DIR, XDG_DATA_HOME or HOME")
            }
            Error::Dir { path, source } => {
                write!(
                    f,
                    "cannot create the database directory {}: {source}",
                    path.display()
                )
            }
            Error::Db {
                path,
                context,
                source,
            } => {
                let corrupt = matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
                );
                if corrupt {
                    write!(
                        f,
                        "the analysis database {} is corrupt or not an SQLite database ({source}) while {context}; it was left untouched — move it away to start a new one",
                        path.display()
                    )
                } else {
                    write!(
                        f,
                        "analysis database {}: {context}: {source}",
                        path.display()
                    )
                }
            }
            Error::Version { path, found } => write!(
                f,
                "the analysis database {} has layout version {found}, newer than this ferret's {SCHEMA_VERSION}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Dir { source, .. } => Some(source),
            Error::Db { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// ferret's data directory: `$FERRET_DATA_DIR`, else `$XDG_DATA_HOME/ferret`, else
/// `~/.local/share/ferret`.
pub fn data_dir() -> Result<PathBuf> {
    let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = nonempty("FERRET_DATA_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = nonempty("XDG_DATA_HOME") {
        return Ok(PathBuf::from(d).join("ferret"));
    }
    nonempty("HOME")
        .map(|h| PathBuf::from(h).join(".local/share/ferret"))
        .ok_or(Error::NoDataDir)
}

/// The database file in the [`data_dir`]: `ferret.db`.
pub fn default_path() -> Result<PathBuf> {
    Ok(data_dir()?.join("ferret.db"))
}

/// An analysis to record.
#[derive(Debug, Clone)]
pub struct NewAnalysis<'a> {
    /// Start time, seconds since the Unix epoch.
    pub time: u64,
    /// Sample file name.
    pub sample_name: &'a str,
    /// Sample SHA-256 (hex).
    pub sha256: &'a str,
    /// `clean`, `suspicious` or `malicious`.
    pub verdict: &'a str,
    /// Score 0-10.
    pub score: f64,
    /// The whole report.json.
    pub report_json: &'a str,
    /// Output directory of the analysis.
    pub out_dir: &'a str,
}

/// One stored analysis (without its report).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Id, increasing.
    pub id: i64,
    /// Start time, seconds since the Unix epoch.
    pub time: u64,
    /// Sample file name.
    pub sample_name: String,
    /// Sample SHA-256.
    pub sha256: String,
    /// Verdict.
    pub verdict: String,
    /// Score.
    pub score: f64,
    /// Output directory.
    pub out_dir: String,
}

/// An open analysis database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at [`default_path`].
    pub fn open_default() -> Result<Store> {
        Store::open(&default_path()?)
    }

    /// Opens (creating if needed) the database at `path`, with its directory.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let db = |context: &'static str| {
            let path = path.to_path_buf();
            move |source| Error::Db {
                path,
                context,
                source,
            }
        };
        let mut conn = Connection::open(path).map_err(db("opening"))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(db("setting the busy timeout"))?;
        // The first real read: a file that is not a database fails here, untouched.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db("reading the layout version"))?;
        if version > SCHEMA_VERSION {
            return Err(Error::Version {
                path: path.to_path_buf(),
                found: version,
            });
        }
        let _mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(db("switching to the WAL journal"))?;
        let tx = conn.transaction().map_err(db("starting a transaction"))?;
        tx.execute_batch(
            "CREATE TABLE IF NOT EXISTS analyses (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time INTEGER NOT NULL,
                sample_name TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                verdict TEXT NOT NULL,
                score REAL NOT NULL,
                report TEXT NOT NULL,
                out_dir TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS analyses_sha256 ON analyses(sha256);",
        )
        .map_err(db("creating the tables"))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db("setting the layout version"))?;
        tx.commit().map_err(db("committing the layout"))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error + use<> {
        let path = self.path.clone();
        move |source| Error::Db {
            path,
            context,
            source,
        }
    }

    /// Records an analysis; returns its id.
    pub fn insert(&mut self, a: &NewAnalysis<'_>) -> Result<i64> {
        let (e1, e2, e3) = (
            self.err("starting a transaction"),
            self.err("inserting an analysis"),
            self.err("committing"),
        );
        let tx = self.conn.transaction().map_err(e1)?;
        tx.execute(
            "INSERT INTO analyses (time, sample_name, sha256, verdict, score, report, out_dir)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                i64::try_from(a.time).unwrap_or(i64::MAX),
                a.sample_name,
                a.sha256,
                a.verdict,
                a.score,
                a.report_json,
                a.out_dir
            ],
        )
        .map_err(e2)?;
        let id = tx.last_insert_rowid();
        tx.commit().map_err(e3)?;
        Ok(id)
    }

    /// The most recent `limit` analyses, newest first.
    pub fn list(&self, limit: usize) -> Result<Vec<Entry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, time, sample_name, sha256, verdict, score, out_dir
                 FROM analyses ORDER BY id DESC LIMIT ?1",
            )
            .map_err(self.err("listing analyses"))?;
        let rows = stmt
            .query_map([i64::try_from(limit).unwrap_or(i64::MAX)], entry)
            .map_err(self.err("listing analyses"))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err("reading an analysis row"))
    }

    /// Analysis `id` with its report JSON, if it exists.
    pub fn get(&self, id: i64) -> Result<Option<(Entry, String)>> {
        self.conn
            .query_row(
                "SELECT id, time, sample_name, sha256, verdict, score, out_dir, report
                 FROM analyses WHERE id = ?1",
                [id],
                |r| Ok((entry(r)?, r.get::<_, String>(7)?)),
            )
            .optional()
            .map_err(self.err("reading an analysis"))
    }
}

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    Ok(Entry {
        id: r.get(0)?,
        time: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        sample_name: r.get(2)?,
        sha256: r.get(3)?,
        verdict: r.get(4)?,
        score: r.get(5)?,
        out_dir: r.get(6)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> NewAnalysis<'_> {
        NewAnalysis {
            time: 1_700_000_000,
            sample_name: name,
            sha256: "ab",
            verdict: "clean",
            score: 0.5,
            report_json: "{\"x\":1}",
            out_dir: "/tmp/out",
        }
    }

    #[test]
    fn insert_list_get_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/ferret.db");
        let mut s = Store::open(&path).unwrap();
        let a = s.insert(&sample("a")).unwrap();
        let b = s.insert(&sample("b")).unwrap();
        assert!(b > a);
        drop(s);
        let s = Store::open(&path).unwrap();
        let l = s.list(10).unwrap();
        assert_eq!(
            l.iter().map(|e| e.sample_name.as_str()).collect::<Vec<_>>(),
            ["b", "a"]
        );
        let (e, rep) = s.get(a).unwrap().unwrap();
        assert_eq!(e.sample_name, "a");
        assert_eq!(e.score, 0.5);
        assert_eq!(rep, "{\"x\":1}");
        assert!(s.get(b + 100).unwrap().is_none());
        assert_eq!(s.list(1).unwrap().len(), 1);
    }

    #[test]
    fn corrupt_file_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferret.db");
        let junk = b"this is not an sqlite database, but somebody's notes\n".repeat(200);
        std::fs::write(&path, &junk).unwrap();
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("corrupt or not an SQLite database"), "{err}");
        assert!(err.contains("ferret.db"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), junk);
    }

    #[test]
    fn damaged_pages_keep_the_error_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferret.db");
        {
            let mut s = Store::open(&path).unwrap();
            for i in 0..50 {
                s.insert(&sample(&format!("s{i}"))).unwrap();
            }
        }
        // Overwrite everything after the header page with garbage.
        let mut data = std::fs::read(&path).unwrap();
        for b in data.iter_mut().skip(100) {
            *b = 0xa5;
        }
        std::fs::write(&path, &data).unwrap();
        let _ = std::fs::remove_file(dir.path().join("ferret.db-wal"));
        let _ = std::fs::remove_file(dir.path().join("ferret.db-shm"));
        let r = Store::open(&path).and_then(|s| s.list(100));
        let err = r.unwrap_err().to_string();
        assert!(err.contains("ferret.db"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            data,
            "the file must stay untouched"
        );
    }

    #[test]
    fn newer_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ferret.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&path).unwrap_err().to_string();
        assert!(err.contains("layout version 99"), "{err}");
    }
}
