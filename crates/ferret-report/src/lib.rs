//! Report types that more than one ferret crate produces or consumes.
//!
//! Analyser crates own their own result types (ELF facts, strings, flows); this crate
//! holds what sits between them, so that e.g. the YARA wrapper and the static analyser
//! agree on a match without depending on each other.
#![forbid(unsafe_code)]

use serde::Serialize;

/// One YARA rule that matched a scanned buffer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YaraMatch {
    pub rule: String,
    pub namespace: String,
    pub tags: Vec<String>,
    /// The rule's `meta:` section in source order, values as JSON scalars; a key that
    /// the rule repeats (several `reference`s, say) holds an array of its values.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Matched patterns, only those with at least one match.
    pub strings: Vec<YaraStringMatch>,
}

/// Where one pattern of a matching rule matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YaraStringMatch {
    /// Pattern identifier including the `$`, e.g. `$upx_magic`.
    pub identifier: String,
    /// How many times the pattern matched (up to the scanner's internal cap).
    pub total: u64,
    /// The first matches, in offset order; `total` says how many were left out.
    pub matches: Vec<YaraMatchSpan>,
}

/// One match of a pattern: offset and length in the scanned buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct YaraMatchSpan {
    pub offset: u64,
    pub length: u64,
    /// XOR key when the pattern used the `xor` modifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xor_key: Option<u8>,
}

/// What scanning one buffer with YARA gave: matches, or why the scan did not finish.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct YaraResult {
    pub matches: Vec<YaraMatch>,
    /// Set when the scan stopped early (timeout, oversized input); the matches found
    /// before that are still reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
