//! What `nas data inspect` prints about a loaded dataset: one
//! [`Description`], as text ([`std::fmt::Display`]) or JSON (serde), for
//! images, tables and series alike.

use crate::meta::{Meta, Task};
use crate::split::Split;
use crate::Dataset;
use space::InputKind;
use std::fmt;
use tch::{Device, Kind};

/// Summary statistics of regression targets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct TargetStats {
    /// Smallest target.
    pub min: f64,
    /// Largest target.
    pub max: f64,
    /// Mean target.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
}

impl TargetStats {
    /// The statistics of `values`; `None` when there are none.
    pub fn of(values: &[f32]) -> Option<TargetStats> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in values {
            min = min.min(f64::from(v));
            max = max.max(f64::from(v));
        }
        Some(TargetStats {
            min,
            max,
            mean,
            std: var.sqrt(),
        })
    }
}

/// What a dataset holds: its [`Meta`] (flattened into the JSON), the shape
/// of one sample, the class balance or target statistics per split, and for
/// tables and series how many input values are missing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Description {
    /// Name, format, input kind, task, classes, shape, columns, sizes and
    /// fingerprint.
    #[serde(flatten)]
    pub meta: Meta,
    /// The shape of one sample: `[C, H, W]`, `[C, L]` or `[F]`.
    pub sample_shape: Vec<usize>,
    /// Classification: samples of each class in the training split.
    pub train_counts: Vec<usize>,
    /// Classification: samples of each class in the test split.
    pub test_counts: Vec<usize>,
    /// Regression: the training split's targets.
    pub train_target: Option<TargetStats>,
    /// Regression: the test split's targets.
    pub test_target: Option<TargetStats>,
    /// Tables and series: missing (NaN) input values in both splits,
    /// padding included. Images: 0.
    pub missing_values: usize,
}

/// Describe `ds`.
pub fn describe(ds: &Dataset) -> Description {
    let meta = ds.meta.clone();
    let k = meta.classes.len();
    let regression = meta.task == Task::Regression;
    let counts = |s: &Split| {
        if regression {
            Vec::new()
        } else {
            s.class_counts(k)
        }
    };
    let stats = |s: &Split| {
        if regression {
            TargetStats::of(&s.targets_vec())
        } else {
            None
        }
    };
    Description {
        sample_shape: ds
            .train
            .sample_shape()
            .iter()
            .map(|&d| d as usize)
            .collect(),
        train_counts: counts(&ds.train),
        test_counts: counts(&ds.test),
        train_target: stats(&ds.train),
        test_target: stats(&ds.test),
        missing_values: missing(&ds.train) + missing(&ds.test),
        meta,
    }
}

/// NaN inputs of a split (0 for images).
fn missing(s: &Split) -> usize {
    if s.is_images() || s.is_empty() {
        return 0;
    }
    let nan = s.inputs.to_device(Device::Cpu).isnan().sum(Kind::Int64);
    usize::try_from(nan.int64_value(&[])).unwrap_or(0)
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.meta;
        writeln!(f, "name         {}", m.name)?;
        writeln!(f, "format       {}", m.format)?;
        writeln!(f, "input        {}", m.input.name())?;
        writeln!(f, "task         {}", m.task)?;
        match m.input {
            InputKind::Images => writeln!(
                f,
                "shape        {}x{}x{} (channels x height x width)",
                m.channels, m.height, m.width
            )?,
            InputKind::Series => writeln!(
                f,
                "shape        {}x{} (channels x length)",
                m.channels, m.width
            )?,
            InputKind::Table => writeln!(f, "shape        {} features", m.width)?,
        }
        writeln!(f, "train        {}", m.train_len)?;
        writeln!(f, "test         {}", m.test_len)?;
        writeln!(f, "fingerprint  {}", m.fingerprint)?;
        if let Some(target) = &m.target {
            writeln!(f, "target       {target}")?;
        }
        if m.input != InputKind::Images {
            writeln!(f, "missing      {} input values", self.missing_values)?;
        }
        if m.input == InputKind::Table {
            self.columns(f)?;
        }
        match m.task {
            Task::Classification => self.classes(f),
            Task::Regression => self.targets(f),
        }
    }
}

impl Description {
    /// The table of feature columns.
    fn columns(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = &self.meta.columns;
        writeln!(f, "columns      {}", columns.len())?;
        let width = columns
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(6);
        writeln!(
            f,
            "  {:>3}  {:<width$}  {:<11}  {:>10}  {:>8}",
            "#", "column", "kind", "categories", "missing"
        )?;
        for (i, c) in columns.iter().enumerate() {
            writeln!(
                f,
                "  {i:>3}  {:<width$}  {:<11}  {:>10}  {:>8}",
                c.name,
                c.kind.name(),
                c.categories.len(),
                c.missing
            )?;
        }
        Ok(())
    }

    /// The class balance per split.
    fn classes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let classes = &self.meta.classes;
        writeln!(f, "classes      {}", classes.len())?;
        let width = classes
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        writeln!(
            f,
            "  {:>3}  {:<width$}  {:>8}  {:>8}",
            "#", "class", "train", "test"
        )?;
        let count = |v: &[usize], i: usize| v.get(i).copied().unwrap_or(0);
        for (i, name) in classes.iter().enumerate() {
            writeln!(
                f,
                "  {i:>3}  {name:<width$}  {:>8}  {:>8}",
                count(&self.train_counts, i),
                count(&self.test_counts, i)
            )?;
        }
        Ok(())
    }

    /// The target statistics per split.
    fn targets(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  {:<5}  {:>12}  {:>12}  {:>12}  {:>12}",
            "split", "min", "max", "mean", "std"
        )?;
        for (name, stats) in [("train", self.train_target), ("test", self.test_target)] {
            match stats {
                Some(s) => writeln!(
                    f,
                    "  {name:<5}  {:>12.6}  {:>12.6}  {:>12.6}  {:>12.6}",
                    s.min, s.max, s.mean, s.std
                )?,
                None => writeln!(f, "  {name:<5}  {:>12}", "(empty)")?,
            }
        }
        Ok(())
    }
}
