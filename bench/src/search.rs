//! `nas bench search`: how good an architecture each strategy finds on the
//! NAS-Bench-201 table at a fixed budget, through the real queue path
//! (in-process scheduler and trainer, candidates evaluated by table lookup
//! with no simulated training).
//!
//! Each strategy runs once per seed `offset..offset + seeds`, all searches
//! at once. A search's answer is the candidate with the highest observed
//! validation accuracy (one training seed's figure, as a real search would
//! see); its quality is that architecture's validation accuracy averaged
//! over the table's training seeds ([`nb201::Table::mean_val_acc`]), so a
//! lucky seed does not flatter it. Reported per strategy: mean and standard
//! deviation of the quality over seeds, beside the table's optimum, and
//! each strategy's lead over random search, the baseline; the quality of
//! the pick after the first n results for each n of `budgets`, from the
//! same runs; and, when asked, a plot of the mean pick against evaluations
//! with a band of one standard deviation ([`SearchReport::curves`]).
//!
//! Strategies are named as in a search spec (`random`, `evolution`), with
//! their default settings; settings follow the name after colons
//! (`bananas:acquisition=ucb`, `surrogate:predictor=path`). Any strategy
//! the scheduler learns is available here by its name.

use crate::services::{ServiceConfig, Services};
use crate::stats::mean_std;
use crate::throughput::check_table;
use crate::workspace::within;
use crate::{BenchError, Result, Target, Workspace};
use queue::wire::EvaluatorSpec;
use scheduler::strategy::StrategySpec;
use scheduler::SearchSpec;
use space::{Genotype, Space, SpaceKind};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The strategy the others are compared with.
pub const BASELINE: &str = "random";

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct SearchBenchConfig {
    /// The space; the table evaluator needs nb201.
    pub space: SpaceKind,
    /// Whose table evaluates the candidates.
    pub dataset: nb201::Dataset,
    /// Candidates per search.
    pub budget: usize,
    /// Seeds `seed_offset..seed_offset + seeds` per strategy.
    pub seeds: u64,
    /// The first seed.
    pub seed_offset: u64,
    /// Report the pick's quality after this many results, each (all at
    /// most `budget`); empty: at `budget` only.
    pub budgets: Vec<usize>,
    /// Strategy names, as in a search spec.
    pub strategies: Vec<String>,
    /// Candidates each search keeps queued or running.
    pub parallel: usize,
    /// The trainer's job slots.
    pub slots: usize,
    /// Where the converted NAS-Bench-201 tables are.
    pub nb201_dir: PathBuf,
    /// The whole run must end within this.
    pub limit: Duration,
    /// The surrogate ranking strategies (surrogate, pnas) ask.
    pub ranker: Option<std::sync::Arc<dyn scheduler::rank::Ranker>>,
    /// A search has found a good architecture once it is within this many
    /// points of the optimum; the report counts the evaluations it took.
    pub regret: f64,
}

/// Evaluations until the best candidate so far (by observed accuracy) is
/// within `regret` points of the optimum by its seed-averaged accuracy;
/// `None` if the search never got there.
pub fn evaluations_to_regret(
    evals: &[scheduler::Evaluation],
    table: &nb201::Table,
    regret: f64,
) -> Option<usize> {
    let optimum = table.optimum().1;
    let mut best: Option<(f64, f64)> = None;
    for (i, e) in evals.iter().enumerate() {
        let (Some(observed), Ok(Genotype::Nb201(cell))) =
            (e.val_acc(), Space::Nb201.parse(&e.genotype))
        else {
            continue;
        };
        if best.is_none_or(|(b, _)| observed > b) {
            best = Some((observed, table.mean_val_acc(&cell)));
        }
        if best.is_some_and(|(_, q)| optimum - q <= regret + 1e-9) {
            return Some(i + 1);
        }
    }
    None
}

