//! IRC and telnet decoding compared with what tshark decodes from the same pcaps.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferret_pcap::{NetworkReport, Options, analyze_file};

fn l7(name: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/l7"
    ))
    .join(name)
}

/// Runs tshark with fields output; one Vec of columns per frame.
fn tshark(pcap: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run tshark (install Debian's tshark, listed in scripts/apt-packages.txt): {e}"
        )
    });
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn split(s: &str) -> Vec<String> {
    s.split('|')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn analyze(name: &str) -> NetworkReport {
    analyze_file(&l7(name), &Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn irc_commands_match_tshark() {
    let report = analyze("irc.pcap");
    // tshark's IRC dissector parses each segment on its own, so a line split over
    // two segments yields a bogus "command" (the line's tail) at the start of the
    // second: such first entries are left out, everything else must match.
    let rows = tshark(
        &l7("irc.pcap"),
        "tcp.len > 0",
        &[
            "tcp.srcport",
            "tcp.payload",
            "irc.request.command",
            "irc.response.command",
        ],
    );
    let mut expected: Vec<String> = Vec::new();
    let mut ends_line: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    let mut continuations = 0;
    for r in &rows {
        let col = |i: usize| r.get(i).map_or("", |s| s.as_str());
        let mut cmds: Vec<String> = split(col(2)).into_iter().chain(split(col(3))).collect();
        let complete_before = *ends_line.get(col(0)).unwrap_or(&true);
        if !complete_before && !cmds.is_empty() {
            cmds.remove(0);
            continuations += 1;
        }
        ends_line.insert(col(0).to_string(), col(1).ends_with("0a"));
        expected.extend(cmds);
    }
    assert!(continuations <= 2, "{continuations} continuation segments");
    let ours: Vec<String> = report.irc.iter().map(|m| m.command.clone()).collect();
    println!(
        "tshark: {} IRC commands, ferret: {}",
        expected.len(),
        ours.len()
    );
    assert!(
        expected.len() > 50,
        "tshark decoded only {} IRC commands",
        expected.len()
    );
    assert_eq!(ours, expected, "IRC command sequence differs from tshark's");
    // The client's registration and channel joins, with their parameters.
    let from_client = |cmd: &str| {
        report
            .irc
            .iter()
            .filter(|m| m.from_client && m.command == cmd)
            .count()
    };
    assert!(from_client("NICK") >= 1 && from_client("USER") >= 1 && from_client("JOIN") >= 1);
    let nick_rows = tshark(
        &l7("irc.pcap"),
        "irc.request.command == \"NICK\"",
        &["irc.request.command_parameter"],
    );
    let tshark_nick = nick_rows
        .first()
        .and_then(|r| r.first())
        .map(|p| split(p))
        .unwrap_or_default();
    let our_nick = report
        .irc
        .iter()
        .find(|m| m.command == "NICK")
        .map(|m| m.params.clone())
        .unwrap_or_default();
    assert!(!tshark_nick.is_empty());
    assert_eq!(our_nick.first(), tshark_nick.first(), "NICK parameter");
    assert!(
        report.anomalies.iter().any(|a| a.kind == "irc_c2"),
        "no irc_c2 anomaly"
    );
}

#[test]
fn telnet_negotiation_and_data_match_tshark() {
    let report = analyze("telnet.pcap");
    assert_eq!(report.telnet.len(), 1, "one telnet session expected");
    let s = &report.telnet[0];
    let rows = tshark(
        &l7("telnet.pcap"),
        "telnet",
        &["telnet.cmd", "telnet.subcmd", "telnet.data"],
    );
    // tshark lists every command (SE included) and, as "subcmd", the option of each
    // WILL/WONT/DO/DONT/SB, plus for some options the first byte of the SB
    // parameters. Ours are walked frame by frame alongside: command codes must be
    // equal, options equal where the frame has no SB, and a subsequence of tshark's
    // values where it has.
    let code = |c: &str| match c {
        "SB" => 250u8,
        "WILL" => 251,
        "WONT" => 252,
        "DO" => 253,
        _ => 254,
    };
    let ours_negs: Vec<(u8, u8)> = s
        .negotiations
        .iter()
        .map(|n| (code(&n.command), n.option))
        .collect();
    let mut at = 0;
    let mut expected_negs = 0;
    let mut expected_data = Vec::new();
    let mut lone_iac = 0;
    for r in &rows {
        let num = |i: usize| -> Vec<u8> {
            split(r.get(i).map_or("", |s| s))
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect()
        };
        let cmds: Vec<u8> = num(0)
            .into_iter()
            .filter(|c| (250..=254).contains(c))
            .collect();
        let opts = num(1);
        let frame: &[(u8, u8)] = ours_negs
            .get(at..at + cmds.len())
            .unwrap_or_else(|| panic!("ferret has too few negotiations (tshark row {r:?})"));
        at += cmds.len();
        expected_negs += cmds.len();
        let our_cmds: Vec<u8> = frame.iter().map(|n| n.0).collect();
        assert_eq!(
            our_cmds, cmds,
            "negotiation commands differ at tshark row {r:?}"
        );
        let our_opts: Vec<u8> = frame.iter().map(|n| n.1).collect();
        if cmds.contains(&250) {
            let mut it = opts.iter();
            assert!(
                our_opts.iter().all(|o| it.any(|x| x == o)),
                "options {our_opts:?} not within tshark's {opts:?}"
            );
        } else {
            assert_eq!(
                our_opts, opts,
                "negotiation options differ at tshark row {r:?}"
            );
        }
        let data: String = split(r.get(2).map_or("", |s| s)).concat();
        // A segment holding only the IAC of an "IAC DM" split over two segments:
        // tshark, parsing segments alone, calls it data; it is a command.
        if data == "\u{fffd}" || data == "\\xff" {
            lone_iac += 1;
            continue;
        }
        if !data.is_empty() {
            expected_data.push(
                data.replace("\\r", "")
                    .replace("\\n", "")
                    .trim()
                    .to_string(),
            );
        }
    }
    assert_eq!(
        at,
        ours_negs.len(),
        "ferret has more negotiations than tshark"
    );
    assert!(lone_iac <= 1, "{lone_iac} lone IAC segments");
    println!(
        "tshark: {expected_negs} negotiations, {} data frames; ferret: {} negotiations, {} data records",
        expected_data.len(),
        ours_negs.len(),
        s.data.len()
    );
    let ours_data: Vec<String> = s
        .data
        .iter()
        .map(|d| d.text.replace(['\r', '\n', '\0'], "").trim().to_string())
        .collect();
    assert_eq!(
        ours_data, expected_data,
        "telnet data differs from tshark's"
    );
    assert!(
        ours_data.len() >= 20,
        "only {} data frames",
        ours_data.len()
    );
    let cred = s
        .credentials
        .first()
        .unwrap_or_else(|| panic!("no credentials in {:?}", s.credentials));
    assert_eq!(cred.username.as_deref(), Some("fake"));
    assert_eq!(cred.password.as_deref(), Some("user"));
}
