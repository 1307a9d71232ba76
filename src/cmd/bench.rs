//! `nas bench queue | scaling | search`: wire flags to the `bench` crate's
//! configs, run, and print the report (its last line is the ratio).

use crate::args::QueueArgs;
use anyhow::Context;
use clap::Subcommand;
use space::SpaceKind;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Which trainer `nas bench queue` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainerKind {
    /// The Rust trainer, through the whole path (the default).
    Rust,
    /// The Python trainer against the Rust one, on the no-op path.
    Python,
}

/// `nas bench ...`: each runs under a fresh key prefix on --redis, stops by
/// itself within --timeout-secs and deletes its keys.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// No-op candidates through submit, scheduler, queue, trainer and back;
    /// prints jobs/s, overhead p50/p99 and, last, the ratio to
    /// redis-benchmark's lpush ops/s on the same server.
    Queue {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Candidates to measure, over all searches.
        #[arg(long, default_value_t = 20_000)]
        jobs: usize,
        /// Trainer slots.
        #[arg(long, default_value_t = 8)]
        slots: usize,
        /// Random searches run at once; the jobs are split between them.
        #[arg(long, default_value_t = 8)]
        searches: usize,
        /// Candidates each search keeps queued or running.
        #[arg(long, default_value_t = 64)]
        parallel: usize,
        /// Candidates of a search run one at a time afterwards, for the
        /// unloaded overhead per job (0: skip it).
        #[arg(long, default_value_t = 500)]
        latency_jobs: usize,
        /// Requests of the redis-benchmark reference.
        #[arg(long, default_value_t = 100_000)]
        lpush_requests: u64,
        /// Folder of the converted NAS-Bench-201 tables.
        #[arg(long, env = "NAS_NB201_DIR")]
        nb201_dir: Option<std::path::PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
        /// `python`: instead, the Python trainer's (nas-worker) cost per
        /// no-op job against the Rust trainer's, same run.
        #[arg(long, value_enum, default_value_t = TrainerKind::Rust)]
        trainer: TrainerKind,
        /// The nas-worker program, for --trainer python.
        #[arg(long, env = "NAS_WORKER")]
        worker: Option<PathBuf>,
    },
    /// The dashboard over a large finished search: its requests' times
    /// against reading every evaluation from the store once.
    Dashboard {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Evaluations in the search.
        #[arg(long, default_value_t = 20_000)]
        evaluations: usize,
        /// Timed repeats of each warm request.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// Seed of the genotypes and scores.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Leave the search in Redis, to open it with `nas dashboard`.
        #[arg(long)]
        keep: bool,
    },
    /// Fixed-length jobs through 1, 4, 16 and 64 slots of `nas trainer`
    /// processes; prints throughput efficiency against slots / duration.
    Scaling {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// Total trainer slots of each level.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
        levels: Vec<usize>,
        /// The most trainer processes a level's slots are spread over.
        #[arg(long, default_value_t = 4)]
        trainers: usize,
        /// Length of each job, milliseconds.
        #[arg(long, default_value_t = 50)]
        job_ms: u64,
        /// Jobs per slot timed at each level.
        #[arg(long, default_value_t = 40)]
        rounds: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout_secs: u64,
    },
    /// Each strategy on the NAS-Bench-201 table through the queue, seeds
    /// 0..N: best architecture's seed-averaged val_acc, mean and std,
    /// beside the optimum and random search.
    Search {
        /// Redis and queue settings.
        #[command(flatten)]
        queue: QueueArgs,
        /// The search space (the table evaluator needs nb201).
        #[arg(long, value_parser = crate::args::parse_space_kind, default_value = "nb201")]
        space: SpaceKind,
        /// cifar10, cifar100 or imagenet.
        #[arg(long, default_value = "cifar10")]
        dataset: String,
        /// Candidates per search (default: the largest of --budgets, or 100).
        #[arg(long)]
        budget: Option<usize>,
        /// Also report the pick's quality after each of these many results,
        /// from the same runs (e.g. 25,50,100,150).
        #[arg(long, value_delimiter = ',')]
        budgets: Vec<usize>,
        /// Searches per strategy, seeds OFFSET..OFFSET+N.
        #[arg(long, default_value_t = 20)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        seed_offset: u64,
        /// Strategies by spec name, settings after colons
        /// (bananas:acquisition=ucb); random is the baseline.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "random,evolution,surrogate,rl,bananas"
        )]
        strategies: Vec<String>,
        /// Draw the mean pick against evaluations per strategy to PATH.png
        /// and PATH.svg.
        #[arg(long, value_name = "PATH")]
        plot: Option<PathBuf>,
        /// Count the evaluations each search needs to come within this many
        /// points of the table's optimum.
        #[arg(long, default_value_t = 0.3)]
        regret: f64,
        /// Candidates each search keeps queued or running.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Trainer slots.
        #[arg(long, default_value_t = 8)]
        slots: usize,
        /// Folder of the converted NAS-Bench-201 tables.
        #[arg(long, env = "NAS_NB201_DIR")]
        nb201_dir: Option<std::path::PathBuf>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 1800)]
        timeout_secs: u64,
    },
    /// Training images/s of a genotype's network in tch against the same
    /// network and settings in PyTorch, measured in the same run; the last
    /// line prints the ratio tch/PyTorch.
    Train {
        /// nb201 or darts.
        #[arg(long, value_parser = crate::args::parse_space_kind, default_value = "nb201")]
        space: SpaceKind,
        /// The genotype (default: the best NAS-Bench-201 CIFAR-10 cell).
        #[arg(
            long,
            default_value = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        )]
        genotype: String,
        /// An IDX dataset folder.
        #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
        data: std::path::PathBuf,
        /// Initial channels C.
        #[arg(long, default_value_t = 16)]
        channels: i64,
        /// Cells (per stage for nb201).
        #[arg(long, default_value_t = 1)]
        layers: i64,
        /// Images per step.
        #[arg(long, default_value_t = 128)]
        batch_size: i64,
        /// Timed steps.
        #[arg(long, default_value_t = 50)]
        steps: u64,
        /// Untimed steps first.
        #[arg(long, default_value_t = 5)]
        warmup: u64,
        /// libtorch threads on both sides.
        #[arg(long, default_value_t = 2)]
        threads: i32,
        /// scripts/bench_train.py.
        #[arg(long, default_value = "scripts/bench_train.py")]
        script: std::path::PathBuf,
    },
    /// The surrogate's ranking quality on NAS-Bench-201 (Kendall tau,
    /// Spearman rho) and its ranking speed; the same as `nas surrogate bench`.
    Surrogate(super::surrogate::BenchArgs),
    /// `nas search` on tables (CPU defaults) against scikit-learn's
    /// HistGradientBoosting and MLP (defaults) on the same split; the last
    /// line gives nas's test score over the best baseline's.
    Tabular(DatasetBenchArgs),
    /// ASHA over evolution against plain evolution at full fidelity on real
    /// data, one search after the other per seed: the winners' test scores
    /// after the same retraining, the trainer time of each (as a ratio),
    /// and the checkpoint loading share of promoted rungs.
    Fidelity(FidelityBenchArgs),
    /// `nas search` on UCR/UEA time series (CPU defaults) against aeon's
    /// 1-nearest-neighbour DTW classifier on the same train/test files.
    Timeseries(DatasetBenchArgs),
}

