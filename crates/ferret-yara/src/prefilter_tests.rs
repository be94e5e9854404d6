//! Unit tests of the condition and anchor analysis and of the prefilter pass.

use crate::analyse::{Analysis, Formula, fold_window};
use crate::prefilter::{Joint, Prefilter, PrefilterState};

fn analyse(src: &str) -> Analysis {
    let mut a = Analysis::default();
    a.add_source(src.as_bytes()).expect("test rules parse");
    a
}

/// The formula of `rule` rendered with pattern names, e.g. `and($a,or($b,$c))`.
fn render(src: &str, rule: &str) -> String {
    let a = analyse(src);
    let r = a.rule(rule).expect("rule exists");
    show(&a, &r.formula)
}

fn show(a: &Analysis, f: &Formula) -> String {
    let list = |items: &[Formula]| {
        items
            .iter()
            .map(|f| show(a, f))
            .collect::<Vec<_>>()
            .join(",")
    };
    match f {
        Formula::True => "T".into(),
        Formula::False => "F".into(),
        Formula::Var(v) => {
            // Name the pattern whose window variable this is.
            let mut first = 0;
            for p in &a.patterns {
                let n = p
                    .anchors
                    .as_ref()
                    .map_or(0, |alts| alts.iter().map(Vec::len).sum());
                if (*v as usize) < first + n {
                    return p.identifier.clone();
                }
                first += n;
            }
            format!("?{v}")
        }
        Formula::And(i) => format!("and({})", list(i)),
        Formula::Or(i) => format!("or({})", list(i)),
        Formula::AtLeast(n, i) => format!("{n}of({})", list(i)),
        Formula::Check(_) => "chk".into(),
    }
}

/// A rule `r` with patterns $a..$d (distinct 6-byte texts) and `cond`.
fn cond(c: &str) -> String {
    let src = format!(
        "rule r {{ strings: $a = \"alpha1\" $b = \"bravo2\" $c = \"charl3\" $d = \"delta4\" condition: {c} }}"
    );
    render(&src, "r")
}

#[test]
fn of_expressions() {
    assert_eq!(cond("all of them"), "and($a,$b,$c,$d)");
    assert_eq!(cond("any of them"), "or($a,$b,$c,$d)");
    assert_eq!(cond("2 of them"), "2of($a,$b,$c,$d)");
    assert_eq!(cond("3 of ($a, $b, $c)"), "and($a,$b,$c)");
    assert_eq!(cond("2 of ($a*, $c)"), "and($a,$c)");
    assert_eq!(cond("none of them"), "T");
    assert_eq!(cond("50% of them"), "or($a,$b,$c,$d)");
    assert_eq!(cond("any of them in (0..100)"), "or($a,$b,$c,$d)");
    assert_eq!(cond("all of ($a, $b) at 0"), "and($a,$b)");
    assert_eq!(cond("2 of ($a, $b and $c, true)"), "or($a,and($b,$c))");
    assert_eq!(cond("all of ($a, $b and $c)"), "and($a,$b,$c)");
}

#[test]
fn patterns_anchors_and_counts() {
    assert_eq!(cond("$a"), "$a");
    assert_eq!(cond("$a at 0"), "$a");
    assert_eq!(cond("$a in (0..filesize)"), "$a");
    assert_eq!(cond("#a > 2"), "$a");
    assert_eq!(cond("#a > 0"), "$a");
    assert_eq!(cond("#a >= 1"), "$a");
    assert_eq!(cond("#a >= 0"), "T");
    assert_eq!(cond("#a == 3"), "$a");
    assert_eq!(cond("3 == #a"), "$a");
    assert_eq!(cond("#a == 0"), "T");
    assert_eq!(cond("#a != 0"), "$a");
    assert_eq!(cond("#a < 3"), "T");
    assert_eq!(cond("2 < #a"), "$a");
    assert_eq!(cond("1 <= #a"), "$a");
    assert_eq!(cond("#a > -1"), "T");
    assert_eq!(cond("#a in (0..10) > 1"), "$a");
    assert_eq!(cond("@a[1] < 100"), "T");
}

