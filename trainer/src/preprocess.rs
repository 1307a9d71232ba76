//! Preprocessing as part of the model: fitted on the part of the training
//! split a run trains on (never on validation or test rows), applied the
//! same way to every split, saved beside the trained weights
//! (`<weights>.preprocess.json`) and carried by the export, whose `model.py`
//! applies it to new rows.
//!
//! - Images: pixels scaled to [0, 1], then `(x - mean) / std` per channel
//!   (the data loader applies it to each batch).
//! - Time series: each channel standardized by the mean and standard
//!   deviation of its values in the training part; a missing value (NaN)
//!   becomes 0 after standardization, the channel's mean.
//! - Tables: numeric and boolean columns first, in file order, each
//!   standardized (a missing value becomes the training part's mean, so
//!   0); then one code per categorical column: the category's position
//!   among those seen in the training part, or their count for a missing
//!   value or a category never seen there.
//! - Regression targets: standardized by the training part's mean and
//!   standard deviation for training; predictions are mapped back.

use crate::model::TableShape;
use data::{ColumnKind, Meta, Normalize, Split, Task};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A run's fitted preprocessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum Preprocess {
    /// Images: per-channel normalization of pixels scaled to [0, 1].
    Images {
        /// Mean per channel.
        mean: Vec<f64>,
        /// Standard deviation per channel.
        std: Vec<f64>,
    },
    /// Time series: per-channel standardization.
    Series {
        /// Mean per channel.
        mean: Vec<f64>,
        /// Standard deviation per channel (1 for a constant channel).
        std: Vec<f64>,
        /// What the network predicts.
        target: Target,
    },
    /// Tables: standardized numeric columns, then category codes.
    Table {
        /// The feature columns in file order.
        columns: Vec<ColumnPrep>,
        /// What the network predicts.
        target: Target,
    },
}

/// How one table column becomes the network's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPrep {
    /// The column's name in the file.
    pub name: String,
    /// Numeric, boolean (0/1) or categorical.
    pub kind: ColumnKind,
    /// Numeric and boolean: the training part's mean (missing values
    /// become it).
    #[serde(default)]
    pub mean: f64,
    /// Numeric and boolean: the training part's standard deviation (1 for
    /// a constant column).
    #[serde(default = "one")]
    pub std: f64,
    /// Categorical: the categories seen in the training part; a category's
    /// code is its position here, and any other value (or none) is coded
    /// `seen.len()`.
    #[serde(default)]
    pub seen: Vec<String>,
}

fn one() -> f64 {
    1.0
}

/// What a network's outputs mean.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Target {
    /// One score per class; the class names in output order.
    Classification {
        /// Class names.
        classes: Vec<String>,
        /// Tables and series CSVs: the target column, which new data may
        /// hold and prediction leaves out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
    },
    /// One number, standardized: `prediction * std + mean`.
    Regression {
        /// The training part's mean target.
        mean: f64,
        /// Its standard deviation (1 for a constant target).
        std: f64,
        /// The target column, as for classification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        column: Option<String>,
    },
}

impl Target {
    /// Outputs of the network: classes, or 1 for regression.
    pub fn outputs(&self) -> i64 {
        match self {
            Self::Classification { classes, .. } => classes.len() as i64,
            Self::Regression { .. } => 1,
        }
    }
}

/// The mean and standard deviation (population) of the finite values of
/// `values` (1 when there are none or they are all equal).
fn moments(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for v in values.filter(|v| v.is_finite()) {
        n += 1.0;
        sum += v;
        sq += v * v;
    }
    if n == 0.0 {
        return (0.0, 1.0);
    }
    let mean = sum / n;
    let sd = (sq / n - mean * mean).max(0.0).sqrt();
    (mean, if sd > 1e-12 { sd } else { 1.0 })
}

/// A tensor's values as f64, on the CPU.
fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))
        .unwrap_or_default()
}

impl Preprocess {
    /// Fit on `train`, the part of the training split a run trains on, of
    /// a dataset described by `meta`.
    pub fn fit(meta: &Meta, train: &Split) -> Self {
        match meta.input {
            space::InputKind::Images => {
                let n = Normalize::from_split(train);
                Self::Images {
                    mean: n.mean,
                    std: n.std,
                }
            }
            space::InputKind::Series => {
                let (mut mean, mut std) = (Vec::new(), Vec::new());
                for c in 0..meta.channels as i64 {
                    let (m, s) = moments(values(&train.inputs.select(1, c)).into_iter());
                    mean.push(m);
                    std.push(s);
                }
                Self::Series {
                    mean,
                    std,
                    target: Target::fit(meta, train),
                }
            }
            space::InputKind::Table => {
                let columns = (meta.columns.iter().enumerate())
                    .map(|(j, col)| {
                        let raw = values(&train.inputs.select(1, j as i64));
                        match col.kind {
                            ColumnKind::Numeric | ColumnKind::Boolean => {
                                let (mean, std) = moments(raw.into_iter());
                                ColumnPrep {
                                    name: col.name.clone(),
                                    kind: col.kind,
                                    mean,
                                    std,
                                    seen: Vec::new(),
                                }
                            }
                            ColumnKind::Categorical => {
                                let mut present = vec![false; col.categories.len()];
                                for v in raw.into_iter().filter(|v| v.is_finite()) {
                                    if let Some(p) = present.get_mut(v as usize) {
                                        *p = true;
                                    }
                                }
                                let seen = (col.categories.iter().zip(&present))
                                    .filter(|(_, &p)| p)
                                    .map(|(c, _)| c.clone())
                                    .collect();
                                ColumnPrep {
                                    name: col.name.clone(),
                                    kind: col.kind,
                                    mean: 0.0,
                                    std: 1.0,
                                    seen,
                                }
                            }
                        }
                    })
                    .collect();
                Self::Table {
                    columns,
                    target: Target::fit(meta, train),
                }
            }
        }
    }

