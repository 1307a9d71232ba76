//! The UCR/UEA `.ts` format (sktime's): `#` comment lines, then headers
//! (`@problemName`, `@timeStamps false`, `@missing`, `@univariate`,
//! `@dimensions`, `@equalLength`, `@seriesLength`, `@classLabel true <labels>`
//! or `@classLabel false`, `@targetLabel true`), then `@data` and one series
//! per line: dimensions separated by `:`, values by `,`, the label last; `?`
//! or `NaN` is a missing value. Header names are case-insensitive.
//!
//! The headers are checked against the data: a series whose length is not
//! `@seriesLength`, a series with more or fewer dimensions than
//! `@dimensions`, a label not listed in `@classLabel` is an error naming the
//! line. Time stamps are refused.
//!
//! Pairing: `X_TRAIN.ts` (or a folder holding one) is the training split and
//! its sibling `X_TEST.ts` the test split; a lone training file, or a `.ts`
//! file not named `_TRAIN`, is split by the crate's seeded holdout.

use crate::cells::{is_missing_text, parse_number, Origins};
use crate::error::{DataError, Position, Result};
use crate::format::{ts_train_files, TS_TEST_SUFFIX, TS_TRAIN_SUFFIX};
use crate::meta::Task;
use crate::series::Series;
use std::path::{Path, PathBuf};

/// The training file and, if there is one, the test file for `path`: a
/// folder with one `*_TRAIN.ts`, a `*_TRAIN.ts` file, or another `.ts` file
/// (no test file). A `*_TEST.ts` file alone is refused.
pub(crate) fn files(path: &Path) -> Result<(PathBuf, Option<PathBuf>)> {
    let train = if path.is_dir() {
        let found = ts_train_files(path)?;
        match found.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(DataError::invalid(
                    path,
                    "no <Name>_TRAIN.ts file in this folder",
                ))
            }
            many => {
                let names: Vec<String> = many
                    .iter()
                    .filter_map(|p| p.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect();
                return Err(DataError::invalid(
                    path,
                    format!("several training files ({}); name one", names.join(", ")),
                ));
            }
        }
    } else {
        path.to_path_buf()
    };
    let name = train
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(TS_TEST_SUFFIX) {
        return Err(DataError::invalid(
            &train,
            "this is a test split; load its _TRAIN.ts file (or the folder) to get both splits",
        ));
    }
    if !lower.ends_with(TS_TRAIN_SUFFIX) {
        return Ok((train, None));
    }
    let stem = &name[..name.len() - TS_TRAIN_SUFFIX.len()];
    let upper = name[name.len() - TS_TRAIN_SUFFIX.len()..].starts_with("_T");
    let test_name = format!("{stem}{}", if upper { "_TEST.ts" } else { "_test.ts" });
    let test = train.with_file_name(test_name);
    Ok((train.clone(), test.is_file().then_some(test)))
}

/// What the header declares about the labels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Declared {
    /// `@classLabel true` with these labels (empty: none listed).
    Classes(Vec<String>),
    /// `@targetLabel true`: a number per series.
    Target,
}

impl Declared {
    /// The task the header declares.
    pub fn task(&self) -> Task {
        match self {
            Self::Classes(_) => Task::Classification,
            Self::Target => Task::Regression,
        }
    }
}

/// One `.ts` file read and checked against its own header.
#[derive(Debug)]
pub(crate) struct TsFile {
    /// The labels the header declares.
    pub declared: Declared,
    /// One entry per data line.
    pub series: Vec<Series>,
    /// One label per series, as written.
    pub labels: Vec<String>,
    /// The line of each series.
    pub origins: Origins,
}

/// The headers seen so far, with the line each is on.
#[derive(Debug, Default)]
struct Header {
    univariate: Option<(bool, usize)>,
    dimensions: Option<(usize, usize)>,
    equal_length: Option<bool>,
    series_length: Option<(usize, usize)>,
    classes: Option<Vec<String>>,
    target: bool,
}

