//! YARA for ferret: gathers rule files, compiles them once (tolerating broken files),
//! caches the compiled set on disk keyed by the rules' content, and scans buffers.
//!
//! yara-x dominates ferret's build time, so it is confined to this crate: everything
//! else sees only [`ferret_report::YaraMatch`]. The only `unsafe` code is the
//! prefilter's vector search (`prefilter_simd`).
#![deny(unsafe_code)]

mod analyse;
mod cache;
mod load;
mod prefilter;
#[allow(unsafe_code)]
mod prefilter_simd;
#[cfg(test)]
mod prefilter_tests;
mod regex_anchors;
mod scan;

pub use load::{
    CacheStatus, CompiledRules, Error, LoadOptions, LoadReport, RuleFileError, RuleSource, bundled,
    collect_rule_files, load, load_single_set,
};
pub use prefilter::PrefilterSummary;

// (file name, rule text) of every file in the repository's rules/yara/.
include!(concat!(env!("OUT_DIR"), "/bundled.rs"));
pub use scan::{PrefilterStats, ScanOptions, Scanner};
