//! `nas bench tabular` and `nas bench timeseries`: the searched network's
//! test score against classical baselines trained in the same command on
//! the same split (`scripts/bench_baselines.py`, in the data tools' venv).
//!
//! Per dataset: `nas search` runs as a newcomer runs it (its CPU-sized
//! defaults, a child process of the same binary), retrains its winner and
//! scores the test split; the baselines train on exactly that split:
//! - tables: the split nas loaded (its seeded holdout) is written out as
//!   numbers (category codes, empty cells where missing) for
//!   scikit-learn's HistGradientBoosting and MLP (defaults), by accuracy,
//!   or RMSE for regression;
//! - time series: the UCR/UEA `_TRAIN.ts` / `_TEST.ts` pair, for aeon's
//!   1-nearest-neighbour classifier under dynamic time warping.
//!
//! Also reported: the search's wall time and its cost per candidate. The
//! last line gives, per dataset, nas's score over the best baseline's.

use crate::{BenchError, Result};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct DatasetsConfig {
    /// The `nas` binary (the running one).
    pub nas: PathBuf,
    /// The data tools' python (`$NAS_CACHE/data-venv/bin/python`).
    pub python: PathBuf,
    /// `scripts/bench_baselines.py`.
    pub script: PathBuf,
    /// The datasets: tables (`.csv`, each with its target column) or
    /// `_TRAIN.ts` files.
    pub datasets: Vec<BenchData>,
    /// Candidates per search (`None`: the CPU-sized default).
    pub budget: Option<usize>,
    /// Seed of the searches.
    pub seed: u64,
    /// Where the searches keep their results.
    pub work: PathBuf,
}

/// One dataset of a run.
#[derive(Debug, Clone)]
pub struct BenchData {
    /// The file.
    pub path: PathBuf,
    /// Tables: the target column.
    pub target: Option<String>,
}

/// What one dataset measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetResult {
    /// The dataset's name.
    pub name: String,
    /// Classification or regression.
    pub regression: bool,
    /// nas: the winner's test accuracy (percent) or RMSE.
    pub nas: f64,
    /// nas's R² on the test set (regression).
    pub nas_r2: Option<f64>,
    /// The search's wall time, seconds.
    pub search_seconds: f64,
    /// Candidates evaluated.
    pub candidates: u64,
    /// The winner.
    pub genotype: String,
    /// Each baseline: name, test accuracy (or RMSE), seconds.
    pub baselines: Vec<(String, f64, f64)>,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetsReport {
    /// `tabular` or `timeseries`.
    pub kind: &'static str,
    /// Per dataset.
    pub results: Vec<DatasetResult>,
}

fn err(what: &str) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        what: what.to_string(),
        source,
    }
}

