//! ferret's HTML: the self-contained analysis report page (`report.html`, written by
//! `ferret analyze` and by the service's workers) and the pages of the `ferret serve`
//! web UI. Pure rendering: no HTTP, no database.
//!
//! Everything in a report is attacker-controlled (sample names, strings, paths, URLs,
//! command lines): it reaches a page only as escaped text or as JSON in a data block,
//! never as markup, a URL or a style. Every page carries its stylesheet and scripts
//! inline and a Content-Security-Policy that allows loading nothing else (scripts are
//! allowed by hash), so a report opens offline and never contacts anything.
//!
//! ```
//! let report = serde_json::json!({"sample": {"name": "a.out"}, "verdict": "clean", "score": 0.0});
//! let html = ferret_html::report_page(&report, None, &ferret_html::ReportPage::default());
//! assert!(html.contains("a.out"));
//! ```

mod attack;
pub mod audit;
mod events;
mod html;
mod page;
mod report;
pub mod ui;

pub use attack::technique_name;
pub use html::{escape, escape_into};
pub use report::{ReportPage, ServedReport, report_page, report_page_from_reader};

/// File name of the report page beside report.json.
pub const REPORT_FILE: &str = "report.html";

/// Renders the report of the analysis in `dir` (its report.json and events.jsonl) into
/// `dir/report.html` and returns that path.
pub fn write_report_dir(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let json = std::fs::read(dir.join("report.json"))?;
    let report: serde_json::Value = serde_json::from_slice(&json).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}/report.json is not JSON: {e}", dir.display()),
        )
    })?;
    let mut events = match std::fs::File::open(dir.join("events.jsonl")) {
        Ok(f) => Some(std::io::BufReader::with_capacity(1 << 16, f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let page = report_page_from_reader(
        &report,
        events.as_mut().map(|r| r as &mut dyn std::io::BufRead),
        &ReportPage::default(),
    )?;
    let path = dir.join(REPORT_FILE);
    std::fs::write(&path, page)?;
    Ok(path)
}
