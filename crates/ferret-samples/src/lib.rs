//! ferret's benign behaviour samples, for tests.
//!
//! The samples are C programs in `samples/src/` (one imitated IoT-malware behaviour
//! each, plus containment stressors and `all_in_one`), compiled by
//! `scripts/build-samples.sh` for every architecture in [`ARCHES`], dynamic and
//! `-static`. Tests call [`build`] (once per process; concurrent test binaries are
//! serialised by a file lock and the script's own incremental check) and then
//! [`path`] to find a binary:
//!
//! ```no_run
//! let exe = ferret_samples::path("mipsel", "telnet_scan", true);
//! assert!(exe.starts_with(ferret_samples::build()));
//! ```
//!
//! The output directory is `<workspace>/target/samples`, or `$FERRET_SAMPLES_DIR` when
//! set. Never run a sample outside ferret's sandbox: the harmful ones refuse to, but the
//! others still touch the network and `/tmp`.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Architectures the samples are built for, as named in output paths and by
/// `build-samples.sh --arch`.
pub const ARCHES: &[&str] = &[
    "x86_64", "i386", "arm", "aarch64", "mips", "mipsel", "powerpc",
];

/// Behaviour samples: each imitates one malware behaviour (`clean` imitates none and
/// must be judged clean; `all_in_one` runs most of the others in one process).
pub const BEHAVIOURS: &[&str] = &[
    "antidebug_traceme",
    "rename_prctl",
    "daemon_doublefork",
    "selfdelete",
    "persist_cron",
    "persist_initd",
    "persist_rclocal",
    "persist_systemd",
    "persist_shellrc",
    "persist_ldpreload",
    "persist_sshkey",
    "cred_read",
    "proc_walk_kill",
    "watchdog",
    "memfd_exec",
    "dropper",
    "raw_socket",
    "telnet_scan",
    "iptables_flush",
    "download_exec",
    "history_wipe",
    "kmod_bpf",
    "c2_client",
    "second_stage_downloader",
    "clean",
    "all_in_one",
];

/// Containment samples: they stress the sandbox (resources, escapes, signals).
pub const CONTAINMENT: &[&str] = &[
    "fork_bomb",
    "memory_bomb",
    "tmpfs_filler",
    "sleeper",
    "kill_all",
    "host_write",
    "ptrace_tracer",
    "many_files",
    "stdout_flood",
];

/// Every sample name: [`BEHAVIOURS`] then [`CONTAINMENT`].
pub const NAMES: &[&str] = &[
    "antidebug_traceme",
    "rename_prctl",
    "daemon_doublefork",
    "selfdelete",
    "persist_cron",
    "persist_initd",
    "persist_rclocal",
    "persist_systemd",
    "persist_shellrc",
    "persist_ldpreload",
    "persist_sshkey",
    "cred_read",
    "proc_walk_kill",
    "watchdog",
    "memfd_exec",
    "dropper",
    "raw_socket",
    "telnet_scan",
    "iptables_flush",
    "download_exec",
    "history_wipe",
    "kmod_bpf",
    "c2_client",
    "second_stage_downloader",
    "clean",
    "all_in_one",
    "fork_bomb",
    "memory_bomb",
    "tmpfs_filler",
    "sleeper",
    "kill_all",
    "host_write",
    "ptrace_tracer",
    "many_files",
    "stdout_flood",
];

/// The C2 name the network samples use unless given one as their first argument.
pub const C2_NAME: &str = "cnc.ferret-botnet.example";

/// The ELF `e_machine` of an architecture of [`ARCHES`] (`None` for unknown names).
pub fn elf_machine(arch: &str) -> Option<u16> {
    Some(match arch {
        "x86_64" => 62,
        "i386" => 3,
        "arm" => 40,
        "aarch64" => 183,
        "mips" | "mipsel" => 8,
        "powerpc" => 20,
        _ => return None,
    })
}

