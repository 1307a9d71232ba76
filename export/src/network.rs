//! The network an export describes: the settings the winner was trained
//! with (channels and layers from the stage's training settings; classes,
//! input channels and size from the dataset, or the weights when the dataset
//! cannot be read here), its weights file, and whether that file fits the
//! network those settings build.

use crate::error::{ExportError, Result};
use queue::wire::{EvaluatorSpec, TrainSettings};
use scheduler::state::Stage;
use scheduler::{Evaluation, SearchState};
use space::{Genotype, SpaceKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use trainer::model::NetConfig;
use trainer::preprocess::Preprocess;

/// The settings of the exported network, beside its genotype.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NetSettings {
    /// DARTS and NAS-Bench-201: C; PNAS: F; unused by macro chains.
    pub channels: i64,
    /// DARTS: cells L; NAS-Bench-201 and PNAS: cells per stage N; unused by
    /// macro chains.
    pub layers: i64,
    /// Output classes.
    pub classes: i64,
    /// Channels of the input image or sequence.
    pub in_channels: i64,
    /// Height and width of the input image, or the sequence's length.
    pub input_size: i64,
    /// mlp: the numeric input columns.
    pub numeric: i64,
    /// mlp: the cardinality of each categorical column.
    pub categorical: Vec<i64>,
    /// DARTS: the network has an auxiliary head (trained with one).
    pub auxiliary: bool,
    /// Where each setting came from, one line each, for the README.
    #[serde(skip)]
    pub sources: Vec<String>,
}

impl NetSettings {
    /// The tch configuration these settings give.
    pub fn config(&self, kind: SpaceKind) -> NetConfig {
        NetConfig {
            channels: self.channels,
            layers: self.layers,
            classes: self.classes,
            in_channels: self.in_channels,
            input_size: self.input_size,
            table: trainer::model::TableShape {
                numeric: self.numeric,
                categorical: self.categorical.clone(),
            },
            auxiliary: self.auxiliary && kind == SpaceKind::Darts,
            ..NetConfig::for_space(kind)
        }
    }
}

/// The training settings `winner` was trained with: the final stage's for a
/// final retraining, else the evaluator's; `None` for table lookups.
pub fn stage_settings<'a>(
    state: &'a SearchState,
    winner: &Evaluation,
) -> Option<&'a TrainSettings> {
    let search = match &state.spec.evaluator {
        EvaluatorSpec::Torch { settings, .. } => Some(settings.as_ref()),
        EvaluatorSpec::Nb201 { .. } | EvaluatorSpec::Python { .. } => None,
    };
    match (winner.stage, &state.spec.final_stage) {
        (Stage::Final, Some(f)) => Some(&f.settings),
        // The supernet's own settings are not the derived cell's network.
        (Stage::Supernet, _) => None,
        _ => search,
    }
}

/// The names and shapes of a safetensors file's tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsFile {
    /// Where it is.
    pub path: PathBuf,
    /// Shape of each tensor, by name.
    pub shapes: BTreeMap<String, Vec<i64>>,
}

impl WeightsFile {
    /// Read the header of the safetensors file at `path` (and check that
    /// its data are all there).
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| ExportError::io(path, e))?;
        let st =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| ExportError::Invalid {
                path: path.to_path_buf(),
                reason: format!("not a safetensors file: {e:?}"),
            })?;
        let shapes = st
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().iter().map(|&d| d as i64).collect()))
            .collect();
        Ok(Self {
            path: path.to_path_buf(),
            shapes,
        })
    }

    /// Dimension `dim` of tensor `name`, if both exist.
    fn dim(&self, name: &str, dim: usize) -> Option<i64> {
        self.shapes.get(name).and_then(|s| s.get(dim)).copied()
    }
}

/// Where a search's weights file is: `Scores::weights` as recorded (a path
/// relative to where the trainer ran, or absolute), else a file of that name
/// in `search_dir`, where `nas search` and a shared artifacts folder keep them.
pub fn find_weights(recorded: &str, search_dir: Option<&Path>) -> Option<PathBuf> {
    let path = PathBuf::from(recorded);
    if path.is_file() {
        return Some(path);
    }
    let name = path.file_name()?;
    search_dir.map(|d| d.join(name)).filter(|p| p.is_file())
}