/// Per number of results n = 1..=`budget`, the seed-averaged accuracy of
/// the candidate with the best observed accuracy among the first n (`None`
/// until one has an accuracy).
pub fn quality_curve(
    evals: &[scheduler::Evaluation],
    table: &nb201::Table,
    budget: usize,
) -> Vec<Option<f64>> {
    let mut best: Option<(f64, f64)> = None;
    let mut curve = Vec::with_capacity(budget);
    for n in 0..budget {
        if let Some(e) = evals.get(n) {
            if let (Some(observed), Ok(Genotype::Nb201(cell))) =
                (e.val_acc(), Space::Nb201.parse(&e.genotype))
            {
                if best.is_none_or(|(b, _)| observed > b) {
                    best = Some((observed, table.mean_val_acc(&cell)));
                }
            }
        }
        curve.push(best.map(|(_, q)| q));
    }
    curve
}

/// A strategy by its spec name, with its default settings, or with
/// settings after colons: `bananas:acquisition=ucb:init=20`. A value is
/// read as JSON when it parses (numbers, booleans), else as a string.
pub fn strategy(name: &str) -> Result<StrategySpec> {
    let mut parts = name.split(':');
    let mut spec = serde_json::Map::new();
    spec.insert("strategy".into(), parts.next().unwrap_or_default().into());
    for setting in parts {
        let Some((key, value)) = setting.split_once('=') else {
            return Err(BenchError::Config(format!(
                "strategy {name:?}: {setting:?} is not KEY=VALUE"
            )));
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| value.into());
        spec.insert(key.into(), value);
    }
    serde_json::from_value(serde_json::Value::Object(spec))
        .map_err(|e| BenchError::Config(format!("strategy {name:?}: {e}")))
}

/// One strategy's results.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyResult {
    /// Its name.
    pub name: String,
    /// The quality of its answer, per seed in order.
    pub quality: Vec<f64>,
    /// Mean quality over seeds.
    pub mean: f64,
    /// Sample standard deviation of the quality over seeds.
    pub std: f64,
    /// Per seed, the evaluations it took to come within the regret of the
    /// optimum (`None`: not within the budget).
    pub to_regret: Vec<Option<usize>>,
    /// Per seed, [`quality_curve`] up to the budget.
    pub curves: Vec<Vec<Option<f64>>>,
}

