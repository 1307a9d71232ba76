//! The subcommands, one module each, with their flags beside the code that
//! turns them into library calls.

pub mod arch;
pub mod bench;
pub mod client;
pub mod daemon;
pub mod darts;
pub mod dashboard;
pub mod data;
pub mod export;
mod ranker;
pub mod search;
pub mod space;
pub mod surrogate;
pub mod train;
