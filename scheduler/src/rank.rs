//! The scheduler's side of the surrogate: strategies that rank candidates
//! before they are enqueued (PNAS, the surrogate-ranked local search) ask
//! through a [`Ranker`], which the binary backs with the surrogate service
//! over Redis, or with an in-process surrogate in the embedded mode.

use async_trait::async_trait;
use space::{Genotype, Space};

/// Scores candidates with a surrogate fitted on a search's results.
#[async_trait]
pub trait Ranker: Send + Sync + std::fmt::Debug {
    /// Predicted validation accuracy (percent) of each candidate, in order,
    /// from a surrogate fitted on `training` (architecture, accuracy).
    async fn rank(
        &self,
        search: &str,
        space: Space,
        training: &[(Genotype, f64)],
        candidates: &[Genotype],
    ) -> Result<Vec<f64>, String>;
}
