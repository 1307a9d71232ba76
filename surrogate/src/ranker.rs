//! [`Ranker`]: how a search strategy asks for a ranking, whether the
//! surrogate runs in its process ([`InProcessRanker`], the embedded mode)
//! or in `nas surrogate` replicas behind Redis ([`RedisRanker`]). Both take
//! the search's training pairs with every call, fit with the same engine
//! and return the same [`Ranking`] for the same inputs and options.

use crate::engine::{Engine, EngineConfig, Job};
use crate::wire::{
    RankRequest, RequestError, TrainingPair, MAX_CANDIDATES, MAX_REQUEST_BYTES,
    SURROGATE_SCHEMA_VERSION,
};
use crate::{client, PredictorKind, Ranking, SurrogateError};
use async_trait::async_trait;
use queue::keys::Keys;
use queue::RedisUrl;
use redis::aio::ConnectionManager;
use space::{Genotype, Space};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Ranks candidates of a search by a surrogate fitted on its results.
#[async_trait]
pub trait Ranker: Send + Sync {
    /// Fit `predictor` (`None`: the ranker's [`RankOptions::predictor`])
    /// on `training` (genotype, accuracy in percent), each result at its
    /// share of full fidelity in `fidelity` (empty: all full), and score
    /// `candidates` at full fidelity, in order.
    async fn rank(
        &self,
        search: &str,
        space: Space,
        predictor: Option<PredictorKind>,
        training: &[(Genotype, f64)],
        fidelity: &[f64],
        candidates: &[Genotype],
    ) -> Result<Ranking, SurrogateError>;
}

/// What both rankers fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankOptions {
    /// Which predictor.
    pub predictor: PredictorKind,
    /// Seed of every fit.
    pub seed: u64,
}

impl Default for RankOptions {
    fn default() -> Self {
        Self {
            predictor: PredictorKind::Lstm,
            seed: 0,
        }
    }
}

/// The surrogate in this process: fits on blocking threads, at most
/// `max_concurrent_fits` at once.
pub struct InProcessRanker {
    engine: Arc<Engine>,
    options: RankOptions,
    fits: Arc<Semaphore>,
}

impl InProcessRanker {
    /// A ranker with its own model cache.
    pub fn new(
        engine: EngineConfig,
        options: RankOptions,
        max_concurrent_fits: usize,
    ) -> Result<Self, SurrogateError> {
        Ok(Self {
            engine: Arc::new(Engine::new(engine)?),
            options,
            fits: Arc::new(Semaphore::new(max_concurrent_fits.max(1))),
        })
    }
}

#[async_trait]
impl Ranker for InProcessRanker {
    async fn rank(
        &self,
        search: &str,
        space: Space,
        predictor: Option<PredictorKind>,
        training: &[(Genotype, f64)],
        fidelity: &[f64],
        candidates: &[Genotype],
    ) -> Result<Ranking, SurrogateError> {
        let _permit = self
            .fits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let job = Job {
            search: search.to_string(),
            space,
            predictor: predictor.unwrap_or(self.options.predictor),
            seed: self.options.seed,
            training: training.to_vec(),
            fidelity: fidelity.to_vec(),
            candidates: candidates.to_vec(),
        };
        self.engine.rank(job).await
    }
}

/// The surrogate service over Redis. Sends the training pairs with every
/// request, so the replicas keep no state a crash could lose.
pub struct RedisRanker {
    keys: Keys,
    options: RankOptions,
    timeout: Duration,
    /// One multiplexed connection that reconnects by itself; waits poll,
    /// so concurrent calls share it.
    con: ConnectionManager,
    /// Makes request ids unique across rankers and processes.
    instance: String,
    next: AtomicU64,
    /// The most candidates per request (the replicas' `--max-candidates`).
    max_candidates: usize,
}

