//! `nas bench fidelity`: a multi-fidelity search (ASHA over regularized
//! evolution) against plain evolution at full fidelity, on real data with
//! real training, at about the same trainer time, in one run.
//!
//! Per seed, both searches run as `nas search --config` (child processes
//! of the same binary, one after the other) from the CPU-sized evolution
//! spec of the dataset: the plain one trains every candidate the whole
//! `max` epochs; the ASHA one climbs rungs `max/η²`, `max/η`, `max`,
//! continuing from checkpoints. Both retrain their winner with the same
//! final settings and score the test set. Reported per seed and as means:
//! the winners' test scores, the trainer time each search spent (the sum
//! of its search jobs' training and checkpoint-loading seconds) and its
//! ratio, candidates, and the promoted rungs' checkpoint loading time as a
//! share of their training time.

use crate::datasets::{output, search_state};
use crate::{BenchError, Result};
use queue::Outcome;
use scheduler::fidelity::{FidelitySpec, RungScheduler};
use scheduler::state::Stage;
use scheduler::SearchSpec;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Settings of a run.
#[derive(Debug, Clone)]
pub struct FidelityBench {
    /// The `nas` binary (the running one).
    pub nas: PathBuf,
    /// The CPU-sized evolution spec of the dataset (its settings' epochs
    /// are the proxy's).
    pub base: SearchSpec,
    /// Full fidelity: epochs of the plain search and of the top rung, as a
    /// multiple of the proxy's epochs.
    pub max_proxies: f64,
    /// The reduction factor η.
    pub eta: u32,
    /// Candidates of the plain search.
    pub plain_budget: usize,
    /// Candidates of the ASHA search.
    pub asha_budget: usize,
    /// Epochs of the final retraining (both searches).
    pub final_epochs: f64,
    /// Training samples of the final retraining.
    pub final_subset: usize,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Trainer slots of each search.
    pub slots: usize,
    /// Where the searches keep their results.
    pub work: PathBuf,
}

/// One search's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// The winner's test score (accuracy, percent).
    pub test: f64,
    /// Its validation score at its highest rung.
    pub val: f64,
    /// Trainer seconds of the search jobs.
    pub trainer_seconds: f64,
    /// Candidates evaluated.
    pub candidates: u64,
    /// Search jobs (rungs included).
    pub jobs: usize,
    /// Promoted jobs that continued from a checkpoint.
    pub resumed: usize,
    /// Their checkpoint loading seconds, and their training seconds.
    pub resume_seconds: f64,
    /// Training seconds of the resumed jobs.
    pub resumed_train_seconds: f64,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct FidelityReport {
    /// The dataset.
    pub data: String,
    /// The ladder.
    pub levels: Vec<f64>,
    /// Per seed: (seed, plain, asha).
    pub runs: Vec<(u64, Arm, Arm)>,
}

impl FidelityBench {
    /// The spec of one arm.
    fn spec(&self, asha: bool, seed: u64) -> Result<SearchSpec> {
        let mut spec = self.base.clone();
        let (queue::wire::EvaluatorSpec::Torch { settings, .. }, Some(last)) =
            (&mut spec.evaluator, spec.final_stage.as_mut())
        else {
            return Err(BenchError::Incomplete(
                "the base spec has no torch evaluator and final stage".into(),
            ));
        };
        let max = settings.epochs * self.max_proxies;
        settings.epochs = max;
        last.settings.epochs = self.final_epochs;
        last.settings.train_subset = Some(self.final_subset);
        spec.seed = seed;
        spec.parallel = self.slots;
        if asha {
            let eta = self.eta as f64;
            spec.fidelity = Some(FidelitySpec {
                eta: self.eta,
                ..FidelitySpec::new(RungScheduler::Asha, max / (eta * eta), max)
            });
            spec.budget = self.asha_budget;
            spec.name = Some(format!("asha seed {seed}"));
        } else {
            spec.budget = self.plain_budget;
            spec.name = Some(format!("plain seed {seed}"));
        }
        spec.validate()
            .map_err(|e| BenchError::Incomplete(e.to_string()))?;
        Ok(spec)
    }