impl QueueArgs {
    /// The benchmark target these flags give.
    fn target(&self) -> anyhow::Result<bench::Target> {
        Ok(bench::Target {
            url: self.redis.url()?,
            queue: self.config()?,
            connect_timeout: self.redis.connect_timeout(),
        })
    }
}

/// Flags of `nas bench fidelity`.
#[derive(Debug, clap::Args)]
pub struct FidelityBenchArgs {
    /// The dataset, as `nas search --data` takes it.
    #[arg(long)]
    pub data: PathBuf,
    /// How to read it.
    #[command(flatten)]
    pub read: crate::args::ReadArgs,
    /// Full fidelity, in proxies: the plain search trains every candidate
    /// this many times the CPU-sized proxy's epochs, the top rung too.
    #[arg(long, default_value_t = 3.0)]
    pub max_proxies: f64,
    /// The reduction factor: rungs at max/eta², max/eta and max.
    #[arg(long, default_value_t = 3)]
    pub eta: u32,
    /// Candidates of the plain search.
    #[arg(long, default_value_t = 8)]
    pub plain_budget: usize,
    /// Candidates of the ASHA search (default: eta times plain's, for
    /// about the same trainer time).
    #[arg(long)]
    pub asha_budget: Option<usize>,
    /// Epochs of the final retraining of each winner.
    #[arg(long, default_value_t = 1.0)]
    pub final_epochs: f64,
    /// Training samples of the final retraining (default: 20,000, or all
    /// when fewer).
    #[arg(long, default_value_t = 20_000)]
    pub final_subset: usize,
    /// Seeds.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    pub seeds: Vec<u64>,
    /// Trainer slots of each search.
    #[arg(long, default_value_t = 2)]
    pub slots: usize,
    /// Where the searches go (default: a temporary folder).
    #[arg(long)]
    pub work: Option<PathBuf>,
}

