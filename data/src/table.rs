//! The table core shared by the CSV and Parquet readers: the target picked
//! and encoded ([`crate::target`]), each feature column's kind inferred from
//! all its values and the rows turned into f32 `[N, F]`.
//!
//! Kinds: a column whose non-missing values all parse as numbers is
//! numeric (unless listed in [`crate::LoadOptions::categorical`]); one
//! whose values are all true/false, yes/no, t/f or y/n (any case; not 0/1,
//! which stay numeric) is boolean; anything else is categorical. Parquet
//! columns keep their type: numbers are numeric, booleans boolean, strings
//! categorical.

use crate::cells::{number_name, parse_number, Cells, Origins, RawColumn};
use crate::error::Result;
use crate::meta::{Column, ColumnKind, LoadOptions};
use crate::raw::RawValues;
use crate::target::{self, Target};

/// A table decoded into numbers, before the train/test holdout.
#[derive(Debug)]
pub(crate) struct Table {
    /// The feature columns, in file order.
    pub columns: Vec<Column>,
    /// The target column's name.
    pub target: String,
    /// Task, class names and labels.
    pub labels: Target,
    /// All rows, `[F]` each.
    pub rows: RawValues,
}

/// Decode `columns` (all of the file's columns, in order) as `options`
/// say. `origins` locates each row for errors.
pub(crate) fn build(
    columns: Vec<RawColumn>,
    origins: &Origins,
    options: &LoadOptions,
) -> Result<Table> {
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let listed = || {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        quoted.join(", ")
    };
    if names.is_empty() {
        return Err(origins.file_error(None, "empty file: no header row"));
    }
    if origins.len() == 0 {
        return Err(origins.file_error(None, "columns but no data rows"));
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(origins.file_error(Some(name), "two columns have this name"));
        }
    }
    for name in &options.categorical {
        if !names.contains(name) {
            return Err(origins.file_error(
                Some(name),
                format!(
                    "listed as categorical, but there is no such column; the columns are {}",
                    listed()
                ),
            ));
        }
    }
    let Some(t) = target::choose(&names, options.target.as_deref()) else {
        let wanted = options.target.as_deref();
        return Err(origins.file_error(
            wanted,
            format!("no such target column; the columns are {}", listed()),
        ));
    };
    if names.len() < 2 {
        return Err(origins.file_error(
            Some(&names[t]),
            "the only column is the target: no features to learn from",
        ));
    }
    let target_name = names[t].clone();
    if options.categorical.contains(&target_name) {
        return Err(origins.file_error(
            Some(&target_name),
            "the target cannot be listed as categorical; set the task instead",
        ));
    }
    let labels = target::encode(
        &columns[t].cells,
        Some(&target_name),
        None,
        options.task,
        origins,
    )?;
    let n = origins.len();
    let features: Vec<(Column, Vec<f32>)> = columns
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i != t)
        .map(|(_, c)| {
            let forced = options.categorical.contains(&c.name);
            feature(c, forced)
        })
        .collect();
    let f = features.len();
    let mut values = vec![f32::NAN; n * f];
    for (j, (_, column)) in features.iter().enumerate() {
        for (i, v) in column.iter().enumerate() {
            values[i * f + j] = *v;
        }
    }
    Ok(Table {
        columns: features.into_iter().map(|(c, _)| c).collect(),
        target: target_name,
        rows: RawValues {
            values,
            shape: vec![f],
            labels: labels.labels.clone(),
        },
        labels,
    })
}

/// Text accepted as a boolean, case-insensitive: (text, value).
const BOOLEANS: [(&str, bool); 8] = [
    ("true", true),
    ("false", false),
    ("yes", true),
    ("no", false),
    ("t", true),
    ("f", false),
    ("y", true),
    ("n", false),
];

/// A boolean written as text.
fn parse_bool(s: &str) -> Option<bool> {
    BOOLEANS
        .iter()
        .find(|(t, _)| s.eq_ignore_ascii_case(t))
        .map(|&(_, b)| b)
}

