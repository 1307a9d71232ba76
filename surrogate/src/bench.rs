//! How well the surrogate ranks architectures it was not fitted on: fit on
//! N random NAS-Bench-201 cells (target: the table's seed-mean validation
//! accuracy), score 1,000 other cells, and report Kendall's tau-b and
//! Spearman's rho against the table, averaged over seeds; then time scoring
//! 10,000 candidates against the fits of the same run.
//!
//! [`run`] loads the table; [`measure`] does the work on any pool of
//! (genotype, accuracy) pairs, which is what the tests use.

use crate::predictor::{FitConfig, PredictorKind, Surrogate};
use crate::rank_corr::{kendall_tau_b, spearman_rho};
use crate::SurrogateError;
use nb201::{Dataset, Table};
use rand::seq::SliceRandom;
use space::{Genotype, SpaceKind};
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

/// What to measure.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Folder of the converted tables.
    pub nb201_dir: PathBuf,
    /// Which dataset's accuracies.
    pub dataset: Dataset,
    /// Training-set sizes N.
    pub train: Vec<usize>,
    /// Fits per N, seeds 0..seeds.
    pub seeds: u64,
    /// Which predictors, side by side.
    pub predictors: Vec<PredictorKind>,
    /// Held-out cells per fit.
    pub holdout: usize,
    /// Candidates in the timed ranking.
    pub rank_candidates: usize,
    /// How each predictor is fitted.
    pub fit: FitConfig,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            nb201_dir: nb201::default_dir(),
            dataset: Dataset::Cifar10,
            train: vec![50, 100, 200, 400],
            seeds: 3,
            predictors: PredictorKind::ALL.to_vec(),
            holdout: 1000,
            rank_candidates: 10_000,
            fit: FitConfig::default(),
        }
    }
}

/// Mean and standard deviation over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stat {
    /// Mean.
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
}

impl Stat {
    fn of(values: &[f64]) -> Self {
        let n = values.len().max(1) as f64;
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        Self {
            mean,
            std: var.sqrt(),
        }
    }
}

/// The figures for one training-set size.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// N.
    pub train: usize,
    /// Kendall's tau-b on the held-out cells.
    pub tau: Stat,
    /// Spearman's rho on the held-out cells.
    pub rho: Stat,
    /// Seconds per fit.
    pub fit_secs: Stat,
    /// Epochs per fit (mean over members).
    pub epochs: Stat,
}

/// One predictor's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictorReport {
    /// Which predictor.
    pub predictor: PredictorKind,
    /// One row per N.
    pub rows: Vec<Row>,
    /// Candidates scored in the timed ranking.
    pub rank_candidates: usize,
    /// Seconds to score them with the last fit of the largest N.
    pub rank_secs: f64,
    /// That fit's seconds.
    pub reference_fit_secs: f64,
}

/// A whole run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// Which dataset.
    pub dataset: Dataset,
    /// Seeds per size.
    pub seeds: u64,
    /// Held-out cells per fit.
    pub holdout: usize,
    /// Per predictor, in the order asked.
    pub predictors: Vec<PredictorReport>,
}

impl BenchReport {
    /// The figures of `kind`, if it ran.
    pub fn of(&self, kind: PredictorKind) -> Option<&PredictorReport> {
        self.predictors.iter().find(|p| p.predictor == kind)
    }
}

/// Load the table and measure.
pub fn run(config: &BenchConfig) -> Result<BenchReport, SurrogateError> {
    let table = Table::load_dataset(&config.nb201_dir, config.dataset)?;
    let pool: Vec<(Genotype, f64)> = table
        .iter()
        .map(|(cell, entry)| (Genotype::Nb201(cell), entry.mean_val_acc()))
        .collect();
    measure(&pool, config)
}

