//! The analysis report page (report.json of docs/analysis-report.md, or the network
//! report of `ferret pcap` alone). Every list is capped so that the page stays bounded
//! whatever the analysis produced; each cap says what it left out and where the rest is.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::attack::technique_name;
use crate::events::{self, CATEGORIES, Scan};
use crate::html::Html;
use crate::page::{self, Origin, REPORT_JS};

/// Options of [`report_page`].
#[derive(Debug, Clone)]
pub struct ReportPage {
    /// Events embedded in the page's event table at most (the first ones of events.jsonl).
    pub max_events: usize,
    /// Bytes of embedded event JSON at most.
    pub max_event_bytes: usize,
    /// Rows per table at most (strings, files, endpoints...).
    pub max_rows: usize,
    /// Processes drawn in the process tree at most.
    pub max_processes: usize,
    /// Columns of the timeline chart.
    pub timeline_buckets: usize,
    /// Set when the page is served by `ferret serve`: the event table then queries the
    /// server (the full filter language over every event) instead of filtering the
    /// embedded events in the browser.
    pub served: Option<ServedReport>,
}

impl Default for ReportPage {
    fn default() -> Self {
        Self {
            max_events: 5_000,
            max_event_bytes: 4 << 20,
            max_rows: 500,
            max_processes: 2_000,
            timeline_buckets: 120,
            served: None,
        }
    }
}

/// The server side of a served report page.
#[derive(Debug, Clone)]
pub struct ServedReport {
    /// The task id.
    pub task_id: i64,
    /// Path of the task's events endpoint, e.g. `/api/tasks/7/events`; the page appends
    /// `?limit=N&offset=M&filter=EXPR`. Must be a same-origin path (starting with one
    /// `/`): anything else is refused by [`report_page`] and replaced by the default.
    pub events_url: String,
}

/// A same-origin absolute path: `/x...`, never `//host` or a scheme.
pub(crate) fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.starts_with("/\\")
        && !p.chars().any(|c| c.is_control() || c == '\\')
}

/// Renders the self-contained report page: every style and script inline, no
/// reference to anything outside the file. `events_jsonl` is the analysis's
/// events.jsonl (`None`: no event table or timeline).
pub fn report_page(report: &Value, events_jsonl: Option<&[u8]>, opts: &ReportPage) -> String {
    let scan = events_jsonl.map(|e| scan_events(e, opts));
    render(report, scan.as_ref(), opts)
}

/// [`report_page`] reading events.jsonl from `events` line by line (a file of millions
/// of events is never held in memory whole). Fails only if reading fails.
pub fn report_page_from_reader(
    report: &Value,
    events: Option<&mut dyn std::io::BufRead>,
    opts: &ReportPage,
) -> std::io::Result<String> {
    let scan = match events {
        Some(r) => Some(events::scan_reader(
            r,
            opts.max_events,
            opts.max_event_bytes,
            opts.timeline_buckets,
        )?),
        None => None,
    };
    Ok(render(report, scan.as_ref(), opts))
}

pub(crate) fn scan_events(jsonl: &[u8], opts: &ReportPage) -> Scan {
    events::scan(
        jsonl,
        opts.max_events,
        opts.max_event_bytes,
        opts.timeline_buckets,
    )
}

fn render(report: &Value, scan: Option<&Scan>, opts: &ReportPage) -> String {
    let mut h = Html::with_capacity(256 << 10);
    let origin = if opts.served.is_some() {
        Origin::Served
    } else {
        Origin::Offline
    };
    page::begin(&mut h, &page_title(report), origin);
    write_report_body(&mut h, report, scan, opts, None);
    page::end(&mut h, &[REPORT_JS]);
    h.buf
}

pub(crate) fn page_title(report: &Value) -> String {
    let name = ptr_s(report, "/sample/name");
    if name.is_empty() {
        "ferret network report".to_owned()
    } else {
        format!("ferret report: {name}")
    }
}

/// The report's sections (`<nav>` and `<main>`), for [`report_page`] and the UI page.
/// `before_main` is written at the top of `<main>` (the UI's download links).
pub(crate) fn write_report_body(
    h: &mut Html,
    report: &Value,
    scan: Option<&Scan>,
    opts: &ReportPage,
    before_main: Option<&dyn Fn(&mut Html)>,
) {
    let capture = capture_of(report);
    let pcap_only = report.get("sample").is_none() && capture.is_some();
    let mut nav: Vec<(&str, &str)> = vec![("overview", "Overview")];
    if !pcap_only {
        nav.extend([
            ("timeline", "Timeline"),
            ("signatures", "Signatures"),
            ("processes", "Processes"),
            ("events", "Events"),
            ("files", "Files"),
        ]);
    }
    nav.push(("network", "Network"));
    if !pcap_only {
        nav.extend([("static", "Static analysis"), ("syscalls", "System calls")]);
    }
    h.raw("<nav class=\"sections\">");
    for (id, label) in &nav {
        h.raw("<a href=\"#")
            .raw(id)
            .raw("\">")
            .text(label)
            .raw("</a>");
    }
    h.raw("</nav>\n<main>\n");
    if let Some(f) = before_main {
        f(h);
    }
    let served_url = opts.served.as_ref().map(|s| {
        if is_local_path(&s.events_url) {
            s.events_url.clone()
        } else {
            format!("/api/tasks/{}/events", s.task_id)
        }
    });
    let config = match &served_url {
        Some(u) => json!({"mode": "served", "events_url": u}),
        None => json!({"mode": "offline"}),
    };
    h.json_script("ferret-config", &config);
    let rows = opts.max_rows.max(1);
    if pcap_only {
        overview_pcap(h, report);
    } else {
        overview(h, report, scan);
        timeline(h, report, scan);
        signatures(h, report);
        processes(h, report, scan, opts.max_processes.max(1));
        event_table(h, report, scan, served_url.is_some(), opts);
        files(h, report, rows);
    }
    network(h, report, capture, rows);
    if !pcap_only {
        static_section(h, report.get("static").unwrap_or(&Value::Null), rows);
        syscalls(h, report, rows);
    }
    h.raw("</main>\n");
}

// ---- value access (missing or mistyped keys read as empty) ----

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}
fn ptr_s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}
fn arr<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
fn ptr_arr<'a>(v: &'a Value, p: &str) -> &'a [Value] {
    v.pointer(p)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}
fn u(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}
fn ptr_u(v: &Value, p: &str) -> u64 {
    v.pointer(p).and_then(Value::as_u64).unwrap_or(0)
}