impl StrategyResult {
    /// Median evaluations to the regret, counting searches that never got
    /// there as budget + 1 (so the median is exact while half succeed).
    pub fn median_to_regret(&self, budget: usize) -> f64 {
        let mut v: Vec<usize> = self
            .to_regret
            .iter()
            .map(|n| n.unwrap_or(budget + 1))
            .collect();
        v.sort_unstable();
        let n = v.len();
        if n == 0 {
            return f64::NAN;
        }
        if n % 2 == 1 {
            v[n / 2] as f64
        } else {
            (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
        }
    }

    /// How many searches came within the regret.
    pub fn reached(&self) -> usize {
        self.to_regret.iter().filter(|n| n.is_some()).count()
    }

    /// Mean and sample standard deviation over seeds of the pick's quality
    /// after the first `n` results (seeds without an accuracy by then left
    /// out); `None` when no seed has one.
    pub fn at(&self, n: usize) -> Option<(f64, f64)> {
        let values: Vec<f64> = (self.curves.iter())
            .filter_map(|c| c.get(n.checked_sub(1)?).copied().flatten())
            .collect();
        mean_std(&values)
    }
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchReport {
    /// The run's key prefix (deleted at the end).
    pub prefix: String,
    /// The table's dataset.
    pub dataset: nb201::Dataset,
    /// Candidates per search.
    pub budget: usize,
    /// Seeds per strategy.
    pub seeds: u64,
    /// Candidates in flight per search.
    pub parallel: usize,
    /// The best seed-averaged validation accuracy in the table.
    pub optimum: f64,
    /// Per strategy, in the order asked.
    pub results: Vec<StrategyResult>,
    /// The regret the evaluation counts refer to.
    pub regret: f64,
    /// The first seed.
    pub seed_offset: u64,
    /// The result counts the quality is reported at.
    pub budgets: Vec<usize>,
}

impl SearchReport {
    /// The mean pick against evaluations per strategy, with a band of one
    /// standard deviation, and the optimum: what `--plot` draws.
    pub fn curves(&self) -> export::curves::Curves {
        let curves = (self.results.iter())
            .map(|r| export::curves::Curve {
                name: r.name.clone(),
                points: (1..=self.budget)
                    .filter_map(|n| {
                        let (m, sd) = r.at(n)?;
                        let sd = if sd.is_finite() { sd } else { 0.0 };
                        Some((n as f64, m, m - sd, m + sd))
                    })
                    .collect(),
            })
            .collect();
        export::curves::Curves {
            title: format!(
                "NAS-Bench-201 {}: mean pick over seeds {}..{} (band: one sd)",
                self.dataset,
                self.seed_offset,
                self.seed_offset + self.seeds.saturating_sub(1)
            ),
            x_desc: "evaluations".into(),
            y_desc: "seed-averaged val acc of the pick (%)".into(),
            curves,
            reference: Some(("optimum".into(), self.optimum)),
            y_range: Some((self.optimum - 3.0, self.optimum + 0.3)),
        }
    }

    /// Each strategy's lead over the baseline in mean quality (percentage
    /// points), when the baseline ran.
    pub fn leads(&self) -> Vec<(&str, f64, f64)> {
        let Some(base) = self.results.iter().find(|r| r.name == BASELINE) else {
            return Vec::new();
        };
        self.results
            .iter()
            .filter(|r| r.name != BASELINE)
            .map(|r| (r.name.as_str(), r.mean - base.mean, r.mean / base.mean))
            .collect()
    }
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "search benchmark: nb201 on {}, budget {}, seeds {}..{}, {} candidates in flight per search",
            self.dataset,
            self.budget,
            self.seed_offset,
            self.seed_offset + self.seeds.saturating_sub(1),
            self.parallel
        )?;
        writeln!(
            f,
            "  driven by: scheduler::run and trainer::run in this process, candidates looked up in the table (time_scale 0), key prefix {}",
            self.prefix
        )?;
        writeln!(
            f,
            "  quality: seed-averaged val_acc of the candidate with the best observed val_acc"
        )?;
        let w = (self.results.iter())
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(12);
        writeln!(
            f,
            "  {:<w$} {:>8} {:>7} {:>10} {:>8} {:>22}",
            "strategy",
            "mean",
            "std",
            "/optimum",
            "regret",
            format!("evals to {:.1} (reached)", self.regret)
        )?;
        for r in &self.results {
            writeln!(
                f,
                "  {:<w$} {:>8.3} {:>7.3} {:>10.4} {:>8.3} {:>14} ({:>2}/{:<2})",
                r.name,
                r.mean,
                r.std,
                r.mean / self.optimum,
                self.optimum - r.mean,
                format!("{:.1}", r.median_to_regret(self.budget)),
                r.reached(),
                r.to_regret.len()
            )?;
        }
        writeln!(f, "  {:<w$} {:>8.3}", "optimum", self.optimum)?;
        if !self.budgets.is_empty() {
            write!(f, "  {:<w$}", "pick after")?;
            for b in &self.budgets {
                write!(f, " {:>15}", format!("{b} evals"))?;
            }
            writeln!(f)?;
            for r in &self.results {
                write!(f, "  {:<w$}", r.name)?;
                for &b in &self.budgets {
                    let cell = match r.at(b) {
                        Some((m, sd)) => {
                            format!("{m:.3} ± {:.3}", if sd.is_finite() { sd } else { 0.0 })
                        }
                        None => "-".into(),
                    };
                    write!(f, " {cell:>15}")?;
                }
                writeln!(f)?;
            }
        }
        let leads = self.leads();
        if leads.is_empty() {
            let last = self.results.last().map(|r| (r.name.as_str(), r.mean));
            return match last {
                Some((name, mean)) => write!(
                    f,
                    "{name} quality / optimum: {:.4} (no {BASELINE} baseline in this run)",
                    mean / self.optimum
                ),
                None => write!(f, "no strategies ran"),
            };
        }
        for (i, (name, lead, ratio)) in leads.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{name} lead over {BASELINE}: {lead:+.3} pp (ratio {ratio:.4})"
            )?;
        }
        Ok(())
    }
}