impl FidelityBenchArgs {
    fn config(self) -> anyhow::Result<bench::fidelity::FidelityBench> {
        let ds = self
            .read
            .load(&self.data)
            .with_context(|| format!("reading the dataset {}", self.data.display()))?;
        let shape = scheduler::cpu::DataShape {
            input: ds.meta.input,
            categorical: (ds.meta.columns.iter()).any(|c| c.kind == data::ColumnKind::Categorical),
            train_len: ds.meta.train_len,
        };
        let base = scheduler::SearchSpec::cpu_default(
            scheduler::strategy::StrategyKind::Evolution,
            self.read.data_ref(&self.data)?,
            shape,
            "fidelity bench".into(),
            None,
            1,
            self.slots,
        )?;
        anyhow::ensure!(self.eta >= 2, "--eta must be at least 2");
        // A full ladder would cost 1/eta² + (1/eta - 1/eta²)/eta +
        // (1 - 1/eta)/eta² of max per candidate (0.26 at eta 3), but ASHA
        // promotes early results before their rung fills, and on a finite
        // budget a candidate costs about 1/eta of max (0.33 measured on
        // Fashion-MNIST at eta 3): eta times plain's candidates take about
        // plain's trainer time.
        let asha_budget = self
            .asha_budget
            .unwrap_or(self.plain_budget * self.eta as usize);
        Ok(bench::fidelity::FidelityBench {
            nas: std::env::current_exe().context("finding the nas binary")?,
            base,
            max_proxies: self.max_proxies,
            eta: self.eta,
            plain_budget: self.plain_budget,
            asha_budget,
            final_epochs: self.final_epochs,
            final_subset: self.final_subset,
            seeds: self.seeds,
            slots: self.slots,
            work: self.work.unwrap_or_else(|| bench_work("fidelity")),
        })
    }
}

/// Flags of `nas bench tabular` and `nas bench timeseries`.
#[derive(Debug, clap::Args)]
pub struct DatasetBenchArgs {
    /// The datasets: tables as FILE.csv:TARGET, time series as
    /// FILE_TRAIN.ts (default: letter and satellite, or GunPoint,
    /// ItalyPowerDemand, ArrowHead and BasicMotions, from $NAS_DATASETS).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Candidates per search (default: the CPU-sized default).
    #[arg(long)]
    pub budget: Option<usize>,
    /// Seed of the searches.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the searches and splits go (default: a temporary folder).
    #[arg(long)]
    pub work: Option<PathBuf>,
}

impl DatasetBenchArgs {
    /// The run's settings; `tables` picks the default datasets.
    fn config(
        self,
        tables: bool,
        work: &std::path::Path,
    ) -> anyhow::Result<bench::datasets::DatasetsConfig> {
        let cache = std::env::var("NAS_CACHE").unwrap_or_else(|_| "/var/cache/nas".into());
        let dir = std::env::var("NAS_DATASETS").unwrap_or_else(|_| format!("{cache}/datasets"));
        let defaults: &[&str] = if tables {
            &[
                "letter.csv:lettr",
                "satellite.csv:classes",
                "diabetes.csv:progression",
            ]
        } else {
            &[
                "ucr/GunPoint_TRAIN.ts",
                "ucr/ItalyPowerDemand_TRAIN.ts",
                "ucr/ArrowHead_TRAIN.ts",
                "ucr/BasicMotions_TRAIN.ts",
            ]
        };
        let names: Vec<String> = if self.datasets.is_empty() {
            defaults.iter().map(|d| format!("{dir}/{d}")).collect()
        } else {
            self.datasets
        };
        let datasets = names
            .iter()
            .map(|d| match d.rsplit_once(':') {
                Some((path, target)) if tables => bench::datasets::BenchData {
                    path: PathBuf::from(path),
                    target: Some(target.to_string()),
                },
                _ => bench::datasets::BenchData {
                    path: PathBuf::from(d),
                    target: None,
                },
            })
            .collect();
        Ok(bench::datasets::DatasetsConfig {
            nas: std::env::current_exe().context("finding the nas binary")?,
            python: PathBuf::from(format!("{cache}/data-venv/bin/python")),
            script: PathBuf::from("scripts/bench_baselines.py"),
            datasets,
            budget: self.budget,
            seed: self.seed,
            work: self.work.unwrap_or_else(|| work.to_path_buf()),
        })
    }
}