/// A scalar as display text (strings as is, numbers and booleans formatted, null empty).
fn scalar(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

fn bytes_text(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i.min(UNITS.len() - 1)])
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` of Unix seconds.
pub(crate) fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = ferret_event::time::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn exit_text(e: Option<&Value>) -> String {
    match e {
        Some(e) if e.get("code").is_some() => format!(
            "exit {}",
            e.get("code").and_then(Value::as_i64).unwrap_or(0)
        ),
        Some(e) if e.get("signal").is_some() => {
            let core = if e.get("core").and_then(Value::as_bool) == Some(true) {
                " (core dumped)"
            } else {
                ""
            };
            format!("killed by {}{core}", s(e, "signal"))
        }
        _ => "running at the stop".to_owned(),
    }
}

/// `<dl class="kv">` of label/value pairs, empty values left out.
fn kv(h: &mut Html, pairs: &[(&str, String)]) {
    h.raw("<dl class=\"kv\">");
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        h.raw("<dt>")
            .text(k)
            .raw("</dt><dd>")
            .text_cut(v, 4000)
            .raw("</dd>");
    }
    h.raw("</dl>\n");
}

fn section(h: &mut Html, id: &str, title: &str) {
    h.raw("<section class=\"card\" id=\"")
        .raw(id)
        .raw("\"><h2>")
        .text(title)
        .raw("</h2>\n");
}

fn more_note(h: &mut Html, shown: usize, total: usize, where_: &str) {
    if total > shown {
        h.raw("<p class=\"note\">")
            .num(total - shown)
            .raw(" more not shown here; ")
            .text(where_)
            .raw(" has them all.</p>\n");
    }
}

/// A table: headers (a leading `#` marks a right-aligned numeric column) and rows of
/// cells; each cell is (text, monospace).
fn table(h: &mut Html, headers: &[&str], rows: impl Iterator<Item = Vec<(String, bool)>>) {
    h.raw("<div class=\"scroll\"><table><thead><tr>");
    let numeric: Vec<bool> = headers.iter().map(|x| x.starts_with('#')).collect();
    for x in headers {
        let (cls, label) = match x.strip_prefix('#') {
            Some(l) => (" class=\"n\"", l),
            None => ("", *x),
        };
        h.raw("<th").raw(cls).raw(">").text(label).raw("</th>");
    }
    h.raw("</tr></thead><tbody>\n");
    for row in rows {
        h.raw("<tr>");
        for (i, (text, mono)) in row.iter().enumerate() {
            let cls = match (numeric.get(i).copied().unwrap_or(false), *mono) {
                (true, _) => " class=\"n\"",
                (false, true) => " class=\"mono\"",
                _ => "",
            };
            h.raw("<td")
                .raw(cls)
                .raw(">")
                .text_cut(text, 1000)
                .raw("</td>");
        }
        h.raw("</tr>\n");
    }
    h.raw("</tbody></table></div>\n");
}

fn t(s: impl Into<String>) -> (String, bool) {
    (s.into(), false)
}
fn m(s: impl Into<String>) -> (String, bool) {
    (s.into(), true)
}

// ---- sections ----

fn verdict_badge(h: &mut Html, verdict: &str, score: Option<f64>) {
    let cls = match verdict {
        "malicious" | "suspicious" | "clean" => verdict,
        _ => "unknown",
    };
    h.raw("<p><span class=\"verdict v-")
        .raw(cls)
        .raw("\" id=\"verdict\">")
        .text(if verdict.is_empty() {
            "no verdict"
        } else {
            verdict
        })
        .raw("</span>");
    if let Some(sc) = score {
        h.raw("<span class=\"score\">")
            .num(format_args!("{sc:.1}"))
            .raw("<span class=\"note\"> / 10</span></span>");
    }
    h.raw("</p>\n");
}

fn limits_hit(r: &Value) -> Vec<String> {
    let l = r.get("limits").unwrap_or(&Value::Null);
    let mut hits = Vec::new();
    if l.get("timed_out").and_then(Value::as_bool) == Some(true) {
        hits.push("the analysis timed out".to_owned());
    }
    if ptr_u(l, "/events/dropped") > 0 {
        hits.push(format!(
            "{} events past the cap of {} were not recorded",
            ptr_u(l, "/events/dropped"),
            ptr_u(l, "/events/cap")
        ));
    }
    for k in ["stdout", "stderr"] {
        let tb = ptr_u(l, &format!("/{k}/truncated_bytes"));
        if tb > 0 {
            hits.push(format!("{k} cut by {tb} bytes"));
        }
    }
    for (k, what) in [
        ("killed_at_stop", "processes killed at the stop"),
        ("oom_kills", "OOM kills"),
        ("memory_limit_hits", "memory limit hits"),
        ("pids_limit_hits", "forks refused by the pids limit"),
        ("denied_total", "calls denied by the sandbox"),
        ("dropped_not_analysed", "dropped files not analysed"),
    ] {
        if u(l, k) > 0 {
            hits.push(format!("{} {what}", u(l, k)));
        }
    }
    if l.get("tmpfs_full").and_then(Value::as_bool) == Some(true) {
        hits.push("the writable filesystem filled up".to_owned());
    }
    hits
}

fn overview(h: &mut Html, r: &Value, scan: Option<&Scan>) {
    let sample = r.get("sample").unwrap_or(&Value::Null);
    section(h, "overview", "Overview");
    h.raw("<h1>").text(s(sample, "name")).raw("</h1>\n");
    verdict_badge(h, s(r, "verdict"), r.get("score").and_then(Value::as_f64));
    let a = r.get("analysis").unwrap_or(&Value::Null);
    let o = r.get("outcome").unwrap_or(&Value::Null);
    let args: Vec<&str> = arr(a, "args").iter().filter_map(Value::as_str).collect();
    let mut pairs = vec![
        ("file type", s(sample, "file_type").to_owned()),
        ("size", bytes_text(u(sample, "size"))),
        ("SHA-256", s(sample, "sha256").to_owned()),
        ("path in the sandbox", s(sample, "sandbox_path").to_owned()),
        ("arguments", args.join(" ")),
        (
            "analysed",
            a.get("started_at")
                .and_then(Value::as_i64)
                .map(utc)
                .unwrap_or_default(),
        ),
        (
            "timeout",
            a.get("timeout_secs")
                .and_then(Value::as_f64)
                .map(|t| format!("{t} s"))
                .unwrap_or_default(),
        ),
        ("network", s(a, "network").to_owned()),
        ("hostname seen by the sample", s(a, "hostname").to_owned()),
        (
            "sample exit",
            match o.get("sample_exit") {
                Some(Value::Null) | None => String::new(),
                e => exit_text(e),
            },
        ),
        ("exec error", s(o, "exec_error").to_owned()),
        ("setup error", s(o, "setup_error").to_owned()),
        (
            "run time",
            o.get("run_time_ms")
                .and_then(Value::as_u64)
                .map(|v| format!("{v} ms"))
                .unwrap_or_default(),
        ),
        (
            "CPU time",
            o.get("cpu_time_ms")
                .and_then(Value::as_u64)
                .map(|v| format!("{v} ms"))
                .unwrap_or_default(),
        ),
        (
            "processes",
            r.pointer("/processes/count")
                .and_then(Value::as_u64)
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ),
        (
            "events",
            scan.map(|sc| sc.total.to_string())
                .unwrap_or_else(|| ptr_u(r, "/limits/events/recorded").to_string()),
        ),
        ("ferret version", s(r, "ferret_version").to_owned()),
    ];
    if let Some(sc) = scan
        && sc.bad_lines > 0
    {
        pairs.push((
            "unreadable event lines",
            format!("{} (skipped)", sc.bad_lines),
        ));
    }
    kv(h, &pairs);
    for n in ptr_arr(r, "/analysis/network_notes")
        .iter()
        .filter_map(Value::as_str)
    {
        h.raw("<p class=\"note\">").text(n).raw("</p>\n");
    }
    let hits = limits_hit(r);
    if !hits.is_empty() {
        h.raw("<h3>Limits reached</h3><ul>");
        for x in &hits {
            h.raw("<li>").text(x).raw("</li>");
        }
        h.raw("</ul>\n");
    }
    let errs = ptr_arr(r, "/outcome/errors");
    if !errs.is_empty() {
        h.raw("<h3>Analysis problems</h3><ul>");
        for e in errs.iter().filter_map(Value::as_str) {
            h.raw("<li class=\"err\">").text_cut(e, 2000).raw("</li>");
        }
        h.raw("</ul>\n");
    }
    h.raw("</section>\n");
}

