//! The engine behind both rankers: checks genotypes against the space, keeps
//! a small cache of fitted models per search, and runs fits and predictions
//! on blocking threads under `catch_unwind`, so libtorch never blocks the
//! async runtime and a panic fails one request only.
//!
//! A model is reused when the same search asks again with the same space,
//! predictor, seed and training pairs (its version and fingerprint match).
//! When the pairs changed, the model is fitted again, from scratch by
//! default, or warm-started from the cached weights with
//! [`EngineConfig::warm_start`] (faster, but the scores then depend on which
//! replica served the previous request).

use crate::predictor::{FitConfig, PredictorKind, Surrogate};
use crate::{Ranking, SurrogateError};
use space::{Genotype, Space};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

/// How the engine fits and caches.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// How each model is trained.
    pub fit: FitConfig,
    /// Models kept, least recently used dropped first.
    pub cache_models: usize,
    /// Warm-start a search's refit from its cached model.
    pub warm_start: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            fit: FitConfig::default(),
            cache_models: 16,
            warm_start: false,
        }
    }
}

/// Which model a cache entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModelId {
    search: String,
    space: String,
    predictor: PredictorKind,
    seed: u64,
}

struct Entry {
    id: ModelId,
    /// Hash of the training pairs the model was fitted on.
    fingerprint: u64,
    model: Arc<Mutex<Surrogate>>,
}

/// Fits, caches and predicts; shared by the service's request tasks.
pub(crate) struct Engine {
    config: EngineConfig,
    /// Most recently used last.
    cache: Mutex<VecDeque<Entry>>,
    /// Fits run so far (the cache's misses).
    fits: std::sync::atomic::AtomicU64,
}

/// One ranking to compute.
pub(crate) struct Job {
    pub search: String,
    pub space: Space,
    pub predictor: PredictorKind,
    pub seed: u64,
    pub training: Vec<(Genotype, f64)>,
    /// The share of full fidelity of each training result; empty when all
    /// are at full fidelity.
    pub fidelity: Vec<f64>,
    pub candidates: Vec<Genotype>,
}

