//! Foreign-architecture samples under `ferret analyze` (issue 6):
//!
//! * the behaviour samples (anti-debugging, renaming, daemonising, persistence,
//!   dropper, scan) built for ARM, AArch64, MIPS, MIPSel and PowerPC, static and
//!   dynamic, run under qemu-user and fire the same ATT&CK-tagged signatures as the
//!   x86-64 build (a table is printed); the report names the architecture and runner
//!   of the sample and of every process;
//! * the network of a foreign `c2_client` (DNS, HTTP, IRC, telnet login, telnet scan)
//!   is in its capture and report exactly as for x86-64;
//! * a MIPS first stage downloads an ARM second stage from the fake HTTP server and
//!   runs it: both stages are in the process record, the second stage's system calls
//!   are traced;
//! * `--arch` overrides the header; dynamically linked i386 programs run natively.
//!
//! Every behaviour for every architecture, static and dynamic, runs (66 analyses, four
//! at a time; `--net none` but for the scan, which gets the fake internet). Runs as root; needs
//! qemu-user-static and the cross C libraries (scripts/apt-packages.txt).

mod analyze_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use analyze_common::{Run, analyze, require_root};
use serde_json::Value;

/// Foreign architectures of the samples (names of scripts/build-samples.sh) and the
/// name ferret reports for each.
const FOREIGN: &[(&str, &str)] = &[
    ("arm", "arm"),
    ("aarch64", "aarch64"),
    ("mips", "mips"),
    ("mipsel", "mipsel"),
    ("powerpc", "ppc"),
];

/// Behaviour samples compared across architectures: anti-debugging, renaming,
/// daemonising, persistence, dropper, scan.
const BEHAVIOURS: &[&str] = &[
    "antidebug_traceme",
    "rename_prctl",
    "daemon_doublefork",
    "persist_cron",
    "dropper",
    "telnet_scan",
];

/// Analyses run at once (the emulated ones are CPU-bound on a 2-core machine).
const PARALLEL: usize = 4;

/// What one analysis showed.
#[derive(Debug, Clone)]
struct Seen {
    /// Names of the ATT&CK-tagged signatures, with their ids.
    sigs: BTreeSet<String>,
    report: Value,
    /// How QEMU's log breaks the one-log-per-process rule, if it does.
    log_problem: Option<String>,
}

/// Every thread (these samples have one per process) writes its guest syscall log to
/// a FIFO of its own (a forked QEMU's inherited descriptor is moved to the child's
/// FIFO before the child runs), and guest-syscalls.log keeps those logs one after
/// the other: each pid's lines form one block. A child whose pieces went into its
/// parent's log would show up as alternating pids. `None` when the rule holds.
fn log_problem(raw: &str) -> Option<String> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut current = None;
    for (n, line) in raw.lines().enumerate() {
        // A forked child's log starts with its half of the fork (` = 0`).
        let Some((pid, _)) = line.split_once(' ').filter(|(p, _)| !p.is_empty()) else {
            continue;
        };
        if current == Some(pid) {
            continue;
        }
        if done.contains(pid) {
            return Some(format!("pid {pid} again at line {}: {line}", n + 1));
        }
        if let Some(c) = current {
            done.insert(c);
        }
        current = Some(pid);
    }
    None
}

fn tagged(run: &Run) -> BTreeSet<String> {
    run.report["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| {
            let ids: Vec<&str> = s["attack"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if ids.is_empty() {
                return None;
            }
            Some(format!(
                "{} [{}]",
                s["name"].as_str().unwrap_or("?"),
                ids.join(",")
            ))
        })
        .collect()
}

