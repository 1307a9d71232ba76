//! The `nas` scheduler: turns a submitted search into candidate jobs on the
//! queue and their results into the next candidates.
//!
//! - [`strategy`]: search strategies as pure ask/tell state machines.
//! - [`spec`]: the search spec users submit; [`cpu`]: the CPU-sized spec
//!   of each strategy that `nas search` runs by default.
//! - [`state`]: a search's persisted state and evaluations.
//! - [`store`]: where that state lives ([`RedisStore`]; [`FileStore`] for
//!   the embedded mode).
//! - [`run`]: driving one search step by step, crash-safely.
//! - [`service`]: the daemon, `run(config, queue, store, shutdown)`.
//! - [`retention`]: archiving finished searches and letting their records
//!   in Redis expire; what `nas gc` calls.
//! - [`client`]: what `nas submit`, `status`, `results` and `cancel` call.
//! - [`rank`]: the [`rank::Ranker`] surrogate-driven strategies ask.
//! - [`fidelity`]: multi-fidelity rungs (ASHA, successive halving,
//!   Hyperband) beside any strategy.

pub mod client;
pub mod cpu;
pub mod fidelity;
pub mod file_store;
pub mod rank;
pub mod retention;
pub mod run;
pub mod service;
pub mod spec;
pub mod state;
pub mod store;
pub mod strategy;
mod undecodable;

pub use file_store::FileStore;
pub use service::{run, SchedulerConfig, Stopped};
pub use spec::SearchSpec;
pub use state::{Evaluation, SearchState, Status};
pub use store::{RedisStore, Store, StoreError};
