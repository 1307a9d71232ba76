//! The scheduler daemon's metrics that need the search store: a store
//! decorator that records leadership and searches, and the loop that
//! samples the queue's global state for the active searches. They live
//! here, where the daemon is wired, so that the `metrics` crate depends on
//! the queue alone and the scheduler stays unaware of metrics.

use async_trait::async_trait;
use queue::RedisQueue;
use scheduler::{Evaluation, SearchState, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

type SResult<T> = Result<T, StoreError>;

/// A search store that records leadership, active searches and finished
/// searches into [`metrics::scheduler`], and each successful call in
/// [`metrics::health`].
pub struct MeteredStore {
    inner: Arc<dyn Store>,
}

impl MeteredStore {
    /// Count what passes through `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self { inner }
    }

    fn ok<T>(&self, r: SResult<T>) -> SResult<T> {
        if r.is_ok() {
            metrics::health().redis_ok();
        }
        r
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn submit(&self, state: &SearchState) -> SResult<()> {
        self.ok(self.inner.submit(state).await)
    }

    async fn active(&self) -> SResult<Vec<String>> {
        let r = self.ok(self.inner.active().await);
        if let Ok(ids) = &r {
            metrics::scheduler().searches_active.set(ids.len() as i64);
        }
        r
    }

    async fn load(&self, id: &str) -> SResult<Option<SearchState>> {
        self.ok(self.inner.load(id).await)
    }

    async fn checkpoint(&self, state: &SearchState, evals: &[Evaluation]) -> SResult<()> {
        let r = self.ok(self.inner.checkpoint(state, evals).await);
        if r.is_ok() && state.status.is_terminal() {
            let s = metrics::scheduler();
            s.searches_finished
                .with_label_values(&[state.status.word()])
                .inc();
        }
        r
    }

    async fn cancel_requested(&self, id: &str) -> SResult<bool> {
        self.ok(self.inner.cancel_requested(id).await)
    }

    async fn request_cancel(&self, id: &str) -> SResult<bool> {
        self.ok(self.inner.request_cancel(id).await)
    }

    async fn evaluations(&self, id: &str, from: u64, max: usize) -> SResult<Vec<Evaluation>> {
        self.ok(self.inner.evaluations(id, from, max).await)
    }

    async fn searches(&self) -> SResult<Vec<SearchState>> {
        self.ok(self.inner.searches().await)
    }

    async fn lead(&self, ttl: Duration) -> SResult<bool> {
        let r = self.ok(self.inner.lead(ttl).await);
        if let Ok(leading) = r {
            metrics::scheduler().leader.set(i64::from(leading));
        }
        r
    }

    async fn retiring(&self) -> SResult<Vec<String>> {
        self.ok(self.inner.retiring().await)
    }

    async fn retire(&self, id: &str, keep: Duration) -> SResult<()> {
        self.ok(self.inner.retire(id, keep).await)
    }

    async fn sweep(&self) -> SResult<u64> {
        self.ok(self.inner.sweep().await)
    }
}

/// Sample the queue's global state every `every`, for the searches `store`
/// says are active, until the task is dropped or aborted. A failed sample
/// is logged at debug level and the gauges keep their last values.
pub async fn sample_queue(queue: RedisQueue, store: Arc<dyn Store>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let sampled = match store.active().await {
            Ok(active) => metrics::sampler::sample(&queue, &active)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("sampling active searches: {e}")),
        };
        if let Err(e) = sampled {
            tracing::debug!(error = %e, "queue metrics sample failed; keeping the last values");
        }
    }
}
