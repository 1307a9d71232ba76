//! Every Redis key name of the system, in one place. Lua scripts build the
//! per-job and per-search keys from the same prefix and the same shapes; the
//! header of `lua/prelude.lua` lists them too.
//!
//! The layout is what least privilege rests on (Redis checks a script's
//! keys against the calling user): what claiming, renewing, completing,
//! failing and reaping a job write is under `<p>:q:`, the trainer's only
//! writable pattern; a search's record, evaluations, dedupe keys and job
//! counter, the cancelled set and the leader lock are directly under `<p>:`
//! (the scheduler's); the surrogate's requests and replies are under
//! `<p>:surrogate:`. `docker/redis/users.acl.in` grants by these patterns.

/// The job-id placeholder in an envelope before the queue assigns the id.
pub const ID_PLACEHOLDER: &str = "@@ID@@";

/// Key names under one prefix (default `nas`), so that several deployments
/// or test runs can share one Redis.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The prefix, as the Lua scripts receive it.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash of one job: envelope, state, attempt, fencing token, lease.
    pub fn job(&self, job_id: &str) -> String {
        format!("{}:q:job:{job_id}", self.prefix)
    }
    /// Sorted set of a search's ready jobs, scored by -priority.
    pub fn ready(&self, search: &str) -> String {
        format!("{}:q:ready:{search}", self.prefix)
    }
    /// Sorted set of the builtin pool's searches with ready jobs, by
    /// round-robin position.
    pub fn rr(&self) -> String {
        format!("{}:q:rr", self.prefix)
    }
    /// The round-robin set of `pool`'s searches (`<p>:q:rr` for builtin,
    /// `<p>:q:rr:<pool>` for the others).
    pub fn rr_of(&self, pool: crate::wire::Pool) -> String {
        match pool.key_name() {
            "" => self.rr(),
            name => format!("{}:q:rr:{name}", self.prefix),
        }
    }
    /// Round-robin counter.
    pub fn rrseq(&self) -> String {
        format!("{}:q:rrseq", self.prefix)
    }
    /// Sorted set of leased job ids by deadline.
    pub fn leases(&self) -> String {
        format!("{}:q:leases", self.prefix)
    }
    /// Sorted set of jobs waiting out a retry backoff, by ready time.
    pub fn delayed(&self) -> String {
        format!("{}:q:delayed", self.prefix)
    }
    /// List of dead-lettered job ids.
    pub fn dlq(&self) -> String {
        format!("{}:q:dlq", self.prefix)
    }
    /// The last fencing token handed out (tokens never go backwards: see claim.lua).
    pub fn token(&self) -> String {
        format!("{}:q:token", self.prefix)
    }
    /// Hash of queue-wide counters (redeliveries).
    pub fn stats(&self) -> String {
        format!("{}:q:stats", self.prefix)
    }
    /// Set of cancelled searches.
    pub fn cancelled(&self) -> String {
        format!("{}:cancelled", self.prefix)
    }
    /// Hash: a search's dedupe key -> job id.
    pub fn dedupe(&self, search: &str) -> String {
        format!("{}:dedupe:{search}", self.prefix)
    }
    /// A search's job counter.
    pub fn jobseq(&self, search: &str) -> String {
        format!("{}:jobseq:{search}", self.prefix)
    }
    /// List of a search's results (JSON), in the order they were recorded.
    pub fn log(&self, search: &str) -> String {
        format!("{}:q:log:{search}", self.prefix)
    }
    /// Hash: state -> number of a search's jobs in that state.
    pub fn count(&self, search: &str) -> String {
        format!("{}:q:count:{search}", self.prefix)
    }
    /// Sorted set of workers by last heartbeat (ms).
    pub fn workers(&self) -> String {
        format!("{}:q:workers", self.prefix)
    }
    /// A worker's card (JSON, [`crate::wire::WorkerCard`]); it expires a
    /// few heartbeats after the worker went silent.
    pub fn worker_card(&self, worker: &str) -> String {
        format!("{}:q:worker:{worker}", self.prefix)
    }
    /// Hash: a search's record (`state`: the scheduler's JSON; `cancel`:
    /// set when a user asks to cancel).
    pub fn search(&self, search: &str) -> String {
        format!("{}:search:{search}", self.prefix)
    }
    /// Sorted set of all searches by submission time.
    pub fn searches(&self) -> String {
        format!("{}:searches", self.prefix)
    }
    /// Set of searches the scheduler drives (submitted, not yet finished).
    pub fn active(&self) -> String {
        format!("{}:active", self.prefix)
    }
    /// List of a search's evaluations (JSON), one per evaluated candidate.
    pub fn evals(&self, search: &str) -> String {
        format!("{}:evals:{search}", self.prefix)
    }
    /// Sorted set of retired searches by the time their records are gone
    /// (ms): `sweep` clears what the shared indexes hold of them after.
    pub fn retired(&self) -> String {
        format!("{}:retired", self.prefix)
    }
    /// Set of finished searches the scheduler has still to archive and
    /// retire.
    pub fn retiring(&self) -> String {
        format!("{}:retiring", self.prefix)
    }
    /// The scheduler leader lock: the id of the scheduler that drives searches.
    pub fn scheduler_lock(&self) -> String {
        format!("{}:scheduler", self.prefix)
    }
    /// The keys a deployment keeps whatever its searches (counters, the
    /// worker list, the leader lock): all that retention leaves once every
    /// search is retired and swept.
    pub fn deployment_keys(&self) -> [String; 5] {
        [
            self.rrseq(),
            self.token(),
            self.stats(),
            self.workers(),
            self.scheduler_lock(),
        ]
    }
    /// List of ranking requests (JSON) for the surrogate service's replicas.
    pub fn surrogate_requests(&self) -> String {
        format!("{}:surrogate:requests", self.prefix)
    }
    /// Sorted set of surrogate replicas by their last sign of life (ms),
    /// for the dashboard.
    pub fn surrogate_replicas(&self) -> String {
        format!("{}:surrogate:replicas", self.prefix)
    }
    /// List holding the reply (JSON) to one ranking request; it expires.
    pub fn surrogate_reply(&self, request_id: &str) -> String {
        format!("{}:surrogate:reply:{request_id}", self.prefix)
    }
}

impl Default for Keys {
    fn default() -> Self {
        Self::new("nas")
    }
}
