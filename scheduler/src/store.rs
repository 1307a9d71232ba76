//! Where search state lives: [`Store`], and [`RedisStore`], which keeps each
//! search's state and evaluations in Redis next to the queue. Multi-key
//! changes are Lua scripts under `scheduler/lua/`.

use crate::state::{Evaluation, SearchState};
use async_trait::async_trait;
use queue::keys::Keys;
use queue::RedisQueue;
use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};
use std::time::Duration;
use thiserror::Error;

/// Why a store call failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Redis is unreachable or refused; retry later.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored record cannot be read.
    #[error("search {id}: stored state is unreadable: {reason}")]
    Corrupt {
        /// The search.
        id: String,
        /// What does not decode, and where.
        reason: String,
    },
    /// Submitting an id that exists.
    #[error("search {0} exists already")]
    Exists(String),
    /// Not a search id (`..`, `a/b`, upper case): it would name a folder
    /// or a file outside the search's own.
    #[error("{0}")]
    InvalidId(queue::WireError),
    /// This scheduler lost the leader lock: another one drives searches.
    #[error("this scheduler no longer leads; another scheduler took over")]
    NotLeader,
    /// The stored state is older than the one this scheduler last read or
    /// wrote: Redis lost acknowledged writes (a crash under `appendfsync
    /// everysec` loses up to a second). Take the search up again from what
    /// is stored.
    #[error("search {0}: the stored state is older than this scheduler's (Redis lost recent writes); taking it up again from the store")]
    Behind(String),
}

/// Persistent search records.
#[async_trait]
pub trait Store: Send + Sync {
    /// Record a new search and make it active.
    async fn submit(&self, state: &SearchState) -> Result<(), StoreError>;
    /// Ids of searches to drive.
    async fn active(&self) -> Result<Vec<String>, StoreError>;
    /// A search's state.
    async fn load(&self, id: &str) -> Result<Option<SearchState>, StoreError>;
    /// Persist state and append evaluations, atomically.
    async fn checkpoint(&self, state: &SearchState, evals: &[Evaluation])
        -> Result<(), StoreError>;
    /// Has a user asked to cancel the search?
    async fn cancel_requested(&self, id: &str) -> Result<bool, StoreError>;
    /// Ask to cancel a search; false if there is no such search.
    async fn request_cancel(&self, id: &str) -> Result<bool, StoreError>;
    /// A search's evaluations, in order, from `from`.
    async fn evaluations(
        &self,
        id: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<Evaluation>, StoreError>;
    /// Every search, oldest first.
    async fn searches(&self) -> Result<Vec<SearchState>, StoreError>;
    /// Take or keep the leader lock for `ttl`; false while another leads.
    async fn lead(&self, ttl: Duration) -> Result<bool, StoreError>;
    /// Which run of the server holds the records (Redis: its `run_id`,
    /// new at every start); None for stores that cannot restart under a
    /// running scheduler. A change means the server restarted and may have
    /// lost its last second of writes (`appendfsync everysec`), so every
    /// search is taken up again from what is stored.
    async fn server_run(&self) -> Result<Option<String>, StoreError>;
    /// Finished searches still to be archived and retired, oldest first.
    async fn retiring(&self) -> Result<Vec<String>, StoreError>;
    /// Let a finished search's record and evaluations go once `keep` has
    /// passed (zero: now), and take it off the retiring list. Idempotent.
    async fn retire(&self, id: &str, keep: Duration) -> Result<(), StoreError>;
    /// Drop the searches whose records are gone from the list of searches;
    /// returns how many.
    async fn sweep(&self) -> Result<u64, StoreError>;
}

/// Search records in Redis.
///
/// Every checkpoint is numbered; the store remembers the number it last
/// read or wrote per search and refuses a checkpoint whose predecessor is
/// not the stored one ([`StoreError::Behind`]), so a scheduler never
/// builds on state that Redis lost.
#[derive(Clone)]
pub struct RedisStore {
    con: ConnectionManager,
    keys: Keys,
    instance: String,
    seqs: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    submit: Script,
    checkpoint: Script,
    lead: Script,
    retire: Script,
    forget: Script,
}

impl RedisStore {
    /// A store sharing `queue`'s connection and key prefix; `instance`
    /// identifies this scheduler in the leader lock.
    pub fn new(queue: &RedisQueue, instance: impl Into<String>) -> Self {
        Self {
            con: queue.connection(),
            keys: queue.keys().clone(),
            instance: instance.into(),
            seqs: Default::default(),
            submit: Script::new(include_str!("../lua/submit.lua")),
            checkpoint: Script::new(include_str!("../lua/checkpoint.lua")),
            lead: Script::new(include_str!("../lua/lead.lua")),
            retire: Script::new(include_str!("../lua/retire.lua")),
            forget: Script::new(include_str!("../lua/forget.lua")),
        }
    }
}

fn parse_state(id: &str, json: &str) -> Result<SearchState, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt {
        id: id.into(),
        reason: e.to_string(),
    })
}

