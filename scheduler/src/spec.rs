//! What a user submits: the search spec (TOML or JSON), and its checks.

use crate::strategy::{self, StrategySpec};
use queue::wire::EvaluatorSpec;
use serde::{Deserialize, Serialize};
use space::Space;
use std::path::Path;
use thiserror::Error;

/// A search, as submitted.
///
/// ```toml
/// name = "evolution on nb201"
/// budget = 100          # evaluations
/// seed = 1
/// parallel = 8          # jobs in flight at once
/// [space]
/// kind = "nb201"
/// [strategy]
/// strategy = "evolution"
/// population = 20
/// sample = 5
/// [evaluator.nb201]
/// dataset = "cifar10"
/// time_scale = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchSpec {
    /// A name for people; the id is derived from it.
    #[serde(default)]
    pub name: Option<String>,
    /// The space, with its settings.
    pub space: Space,
    /// The strategy, with its settings.
    pub strategy: StrategySpec,
    /// How candidates are evaluated.
    pub evaluator: EvaluatorSpec,
    /// Candidates to evaluate.
    pub budget: usize,
    /// Seed of the strategy and of each evaluation.
    #[serde(default)]
    pub seed: u64,
    /// Most candidates queued or training at once.
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    /// Retrain the best candidates with final settings at the end and
    /// score them on the test set (torch evaluator only).
    #[serde(default, rename = "final", skip_serializing_if = "Option::is_none")]
    pub final_stage: Option<FinalSpec>,
    /// Multi-fidelity: candidates climb rungs of epochs, the best of each
    /// rung continuing from their checkpoint (torch evaluator only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<crate::fidelity::FidelitySpec>,
}

/// The final stage of a search: `[final]` in a spec.
///
/// ```toml
/// [final]
/// top_k = 2            # retrain the 2 best candidates
/// [final.settings]     # training settings, as for the evaluator
/// epochs = 10
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalSpec {
    /// How many of the best candidates to retrain.
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Their training settings; the test set is always scored.
    #[serde(default)]
    pub settings: queue::wire::TrainSettings,
}

fn default_top_k() -> usize {
    1
}

fn default_parallel() -> usize {
    8
}

/// A spec that cannot run, and why.
#[derive(Debug, Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("reading search spec {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a spec.
    #[error("search spec {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// Why, with the position.
        reason: String,
    },
    /// A setting is out of range.
    #[error("search spec: {0}")]
    Invalid(String),
}

impl SearchSpec {
    /// Read a spec file: TOML, or JSON when the name ends in `.json`.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let json = path.extension().is_some_and(|e| e == "json");
        Self::parse(&text, json).map_err(|reason| SpecError::Parse {
            path: path.display().to_string(),
            reason,
        })
    }

    /// Parse a spec's text and check it.
    pub fn parse(text: &str, json: bool) -> Result<Self, String> {
        let spec: Self = if json {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string())?
        };
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }

    /// Check that the search can run.
    pub fn validate(&self) -> Result<(), SpecError> {
        let invalid = |s: String| SpecError::Invalid(s);
        strategy::build(&self.strategy, self.space, self.budget, self.seed)
            .map_err(|e| invalid(e.to_string()))?;
        if self.parallel == 0 {
            return Err(invalid("parallel: must be at least 1".into()));
        }
        if let StrategySpec::Darts { settings } = &self.strategy {
            if self.budget != 1 {
                return Err(invalid(format!(
                    "strategy darts: budget must be 1 (one supernet search, whose cell is the candidate), not {}",
                    self.budget
                )));
            }
            if settings.seed != 0 {
                return Err(invalid("strategy darts: settings.seed: the search's `seed` seeds the supernet search; set that instead".into()));
            }
            if !matches!(self.evaluator, EvaluatorSpec::Torch { .. }) {
                return Err(invalid("strategy darts: the supernet search trains on a dataset; give it with [evaluator.torch] data = \"...\"".into()));
            }
            if self.final_stage.is_none() {
                return Err(invalid("strategy darts: add a [final] section: the cell the supernet search derives is trained from scratch and scored on the test set by the final stage".into()));
            }
        }
        match &self.evaluator {
            EvaluatorSpec::Nb201 {
                dataset,
                time_scale,
            } => {
                if self.space != Space::Nb201 {
                    return Err(invalid(format!(
                        "evaluator nb201 looks cells up in the NAS-Bench-201 table; the space must be nb201, not {}",
                        self.space
                    )));
                }
                dataset
                    .parse::<nb201::Dataset>()
                    .map_err(|e| invalid(format!("evaluator nb201: {e}")))?;
                if !(time_scale.is_finite() && *time_scale >= 0.0) {
                    return Err(invalid(format!(
                        "evaluator nb201: time_scale {time_scale} must be >= 0"
                    )));
                }
            }
            EvaluatorSpec::Torch { data, settings, .. } => {
                if data.path.trim().is_empty() {
                    return Err(invalid(
                        "evaluator torch: data: the dataset path is empty".into(),
                    ));
                }
                settings
                    .validate()
                    .map_err(|e| invalid(format!("evaluator torch: settings: {e}")))?;
            }
            EvaluatorSpec::Python { entry, .. } => {
                queue::wire::validate_entry(entry)
                    .map_err(|e| invalid(format!("evaluator python: {e}")))?;
            }
        }
        if let Some(f) = &self.fidelity {
            f.validate().map_err(invalid)?;
            if !matches!(self.evaluator, EvaluatorSpec::Torch { .. }) {
                return Err(invalid("fidelity: rungs train with the torch evaluator (epochs, resumed from checkpoints); this search uses another".into()));
            }
            if matches!(self.strategy, StrategySpec::Darts { .. }) {
                return Err(invalid("fidelity: a darts search trains one supernet; it has no candidates to climb rungs".into()));
            }
        }
        if let Some(f) = &self.final_stage {
            if !matches!(self.evaluator, EvaluatorSpec::Torch { .. }) {
                return Err(invalid("final: a final stage retrains with the torch evaluator; this search uses another".into()));
            }
            if f.top_k == 0 {
                return Err(invalid("final: top_k must be at least 1".into()));
            }
            f.settings
                .validate()
                .map_err(|e| invalid(format!("final: settings: {e}")))?;
        }
        if let Some(name) = &self.name {
            if name.len() > 60 {
                return Err(invalid("name: at most 60 characters".into()));
            }
        }
        Ok(())
    }

    /// A fresh search id: the name's letters and digits, then the time and
    /// a random suffix, e.g. `evolution-on-nb201-mbx3k2-4f1a`.
    pub fn new_id(&self) -> String {
        use rand::Rng;
        let slug: String = self
            .name
            .as_deref()
            .unwrap_or("search")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let slug = slug
            .split('-')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let slug = if slug.is_empty() {
            "search".to_string()
        } else {
            slug
        };
        let t = queue::now_ms();
        format!("{slug}-{}-{:04x}", radix36(t), rand::rng().random::<u16>())
    }
}