fn overview_pcap(h: &mut Html, r: &Value) {
    section(h, "overview", "Overview");
    h.raw("<h1>Network capture</h1>\n");
    if r.get("verdict").is_some() {
        verdict_badge(h, s(r, "verdict"), r.get("score").and_then(Value::as_f64));
    }
    if let Some(e) = r.get("error").filter(|e| !e.is_null()) {
        h.raw("<p class=\"err\">the capture is damaged: ")
            .text(s(e, "message"))
            .raw("</p>\n");
    }
    h.raw("</section>\n");
}

fn timeline(h: &mut Html, r: &Value, scan: Option<&Scan>) {
    section(h, "timeline", "Timeline of activity");
    let Some(sc) = scan.filter(|sc| !sc.buckets.is_empty()) else {
        h.raw("<p class=\"note\">No events to draw (events.jsonl was not given or is empty).</p></section>\n");
        return;
    };
    let (first, last) = (sc.first_ts.unwrap_or(0), sc.last_ts.unwrap_or(0));
    let span_s = (last.saturating_sub(first)) as f64 / 1e9;
    let n = sc.buckets.len();
    let (w, plot_h, top, left) = (1000.0f64, 150.0f64, 10.0f64, 50.0f64);
    let bw = (w - left - 10.0) / n as f64;
    let max = sc
        .buckets
        .iter()
        .map(|b| b.iter().map(|c| u64::from(*c)).sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut svg = String::with_capacity(16 << 10);
    let _ = write!(
        svg,
        "<svg class=\"timeline\" id=\"timeline-chart\" viewBox=\"0 0 {w} {}\" role=\"img\" aria-label=\"events per time interval\">",
        plot_h + top + 30.0
    );
    for (i, b) in sc.buckets.iter().enumerate() {
        let mut y = top + plot_h;
        let x = left + i as f64 * bw;
        let t0 = span_s * i as f64 / n as f64;
        for (c, count) in b.iter().enumerate() {
            if *count == 0 {
                continue;
            }
            let bh = f64::from(*count) / max as f64 * plot_h;
            y -= bh;
            let _ = write!(
                svg,
                "<rect class=\"c{c}\" x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{bh:.2}\"><title>+{t0:.3} s: {count} {} events</title></rect>",
                (bw - 0.5).max(0.5),
                CATEGORIES.get(c).copied().unwrap_or("other")
            );
        }
    }
    // Axes and ticks.
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\"/><line class=\"axis\" x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{0}\"/>",
        top + plot_h,
        w - 10.0
    );
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>",
        left - 4.0,
        top + 10.0,
        left - 4.0,
        top + plot_h
    );
    for k in 0..=4 {
        let x = left + (w - left - 10.0) * f64::from(k) / 4.0;
        let anchor = match k {
            0 => "start",
            4 => "end",
            _ => "middle",
        };
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"{anchor}\">+{:.3} s</text>",
            top + plot_h + 16.0,
            span_s * f64::from(k) / 4.0
        );
    }
    // Signature evidence as marks on the time axis.
    let mut marks = 0;
    for sig in arr(r, "signatures") {
        for ev in arr(sig, "evidence") {
            let Some(ts) = ev.pointer("/event/ts").and_then(Value::as_u64) else {
                continue;
            };
            if ts < first || ts > last || marks >= 500 {
                continue;
            }
            marks += 1;
            let x = left + (ts - first) as f64 / (last - first).max(1) as f64 * (w - left - 10.0);
            let y = top + plot_h;
            svg.push_str("<path class=\"sig\" d=\"M");
            let _ = write!(svg, "{x:.2} {:.2} l-4 7 h8 z\"><title>", y + 1.0);
            crate::html::escape_into(&mut svg, s(sig, "name"));
            svg.push_str("</title></path>");
        }
    }
    svg.push_str("</svg>");
    h.raw(&svg);
    h.raw("<p class=\"legend\">");
    for (i, c) in CATEGORIES.iter().enumerate() {
        h.raw("<span><i class=\"l")
            .num(i)
            .raw("\"></i>")
            .text(c)
            .raw("</span>");
    }
    h.raw("<span><i class=\"ls\"></i>signature evidence</span></p>\n<p class=\"note\">")
        .num(sc.total)
        .raw(" events over ")
        .num(format_args!("{span_s:.3}"))
        .raw(" s, ")
        .num(n)
        .raw(" intervals of ")
        .num(format_args!("{:.3}", span_s / n as f64))
        .raw(" s.</p>\n</section>\n");
}

fn severity_class(sev: &str) -> String {
    let l = sev.to_ascii_lowercase();
    match l.as_str() {
        "critical" | "high" | "error" | "warning" | "medium" | "notice" | "low"
        | "informational" | "info" => format!("sev sev-{l}"),
        _ => "sev".to_owned(),
    }
}

fn signatures(h: &mut Html, r: &Value) {
    let sigs = arr(r, "signatures");
    section(h, "signatures", &format!("Signatures ({})", sigs.len()));
    if sigs.is_empty() {
        h.raw("<p class=\"note\">No rule matched.</p>");
    }
    for sig in sigs {
        h.raw("<details class=\"sig\" open><summary><span class=\"")
            .raw(&severity_class(s(sig, "severity")))
            .raw("\">")
            .text(s(sig, "severity"))
            .raw("</span> <strong>")
            .text(s(sig, "name"))
            .raw("</strong> ");
        for id in arr(sig, "attack").iter().filter_map(Value::as_str) {
            h.raw("<span class=\"att\">").text(id);
            if let Some(name) = technique_name(id) {
                h.raw(" ").text(name);
            }
            h.raw("</span>");
        }
        h.raw("<span class=\"note\"> ")
            .num(u(sig, "count"))
            .raw(" events, weight ")
            .text(&scalar(sig.get("weight")))
            .raw("</span></summary>\n<p>")
            .text_cut(s(sig, "description"), 2000)
            .raw("</p>\n");
        let ev = arr(sig, "evidence");
        if !ev.is_empty() {
            h.raw("<table><thead><tr><th class=\"n\">event</th><th>type</th><th class=\"n\">pid</th><th>output</th></tr></thead><tbody>");
            for e in ev {
                let num = e.pointer("/event/num").and_then(Value::as_u64);
                h.raw("<tr><td class=\"n\">");
                if let Some(n) = num {
                    h.raw("<button class=\"link\" data-filter=\"evt.num = ")
                        .num(n)
                        .raw("\" title=\"show in the event table\">")
                        .num(n)
                        .raw("</button>");
                }
                h.raw("</td><td class=\"mono\">")
                    .text(ptr_s(e, "/event/type"))
                    .raw("</td><td class=\"n\">")
                    .text(&scalar(e.pointer("/event/pid")))
                    .raw("</td><td class=\"mono\">")
                    .text_cut(s(e, "output"), 2000)
                    .raw("</td></tr>\n");
            }
            h.raw("</tbody></table>\n");
        }
        h.raw("</details>\n");
    }
    h.raw("</section>\n");
}