#[test]
fn boolean_structure_and_what_is_not_understood() {
    assert_eq!(cond("$a and ($b or $c)"), "and($a,or($b,$c))");
    assert_eq!(cond("not $a"), "T");
    assert_eq!(cond("not $a and $b"), "$b");
    assert_eq!(cond("not $a or $b"), "T");
    assert_eq!(cond("filesize < 100KB"), "chk");
    assert_eq!(cond("uint32(0) == 0x464c457f and $c"), "and(chk,$c)");
    assert_eq!(cond("not (uint8(0) == 1 or filesize > 10)"), "chk");
    assert_eq!(cond("uint32(0) == 0x464c457f + 1"), "T");
    assert_eq!(cond("uint32(filesize - 4) == 1"), "T");
    assert_eq!(cond("math.entropy(0, filesize) > 7"), "T");
    assert_eq!(cond("for any of ($a, $b) : ($ at 0)"), "T");
    assert_eq!(cond("for all i in (1..#a) : (@a[i] > 0)"), "T");
    assert_eq!(cond("false"), "F");
    assert_eq!(cond("$a and false"), "F");
    assert_eq!(cond("unknown_external and $a"), "$a");
}

#[test]
fn rule_references_private_and_global() {
    let src = r#"
        private rule p { strings: $x = "xylop1" condition: $x }
        global rule g { condition: filesize < 10MB }
        rule uses_p { strings: $y = "yello2" condition: p and $y }
        rule uses_p_or { strings: $z = "zeppe3" condition: p or $z }
        rule not_p { condition: not p }
    "#;
    assert_eq!(render(src, "uses_p"), "and($x,$y)");
    assert_eq!(render(src, "uses_p_or"), "or($x,$z)");
    assert_eq!(render(src, "not_p"), "T");
    assert_eq!(render(src, "g"), "chk");
    let a = analyse(src);
    assert!(a.rule("p").unwrap().private);
    assert!(a.rule("g").unwrap().global);
    // `not_p` may match anything: the namespace must not be filtered.
    let (built, summary) = Prefilter::build("t", &a);
    assert!(built.is_err());
    assert!(!summary.enabled);
    assert_eq!(summary.rules, 4);
    assert_eq!(summary.rules_analysable, 3);
    assert_eq!(summary.unanalysable_rules, ["not_p"]);
}

/// The alternatives of a pattern: lists of windows that all occur in a match.
fn alts(decl: &str) -> Option<crate::analyse::Alternatives> {
    let a = analyse(&format!("rule r {{ strings: $p = {decl} condition: $p }}"));
    a.patterns[0].anchors.clone()
}

/// Every window of every alternative, sorted.
fn anchors(decl: &str) -> Option<Vec<u32>> {
    alts(decl).map(|alts| {
        let mut v: Vec<u32> = alts.into_iter().flatten().map(|r| r.anchor).collect();
        v.sort_unstable();
        v.dedup();
        v
    })
}

fn w(b: &[u8]) -> u32 {
    fold_window(b).unwrap()
}

#[test]
fn text_anchors_for_every_modifier() {
    // The window avoids the common letters and the spaces.
    assert_eq!(anchors("\"a  QZXJ\""), Some(vec![w(b"QZXJ")]));
    assert_eq!(anchors("\"abc\""), None);
    // Folding: nocase anchors equal the case-sensitive ones.
    assert_eq!(anchors("\"QZXJ\" nocase"), Some(vec![w(b"qzxj")]));
    assert_eq!(w(b"QZXJ"), w(b"qzxj"));
    // wide: the window is taken from the UTF-16LE form.
    let wide = anchors("\"QZ\" wide").unwrap();
    assert_eq!(wide, vec![w(b"Q\0Z\0")]);
    assert_eq!(anchors("\"Q\" wide"), None);
    let both = anchors("\"QZXJ\" ascii wide").unwrap();
    assert_eq!(alts("\"QZXJ\" ascii wide").unwrap().len(), 2);
    assert_eq!(both.len(), 2);
    assert!(both.contains(&w(b"QZXJ")));
    assert!(both.iter().any(|&a| {
        [b"Q\0Z\0", b"\0Z\0X", b"Z\0X\0", b"\0X\0J", b"X\0J\0"]
            .iter()
            .any(|x| w(&x[..]) == a)
    }));
    // xor: one anchor per key (after folding, some keys may coincide).
    let x = anchors("\"QZXJ\" xor(1-3)").unwrap();
    for key in 1u8..=3 {
        let b: Vec<u8> = b"QZXJ".iter().map(|c| c ^ key).collect();
        assert!(x.contains(&w(&b)), "key {key}");
    }
    assert!(!x.contains(&w(b"QZXJ")));
    let full = anchors("\"QZXJ\" xor").unwrap();
    for key in 0u8..=255 {
        let b: Vec<u8> = b"QZXJ".iter().map(|c| c ^ key).collect();
        assert!(full.contains(&w(&b)), "key {key}");
    }
    assert_eq!(anchors("\"QZXJ\" base64"), None);
    assert_eq!(anchors("\"QZXJ\" base64wide"), None);
    assert_eq!(anchors("\"QZXJ\" fullword private"), Some(vec![w(b"QZXJ")]));
}