    /// The image normalization, for the data loader; `None` for tables and
    /// series, whose inputs [`Preprocess::apply`] prepares.
    pub fn normalize(&self) -> Option<Normalize> {
        match self {
            Self::Images { mean, std } => Some(Normalize {
                mean: mean.clone(),
                std: std.clone(),
            }),
            _ => None,
        }
    }

    /// The table's input layout, for the network.
    pub fn table_shape(&self) -> TableShape {
        let Self::Table { columns, .. } = self else {
            return TableShape::default();
        };
        let numeric = columns
            .iter()
            .filter(|c| c.kind != ColumnKind::Categorical)
            .count() as i64;
        let categorical = columns
            .iter()
            .filter(|c| c.kind == ColumnKind::Categorical)
            .map(|c| c.seen.len() as i64)
            .collect();
        TableShape {
            numeric,
            categorical,
        }
    }

    /// What the network predicts; images are always classified.
    pub fn target(&self, meta: &Meta) -> Target {
        match self {
            Self::Images { .. } => Target::Classification {
                classes: meta.classes.clone(),
                column: None,
            },
            Self::Series { target, .. } | Self::Table { target, .. } => target.clone(),
        }
    }

    /// `split` as the network reads it (tables and series; images are
    /// returned as they are, for the loader to normalize): inputs f32, and
    /// regression targets standardized. `meta` gives the table's file
    /// categories.
    pub fn apply(&self, meta: &Meta, split: &Split) -> Split {
        let labels = match self.target(meta) {
            Target::Regression { mean, std, .. } => (&split.labels - mean) / std,
            Target::Classification { .. } => split.labels.shallow_clone(),
        };
        let inputs = match self {
            Self::Images { .. } => return split.shallow_clone(),
            Self::Series { mean, std, .. } => {
                let device = split.inputs.device();
                let shape = [1, mean.len() as i64, 1];
                let m = Tensor::from_slice(mean)
                    .to_kind(Kind::Float)
                    .reshape(shape)
                    .to_device(device);
                let s = Tensor::from_slice(std)
                    .to_kind(Kind::Float)
                    .reshape(shape)
                    .to_device(device);
                ((&split.inputs - m) / s).nan_to_num(0.0, 0.0, 0.0)
            }
            Self::Table { columns, .. } => table_inputs(columns, meta, &split.inputs),
        };
        Split {
            inputs,
            labels: labels.to_kind(split.labels.kind()),
        }
    }

    /// Where the preprocessing of the weights file `weights` is saved.
    pub fn path_beside(weights: &Path) -> PathBuf {
        weights.with_extension("preprocess.json")
    }

    /// Save beside the weights file `weights`, atomically.
    pub fn save_beside(&self, weights: &Path) -> std::io::Result<()> {
        let path = Self::path_beside(weights);
        let tmp = path.with_extension("tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)
    }
}

impl Target {
    fn fit(meta: &Meta, train: &Split) -> Self {
        match meta.task {
            Task::Classification => Self::Classification {
                classes: meta.classes.clone(),
                column: meta.target.clone(),
            },
            Task::Regression => {
                let (mean, std) = moments(values(&train.labels).into_iter());
                Self::Regression {
                    mean,
                    std,
                    column: meta.target.clone(),
                }
            }
        }
    }
}

/// A table's raw values (file codes for categories, NaN for missing) as
/// the network's input: standardized numeric and boolean columns, then
/// category codes.
fn table_inputs(columns: &[ColumnPrep], meta: &Meta, raw: &Tensor) -> Tensor {
    let device = raw.device();
    let mut numeric = Vec::new();
    let mut codes = Vec::new();
    for (j, col) in columns.iter().enumerate() {
        let x = raw.select(1, j as i64);
        match col.kind {
            ColumnKind::Numeric | ColumnKind::Boolean => {
                numeric.push(((x - col.mean) / col.std).nan_to_num(0.0, 0.0, 0.0));
            }
            ColumnKind::Categorical => {
                // File code -> model code: its position among the seen
                // categories, or `seen.len()` for unseen and missing.
                let file = meta
                    .columns
                    .get(j)
                    .map(|c| c.categories.as_slice())
                    .unwrap_or(&[]);
                let unknown = col.seen.len() as f32;
                let map: Vec<f32> = file
                    .iter()
                    .map(|c| {
                        col.seen
                            .iter()
                            .position(|s| s == c)
                            .map_or(unknown, |p| p as f32)
                    })
                    .chain(std::iter::once(unknown))
                    .collect();
                let table = Tensor::from_slice(&map).to_device(device);
                let index = x
                    .nan_to_num(file.len() as f64, 0.0, 0.0)
                    .clamp(0.0, file.len() as f64)
                    .to_kind(Kind::Int64);
                codes.push(table.index_select(0, &index));
            }
        }
    }
    let parts: Vec<Tensor> = numeric
        .into_iter()
        .chain(codes)
        .map(|t| t.to_kind(Kind::Float).unsqueeze(1))
        .collect();
    if parts.is_empty() {
        return Tensor::zeros([raw.size()[0], 0], (Kind::Float, device));
    }
    Tensor::cat(&parts, 1)
}
