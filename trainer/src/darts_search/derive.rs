//! From α to a discrete architecture, by the rules the papers' code uses.
//!
//! DARTS (`Network.genotype()` in `cnn/model_search.py`): for each of the 4
//! nodes, the two incoming edges from distinct predecessors with the
//! greatest strength, where an edge's strength is the largest softmax
//! weight among its ops other than `none`; each kept edge takes its
//! strongest op other than `none`. Ties go to the earlier predecessor and
//! the earlier op (the reference's stable sort and strict comparison). The
//! edges are listed strongest first, the concatenation is [2, 3, 4, 5].
//!
//! NAS-Bench-201 (xautodl's `TinyNetworkDarts.genotype()`): every edge
//! takes the argmax of its α over all 5 ops, `none` included.
//!
//! Pure functions of α as plain numbers, so that the rules are tested on
//! hand-made values.

use space::cell::{Cell, CellOp};
use space::darts::{DartsCell, Edge, CELL_INPUTS, CONCAT, NODES};
use space::{DartsGenotype, DartsOp, Nb201Cell};
use thiserror::Error;

/// Why α does not stand for an architecture.
#[derive(Debug, Error, Clone, PartialEq)]
#[error("alpha {which}: {reason}")]
pub struct DeriveError {
    /// Which α (`normal`, `reduce`, `cell`).
    pub which: String,
    /// What is wrong with it.
    pub reason: String,
}

fn error(which: &str, reason: String) -> DeriveError {
    DeriveError {
        which: which.to_string(),
        reason,
    }
}

/// Check that `alpha` is `edges` rows of `ops` finite numbers.
fn check(which: &str, alpha: &[Vec<f64>], edges: usize, ops: usize) -> Result<(), DeriveError> {
    if alpha.len() != edges {
        return Err(error(
            which,
            format!("expected {edges} edges, found {}", alpha.len()),
        ));
    }
    for (e, row) in alpha.iter().enumerate() {
        if row.len() != ops {
            return Err(error(
                which,
                format!("edge {e}: expected {ops} op weights, found {}", row.len()),
            ));
        }
        if let Some(v) = row.iter().find(|v| !v.is_finite()) {
            return Err(error(which, format!("edge {e}: weight {v} is not finite")));
        }
    }
    Ok(())
}

/// softmax of one row, computed stably in f64.
pub fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|v| v / sum).collect()
}

/// The index of the largest value among `indices` of `row`, the first on
/// ties.
fn argmax(row: &[f64], indices: impl Iterator<Item = usize>) -> usize {
    let mut best: Option<usize> = None;
    for k in indices {
        if best.is_none_or(|b| row[k] > row[b]) {
            best = Some(k);
        }
    }
    best.expect("at least one candidate")
}

/// The derived DARTS cell of one α (`[14, 8]`, raw, before softmax);
/// `which` names it in errors and in the cell.
pub fn derive_darts_cell(which: &str, alpha: &[Vec<f64>]) -> Result<DartsCell, DeriveError> {
    let ops = DartsOp::ALL.len();
    let edges_total: usize = (0..NODES).map(|n| n + CELL_INPUTS).sum();
    check(which, alpha, edges_total, ops)?;
    let none = DartsOp::None.index();
    let not_none = || (0..ops).filter(move |&k| k != none);
    let weights: Vec<Vec<f64>> = alpha.iter().map(|r| softmax(r)).collect();
    let mut genes: Vec<Edge> = Vec::with_capacity(2 * NODES);
    let mut start = 0;
    for n in 0..NODES {
        let preds = n + CELL_INPUTS;
        let w = &weights[start..start + preds];
        let strength: Vec<f64> = w
            .iter()
            .map(|row| not_none().map(|k| row[k]).fold(f64::NEG_INFINITY, f64::max))
            .collect();
        let mut order: Vec<usize> = (0..preds).collect();
        // Stable: equal strengths keep the earlier predecessor first.
        order.sort_by(|&a, &b| strength[b].total_cmp(&strength[a]));
        for &j in &order[..2] {
            let k = argmax(&w[j], not_none());
            let op = DartsOp::from_index(k).expect("an op index");
            genes.push((op, j));
        }
        start += preds;
    }
    DartsCell::new(which, &genes, &CONCAT).map_err(|e| error(which, e.to_string()))
}

/// The derived DARTS genotype of α_normal and α_reduce.
pub fn derive_darts(
    normal: &[Vec<f64>],
    reduce: &[Vec<f64>],
) -> Result<DartsGenotype, DeriveError> {
    Ok(DartsGenotype {
        normal: derive_darts_cell("normal", normal)?,
        reduce: derive_darts_cell("reduce", reduce)?,
    })
}

/// The derived NAS-Bench-201 cell of α (`[6, 5]`): the argmax op of every
/// edge, `none` included.
pub fn derive_nb201(alpha: &[Vec<f64>]) -> Result<Nb201Cell, DeriveError> {
    derive_cell(alpha)
}

/// The derived cell of α (`[6, ops]`) in a cell space of the NAS-Bench-201
/// shape (NAS-Bench-201, `seq`): the argmax op of every edge, `none`
/// included.
pub fn derive_cell<O: CellOp>(alpha: &[Vec<f64>]) -> Result<Cell<O>, DeriveError> {
    let all = O::all();
    check("cell", alpha, space::cell::EDGES.len(), all.len())?;
    let mut edges = [all[0]; 6];
    for (slot, row) in edges.iter_mut().zip(alpha) {
        *slot = all[argmax(row, 0..all.len())];
    }
    Ok(Cell { edges })
}