#[test]
fn regex_anchors_from_required_literals() {
    let set = |ws: &[&[u8]]| {
        let mut v: Vec<u32> = ws.iter().map(|x| w(x)).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(anchors("/QZXJ/"), Some(vec![w(b"QZXJ")]));
    assert_eq!(anchors("/qzxj/i"), Some(vec![w(b"QZXJ")]));
    assert_eq!(anchors("/qzxj/ nocase"), Some(vec![w(b"QZXJ")]));
    assert_eq!(alts("/QZXJ/ wide").unwrap().len(), 1);
    assert_eq!(alts("/QZXJ/ ascii wide").unwrap().len(), 2);
    assert_eq!(anchors("/abc/"), None);
    assert_eq!(anchors("/a.*b/"), None);
    assert_eq!(anchors("/(QZXJ)?xyz/"), None);
    // Short optional parts are spelt out: `/bin/sh` or `/bin/bash`.
    assert!(anchors(r"/\/bin\/(ba)?sh -i/").is_some());
    assert!(anchors(r"/\/bin\/(ba)*sh -i/").is_some());
    assert_eq!(anchors(r"/\/bi(ba)*sh/"), None);
    // yara-x reads `\<` as a literal `<`; not modelled, so no anchors.
    assert_eq!(anchors(r"/QZ\<XJ/"), None);
    assert!(anchors(r"/QZXJK/").is_some());
    assert_eq!(anchors(r"/[0-9]{1,5}QZXJK/"), anchors(r"/QZXJK/"));
    // A class next to literals multiplies the strings.
    assert_eq!(anchors(r"/Q[ZY]XJ/"), Some(set(&[b"QZXJ", b"QYXJ"])));
    // Strings of an alternation combine with the literals around it.
    let cd = alts(r"/cd\s+\/(tmp|var\/tmp|dev\/shm)\b/").unwrap();
    assert_eq!(cd.len(), 3, "{cd:x?}");
    assert!(cd.iter().any(|alt| alt.len() == 1 && alt[0].run == b"/tmp"));
    assert!(
        cd.iter()
            .any(|alt| alt.len() == 1 && alt[0].run == b"/var/tmp")
    );
    // Every branch of a top-level alternation must hold a literal.
    assert_eq!(alts(r"/(QZXJ.*|KWVY\d)/").unwrap().len(), 2);
    assert_eq!(anchors(r"/(QZXJ.*|KW\d)/"), None);
    assert_eq!(alts(r"/QZ(XJ|YK)PM/").unwrap().len(), 2);
    assert!(anchors(r"/abbcd/").is_some());
    assert_eq!(anchors(r"/ab{2}cd/"), anchors(r"/abbcd/"));
    assert_eq!(anchors("/[/"), None);
}

#[test]
fn checks_read_the_data_as_yara_does() {
    use crate::analyse::{Check, CmpOp, Int};
    let read = |offset, size, signed, big_endian| Int::Read {
        offset,
        size,
        signed,
        big_endian,
    };
    let eq = |a, b| Check::Cmp(CmpOp::Eq, a, Int::Lit(b));
    let data = [0x7f, b'E', b'L', b'F', 0xfe, 0xff];
    assert_eq!(
        eq(read(0, 4, false, false), 0x464c457f).eval(&data),
        Some(true)
    );
    assert_eq!(
        eq(read(0, 4, false, true), 0x7f454c46).eval(&data),
        Some(true)
    );
    assert_eq!(eq(read(4, 2, false, false), 0xfffe).eval(&data), Some(true));
    assert_eq!(eq(read(4, 2, true, false), -2).eval(&data), Some(true));
    assert_eq!(eq(read(4, 1, true, false), -2).eval(&data), Some(true));
    assert_eq!(eq(read(3, 4, false, false), 0).eval(&data), None);
    assert_eq!(eq(read(-1, 1, false, false), 0).eval(&data), None);
    assert_eq!(eq(Int::Filesize, 6).eval(&data), Some(true));
    assert_eq!(
        Check::Not(Box::new(eq(read(9, 1, false, false), 0))).eval(&data),
        None
    );
    assert_eq!(
        Check::Or(vec![
            eq(Int::Filesize, 1),
            eq(read(0, 1, false, false), 0x7f)
        ])
        .eval(&data),
        Some(true)
    );
    // Parsed from conditions: a rule that only checks the header.
    let p = prefilter("rule r { condition: uint32(0) == 0x464c457f and uint8(4) == 2 }");
    let mut st = PrefilterState::default();
    assert!(p.may_match(b"\x7fELF\x02....", &mut st));
    assert!(!p.may_match(b"\x7fELF\x01....", &mut st));
    assert!(!p.may_match(b"MZ......", &mut st));
    // Undefined (too short) counts as possibly true.
    assert!(p.may_match(b"\x7fE", &mut st));
}

#[test]
fn hex_anchors_use_fixed_runs_only() {
    assert_eq!(
        anchors("{ 91 92 93 94 }"),
        Some(vec![w(&[0x91, 0x92, 0x93, 0x94])])
    );
    assert_eq!(
        anchors("{ 00 00 ?? 91 92 93 94 }"),
        Some(vec![w(&[0x91, 0x92, 0x93, 0x94])])
    );
    assert_eq!(
        anchors("{ 91 92 9? 93 94 95 96 }"),
        Some(vec![w(&[0x93, 0x94, 0x95, 0x96])])
    );
    assert_eq!(anchors("{ 91 92 ~93 94 95 96 }"), None);
    assert_eq!(anchors("{ 91 92 93 [2-4] 94 95 96 }"), None);
    assert_eq!(anchors("{ 91 92 93 [0] 94 95 96 }"), None);
    let alt = alts("{ 01 ( 91 92 93 94 | A1 A2 A3 A4 A5 ) 02 }").unwrap();
    assert_eq!(alt.len(), 2);
    assert!(
        alt.iter()
            .any(|a| a.len() == 1 && a[0].run == [0x91, 0x92, 0x93, 0x94])
    );
    // Up to three of the longest fixed runs, which a match holds together.
    let runs =
        alts("{ 91 92 93 94 ?? 95 96 97 98 [1-2] 99 9A 9B 9C 9D 9E 9F ?? A1 A2 A3 A4 }").unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].len(), 3);
    assert!(
        runs[0]
            .iter()
            .any(|r| r.run == [0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f])
    );
    assert!(runs[0].iter().all(|r| !r.folded));
    assert_eq!(anchors("{ 01 ( 91 92 93 | A1 A2 A3 A4 ) 02 }"), None);
    assert_eq!(anchors("{ 91 92 93 ( 94 | 95 ) }"), None);
}