/// Measure every predictor on `pool` (genotypes of one space with their
/// accuracies), on the same splits.
pub fn measure(
    pool: &[(Genotype, f64)],
    config: &BenchConfig,
) -> Result<BenchReport, SurrogateError> {
    if config.predictors.is_empty() {
        return Err(SurrogateError::Config(
            "the bench needs at least one predictor".into(),
        ));
    }
    let predictors = config
        .predictors
        .iter()
        .map(|&p| measure_one(pool, config, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BenchReport {
        dataset: config.dataset,
        seeds: config.seeds,
        holdout: config.holdout,
        predictors,
    })
}

fn measure_one(
    pool: &[(Genotype, f64)],
    config: &BenchConfig,
    predictor: PredictorKind,
) -> Result<PredictorReport, SurrogateError> {
    let largest = config.train.iter().copied().max().unwrap_or(0);
    if config.train.is_empty() || config.seeds == 0 || largest + config.holdout > pool.len() {
        return Err(SurrogateError::Config(format!(
            "the bench needs at least one size and one seed, and N + holdout <= {} cells (largest N {largest}, holdout {})",
            pool.len(),
            config.holdout
        )));
    }
    let space = pool[0].0.kind();
    let mut rows = Vec::new();
    let mut reference: Option<(Surrogate, f64)> = None;
    for &n in &config.train {
        let (mut taus, mut rhos, mut secs, mut epochs) = (vec![], vec![], vec![], vec![]);
        for seed in 0..config.seeds {
            let (train, held) = split(pool, n, config.holdout, seed);
            let started = Instant::now();
            let model = Surrogate::fit(predictor, space, &train, &config.fit, seed)?;
            let fit_secs = started.elapsed().as_secs_f64();
            let (tau, rho) = quality(&model, &held)?;
            tracing::info!(%predictor, n, seed, tau, rho, fit_secs, "surrogate bench fit");
            taus.push(tau);
            rhos.push(rho);
            secs.push(fit_secs);
            let run = model.epochs_run();
            epochs.push(run.iter().sum::<usize>() as f64 / run.len().max(1) as f64);
            if n == largest {
                reference = Some((model, fit_secs));
            }
        }
        rows.push(Row {
            train: n,
            tau: Stat::of(&taus),
            rho: Stat::of(&rhos),
            fit_secs: Stat::of(&secs),
            epochs: Stat::of(&epochs),
        });
    }
    let (model, reference_fit_secs) = reference.expect("the largest N was fitted");
    let candidates: Vec<Genotype> = pool
        .iter()
        .cycle()
        .take(config.rank_candidates)
        .map(|(g, _)| g.clone())
        .collect();
    let started = Instant::now();
    let scores = model.predict(&candidates)?;
    let rank_secs = started.elapsed().as_secs_f64();
    debug_assert_eq!(scores.len(), candidates.len());
    Ok(PredictorReport {
        predictor,
        rows,
        rank_candidates: candidates.len(),
        rank_secs,
        reference_fit_secs,
    })
}

/// Genotypes with their accuracies.
type Pairs = Vec<(Genotype, f64)>;

/// `n` training pairs and `holdout` others, disjoint, drawn for `seed`.
fn split(pool: &[(Genotype, f64)], n: usize, holdout: usize, seed: u64) -> (Pairs, Pairs) {
    let mut order: Vec<usize> = (0..pool.len()).collect();
    order.shuffle(&mut space::rng(seed));
    let pick = |ix: &[usize]| ix.iter().map(|&i| pool[i].clone()).collect();
    (pick(&order[..n]), pick(&order[n..n + holdout]))
}

/// Tau-b and rho of `model`'s scores against `held`'s accuracies (0 where
/// undefined, as for constant predictions).
pub fn quality(model: &Surrogate, held: &[(Genotype, f64)]) -> Result<(f64, f64), SurrogateError> {
    let genotypes: Vec<Genotype> = held.iter().map(|(g, _)| g.clone()).collect();
    let truth: Vec<f64> = held.iter().map(|(_, a)| *a).collect();
    let predicted: Vec<f64> = model.predict(&genotypes)?.iter().map(|s| s.mean).collect();
    Ok((
        kendall_tau_b(&predicted, &truth).unwrap_or(0.0),
        spearman_rho(&predicted, &truth).unwrap_or(0.0),
    ))
}

impl fmt::Display for BenchReport {
    /// A markdown table, then the timing line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "surrogate predictors on nb201 {}: {} held-out cells, mean +- std over {} seeds, the same splits for every predictor",
            self.dataset, self.holdout, self.seeds
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| predictor | encoding | N | Kendall tau-b | Spearman rho | fit s | epochs |"
        )?;
        writeln!(f, "|---|---|---:|---:|---:|---:|---:|")?;
        for p in &self.predictors {
            for r in &p.rows {
                writeln!(
                    f,
                    "| {} | {} | {} | {:.3} +- {:.3} | {:.3} +- {:.3} | {:.2} | {:.0} |",
                    p.predictor,
                    encoding_name(p.predictor),
                    r.train,
                    r.tau.mean,
                    r.tau.std,
                    r.rho.mean,
                    r.rho.std,
                    r.fit_secs.mean,
                    r.epochs.mean
                )?;
            }
        }
        for p in &self.predictors {
            writeln!(f)?;
            write!(
                f,
                "{}: ranking {} candidates: {:.3} s ({:.0} candidates/s), {:.1}x faster than the fit it used ({:.2} s)",
                p.predictor,
                p.rank_candidates,
                p.rank_secs,
                p.rank_candidates as f64 / p.rank_secs.max(1e-9),
                p.reference_fit_secs / p.rank_secs.max(1e-9),
                p.reference_fit_secs
            )?;
        }
        Ok(())
    }
}

