//! Done-when 1: each behaviour fires its expected signatures, asserted by ATT&CK id;
//! a plain program, /bin/ls, /bin/true and an echo-only script are judged clean.
//! Runs as root (the sandbox needs namespaces, mounts and cgroups).

mod analyze_common;

use analyze_common::{analyze, assert_attack, behave, require_root, scratch};
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;

fn bin() -> &'static std::path::Path {
    static BIN: OnceLock<std::path::PathBuf> = OnceLock::new();
    BIN.get_or_init(behave)
}

fn check(mode: &str, want: &[&str]) {
    let run = analyze(bin(), &["--timeout", "20", "--args", mode]);
    assert_attack(&run, mode, want);
    assert_ne!(
        run.verdict(),
        "clean",
        "{mode}: a behaviour sample must not be clean"
    );
    run.cleanup();
}

#[test]
fn anti_analysis_and_masquerading() {
    require_root();
    check("antidebug", &["T1622"]);
    check("rename", &["T1036.004"]);
    check("selfdelete", &["T1070.004"]);
    check("history", &["T1070.003"]);
}

#[test]
fn daemon_outlives_its_parent() {
    require_root();
    let run = analyze(bin(), &["--timeout", "20", "--args", "daemon"]);
    assert_attack(&run, "daemon", &["T1564"]);
    // Sample, its child and the grandchild daemon, linked by ppid.
    let procs = run.report["processes"]["list"].as_array().unwrap();
    assert_eq!(procs.len(), 3, "{procs:?}");
    let root = procs[0]["pid"].as_i64().unwrap();
    assert_eq!(root, run.report["processes"]["root"].as_i64().unwrap());
    assert_eq!(procs[1]["ppid"].as_i64().unwrap(), root);
    assert_eq!(procs[2]["ppid"], procs[1]["pid"]);
    assert!(procs.iter().all(|p| p["exit"]["code"] == 0), "{procs:?}");
    run.cleanup();
}

#[test]
fn persistence() {
    require_root();
    check("cron", &["T1053.003"]);
    check("initd", &["T1037.004"]);
    check("rclocal", &["T1037.004"]);
    check("systemd", &["T1543.002"]);
    check("shellrc", &["T1546.004"]);
    check("ldpreload", &["T1574.006"]);
    check("sshkey", &["T1098.004"]);
}

#[test]
fn credentials_discovery_and_impact() {
    require_root();
    check("creds", &["T1003.008", "T1087.001"]);
    check("prockill", &["T1057", "T1489"]);
    check("killall", &["T1489"]);
}

#[test]
fn execution_and_network() {
    require_root();
    check("memfd", &["T1620"]);
    check("rawsock", &["T1040"]);
    check("kmod", &["T1547.006"]);
    let run = analyze(bin(), &["--timeout", "20", "--args", "dropper"]);
    assert_attack(&run, "dropper", &["T1204.002"]);
    // The dropped ELF is collected, hashed and statically analysed.
    let dropped = run.report["files"]["dropped"].as_array().unwrap();
    let x = dropped
        .iter()
        .find(|d| d["path"] == "/tmp/.x")
        .expect("/tmp/.x dropped");
    assert_eq!(x["change"], "created");
    assert_eq!(
        x["static"]["file_type"]["kind"], "elf",
        "{}",
        x["static"]["file_type"]
    );
    assert!(run.out_dir.join(x["stored_as"].as_str().unwrap()).is_file());
    run.cleanup();
    let run = analyze(bin(), &["--timeout", "20", "--args", "telnet"]);
    assert_attack(&run, "telnet", &["T1046"]);
    let conns = run.report["network"]["connections"].as_array().unwrap();
    assert!(conns.len() >= 10, "{conns:?}");
    assert!(
        conns
            .iter()
            .all(|c| c["port"] == 23 && c["address"].as_str().unwrap().starts_with("127."))
    );
    run.cleanup();
}

#[test]
fn ordinary_programs_are_clean() {
    require_root();
    let run = analyze(bin(), &["--args", "clean"]);
    assert_eq!(run.verdict(), "clean", "{}", run.report["signatures"]);
    assert_eq!(
        std::fs::read(run.out_dir.join("stdout")).unwrap(),
        b"hello\n"
    );
    run.cleanup();
    for tool in ["/bin/ls", "/bin/true"] {
        let run = analyze(std::path::Path::new(tool), &[]);
        assert_eq!(
            run.verdict(),
            "clean",
            "{tool}: {}",
            run.report["signatures"]
        );
        assert_eq!(run.report["outcome"]["sample_exit"]["code"], 0, "{tool}");
        run.cleanup();
    }
    let dir = scratch("script");
    let script = dir.join("hello.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello from a script\necho done\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = analyze(&script, &[]);
    assert_eq!(run.verdict(), "clean", "{}", run.report["signatures"]);
    assert_eq!(
        std::fs::read_to_string(run.out_dir.join("stdout")).unwrap(),
        "hello from a script\ndone\n"
    );
    let procs = run.report["processes"]["list"].as_array().unwrap();
    assert!(
        procs[0]["exe"].as_str().unwrap().ends_with("sh"),
        "{procs:?}"
    );
    run.cleanup();
    let _ = std::fs::remove_dir_all(dir);
}