/// The settings of the exported network of `winner`, a `genotype` in the
/// search `state`, whose weights (if any) are `weights`, trained with the
/// preprocessing `preprocess` (saved beside them).
pub fn resolve(
    state: &SearchState,
    winner: &Evaluation,
    genotype: &Genotype,
    weights: Option<&WeightsFile>,
    preprocess: Option<&Preprocess>,
) -> NetSettings {
    let kind = genotype.kind();
    let defaults = NetConfig::for_space(kind);
    let mut sources = Vec::new();
    let (channels, layers, auxiliary) = match stage_settings(state, winner) {
        Some(s) => {
            let stage = match winner.stage {
                Stage::Final => "the final stage's training settings",
                Stage::Search | Stage::Supernet => "the evaluator's training settings",
            };
            sources.push(format!("channels and layers: {stage}"));
            (s.channels, s.layers, s.auxiliary_weight > 0.0)
        }
        None => {
            sources.push(format!(
                "channels and layers: the {kind} defaults (the search looked candidates up in a table)"
            ));
            (defaults.channels, defaults.layers, false)
        }
    };
    let (mut classes, mut in_channels, mut input_size) =
        (defaults.classes, defaults.in_channels, defaults.input_size);
    match &state.spec.evaluator {
        EvaluatorSpec::Torch { data, .. } => {
            let unpinned = queue::wire::DataRef {
                fingerprint: None,
                ..data.clone()
            };
            let meta = trainer::train::load_dataset(&unpinned).map(|ds| ds.meta);
            match meta {
                Ok(m) => {
                    classes = match preprocess {
                        Some(p) => p.target(&m).outputs(),
                        None => m.classes.len() as i64,
                    };
                    in_channels = m.channels as i64;
                    input_size = match m.input {
                        space::InputKind::Images => m.height.min(m.width) as i64,
                        _ => m.width as i64,
                    };
                    sources.push(format!(
                        "classes and input shape: the dataset {data} ({} x {} x {}, {} classes)",
                        m.channels,
                        m.height,
                        m.width,
                        m.classes.len()
                    ));
                }
                Err(e) => {
                    let from_weights = weights.and_then(|w| from_weights(kind, genotype, w));
                    if let Some((c, i)) = from_weights {
                        (classes, in_channels) = (c, i);
                    }
                    sources.push(format!(
                        "classes and input shape: the dataset {data} cannot be read here ({e}); {}, input size {input_size} assumed",
                        if from_weights.is_some() {
                            "classes and input channels from the weights"
                        } else {
                            "classes and input channels assumed"
                        }
                    ));
                }
            }
        }
        EvaluatorSpec::Nb201 { dataset, .. } => {
            (classes, input_size) = match dataset.as_str() {
                "cifar100" => (100, 32),
                "imagenet" => (120, 16),
                _ => (10, 32),
            };
            sources.push(format!(
                "classes and input shape: NAS-Bench-201's {dataset} ({in_channels} x {input_size} x {input_size}, {classes} classes)"
            ));
        }
        EvaluatorSpec::Python { entry, .. } => {
            sources.push(format!(
                "classes and input shape: the defaults (the user's function {entry} trained the candidates on data nas does not read)"
            ));
        }
    }
    let table = preprocess.map(Preprocess::table_shape).unwrap_or_default();
    if kind == SpaceKind::Mlp {
        sources.push(match preprocess {
            Some(_) => "table columns and categories: the preprocessing fitted in training".into(),
            None => "table columns: unknown (no preprocessing was saved with the weights)".into(),
        });
    }
    NetSettings {
        channels,
        layers,
        classes,
        in_channels,
        input_size,
        numeric: table.numeric,
        categorical: table.categorical,
        auxiliary: auxiliary && kind == SpaceKind::Darts,
        sources,
    }
}

/// Classes and input channels read off the weights: the classifier's rows
/// and the input channels of the convolution that reads the image.
fn from_weights(kind: SpaceKind, genotype: &Genotype, w: &WeightsFile) -> Option<(i64, i64)> {
    let classes = w.dim("classifier.weight", 0)?;
    let stem = match (kind, genotype) {
        (SpaceKind::Darts, _) if w.shapes.contains_key("stem0.conv1.weight") => {
            "stem0.conv1.weight".to_string()
        }
        (_, Genotype::Macro(m)) => {
            let first = m.layers().iter().position(|l| l.anchors.is_empty())?;
            format!("layers.{first}.conv.weight")
        }
        _ => "stem.conv.weight".to_string(),
    };
    Some((classes, w.dim(&stem, 1)?))
}

/// Build the network of `genotype` with `settings` in a scratch store and
/// compare its variables with the weights file: `None` when every name and
/// shape agree, else what differs.
pub fn check_weights(
    genotype: &Genotype,
    settings: &NetSettings,
    weights: &WeightsFile,
) -> Option<String> {
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    if let Err(e) = trainer::model::build(&vs.root(), genotype, &settings.config(genotype.kind())) {
        return Some(format!(
            "the network cannot be built with these settings: {e}"
        ));
    }
    let built: BTreeMap<String, Vec<i64>> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.size()))
        .collect();
    let mut diffs = Vec::new();
    for (name, shape) in &built {
        match weights.shapes.get(name) {
            None => diffs.push(format!("{name} is missing")),
            Some(s) if s != shape => {
                diffs.push(format!("{name} is {s:?}, the network's {shape:?}"))
            }
            Some(_) => {}
        }
    }
    diffs.extend(
        weights
            .shapes
            .keys()
            .filter(|n| !built.contains_key(*n))
            .map(|n| format!("{n} is not in the network")),
    );
    if diffs.is_empty() {
        return None;
    }
    let more = diffs.len().saturating_sub(5);
    diffs.truncate(5);
    Some(format!(
        "{}{}",
        diffs.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    ))
}
