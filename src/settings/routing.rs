//! Which group a parameter goes to: the automatic rule (rank, names, Keras' `exclude_layers`
//! regular expressions) and the explicit routes.

use crate::error::{Error, Result};

/// Which parameters the automatic routing sends to Muon.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct RoutingRule {
    /// Largest rank sent to Muon (`None`: any rank >= 2).
    pub max_rank: Option<usize>,
    /// Substrings (or, for Keras, regular-expression-free keywords) whose presence in a name sends it to AdamW.
    pub exclude: Vec<String>,
    /// Names containing `embedding` (case-insensitive) go to AdamW, as Keras does.
    pub exclude_embeddings: bool,
    /// Keras Muon's `exclude_layers`: regular expressions; a name matching any (`re.search`) goes
    /// to AdamW.
    pub exclude_layers: Vec<String>,
}

impl RoutingRule {
    /// Whether a parameter of this name and shape goes to Muon.
    pub fn routes_to_muon(&self, name: &str, shape: &[usize]) -> bool {
        let rank = shape.len();
        if rank < 2 || self.max_rank.is_some_and(|m| rank > m) {
            return false;
        }
        if self.exclude_embeddings && name.to_ascii_lowercase().contains("embedding") {
            return false;
        }
        !self.exclude.iter().any(|k| name.contains(k.as_str()))
            && !excluded(&self.exclude_layers, name)
    }
}

/// Which optimizer group a parameter asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The settings' [`RoutingRule`], into group 0.
    Auto,
    /// Muon group `i` (like `use_muon=True` in KellerJordan's `MuonWithAuxAdam`).
    Muon(usize),
    /// AdamW group `i`.
    AdamW(usize),
}

/// A hyperparameter group: where a parameter's route resolves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    Muon(usize),
    AdamW(usize),
}

/// The `;`-separated regular expressions of `exclude_layers`, compiled; an invalid one is an
/// error naming the key.
pub fn patterns(text: &str) -> Result<Vec<regex_lite::Regex>> {
    (text.split(';').map(str::trim).filter(|p| !p.is_empty()))
        .map(compile)
        .collect()
}

/// One `exclude_layers` pattern, compiled; an invalid one is an error naming the key.
pub fn compile(pattern: &str) -> Result<regex_lite::Regex> {
    regex_lite::Regex::new(pattern).map_err(|e| Error::InvalidHyperparameter {
        key: "exclude_layers".into(),
        value: pattern.into(),
        reason: format!("not a regular expression: {e}"),
    })
}

/// Whether `name` matches any pattern anywhere (Python's `re.search`, case-sensitive).
pub fn excluded(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .any(|p| regex_lite::Regex::new(p).is_ok_and(|r| r.is_match(name)))
}