fn processes(h: &mut Html, r: &Value, scan: Option<&Scan>, max: usize) {
    let list = ptr_arr(r, "/processes/list");
    let count = ptr_u(r, "/processes/count");
    section(h, "processes", &format!("Processes ({count})"));
    // The process list (pid, ppid, name, exe, cmdline) for the filter's proc.* fields.
    let procs: Vec<Value> = list
        .iter()
        .take(max)
        .map(|p| {
            json!({"pid": p.get("pid"), "ppid": p.get("ppid"), "name": p.get("name"),
                   "exe": p.get("exe"), "cmdline": p.get("cmdline")})
        })
        .collect();
    h.json_script("ferret-procs", &Value::Array(procs));
    if list.is_empty() {
        h.raw("<p class=\"note\">No process was seen.</p></section>\n");
        return;
    }
    let static_arch = ptr_s(r, "/static/elf/machine/name");
    let by_pid: HashMap<i64, &Value> = list
        .iter()
        .filter_map(|p| Some((p.get("pid")?.as_i64()?, p)))
        .collect();
    let root = r.pointer("/processes/root").and_then(Value::as_i64);
    let mut roots: Vec<&Value> = list
        .iter()
        .filter(|p| {
            let ppid = p.get("ppid").and_then(Value::as_i64).unwrap_or(0);
            let pid = p.get("pid").and_then(Value::as_i64).unwrap_or(0);
            ppid == pid || !by_pid.contains_key(&ppid)
        })
        .collect();
    roots.sort_by_key(|p| p.get("pid").and_then(Value::as_i64) != root);
    h.raw("<p><button id=\"tree-expand\">expand all</button> <button id=\"tree-collapse\">collapse all</button></p>\n<ul class=\"tree\" id=\"proc-tree\">\n");
    // Iterative walk: a fork chain can be thousands deep. Nesting past MAX_DEPTH is
    // drawn flat (browsers lay out very deep nesting slowly).
    const MAX_DEPTH: usize = 48;
    enum Step<'a> {
        Open(&'a Value, usize),
        Close,
    }
    let mut stack: Vec<Step> = roots.iter().rev().map(|p| Step::Open(p, 0)).collect();
    let mut seen = HashSet::new();
    let mut shown = 0usize;
    while let Some(step) = stack.pop() {
        let (p, depth) = match step {
            Step::Close => {
                h.raw("</ul></details></li>\n");
                continue;
            }
            Step::Open(p, d) => (p, d),
        };
        let pid = p.get("pid").and_then(Value::as_i64).unwrap_or(0);
        if !seen.insert(pid) || shown >= max {
            continue;
        }
        shown += 1;
        // The report's own per-process architecture (emulated runs name their runner),
        // else the procexec events', else the sample's ELF machine for the root.
        let arch = match (p.get("arch").and_then(Value::as_str), s(p, "runner")) {
            (Some(a), "" | "native") => a.to_owned(),
            (Some(a), runner) => format!("{a} via {runner}"),
            (None, _) => scan
                .and_then(|sc| sc.arch.get(&pid))
                .map(String::as_str)
                .unwrap_or(if Some(pid) == root { static_arch } else { "" })
                .to_owned(),
        };
        let children: Vec<&Value> = arr(p, "children")
            .iter()
            .filter_map(Value::as_i64)
            .filter_map(|c| by_pid.get(&c).copied())
            .collect();
        let nest = !children.is_empty() && depth < MAX_DEPTH;
        h.raw("<li class=\"proc\">");
        if nest {
            h.raw("<details open><summary>");
        }
        h.raw("<span class=\"pid\">")
            .num(pid)
            .raw("</span> <strong>")
            .text(s(p, "name"))
            .raw("</strong> ");
        if !arch.is_empty() {
            h.raw("<span class=\"arch\">[").text(&arch).raw("]</span> ");
        }
        h.raw("<span class=\"exit\">")
            .text(&exit_text(p.get("exit")))
            .raw("</span> <button class=\"link\" data-filter=\"proc.pid = ")
            .num(pid)
            .raw("\">events</button><br><span class=\"note\">exe</span> ")
            .text_cut(s(p, "exe"), 500)
            .raw("<br><span class=\"note\">cmdline</span> ")
            .text_cut(s(p, "cmdline"), 1000);
        let execs: Vec<&str> = arr(p, "execs").iter().filter_map(Value::as_str).collect();
        if execs.len() > 1 {
            h.raw("<br><span class=\"note\">executed</span> ")
                .text_cut(&execs.join(" → "), 1000);
        }
        if nest {
            h.raw("</summary><ul>\n");
            stack.push(Step::Close);
            for c in children.iter().rev() {
                stack.push(Step::Open(c, depth + 1));
            }
        } else {
            h.raw("</li>\n");
            // Children past the depth limit follow at this level.
            for c in children.iter().rev() {
                stack.push(Step::Open(c, depth));
            }
        }
    }
    h.raw("</ul>\n");
    let omitted = ptr_u(r, "/processes/omitted") as usize;
    more_note(
        h,
        shown,
        list.len().max(shown) + omitted,
        "report.json (up to 10,000 processes)",
    );
    h.raw("</section>\n");
}

fn event_table(h: &mut Html, r: &Value, scan: Option<&Scan>, served: bool, opts: &ReportPage) {
    section(h, "events", "Events");
    let empty = Vec::new();
    let embedded = scan.map_or(&empty, |sc| &sc.embedded);
    h.raw("<div class=\"filterbar\"><input id=\"ev-filter\" type=\"text\" spellcheck=\"false\" autocomplete=\"off\" placeholder=\"sysdig/Falco filter, e.g. evt.type in (openat, connect) and not evt.failed=true\" aria-label=\"event filter\"><button id=\"ev-apply\" class=\"primary\">filter</button><button id=\"ev-clear\">clear</button></div>\n<p class=\"err\" id=\"ev-error\" hidden></p>\n<p class=\"note\" id=\"ev-status\"></p>\n");
    if served {
        h.raw("<p class=\"note\">The filter runs on the server over every event of the task, in the full Falco filter language.</p>\n");
    } else {
        let total = scan.map_or(ptr_u(r, "/limits/events/recorded"), |sc| sc.total);
        h.raw("<p class=\"note\">")
            .num(embedded.len())
            .raw(" of ")
            .num(total)
            .raw(" events are in this page");
        if (embedded.len() as u64) < total {
            h.raw(" (the first ones, at most ")
                .num(opts.max_events)
                .raw("); the other ")
                .num(total - embedded.len() as u64)
                .raw(" are in events.jsonl beside this report (<code>ferret filter</code> or <code>ferret serve</code> query them all)");
        }
        h.raw(". The filter box takes the common subset of the sysdig/Falco filter language: field comparisons with =, !=, &lt;, &lt;=, &gt;, &gt;=, contains, icontains, startswith, endswith, in, exists, combined with and, or, not and parentheses.</p>\n");
    }
    h.raw("<div class=\"scroll\"><table id=\"ev-table\"><thead><tr><th class=\"n\">#</th><th class=\"n\">time</th><th class=\"n\">pid</th><th>process</th><th>type</th><th>arguments</th><th>result</th></tr></thead><tbody></tbody></table></div>\n<p><button id=\"ev-more\" hidden>more</button></p>\n");
    h.json_script("ferret-events", &Value::Array(embedded.clone()));
    h.raw("</section>\n");
}

fn path_table(h: &mut Html, title: &str, list: &[Value], rows: usize) {
    h.raw("<h3>")
        .text(title)
        .raw(" (")
        .num(list.len())
        .raw(")</h3>\n");
    if list.is_empty() {
        return;
    }
    table(
        h,
        &["path", "#uses", "#failed"],
        list.iter().take(rows).map(|f| {
            vec![
                m(s(f, "path")),
                t(u(f, "count").to_string()),
                t(u(f, "failed").to_string()),
            ]
        }),
    );
    more_note(h, rows.min(list.len()), list.len(), "report.json");
}