#[async_trait]
impl Store for RedisStore {
    async fn submit(&self, state: &SearchState) -> Result<(), StoreError> {
        queue::wire::validate_search_id("search", &state.id).map_err(StoreError::InvalidId)?;
        let json = serde_json::to_string(state).expect("state serializes");
        let mut con = self.con.clone();
        let created: i64 = self
            .submit
            .key(self.keys.search(&state.id))
            .key(self.keys.searches())
            .key(self.keys.active())
            .key(self.keys.retired())
            .arg(&state.id)
            .arg(json)
            .arg(state.created_ms)
            .invoke_async(&mut con)
            .await?;
        if created == 0 {
            return Err(StoreError::Exists(state.id.clone()));
        }
        Ok(())
    }

    async fn active(&self) -> Result<Vec<String>, StoreError> {
        let mut con = self.con.clone();
        let mut ids: Vec<String> = con.smembers(self.keys.active()).await?;
        ids.sort();
        Ok(ids)
    }

    async fn load(&self, id: &str) -> Result<Option<SearchState>, StoreError> {
        let mut con = self.con.clone();
        let (json, seq): (Option<String>, Option<i64>) = redis::cmd("HMGET")
            .arg(self.keys.search(id))
            .arg(&["state", "seq"])
            .query_async(&mut con)
            .await?;
        let state = json.map(|j| parse_state(id, &j)).transpose()?;
        if state.is_some() {
            self.seqs
                .lock()
                .expect("seqs lock")
                .insert(id.to_string(), seq.unwrap_or(0));
        }
        Ok(state)
    }

    async fn checkpoint(
        &self,
        state: &SearchState,
        evals: &[Evaluation],
    ) -> Result<(), StoreError> {
        let mut inv = self.checkpoint.prepare_invoke();
        inv.key(self.keys.search(&state.id))
            .key(self.keys.evals(&state.id))
            .key(self.keys.active())
            .key(self.keys.scheduler_lock())
            .key(self.keys.retiring())
            .arg(&state.id)
            .arg(serde_json::to_string(state).expect("state serializes"))
            .arg(if state.status.is_terminal() { "1" } else { "0" })
            .arg(&self.instance);
        let expected = self
            .seqs
            .lock()
            .expect("seqs lock")
            .get(&state.id)
            .copied()
            .unwrap_or(-1);
        inv.arg(expected);
        for e in evals {
            inv.arg(serde_json::to_string(e).expect("evaluation serializes"));
        }
        let mut con = self.con.clone();
        let r: i64 = inv.invoke_async(&mut con).await?;
        match r {
            -1 => Err(StoreError::NotLeader),
            -2 => {
                self.seqs.lock().expect("seqs lock").remove(&state.id);
                Err(StoreError::Behind(state.id.clone()))
            }
            seq => {
                self.seqs
                    .lock()
                    .expect("seqs lock")
                    .insert(state.id.clone(), seq);
                Ok(())
            }
        }
    }

    async fn cancel_requested(&self, id: &str) -> Result<bool, StoreError> {
        let mut con = self.con.clone();
        let v: Option<String> = con.hget(self.keys.search(id), "cancel").await?;
        Ok(v.is_some())
    }

    async fn request_cancel(&self, id: &str) -> Result<bool, StoreError> {
        let mut con = self.con.clone();
        let exists: bool = con.hexists(self.keys.search(id), "state").await?;
        if exists {
            let _: () = con
                .hset(self.keys.search(id), "cancel", queue::now_ms())
                .await?;
        }
        Ok(exists)
    }

    async fn evaluations(
        &self,
        id: &str,
        from: u64,
        max: usize,
    ) -> Result<Vec<Evaluation>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut con = self.con.clone();
        let raw: Vec<String> = con
            .lrange(
                self.keys.evals(id),
                from as isize,
                from as isize + max as isize - 1,
            )
            .await?;
        raw.iter()
            .map(|r| {
                serde_json::from_str(r).map_err(|e| StoreError::Corrupt {
                    id: id.into(),
                    reason: format!("evaluation: {e}"),
                })
            })
            .collect()
    }

    async fn searches(&self) -> Result<Vec<SearchState>, StoreError> {
        let mut con = self.con.clone();
        let ids: Vec<String> = con.zrange(self.keys.searches(), 0, -1).await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = self.load(&id).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn lead(&self, ttl: Duration) -> Result<bool, StoreError> {
        let mut con = self.con.clone();
        let r: i64 = self
            .lead
            .key(self.keys.scheduler_lock())
            .arg(&self.instance)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut con)
            .await?;
        Ok(r == 1)
    }

    async fn server_run(&self) -> Result<Option<String>, StoreError> {
        let mut con = self.con.clone();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut con)
            .await?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .map(|id| id.trim().to_string()))
    }

    async fn retiring(&self) -> Result<Vec<String>, StoreError> {
        let mut con = self.con.clone();
        let mut ids: Vec<String> = con.smembers(self.keys.retiring()).await?;
        ids.sort();
        Ok(ids)
    }

    async fn retire(&self, id: &str, keep: Duration) -> Result<(), StoreError> {
        let mut con = self.con.clone();
        let _: i64 = self
            .retire
            .key(self.keys.search(id))
            .key(self.keys.evals(id))
            .key(self.keys.retiring())
            .arg(id)
            .arg(keep.as_millis() as u64)
            .invoke_async(&mut con)
            .await?;
        Ok(())
    }

    async fn sweep(&self) -> Result<u64, StoreError> {
        let mut con = self.con.clone();
        Ok(self
            .forget
            .key(self.keys.searches())
            .arg(self.keys.prefix())
            .invoke_async(&mut con)
            .await?)
    }
}
