//! `nas bench queue | scaling | search`: wire flags to the `bench` crate's
//! configs, run, and print the report (its last line is the ratio).

use crate::cli::{BenchCommand, QueueArgs};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

impl QueueArgs {
    /// The benchmark target these flags give.
    fn target(&self) -> anyhow::Result<bench::Target> {
        Ok(bench::Target {
            url: self.redis.clone(),
            queue: self.config()?,
            connect_timeout: Duration::from_secs_f64(self.connect_timeout_secs.max(0.0)),
        })
    }
}

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let report = match command {
        BenchCommand::Surrogate(args) => return super::surrogate::bench(args),
        BenchCommand::Train {
            space,
            genotype,
            data,
            channels,
            layers,
            batch_size,
            steps,
            warmup,
            threads,
            script,
        } => {
            let config = bench::train::TrainBenchConfig {
                space: space.default_space(),
                genotype,
                data,
                channels,
                layers,
                batch_size,
                steps,
                warmup,
                threads,
                python: bench::train::default_python(),
                script,
            };
            // Training is blocking work: off the async runtime.
            tokio::task::spawn_blocking(move || bench::train::run(&config))
                .await??
                .to_string()
        }
        BenchCommand::Queue {
            queue,
            jobs,
            slots,
            searches,
            parallel,
            latency_jobs,
            lpush_requests,
            nb201_dir,
            timeout_secs,
        } => {
            let config = bench::throughput::QueueBenchConfig {
                jobs,
                slots,
                searches,
                parallel,
                latency_jobs,
                nb201_dir: nb201_dir.unwrap_or_else(nb201::default_dir),
                lpush_requests,
                limit: Duration::from_secs(timeout_secs),
            };
            bench::throughput::run(&queue.target()?, &config)
                .await?
                .to_string()
        }
        BenchCommand::Scaling {
            queue,
            levels,
            trainers,
            job_ms,
            rounds,
            timeout_secs,
        } => {
            let config = bench::scaling::ScalingConfig {
                trainer_exe: current_exe()?,
                levels,
                trainers,
                job_ms,
                rounds,
                limit: Duration::from_secs(timeout_secs),
            };
            bench::scaling::run(&queue.target()?, &config)
                .await?
                .to_string()
        }
        BenchCommand::Search {
            queue,
            space,
            dataset,
            budget,
            seeds,
            strategies,
            parallel,
            slots,
            nb201_dir,
            timeout_secs,
            regret,
        } => {
            let config = bench::search::SearchBenchConfig {
                ranker: Some(super::ranker::embedded()?),
                regret,
                space,
                dataset: dataset
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--dataset {dataset}: {e}"))?,
                budget,
                seeds,
                strategies,
                parallel,
                slots,
                nb201_dir: nb201_dir.unwrap_or_else(nb201::default_dir),
                limit: Duration::from_secs(timeout_secs),
            };
            bench::search::run(&queue.target()?, &config)
                .await?
                .to_string()
        }
    };
    writeln!(std::io::stdout().lock(), "{report}")?;
    Ok(ExitCode::SUCCESS)
}

/// This executable, whose `trainer` subcommand the scaling benchmark starts.
fn current_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find this executable to start `nas trainer` from")
}
