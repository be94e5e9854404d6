//! Signatures, score and verdict: the API the sandbox calls (feed events, collect alerts,
//! then read signatures, score and verdict). The formula is documented in docs/scoring.md.

use serde::Serialize;

use ferret_event::{Event, State};

use crate::Priority;
use crate::engine::{Alert, Engine};

/// Evidence events kept per signature.
pub const MAX_EVIDENCE: usize = 10;

/// Verdict from the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Score below [`SUSPICIOUS_AT`].
    Clean,
    /// Score from [`SUSPICIOUS_AT`] up to [`MALICIOUS_AT`].
    Suspicious,
    /// Score at least [`MALICIOUS_AT`].
    Malicious,
}

/// Lowest score judged suspicious.
pub const SUSPICIOUS_AT: f64 = 2.0;
/// Lowest score judged malicious.
pub const MALICIOUS_AT: f64 = 7.0;

/// A rule that matched, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// Rule name.
    pub name: String,
    /// Rule description.
    pub description: String,
    /// Severity (the rule's priority).
    pub severity: &'static str,
    /// MITRE ATT&CK technique ids.
    pub attack: Vec<String>,
    /// Weight used in the score.
    pub weight: f64,
    /// Number of matching events.
    pub count: usize,
    /// The first matching events (at most [`MAX_EVIDENCE`]), with the rendered output.
    pub evidence: Vec<Evidence>,
}

/// One matching event.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// The event.
    pub event: Event,
    /// The rule's output for it.
    pub output: String,
}

/// Outcome of an analysis.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Signatures, highest weight first.
    pub signatures: Vec<Signature>,
    /// Score 0-10.
    pub score: f64,
    /// Verdict.
    pub verdict: Verdict,
}

/// Score of a set of signature weights: the weights sorted high to low, each counting half
/// as much as the previous one (w1 + w2/2 + w3/4 + ...), capped at 10, one decimal.
pub fn score(weights: &[f64]) -> f64 {
    let mut w: Vec<f64> = weights.iter().copied().filter(|w| *w > 0.0).collect();
    w.sort_by(|a, b| b.total_cmp(a));
    let mut total = 0.0;
    let mut factor = 1.0;
    for x in w {
        total += x * factor;
        factor /= 2.0;
    }
    (total.min(10.0) * 10.0).round() / 10.0
}

/// Verdict for a score.
pub fn verdict(score: f64) -> Verdict {
    if score >= MALICIOUS_AT {
        Verdict::Malicious
    } else if score >= SUSPICIOUS_AT {
        Verdict::Suspicious
    } else {
        Verdict::Clean
    }
}

/// Runs events through an engine with its own state machine.
#[derive(Debug)]
pub struct Analyzer<'e> {
    engine: &'e Engine,
    state: State,
    hits: Vec<usize>,
    memo: ferret_filter::Memo,
    sigs: Vec<Option<Signature>>,
    events: u64,
}

impl<'e> Analyzer<'e> {
    /// A fresh analysis.
    pub fn new(engine: &'e Engine) -> Self {
        Analyzer {
            engine,
            state: State::new(),
            hits: Vec::new(),
            memo: engine.new_memo(),
            sigs: vec![None; engine.rules().len()],
            events: 0,
        }
    }

    /// The state machine (e.g. to seed processes from /proc before feeding).
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Number of events fed.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Feeds one event; calls `on_alert` for each rule it fires.
    pub fn feed_with(&mut self, ev: &Event, mut on_alert: impl FnMut(Alert)) {
        self.events += 1;
        let view = self.state.update(ev);
        self.hits.clear();
        self.engine.matches(ev, view, &self.memo, &mut self.hits);
        for &i in &self.hits {
            let Some(alert) = self.engine.alert(i, ev, view) else {
                continue;
            };
            if let (Some(slot), Some(rule)) = (self.sigs.get_mut(i), self.engine.rules().get(i)) {
                let sig = slot.get_or_insert_with(|| Signature {
                    name: rule.name.clone(),
                    description: rule.desc.clone(),
                    severity: rule.priority.as_str(),
                    attack: rule.attack.clone(),
                    weight: rule.weight,
                    count: 0,
                    evidence: Vec::new(),
                });
                sig.count += 1;
                if sig.evidence.len() < MAX_EVIDENCE {
                    sig.evidence.push(Evidence {
                        event: ev.clone(),
                        output: alert.output.clone(),
                    });
                }
            }
            on_alert(alert);
        }
    }

    /// Feeds one event and returns its alerts.
    pub fn feed(&mut self, ev: &Event) -> Vec<Alert> {
        let mut v = Vec::new();
        self.feed_with(ev, |a| v.push(a));
        v
    }

    /// Signatures so far, score and verdict.
    pub fn report(&self) -> Report {
        let mut signatures: Vec<Signature> = self.sigs.iter().flatten().cloned().collect();
        signatures.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then_with(|| a.name.cmp(&b.name))
        });
        let s = score(&signatures.iter().map(|s| s.weight).collect::<Vec<_>>());
        Report {
            signatures,
            score: s,
            verdict: verdict(s),
        }
    }
}

impl Priority {
    /// Weight used when a rule gives none.
    pub fn default_weight(self) -> f64 {
        match self {
            Priority::Emergency | Priority::Alert | Priority::Critical => 8.0,
            Priority::Error => 6.0,
            Priority::Warning => 4.0,
            Priority::Notice => 2.0,
            Priority::Informational => 1.0,
            Priority::Debug => 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_halves_each_further_signature() {
        assert_eq!(score(&[]), 0.0);
        assert_eq!(score(&[4.0]), 4.0);
        assert_eq!(score(&[2.0, 4.0]), 5.0);
        assert_eq!(score(&[4.0, 4.0, 4.0]), 7.0);
        assert_eq!(score(&[9.0, 9.0, 9.0]), 10.0);
        assert_eq!(verdict(0.0), Verdict::Clean);
        assert_eq!(verdict(1.9), Verdict::Clean);
        assert_eq!(verdict(2.0), Verdict::Suspicious);
        assert_eq!(verdict(7.0), Verdict::Malicious);
    }
}
