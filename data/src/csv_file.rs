//! Reading a CSV file (RFC 4180, via the `csv` crate) with a header row:
//! quoted fields may hold the delimiter, newlines and doubled quotes; fields
//! are trimmed. The delimiter is `,`, or `;` or a tab when the header line
//! holds no comma but does hold those (the more frequent wins).

use crate::cells::{text_cell, Cells, Origins, RawColumn};
use crate::error::{DataError, Position, Result};
use std::path::Path;

/// A CSV file's header and records.
#[derive(Debug)]
pub(crate) struct CsvFile {
    /// The column names; a blank one becomes `column_<n>` (from 1).
    pub headers: Vec<String>,
    /// The data records, each with at most `headers.len()` fields.
    pub records: Vec<csv::StringRecord>,
    /// Where each record starts (line 1 is the header).
    pub origins: Origins,
}

impl CsvFile {
    /// The file's columns as text cells (missing values as `None`).
    pub fn columns(&self) -> Vec<RawColumn> {
        self.headers
            .iter()
            .enumerate()
            .map(|(j, name)| RawColumn {
                name: name.clone(),
                cells: Cells::Text(
                    self.records
                        .iter()
                        .map(|r| text_cell(r.get(j).unwrap_or_default()))
                        .collect(),
                ),
            })
            .collect()
    }
}

/// Read the CSV file `path`. Every record must have as many fields as the
/// header, except that with `allow_short` records may have fewer (series of
/// unequal length). Errors: not a file, empty, not UTF-8, no data rows, a
/// record with the wrong number of fields (naming its line).
pub(crate) fn read(path: &Path, allow_short: bool) -> Result<CsvFile> {
    if path.is_dir() {
        return Err(DataError::invalid(
            path,
            "expected a CSV file, found a folder",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let file_error = |reason: &str| DataError::parse(path, Position::File, None, reason);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(file_error("empty file: expected a header row"));
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(&bytes))
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if h.is_empty() {
                format!("column_{}", i + 1)
            } else {
                h.to_string()
            }
        })
        .collect();
    let mut records = Vec::new();
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let (got, want) = (record.len(), headers.len());
        if got > want || (got < want && !allow_short) {
            let hint = if allow_short {
                ""
            } else {
                " (for series of unequal length, pass pad)"
            };
            let hint = if got < want { hint } else { "" };
            return Err(DataError::parse(
                path,
                Position::Line(line),
                None,
                format!("{got} fields, but the header has {want}{hint}"),
            ));
        }
        records.push(record);
        lines.push(line);
    }
    if records.is_empty() {
        return Err(file_error("a header but no data rows"));
    }
    Ok(CsvFile {
        headers,
        records,
        origins: Origins::lines(path, lines),
    })
}

/// `,` unless the first line has no comma and has `;` or tabs.
fn delimiter(bytes: &[u8]) -> u8 {
    let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let count = |d: u8| first.iter().filter(|&&b| b == d).count();
    if count(b',') > 0 {
        return b',';
    }
    match (count(b';'), count(b'\t')) {
        (0, 0) => b',',
        (semi, tab) if semi >= tab => b';',
        _ => b'\t',
    }
}

/// A [`DataError::Parse`] from a CSV reader error, at its line.
fn csv_error(path: &Path, e: csv::Error) -> DataError {
    let position = e
        .position()
        .map_or(Position::File, |p| Position::Line(p.line() as usize));
    let reason = match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => format!("not UTF-8 text: {err}"),
        csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
        _ => e.to_string(),
    };
    DataError::parse(path, position, None, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_is_detected_from_the_header_line() {
        assert_eq!(delimiter(b"a,b;c\n1;2"), b',');
        assert_eq!(delimiter(b"a;b;c\n1,5;2"), b';');
        assert_eq!(delimiter(b"a\tb\tc\n"), b'\t');
        assert_eq!(delimiter(b"a\n1\n"), b',');
    }
}