fn files(h: &mut Html, r: &Value, rows: usize) {
    let f = r.get("files").unwrap_or(&Value::Null);
    section(h, "files", "Files");
    let dropped = arr(f, "dropped");
    h.raw("<h3>Created, modified and deleted (")
        .num(dropped.len())
        .raw(")</h3>\n");
    if !dropped.is_empty() {
        table(
            h,
            &[
                "change",
                "path",
                "kind",
                "#size",
                "mode",
                "SHA-256",
                "file type",
                "stored as",
            ],
            dropped.iter().take(rows).map(|d| {
                let kind = match d.get("target").and_then(Value::as_str) {
                    Some(tg) => format!("{} → {tg}", s(d, "kind")),
                    None => s(d, "kind").to_owned(),
                };
                let stored = match d.get("not_copied").and_then(Value::as_str) {
                    Some(why) => format!("not copied: {why}"),
                    None => s(d, "stored_as").to_owned(),
                };
                vec![
                    t(s(d, "change")),
                    m(s(d, "path")),
                    t(kind),
                    t(bytes_text(u(d, "size"))),
                    m(s(d, "mode")),
                    m(s(d, "sha256")),
                    t(ptr_s(d, "/static/file_type/description")),
                    m(stored),
                ]
            }),
        );
        more_note(h, rows.min(dropped.len()), dropped.len(), "report.json");
    }
    if f.get("dropped_truncated").and_then(Value::as_bool) == Some(true) {
        h.raw("<p class=\"note\">The walk over changed files hit its cap: more changed.</p>\n");
    }
    path_table(h, "Written", arr(f, "written"), rows);
    path_table(h, "Deleted", arr(f, "deleted"), rows);
    path_table(h, "Opened", arr(f, "opened"), rows);
    if u(f, "omitted") > 0 {
        h.raw("<p class=\"note\">")
            .num(u(f, "omitted"))
            .raw(" paths beyond the report's caps were left out.</p>\n");
    }
    h.raw("</section>\n");
}

/// The packet-capture analysis (`ferret_pcap::NetworkReport`) in a report: the report
/// itself for `ferret pcap` output, else the `network` section's capture.
fn capture_of(r: &Value) -> Option<&Value> {
    let is_capture = |v: &Value| v.get("summary").is_some() && v.get("flows").is_some();
    if is_capture(r) {
        return Some(r);
    }
    let net = r.get("network")?;
    if is_capture(net) {
        return Some(net);
    }
    ["capture", "pcap", "traffic"]
        .iter()
        .filter_map(|k| net.get(*k).or_else(|| r.get(*k)))
        .find(|v| is_capture(v))
}

fn endpoint_text(addr: &str, port: Option<u64>) -> String {
    match port {
        Some(p) if addr.contains(':') => format!("[{addr}]:{p}"),
        Some(p) => format!("{addr}:{p}"),
        None => addr.to_owned(),
    }
}

fn network(h: &mut Html, r: &Value, capture: Option<&Value>, rows: usize) {
    section(h, "network", "Network");
    let net = r.get("network").unwrap_or(&Value::Null);
    let conns = arr(net, "connections");
    let binds = arr(net, "binds");
    if r.get("sample").is_some() {
        h.raw("<h3>Connections attempted (")
            .num(conns.len())
            .raw(")</h3>\n");
        for (list, what) in [(conns, "connections"), (binds, "binds")] {
            if what == "binds" {
                h.raw("<h3>Bound addresses (")
                    .num(list.len())
                    .raw(")</h3>\n");
            }
            if list.is_empty() {
                continue;
            }
            table(
                h,
                &[
                    "call",
                    "family",
                    "endpoint",
                    "#count",
                    "#failed",
                    "last error",
                ],
                list.iter().take(rows).map(|c| {
                    vec![
                        t(s(c, "syscall")),
                        t(s(c, "family")),
                        m(endpoint_text(
                            s(c, "address"),
                            c.get("port").and_then(Value::as_u64),
                        )),
                        t(u(c, "count").to_string()),
                        t(u(c, "failed").to_string()),
                        t(s(c, "last_error")),
                    ]
                }),
            );
            more_note(h, rows.min(list.len()), list.len(), "report.json");
        }
        let socks = arr(net, "sockets");
        if !socks.is_empty() {
            h.raw("<h3>Sockets created</h3>\n");
            table(
                h,
                &["domain", "type", "#count"],
                socks.iter().take(rows).map(|x| {
                    vec![
                        t(s(x, "domain")),
                        t(s(x, "type")),
                        t(u(x, "count").to_string()),
                    ]
                }),
            );
        }
    }
    match capture {
        Some(c) => capture_sections(h, c, rows),
        None => {
            h.raw("<p class=\"note\">No packet capture was analysed for this report.</p>\n");
        }
    }
    if let Some(f) = net.get("fakenet").filter(|f| f.is_object()) {
        fakenet(h, f, rows);
    }
    h.raw("</section>\n");
}

/// What the fake internet's responders saw and answered (`network.fakenet`).
fn fakenet(h: &mut Html, f: &Value, rows: usize) {
    h.raw("<h3>Fake internet: what the responders saw</h3>\n");
    let notes = [
        ("DNS policy", scalar(f.get("dns_policy"))),
        ("sinkhole", scalar(f.get("sinkhole"))),
        ("sandbox address", scalar(f.get("sandbox_address"))),
        ("records past the cap", scalar(f.get("dropped_records"))),
        ("connections refused", scalar(f.get("refused_connections"))),
    ];
    kv(h, &notes);
    let at = |v: &Value| {
        v.get("at")
            .and_then(Value::as_f64)
            .map(|a| format!("+{a:.3} s"))
            .unwrap_or_default()
    };
    let sessions = arr(f, "sessions");
    if !sessions.is_empty() {
        h.raw("<h3>Sessions (").num(sessions.len()).raw(")</h3>\n");
        table(
            h,
            &[
                "time",
                "client",
                "destination",
                "protocol",
                "#bytes from client",
                "#bytes to client",
            ],
            sessions.iter().take(rows).map(|x| {
                vec![
                    t(at(x)),
                    m(scalar(x.get("client"))),
                    m(scalar(x.get("original_dst"))),
                    t(s(x, "protocol")),
                    t(u(x, "bytes_from_client").to_string()),
                    t(u(x, "bytes_to_client").to_string()),
                ]
            }),
        );
        more_note(h, rows.min(sessions.len()), sessions.len(), "report.json");
    }
    let dns = arr(f, "dns");
    if !dns.is_empty() {
        h.raw("<h3>DNS answered (").num(dns.len()).raw(")</h3>\n");
        table(
            h,
            &["time", "name", "type", "answer", "rcode"],
            dns.iter().take(rows).map(|x| {
                vec![
                    t(at(x)),
                    m(s(x, "name")),
                    t(scalar(x.get("qtype"))),
                    m(scalar(x.get("answer"))),
                    t(scalar(x.get("rcode"))),
                ]
            }),
        );
        more_note(h, rows.min(dns.len()), dns.len(), "report.json");
    }
    let http = arr(f, "http");
    if !http.is_empty() {
        h.raw("<h3>HTTP requests served (")
            .num(http.len())
            .raw(")</h3>\n");
        table(
            h,
            &[
                "time",
                "destination",
                "method",
                "host",
                "URI",
                "user agent",
                "#status",
                "served",
            ],
            http.iter().take(rows).map(|x| {
                vec![
                    t(at(x)),
                    m(scalar(x.get("original_dst"))),
                    t(s(x, "method")),
                    m(s(x, "host")),
                    m(s(x, "uri")),
                    m(s(x, "user_agent")),
                    t(scalar(x.get("status"))),
                    m(scalar(x.get("served_file"))),
                ]
            }),
        );
        more_note(h, rows.min(http.len()), http.len(), "report.json");
    }
    let irc = arr(f, "irc");
    if !irc.is_empty() {
        h.raw("<h3>IRC lines sent (").num(irc.len()).raw(")</h3>\n");
        table(
            h,
            &["time", "destination", "command", "parameters"],
            irc.iter().take(rows).map(|x| {
                let params: Vec<String> =
                    arr(x, "params").iter().map(|p| scalar(Some(p))).collect();
                vec![
                    t(at(x)),
                    m(scalar(x.get("original_dst"))),
                    m(s(x, "command")),
                    m(params.join(" ")),
                ]
            }),
        );
        more_note(h, rows.min(irc.len()), irc.len(), "report.json");
    }
    let telnet = arr(f, "telnet");
    if !telnet.is_empty() {
        h.raw("<h3>Telnet sessions (")
            .num(telnet.len())
            .raw(")</h3>\n");
        table(
            h,
            &["time", "destination", "user name", "password", "commands"],
            telnet.iter().take(rows).map(|x| {
                let cmds: Vec<String> =
                    arr(x, "commands").iter().map(|p| scalar(Some(p))).collect();
                vec![
                    t(at(x)),
                    m(scalar(x.get("original_dst"))),
                    m(scalar(x.get("username"))),
                    m(scalar(x.get("password"))),
                    m(cmds.join("; ")),
                ]
            }),
        );
        more_note(h, rows.min(telnet.len()), telnet.len(), "report.json");
    }
}