fn run_one(arch: &str, name: &str, static_: bool) -> Seen {
    let exe = ferret_samples::path(arch, name, static_);
    // The scan needs peers that answer: the fake internet; the rest runs without a
    // network (cheaper to set up).
    let net: &[&str] = if name == "telnet_scan" {
        &["--net", "fake"]
    } else {
        &["--net", "none"]
    };
    let mut args = vec!["--timeout", "20", "--no-yara"];
    args.extend_from_slice(net);
    let run = analyze(&exe, &args);
    let raw = std::fs::read_to_string(run.out_dir.join("guest-syscalls.log")).unwrap_or_default();
    let seen = Seen {
        sigs: tagged(&run),
        report: run.report.clone(),
        log_problem: log_problem(&raw),
    };
    run.cleanup();
    seen
}

/// Runs `jobs` with at most [`PARALLEL`] at once.
fn run_all(jobs: Vec<(String, bool, String)>) -> BTreeMap<(String, bool, String), Seen> {
    let queue = Mutex::new(jobs);
    let results = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let job = queue.lock().unwrap().pop();
                    let Some((arch, static_, name)) = job else {
                        break;
                    };
                    let seen = run_one(&arch, &name, static_);
                    results.lock().unwrap().insert((arch, static_, name), seen);
                }
            });
        }
    });
    results.into_inner().unwrap()
}

/// The x86-64 runs of the behaviours (static), shared by the tests of this file.
fn baseline() -> &'static BTreeMap<String, Seen> {
    static BASE: OnceLock<BTreeMap<String, Seen>> = OnceLock::new();
    BASE.get_or_init(|| {
        ferret_samples::build();
        let jobs = BEHAVIOURS
            .iter()
            .map(|n| ("x86_64".to_owned(), true, (*n).to_owned()))
            .collect();
        run_all(jobs)
            .into_iter()
            .map(|((_, _, name), seen)| (name, seen))
            .collect()
    })
}

fn short(sigs: &BTreeSet<String>) -> String {
    let ids: BTreeSet<&str> = sigs
        .iter()
        .filter_map(|s| s.rsplit_once('[').map(|(_, ids)| ids.trim_end_matches(']')))
        .collect();
    if ids.is_empty() {
        "-".to_owned()
    } else {
        ids.into_iter().collect::<Vec<_>>().join(",")
    }
}

/// Runs every behaviour for every foreign architecture in one linkage, prints the
/// table, and checks signatures and the architecture records.
fn compare(static_: bool) {
    require_root();
    let base = baseline();
    let mut jobs = Vec::new();
    for (arch, _) in FOREIGN {
        for name in BEHAVIOURS {
            jobs.push(((*arch).to_owned(), static_, (*name).to_owned()));
        }
    }
    let got = run_all(jobs);
    let link = if static_ { "static" } else { "dynamic" };
    let mut table = format!("\n{:<18} {:<28}", "sample", "x86_64 (static)");
    for (arch, _) in FOREIGN {
        table.push_str(&format!(" {:<10}", format!("{arch}")));
    }
    table.push('\n');
    let mut failures = Vec::new();
    for name in BEHAVIOURS {
        let want = &base[*name].sigs;
        table.push_str(&format!("{name:<18} {:<28}", short(want)));
        for (arch, reported) in FOREIGN {
            let seen = &got[&((*arch).to_owned(), static_, (*name).to_owned())];
            let cell = if &seen.sigs == want {
                "same".to_owned()
            } else {
                failures.push(format!(
                    "{arch} {link} {name}: {:?}, x86-64 {:?}",
                    seen.sigs, want
                ));
                format!("DIFF {}", short(&seen.sigs))
            };
            table.push_str(&format!(" {cell:<10}"));
            failures.extend(arch_record_problems(
                &seen.report,
                reported,
                &format!("{arch} {link} {name}"),
            ));
            if let Some(p) = &seen.log_problem {
                failures.push(format!("{arch} {link} {name}: guest-syscalls.log: {p}"));
            }
        }
        table.push('\n');
    }
    eprintln!("{link} builds, ATT&CK-tagged signatures:{table}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The comparison means something only if the behaviours fire on x86-64.
    for name in BEHAVIOURS {
        assert!(!base[*name].sigs.is_empty(), "x86-64 {name} fired nothing");
    }
}

/// Problems of `report` against docs/schema/analysis-report.schema.json.
fn schema_problems(report: &Value) -> Vec<String> {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/schema/analysis-report.schema.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    });
    let validator = jsonschema::validator_for(schema).expect("schema compiles");
    validator
        .iter_errors(report)
        .map(|e| format!("schema: {e} at {}", e.instance_path()))
        .take(10)
        .collect()
}

