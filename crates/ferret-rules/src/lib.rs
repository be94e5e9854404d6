//! Falco-compatible behaviour rules for ferret.
//!
//! ```text
//! RuleSet::load_file(..)  ->  Engine::compile(&set)  ->  Analyzer::new(&engine)
//!   .feed(&event) -> alerts            .report() -> signatures, score 0-10, verdict
//! ```
//!
//! Rule files use Falco's YAML (`list`, `macro`, `rule`, `append`, `override`,
//! `exceptions`); ferret adds an optional numeric `weight` per rule and reads MITRE ATT&CK ids
//! from the tags. The bundled rules live in `rules/ferret_rules.yaml` ([`BUNDLED_RULES`]).

mod engine;
mod load;
mod score;

pub use engine::{Alert, Engine, EngineStats, Output, Rule};
pub use load::{
    ExcValue, ExceptionDef, ListDef, LoadStats, MacroDef, Origin, RuleDef, RuleError, RuleSet,
};
pub use score::{
    Analyzer, Evidence, MALICIOUS_AT, MAX_EVIDENCE, Report, SUSPICIOUS_AT, Signature, Verdict,
    score, verdict,
};

/// ferret's bundled malware-behaviour rules.
pub const BUNDLED_RULES: &str = include_str!("../../../rules/ferret_rules.yaml");

/// Rule priority, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// EMERGENCY.
    Emergency,
    /// ALERT.
    Alert,
    /// CRITICAL.
    Critical,
    /// ERROR.
    Error,
    /// WARNING.
    Warning,
    /// NOTICE.
    Notice,
    /// INFORMATIONAL / INFO.
    Informational,
    /// DEBUG.
    Debug,
}

impl Priority {
    /// Parses a priority, case-insensitively (`INFO` and `INFORMATIONAL` both accepted).
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s.to_ascii_lowercase().as_str() {
            "emergency" => Priority::Emergency,
            "alert" => Priority::Alert,
            "critical" => Priority::Critical,
            "error" => Priority::Error,
            "warning" => Priority::Warning,
            "notice" => Priority::Notice,
            "informational" | "info" => Priority::Informational,
            "debug" => Priority::Debug,
            _ => return None,
        })
    }
    /// Falco's spelling in alerts.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}
