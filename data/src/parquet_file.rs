//! Reading a Parquet file's columns through arrow arrays: integer and float
//! columns become numbers, boolean columns booleans, string and dictionary
//! of string columns text; nulls (and float NaN) are missing, and nothing
//! else is. Other types
//! (dates, decimals, nested) are refused, naming the column. Compression:
//! uncompressed and Snappy (the defaults of pandas and pyarrow).

use crate::cells::{Cells, Origins, RawColumn};
use crate::error::{DataError, Position, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::path::Path;

/// Read every column of the Parquet file `path`, and where its rows are.
pub(crate) fn read(path: &Path) -> Result<(Vec<RawColumn>, Origins)> {
    if path.is_dir() {
        return Err(DataError::invalid(
            path,
            "expected a Parquet file, found a folder",
        ));
    }
    let file_error = |reason: String| DataError::parse(path, Position::File, None, reason);
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| file_error(format!("not a readable Parquet file: {e}")))?;
    let fields = builder.schema().fields().clone();
    let mut columns: Vec<RawColumn> = Vec::with_capacity(fields.len());
    for field in fields.iter() {
        let cells = match field.data_type() {
            t if is_number(t) => Cells::Number(Vec::new()),
            DataType::Boolean => Cells::Bool(Vec::new()),
            t if is_text(t) => Cells::Text(Vec::new()),
            t => {
                return Err(DataError::parse(
                    path,
                    Position::File,
                    Some(field.name()),
                    format!(
                        "columns of type {t} are not supported (numbers, booleans and strings are)"
                    ),
                ))
            }
        };
        columns.push(RawColumn {
            name: field.name().clone(),
            cells,
        });
    }
    let reader = builder
        .build()
        .map_err(|e| file_error(format!("cannot read: {e}")))?;
    let mut rows = 0;
    for batch in reader {
        let batch =
            batch.map_err(|e| file_error(format!("cannot read the rows after row {rows}: {e}")))?;
        for (column, array) in columns.iter_mut().zip(batch.columns()) {
            append(&mut column.cells, array.as_ref());
        }
        rows += batch.num_rows();
    }
    Ok((columns, Origins::rows(path, rows)))
}

/// Whether values of type `t` are read as numbers.
fn is_number(t: &DataType) -> bool {
    use DataType::*;
    matches!(
        t,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Float32 | Float64
    )
}

/// Whether values of type `t` are read as text.
fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

/// Append the values of `array` to `cells`, whose variant [`read`] chose
/// from the array's type.
fn append(cells: &mut Cells, array: &dyn Array) {
    match cells {
        Cells::Number(out) => out.extend(numbers(array)),
        Cells::Bool(out) => {
            let flags = array.as_boolean();
            out.extend((0..array.len()).map(|i| flags.is_valid(i).then(|| flags.value(i))));
        }
        Cells::Text(out) => out.extend(texts(array)),
    }
}

/// The values of a numeric array as f64 (`None` where null).
fn numbers(array: &dyn Array) -> Vec<Option<f64>> {
    fn cast<T: ArrowPrimitiveType>(
        array: &dyn Array,
        f: impl Fn(T::Native) -> f64,
    ) -> Vec<Option<f64>> {
        let a = array.as_primitive::<T>();
        (0..a.len())
            .map(|i| a.is_valid(i).then(|| f(a.value(i))))
            .collect()
    }
    match array.data_type() {
        DataType::Int8 => cast::<Int8Type>(array, f64::from),
        DataType::Int16 => cast::<Int16Type>(array, f64::from),
        DataType::Int32 => cast::<Int32Type>(array, f64::from),
        DataType::Int64 => cast::<Int64Type>(array, |v| v as f64),
        DataType::UInt8 => cast::<UInt8Type>(array, f64::from),
        DataType::UInt16 => cast::<UInt16Type>(array, f64::from),
        DataType::UInt32 => cast::<UInt32Type>(array, f64::from),
        DataType::UInt64 => cast::<UInt64Type>(array, |v| v as f64),
        DataType::Float32 => cast::<Float32Type>(array, f64::from),
        DataType::Float64 => cast::<Float64Type>(array, |v| v),
        _ => vec![None; array.len()],
    }
}

/// The values of a string (or dictionary of strings) array, trimmed, with
/// nulls as `None` (unlike CSV, text such as `NA` is a value here: Parquet
/// has nulls for what is missing).
fn texts(array: &dyn Array) -> Vec<Option<String>> {
    let n = array.len();
    let nulls = array.logical_nulls();
    let valid = |i: usize| nulls.as_ref().is_none_or(|nulls| nulls.is_valid(i));
    let text_cell = |s: &str| Some(s.trim().to_string());
    match array.data_type() {
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            (0..n)
                .map(|i| valid(i).then(|| a.value(i)).and_then(text_cell))
                .collect()
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>();
            (0..n)
                .map(|i| valid(i).then(|| a.value(i)).and_then(text_cell))
                .collect()
        }
        DataType::Utf8View => {
            let a = array.as_string_view();
            (0..n)
                .map(|i| valid(i).then(|| a.value(i)).and_then(text_cell))
                .collect()
        }
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary();
            let values = texts(dict.values().as_ref());
            let keys = dict.normalized_keys();
            (0..n)
                .map(|i| {
                    valid(i)
                        .then(|| values.get(keys[i]).cloned().flatten())
                        .flatten()
                })
                .collect()
        }
        _ => vec![None; n],
    }
}
