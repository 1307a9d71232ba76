//! What a dataset is without its values: [`Meta`] with its [`Task`] and,
//! for tables, the [`Column`]s; and the [`LoadOptions`] that steer loading.

use crate::error::{DataError, Result};
use crate::format::Format;
use std::fmt;
use std::str::FromStr;

/// What a model learns from a dataset.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Predict a class; labels are `i64` indices into [`Meta::classes`].
    #[default]
    Classification,
    /// Predict a number; labels are `f32` values.
    Regression,
}

impl Task {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Classification => "classification",
            Self::Regression => "regression",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = DataError;

    /// Accepts `classification` and `regression` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "classification" => Ok(Self::Classification),
            "regression" => Ok(Self::Regression),
            _ => Err(DataError::Config(format!(
                "unknown task {s:?}: expected classification or regression"
            ))),
        }
    }
}

/// How a table column's values are turned into numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers, kept as they are.
    Numeric,
    /// Strings (or numbers forced categorical): the index into
    /// [`Column::categories`].
    Categorical,
    /// true/false (yes/no, t/f, y/n): 0 or 1.
    Boolean,
}

impl ColumnKind {
    /// The name in messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Numeric => "numeric",
            Self::Categorical => "categorical",
            Self::Boolean => "boolean",
        }
    }
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One feature column of a table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// The header's name for it.
    pub name: String,
    /// How its values are encoded.
    pub kind: ColumnKind,
    /// Categorical and boolean columns: the distinct non-missing values of
    /// the whole file, sorted (numerically when all are numbers; booleans
    /// are `["false", "true"]`); a value is encoded as its index here.
    /// Numeric columns: empty.
    pub categories: Vec<String>,
    /// Missing values in the whole file (encoded as NaN).
    pub missing: usize,
}

/// What a dataset is, without its values.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    /// The dataset's name: its folder's name, or its file's name without
    /// the extension (and without `_TRAIN` for a `.ts` file).
    pub name: String,
    /// The format it was read as.
    pub format: Format,
    /// Images, a table or time series.
    pub input: space::InputKind,
    /// Classification (always, for images) or regression.
    pub task: Task,
    /// Classification: class names; a label is an index into this.
    /// Regression: empty.
    pub classes: Vec<String>,
    /// Images: channels (1 or 3). Series: dimensions. Table: 1.
    pub channels: usize,
    /// Images: height. Series and table: 1.
    pub height: usize,
    /// Images: width. Series: length. Table: the number of feature columns.
    pub width: usize,
    /// Table: the feature columns in file order, the target left out.
    /// Images and series: empty.
    pub columns: Vec<Column>,
    /// Table and series CSV: the target column's name.
    pub target: Option<String>,
    /// Training samples.
    pub train_len: usize,
    /// Test samples.
    pub test_len: usize,
    /// SHA-256 (hex) of the decoded content; see the crate docs.
    pub fingerprint: String,
}

/// How to load a dataset; the default detects everything.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadOptions {
    /// The format; `None`: [`crate::detect`] it.
    pub format: Option<Format>,
    /// Table and series CSV: the target column. Default: a column named
    /// `target`, `class`, `label` or `y` (case-insensitive, in that order of
    /// preference), else the last column.
    pub target: Option<String>,
    /// Table: columns to treat as categorical even if all their values are
    /// numbers or booleans.
    pub categorical: Vec<String>,
    /// The task, instead of the one inferred from the target.
    pub task: Option<Task>,
    /// `.ts` and series CSV: pad series of unequal length at the end with
    /// NaN to the longest, instead of refusing them.
    pub pad: bool,
}

impl LoadOptions {
    /// Options that only name the format.
    pub fn format(format: Option<Format>) -> LoadOptions {
        LoadOptions {
            format,
            ..LoadOptions::default()
        }
    }

    /// Refuse options that do not apply to `format`, rather than ignore
    /// them silently.
    pub(crate) fn check_for(&self, format: Format) -> Result<()> {
        let input = format.input();
        let mut wrong = Vec::new();
        if self.target.is_some()
            && !matches!(format, Format::Csv | Format::Parquet | Format::SeriesCsv)
        {
            wrong.push("target (tables and series CSV only)");
        }
        if !self.categorical.is_empty() && input != space::InputKind::Table {
            wrong.push("categorical (tables only)");
        }
        if self.pad && input != space::InputKind::Series {
            wrong.push("pad (time series only)");
        }
        if self.task == Some(Task::Regression) && input == space::InputKind::Images {
            wrong.push("task regression (images are classified)");
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(DataError::Config(format!(
                "options that do not apply to the {format} format: {}",
                wrong.join(", ")
            )))
        }
    }
}