/// The report names the architecture and QEMU for the sample and its processes and
/// matches the schema; the problems found, if any.
fn arch_record_problems(report: &Value, arch: &str, what: &str) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |ok: bool, msg: String| {
        if !ok {
            bad.push(format!("{what}: {msg}"));
        }
    };
    let a = &report["analysis"]["arch"];
    let runner = a["runner"].as_str().unwrap_or("");
    check(
        a["name"] == arch
            && a["emulated"] == true
            && a["forced"] == false
            && runner.starts_with("qemu-")
            && runner.ends_with("-static"),
        format!("analysis.arch {a}"),
    );
    let procs = report["processes"]["list"].as_array().unwrap();
    let root = &procs[0];
    check(
        root["arch"] == arch
            && root["runner"] == runner
            && root["exe"].as_str().unwrap_or("").starts_with("/root/"),
        format!("the root process is the {arch} sample under {runner}: {root}"),
    );
    for p in procs {
        check(
            p["arch"] == arch && p["runner"] == runner,
            format!("process under {runner}: {p}"),
        );
    }
    // Guest system calls by their guest names.
    let by_name = report["syscalls"]["by_name"].as_object().unwrap();
    check(!by_name.is_empty(), "no system call".to_owned());
    // The tracer attributes every piece of the guest log to its writer, so nothing
    // is left unparsed however the processes' pieces interleave.
    let errors = &report["outcome"]["errors"];
    check(
        errors.as_array().is_some_and(Vec::is_empty),
        format!("errors {errors}"),
    );
    for p in schema_problems(report) {
        bad.push(format!("{what}: {p}"));
    }
    bad
}

#[test]
fn static_builds_fire_the_x86_64_signatures() {
    compare(true);
}

#[test]
fn dynamic_builds_fire_the_x86_64_signatures() {
    compare(false);
}

/// `--arch` overrides the header; a wrong one fails clearly, an unknown one is refused.
#[test]
fn arch_override() {
    require_root();
    ferret_samples::build();
    let exe = ferret_samples::path("arm", "clean", true);
    // Forcing the architecture the header names changes nothing but the record.
    let run = analyze(&exe, &["--arch", "armel", "--net", "none", "--no-yara"]);
    let a = &run.report["analysis"]["arch"];
    assert_eq!(a["name"], "arm", "{a}");
    assert_eq!(a["forced"], false, "{a}");
    assert_eq!(run.report["outcome"]["sample_exit"]["code"], 0);
    run.cleanup();
    // Forcing MIPS on an ARM program: QEMU refuses the image, the report says so.
    let run = analyze(&exe, &["--arch", "mips", "--net", "none", "--no-yara"]);
    let a = &run.report["analysis"]["arch"];
    assert_eq!(a["name"], "mips", "{a}");
    assert_eq!(a["forced"], true, "{a}");
    assert_eq!(a["runner"], "qemu-mips-static", "{a}");
    assert_ne!(run.report["outcome"]["sample_exit"]["code"], 0);
    run.cleanup();
    let out = std::process::Command::new(analyze_common::FERRET)
        .args(["analyze", "--arch", "z80", "--no-store"])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("z80") && err.contains("mipsel"), "{err}");
}

