//! The surrogate behind the scheduler's `Ranker`: in this process (the
//! embedded mode) or the `nas surrogate` service over Redis.

use async_trait::async_trait;
use space::{Genotype, Space};
use std::sync::Arc;

/// A surrogate ranker as the scheduler asks for one.
struct Adapter(Arc<dyn surrogate::Ranker>);

impl std::fmt::Debug for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SurrogateRanker")
    }
}

#[async_trait]
impl scheduler::rank::Ranker for Adapter {
    async fn rank(
        &self,
        search: &str,
        space: Space,
        predictor: Option<&str>,
        training: &[(Genotype, f64)],
        fidelity: &[f64],
        candidates: &[Genotype],
    ) -> Result<scheduler::rank::Scored, String> {
        let predictor = predictor
            .map(|name| predictor_for(name, space))
            .transpose()?;
        self.0
            .rank(search, space, predictor, training, fidelity, candidates)
            .await
            .map(|r| scheduler::rank::Scored {
                scores: r.scores,
                spreads: r.spreads,
            })
            .map_err(|e| e.to_string())
    }
}

/// The predictor a spec names, `auto` being the surrogate's best for the
/// space.
fn predictor_for(name: &str, space: Space) -> Result<surrogate::PredictorKind, String> {
    if name == scheduler::rank::AUTO {
        return Ok(surrogate::PredictorKind::best_for(space.kind()));
    }
    name.parse::<surrogate::PredictorKind>()
        .map_err(|e| format!("predictor {name:?}: {e}"))
}

/// The surrogate in this process, one fit at a time.
pub fn embedded() -> anyhow::Result<Arc<dyn scheduler::rank::Ranker>> {
    let ranker = surrogate::InProcessRanker::new(
        surrogate::EngineConfig::default(),
        surrogate::RankOptions::default(),
        1,
    )
    .map_err(|e| anyhow::anyhow!("starting the in-process surrogate: {e}"))?;
    Ok(Arc::new(Adapter(Arc::new(ranker))))
}

/// The `nas surrogate` service over Redis: requests carry the search's
/// results, so any replica can answer; a request that times out is sent
/// once more.
pub async fn redis(
    url: &queue::RedisUrl,
    prefix: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<Arc<dyn scheduler::rank::Ranker>> {
    let ranker =
        surrogate::RedisRanker::connect(url, prefix, surrogate::RankOptions::default(), timeout)
            .await
            .map_err(|e| anyhow::anyhow!("connecting the surrogate client to {url}: {e}"))?;
    Ok(Arc::new(Adapter(Arc::new(ranker))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use space::SpaceKind;

    #[test]
    fn the_scheduler_names_every_predictor_the_surrogate_has() {
        let names: Vec<&str> = surrogate::PredictorKind::ALL
            .iter()
            .map(|p| p.name())
            .collect();
        assert_eq!(names, scheduler::rank::PREDICTORS);
        for kind in SpaceKind::ALL {
            let space = kind.default_space();
            for p in surrogate::PredictorKind::ALL {
                assert_eq!(
                    scheduler::rank::predictor_supports(p.name(), kind),
                    p.supports(kind),
                    "{p} on {kind}"
                );
                assert_eq!(predictor_for(p.name(), space), Ok(p));
            }
            let auto = predictor_for(scheduler::rank::AUTO, space).unwrap();
            assert_eq!(auto, surrogate::PredictorKind::best_for(kind));
            assert!(auto.supports(kind));
        }
        assert!(predictor_for("gin", Space::Nb201)
            .unwrap_err()
            .contains("\"gin\""));
    }
}
