//! A search's evaluations as the pages need them: cached per search and
//! read from the store only past what the cache holds (the log only grows),
//! then turned into the plots' series (downsampled past [`MAX_POINTS`]),
//! the Pareto front of accuracy against parameters, PNAS's accuracy per
//! level, and the table's sorted pages.

use scheduler::state::Stage;
use scheduler::{Evaluation, Store};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Most points a plot series carries; past it the series is downsampled
/// (every point kept for the best-so-far steps and the front).
pub const MAX_POINTS: usize = 4000;

/// Evaluations read from the store in one call.
const PAGE: usize = 1000;

/// One search's evaluations seen so far, and the version of the search
/// (its `updated_ms`) they were read at.
#[derive(Default)]
pub struct Cached {
    /// The evaluations, in index order.
    pub evals: Vec<Evaluation>,
    read_at: Option<u64>,
}

/// Every search's evaluations seen so far. The store is read past what a
/// search's entry holds only when the search changed since the last read
/// (its `updated_ms`, which every checkpoint that adds evaluations moves),
/// however many requests ask.
#[derive(Default)]
pub struct Cache {
    searches: Mutex<HashMap<String, Arc<Mutex<Cached>>>>,
}

impl Cache {
    /// The evaluations of `id` as of the search's version `updated_ms`,
    /// read past the cache if it holds an older version.
    pub async fn get(
        &self,
        store: &dyn Store,
        id: &str,
        updated_ms: u64,
    ) -> Result<Arc<Mutex<Cached>>, scheduler::StoreError> {
        let entry = self
            .searches
            .lock()
            .await
            .entry(id.to_string())
            .or_default()
            .clone();
        {
            let mut cached = entry.lock().await;
            if cached.read_at != Some(updated_ms) {
                loop {
                    let from = cached.evals.len() as u64;
                    let page = store.evaluations(id, from, PAGE).await?;
                    let n = page.len();
                    cached.evals.extend(page);
                    if n < PAGE {
                        break;
                    }
                }
                cached.read_at = Some(updated_ms);
            }
        }
        Ok(entry)
    }

    /// Forget searches no longer in the store.
    pub async fn retain(&self, live: impl Fn(&str) -> bool) {
        self.searches.lock().await.retain(|id, _| live(id));
    }
}

/// One point of the evaluations plot.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    /// The evaluation's index.
    pub i: u64,
    /// When it finished (ms).
    pub t: u64,
    /// Its validation score.
    pub acc: f64,
    /// Its parameters, where known.
    pub params: Option<u64>,
}

/// The plots of one search.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Series {
    /// Search-stage evaluations with a score.
    pub evaluations: usize,
    /// Whether `points` is a sample of them.
    pub downsampled: bool,
    /// The points (all of them, or an even sample plus every one that
    /// raised the best or lies on the front).
    pub points: Vec<Point>,
    /// The best so far, a step per evaluation that raised it.
    pub best: Vec<Point>,
    /// The Pareto front (fewer parameters, higher score), by parameters.
    pub front: Vec<Point>,
    /// PNAS: per number of blocks, how many and the best and mean score.
    pub levels: Vec<Level>,
}

/// PNAS accuracy at one level (cell size).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Level {
    /// Blocks in the cell.
    pub blocks: usize,
    /// Candidates of that size.
    pub count: usize,
    /// Their best score.
    pub best: f64,
    /// Their mean score.
    pub mean: f64,
}

fn point(e: &Evaluation) -> Option<Point> {
    let acc = e.val_acc()?;
    Some(Point {
        i: e.index,
        t: e.finished_ms,
        acc,
        params: match &e.outcome {
            queue::Outcome::Ok(s) => s.params,
            _ => None,
        },
    })
}

/// The plots of `evals` (search-stage evaluations only).
pub fn series(evals: &[Evaluation], space: &space::Space) -> Series {
    let all: Vec<(Point, &Evaluation)> = evals
        .iter()
        .filter(|e| e.stage == Stage::Search)
        .filter_map(|e| Some((point(e)?, e)))
        .collect();
    let mut best: Vec<Point> = Vec::new();
    for (p, _) in &all {
        if best.last().is_none_or(|b| p.acc > b.acc) {
            best.push(*p);
        }
    }
    let front = pareto(all.iter().map(|(p, _)| *p));
    let downsampled = all.len() > MAX_POINTS;
    let points: Vec<Point> = if downsampled {
        let step = all.len() as f64 / MAX_POINTS as f64;
        let mut keep: Vec<Point> = (0..MAX_POINTS)
            .map(|k| all[(k as f64 * step) as usize].0)
            .collect();
        keep.extend(best.iter().chain(&front).copied());
        keep.sort_by_key(|p| p.i);
        keep.dedup_by_key(|p| p.i);
        keep
    } else {
        all.iter().map(|(p, _)| *p).collect()
    };
    Series {
        evaluations: all.len(),
        downsampled,
        points,
        best,
        front,
        levels: levels(&all, space),
    }
}