fn radix36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
name = "Evolution on NB201!"
budget = 100
seed = 3
[space]
kind = "nb201"
[strategy]
strategy = "evolution"
population = 10
sample = 3
[evaluator.nb201]
dataset = "cifar10"
"#;

    #[test]
    fn toml_and_json_specs_parse_and_check() {
        let spec = SearchSpec::parse(TOML, false).unwrap();
        assert_eq!(spec.parallel, 8);
        assert_eq!(
            spec.strategy,
            StrategySpec::Evolution {
                population: 10,
                sample: 3
            }
        );
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(SearchSpec::parse(&json, true).unwrap(), spec);
        let id = spec.new_id();
        assert!(id.starts_with("evolution-on-nb201-"), "{id}");
        queue::wire::validate_search_id("search", &id).unwrap();
        // Any name gives a search id, at the longest name too.
        for name in ["", "---", "ÄÖÜ ßé", "Mixed_Case.Name/../x", &"Z".repeat(60)] {
            let spec = SearchSpec {
                name: Some(name.into()),
                ..spec.clone()
            };
            let id = spec.new_id();
            queue::wire::validate_search_id("search", &id).unwrap();
            queue::wire::validate_job_id("job", &queue::wire::JobId::format(&id, 1)).unwrap();
        }
        let bad = TOML.replace("cifar10", "mnist");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("mnist"));
        let bad = TOML.replace("kind = \"nb201\"", "kind = \"darts\"");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("the space must be nb201"));
        let bad = TOML.replace("sample = 3", "sample = 30");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("sample: 30"));
        let bad = TOML.replace("budget = 100", "budget = 0");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("budget"));
        let bad = TOML.replace("seed = 3", "sead = 3");
        assert!(SearchSpec::parse(&bad, false).unwrap_err().contains("sead"));
    }

    const DARTS: &str = r#"
budget = 1
[space]
kind = "darts"
[strategy]
strategy = "darts"
[strategy.settings]
epochs = 2
channels = 4
[evaluator.torch]
data = "/data/fashion-mnist"
[final]
top_k = 1
"#;

    #[test]
    fn darts_specs_need_data_and_a_final_stage() {
        let spec = SearchSpec::parse(DARTS, false).unwrap();
        let StrategySpec::Darts { settings } = &spec.strategy else {
            panic!("{:?}", spec.strategy)
        };
        assert_eq!((settings.epochs, settings.channels), (2, 4));
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(SearchSpec::parse(&json, true).unwrap(), spec);
        let bad = DARTS.replace("[final]\ntop_k = 1\n", "");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("add a [final] section"));
        let bad = DARTS.replace("channels = 4", "channels = 0");
        let err = SearchSpec::parse(&bad, false).unwrap_err();
        assert!(err.contains("channels"), "{err}");
        let bad = DARTS.replace("budget = 1", "budget = 5");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("budget must be 1"));
        let bad = DARTS.replace("epochs = 2", "epochs = 2\nseed = 9");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("settings.seed"));
        let bad = DARTS.replace("epochs = 2", "epoch = 2");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("epoch"));
        let bad = DARTS.replace("kind = \"darts\"", "kind = \"pnas\"\nblocks = 2");
        assert!(SearchSpec::parse(&bad, false)
            .unwrap_err()
            .contains("darts, nb201 and seq"));
    }

    /// Issue 15, defect 8: a spec with a million channels was accepted and
    /// exhausted every trainer's memory in turn; submit refuses it, naming
    /// the field.
    #[test]
    fn specs_with_oversized_training_settings_are_refused() {
        let torch = r#"
budget = 4
[space]
kind = "nb201"
[strategy]
strategy = "random"
[evaluator.torch]
data = "/data/fashion-mnist"
[evaluator.torch.settings]
channels = 16
[final]
[final.settings]
layers = 2
"#;
        SearchSpec::parse(torch, false).unwrap();
        let bad = torch.replace("channels = 16", "channels = 1000000");
        let err = SearchSpec::parse(&bad, false).unwrap_err();
        assert!(err.contains("evaluator torch: settings: channels"), "{err}");
        let bad = torch.replace("layers = 2", "layers = 1000000");
        let err = SearchSpec::parse(&bad, false).unwrap_err();
        assert!(err.contains("final: settings: layers"), "{err}");
    }
}
