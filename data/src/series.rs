//! Time series as f32 `[N, C, L]`: checking that every series has one
//! length (or padding them at the end with NaN), shared by the `.ts` reader;
//! and the series CSV reader: one univariate series per row, its time steps
//! in the columns other than the target.

use crate::cells::{is_missing_text, parse_number, text_cell, Cells, Origins};
use crate::csv_file;
use crate::error::Result;
use crate::meta::LoadOptions;
use crate::target::{self, Target};

/// One series: its dimensions, each a list of values (NaN where missing).
pub(crate) type Series = Vec<Vec<f32>>;

/// Series turned into one `[N, C, L]` block.
#[derive(Debug)]
pub(crate) struct Block {
    /// `N * C * L` values, sample-major, then dimension, then time.
    pub values: Vec<f32>,
    /// Dimensions per series.
    pub channels: usize,
    /// Values per dimension.
    pub length: usize,
}

/// Put `series` (all with the same number of dimensions) into one block.
/// A series (or dimension) whose length differs from the first series' is
/// refused, naming it, unless `pad`: then every dimension is padded at the
/// end with NaN to the longest.
pub(crate) fn block(series: &[Series], origins: &Origins, pad: bool) -> Result<Block> {
    let channels = series.first().map_or(0, Vec::len);
    let first = series.first().and_then(|s| s.first()).map_or(0, Vec::len);
    let mut length = 0;
    for (i, s) in series.iter().enumerate() {
        for (d, dim) in s.iter().enumerate() {
            if dim.len() != first && !pad {
                let which = if channels > 1 {
                    format!("dimension {} of this series", d + 1)
                } else {
                    "this series".into()
                };
                return Err(origins.error(
                    i,
                    None,
                    format!(
                        "{which} has {} values, but the first series has {first}; series of \
                         unequal length need pad (to pad them with NaN at the end)",
                        dim.len()
                    ),
                ));
            }
            length = length.max(dim.len());
        }
    }
    if length == 0 {
        return Err(origins.file_error(None, "the series have no values"));
    }
    let mut values = Vec::with_capacity(series.len() * channels * length);
    for s in series {
        for dim in s {
            values.extend_from_slice(dim);
            values.resize(values.len() + length - dim.len(), f32::NAN);
        }
    }
    Ok(Block {
        values,
        channels,
        length,
    })
}

/// A series CSV file read: the block of series, the target's name and its
/// encoded labels, and where the rows are.
#[derive(Debug)]
pub(crate) struct SeriesCsv {
    /// The series, one channel each.
    pub block: Block,
    /// The target column's name.
    pub target: String,
    /// Task, classes and labels.
    pub labels: Target,
}

/// Read a series CSV file. The target column is chosen as for tables; every
/// other column is a time step, in file order, holding a number or a
/// missing value. With `pad`, a row may have fewer fields than the header
/// when the target is the last column: its last field is the target, and
/// its series is padded with NaN.
pub(crate) fn read_csv(path: &std::path::Path, options: &LoadOptions) -> Result<SeriesCsv> {
    let file = csv_file::read(path, options.pad)?;
    let origins = &file.origins;
    let names = &file.headers;
    let Some(t) = target::choose(names, options.target.as_deref()) else {
        let columns: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        return Err(origins.file_error(
            options.target.as_deref(),
            format!(
                "no such target column; the columns are {}",
                columns.join(", ")
            ),
        ));
    };
    if names.len() < 2 {
        return Err(origins.file_error(
            Some(&names[t]),
            "the only column is the target: no time steps",
        ));
    }
    let last = names.len() - 1;
    let mut series = Vec::with_capacity(file.records.len());
    let mut labels = Vec::with_capacity(file.records.len());
    for (row, record) in file.records.iter().enumerate() {
        let fields: Vec<&str> = record.iter().collect();
        let short = fields.len() < names.len();
        if short && t != last {
            return Err(origins.error(
                row,
                None,
                format!(
                    "{} fields, but the header has {}; shorter rows are padded only when the \
                     target is the last column",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        // A short row's target is its last field.
        let t_here = if short { fields.len() - 1 } else { t };
        labels.push(fields.get(t_here).and_then(|f| text_cell(f)));
        let mut steps = Vec::with_capacity(fields.len());
        for (j, field) in fields.iter().enumerate().filter(|(j, _)| *j != t_here) {
            if is_missing_text(field) {
                steps.push(f32::NAN);
                continue;
            }
            match parse_number(field) {
                Some(v) => steps.push(v as f32),
                None => {
                    return Err(origins.error(
                        row,
                        Some(&names[j]),
                        format!("not a number: {field:?} (time steps hold numbers)"),
                    ))
                }
            }
        }
        series.push(vec![steps]);
    }
    let target = names[t].clone();
    let labels = target::encode(
        &Cells::Text(labels),
        Some(&target),
        None,
        options.task,
        origins,
    )?;
    let block = block(&series, origins, options.pad)?;
    Ok(SeriesCsv {
        block,
        target,
        labels,
    })
}
