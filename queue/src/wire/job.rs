//! Job payloads: what a trainer is asked to do. An [`EvalJob`] evaluates
//! one candidate with an [`EvaluatorSpec`] (a table lookup, or training on
//! a dataset named by a [`DataRef`]); a [`DartsJob`] runs one DARTS
//! supernet search on a dataset.

use super::settings::{DartsSettings, SettingError, TrainSettings};
use super::{malformed, WireError};
use serde::{Deserialize, Serialize};

/// A dataset as a job names it, with how to read it. Its fields sit flat in
/// the payload (`data`, `format`, `fingerprint`, `target`, ...) beside the
/// job's other fields; every trainer reads the dataset with the same
/// options, so that its fingerprint matches the one pinned at submission.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataRef {
    /// The dataset's path, as trainers see it (the same mount on every host).
    #[serde(rename = "data")]
    pub path: String,
    /// idx, cifar10, cifar100, image_folder, csv, parquet, ts or series_csv;
    /// detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The dataset's fingerprint, recorded at submission; a trainer whose
    /// copy differs refuses the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Tables and series CSVs: the target column (default: one named
    /// target, class, label or y, else the last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Tables: columns to read as categorical whatever their values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categorical: Vec<String>,
    /// `classification` or `regression` (default: inferred from the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Series of unequal lengths: pad them at the end to the longest
    /// (refused otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pad: bool,
}

impl DataRef {
    /// The dataset at `path`, format detected, default options, not yet
    /// pinned.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            format: None,
            fingerprint: None,
            target: None,
            categorical: Vec::new(),
            task: None,
            pad: false,
        }
    }
}

/// A dataset shows as its path.
impl std::fmt::Display for DataRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.path)
    }
}

/// How a trainer evaluates a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum EvaluatorSpec {
    /// Look the cell up in the NAS-Bench-201 table.
    Nb201 {
        /// cifar10, cifar100 or imagenet.
        dataset: String,
        /// Sleep the table's train_time times this factor (0: no sleep).
        #[serde(default)]
        time_scale: f64,
    },
    /// Build the network with libtorch and train it on the user's data.
    Torch {
        /// The dataset.
        #[serde(flatten)]
        data: DataRef,
        /// How to train.
        #[serde(default)]
        settings: Box<TrainSettings>,
    },
    /// The user's own Python function evaluates the candidate, on a Python
    /// trainer (`nas-worker`, python/nas_worker): only Python trainers
    /// claim these jobs ([`Pool::Python`]).
    Python {
        /// The function, as `module.path:function` (imported by the worker).
        entry: String,
        /// Free settings handed to the function as they are (the spec's
        /// `[evaluator.python.settings]` table).
        #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
        settings: serde_json::Map<String, serde_json::Value>,
    },
}

/// Longest `module:function` entry a Python evaluator may name.
pub const MAX_ENTRY_LEN: usize = 200;

/// Check a Python evaluator's entry: dotted module path, a colon, and a
/// function name, every part an identifier.
pub fn validate_entry(entry: &str) -> Result<(), WireError> {
    let ident = |s: &str| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f == '_' || f.is_ascii_alphabetic())
            && c.all(|c| c == '_' || c.is_ascii_alphanumeric())
    };
    let ok = entry.len() <= MAX_ENTRY_LEN
        && entry
            .split_once(':')
            .is_some_and(|(m, f)| m.split('.').all(ident) && ident(f));
    if ok {
        Ok(())
    } else {
        Err(malformed(
            "python evaluator",
            format!("entry {entry:?} is not module.path:function (identifiers, at most {MAX_ENTRY_LEN} characters)"),
        ))
    }
}

/// Which trainers may claim a job. Every job of a search is in one pool,
/// the pool of its evaluator: Rust trainers claim the builtin pool only;
/// Python trainers claim the python pool, and the builtin pool too when
/// told to (their function then sees the builtin evaluators' jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// Jobs the Rust trainer can run: table lookups, torch training, DARTS.
    Builtin,
    /// Jobs of a `python` evaluator: the user's own function.
    Python,
}