fn prefilter(src: &str) -> Prefilter {
    let (built, summary) = Prefilter::build("t", &analyse(src));
    assert!(summary.enabled, "{summary:?}");
    built.unwrap()
}

#[test]
fn pass_finds_anchors_at_every_offset_and_alignment() {
    let vector = prefilter(r#"rule r { strings: $a = "QZXJ" nocase condition: $a }"#);
    let scalar = prefilter(r#"rule r { strings: $a = "QZXJ" nocase condition: $a }"#).scalar();
    for p in [vector, scalar] {
        let mut st = PrefilterState::default();
        for len in 4..40 {
            for at in 0..=len - 4 {
                let mut data = vec![b'.'; len];
                data[at..at + 4].copy_from_slice(b"qZxJ");
                assert!(p.may_match(&data, &mut st), "len {len} at {at}");
            }
            assert!(!p.may_match(&vec![b'.'; len], &mut st), "len {len}");
        }
        assert!(!p.may_match(b"", &mut st));
        assert!(!p.may_match(b"QZX", &mut st));
    }
}

#[test]
fn pass_evaluates_counts_of_patterns() {
    let p = prefilter(
        r#"rule r { strings: $a = "QZXJ" $b = "KWVY" $c = "PMFB" condition: 2 of them }
           private rule q { strings: $d = "DGHT" condition: $d }
           rule s { condition: q }"#,
    );
    let mut st = PrefilterState::default();
    assert!(!p.may_match(b"....QZXJ....QZXJ...", &mut st));
    assert!(p.may_match(b"....QZXJ....PMFB...", &mut st));
    // Case-sensitive text is confirmed byte for byte.
    assert!(!p.may_match(b"....QZXJ....pmfb...", &mut st));
    assert!(p.may_match(b"..DGHT..", &mut st));
    assert!(!p.may_match(b"..DGH..T", &mut st));
}

/// The pass against a naive model on random data: every window checked against
/// every anchor, then every formula evaluated.
#[test]
fn pass_agrees_with_a_naive_model_on_random_data() {
    let src = r#"
        rule r1 { strings: $a = "ab" $b = { 61 62 63 64 } $c = "bcde" wide condition: $b or #c > 1 }
        rule r2 { strings: $a = "cdab" nocase $b = "dcba" condition: all of them }
        rule r3 { strings: $a = "abca" xor(0-2) $b = { 61 ?? 63 64 61 62 } condition: any of them }
    "#;
    let a = analyse(src);
    let (built, _) = Prefilter::build("t", &a);
    let p = built.unwrap();
    let (scalar, _) = Prefilter::build("t", &a);
    let scalar = scalar.unwrap().scalar();
    let mut st = PrefilterState::default();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"abcdabcdabcdAC\0e";
    let mut positives = 0;
    for round in 0..6000 {
        let len = (next() % 48) as usize;
        let data: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        // A run is present when it occurs anywhere, compared as it says.
        let present = |v: u32| {
            let r = &a.vars[v as usize];
            data.windows(r.run.len()).any(|win| {
                if r.folded {
                    win.iter().zip(&r.run).all(|(x, y)| x | 0x20 == y | 0x20)
                } else {
                    win == r.run.as_slice()
                }
            })
        };
        // The pass looks only for what the pruned formulas mention.
        let expected = p.formulas().iter().any(|f| f.eval(&present, &data));
        let unpruned = a
            .rules
            .iter()
            .filter(|r| !r.private)
            .any(|r| r.formula.eval(&present, &data));
        assert!(expected || !unpruned, "round {round}: pruning lost a match");
        positives += usize::from(expected);
        assert_eq!(
            p.may_match(&data, &mut st),
            expected,
            "round {round}: {data:?}"
        );
        assert_eq!(
            scalar.may_match(&data, &mut st),
            expected,
            "scalar, round {round}: {data:?}"
        );
    }
    assert!(positives > 100 && positives < 5900, "{positives} positives");
}

#[test]
fn long_runs_are_found_by_the_strided_pass_at_every_offset() {
    // Runs of 15..=24 bytes (stride 8), case-folded and exact.
    for len in 15..=24usize {
        let text: String = "QZXJKWVYPMFBDGHTLRNCAEIO".chars().take(len).collect();
        for nocase in [false, true] {
            let m = if nocase { " nocase" } else { "" };
            let p = prefilter(&format!(
                "rule r {{ strings: $a = \"{text}\"{m} condition: $a }}"
            ));
            assert!(!p.short, "a run of {len} is long");
            let mut st = PrefilterState::default();
            let needle = if nocase {
                text.to_ascii_lowercase()
            } else {
                text.clone()
            };
            for total in [len, len + 1, len + 7, len + 8, 2 * len + 17] {
                for at in 0..=total - len {
                    let mut data = vec![b'.'; total];
                    data[at..at + len].copy_from_slice(needle.as_bytes());
                    assert!(p.may_match(&data, &mut st), "len {len} at {at} of {total}");
                    // One byte changed anywhere in the run: no match.
                    for x in [at, at + len / 2, at + len - 1] {
                        let mut near = data.clone();
                        near[x] = b'#';
                        assert!(
                            !p.may_match(&near, &mut st),
                            "len {len} at {at}, {x} changed"
                        );
                    }
                }
                assert!(!p.may_match(&vec![b'.'; total], &mut st));
            }
        }
    }
}

#[test]
fn pruning_keeps_long_operands_and_stays_implied() {
    // `all of them` needs only its long runs; `3 of 4` is refuted by its two long
    // ones alone; with short runs only, everything is kept.
    let src = r#"
        rule r1 { strings: $a = "QZXJK" $b = "KWVYPMFBDGHTLRN" $c = "PMFBX" condition: all of them }
        rule r2 { strings: $a = "QZXJK" $b = "KWVYP" $c = "PMFBX" condition: all of them }
        rule r3 { strings: $a = "QZXJK" $b = "KWVYPMFBDGHTLRN" $c = "PMFBX" $d = "DGHTLRNCQZXJKWV" condition: 3 of them }
        rule r4 { strings: $a = "QZXJK" $b = "KWVYPMFBDGHTLRN" condition: $a or $b }
    "#;
    let a = analyse(src);
    let run_len = |v: u32| a.vars[v as usize].run.len();
    let f: Vec<Formula> = a
        .rules
        .iter()
        .map(|r| r.formula.prune(&run_len).0)
        .collect();
    assert_eq!(show(&a, &f[0]), "$b");
    assert_eq!(show(&a, &f[1]), "and($a,$b,$c)");
    assert_eq!(show(&a, &f[2]), "or($b,$d)");
    assert_eq!(show(&a, &f[3]), "or($a,$b)");
    // Every assignment that satisfies a rule satisfies its pruned formula.
    let n = a.vars.len() as u32;
    for bits in 0u32..(1 << n) {
        let present = |v: u32| bits >> v & 1 == 1;
        for (r, g) in a.rules.iter().zip(&f) {
            if r.formula.eval(&present, b"") {
                assert!(g.eval(&present, b""), "{}: {bits:b}", r.name);
            }
        }
    }
}

#[test]
fn pruned_formulas_are_used_only_when_they_spare_the_short_pass() {
    // All long after pruning: the namespace needs no look at every position.
    let p = prefilter(
        r#"rule r { strings: $a = "QZXJK" $b = "KWVYPMFBDGHTLRN" condition: all of them }"#,
    );
    assert!(!p.short && p.long.is_some());
    let mut st = PrefilterState::default();
    assert!(p.may_match(b"..KWVYPMFBDGHTLRN..", &mut st));
    // A short run stays needed (an `or`): whole formulas, both passes.
    let p = prefilter(
        r#"rule r { strings: $a = "QZXJK" $b = "KWVYPMFBDGHTLRN" condition: all of them }
           rule s { strings: $c = "PMFBX" $d = "DGHTLRNCQZXJKWV" condition: $c or $d }"#,
    );
    assert!(p.short && p.long.is_some());
    assert!(!p.may_match(b"..KWVYPMFBDGHTLRN..", &mut st));
    assert!(p.may_match(b"..KWVYPMFBDGHTLRN..QZXJK", &mut st));
    assert!(p.may_match(b"..PMFBX..", &mut st));
}

#[test]
fn one_joint_pass_decides_each_namespace_as_its_own_pass_does() {
    let a = prefilter(
        r#"rule r { strings: $a = "QZXJK" $b = "KWVYPMFBDGHTLRN" condition: all of them }"#,
    );
    let b = prefilter(r#"rule s { strings: $c = "PMFBX" $d = "abca" nocase condition: $c or $d }"#);
    let c =
        prefilter(r#"rule t { strings: $e = "DGHTLRNCQZXJKWVY" condition: $e and filesize < 64 }"#);
    let joint = Joint::new(vec![&a, &b, &c]);
    let mut st = PrefilterState::default();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces: [&[u8]; 6] = [
        b"QZXJK",
        b"KWVYPMFBDGHTLRN",
        b"PMFBX",
        b"ABCA",
        b"DGHTLRNCQZXJKWVY",
        b"..",
    ];
    for round in 0..3000 {
        let mut data = Vec::new();
        for _ in 0..next() % 6 {
            data.extend_from_slice(pieces[(next() % 6) as usize]);
            data.extend((0..next() % 5).map(|_| b'.'));
        }
        let mut presents = vec![Vec::new(); 3];
        let mut hot: Vec<bool> = [&a, &b, &c]
            .iter()
            .zip(&mut presents)
            .map(|(f, p)| f.start(p, &data))
            .collect();
        joint.run(&data, &mut presents, &mut hot, true);
        let alone: Vec<bool> = [&a, &b, &c]
            .iter()
            .map(|f| f.may_match(&data, &mut st))
            .collect();
        assert_eq!(
            hot,
            alone,
            "round {round}: {:?}",
            String::from_utf8_lossy(&data)
        );
    }
}
