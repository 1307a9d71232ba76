//! Export of a nas search: what a person takes away from it. [`export`]
//! writes, into one folder, the winner's genotype (`genotype.txt`,
//! `genotype.json`), its trained weights (`weights.safetensors`) and a
//! standalone PyTorch `model.py` that rebuilds the network and loads them,
//! every evaluation as `results.csv`, a picture of the cell (`cell.svg`),
//! plots of the search's progress (`progress.png`, `progress.svg`) and a
//! `README.txt` that says what is there and what is missing.
//!
//! The caller reads the search (from a [`scheduler::FileStore`] or a
//! [`scheduler::RedisStore`]) and hands it over as a [`Search`]. Missing
//! weights or a missing font leave a warning in the [`Report`] and the
//! README, not an error: the rest of the export is still worth having.
//!
//! - [`network`]: the exported network's settings and the weights check.
//! - [`python`]: model.py, around `python/nas_worker/networks.py`.
//! - [`results`]: the CSV.
//! - [`cell`], [`layout`], [`svg`]: the cell picture.
//! - [`progress`]: the plots.

pub mod cell;
pub mod curves;
mod error;
pub mod layout;
pub mod network;
pub mod progress;
pub mod python;
mod readme;
pub mod results;
pub mod svg;

pub use error::{ExportError, Result};
pub use network::NetSettings;

use queue::Outcome;
use scheduler::state::Stage;
use scheduler::{Evaluation, SearchState};
use space::Genotype;
use std::path::{Path, PathBuf};

/// The files an export may write, in the order the README lists them.
pub const FILES: [&str; 10] = [
    "README.txt",
    "genotype.txt",
    "genotype.json",
    "weights.safetensors",
    "preprocess.json",
    "model.py",
    "results.csv",
    "cell.svg",
    "progress.png",
    "progress.svg",
];

/// A search to export.
#[derive(Debug, Clone, Copy)]
pub struct Search<'a> {
    /// Its state.
    pub state: &'a SearchState,
    /// Every evaluation, in order.
    pub evaluations: &'a [Evaluation],
    /// The folder of the search's files (`results/<id>` of `nas search`, or
    /// the trainers' artifacts folder for the search), where weights are
    /// looked for by file name when their recorded path is not there.
    pub dir: Option<&'a Path>,
}

/// What became of the winner's weights.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights {
    /// Copied from this file.
    Copied(PathBuf),
    /// Not exported, and why.
    Absent(String),
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Report {
    /// The folder.
    pub dir: PathBuf,
    /// The files written, by name.
    pub files: Vec<&'static str>,
    /// The winner.
    pub winner: Evaluation,
    /// The exported network's settings.
    pub settings: NetSettings,
    /// The weights.
    pub weights: Weights,
    /// What is missing or doubtful; also in the README.
    pub warnings: Vec<String>,
}

fn write(out: &Path, name: &'static str, data: &[u8], files: &mut Vec<&'static str>) -> Result<()> {
    let path = out.join(name);
    std::fs::write(&path, data).map_err(|e| ExportError::io(&path, e))?;
    files.push(name);
    Ok(())
}

/// Export `search` into the folder `out` (created if needed; files of an
/// earlier export there are replaced).
pub fn export(search: &Search<'_>, out: &Path) -> Result<Report> {
    let state = search.state;
    let winner = state
        .winner()
        .ok_or_else(|| ExportError::NoWinner(state.id.clone()))?
        .clone();
    let genotype = state
        .spec
        .space
        .parse(&winner.genotype)
        .map_err(|e| ExportError::Invalid {
            path: search
                .dir
                .map_or_else(|| PathBuf::from(&state.id), |d| d.join("state.json")),
            reason: format!("the winner's genotype {:?}: {e}", winner.genotype),
        })?;
    std::fs::create_dir_all(out).map_err(|e| ExportError::io(out, e))?;
    // Files of an earlier export that this one may not write would not
    // belong to it.
    for name in FILES {
        let path = out.join(name);
        if path.exists() {
            std::fs::remove_file(&path).map_err(|e| ExportError::io(&path, e))?;
        }
    }
    let mut files = Vec::new();
    let mut warnings = Vec::new();

    let (weights, weights_file) = copy_weights(search, &winner, out, &mut warnings)?;
    if weights_file.is_some() {
        files.push("weights.safetensors");
    }
    let preprocess = match &weights {
        Weights::Copied(src) => copy_preprocess(src, out, &mut warnings)?,
        Weights::Absent(_) => None,
    };
    if preprocess.is_some() {
        files.push("preprocess.json");
    }
    let settings = network::resolve(
        state,
        &winner,
        &genotype,
        weights_file.as_ref(),
        preprocess.as_ref(),
    );
    if let Some(w) = &weights_file {
        if let Some(diff) = network::check_weights(&genotype, &settings, w) {
            warnings.push(format!(
                "weights.safetensors does not fit the network these settings build, so model.py cannot load it: {diff}"
            ));
        }
    }

    let text = genotype.canonical_text();
    let hash = genotype.hash().to_string();
    write(
        out,
        "genotype.txt",
        format!("{text}\n").as_bytes(),
        &mut files,
    )?;
    let json = genotype_json(state, &winner, &genotype, &settings);
    let json = serde_json::to_vec_pretty(&json).expect("JSON values serialize");
    write(out, "genotype.json", &json, &mut files)?;
    // The network's parameter paths follow the text it was built from (a
    // DARTS node's edge0 is its first edge there): the winner's, as trained.
    let trained = genotype.to_string();
    let py = python::model_py(&python::ModelPy {
        search: &state.id,
        space: genotype.kind(),
        genotype: &trained,
        hash: &hash,
        settings: &settings,
        preprocess: preprocess.as_ref(),
    });
    write(out, "model.py", py.as_bytes(), &mut files)?;
    write(
        out,
        "results.csv",
        results::csv(search.evaluations).as_bytes(),
        &mut files,
    )?;
    let title = format!(
        "search {}: best {} architecture {hash}{}",
        state.id,
        genotype.kind(),
        winner
            .val_acc()
            .map(|a| format!(", validation accuracy {a:.2}%"))
            .unwrap_or_default()
    );
    write(
        out,
        "cell.svg",
        cell::cell_svg(&genotype, &title).as_bytes(),
        &mut files,
    )?;
    plots(state, search.evaluations, out, &mut files, &mut warnings)?;

    let report = Report {
        dir: out.to_path_buf(),
        files,
        winner,
        settings,
        weights,
        warnings,
    };
    let readme = readme::readme(state, &genotype, &report);
    let mut files = report.files.clone();
    write(out, "README.txt", readme.as_bytes(), &mut files)?;
    Ok(Report { files, ..report })
}

