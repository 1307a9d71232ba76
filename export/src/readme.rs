//! `README.txt`: what the export holds, the network's settings and where
//! they came from, and what is missing (no weights) or doubtful.

use crate::{Report, Weights};
use queue::Outcome;
use scheduler::state::Stage;
use scheduler::SearchState;
use space::Genotype;
use std::fmt::Write;

/// One line on each file.
fn describe(name: &str) -> &'static str {
    match name {
        "README.txt" => "this file",
        "genotype.txt" => "the architecture's canonical text form (`nas arch show` reads it)",
        "genotype.json" => "the same with its space, hash, metrics and network settings",
        "weights.safetensors" => "the trained weights, named as the tch network names them",
        "preprocess.json" => "the preprocessing fitted on the training data (image normalization; a table's standardization and category codes; series standardization; the target's scale), which model.py applies",
        "model.py" => "a standalone PyTorch file: `python model.py` rebuilds the network, loads weights.safetensors and prints the output shape for a random input; `python model.py predict FILE` predicts for a table or series file; `from model import load, prepare, predict`",
        "results.csv" => "every evaluation, with the columns of `nas results --format csv`",
        "cell.svg" => "a picture of the cell, each edge labelled with its op",
        "progress.png" | "progress.svg" => "validation accuracy of every candidate and the best so far, against evaluations and against time",
        _ => "",
    }
}

/// The README of an export.
pub fn readme(state: &SearchState, genotype: &Genotype, r: &Report) -> String {
    let mut t = String::new();
    let w = &r.winner;
    let _ = writeln!(
        t,
        "nas export of search {}{}",
        state.id,
        state
            .spec
            .name
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        t,
        "status {}: {} candidates evaluated, {} failed, of a budget of {}; space {}\n",
        state.status.word(),
        state.evaluated,
        state.failed,
        state.spec.budget,
        state.spec.space
    );
    let stage = match w.stage {
        Stage::Search => "search",
        Stage::Final => "final retraining",
        Stage::Supernet => "derived by the DARTS supernet search",
    };
    let _ = writeln!(
        t,
        "Best architecture ({stage}, evaluation {}, hash {}):\n  {}",
        w.index,
        genotype.hash(),
        genotype.canonical_text()
    );
    if let Outcome::Ok(m) = &w.outcome {
        let _ = write!(t, "  validation accuracy {:.2}%", m.val_acc);
        if let Some(a) = m.test_acc {
            let _ = write!(t, ", test accuracy {a:.2}%");
        }
        if let Some(p) = m.params {
            let _ = write!(t, ", {p} parameters");
        }
        let _ = writeln!(t);
    }
    let s = &r.settings;
    let _ = writeln!(
        t,
        "\nNetwork: channels {}, layers {}, {} classes, input {} x {} x {}{}",
        s.channels,
        s.layers,
        s.classes,
        s.in_channels,
        s.input_size,
        s.input_size,
        if s.auxiliary {
            ", with the auxiliary head"
        } else {
            ""
        }
    );
    for line in &s.sources {
        let _ = writeln!(t, "  {line}");
    }
    if matches!(r.weights, Weights::Copied(_)) {
        let _ = writeln!(
            t,
            "  The weights expect images normalized per channel with the mean and standard\n  deviation of the training split, as the trainer fed them; the network does not\n  normalize."
        );
    }
    let _ = writeln!(t, "\nFiles:");
    for name in crate::FILES {
        if r.files.contains(&name) || name == "README.txt" {
            let _ = writeln!(t, "  {name:<20} {}", describe(name));
        }
    }
    match &r.weights {
        Weights::Copied(src) => {
            let _ = writeln!(t, "\nWeights: copied from {}", src.display());
        }
        Weights::Absent(why) => {
            let _ = writeln!(
                t,
                "\nWeights: none exported: {why}.\n  model.py still builds the network, with fresh weights."
            );
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(t, "\nWarnings:");
        for warning in &r.warnings {
            let _ = writeln!(t, "  {warning}");
        }
    }
    t
}