impl Pool {
    /// Every pool.
    pub const ALL: [Pool; 2] = [Pool::Builtin, Pool::Python];

    /// The pool's name as the queue's keys and the job hash spell it
    /// (empty for builtin: its keys keep the names they had before pools).
    pub fn key_name(self) -> &'static str {
        match self {
            Pool::Builtin => "",
            Pool::Python => "python",
        }
    }

    /// The pool of a job of `kind` with `payload`: an evaluation whose
    /// evaluator is `python` is in the python pool, everything else in the
    /// builtin one.
    pub fn of(kind: super::JobKind, payload: &serde_json::Value) -> Pool {
        let python = kind == super::JobKind::Evaluate
            && payload
                .get("evaluator")
                .and_then(|e| e.get("python"))
                .is_some();
        if python {
            Pool::Python
        } else {
            Pool::Builtin
        }
    }
}

impl EvaluatorSpec {
    /// The dataset a torch evaluator trains on; `None` for the table.
    pub fn data(&self) -> Option<&DataRef> {
        match self {
            Self::Torch { data, .. } => Some(data),
            Self::Nb201 { .. } | Self::Python { .. } => None,
        }
    }
}

/// Payload of an [`super::JobKind::Evaluate`] job: one candidate architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalJob {
    /// The space, with its settings.
    pub space: space::Space,
    /// The genotype's canonical text.
    pub genotype: String,
    /// Its stable hash; checked against `genotype` by the trainer.
    pub hash: String,
    /// How to evaluate it.
    pub evaluator: EvaluatorSpec,
    /// Seed of the evaluation (training seed; table: which run).
    pub seed: u64,
    /// Multi-fidelity searches: the rung this job trains to, and the lower
    /// rung whose checkpoint it continues from. `None`: train the
    /// evaluator's whole budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fidelity: Option<Fidelity>,
}

/// Where a multi-fidelity job stands: train up to `epochs` of a schedule
/// laid out over the settings' whole `epochs` (the learning rate follows the
/// full schedule, as in ASHA), continuing from the checkpoint the same
/// candidate saved at `resume_from` epochs, if given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fidelity {
    /// The rung, from 0 (the lowest).
    pub rung: u32,
    /// Epochs trained when the job ends (at most the settings' epochs).
    pub epochs: f64,
    /// The epochs of the lower rung whose checkpoint this job continues
    /// from; `None`: train from scratch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_from: Option<f64>,
}

impl Fidelity {
    /// Check the rung against the whole schedule of `horizon` epochs.
    pub fn validate(&self, horizon: f64) -> Result<(), WireError> {
        let bad = |reason: String| Err(malformed("job payload", format!("fidelity: {reason}")));
        if !(self.epochs.is_finite() && self.epochs > 0.0) {
            return bad(format!("epochs {} must be above 0", self.epochs));
        }
        if self.epochs > horizon + 1e-9 {
            return bad(format!(
                "epochs {} is beyond the schedule's {horizon} epochs",
                self.epochs
            ));
        }
        if let Some(from) = self.resume_from {
            if !(from.is_finite() && from > 0.0 && from < self.epochs) {
                return bad(format!(
                    "resume_from {from} must be above 0 and below epochs {}",
                    self.epochs
                ));
            }
        }
        Ok(())
    }
}

impl EvalJob {
    /// The job for `genotype`, with its hash filled in.
    pub fn new(
        space: space::Space,
        genotype: &space::Genotype,
        evaluator: EvaluatorSpec,
        seed: u64,
    ) -> Self {
        Self {
            space,
            genotype: genotype.canonical_text(),
            hash: genotype.hash().to_string(),
            evaluator,
            seed,
            fidelity: None,
        }
    }