    /// Run one arm; its figures.
    fn arm(&self, asha: bool, seed: u64) -> Result<Arm> {
        let spec = self.spec(asha, seed)?;
        let name = format!("{}-{seed}", if asha { "asha" } else { "plain" });
        let results = self.work.join(&name);
        let _ = std::fs::remove_dir_all(&results);
        std::fs::create_dir_all(&results).map_err(|source| BenchError::Io {
            what: "creating the results folder".into(),
            source,
        })?;
        let path = self.work.join(format!("{name}.json"));
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&spec).unwrap_or_default(),
        )
        .map_err(|source| BenchError::Io {
            what: "writing the spec".into(),
            source,
        })?;
        eprintln!("{name}: nas search --config {}", path.display());
        let mut cmd = Command::new(&self.nas);
        cmd.arg("search")
            .arg("--config")
            .arg(&path)
            .arg("--results")
            .arg(&results)
            .arg("--slots")
            .arg(self.slots.to_string());
        output(&mut cmd, &format!("nas search ({name})"))?;
        let state = search_state(&results)?;
        let evals = evaluations(&results.join(&state.id).join("evaluations.jsonl"))?;
        arm_of(&state, &evals)
    }

    /// Both searches for every seed.
    pub fn run(&self) -> Result<FidelityReport> {
        let mut runs = Vec::new();
        for &seed in &self.seeds {
            let plain = self.arm(false, seed)?;
            let asha = self.arm(true, seed)?;
            eprintln!(
                "seed {seed}: plain test {:.2} in {:.0} s, asha test {:.2} in {:.0} s",
                plain.test, plain.trainer_seconds, asha.test, asha.trainer_seconds
            );
            runs.push((seed, plain, asha));
        }
        let data = self
            .base
            .evaluator
            .data()
            .map_or(String::new(), |d| d.path.clone());
        let levels = self
            .spec(true, 0)?
            .fidelity
            .map_or(Vec::new(), |f| f.levels());
        Ok(FidelityReport { data, levels, runs })
    }
}

/// Every line of an evaluations log.
fn evaluations(path: &Path) -> Result<Vec<scheduler::Evaluation>> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// One search's figures from its state and evaluations.
fn arm_of(state: &scheduler::SearchState, evals: &[scheduler::Evaluation]) -> Result<Arm> {
    let winner = state
        .winner()
        .ok_or_else(|| BenchError::Incomplete(format!("search {} has no winner", state.id)))?;
    let (Outcome::Ok(w), Some(best)) = (&winner.outcome, state.best.as_ref()) else {
        return Err(BenchError::Incomplete(format!(
            "search {}'s winner has no scores",
            state.id
        )));
    };
    let mut arm = Arm {
        test: w.test_acc.unwrap_or(f64::NAN),
        val: best.val_acc().unwrap_or(f64::NAN),
        trainer_seconds: 0.0,
        candidates: state.finished(),
        jobs: 0,
        resumed: 0,
        resume_seconds: 0.0,
        resumed_train_seconds: 0.0,
    };
    for e in evals.iter().filter(|e| e.stage == Stage::Search) {
        arm.jobs += 1;
        if let Outcome::Ok(m) = &e.outcome {
            let load = m.resume_seconds.unwrap_or(0.0);
            arm.trainer_seconds += m.train_seconds + load;
            if m.resumed_from.is_some() {
                arm.resumed += 1;
                arm.resume_seconds += load;
                arm.resumed_train_seconds += m.train_seconds;
            }
        }
    }
    Ok(arm)
}

fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

