//! The values of a table before they are typed: one column of text, numbers
//! or booleans per header name, missing values as `None`; and where each row
//! came from, so that every error can name the file and the line or row.

use crate::error::{DataError, Position};
use std::path::{Path, PathBuf};

/// The values of one column, `None` where missing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cells {
    /// Text, trimmed (CSV fields, Parquet strings, `.ts` labels).
    Text(Vec<Option<String>>),
    /// Numbers (Parquet integer and float columns); NaN counts as missing.
    Number(Vec<Option<f64>>),
    /// Booleans (Parquet boolean columns).
    Bool(Vec<Option<bool>>),
}

impl Cells {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(v) => v.len(),
            Self::Number(v) => v.len(),
            Self::Bool(v) => v.len(),
        }
    }

    /// Whether row `i` is missing.
    pub fn is_missing(&self, i: usize) -> bool {
        match self {
            Self::Text(v) => v[i].is_none(),
            Self::Number(v) => v[i].is_none_or(f64::is_nan),
            Self::Bool(v) => v[i].is_none(),
        }
    }

    /// How many rows are missing.
    pub fn missing(&self) -> usize {
        (0..self.len()).filter(|&i| self.is_missing(i)).count()
    }
}

/// A named column of [`Cells`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawColumn {
    /// The header's name.
    pub name: String,
    /// Its values.
    pub cells: Cells,
}

/// Text that stands for a missing value: empty, `NA`, `N/A`, `NaN`, `null`
/// or `?`, case-insensitive, after trimming.
pub(crate) fn is_missing_text(s: &str) -> bool {
    const MISSING: [&str; 5] = ["na", "n/a", "nan", "null", "?"];
    let s = s.trim();
    s.is_empty() || MISSING.iter().any(|m| s.eq_ignore_ascii_case(m))
}

/// `Some(text)` trimmed, or `None` if it stands for a missing value.
pub(crate) fn text_cell(s: &str) -> Option<String> {
    (!is_missing_text(s)).then(|| s.trim().to_string())
}

/// A number written as text, as f64 (Rust's syntax: `1`, `-2.5`, `1e3`).
pub(crate) fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok()
}

/// A number as a name: integers without a fractional part (`3`, not `3.0`).
pub(crate) fn number_name(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// Where each row of a table (or each series) came from: its file and its
/// line or row there.
#[derive(Debug, Clone, Default)]
pub(crate) struct Origins {
    /// The files, in order.
    paths: Vec<PathBuf>,
    /// Per row: the index into `paths`, and the line or row in that file.
    rows: Vec<(usize, Position)>,
}

impl Origins {
    /// Rows of a text file at the given lines.
    pub fn lines(path: &Path, lines: impl IntoIterator<Item = usize>) -> Origins {
        Origins {
            paths: vec![path.to_path_buf()],
            rows: lines.into_iter().map(|l| (0, Position::Line(l))).collect(),
        }
    }

    /// The `n` data rows of a Parquet file.
    pub fn rows(path: &Path, n: usize) -> Origins {
        Origins {
            paths: vec![path.to_path_buf()],
            rows: (1..=n).map(|r| (0, Position::Row(r))).collect(),
        }
    }

    /// The rows of `other` after these.
    pub fn append(&mut self, other: Origins) {
        let base = self.paths.len();
        self.paths.extend(other.paths);
        self.rows
            .extend(other.rows.into_iter().map(|(f, p)| (f + base, p)));
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The first file (the one a whole-file error names).
    pub fn path(&self) -> &Path {
        self.paths.first().map_or(Path::new(""), |p| p.as_path())
    }

    /// A [`DataError::Parse`] at row `row`, in `column` if given.
    pub fn error(&self, row: usize, column: Option<&str>, reason: impl Into<String>) -> DataError {
        let (file, position) = self.rows.get(row).copied().unwrap_or((0, Position::File));
        let path = self.paths.get(file).map_or(self.path(), |p| p.as_path());
        DataError::parse(path, position, column, reason)
    }

    /// A [`DataError::Parse`] about the whole (first) file, in `column` if
    /// given.
    pub fn file_error(&self, column: Option<&str>, reason: impl Into<String>) -> DataError {
        DataError::parse(self.path(), Position::File, column, reason)
    }
}
