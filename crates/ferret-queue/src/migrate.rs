//! Schema migrations of both databases: numbered steps, applied in order on open.
//!
//! SQLite records the version in `PRAGMA user_version`; PostgreSQL in the table
//! `ferret_schema`, under an advisory lock so that nodes starting together do not
//! migrate twice. Never edit a released step: append a new one.

/// SQLite steps; step `i` brings the schema to version `i + 1`.
pub(crate) const SQLITE: &[&str] = &[r"
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    refs INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    options TEXT NOT NULL,
    input_name TEXT NOT NULL,
    input_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    input_size INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    worker TEXT,
    lease_token INTEGER,
    lease_expires INTEGER,
    error TEXT,
    verdict TEXT,
    score REAL
);
CREATE INDEX tasks_state ON tasks(state, id);
CREATE INDEX tasks_done ON tasks(finished_at) WHERE state = 'done';
CREATE TABLE artifacts (
    task_id INTEGER NOT NULL REFERENCES tasks(id),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size INTEGER NOT NULL,
    PRIMARY KEY (task_id, name)
);
CREATE TABLE task_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    event TEXT NOT NULL,
    worker TEXT,
    attempt INTEGER NOT NULL,
    detail TEXT
);
CREATE INDEX task_log_task ON task_log(task_id);
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    last_seen INTEGER NOT NULL
);
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
);
"];

/// PostgreSQL steps; step `i` brings the schema to version `i + 1`.
pub(crate) const POSTGRES: &[&str] = &[r"
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    refs BIGINT NOT NULL,
    data BYTEA NOT NULL
);
CREATE TABLE tasks (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    options TEXT NOT NULL,
    input_name TEXT NOT NULL,
    input_sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    input_size BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    worker TEXT,
    lease_token BIGINT,
    lease_expires BIGINT,
    error TEXT,
    verdict TEXT,
    score DOUBLE PRECISION
);
CREATE INDEX tasks_state ON tasks(state, id);
CREATE INDEX tasks_done ON tasks(finished_at) WHERE state = 'done';
CREATE TABLE artifacts (
    task_id BIGINT NOT NULL REFERENCES tasks(id),
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES blobs(sha256),
    size BIGINT NOT NULL,
    PRIMARY KEY (task_id, name)
);
CREATE TABLE task_log (
    id BIGSERIAL PRIMARY KEY,
    task_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    worker TEXT,
    attempt BIGINT NOT NULL,
    detail TEXT
);
CREATE INDEX task_log_task ON task_log(task_id);
CREATE TABLE workers (
    id TEXT PRIMARY KEY,
    last_seen BIGINT NOT NULL
);
CREATE TABLE tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
"];