impl RedisRanker {
    /// Connect to Redis at `url` (checking it is reachable now); requests go
    /// to the replicas under `prefix` and wait `timeout` per try.
    pub async fn connect(
        url: &RedisUrl,
        prefix: &str,
        options: RankOptions,
        timeout: Duration,
    ) -> Result<Self, SurrogateError> {
        let con = crate::service::connect(url, Duration::from_secs(5)).await?;
        use rand::Rng;
        Ok(Self {
            keys: Keys::new(prefix),
            options,
            timeout,
            con,
            instance: format!("{:016x}", rand::rng().random::<u64>()),
            next: AtomicU64::new(1),
            max_candidates: MAX_CANDIDATES,
        })
    }

    /// Send at most `n` candidates per request (at most 20,000), for
    /// replicas started with a lower `--max-candidates`.
    pub fn with_max_candidates(mut self, n: usize) -> Self {
        self.max_candidates = n.clamp(1, MAX_CANDIDATES);
        self
    }

    /// The requests this ranker sends for one call: one, unless the
    /// candidates are over its `max_candidates` (20,000 by default) or the request over
    /// [`MAX_REQUEST_BYTES`], in which case they are split in chunks sent
    /// one after the other (the replica that fits the first caches the model
    /// for the rest; any other fits the same model, seeded alike).
    pub fn requests(
        &self,
        search: &str,
        space: Space,
        predictor: Option<PredictorKind>,
        training: &[(Genotype, f64)],
        fidelity: &[f64],
        candidates: &[Genotype],
    ) -> Result<Vec<RankRequest>, SurrogateError> {
        let training: Vec<TrainingPair> = training
            .iter()
            .enumerate()
            .map(|(i, (g, accuracy))| TrainingPair {
                genotype: g.canonical_text(),
                accuracy: *accuracy,
                fidelity: fidelity.get(i).copied(),
            })
            .collect();
        let texts: Vec<String> = candidates.iter().map(Genotype::canonical_text).collect();
        let fixed = serde_json::to_vec(&training).map(|v| v.len()).unwrap_or(0) + 4096;
        if fixed >= MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge { bytes: fixed }.into());
        }
        let mut chunks: Vec<Vec<String>> = vec![Vec::new()];
        let mut bytes = fixed;
        for text in texts {
            // A JSON string: quotes, a comma, and at worst escapes.
            let size = text.len() + 3;
            let last = chunks.last_mut().expect("never empty");
            if !last.is_empty()
                && (last.len() >= self.max_candidates || bytes + size > MAX_REQUEST_BYTES)
            {
                chunks.push(Vec::new());
                bytes = fixed;
            }
            bytes += size;
            chunks.last_mut().expect("never empty").push(text);
        }
        Ok(chunks
            .into_iter()
            .map(|candidates| {
                let request_id = format!(
                    "{}-{}",
                    self.instance,
                    self.next.fetch_add(1, Ordering::Relaxed)
                );
                RankRequest {
                    deadline_ms: None,
                    v: SURROGATE_SCHEMA_VERSION,
                    reply_key: self.keys.surrogate_reply(&request_id),
                    request_id,
                    search_id: search.to_string(),
                    space,
                    predictor: predictor.unwrap_or(self.options.predictor),
                    seed: self.options.seed,
                    training: training.clone(),
                    candidates,
                }
            })
            .collect())
    }
}

#[async_trait]
impl Ranker for RedisRanker {
    async fn rank(
        &self,
        search: &str,
        space: Space,
        predictor: Option<PredictorKind>,
        training: &[(Genotype, f64)],
        fidelity: &[f64],
        candidates: &[Genotype],
    ) -> Result<Ranking, SurrogateError> {
        let requests = self.requests(search, space, predictor, training, fidelity, candidates)?;
        let mut con = self.con.clone();
        let mut all = Ranking {
            scores: Vec::with_capacity(candidates.len()),
            spreads: Vec::with_capacity(candidates.len()),
            version: training.len(),
        };
        for request in &requests {
            let part = client::rank(&mut con, self.keys.prefix(), request, self.timeout).await?;
            all.scores.extend(part.scores);
            all.spreads.extend(part.spreads);
            all.version = part.version;
        }
        Ok(all)
    }
}