fn fingerprint(training: &[(Genotype, f64)], fidelity: &[f64]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (g, acc) in training {
        Hash::hash(&g.canonical(), &mut h);
        acc.to_bits().hash(&mut h);
    }
    for f in fidelity {
        f.to_bits().hash(&mut h);
    }
    h.finish()
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Run blocking tch work off the runtime, turning a panic into an error.
async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> Result<T, SurrogateError> + Send + 'static,
) -> Result<T, SurrogateError> {
    let run = move || {
        std::panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|p| {
            Err(SurrogateError::Panicked {
                what,
                message: panic_message(p),
            })
        })
    };
    tokio::task::spawn_blocking(run).await.unwrap_or_else(|e| {
        Err(SurrogateError::Panicked {
            what,
            message: e.to_string(),
        })
    })
}

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Self, SurrogateError> {
        config.fit.validate()?;
        Ok(Self {
            config,
            cache: Mutex::new(VecDeque::new()),
            fits: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Score `job.candidates` with a model fitted on `job.training`.
    pub async fn rank(&self, job: Job) -> Result<Ranking, SurrogateError> {
        check_space(&job)?;
        if job.candidates.is_empty() {
            return Ok(Ranking {
                scores: Vec::new(),
                spreads: Vec::new(),
                version: job.training.len(),
            });
        }
        let model = self.model(&job).await?;
        let candidates = job.candidates;
        let scores = blocking("prediction", move || {
            let model = model.lock().unwrap_or_else(|p| p.into_inner());
            Ok((model.predict(&candidates)?, model.version()))
        })
        .await?;
        let (scores, version) = scores;
        Ok(Ranking {
            scores: scores.iter().map(|s| s.mean).collect(),
            spreads: scores.iter().map(|s| s.spread).collect(),
            version,
        })
    }

    /// The cached model for `job`, or a new fit.
    async fn model(&self, job: &Job) -> Result<Arc<Mutex<Surrogate>>, SurrogateError> {
        let id = ModelId {
            search: job.search.clone(),
            space: format!("{:?}", job.space),
            predictor: job.predictor,
            seed: job.seed,
        };
        let fp = fingerprint(&job.training, &job.fidelity);
        let previous = {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.iter().position(|e| e.id == id) {
                Some(at) => {
                    let entry = cache.remove(at).expect("position is in range");
                    let hit = entry.fingerprint == fp;
                    let model = entry.model.clone();
                    cache.push_back(entry);
                    if hit {
                        tracing::debug!(search = %job.search, version = job.training.len(), "surrogate cache hit");
                        return Ok(model);
                    }
                    Some(model)
                }
                None => None,
            }
        };
        let warm = previous.filter(|_| self.config.warm_start);
        let (kind, space, seed) = (job.predictor, job.space.kind(), job.seed);
        let training = job.training.clone();
        let fidelity = job.fidelity.clone();
        let fit = self.config.fit.clone();
        let started = std::time::Instant::now();
        self.fits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let model = blocking("fit", move || match warm {
            Some(prev) => prev
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .refit_at(&training, &fidelity, &fit),
            None => Surrogate::fit_at(kind, space, &training, &fidelity, &fit, seed),
        })
        .await?;
        tracing::info!(
            search = %job.search,
            predictor = %kind,
            version = model.version(),
            epochs = ?model.epochs_run(),
            secs = started.elapsed().as_secs_f64(),
            "surrogate fitted"
        );
        let model = Arc::new(Mutex::new(model));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|e| e.id != id);
        cache.push_back(Entry {
            id,
            fingerprint: fp,
            model: model.clone(),
        });
        while cache.len() > self.config.cache_models.max(1) {
            cache.pop_front();
        }
        Ok(model)
    }
}

fn check_space(job: &Job) -> Result<(), SurrogateError> {
    for (index, (g, _)) in job.training.iter().enumerate() {
        job.space.check(g).map_err(|e| SurrogateError::Training {
            index,
            reason: e.to_string(),
        })?;
    }
    for (index, g) in job.candidates.iter().enumerate() {
        job.space.check(g).map_err(|e| SurrogateError::Candidate {
            index,
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(search: &str, n: usize) -> Job {
        let space = Space::Nb201;
        let mut rng = space::rng(1);
        let training = (0..n)
            .map(|i| (space.sample(&mut rng).unwrap(), 70.0 + (i % 5) as f64))
            .collect();
        let candidates = (0..10).map(|_| space.sample(&mut rng).unwrap()).collect();
        Job {
            search: search.into(),
            space,
            predictor: PredictorKind::Lstm,
            seed: 2,
            training,
            fidelity: Vec::new(),
            candidates,
        }
    }

    fn engine(cache_models: usize, warm_start: bool) -> Engine {
        let fit = FitConfig {
            embedding: 8,
            hidden: 8,
            epochs: 40,
            refit_epochs: 3,
            patience: 100,
            ..FitConfig::default()
        };
        Engine::new(EngineConfig {
            fit,
            cache_models,
            warm_start,
        })
        .unwrap()
    }

    fn fits(e: &Engine) -> u64 {
        e.fits.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[tokio::test]
    async fn the_cache_reuses_a_model_until_the_results_change() {
        let e = engine(1, false);
        let first = e.rank(job("a", 20)).await.unwrap();
        assert_eq!(e.rank(job("a", 20)).await.unwrap(), first);
        assert_eq!(fits(&e), 1);
        assert_eq!(e.rank(job("a", 30)).await.unwrap().version, 30);
        assert_eq!(fits(&e), 2);
        // One model kept: another search evicts it.
        e.rank(job("b", 30)).await.unwrap();
        e.rank(job("a", 30)).await.unwrap();
        assert_eq!(fits(&e), 4);
        // No candidates: nothing to fit.
        let mut empty = job("c", 5);
        empty.candidates.clear();
        assert_eq!(e.rank(empty).await.unwrap().version, 5);
        assert_eq!(fits(&e), 4);
    }

    #[tokio::test]
    async fn a_warm_start_refits_from_the_cached_weights() {
        let e = engine(4, true);
        e.rank(job("a", 20)).await.unwrap();
        e.rank(job("a", 30)).await.unwrap();
        let cache = e.cache.lock().unwrap();
        let model = cache[0].model.lock().unwrap();
        assert_eq!(model.version(), 30);
        assert_eq!(model.epochs_run(), &[3], "refit_epochs, not epochs");
    }

    #[tokio::test]
    async fn genotypes_outside_the_space_are_named() {
        let e = engine(1, false);
        let mut bad = job("a", 5);
        bad.candidates[4] = Genotype::Darts(space::DartsGenotype::named("DARTS_V2").unwrap());
        let err = e.rank(bad).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "candidate 4: space: a darts genotype is not in the nb201 space"
        );
    }
}