/// Run a command; its stdout, or an error with its stderr's tail.
pub(crate) fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd.output().map_err(err(what))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        return Err(BenchError::Incomplete(format!(
            "{what} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The search `nas search` ran in `results`: its state.
pub(crate) fn search_state(results: &Path) -> Result<scheduler::SearchState> {
    let dir = std::fs::read_dir(results)
        .map_err(err("reading the search's results folder"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.join("state.json").is_file())
        .ok_or_else(|| BenchError::Incomplete(format!("no search in {}", results.display())))?;
    let text =
        std::fs::read_to_string(dir.join("state.json")).map_err(err("reading state.json"))?;
    serde_json::from_str(&text)
        .map_err(|e| BenchError::Incomplete(format!("{}: {e}", dir.join("state.json").display())))
}

/// Write a split as the baselines read it: a header, one row per sample,
/// the target last, empty where missing.
fn write_split(path: &Path, split: &data::Split, columns: usize) -> Result<()> {
    let x = Vec::<f32>::try_from(split.inputs.reshape([-1])).unwrap_or_default();
    let y = Vec::<f64>::try_from(split.labels.to_kind(tch::Kind::Double)).unwrap_or_default();
    let mut out = String::new();
    let header: Vec<String> = (0..columns).map(|j| format!("f{j}")).collect();
    out.push_str(&header.join(","));
    out.push_str(",target\n");
    for (i, label) in y.iter().enumerate() {
        for v in &x[i * columns..(i + 1) * columns] {
            if v.is_finite() {
                out.push_str(&v.to_string());
            }
            out.push(',');
        }
        out.push_str(&label.to_string());
        out.push('\n');
    }
    std::fs::write(path, out).map_err(err("writing a split for the baselines"))
}

impl DatasetsConfig {
    /// Search one dataset with `nas search`; its result without baselines.
    fn search(&self, data: &BenchData, results: &Path) -> Result<DatasetResult> {
        let mut cmd = Command::new(&self.nas);
        cmd.arg("search")
            .arg("--data")
            .arg(&data.path)
            .arg("--results")
            .arg(results)
            .arg("--seed")
            .arg(self.seed.to_string());
        if let Some(t) = &data.target {
            cmd.arg("--target").arg(t);
        }
        if let Some(b) = self.budget {
            cmd.arg("--budget").arg(b.to_string());
        }
        let t = Instant::now();
        output(
            &mut cmd,
            &format!("nas search --data {}", data.path.display()),
        )?;
        let search_seconds = t.elapsed().as_secs_f64();
        let state = search_state(results)?;
        let winner = state
            .winner()
            .ok_or_else(|| BenchError::Incomplete(format!("search {} has no winner", state.id)))?;
        let queue::Outcome::Ok(scores) = &winner.outcome else {
            return Err(BenchError::Incomplete(format!(
                "search {}'s winner has no scores",
                state.id
            )));
        };
        let regression = scores.test_rmse.is_some();
        let nas = if regression {
            scores.test_rmse
        } else {
            scores.test_acc
        }
        .ok_or_else(|| BenchError::Incomplete(format!("search {} scored no test set", state.id)))?;
        Ok(DatasetResult {
            name: String::new(),
            regression,
            nas,
            nas_r2: scores.test_r2,
            search_seconds,
            candidates: state.finished(),
            genotype: winner.genotype.clone(),
            baselines: Vec::new(),
        })
    }

    /// Parse the baselines' JSON: `{name: {accuracy|rmse, seconds}}`.
    fn baselines(text: &str, regression: bool) -> Result<Vec<(String, f64, f64)>> {
        let doc: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
            BenchError::Incomplete(format!("bench_baselines.py printed {text:?}: {e}"))
        })?;
        let key = if regression { "rmse" } else { "accuracy" };
        let mut out = Vec::new();
        for (name, v) in doc.as_object().into_iter().flatten() {
            out.push((
                name.clone(),
                v[key].as_f64().unwrap_or(f64::NAN),
                v["seconds"].as_f64().unwrap_or(f64::NAN),
            ));
        }
        Ok(out)
    }
}

/// `nas bench tabular`.
pub fn tabular(config: &DatasetsConfig) -> Result<DatasetsReport> {
    let mut results = Vec::new();
    for (i, data) in config.datasets.iter().enumerate() {
        let options = data::LoadOptions {
            target: data.target.clone(),
            ..Default::default()
        };
        let ds = data::Dataset::load_with(&data.path, &options)
            .map_err(|e| BenchError::Config(format!("{}: {e}", data.path.display())))?;
        if ds.meta.input != space::InputKind::Table {
            return Err(BenchError::Config(format!(
                "{} is not a table",
                data.path.display()
            )));
        }
        let dir = config.work.join(format!("{i}-{}", ds.meta.name));
        std::fs::create_dir_all(&dir).map_err(err("creating the bench folder"))?;
        let columns = ds.meta.columns.len();
        write_split(&dir.join("train.csv"), &ds.train, columns)?;
        write_split(&dir.join("test.csv"), &ds.test, columns)?;
        let meta = serde_json::json!({
            "task": ds.meta.task,
            "kinds": ds.meta.columns.iter().map(|c| c.kind).collect::<Vec<_>>(),
        });
        std::fs::write(dir.join("meta.json"), meta.to_string())
            .map_err(err("writing meta.json"))?;
        let mut result = config.search(data, &dir.join("results"))?;
        result.name = ds.meta.name.clone();
        let text = output(
            Command::new(&config.python)
                .arg(&config.script)
                .arg("tabular")
                .arg("--train")
                .arg(dir.join("train.csv"))
                .arg("--test")
                .arg(dir.join("test.csv"))
                .arg("--meta")
                .arg(dir.join("meta.json")),
            "the scikit-learn baselines",
        )?;
        result.baselines = DatasetsConfig::baselines(&text, result.regression)?;
        results.push(result);
    }
    Ok(DatasetsReport {
        kind: "tabular",
        results,
    })
}

/// `nas bench timeseries`: each dataset a `_TRAIN.ts` file with its
/// `_TEST.ts` beside it.
pub fn timeseries(config: &DatasetsConfig) -> Result<DatasetsReport> {
    let mut results = Vec::new();
    for (i, data) in config.datasets.iter().enumerate() {
        let train = &data.path;
        let name = train
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let test = train.with_file_name(name.replace("_TRAIN", "_TEST"));
        if !name.contains("_TRAIN") || !test.is_file() {
            return Err(BenchError::Config(format!(
                "{}: a time-series benchmark needs a _TRAIN.ts file with its _TEST.ts beside it",
                train.display()
            )));
        }
        let dir = config
            .work
            .join(format!("{i}-{}", name.replace("_TRAIN.ts", "")));
        std::fs::create_dir_all(&dir).map_err(err("creating the bench folder"))?;
        let mut result = config.search(data, &dir.join("results"))?;
        result.name = name.replace("_TRAIN.ts", "");
        let text = output(
            Command::new(&config.python)
                .arg(&config.script)
                .arg("timeseries")
                .arg("--train")
                .arg(train)
                .arg("--test")
                .arg(&test),
            "the 1-NN DTW baseline",
        )?;
        result.baselines = DatasetsConfig::baselines(&text, false)?;
        results.push(result);
    }
    Ok(DatasetsReport {
        kind: "timeseries",
        results,
    })
}

impl fmt::Display for DatasetsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} benchmark: nas search (CPU defaults) against baselines on the same split",
            self.kind
        )?;
        for r in &self.results {
            let (unit, metric) = if r.regression {
                ("", "test RMSE")
            } else {
                ("%", "test accuracy")
            };
            writeln!(f, "  {} ({metric})", r.name)?;
            let r2 = r.nas_r2.map(|v| format!(", R² {v:.4}")).unwrap_or_default();
            writeln!(
                f,
                "    nas      {:>10.4}{unit}{r2}  ({} candidates in {:.0}s, {:.1}s per candidate; winner {})",
                r.nas,
                r.candidates,
                r.search_seconds,
                r.search_seconds / r.candidates.max(1) as f64,
                r.genotype
            )?;
            for (name, score, seconds) in &r.baselines {
                writeln!(f, "    {name:<8} {score:>10.4}{unit}  ({seconds:.1}s)")?;
            }
        }
        let ratios: Vec<String> = self
            .results
            .iter()
            .map(|r| {
                let best = if r.regression {
                    r.baselines
                        .iter()
                        .map(|b| b.1)
                        .fold(f64::INFINITY, f64::min)
                } else {
                    r.baselines
                        .iter()
                        .map(|b| b.1)
                        .fold(f64::NEG_INFINITY, f64::max)
                };
                // Higher is better for both: accuracy ratio, or baseline RMSE over nas's.
                let ratio = if r.regression {
                    best / r.nas
                } else {
                    r.nas / best
                };
                format!("{} {ratio:.4}", r.name)
            })
            .collect();
        write!(
            f,
            "ratio nas/best baseline (>1: nas better): {}",
            ratios.join(", ")
        )
    }
}