impl fmt::Display for FidelityReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ladder: Vec<String> = self.levels.iter().map(|l| format!("{l:.3}")).collect();
        writeln!(
            f,
            "fidelity benchmark on {} (ASHA rungs {} epochs)",
            self.data,
            ladder.join(" / ")
        )?;
        writeln!(
            f,
            "{:>5} | {:>10} {:>9} {:>5} | {:>10} {:>9} {:>5} {:>5} {:>8} | {:>10}",
            "seed",
            "plain test",
            "trainer s",
            "cands",
            "asha test",
            "trainer s",
            "cands",
            "jobs",
            "resume %",
            "time ratio"
        )?;
        for (seed, p, a) in &self.runs {
            writeln!(
                f,
                "{seed:>5} | {:>10.2} {:>9.1} {:>5} | {:>10.2} {:>9.1} {:>5} {:>5} {:>8.2} | {:>10.3}",
                p.test,
                p.trainer_seconds,
                p.candidates,
                a.test,
                a.trainer_seconds,
                a.candidates,
                a.jobs,
                100.0 * a.resume_seconds / a.resumed_train_seconds.max(1e-9),
                a.trainer_seconds / p.trainer_seconds.max(1e-9)
            )?;
        }
        let plain = mean(self.runs.iter().map(|r| r.1.test));
        let asha = mean(self.runs.iter().map(|r| r.2.test));
        let ratio = mean(
            self.runs
                .iter()
                .map(|r| r.2.trainer_seconds / r.1.trainer_seconds.max(1e-9)),
        );
        let load: f64 = self.runs.iter().map(|r| r.2.resume_seconds).sum();
        let trained: f64 = self.runs.iter().map(|r| r.2.resumed_train_seconds).sum();
        writeln!(
            f,
            "checkpoint loading: {:.3} s over {} promoted jobs, {:.2} % of their training time",
            load,
            self.runs.iter().map(|r| r.2.resumed).sum::<usize>(),
            100.0 * load / trained.max(1e-9)
        )?;
        write!(
            f,
            "mean test: asha {asha:.2} vs plain {plain:.2} (difference {:+.2}) at {ratio:.3} of plain's trainer time",
            asha - plain
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_arm_counts_trainer_time_and_resumes_from_its_evaluations() {
        let spec = SearchSpec::parse(
            "budget = 2\n[space]\nkind = \"nb201\"\n[strategy]\nstrategy = \"random\"\n[evaluator.torch]\ndata = \"/d\"\n[final]\ntop_k = 1\n",
            false,
        )
        .unwrap();
        let mut state = scheduler::SearchState::new("s".into(), spec).unwrap();
        let scores = |train: f64, resumed: Option<f64>, test: Option<f64>| queue::Scores {
            val_acc: 50.0,
            train_seconds: train,
            resumed_from: resumed,
            resume_seconds: resumed.map(|_| 0.5),
            test_acc: test,
            ..queue::Scores::default()
        };
        let eval = |stage, m| scheduler::Evaluation {
            index: 0,
            stage,
            job_id: "s.0000000001".into(),
            hash: "00".into(),
            genotype: "g".into(),
            outcome: Outcome::Ok(m),
            attempt: 1,
            worker: "w".into(),
            finished_ms: 0,
            elapsed_ms: 0,
            queued_ms: 0,
            consumed_ms: 0,
            rung: None,
        };
        let evals = vec![
            eval(Stage::Search, scores(10.0, None, None)),
            eval(Stage::Search, scores(20.0, Some(1.0), None)),
            eval(Stage::Final, scores(99.0, None, Some(88.0))),
        ];
        state.best = Some(evals[1].clone());
        state.finals.push(evals[2].clone());
        state.evaluated = 2;
        let arm = arm_of(&state, &evals).unwrap();
        assert_eq!(arm.test, 88.0);
        assert_eq!(arm.trainer_seconds, 30.5, "final retraining not counted");
        assert_eq!((arm.jobs, arm.resumed, arm.candidates), (2, 1, 2));
        assert_eq!((arm.resume_seconds, arm.resumed_train_seconds), (0.5, 20.0));
    }
}
