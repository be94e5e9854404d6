//! Rule-file semantics: append, override, exceptions, enabled toggles, output fields, and
//! errors that name the field, rule, file and line.

mod common;

use common::*;
use ferret_rules::{Engine, RuleSet};

fn engine(text: &str) -> Engine {
    let mut set = RuleSet::new();
    set.load_str("test.yaml", text)
        .unwrap_or_else(|e| panic!("{e}"));
    Engine::compile(&set).unwrap_or_else(|e| panic!("{}", e[0]))
}

fn shadow_read_by(name: &str) -> Seq {
    let mut s = Seq::new();
    s.spawn(50, 100, &format!("/usr/bin/{name}"), &[name]);
    s.open(100, "/etc/shadow", O_RDONLY, 3);
    s
}

const BASE: &str = r#"
- required_engine_version: 0.26.0
- list: readers
  items: [login]
- list: more_readers
  items: [readers, sshd]
- macro: reads_shadow
  condition: evt.type = openat and fd.name = /etc/shadow
- rule: Shadow
  desc: shadow read
  condition: reads_shadow and not proc.name in (more_readers)
  output: "%proc.name read %fd.name (%evt.type)"
  priority: WARNING
  tags: [T1003.008]
"#;

#[test]
fn append_and_override() {
    let e = engine(BASE);
    assert_eq!(fired(&e, &shadow_read_by("cat").evs), ["Shadow"]);
    assert!(
        fired(&e, &shadow_read_by("sshd").evs).is_empty(),
        "nested list excludes sshd"
    );

    let appended = format!("{BASE}\n- list: readers\n  items: [cat]\n  append: true\n");
    assert!(
        fired(&engine(&appended), &shadow_read_by("cat").evs).is_empty(),
        "appended list item"
    );

    let cond =
        format!("{BASE}\n- rule: Shadow\n  condition: and proc.name != vim\n  append: true\n");
    let e = engine(&cond);
    assert!(
        fired(&e, &shadow_read_by("vim").evs).is_empty(),
        "appended condition"
    );
    assert_eq!(fired(&e, &shadow_read_by("cat").evs), ["Shadow"]);

    let replaced = format!(
        "{BASE}\n- macro: reads_shadow\n  condition: evt.type = openat and fd.name = /etc/gshadow\n  override:\n    condition: replace\n"
    );
    assert!(
        fired(&engine(&replaced), &shadow_read_by("cat").evs).is_empty(),
        "replaced macro"
    );

    let disabled = format!("{BASE}\n- rule: Shadow\n  enabled: false\n");
    let e = engine(&disabled);
    assert!(
        fired(&e, &shadow_read_by("cat").evs).is_empty(),
        "disabled rule"
    );
    assert_eq!(e.stats().enabled, 0);

    let prio = format!(
        "{BASE}\n- rule: Shadow\n  priority: CRITICAL\n  tags: [extra]\n  override:\n    priority: replace\n    tags: append\n"
    );
    let e = engine(&prio);
    let r = &e.rules()[0];
    assert_eq!(r.priority, ferret_rules::Priority::Critical);
    assert_eq!(r.tags, ["T1003.008", "extra"]);
    assert_eq!(r.attack, ["T1003.008"]);
}

#[test]
fn exceptions_exclude_matching_tuples() {
    let text = format!(
        "{BASE}\n- rule: Shadow\n  exceptions:\n    - name: tools\n      fields: [proc.name, fd.name]\n      comps: [in, =]\n      values:\n        - [[cat, less], /etc/shadow]\n    - name: one\n      fields: proc.pname\n      values: [cron]\n  override:\n    exceptions: append\n"
    );
    let e = engine(&text);
    assert!(
        fired(&e, &shadow_read_by("cat").evs).is_empty(),
        "exception tuple"
    );
    assert!(
        fired(&e, &shadow_read_by("less").evs).is_empty(),
        "exception list value"
    );
    assert_eq!(fired(&e, &shadow_read_by("head").evs), ["Shadow"]);
}