fn ts_text(v: Option<&Value>) -> String {
    match v.and_then(Value::as_f64) {
        Some(ts) if ts.is_finite() && ts >= 0.0 => {
            let secs = ts.trunc() as i64;
            let frac = ((ts - ts.trunc()) * 1e6).round() as i64;
            let base = utc(secs);
            let base = base.strip_suffix(" UTC").unwrap_or(&base).to_owned();
            format!("{base}.{:06}", frac.min(999_999))
        }
        _ => String::new(),
    }
}

fn capture_sections(h: &mut Html, c: &Value, rows: usize) {
    let sm = c.get("summary").unwrap_or(&Value::Null);
    h.raw("<h3>Capture</h3>\n");
    kv(
        h,
        &[
            ("format", s(sm, "format").to_owned()),
            ("packets", scalar(sm.get("packets"))),
            ("captured", bytes_text(u(sm, "captured_bytes"))),
            ("flows", scalar(sm.get("flows"))),
            ("first packet", ts_text(sm.get("first_ts"))),
            ("last packet", ts_text(sm.get("last_ts"))),
        ],
    );
    let anomalies = arr(c, "anomalies");
    h.raw("<h3>Anomalies (")
        .num(anomalies.len())
        .raw(")</h3>\n");
    if !anomalies.is_empty() {
        table(
            h,
            &["kind", "source", "target", "#count", "description"],
            anomalies.iter().take(rows).map(|a| {
                vec![
                    t(s(a, "kind")),
                    m(scalar(a.get("source"))),
                    m(scalar(a.get("target"))),
                    t(scalar(a.get("count"))),
                    t(s(a, "description")),
                ]
            }),
        );
    }
    let eps = arr(c, "endpoints");
    h.raw("<h3>Endpoints (").num(eps.len()).raw(")</h3>\n");
    if !eps.is_empty() {
        table(
            h,
            &[
                "address",
                "names",
                "country",
                "city",
                "AS",
                "#bytes sent",
                "#bytes received",
                "ports",
                "blacklisted",
            ],
            eps.iter().take(rows).map(|e| {
                let g = e.get("geo").unwrap_or(&Value::Null);
                let names: Vec<&str> = arr(e, "names").iter().filter_map(Value::as_str).collect();
                let ports: Vec<String> = arr(e, "ports").iter().map(|p| scalar(Some(p))).collect();
                let asn = match (g.get("asn").and_then(Value::as_u64), s(g, "as_org")) {
                    (Some(n), "") => format!("AS{n}"),
                    (Some(n), org) => format!("AS{n} {org}"),
                    (None, org) => org.to_owned(),
                };
                let country = match (s(g, "country"), s(g, "country_name")) {
                    ("", n) | (n, "") => n.to_owned(),
                    (cc, n) => format!("{n} ({cc})"),
                };
                vec![
                    m(s(e, "ip")),
                    m(names.join(", ")),
                    t(country),
                    t(s(g, "city")),
                    t(asn),
                    t(u(e, "bytes_sent").to_string()),
                    t(u(e, "bytes_received").to_string()),
                    m(ports.join(" ")),
                    t(
                        if e.get("blacklisted").and_then(Value::as_bool) == Some(true) {
                            "yes"
                        } else {
                            ""
                        },
                    ),
                ]
            }),
        );
        more_note(h, rows.min(eps.len()), eps.len(), "the network report");
    }
    let dns = arr(c, "dns");
    h.raw("<h3>DNS (").num(dns.len()).raw(")</h3>\n");
    if !dns.is_empty() {
        table(
            h,
            &["time", "client", "query", "type", "response", "answers"],
            dns.iter().take(rows).map(|d| {
                let q = arr(d, "questions").first().unwrap_or(&Value::Null);
                let answers: Vec<String> = arr(d, "answers")
                    .iter()
                    .take(16)
                    .map(|a| format!("{} {}", s(a, "rtype"), scalar(a.get("data"))))
                    .collect();
                let resp = if d.get("response").and_then(Value::as_bool) == Some(true) {
                    s(d, "rcode").to_owned()
                } else {
                    "query".to_owned()
                };
                vec![
                    t(ts_text(d.get("ts"))),
                    m(s(d, "src")),
                    m(s(q, "name")),
                    t(s(q, "rtype")),
                    t(resp),
                    m(answers.join(", ")),
                ]
            }),
        );
        more_note(h, rows.min(dns.len()), dns.len(), "the network report");
    }
    let http = arr(c, "http");
    h.raw("<h3>HTTP (").num(http.len()).raw(")</h3>\n");
    if !http.is_empty() {
        table(
            h,
            &[
                "time",
                "client",
                "server",
                "method",
                "host",
                "URI",
                "user agent",
                "#status",
                "content type",
            ],
            http.iter().take(rows).map(|x| {
                vec![
                    t(ts_text(x.get("ts"))),
                    m(s(x, "src")),
                    m(endpoint_text(
                        s(x, "dst"),
                        x.get("dport").and_then(Value::as_u64),
                    )),
                    t(s(x, "method")),
                    m(s(x, "host")),
                    m(s(x, "uri")),
                    m(s(x, "user_agent")),
                    t(scalar(x.get("status"))),
                    t(s(x, "content_type")),
                ]
            }),
        );
        more_note(h, rows.min(http.len()), http.len(), "the network report");
    }
    let irc = arr(c, "irc");
    h.raw("<h3>IRC (").num(irc.len()).raw(")</h3>\n");
    if !irc.is_empty() {
        table(
            h,
            &[
                "time",
                "direction",
                "server",
                "prefix",
                "command",
                "parameters",
            ],
            irc.iter().take(rows).map(|x| {
                let params: Vec<String> =
                    arr(x, "params").iter().map(|p| scalar(Some(p))).collect();
                vec![
                    t(ts_text(x.get("ts"))),
                    t(
                        if x.get("from_client").and_then(Value::as_bool) == Some(true) {
                            "client → server"
                        } else {
                            "server → client"
                        },
                    ),
                    m(endpoint_text(
                        s(x, "dst"),
                        x.get("dport").and_then(Value::as_u64),
                    )),
                    m(s(x, "prefix")),
                    m(s(x, "command")),
                    m(params.join(" ")),
                ]
            }),
        );
        more_note(h, rows.min(irc.len()), irc.len(), "the network report");
    }
    let telnet = arr(c, "telnet");
    h.raw("<h3>Telnet (")
        .num(telnet.len())
        .raw(" sessions)</h3>\n");
    for sess in telnet.iter().take(rows.min(100)) {
        h.raw("<p class=\"mono\">")
            .text(&endpoint_text(
                s(sess, "client"),
                sess.get("client_port").and_then(Value::as_u64),
            ))
            .raw(" → ")
            .text(&endpoint_text(
                s(sess, "server"),
                sess.get("server_port").and_then(Value::as_u64),
            ))
            .raw("</p>\n");
        let creds = arr(sess, "credentials");
        if !creds.is_empty() {
            table(
                h,
                &["time", "user name", "password"],
                creds.iter().take(rows).map(|c| {
                    vec![
                        t(ts_text(c.get("ts"))),
                        m(scalar(c.get("username"))),
                        m(scalar(c.get("password"))),
                    ]
                }),
            );
        }
        let data = arr(sess, "data");
        if !data.is_empty() {
            let mut text = String::new();
            for d in data.iter().take(200) {
                text.push_str(
                    if d.get("from_client").and_then(Value::as_bool) == Some(true) {
                        "> "
                    } else {
                        "< "
                    },
                );
                text.push_str(s(d, "text"));
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            h.raw("<pre class=\"json\">")
                .text_cut(&text, 20_000)
                .raw("</pre>\n");
        }
    }
    let tls = arr(c, "tls");
    if !tls.is_empty() {
        h.raw("<h3>TLS (").num(tls.len()).raw(")</h3>\n");
        table(
            h,
            &["time", "client", "server", "version", "SNI", "ALPN"],
            tls.iter().take(rows).map(|x| {
                let alpn: Vec<String> = arr(x, "alpn").iter().map(|p| scalar(Some(p))).collect();
                vec![
                    t(ts_text(x.get("ts"))),
                    m(s(x, "src")),
                    m(endpoint_text(
                        s(x, "dst"),
                        x.get("dport").and_then(Value::as_u64),
                    )),
                    t(s(x, "version")),
                    m(s(x, "sni")),
                    m(alpn.join(", ")),
                ]
            }),
        );
    }
    let flows = arr(c, "flows");
    h.raw("<h3>Flows (").num(flows.len()).raw(")</h3>\n");
    if !flows.is_empty() {
        table(
            h,
            &[
                "proto",
                "from",
                "to",
                "app",
                "#packets out",
                "#bytes out",
                "#packets in",
                "#bytes in",
                "handshake",
            ],
            flows.iter().take(rows).map(|f| {
                vec![
                    t(s(f, "proto")),
                    m(endpoint_text(
                        s(f, "src"),
                        f.get("sport").and_then(Value::as_u64),
                    )),
                    m(endpoint_text(
                        s(f, "dst"),
                        f.get("dport").and_then(Value::as_u64),
                    )),
                    t(s(f, "app")),
                    t(u(f, "packets_out").to_string()),
                    t(u(f, "bytes_out").to_string()),
                    t(u(f, "packets_in").to_string()),
                    t(u(f, "bytes_in").to_string()),
                    t(
                        if f.get("handshake").and_then(Value::as_bool) == Some(true) {
                            "yes"
                        } else {
                            ""
                        },
                    ),
                ]
            }),
        );
        more_note(h, rows.min(flows.len()), flows.len(), "the network report");
    }
    let lim = arr(c, "limits_reached");
    if !lim.is_empty() {
        h.raw("<h3>Capture analysis limits reached</h3><ul>");
        for l in lim {
            h.raw("<li>")
                .text(s(l, "what"))
                .raw(": limit ")
                .text(&scalar(l.get("limit")))
                .raw(", ")
                .text(&scalar(l.get("dropped")))
                .raw(" left out</li>");
        }
        h.raw("</ul>\n");
    }
}

fn static_section(h: &mut Html, st: &Value, rows: usize) {
    section(h, "static", "Static analysis");
    if st.is_null() {
        h.raw("<p class=\"note\">No static analysis.</p></section>\n");
        return;
    }
    let ft = st.get("file_type").unwrap_or(&Value::Null);
    let hs = st.get("hashes").unwrap_or(&Value::Null);
    kv(
        h,
        &[
            ("file type", s(ft, "description").to_owned()),
            ("kind", s(ft, "kind").to_owned()),
            ("size", bytes_text(u(st, "size"))),
            (
                "entropy",
                st.get("entropy")
                    .and_then(Value::as_f64)
                    .map(|e| format!("{e:.3} bits/byte"))
                    .unwrap_or_default(),
            ),
            ("MD5", s(hs, "md5").to_owned()),
            ("SHA-1", s(hs, "sha1").to_owned()),
            ("SHA-256", s(hs, "sha256").to_owned()),
            ("ssdeep", s(hs, "ssdeep").to_owned()),
            ("TLSH", s(hs, "tlsh").to_owned()),
        ],
    );
    if let Some(elf) = st.get("elf").filter(|e| e.is_object()) {
        h.raw("<h3>ELF header</h3>\n");
        let yes = |k: &str| match elf.get(k) {
            Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
            other => scalar(other),
        };
        let needed: Vec<&str> = arr(elf, "needed")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        kv(
            h,
            &[
                ("class", s(elf, "class").to_owned()),
                ("endianness", s(elf, "endianness").to_owned()),
                (
                    "machine",
                    format!(
                        "{} ({})",
                        ptr_s(elf, "/machine/name"),
                        ptr_s(elf, "/machine/description")
                    ),
                ),
                ("OS ABI", s(elf, "os_abi").to_owned()),
                ("type", s(elf, "elf_type").to_owned()),
                (
                    "entry point",
                    elf.get("entry")
                        .and_then(Value::as_u64)
                        .map(|e| format!("{e:#x} ({})", s(elf, "entry_section")))
                        .unwrap_or_default(),
                ),
                ("interpreter", s(elf, "interpreter").to_owned()),
                ("linkage", s(elf, "linkage").to_owned()),
                ("PIE", yes("pie")),
                ("stripped", yes("stripped")),
                ("NX stack", yes("nx_stack")),
                ("RELRO", scalar(elf.get("relro"))),
                ("stack protector", yes("stack_protector")),
                ("FORTIFY", yes("fortify")),
                ("needed libraries", needed.join(", ")),
                ("build id", ptr_s(elf, "/notes/build_id").to_owned()),
            ],
        );
        for e in arr(elf, "errors").iter().filter_map(Value::as_str) {
            h.raw("<p class=\"err\">").text(e).raw("</p>\n");
        }
        let sections = arr(elf, "sections");
        h.raw("<h3>Sections (").num(sections.len()).raw(")</h3>\n");
        if !sections.is_empty() {
            table(
                h,
                &[
                    "#", "name", "kind", "flags", "#address", "#offset", "#size", "#entropy",
                ],
                sections.iter().take(rows).map(|x| {
                    let ent = x
                        .get("entropy")
                        .and_then(Value::as_f64)
                        .map(|e| format!("{e:.2}{}", if e > 7.2 { " (high)" } else { "" }))
                        .unwrap_or_default();
                    vec![
                        t(scalar(x.get("index"))),
                        m(s(x, "name")),
                        t(s(x, "kind")),
                        m(s(x, "flags")),
                        t(format!("{:#x}", u(x, "addr"))),
                        t(format!("{:#x}", u(x, "offset"))),
                        t(u(x, "size").to_string()),
                        t(ent),
                    ]
                }),
            );
        }
        let segs = arr(elf, "segments");
        if !segs.is_empty() {
            h.raw("<h3>Segments (").num(segs.len()).raw(")</h3>\n");
            table(
                h,
                &[
                    "kind",
                    "flags",
                    "#offset",
                    "#vaddr",
                    "#file size",
                    "#memory size",
                    "W+X",
                ],
                segs.iter().take(rows).map(|x| {
                    vec![
                        t(s(x, "kind")),
                        m(s(x, "flags")),
                        t(format!("{:#x}", u(x, "offset"))),
                        t(format!("{:#x}", u(x, "vaddr"))),
                        t(u(x, "filesz").to_string()),
                        t(u(x, "memsz").to_string()),
                        t(
                            if x.get("writable_and_executable").and_then(Value::as_bool)
                                == Some(true)
                            {
                                "yes"
                            } else {
                                ""
                            },
                        ),
                    ]
                }),
            );
        }
        let imports = arr(elf, "imports");
        h.raw("<h3>Imports (").num(imports.len()).raw(")</h3>\n");
        if !imports.is_empty() {
            h.raw("<p class=\"mono\">");
            for (i, x) in imports.iter().take(rows).enumerate() {
                if i > 0 {
                    h.raw(", ");
                }
                h.text(s(x, "name"));
                if !s(x, "version").is_empty() {
                    h.raw("@").text(s(x, "version"));
                }
            }
            h.raw("</p>\n");
            more_note(h, rows.min(imports.len()), imports.len(), "report.json");
        }
        let exports = arr(elf, "exports");
        if !exports.is_empty() {
            h.raw("<h3>Exports (")
                .num(exports.len())
                .raw(")</h3>\n<p class=\"mono\">");
            for (i, x) in exports.iter().take(rows).enumerate() {
                if i > 0 {
                    h.raw(", ");
                }
                h.text(s(x, "name"));
            }
            h.raw("</p>\n");
            more_note(h, rows.min(exports.len()), exports.len(), "report.json");
        }
    }
    let packer = st.get("packer").unwrap_or(&Value::Null);
    let ind = arr(packer, "indicators");
    h.raw("<h3>Packer</h3>\n");
    match packer.get("name").and_then(Value::as_str) {
        Some(n) => {
            h.raw("<p class=\"flag\">packed with ")
                .text(n)
                .raw("</p>\n");
        }
        None if ind.is_empty() => {
            h.raw("<p class=\"note\">No sign of packing.</p>\n");
        }
        None => {}
    }
    if !ind.is_empty() {
        table(
            h,
            &["indicator", "severity", "description"],
            ind.iter()
                .take(rows)
                .map(|i| vec![m(s(i, "id")), t(s(i, "severity")), t(s(i, "description"))]),
        );
    }
    yara(h, st.get("yara").unwrap_or(&Value::Null), rows);
    iocs(h, st.get("iocs").unwrap_or(&Value::Null), rows);
    let strings = st.get("strings").unwrap_or(&Value::Null);
    let list = arr(strings, "strings");
    h.raw("<h3>Strings (")
        .num(u(strings, "total"))
        .raw(")</h3>\n");
    if !list.is_empty() {
        table(
            h,
            &["#offset", "encoding", "string"],
            list.iter().take(rows).map(|x| {
                vec![
                    t(format!("{:#x}", u(x, "offset"))),
                    t(s(x, "encoding")),
                    m(s(x, "value")),
                ]
            }),
        );
        more_note(
            h,
            rows.min(list.len()),
            list.len().max(u(strings, "total") as usize),
            "report.json (static.strings)",
        );
    }
    for e in arr(st, "errors").iter().filter_map(Value::as_str) {
        h.raw("<p class=\"err\">").text(e).raw("</p>\n");
    }
    h.raw("</section>\n");
}

fn yara(h: &mut Html, y: &Value, rows: usize) {
    h.raw("<h3>YARA</h3>\n");
    if y.is_null() {
        h.raw("<p class=\"note\">Not scanned (ferret built without YARA, or --no-yara).</p>\n");
        return;
    }
    if let Some(e) = y.get("error").and_then(Value::as_str) {
        h.raw("<p class=\"err\">").text(e).raw("</p>\n");
    }
    let matches = arr(y, "matches");
    if matches.is_empty() {
        h.raw("<p class=\"note\">No rule matched.</p>\n");
        return;
    }
    table(
        h,
        &[
            "rule",
            "namespace",
            "tags",
            "description",
            "strings matched",
        ],
        matches.iter().take(rows).map(|x| {
            let tags: Vec<&str> = arr(x, "tags").iter().filter_map(Value::as_str).collect();
            let strs: Vec<String> = arr(x, "strings")
                .iter()
                .filter(|st| u(st, "total") > 0)
                .map(|st| format!("{} ×{}", s(st, "identifier"), u(st, "total")))
                .collect();
            let desc = x
                .pointer("/metadata/description")
                .map(|d| scalar(Some(d)))
                .unwrap_or_default();
            vec![
                m(s(x, "rule")),
                t(s(x, "namespace")),
                t(tags.join(", ")),
                t(desc),
                m(strs.join(", ")),
            ]
        }),
    );
}

fn iocs(h: &mut Html, i: &Value, rows: usize) {
    h.raw("<h3>Indicators in the file</h3>\n");
    let mut any = false;
    for (k, label, extra) in [
        ("urls", "URLs", "host"),
        ("domains", "domains", "registrable"),
        ("ipv4", "IPv4 addresses", "scope"),
        ("ipv6", "IPv6 addresses", "scope"),
        ("emails", "e-mail addresses", ""),
        ("paths", "paths", "category"),
        ("commands", "commands", "tools"),
    ] {
        let list = arr(i, k);
        if list.is_empty() {
            continue;
        }
        any = true;
        h.raw("<h3>")
            .text(label)
            .raw(" (")
            .num(list.len())
            .raw(")</h3>\n");
        let extra_label = if extra.is_empty() { "-" } else { extra };
        table(
            h,
            &["value", extra_label, "#count", "#first offset"],
            list.iter().take(rows).map(|x| {
                let e = match x.get(extra) {
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| scalar(Some(v)))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => scalar(other),
                };
                vec![
                    m(s(x, "value")),
                    t(e),
                    t(u(x, "count").to_string()),
                    t(format!("{:#x}", u(x, "first_offset"))),
                ]
            }),
        );
        more_note(h, rows.min(list.len()), list.len(), "report.json");
    }
    if !any {
        h.raw("<p class=\"note\">None found.</p>\n");
    }
}

