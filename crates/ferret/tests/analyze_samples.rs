//! Done-when 1 with the project's behaviour samples (samples/src, built by
//! scripts/build-samples.sh): each fires its expected signatures, asserted by ATT&CK id,
//! dynamic and static x86-64 builds and static i386 builds; `clean` is judged clean.
//! Samples that need what `--net none` or the sandbox's minimal /dev do not offer
//! (watchdog device, iptables, the C2) are checked for what they can show.
//! Runs as root.

mod analyze_common;

use analyze_common::{analyze, assert_attack, require_root};

/// Sample → ATT&CK ids it must fire.
const EXPECTED: &[(&str, &[&str])] = &[
    ("antidebug_traceme", &["T1622"]),
    ("rename_prctl", &["T1036.004"]),
    ("daemon_doublefork", &["T1564"]),
    ("selfdelete", &["T1070.004"]),
    ("persist_cron", &["T1053.003"]),
    ("persist_initd", &["T1037.004"]),
    ("persist_rclocal", &["T1037.004"]),
    ("persist_systemd", &["T1543.002"]),
    ("persist_shellrc", &["T1546.004"]),
    ("persist_ldpreload", &["T1574.006"]),
    ("persist_sshkey", &["T1098.004"]),
    ("cred_read", &["T1003.008", "T1087.001"]),
    ("proc_walk_kill", &["T1057", "T1489"]),
    ("memfd_exec", &["T1620", "T1036.004"]),
    ("dropper", &["T1204.002", "T1222.002"]),
    ("raw_socket", &["T1040"]),
    ("history_wipe", &["T1070.003", "T1070.002"]),
    ("kmod_bpf", &["T1547.006"]),
    ("download_exec", &["T1105"]),
];

fn run_expected(arch: &str, static_: bool, names: &[(&str, &[&str])]) {
    ferret_samples::build();
    for (name, want) in names {
        let exe = ferret_samples::path(arch, name, static_);
        let run = analyze(&exe, &["--timeout", "30"]);
        let what = format!("{arch} {name}{}", if static_ { " (static)" } else { "" });
        assert_attack(&run, &what, want);
        assert_ne!(run.verdict(), "clean", "{what}");
        assert!(
            run.report["outcome"]["errors"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{what}: {}",
            run.report["outcome"]
        );
        run.cleanup();
    }
}

#[test]
fn x86_64_dynamic() {
    require_root();
    run_expected("x86_64", false, EXPECTED);
}

#[test]
fn x86_64_static() {
    require_root();
    run_expected("x86_64", true, EXPECTED);
}

#[test]
fn i386_static() {
    require_root();
    // i386 programs on the x86-64 host: the tracer decodes the i386 ABI.
    let picked: Vec<(&str, &[&str])> = EXPECTED
        .iter()
        .filter(|(n, _)| {
            matches!(
                *n,
                "antidebug_traceme"
                    | "persist_cron"
                    | "cred_read"
                    | "memfd_exec"
                    | "raw_socket"
                    | "kmod_bpf"
            )
        })
        .copied()
        .collect();
    run_expected("i386", true, &picked);
}

#[test]
fn all_in_one_and_clean() {
    require_root();
    ferret_samples::build();
    let run = analyze(
        &ferret_samples::path("x86_64", "all_in_one", false),
        &["--timeout", "60"],
    );
    let all: Vec<&str> = EXPECTED
        .iter()
        .flat_map(|(_, w)| w.iter().copied())
        .collect();
    assert_attack(&run, "all_in_one", &all);
    assert_eq!(run.verdict(), "malicious");
    run.cleanup();
    for static_ in [false, true] {
        let run = analyze(&ferret_samples::path("x86_64", "clean", static_), &[]);
        assert_eq!(run.verdict(), "clean", "{}", run.report["signatures"]);
        assert!(run.report["signatures"].as_array().unwrap().is_empty());
        assert_eq!(run.report["outcome"]["sample_exit"]["code"], 0);
        run.cleanup();
    }
    // Without a network the scan's connects fail at once, so the telnet rule (which
    // wants a connection under way) stays quiet; every attempt is still reported.
    let run = analyze(
        &ferret_samples::path("x86_64", "telnet_scan", true),
        &["--net", "none"],
    );
    let conns = run.report["network"]["connections"].as_array().unwrap();
    let telnet = conns
        .iter()
        .filter(|c| c["port"] == 23 || c["port"] == 2323)
        .count();
    assert_eq!(telnet, 128, "{conns:?}");
    run.cleanup();
}