/// The points no other point beats on both parameters (fewer) and score
/// (higher), by parameters.
pub fn pareto(points: impl Iterator<Item = Point>) -> Vec<Point> {
    let mut with: Vec<Point> = points.filter(|p| p.params.is_some()).collect();
    with.sort_by(|a, b| a.params.cmp(&b.params).then(b.acc.total_cmp(&a.acc)));
    let mut front: Vec<Point> = Vec::new();
    for p in with {
        if front.last().is_none_or(|f| p.acc > f.acc) {
            front.push(p);
        }
    }
    front
}

fn levels(all: &[(Point, &Evaluation)], space: &space::Space) -> Vec<Level> {
    if space.kind() != space::SpaceKind::Pnas {
        return Vec::new();
    }
    let mut by: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for (p, e) in all {
        if let Ok(space::Genotype::Pnas(cell)) = space.parse(&e.genotype) {
            by.entry(cell.len()).or_default().push(p.acc);
        }
    }
    by.into_iter()
        .map(|(blocks, accs)| Level {
            blocks,
            count: accs.len(),
            best: accs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean: accs.iter().sum::<f64>() / accs.len() as f64,
        })
        .collect()
}

/// A row of the evaluations table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Index in the search's log.
    pub index: u64,
    /// search, final or supernet.
    pub stage: &'static str,
    /// The candidate.
    pub genotype: String,
    /// ok, diverged, dead, ...
    pub outcome: &'static str,
    /// Validation score.
    pub val_acc: Option<f64>,
    /// Test score (final stage).
    pub test_acc: Option<f64>,
    /// Parameters.
    pub params: Option<u64>,
    /// Training seconds.
    pub train_seconds: Option<f64>,
    /// Who evaluated it.
    pub worker: String,
    /// Its delivery.
    pub attempt: u32,
    /// When it finished (ms).
    pub finished_ms: u64,
    /// How long the job ran (ms).
    pub elapsed_ms: u64,
    /// Why it failed.
    pub reason: Option<String>,
}

impl From<&Evaluation> for Row {
    fn from(e: &Evaluation) -> Self {
        let (outcome, scores, reason) = match &e.outcome {
            queue::Outcome::Ok(s) => ("ok", Some(s), None),
            queue::Outcome::Diverged { reason } => ("diverged", None, Some(reason.clone())),
            queue::Outcome::Dead { reason } => ("dead", None, Some(reason.clone())),
        };
        Self {
            index: e.index,
            stage: e.stage.word(),
            genotype: e.genotype.clone(),
            outcome,
            val_acc: scores.map(|s| s.val_acc),
            test_acc: scores.and_then(|s| s.test_acc),
            params: scores.and_then(|s| s.params),
            train_seconds: scores.map(|s| s.train_seconds),
            worker: e.worker.clone(),
            attempt: e.attempt,
            finished_ms: e.finished_ms,
            elapsed_ms: e.elapsed_ms,
            reason,
        }
    }
}

/// The columns the table sorts by.
pub const SORTS: [&str; 7] = [
    "index",
    "val_acc",
    "test_acc",
    "params",
    "train_seconds",
    "worker",
    "attempt",
];

/// One page of the table: `after` (an index) for appending readers, or
/// `offset` into the rows sorted by `sort`.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Rows in the whole table.
    pub total: usize,
    /// Where this page starts in the sorted table.
    pub offset: usize,
    /// The rows.
    pub rows: Vec<Row>,
}