/// Dynamically linked i386 programs run natively: their loader and C library come
/// from the i386 cross C library, bound read-only where the ELF names them.
#[test]
fn i386_dynamic_runs_natively() {
    require_root();
    ferret_samples::build();
    let base = baseline();
    for name in ["antidebug_traceme", "persist_cron", "dropper"] {
        let exe: PathBuf = ferret_samples::path("i386", name, false);
        let run = analyze(&exe, &["--timeout", "20", "--net", "none", "--no-yara"]);
        let what = format!("i386 dynamic {name}");
        let a = &run.report["analysis"]["arch"];
        assert_eq!(a["name"], "i386", "{what}: {a}");
        assert_eq!(a["runner"], "native", "{what}: {a}");
        assert_eq!(a["interpreter"], "/lib/ld-linux.so.2", "{what}: {a}");
        assert_eq!(
            run.report["outcome"]["sample_exit"]["code"],
            0,
            "{what}: {}\nstderr: {}",
            run.report["outcome"],
            std::fs::read_to_string(run.out_dir.join("stderr")).unwrap_or_default()
        );
        assert_eq!(run.report["processes"]["list"][0]["arch"], "i386");
        assert_eq!(tagged(&run), base[name].sigs, "{what}");
        run.cleanup();
    }
}

/// What a report shows of the network, in a form two architectures must share: the
/// capture's DNS questions, HTTP requests, IRC commands and telnet credentials, the
/// scan anomaly, the endpoints the system calls named, and the signatures.
fn network_view(r: &Value) -> BTreeMap<&'static str, BTreeSet<String>> {
    let arr = |ptr: &str| {
        r.pointer(ptr)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut v: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for m in arr("/network/dns") {
        if m["response"] == false {
            for q in m["questions"].as_array().into_iter().flatten() {
                v.entry("dns").or_default().insert(q["name"].to_string());
            }
        }
    }
    for h in arr("/network/http") {
        v.entry("http").or_default().insert(format!(
            "{} {} {} {}:{} {}",
            h["method"], h["host"], h["uri"], h["dst"], h["dport"], h["status"]
        ));
    }
    for m in arr("/network/irc") {
        if m["from_client"] == true {
            v.entry("irc")
                .or_default()
                .insert(format!("{} {}", m["command"], m["params"][0]));
        }
    }
    for t in arr("/network/telnet") {
        for c in t["credentials"].as_array().into_iter().flatten() {
            v.entry("telnet")
                .or_default()
                .insert(format!("{} {}", c["username"], c["password"]));
        }
    }
    for a in arr("/network/anomalies") {
        v.entry("anomalies")
            .or_default()
            .insert(format!("{} {} {}", a["kind"], a["source"], a["count"]));
    }
    for c in arr("/network/connections") {
        v.entry("connect").or_default().insert(format!(
            "{} {} {} {}:{} x{}",
            c["syscall"], c["family"], c["address"], c["port"], c["failed"], c["count"]
        ));
    }
    let sigs: BTreeSet<String> = r["signatures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["attack"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|s| s["name"].to_string())
        .collect();
    v.insert("signatures", sigs);
    v
}

/// The network of a foreign sample (DNS, HTTP, IRC, telnet login, telnet scan) appears
/// in its capture and report exactly as for the x86-64 build, on the default fake
/// internet.
#[test]
fn foreign_network_matches_x86_64() {
    require_root();
    ferret_samples::build();
    let name = format!("cnc{}arch.ferret-botnet.example", std::process::id());
    let jobs: Vec<(&str, bool)> = vec![("x86_64", true), ("mips", true), ("arm", false)];
    let views: Vec<(String, BTreeMap<&'static str, BTreeSet<String>>)> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|(arch, static_)| {
                let name = name.as_str();
                s.spawn(move || {
                    let exe = ferret_samples::path(arch, "c2_client", *static_);
                    let run = analyze(&exe, &["--timeout", "40", "--no-yara", "--args", name]);
                    let view = network_view(&run.report);
                    assert!(
                        run.out_dir.join("capture.pcap").is_file(),
                        "{arch}: no capture"
                    );
                    run.cleanup();
                    (
                        format!("{arch}{}", if *static_ { "-static" } else { "" }),
                        view,
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (base_name, base) = &views[0];
    for key in [
        "dns",
        "http",
        "irc",
        "telnet",
        "anomalies",
        "connect",
        "signatures",
    ] {
        assert!(
            base.contains_key(key),
            "{base_name} shows no {key}: {base:#?}"
        );
    }
    for (what, view) in &views[1..] {
        assert_eq!(view, base, "{what} differs from {base_name}");
    }
    eprintln!("network of c2_client, identical on {:?}:\n{base:#?}", jobs);
}

/// A MIPS sample downloads an ARM second stage from the fake HTTP server, makes it
/// executable and runs it: both stages appear in the process tree with their
/// architectures, and the second stage's system calls are traced.
#[test]
fn mips_first_stage_runs_an_arm_second_stage() {
    require_root();
    ferret_samples::build();
    let stage2 = std::fs::read(ferret_samples::path("arm", "persist_cron", true)).unwrap();
    let first = ferret_samples::path("mips", "second_stage_downloader", false);
    let out = analyze_common::scratch("stage2").join("analysis");
    let net = ferret_analyze::FakeNetOptions {
        config: ferret_analyze::network::FakeNetConfig::default().serve("/stage2", stage2),
        ..ferret_analyze::FakeNetOptions::default()
    };
    let opts = ferret_analyze::AnalyzeOptions {
        timeout: std::time::Duration::from_secs(40),
        network: ferret_analyze::Network::Fake(Box::new(net)),
        out_dir: out.clone(),
        ..ferret_analyze::AnalyzeOptions::default()
    };
    let a = ferret_analyze::analyze(&first, &opts, &mut ferret_analyze::NoProgress).unwrap();
    let r = serde_json::to_value(&a.report).unwrap();
    let invalid = schema_problems(&r);
    assert!(invalid.is_empty(), "{invalid:?}");
    let stdout = std::fs::read_to_string(out.join("stdout")).unwrap_or_default();
    let procs = r["processes"]["list"].as_array().unwrap();
    let root = &procs[0];
    assert_eq!(
        root["arch"], "arm",
        "the first process ends as the ARM stage: {root}\n{stdout}"
    );
    assert_eq!(root["runner"], "qemu-arm-static", "{root}");
    let execs: Vec<&str> = root["execs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        execs,
        vec!["/root/second_stage_downloader", "/tmp/stage2"],
        "{root}"
    );
    assert_eq!(r["analysis"]["arch"]["name"], "mips");
    // The download, the chmod and the exec are the MIPS stage's; the crontab write is
    // the ARM stage's (its own guest system calls).
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let evs: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pos = |pred: &dyn Fn(&Value) -> bool| evs.iter().position(pred);
    let exec_stage2 = pos(&|e: &Value| {
        e["type"] == "execve" && e["args"]["filename"]["path"] == "/tmp/stage2" && e["ret"] == 0
    })
    .unwrap_or_else(|| panic!("no execve of /tmp/stage2\n{stdout}"));
    let arm_exec = pos(&|e: &Value| e["type"] == "procexec" && e["args"]["arch"]["str"] == "arm")
        .expect("procexec of the ARM stage");
    assert!(arm_exec > 0);
    let cron_write = pos(&|e: &Value| {
        matches!(e["type"].as_str(), Some("openat" | "open"))
            && e["args"]["name"]["path"]
                .as_str()
                .is_some_and(|p| p.contains("cron"))
    })
    .unwrap_or_else(|| panic!("the ARM stage's crontab write is not traced\n{stdout}"));
    assert!(cron_write > exec_stage2, "{cron_write} <= {exec_stage2}");
    let ids: BTreeSet<&str> = r["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            s["attack"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
        })
        .collect();
    for id in ["T1204.002", "T1053.003", "T1222.002"] {
        assert!(ids.contains(id), "ATT&CK {id} missing: {ids:?}");
    }
    let http: Vec<&Value> = r["network"]["http"].as_array().unwrap().iter().collect();
    assert!(
        http.iter()
            .any(|h| h["uri"] == "/stage2" && h["status"] == 200),
        "{http:?}"
    );
    let _ = std::fs::remove_dir_all(out.parent().unwrap_or(&out));
}