/// A fresh folder for a dataset benchmark's searches, kept for inspection.
fn bench_work(kind: &str) -> PathBuf {
    std::env::temp_dir().join(format!("nas-bench-{kind}-{}", std::process::id()))
}

pub async fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    let report = match command {
        BenchCommand::Fidelity(args) => {
            let config = args.config()?;
            eprintln!("searches in {}", config.work.display());
            tokio::task::spawn_blocking(move || config.run())
                .await??
                .to_string()
        }
        BenchCommand::Tabular(args) => {
            let config = args.config(true, &bench_work("tabular"))?;
            eprintln!("searches and splits in {}", config.work.display());
            tokio::task::spawn_blocking(move || bench::datasets::tabular(&config))
                .await??
                .to_string()
        }
        BenchCommand::Timeseries(args) => {
            let config = args.config(false, &bench_work("timeseries"))?;
            eprintln!("searches in {}", config.work.display());
            tokio::task::spawn_blocking(move || bench::datasets::timeseries(&config))
                .await??
                .to_string()
        }
        BenchCommand::Surrogate(args) => return super::surrogate::bench(args),
        BenchCommand::Dashboard {
            queue,
            evaluations,
            repeats,
            seed,
            keep,
        } => {
            let config = bench::dashboard::DashboardBench {
                evaluations,
                repeats,
                seed,
                keep,
            };
            bench::dashboard::run(&queue.target()?, &config)
                .await?
                .to_string()
        }
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
            nb201_dir,
            timeout_secs,
            trainer: TrainerKind::Python,
            worker,
            ..
        } => {
            let worker = worker.unwrap_or_else(|| {
                let python = bench::train::default_python();
                python.with_file_name("nas-worker")
            });
            let config = bench::python::PythonBenchConfig {
                jobs,
                slots,
                worker,
                nb201_dir: nb201_dir.unwrap_or_else(nb201::default_dir),
                limit: Duration::from_secs(timeout_secs),
            };
            bench::python::run(&queue.target()?, &config)
                .await?
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
            ..
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
            budgets,
            seeds,
            seed_offset,
            strategies,
            plot,
            parallel,
            slots,
            nb201_dir,
            timeout_secs,
            regret,
        } => {
            let budget = budget.unwrap_or_else(|| budgets.iter().copied().max().unwrap_or(100));
            let config = bench::search::SearchBenchConfig {
                ranker: Some(super::ranker::embedded()?),
                regret,
                space,
                dataset: dataset
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--dataset {dataset}: {e}"))?,
                budget,
                budgets,
                seeds,
                seed_offset,
                strategies,
                parallel,
                slots,
                nb201_dir: nb201_dir.unwrap_or_else(nb201::default_dir),
                limit: Duration::from_secs(timeout_secs),
            };
            let report = bench::search::run(&queue.target()?, &config).await?;
            if let Some(stem) = plot {
                let curves = report.curves();
                let png = stem.with_extension("png");
                let svg = stem.with_extension("svg");
                export::curves::png(&curves, &png)?;
                std::fs::write(&svg, export::curves::svg(&curves)?)
                    .with_context(|| format!("writing {}", svg.display()))?;
                eprintln!("plot: {} and {}", png.display(), svg.display());
            }
            report.to_string()
        }
    };
    writeln!(std::io::stdout().lock(), "{report}")?;
    Ok(ExitCode::SUCCESS)
}

/// This executable, whose `trainer` subcommand the scaling benchmark starts.
fn current_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find this executable to start `nas trainer` from")
}