/// Copy the winner's weights into `out`, or say why there are none.
fn copy_weights(
    search: &Search<'_>,
    winner: &Evaluation,
    out: &Path,
    warnings: &mut Vec<String>,
) -> Result<(Weights, Option<network::WeightsFile>)> {
    let dest = out.join("weights.safetensors");
    let recorded = match &winner.outcome {
        Outcome::Ok(m) => m.weights.clone(),
        _ => None,
    };
    let absent = |why: String| Ok((Weights::Absent(why), None));
    let Some(recorded) = recorded else {
        return absent(match winner.stage {
            Stage::Search => "the winner is a search-stage evaluation, and only final retrainings save weights (a search with a [final] stage, on trainers with an artifacts folder: `nas search`, or `nas trainer --artifacts-dir`)".into(),
            Stage::Final => "the winner's final retraining recorded no weights file (its trainer had no artifacts folder)".into(),
            Stage::Supernet => "the winner is the cell a DARTS supernet search derived, which has no weights of its own (give the search a [final] stage to train it)".into(),
        });
    };
    let Some(src) = network::find_weights(&recorded, search.dir) else {
        let also = search
            .dir
            .map(|d| format!(" nor in {}", d.display()))
            .unwrap_or_default();
        return absent(format!(
            "the weights were saved as {recorded}, which is not on this machine{also}"
        ));
    };
    let file = match network::WeightsFile::read(&src) {
        Ok(f) => f,
        Err(e) => {
            warnings.push(format!("weights not exported: {e}"));
            return absent(format!("the weights file is unreadable: {e}"));
        }
    };
    std::fs::copy(&src, &dest).map_err(|e| ExportError::io(&dest, e))?;
    Ok((Weights::Copied(src), Some(file)))
}

/// Copy the preprocessing saved beside the weights file `weights` (fitted
/// on the training part of the run that trained them) into `out`; a
/// missing or unreadable file is a warning, as model.py then cannot
/// prepare new data.
fn copy_preprocess(
    weights: &Path,
    out: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<trainer::preprocess::Preprocess>> {
    let src = trainer::preprocess::Preprocess::path_beside(weights);
    let text = match std::fs::read_to_string(&src) {
        Ok(t) => t,
        Err(e) => {
            warnings.push(format!(
                "no preprocessing beside the weights ({}: {e}); model.py cannot prepare new data",
                src.display()
            ));
            return Ok(None);
        }
    };
    match serde_json::from_str(&text) {
        Ok(p) => {
            let dest = out.join("preprocess.json");
            std::fs::write(&dest, text).map_err(|e| ExportError::io(&dest, e))?;
            Ok(Some(p))
        }
        Err(e) => {
            warnings.push(format!(
                "the preprocessing beside the weights is unreadable ({}: {e}); model.py cannot prepare new data",
                src.display()
            ));
            Ok(None)
        }
    }
}

/// The JSON form of the winner: space, hash, genotype, metrics, settings.
fn genotype_json(
    state: &SearchState,
    winner: &Evaluation,
    genotype: &Genotype,
    settings: &NetSettings,
) -> serde_json::Value {
    let tagged = serde_json::to_value(genotype).expect("genotypes serialize");
    let metrics = match &winner.outcome {
        Outcome::Ok(m) => serde_json::to_value(m).expect("metrics serialize"),
        _ => serde_json::Value::Null,
    };
    serde_json::json!({
        "search": state.id,
        "space": genotype.kind().name(),
        "space_settings": state.spec.space,
        "hash": genotype.hash().to_string(),
        "text": genotype.canonical_text(),
        "genotype": tagged["genotype"],
        "stage": winner.stage,
        "index": winner.index,
        "job_id": winner.job_id,
        "metrics": metrics,
        "network": settings,
    })
}

/// The progress plots; a missing font or a failed drawing is a warning.
fn plots(
    state: &SearchState,
    evaluations: &[Evaluation],
    out: &Path,
    files: &mut Vec<&'static str>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if let Err(e) = progress::ensure_font() {
        warnings.push(format!("progress plots not drawn: {e}"));
        return Ok(());
    }
    let p = progress::Progress::of(evaluations);
    let title = progress::title(&state.id, &p);
    let png = out.join("progress.png");
    match progress::png(&p, &title, &png) {
        Ok(()) => files.push("progress.png"),
        Err(e) => warnings.push(format!("progress.png not drawn: {e}")),
    }
    match progress::svg(&p, &title) {
        Ok(text) => write(out, "progress.svg", text.as_bytes(), files)?,
        Err(reason) => warnings.push(format!("progress.svg not drawn: {reason}")),
    }
    Ok(())
}
