//! Done-when 1: Falco's three official rule files load and compile without error.

use std::path::PathBuf;

use ferret_rules::{Engine, RuleSet};

fn falco_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/falco"
    ))
}

const FILES: [&str; 3] = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
];

#[test]
fn falco_rule_files_load_and_compile() {
    let (mut rules, mut macros, mut lists, mut absent, mut never, mut any) = (0, 0, 0, 0, 0, 0);
    for f in FILES {
        let path = falco_dir().join(f);
        assert!(
            path.exists(),
            "missing {}: the shared test data must be beside the repository",
            path.display()
        );
        let mut set = RuleSet::new();
        let st = set.load_file(&path).unwrap_or_else(|e| panic!("{f}: {e}"));
        let engine = Engine::compile(&set).unwrap_or_else(|errs| {
            panic!(
                "{f}: {} errors:\n{}",
                errs.len(),
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
        let es = engine.stats();
        println!(
            "{f}: {} rules, {} macros, {} lists loaded; {} rules read absent fields ({} can never fire); {} rules not indexed by event type",
            st.rules,
            st.macros,
            st.lists,
            es.rules_with_absent_fields,
            es.rules_never_firing,
            es.rules_any_type
        );
        for r in engine
            .rules()
            .iter()
            .filter(|r| !r.absent_fields.is_empty())
        {
            println!("    absent in '{}': {}", r.name, r.absent_fields.join(", "));
        }
        assert_eq!(es.rules, st.rules, "{f}: every rule compiled");
        rules += st.rules;
        macros += st.macros;
        lists += st.lists;
        absent += es.rules_with_absent_fields;
        never += es.rules_never_firing;
        any += es.rules_any_type;
    }
    println!(
        "total: {rules} rules, {macros} macros, {lists} lists; {absent} rules depend on absent fields, {never} can never fire, {any} unindexed"
    );
    // 351 items start with "- macro:"; falco-sandbox_rules.yaml line 1728 writes one more
    // macro with its condition key first ("- condition: ...\n  macro: recon_binaries_procs").
    assert_eq!((rules, macros), (93, 352));
    assert_eq!(lists, 163);
}

#[test]
fn all_three_files_load_together() {
    let mut set = RuleSet::new();
    for f in FILES {
        set.load_file(&falco_dir().join(f))
            .unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    let engine = Engine::compile(&set).unwrap_or_else(|errs| panic!("{}", errs[0]));
    assert_eq!(
        engine.stats().rules,
        93,
        "rule names are distinct across the files"
    );
}
