//! The scheduler's side of the surrogate: strategies that rank candidates
//! before they are enqueued (PNAS, the surrogate-ranked local search, the
//! predictor-guided search) ask through a [`Ranker`], which the binary backs
//! with the surrogate service over Redis, or with an in-process surrogate in
//! the embedded mode.

use async_trait::async_trait;
use space::{Genotype, Space, SpaceKind};

/// The predictors a spec may name (`predictor = "..."`), as the surrogate
/// crate's `PredictorKind` names them, plus [`AUTO`]: the surrogate's best
/// predictor for the space. The scheduler does not link the surrogate; a
/// test of the binary checks that the two lists agree.
pub const PREDICTORS: [&str; 4] = ["lstm", "mlp", "onehot", "path"];

/// The predictor name that lets the surrogate choose its best for the space.
pub const AUTO: &str = "auto";

/// Whether `predictor` (a name of [`PREDICTORS`]) can score genotypes of
/// `space`: the path encoding needs a cell of edges (nb201, seq).
pub fn predictor_supports(predictor: &str, space: SpaceKind) -> bool {
    match predictor {
        "path" => matches!(space, SpaceKind::Nb201 | SpaceKind::Seq),
        other => other == AUTO || PREDICTORS.contains(&other),
    }
}

/// Check a spec's `predictor` setting against `space`, naming what is wrong.
pub fn check_predictor(predictor: &str, space: SpaceKind) -> Result<(), String> {
    if predictor != AUTO && !PREDICTORS.contains(&predictor) {
        return Err(format!(
            "predictor: unknown predictor {predictor:?} (expected {AUTO}, {})",
            PREDICTORS.join(", ")
        ));
    }
    if !predictor_supports(predictor, space) {
        return Err(format!(
            "predictor: {predictor} encodes paths through a cell's edges, which the {space} space does not have (use onehot or {AUTO})"
        ));
    }
    Ok(())
}

/// The surrogate's answer: per candidate, in order, its predicted
/// validation accuracy (percent) and the spread of that prediction (the
/// ensemble's standard deviation; 0 where the predictor has no ensemble).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scored {
    /// Predicted accuracy per candidate.
    pub scores: Vec<f64>,
    /// Uncertainty per candidate, same units.
    pub spreads: Vec<f64>,
}

impl Scored {
    /// Scores with no uncertainty.
    pub fn of(scores: Vec<f64>) -> Self {
        let spreads = vec![0.0; scores.len()];
        Self { scores, spreads }
    }
}

/// Scores candidates with a surrogate fitted on a search's results.
#[async_trait]
pub trait Ranker: Send + Sync + std::fmt::Debug {
    /// Predicted validation accuracy (percent) of each candidate, in order,
    /// with its spread, from a surrogate fitted on `training` (architecture,
    /// accuracy), each result at its share of full fidelity in `fidelity`
    /// (a multi-fidelity search's rungs; empty: all full); candidates are
    /// scored at full fidelity. `predictor` names one of [`PREDICTORS`] or
    /// [`AUTO`]; `None` is the ranker's default.
    async fn rank(
        &self,
        search: &str,
        space: Space,
        predictor: Option<&str>,
        training: &[(Genotype, f64)],
        fidelity: &[f64],
        candidates: &[Genotype],
    ) -> Result<Scored, String>;
}