/// How a predictor sees a genotype, for the report.
fn encoding_name(kind: PredictorKind) -> &'static str {
    match kind {
        PredictorKind::Lstm => "token sequence",
        PredictorKind::Mlp => "mean of token-group embeddings",
        PredictorKind::OneHot => "adjacency + op one-hot",
        PredictorKind::Path => "live paths + live edges + op counts",
    }
}

/// The space the bench runs on: only NAS-Bench-201 has a table.
pub fn check_space(space: SpaceKind) -> Result<(), SurrogateError> {
    if space == SpaceKind::Nb201 {
        Ok(())
    } else {
        Err(SurrogateError::Config(format!(
            "the surrogate bench needs a table of true accuracies, which only nb201 has (not {space})"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use space::Nb201Cell;

    /// A synthetic table: convolutions help, `none` hurts.
    fn pool() -> Vec<(Genotype, f64)> {
        Nb201Cell::enumerate()
            .map(|c| {
                let acc = c
                    .edges
                    .iter()
                    .map(|op| [-8.0, 1.0, 2.0, 4.0, 0.0][op.index()])
                    .sum::<f64>();
                (Genotype::Nb201(c), 60.0 + acc)
            })
            .collect()
    }

    #[test]
    fn the_bench_reports_every_size_and_the_ranking_time() {
        let config = BenchConfig {
            train: vec![30, 60],
            seeds: 2,
            holdout: 200,
            rank_candidates: 500,
            fit: FitConfig {
                embedding: 16,
                hidden: 16,
                epochs: 30,
                dense_epochs: 30,
                learning_rate: 0.01,
                ..FitConfig::default()
            },
            ..BenchConfig::default()
        };
        let report = measure(&pool(), &config).unwrap();
        assert_eq!(report.predictors.len(), 4);
        for p in &report.predictors {
            assert_eq!(p.rows.len(), 2);
            assert_eq!(p.rank_candidates, 500);
            assert!(p.rows[1].tau.mean > 0.5, "{report}");
            assert!(p.rows[1].rho.mean > p.rows[1].tau.mean, "{report}");
        }
        let text = report.to_string();
        assert!(
            text.contains("| path | live paths + live edges + op counts | 60 | "),
            "{text}"
        );
        assert!(text.contains("lstm: ranking 500 candidates: "), "{text}");
        let too_many = BenchConfig {
            train: vec![16_000],
            ..config
        };
        let err = measure(&pool(), &too_many).unwrap_err().to_string();
        assert!(err.contains("N + holdout <= 15625 cells"), "{err}");
    }
}