#[test]
fn alert_output_and_fields() {
    let e = engine(BASE);
    let mut a = ferret_rules::Analyzer::new(&e);
    let mut alerts = Vec::new();
    for ev in &shadow_read_by("cat").evs {
        alerts.extend(a.feed(ev));
    }
    assert_eq!(alerts.len(), 1);
    let al = &alerts[0];
    assert!(
        al.output
            .ends_with("Warning: cat read /etc/shadow (openat)"),
        "{}",
        al.output
    );
    let json = serde_json::to_value(al).expect("json");
    for k in [
        "time",
        "rule",
        "priority",
        "output",
        "output_fields",
        "tags",
        "source",
        "hostname",
    ] {
        assert!(json.get(k).is_some(), "alert JSON lacks {k}: {json}");
    }
    assert_eq!(json["output_fields"]["proc.name"], "cat");
    assert!(
        json["time"]
            .as_str()
            .is_some_and(|t| t.starts_with("2023-11-14T22:13:20.")),
        "{json}"
    );
}

fn load_error(text: &str) -> String {
    let mut set = RuleSet::new();
    if let Err(e) = set.load_str("bad.yaml", text) {
        return e.to_string();
    }
    match Engine::compile(&set) {
        Err(errs) => errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
        Ok(_) => panic!("expected an error for:\n{text}"),
    }
}

#[test]
fn errors_name_field_rule_file_and_line() {
    let e = load_error(
        "- rule: R1\n  desc: d\n  condition: evt.type = open and proc.nmae = x\n  output: o\n  priority: INFO\n",
    );
    assert!(
        e.contains("bad.yaml:1")
            && e.contains("rule 'R1'")
            && e.contains("proc.nmae")
            && e.contains("column 21"),
        "{e}"
    );

    let e = load_error(
        "- macro: m\n  condition: fd.nam = x\n\n- rule: R2\n  desc: d\n  condition: evt.type = open and m\n  output: o\n  priority: INFO\n",
    );
    assert!(
        e.contains("bad.yaml:4")
            && e.contains("rule 'R2'")
            && e.contains("macro 'm' (bad.yaml:1)")
            && e.contains("fd.nam"),
        "{e}"
    );

    let e = load_error(
        "- rule: R3\n  desc: d\n  condition: evt.type = open\n  output: \"%proc.nane\"\n  priority: INFO\n",
    );
    assert!(e.contains("rule 'R3'") && e.contains("proc.nane"), "{e}");

    let e = load_error(
        "- list: l\n  items: [a]\n- rule: R4\n  desc: d\n  condition: (evt.type = open\n  output: o\n  priority: INFO\n",
    );
    assert!(
        e.contains("bad.yaml:3") && e.contains("expected ')'"),
        "{e}"
    );

    let e = load_error(
        "- rule: R5\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: LOUD\n",
    );
    assert!(e.contains("unknown priority 'LOUD'"), "{e}");

    let e = load_error("- rule: R6\n  condition: evt.type = open\n");
    assert!(
        e.contains("missing required key(s): desc, output, priority"),
        "{e}"
    );

    let e = load_error("- list: l\n  items: [a]\n  append: true\n");
    assert!(e.contains("not defined"), "{e}");

    let e = load_error(
        "- rule: R7\n  desc: d\n  condition: evt.type = open and undefined_macro\n  output: o\n  priority: INFO\n",
    );
    assert!(
        e.contains("unknown macro or field 'undefined_macro'"),
        "{e}"
    );

    let e = load_error("- rule: x\n  desc: [unclosed\n");
    assert!(e.contains("invalid YAML"), "{e}");

    let e = load_error(
        "- rule: R8\n  desc: d\n  condition: evt.type = open\n  output: o\n  priority: INFO\n  source: k8s_audit\n",
    );
    assert!(e.contains("source 'k8s_audit'"), "{e}");
}