/// Why the samples could not be built.
#[derive(Debug)]
pub enum Error {
    /// The build script could not be started, or the lock/output directory failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The build script failed; `output` holds its stderr (the compiler's messages).
    Build {
        /// Exit status as text.
        status: String,
        /// The script's stderr and stdout.
        output: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::Build { status, output } => {
                write!(f, "scripts/build-samples.sh failed ({status}):\n{output}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Build { .. } => None,
        }
    }
}

fn workspace_root() -> &'static Path {
    // crates/ferret-samples -> the workspace root, two levels up.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().and_then(Path::parent).unwrap_or(manifest)
}

/// Where the samples are (or will be) built: `$FERRET_SAMPLES_DIR` or
/// `<workspace>/target/samples`. Does not build anything.
pub fn out_dir() -> PathBuf {
    match std::env::var_os("FERRET_SAMPLES_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("target").join("samples"),
    }
}

/// The build script's path.
pub fn script() -> PathBuf {
    workspace_root().join("scripts").join("build-samples.sh")
}

/// Builds every sample for every architecture (incrementally) and returns the output
/// directory. Runs the script at most once per process; other processes doing the same
/// wait on a lock file in the output directory.
pub fn try_build() -> Result<&'static Path, &'static Error> {
    static BUILT: OnceLock<Result<PathBuf, Error>> = OnceLock::new();
    BUILT.get_or_init(run_build).as_deref()
}

/// Like [`try_build`], for tests: panics with the compiler's messages if the build fails.
pub fn build() -> &'static Path {
    match try_build() {
        Ok(p) => p,
        Err(e) => panic!("building ferret's samples failed: {e}"),
    }
}

fn run_build() -> Result<PathBuf, Error> {
    let out = out_dir();
    fs::create_dir_all(&out).map_err(|source| Error::Io {
        context: format!("creating {}", out.display()),
        source,
    })?;
    let lock_path = out.join(".ferret-samples.lock");
    let lock = File::create(&lock_path).map_err(|source| Error::Io {
        context: format!("opening {}", lock_path.display()),
        source,
    })?;
    lock.lock().map_err(|source| Error::Io {
        context: format!("locking {}", lock_path.display()),
        source,
    })?;
    let script = script();
    let output = Command::new("bash")
        .arg(&script)
        .arg("--out")
        .arg(&out)
        .output()
        .map_err(|source| Error::Io {
            context: format!("running {}", script.display()),
            source,
        })?;
    // The lock is released when `lock` drops, after the script finished.
    drop(lock);
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        return Err(Error::Build {
            status: output.status.to_string(),
            output: text,
        });
    }
    Ok(out)
}

/// Path of a built sample: `<out>/<arch>/<name>` or `<out>/<arch>/<name>-static`.
/// Does not build; call [`build`] first.
pub fn path(arch: &str, name: &str, static_: bool) -> PathBuf {
    let file = if static_ {
        format!("{name}-static")
    } else {
        name.to_owned()
    };
    out_dir().join(arch).join(file)
}

/// The C source of a sample (`samples/src/<name>.c`).
pub fn source(name: &str) -> PathBuf {
    workspace_root()
        .join("samples")
        .join("src")
        .join(format!("{name}.c"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_behaviours_then_containment_and_have_sources() {
        let joined: Vec<&str> = BEHAVIOURS.iter().chain(CONTAINMENT).copied().collect();
        assert_eq!(NAMES, joined.as_slice());
        for n in NAMES {
            assert!(source(n).is_file(), "{} is missing", source(n).display());
        }
        // And no source without a name: other tests rely on NAMES being complete.
        let mut on_disk: Vec<String> = fs::read_dir(workspace_root().join("samples/src"))
            .expect("samples/src")
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".c").map(str::to_owned)
            })
            .collect();
        on_disk.sort();
        let mut names: Vec<&str> = NAMES.to_vec();
        names.sort_unstable();
        assert_eq!(on_disk, names);
    }

    #[test]
    fn every_arch_has_a_machine_and_paths_are_stable() {
        for a in ARCHES {
            assert!(elf_machine(a).is_some(), "{a}");
        }
        assert_eq!(elf_machine("sparc"), None);
        assert!(path("arm", "clean", true).ends_with("arm/clean-static"));
        assert!(path("arm", "clean", false).ends_with("arm/clean"));
    }
}