fn syscalls(h: &mut Html, r: &Value, rows: usize) {
    let sc = r.get("syscalls").unwrap_or(&Value::Null);
    section(h, "syscalls", "System calls");
    kv(
        h,
        &[
            ("traced", u(sc, "total").to_string()),
            ("failed", u(sc, "failed").to_string()),
            ("denied by the sandbox", u(sc, "denied").to_string()),
        ],
    );
    if let Some(by) = sc.get("by_name").and_then(Value::as_object) {
        let mut v: Vec<(&String, u64)> = by
            .iter()
            .map(|(k, c)| (k, c.as_u64().unwrap_or(0)))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        table(
            h,
            &["call", "#count"],
            v.iter()
                .take(rows)
                .map(|(k, c)| vec![m(k.as_str()), t(c.to_string())]),
        );
        more_note(h, rows.min(v.len()), v.len(), "report.json");
    }
    h.raw("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_327_006), "2026-11-22 05:56:46 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn local_paths_only() {
        assert!(is_local_path("/api/tasks/1/events"));
        for bad in [
            "//evil.example/x",
            "http://x/",
            "javascript:alert(1)",
            "api/x",
            "/\\evil",
            "/a\nb",
            "",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
    }

    #[test]
    fn bytes_are_human() {
        assert_eq!(bytes_text(10), "10 B");
        assert_eq!(bytes_text(46_304), "45.2 KiB");
        assert_eq!(bytes_text(3 << 30), "3.0 GiB");
    }
}