impl SearchBenchConfig {
    /// Check the settings; returns the strategies' specs.
    pub fn specs(&self) -> Result<Vec<StrategySpec>> {
        if self.space != SpaceKind::Nb201 {
            return Err(BenchError::Config(format!(
                "--space {}: the search benchmark evaluates candidates in the NAS-Bench-201 table, so the space must be nb201",
                self.space
            )));
        }
        if self.seeds == 0 {
            return Err(BenchError::Config("--seeds must be at least 1".into()));
        }
        if let Some(b) = self.budgets.iter().find(|&&b| b == 0 || b > self.budget) {
            return Err(BenchError::Config(format!(
                "--budgets {b}: each must be between 1 and the searches' budget {}",
                self.budget
            )));
        }
        if self.strategies.is_empty() {
            return Err(BenchError::Config("--strategies names none".into()));
        }
        let specs = self
            .strategies
            .iter()
            .map(|s| strategy(s))
            .collect::<Result<Vec<_>>>()?;
        for (i, s) in self.strategies.iter().enumerate() {
            if self.strategies[..i].contains(s) {
                return Err(BenchError::Config(format!("--strategies names {s} twice")));
            }
        }
        for spec in &specs {
            self.spec(spec.clone(), 0)
                .validate()
                .map_err(|e| BenchError::Config(e.to_string()))?;
        }
        Ok(specs)
    }

    fn spec(&self, strategy: StrategySpec, seed: u64) -> SearchSpec {
        SearchSpec {
            name: None,
            space: Space::Nb201,
            strategy,
            evaluator: EvaluatorSpec::Nb201 {
                dataset: self.dataset.name().into(),
                time_scale: 0.0,
            },
            budget: self.budget,
            seed,
            parallel: self.parallel,
            final_stage: None,
            fidelity: None,
        }
    }
}

