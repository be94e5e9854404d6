//! Conformance with go-libaudit's auparse: every record type, sequence number, timestamp,
//! rule key and interpreted data field of the shared `.golden` files must be produced.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ferret_audit::json::format_timestamp;
use ferret_audit::{AuditReader, Item};
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/audit"
    ))
}

/// `2017-03-07T04:59:29.03Z` (Go trims zeros) → `2017-03-07T04:59:29.030Z`.
fn normalize_ts(s: &str) -> String {
    let body = s.trim_end_matches('Z');
    let (main, frac) = body.split_once('.').unwrap_or((body, ""));
    format!("{main}.{:0<3}Z", frac)
}

struct Ours {
    record_type: String,
    sequence: u64,
    ts: String,
    keys: Vec<String>,
    data: HashMap<String, String>,
}

fn read_ours(path: &Path) -> (Vec<Ours>, Vec<u64>) {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut recs = Vec::new();
    let mut malformed = Vec::new();
    for item in AuditReader::new(BufReader::new(f)) {
        match item.unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            Item::Event(ev) => {
                for r in &ev.records {
                    let mut ts = String::new();
                    format_timestamp(&mut ts, r.sec, r.ms);
                    recs.push(Ours {
                        record_type: r.record_type(),
                        sequence: r.serial,
                        ts,
                        keys: r.keys.clone(),
                        data: r
                            .fields()
                            .map(|(k, v)| (k.to_owned(), v.to_owned()))
                            .collect(),
                    });
                }
            }
            Item::Malformed { line, .. } => malformed.push(line),
        }
    }
    (recs, malformed)
}

/// Compares one log with its golden file; returns (matched, total) fields.
fn compare(log: &Path) -> (usize, usize) {
    let golden_path = PathBuf::from(format!("{}.golden", log.display()));
    let text = std::fs::read_to_string(&golden_path)
        .unwrap_or_else(|e| panic!("{}: {e}", golden_path.display()));
    let golden: Vec<Value> = serde_json::from_str(&text).expect("golden file is JSON");
    let (ours, malformed) = read_ours(log);
    let mut used = vec![false; ours.len()];
    let (mut matched, mut total) = (0, 0);
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for (i, g) in golden.iter().enumerate() {
        if g.is_null() {
            // go-libaudit could not parse this line: ferret must report it as malformed.
            total += 1;
            if malformed.contains(&(i as u64 + 1)) {
                matched += 1;
            } else {
                eprintln!("{name}: line {} should be reported malformed", i + 1);
            }
            continue;
        }
        let rt = g["record_type"].as_str().unwrap_or_default();
        let seq = g["sequence"].as_u64().unwrap_or_default();
        let ts = normalize_ts(g["@timestamp"].as_str().unwrap_or_default());
        let data = g["data"].as_object().cloned().unwrap_or_default();
        let keys: Vec<String> = g["keys"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        total += 3 + data.len() + usize::from(!keys.is_empty());
        let pos = ours
            .iter()
            .enumerate()
            .position(|(j, o)| !used[j] && o.sequence == seq && o.record_type == rt && o.ts == ts);
        let Some(j) = pos else {
            eprintln!("{name}: no record {rt} {seq} {ts}");
            continue;
        };
        used[j] = true;
        let o = &ours[j];
        matched += 3;
        if !keys.is_empty() {
            if o.keys == keys {
                matched += 1;
            } else {
                eprintln!("{name}: {rt} {seq}: keys {:?}, want {keys:?}", o.keys);
            }
        }
        for (k, v) in &data {
            let want = v.as_str().unwrap_or_default();
            match o.data.get(k) {
                Some(got) if got == want => matched += 1,
                got => eprintln!("{name}: {rt} {seq}: {k} = {got:?}, want {want:?}"),
            }
        }
    }
    (matched, total)
}

#[test]
fn golden_conformance() {
    let dir = data_dir();
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (shared test data missing?)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(
        logs.len() >= 7,
        "expected the 7 shared audit logs, found {}",
        logs.len()
    );
    let (mut m, mut t) = (0, 0);
    for log in &logs {
        let (matched, total) = compare(log);
        println!(
            "{}: {matched}/{total} fields",
            log.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        );
        m += matched;
        t += total;
    }
    let pct = 100.0 * m as f64 / t.max(1) as f64;
    println!("overall: {m}/{t} fields ({pct:.1}%)");
    assert!(pct >= 95.0, "conformance {pct:.1}% < 95%");
}