/// A page of `evals` sorted by `sort` (one of [`SORTS`]; `desc` for
/// descending), from `offset`, at most `limit` rows; with `after`, only
/// evaluations whose index is greater, in index order.
pub fn page(
    evals: &[Evaluation],
    sort: &str,
    desc: bool,
    offset: usize,
    limit: usize,
    after: Option<u64>,
) -> Page {
    let mut rows: Vec<Row> = match after {
        Some(a) => evals
            .iter()
            .filter(|e| e.index > a)
            .map(Row::from)
            .collect(),
        None => evals.iter().map(Row::from).collect(),
    };
    if after.is_none() {
        let key = |r: &Row| -> (Option<f64>, String) {
            match sort {
                "val_acc" => (r.val_acc, String::new()),
                "test_acc" => (r.test_acc, String::new()),
                "params" => (r.params.map(|p| p as f64), String::new()),
                "train_seconds" => (r.train_seconds, String::new()),
                "worker" => (None, r.worker.clone()),
                "attempt" => (Some(r.attempt as f64), String::new()),
                _ => (Some(r.index as f64), String::new()),
            }
        };
        rows.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            // Missing values last whichever the direction.
            let o = match (ka.0, kb.0) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (None, None) => ka.1.cmp(&kb.1),
                (Some(_), None) => return std::cmp::Ordering::Less,
                (None, Some(_)) => return std::cmp::Ordering::Greater,
            };
            let o = if desc { o.reverse() } else { o };
            o.then(a.index.cmp(&b.index))
        });
    }
    let total = rows.len();
    let rows: Vec<Row> = rows.into_iter().skip(offset).take(limit).collect();
    Page {
        total,
        offset,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(i: u64, acc: f64, params: u64) -> Point {
        Point {
            i,
            t: i,
            acc,
            params: Some(params),
        }
    }

    #[test]
    fn the_front_keeps_what_nothing_beats_on_both() {
        let pts = [
            p(0, 90.0, 100),
            p(1, 80.0, 50),
            p(2, 85.0, 200),
            p(3, 91.0, 300),
        ];
        let front: Vec<u64> = pareto(pts.into_iter()).iter().map(|x| x.i).collect();
        assert_eq!(front, vec![1, 0, 3]);
    }
}

#[cfg(test)]
mod series_tests {
    use super::*;
    use queue::Scores;

    fn eval(i: u64, genotype: String, acc: f64, params: u64) -> Evaluation {
        Evaluation {
            index: i,
            stage: Stage::Search,
            job_id: format!("s.{:010}", i + 1),
            hash: String::new(),
            genotype,
            outcome: queue::Outcome::Ok(Scores {
                val_acc: acc,
                params: Some(params),
                ..Scores::default()
            }),
            attempt: 1,
            worker: "w".into(),
            finished_ms: 1000 + i,
            elapsed_ms: i,
            queued_ms: 0,
            consumed_ms: 0,
            rung: None,
        }
    }

    #[test]
    fn pnas_searches_get_accuracy_per_level() {
        let space = space::Space::Pnas { blocks: 3 };
        let mut rng = space::rng(3);
        let mut evals = Vec::new();
        for (i, blocks) in [1usize, 1, 2, 3].into_iter().enumerate() {
            let cell = space::PnasCell::sample(blocks, &mut rng).unwrap();
            let text = space::Genotype::Pnas(cell).to_string();
            evals.push(eval(i as u64, text, 50.0 + i as f64, 1000));
        }
        let s = series(&evals, &space);
        let levels: Vec<(usize, usize)> = s.levels.iter().map(|l| (l.blocks, l.count)).collect();
        assert_eq!(levels, [(1, 2), (2, 1), (3, 1)]);
        assert_eq!(s.levels[0].best, 51.0);
        assert_eq!(s.levels[0].mean, 50.5);
    }

    #[test]
    fn large_searches_are_downsampled_keeping_the_best_steps_and_the_front() {
        let space = space::Space::Nb201;
        let g = space.sample(&mut space::rng(1)).unwrap().to_string();
        let n = MAX_POINTS * 3;
        // Scores rising slowly with noise: many best-so-far steps.
        let evals: Vec<Evaluation> = (0..n as u64)
            .map(|i| {
                eval(
                    i,
                    g.clone(),
                    (i % 97) as f64 + i as f64 / 1000.0,
                    1000 + (i * 7919) % 5000,
                )
            })
            .collect();
        let s = series(&evals, &space);
        assert!(s.downsampled);
        assert_eq!(s.evaluations, n);
        assert!(s.points.len() < n / 2, "{}", s.points.len());
        let kept: std::collections::HashSet<u64> = s.points.iter().map(|p| p.i).collect();
        assert!(s.best.iter().all(|p| kept.contains(&p.i)));
        assert!(s.front.iter().all(|p| kept.contains(&p.i)));
        assert_eq!(
            s.best.last().unwrap().acc,
            evals.iter().filter_map(|e| e.val_acc()).fold(0.0, f64::max)
        );
    }

    #[test]
    fn table_pages_sort_with_missing_values_last() {
        let g = "x".to_string();
        let mut evals = vec![
            eval(0, g.clone(), 70.0, 3),
            eval(1, g.clone(), 90.0, 1),
            eval(2, g, 80.0, 2),
        ];
        evals[1].outcome = queue::Outcome::Diverged {
            reason: "nan".into(),
        };
        let p = page(&evals, "val_acc", true, 0, 10, None);
        let order: Vec<u64> = p.rows.iter().map(|r| r.index).collect();
        assert_eq!(order, [2, 0, 1]);
        let p = page(&evals, "val_acc", false, 1, 1, None);
        assert_eq!((p.total, p.rows[0].index), (3, 2));
        let after: Vec<u64> = page(&evals, "index", false, 0, 10, Some(0))
            .rows
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(after, [1, 2]);
    }
}
