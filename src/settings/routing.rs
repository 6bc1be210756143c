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
    /// Keras Muon's `exclude_layers`: regular expressions, compiled once; a name matching any
    /// (`re.search`) goes to AdamW.
    pub exclude_layers: Vec<Pattern>,
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
            && !self.exclude_layers.iter().any(|p| p.is_match(name))
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

/// One `exclude_layers` regular expression with its source text. It is compiled when made, so
/// routing never compiles; equality, `Debug` and the fingerprint see only the source text.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

impl Pattern {
    /// Compiles `source`; an invalid one is an error naming the key and the pattern.
    pub fn new(source: &str) -> Result<Self> {
        let regex = regex_lite::Regex::new(source).map_err(|e| Error::InvalidHyperparameter {
            key: "exclude_layers".into(),
            value: source.into(),
            reason: format!("not a regular expression: {e}"),
        })?;
        Ok(Self {
            source: source.into(),
            regex,
        })
    }

    /// The regular expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether `name` matches anywhere (Python's `re.search`, case-sensitive).
    pub fn is_match(&self, name: &str) -> bool {
        self.regex.is_match(name)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

/// The `;`-separated regular expressions of `exclude_layers` (blank ones dropped), compiled; an
/// invalid one is an error naming the key and the pattern.
pub fn patterns(text: &str) -> Result<Vec<Pattern>> {
    (text.split(';').map(str::trim).filter(|p| !p.is_empty()))
        .map(Pattern::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_layers_are_compiled_once_and_compared_by_their_text() {
        let rule = RoutingRule {
            exclude_layers: patterns(" head ;; ^out").unwrap(),
            ..RoutingRule::default()
        };
        let texts: Vec<&str> = rule.exclude_layers.iter().map(Pattern::as_str).collect();
        assert_eq!(texts, ["head", "^out"]);
        assert_eq!(format!("{:?}", rule.exclude_layers), r#"["head", "^out"]"#);
        assert_eq!(rule.clone(), rule);
        assert_ne!(
            Pattern::new("head").unwrap(),
            Pattern::new("^head").unwrap()
        );
        assert!(rule.routes_to_muon("blocks.0.out", &[4, 4]));
        assert!(!rule.routes_to_muon("lm_head", &[4, 4]));
        assert!(!rule.routes_to_muon("out_proj", &[4, 4]));
    }

    #[test]
    fn an_invalid_pattern_is_an_error_naming_the_key_and_the_pattern() {
        let err = patterns("head;(unclosed").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidHyperparameter { key, value, .. }
                if key == "exclude_layers" && value == "(unclosed"),
            "{err}"
        );
    }
}
