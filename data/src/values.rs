//! Loading the formats whose inputs are f32 values (tables and series): one
//! reader per format, then one train/test split: the file pair of a `.ts`
//! set, or else the seeded holdout of [`HOLDOUT_FRACTION`].

use crate::cells::{Cells, Origins};
use crate::error::{DataError, Result};
use crate::format::Format;
use crate::meta::{Column, LoadOptions};
use crate::raw::RawValues;
use crate::series::{self, Series};
use crate::split::holdout_mask;
use crate::target::{self, Target};
use crate::ts::{self, Declared};
use crate::{csv_file, parquet_file, table};
use std::path::Path;

/// The share of a single-file dataset's samples that becomes the test split.
pub const HOLDOUT_FRACTION: f64 = 0.2;
/// The seed of that holdout, fixed so that every reader of a file
/// (scheduler, trainers) gets the same test split.
pub const HOLDOUT_SEED: u64 = 0;

/// A table or series dataset, decoded and split.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// Class names (empty for regression).
    pub classes: Vec<String>,
    /// Table: the feature columns.
    pub columns: Vec<Column>,
    /// Table and series CSV: the target column.
    pub target: Option<String>,
    /// The training split.
    pub train: RawValues,
    /// The test split.
    pub test: RawValues,
}

/// Load `path` in `format` (a table or series format).
pub(crate) fn load(path: &Path, format: Format, options: &LoadOptions) -> Result<Loaded> {
    match format {
        Format::Csv => {
            let file = csv_file::read(path, false)?;
            let t = table::build(file.columns(), &file.origins, options)?;
            Ok(from_table(t))
        }
        Format::Parquet => {
            let (columns, origins) = parquet_file::read(path)?;
            Ok(from_table(table::build(columns, &origins, options)?))
        }
        Format::SeriesCsv => {
            let s = series::read_csv(path, options)?;
            let all = rows(s.block, &s.labels);
            let (train, test) = holdout(&all);
            Ok(Loaded {
                classes: s.labels.classes,
                columns: Vec::new(),
                target: Some(s.target),
                train,
                test,
            })
        }
        Format::Ts => load_ts(path, options),
        Format::Idx | Format::Cifar10 | Format::Cifar100 | Format::ImageFolder => Err(
            DataError::Config(format!("{format} holds images, not a table or series")),
        ),
    }
}

/// A table's rows split by the holdout.
fn from_table(t: table::Table) -> Loaded {
    let (train, test) = holdout(&t.rows);
    Loaded {
        classes: t.labels.classes,
        columns: t.columns,
        target: Some(t.target),
        train,
        test,
    }
}

/// A block of series with their labels as one [`RawValues`] `[C, L]`.
fn rows(block: series::Block, target: &Target) -> RawValues {
    RawValues {
        values: block.values,
        shape: vec![block.channels, block.length],
        labels: target.labels.clone(),
    }
}

/// Split `all` into (train, test): [`HOLDOUT_FRACTION`] of the samples, of
/// each class for classification, chosen with [`HOLDOUT_SEED`] (see
/// [`crate::split_train_val`]), go to test; both keep the file's order.
fn holdout(all: &RawValues) -> (RawValues, RawValues) {
    let mask = holdout_mask(&all.labels.strata(), HOLDOUT_FRACTION, HOLDOUT_SEED);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, held) in mask.into_iter().enumerate() {
        if held { &mut test } else { &mut train }.push(i);
    }
    (all.select(&train), all.select(&test))
}

/// Load a `.ts` training file with its test file, or one `.ts` file split
/// by the holdout.
fn load_ts(path: &Path, options: &LoadOptions) -> Result<Loaded> {
    let (train_path, test_path) = ts::files(path)?;
    let train = ts::read(&train_path)?;
    let test = test_path.as_deref().map(ts::read).transpose()?;
    let n_train = train.series.len();
    let mut declared = train.declared.clone();
    let (mut series, mut labels, mut origins): (Vec<Series>, Vec<String>, Origins) =
        (train.series, train.labels, train.origins);
    if let Some(test) = test {
        check_pair(&declared, &series, &test)?;
        if let (Declared::Classes(ours), Declared::Classes(theirs)) = (&declared, &test.declared) {
            if ours.is_empty() {
                declared = Declared::Classes(theirs.clone());
            }
        }
        series.extend(test.series);
        labels.extend(test.labels);
        origins.append(test.origins);
    }
    let classes = match &declared {
        Declared::Classes(c) if !c.is_empty() => Some(c.as_slice()),
        _ => None,
    };
    let task = options.task.or(Some(declared.task()));
    let cells = Cells::Text(labels.into_iter().map(Some).collect());
    let target = target::encode(&cells, None, classes, task, &origins)?;
    let block = series::block(&series, &origins, options.pad)?;
    let all = rows(block, &target);
    let (train, test) = if origins.len() > n_train {
        let n = all.len();
        let (a, b): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| i < n_train);
        (all.select(&a), all.select(&b))
    } else {
        holdout(&all)
    };
    Ok(Loaded {
        classes: target.classes,
        columns: Vec::new(),
        target: None,
        train,
        test,
    })
}

/// Check that a test file agrees with its training file: the same kind of
/// label, the same class list (when both list one), the same number of
/// dimensions.
fn check_pair(declared: &Declared, train: &[Series], test: &ts::TsFile) -> Result<()> {
    let err = |reason: String| test.origins.file_error(None, reason);
    match (declared, &test.declared) {
        (Declared::Classes(a), Declared::Classes(b)) => {
            let (mut a, mut b) = (a.clone(), b.clone());
            a.sort();
            b.sort();
            if !a.is_empty() && !b.is_empty() && a != b {
                return Err(err(format!(
                    "@classLabel lists {}, but the training file lists {}",
                    b.join(" "),
                    a.join(" ")
                )));
            }
        }
        (Declared::Target, Declared::Target) => {}
        (ours, theirs) => {
            return Err(err(format!(
                "the labels are for {}, but the training file's are for {}",
                theirs.task(),
                ours.task()
            )))
        }
    }
    let dims = train.first().map_or(0, Vec::len);
    if let Some(row) = test.series.iter().position(|s| s.len() != dims) {
        return Err(test.origins.error(
            row,
            None,
            format!(
                "this series has {} dimensions, but the training file's have {dims}",
                test.series[row].len()
            ),
        ));
    }
    Ok(())
}