/// One feature column: its kind, categories and missing count, and its
/// values as f32 (NaN where missing).
fn feature(column: RawColumn, forced_categorical: bool) -> (Column, Vec<f32>) {
    let missing = column.cells.missing();
    let (kind, categories, values) = match column.cells {
        Cells::Text(text) => {
            let present = || text.iter().flatten();
            if !forced_categorical && present().all(|t| parse_number(t).is_some()) {
                let values = text
                    .iter()
                    .map(|t| {
                        t.as_deref()
                            .and_then(parse_number)
                            .map_or(f32::NAN, |v| v as f32)
                    })
                    .collect();
                (ColumnKind::Numeric, Vec::new(), values)
            } else if !forced_categorical && present().all(|t| parse_bool(t).is_some()) {
                let values = text
                    .iter()
                    .map(|t| {
                        t.as_deref()
                            .and_then(parse_bool)
                            .map_or(f32::NAN, f32::from)
                    })
                    .collect();
                (ColumnKind::Boolean, bools(), values)
            } else {
                let (categories, values) = categorical(&text);
                (ColumnKind::Categorical, categories, values)
            }
        }
        Cells::Number(numbers) => {
            if forced_categorical {
                let text: Vec<Option<String>> = numbers
                    .iter()
                    .map(|v| v.filter(|v| !v.is_nan()).map(number_name))
                    .collect();
                let (categories, values) = categorical(&text);
                (ColumnKind::Categorical, categories, values)
            } else {
                let values = numbers
                    .iter()
                    .map(|v| v.map_or(f32::NAN, |v| v as f32))
                    .collect();
                (ColumnKind::Numeric, Vec::new(), values)
            }
        }
        Cells::Bool(flags) => {
            let values = flags
                .iter()
                .map(|v| v.map_or(f32::NAN, f32::from))
                .collect();
            let kind = if forced_categorical {
                ColumnKind::Categorical
            } else {
                ColumnKind::Boolean
            };
            (kind, bools(), values)
        }
    };
    let column = Column {
        name: column.name,
        kind,
        categories,
        missing,
    };
    (column, values)
}

/// The categories of a boolean column.
fn bools() -> Vec<String> {
    vec!["false".into(), "true".into()]
}

/// The sorted distinct values of `text` (numerically if all are numbers)
/// and each row's index among them (NaN where missing).
fn categorical(text: &[Option<String>]) -> (Vec<String>, Vec<f32>) {
    let mut categories: Vec<String> = text.iter().flatten().cloned().collect();
    let numeric = categories.iter().all(|c| parse_number(c).is_some());
    if numeric {
        categories.sort_by(|a, b| {
            let (x, y) = (
                parse_number(a).unwrap_or(0.0),
                parse_number(b).unwrap_or(0.0),
            );
            x.total_cmp(&y).then_with(|| a.cmp(b))
        });
    } else {
        categories.sort();
    }
    categories.dedup();
    let index: std::collections::HashMap<&str, usize> = categories
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i))
        .collect();
    let values = text
        .iter()
        .map(|t| {
            t.as_deref()
                .and_then(|t| index.get(t))
                .map_or(f32::NAN, |&i| i as f32)
        })
        .collect();
    (categories, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: &[&str]) -> Cells {
        Cells::Text(v.iter().map(|s| crate::cells::text_cell(s)).collect())
    }

    #[test]
    fn kinds_are_inferred_from_all_values() {
        let col = |cells| RawColumn {
            name: "c".into(),
            cells,
        };
        let (c, v) = feature(col(text(&["1", "", "2.5"])), false);
        assert_eq!((c.kind, c.missing), (ColumnKind::Numeric, 1));
        assert!(v[1].is_nan() && v[2] == 2.5);
        let (c, v) = feature(col(text(&["Yes", "n", "NA"])), false);
        assert_eq!((c.kind, v[0], v[1]), (ColumnKind::Boolean, 1.0, 0.0));
        let (c, _) = feature(col(text(&["0", "1"])), false);
        assert_eq!(c.kind, ColumnKind::Numeric);
        let (c, v) = feature(col(text(&["b", "a", "b"])), false);
        assert_eq!(c.categories, ["a", "b"]);
        assert_eq!(v, [1.0, 0.0, 1.0]);
        let (c, v) = feature(col(text(&["10", "9", "?"])), true);
        assert_eq!(
            (c.kind, c.categories.clone()),
            (ColumnKind::Categorical, vec!["9".into(), "10".into()])
        );
        assert_eq!(&v[..2], [1.0, 0.0]);
        assert_eq!(c.missing, 1);
    }
}