/// Run the benchmark under a fresh prefix on `target`.
pub async fn run(target: &Target, config: &SearchBenchConfig) -> Result<SearchReport> {
    let specs = config.specs()?;
    check_table(&config.nb201_dir, config.dataset)?;
    let table = nb201::Table::load_dataset(&config.nb201_dir, config.dataset)?;
    let ws = Workspace::open(target, "search").await?;
    let body = async {
        let services = Services::start(
            &ws,
            &ServiceConfig {
                slots: config.slots,
                nb201_dir: config.nb201_dir.clone(),
                ranker: config.ranker.clone(),
            },
        )
        .await?;
        let mut all = Vec::new();
        for (name, spec) in config.strategies.iter().zip(&specs) {
            for seed in config.seed_offset..config.seed_offset + config.seeds {
                let mut s = config.spec(spec.clone(), seed);
                s.name = Some(format!("bench {name} seed {seed}"));
                all.push(s);
            }
        }
        let states = within(
            "the search benchmark",
            config.limit,
            services.search_all(all),
        )
        .await;
        // The evaluations are read while the services still run; then
        // they stop before the cleanup, even when the searches failed, so
        // that nothing writes afterwards.
        let read = async {
            let states = states?;
            let mut to_regret_all = Vec::with_capacity(states.len());
            let mut curves_all = Vec::with_capacity(states.len());
            for s in &states {
                let evals = services.evaluations(&s.id).await?;
                to_regret_all.push(evaluations_to_regret(&evals, &table, config.regret));
                curves_all.push(quality_curve(&evals, &table, config.budget));
            }
            Ok::<_, BenchError>((states, to_regret_all, curves_all))
        }
        .await;
        let stopped = services.stop().await;
        let (states, to_regret_all, curves_all) = read?;
        stopped?;
        let mut to_regret_chunks = to_regret_all.chunks(config.seeds as usize);
        let mut curve_chunks = curves_all.chunks(config.seeds as usize);
        let mut results = Vec::new();
        for (name, states) in config
            .strategies
            .iter()
            .zip(states.chunks(config.seeds as usize))
        {
            let quality = states
                .iter()
                .map(|s| {
                    let best = s.best.as_ref().ok_or_else(|| {
                        BenchError::Incomplete(format!("search {} observed no accuracy", s.id))
                    })?;
                    match Space::Nb201.parse(&best.genotype) {
                        Ok(Genotype::Nb201(cell)) => Ok(table.mean_val_acc(&cell)),
                        _ => Err(BenchError::Incomplete(format!(
                            "search {}: best candidate {:?} is not an nb201 cell",
                            s.id, best.genotype
                        ))),
                    }
                })
                .collect::<Result<Vec<f64>>>()?;
            let (mean, std) = mean_std(&quality).unwrap_or((f64::NAN, f64::NAN));
            results.push(StrategyResult {
                name: name.clone(),
                quality,
                mean,
                std,
                to_regret: to_regret_chunks
                    .next()
                    .map(<[_]>::to_vec)
                    .unwrap_or_default(),
                curves: curve_chunks.next().map(<[_]>::to_vec).unwrap_or_default(),
            });
        }
        Ok(SearchReport {
            prefix: ws.prefix().into(),
            dataset: config.dataset,
            budget: config.budget,
            seeds: config.seeds,
            parallel: config.parallel,
            optimum: table.optimum().1,
            results,
            regret: config.regret,
            seed_offset: config.seed_offset,
            budgets: config.budgets.clone(),
        })
    };
    ws.run(body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(strategies: &[&str]) -> SearchBenchConfig {
        SearchBenchConfig {
            space: SpaceKind::Nb201,
            dataset: nb201::Dataset::Cifar10,
            budget: 100,
            seeds: 20,
            seed_offset: 0,
            budgets: vec![25, 50, 100],
            strategies: strategies.iter().map(|s| s.to_string()).collect(),
            parallel: 8,
            slots: 8,
            nb201_dir: PathBuf::from("/nonexistent"),
            limit: Duration::from_secs(60),
            ranker: None,
            regret: 0.3,
        }
    }

    #[test]
    fn strategies_are_named_as_in_a_spec() {
        assert_eq!(strategy("random").unwrap(), StrategySpec::Random);
        assert_eq!(strategy("evolution").unwrap(), StrategySpec::evolution());
        let err = strategy("no_such_strategy").unwrap_err().to_string();
        assert!(err.contains("\"no_such_strategy\""), "{err}");
        assert_eq!(config(&["random", "evolution"]).specs().unwrap().len(), 2);
        assert!(config(&["random", "random"]).specs().is_err());
        assert_eq!(
            strategy("bananas:acquisition=ucb:init=20").unwrap(),
            StrategySpec::Bananas(scheduler::strategy::BananasSettings {
                init: 20,
                acquisition: scheduler::strategy::Acquisition::Ucb,
                ..Default::default()
            })
        );
        let err = strategy("bananas:acquisition").unwrap_err().to_string();
        assert!(err.contains("KEY=VALUE"), "{err}");
        let err = strategy("bananas:acquisition=nope")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
        let mut over = config(&["random"]);
        over.budgets = vec![50, 150];
        let err = over.specs().unwrap_err().to_string();
        assert!(err.contains("--budgets 150"), "{err}");
        let mut darts = config(&["random"]);
        darts.space = SpaceKind::Darts;
        let err = darts.specs().unwrap_err().to_string();
        assert!(err.contains("--space darts"), "{err}");
    }

    #[test]
    fn leads_are_over_random_and_end_the_report() {
        let result = |name: &str, mean: f64| StrategyResult {
            name: name.into(),
            quality: vec![mean; 2],
            mean,
            std: 0.0,
            to_regret: vec![Some(10), None],
            curves: vec![vec![None, Some(mean - 1.0), Some(mean)]; 2],
        };
        let mut report = SearchReport {
            prefix: "p".into(),
            dataset: nb201::Dataset::Cifar10,
            budget: 100,
            seeds: 2,
            parallel: 8,
            optimum: 91.61,
            results: vec![result("random", 90.0), result("evolution", 90.9)],
            regret: 0.3,
            seed_offset: 0,
            budgets: vec![2, 3],
        };
        assert_eq!(report.results[1].at(1), None, "no accuracy yet");
        assert_eq!(report.results[1].at(2), Some((89.9, 0.0)));
        let curves = report.curves();
        assert_eq!(curves.curves[0].points.len(), 2, "n = 2 and 3");
        assert!(report.to_string().contains("89.900 ± 0.000"));
        assert_eq!(
            report.results[0].median_to_regret(100),
            55.5,
            "one at 10, one never (101)"
        );
        assert_eq!(report.results[0].reached(), 1);
        let text = report.to_string();
        assert_eq!(
            text.lines().last().unwrap(),
            "evolution lead over random: +0.900 pp (ratio 1.0100)"
        );
        report.results.remove(0);
        let text = report.to_string();
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("evolution quality / optimum: 0.9922"),
            "{text}"
        );
    }
}
