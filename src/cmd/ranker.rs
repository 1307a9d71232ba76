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
        training: &[(Genotype, f64)],
        candidates: &[Genotype],
    ) -> Result<Vec<f64>, String> {
        self.0
            .rank(search, space, training, candidates)
            .await
            .map(|r| r.scores)
            .map_err(|e| e.to_string())
    }
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