/// Read and check the `.ts` file `path`.
pub(crate) fn read(path: &Path) -> Result<TsFile> {
    if path.is_dir() {
        return Err(DataError::invalid(
            path,
            "expected a .ts file, found a folder",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DataError::parse(path, Position::Line(line), None, "not UTF-8 text")
    })?;
    let err =
        |line: usize, reason: String| DataError::parse(path, Position::Line(line), None, reason);
    let mut header = Header::default();
    let mut in_data = false;
    let (mut series, mut labels, mut lines) = (Vec::new(), Vec::new(), Vec::new());
    let mut declared = None;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim().trim_start_matches('\u{feff}');
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if !in_data {
            if !content.starts_with('@') {
                return Err(err(
                    line,
                    format!("expected a @header or @data before the series, found {content:?}"),
                ));
            }
            in_data = header_line(&mut header, content, line).map_err(|r| err(line, r))?;
            if in_data {
                declared =
                    Some(match (&header.classes, header.target) {
                        (Some(c), _) => Declared::Classes(c.clone()),
                        (None, true) => Declared::Target,
                        (None, false) => return Err(err(
                            line,
                            "no @classLabel true or @targetLabel true before @data: the series \
                             have no labels to learn"
                                .into(),
                        )),
                    });
            }
            continue;
        }
        let (s, label) = data_line(&header, content, series.first()).map_err(|r| err(line, r))?;
        if let Some(Declared::Classes(classes)) = &declared {
            if !classes.is_empty() && !classes.contains(&label) {
                return Err(err(
                    line,
                    format!(
                        "label {label:?} is not one of @classLabel {}",
                        classes.join(" ")
                    ),
                ));
            }
        }
        if declared == Some(Declared::Target) && parse_number(&label).is_none() {
            return Err(err(
                line,
                format!("target {label:?} is not a number (@targetLabel true)"),
            ));
        }
        series.push(s);
        labels.push(label);
        lines.push(line);
    }
    let Some(declared) = declared else {
        let reason = if text.trim().is_empty() {
            "empty file"
        } else {
            "no @data line"
        };
        return Err(DataError::parse(path, Position::File, None, reason));
    };
    if series.is_empty() {
        return Err(DataError::parse(
            path,
            Position::File,
            None,
            "no series after @data",
        ));
    }
    Ok(TsFile {
        declared,
        series,
        labels,
        origins: Origins::lines(path, lines),
    })
}

/// Apply one header line; `Ok(true)` for `@data`. Errors are the reason.
fn header_line(h: &mut Header, content: &str, line: usize) -> Result<bool, String> {
    let mut words = content.split_whitespace();
    let key = words.next().unwrap_or_default().to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    let flag = |what: &str| -> Result<bool, String> {
        match rest.first().map(|w| w.to_ascii_lowercase()).as_deref() {
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            _ => Err(format!(
                "expected true or false after {what}, found {:?}",
                rest.join(" ")
            )),
        }
    };
    let count = |what: &str| -> Result<usize, String> {
        rest.first()
            .and_then(|w| w.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                format!(
                    "expected a positive count after {what}, found {:?}",
                    rest.join(" ")
                )
            })
    };
    match key.as_str() {
        "@data" => return Ok(true),
        "@timestamps" if flag("@timeStamps")? => {
            return Err("@timeStamps true is not supported: only series without time stamps".into())
        }
        "@univariate" => h.univariate = Some((flag("@univariate")?, line)),
        "@dimension" | "@dimensions" => h.dimensions = Some((count("@dimensions")?, line)),
        "@equallength" => h.equal_length = Some(flag("@equalLength")?),
        "@serieslength" => h.series_length = Some((count("@seriesLength")?, line)),
        "@classlabel" => {
            h.classes =
                flag("@classLabel")?.then(|| rest[1..].iter().map(|l| l.to_string()).collect())
        }
        "@targetlabel" => h.target = flag("@targetLabel")?,
        "@missing" => {
            flag("@missing")?;
        }
        // @problemName, @timeStamps false and headers of newer versions
        // change nothing we read.
        _ => {}
    }
    Ok(false)
}

/// One data line: its dimensions and label, checked against the header and
/// the first series. Errors are the reason.
fn data_line(
    h: &Header,
    content: &str,
    first: Option<&Series>,
) -> Result<(Series, String), String> {
    let mut parts: Vec<&str> = content.split(':').collect();
    let label = parts.pop().unwrap_or_default().trim().to_string();
    if parts.is_empty() {
        return Err(
            "no values before the label (dimensions are separated by ':', the label last)".into(),
        );
    }
    let dims = parts.len();
    if let Some((d, at)) = h.dimensions {
        if dims != d {
            return Err(format!(
                "@dimensions {d} (line {at}), but this series has {dims} dimensions"
            ));
        }
    } else if let Some((true, at)) = h.univariate {
        if dims != 1 {
            return Err(format!(
                "@univariate true (line {at}), but this series has {dims} dimensions"
            ));
        }
    } else if let Some(f) = first.filter(|f| f.len() != dims) {
        return Err(format!(
            "this series has {dims} dimensions, but the first series has {}",
            f.len()
        ));
    }
    let mut series = Vec::with_capacity(dims);
    for (d, part) in parts.iter().enumerate() {
        let mut values = Vec::new();
        for (k, v) in part.split(',').enumerate() {
            if is_missing_text(v) {
                values.push(f32::NAN);
                continue;
            }
            match parse_number(v) {
                Some(x) => values.push(x as f32),
                None => {
                    return Err(format!(
                        "dimension {}, value {}: not a number: {:?}",
                        d + 1,
                        k + 1,
                        v.trim()
                    ))
                }
            }
        }
        if let Some((len, at)) = h.series_length.filter(|_| h.equal_length != Some(false)) {
            if values.len() != len {
                let which = if dims > 1 {
                    format!("dimension {} of this series", d + 1)
                } else {
                    "this series".into()
                };
                return Err(format!(
                    "@seriesLength {len} (line {at}), but {which} has {} values",
                    values.len()
                ));
            }
        }
        series.push(values);
    }
    Ok((series, label))
}