    /// Parse and check the genotype: it must be in the space and match the hash.
    pub fn genotype(&self) -> Result<space::Genotype, WireError> {
        let g = self
            .space
            .parse(&self.genotype)
            .map_err(|e| malformed("job payload", format!("genotype {:?}: {e}", self.genotype)))?;
        if g.hash().to_string() != self.hash {
            return Err(malformed(
                "job payload",
                format!(
                    "hash {} does not match genotype {} (hash {})",
                    self.hash,
                    self.genotype,
                    g.hash()
                ),
            ));
        }
        Ok(g)
    }
}

/// Payload of a [`super::JobKind::Darts`] job: one DARTS search on a dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsJob {
    /// The cell space searched: `darts` or `nb201`.
    pub space: space::Space,
    /// The dataset; its training split is what the search divides into
    /// halves.
    #[serde(flatten)]
    pub data: DataRef,
    /// How to search.
    #[serde(default)]
    pub settings: DartsSettings,
}

impl DartsJob {
    /// Check the space (DARTS searches cover the `darts` and `nb201` cell
    /// spaces) and the settings.
    pub fn validate(&self) -> Result<(), SettingError> {
        self.settings.validate_for(&self.space)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::DartsOrder;

    #[test]
    fn eval_jobs_check_their_genotype_and_hash() {
        let space = space::Space::Nb201;
        let g = space.sample(&mut space::rng(1)).unwrap();
        let ev = EvaluatorSpec::Nb201 {
            dataset: "cifar10".into(),
            time_scale: 0.0,
        };
        let job = EvalJob::new(space, &g, ev, 3);
        assert_eq!(job.genotype().unwrap(), g);
        let mut wrong = job.clone();
        wrong.hash = "0000000000000000".into();
        assert!(wrong
            .genotype()
            .unwrap_err()
            .to_string()
            .contains("does not match"));
        let mut bad = job;
        bad.genotype = "|x~0|".into();
        assert!(bad
            .genotype()
            .unwrap_err()
            .to_string()
            .contains("genotype \"|x~0|\""));
    }

    #[test]
    fn torch_evaluators_keep_their_data_fields_flat() {
        let text = r#"{"torch":{"data":"/d","format":"idx","settings":{"epochs":2.0}}}"#;
        let spec: EvaluatorSpec = serde_json::from_str(text).unwrap();
        let data = spec.data().unwrap();
        assert_eq!(
            (data.path.as_str(), data.format.as_deref()),
            ("/d", Some("idx"))
        );
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["torch"]["data"], "/d");
        assert_eq!(back["torch"]["settings"]["epochs"], 2.0);
        assert!(back["torch"].get("fingerprint").is_none());
        let unknown = serde_json::from_str::<EvaluatorSpec>(r#"{"torch":{"data":"/d","dta":1}}"#)
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("unknown field `dta`"), "{unknown}");
    }

    #[test]
    fn darts_jobs_round_trip_with_defaults_and_name_bad_fields() {
        let job: DartsJob =
            serde_json::from_str(r#"{"space":{"kind":"darts"},"data":"/data/cifar10"}"#).unwrap();
        assert_eq!(job.settings, DartsSettings::default());
        assert_eq!(job.settings.order, DartsOrder::First);
        job.validate().unwrap();
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<DartsJob>(&text).unwrap(), job);
        let second: DartsJob = serde_json::from_str(
            r#"{"space":{"kind":"nb201"},"data":"d","settings":{"order":"second","epochs":3,"layers":2}}"#,
        )
        .unwrap();
        assert_eq!(second.settings.order, DartsOrder::Second);
        assert_eq!(second.settings.layers, Some(2));
        assert_eq!(second.settings.arch_lr, 3e-4);
        let unknown = serde_json::from_str::<DartsJob>(
            r#"{"space":{"kind":"darts"},"data":"d","settings":{"arch_learning_rate":1}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(unknown.contains("arch_learning_rate"), "{unknown}");
        let mut bad = job.clone();
        bad.space = space::Space::Pnas { blocks: 2 };
        assert_eq!(bad.validate().unwrap_err().field, "space");
    }
}
