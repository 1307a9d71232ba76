//! Genotypes as fixed-width feature vectors that see the cell as a graph,
//! the inputs of the dense predictors ([`crate::PredictorKind::OneHot`],
//! [`crate::PredictorKind::Path`]).
//!
//! - [`Encoding::OneHot`], every space: adjacency and operation one-hot.
//!   The canonical token sequence ([`crate::encode`]) is cut into slots,
//!   and slot `s` holding token `t` sets feature `s * vocab + t`. In the
//!   cell spaces a slot is an edge (its token names the operation); in
//!   PNAS and DARTS a slot is one input or operation position of a block or
//!   node (so the inputs are the adjacency and the operations the op
//!   one-hot); in the macro and mlp spaces a slot is a layer, whose tokens
//!   (filter shape, width, activation, ..., and the distance to each layer
//!   it reads) all set features of that layer.
//! - [`Encoding::Path`], the cell spaces (nb201, seq): the path encoding of
//!   BANANAS (White et al. 2021) with what the table shows matters most.
//!   Every input-to-output path whose edges are all not `none` counts once
//!   under its operation sequence (paths of one to three edges; equal
//!   sequences on different paths share a feature, as isomorphic cells
//!   should), then the one-hot of each live edge's operation (an edge on
//!   such a path), then how many times each operation appears on live
//!   paths. An edge that no live path uses cannot change the network's
//!   output, and this encoding ignores it, so equivalent cells encode alike.

use crate::encode::{encode, Vocabulary};
use space::cell::{Cell, CellOp};
use space::{Genotype, SpaceKind};

/// Which feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Adjacency and operation one-hot, every space.
    OneHot,
    /// Path encoding with live edges and operation counts, cell spaces.
    Path,
}

/// The input-to-output paths of a 4-node cell, as edge indices in
/// `space::cell::EDGES` order (1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2).
const PATHS: [&[usize]; 4] = [&[3], &[0, 4], &[1, 5], &[0, 2, 5]];

/// Slots of the one-hot encoding per space.
fn slots(kind: SpaceKind) -> usize {
    match kind {
        SpaceKind::Nb201 | SpaceKind::Seq => 6,
        SpaceKind::Pnas => 4 * space::pnas::MAX_BLOCKS,
        SpaceKind::Darts => 4 * 2 * space::darts::NODES,
        SpaceKind::Macro => space::macro_chain::MAX_LAYERS,
        SpaceKind::Mlp => 1 + space::mlp::MAX_LAYERS,
    }
}

/// Operations of the cell space `kind` (with `none` at 0).
fn cell_ops(kind: SpaceKind) -> Option<usize> {
    match kind {
        SpaceKind::Nb201 => Some(space::Nb201Op::ALL.len()),
        SpaceKind::Seq => Some(space::SeqOp::ALL.len()),
        _ => None,
    }
}

impl Encoding {
    /// Whether `kind` has this encoding.
    pub fn supports(self, kind: SpaceKind) -> bool {
        match self {
            Self::OneHot => true,
            Self::Path => cell_ops(kind).is_some(),
        }
    }

    /// The feature vector's length for `kind` (`supports` must hold).
    pub fn width(self, kind: SpaceKind) -> usize {
        match self {
            Self::OneHot => slots(kind) * Vocabulary::of(kind).size,
            Self::Path => {
                let n = cell_ops(kind).unwrap_or(1);
                let k = n - 1;
                k + k * k + k * k * k + 6 * n + n
            }
        }
    }

    /// `g`'s features (`supports(g.kind())` must hold).
    pub fn features(self, g: &Genotype) -> Vec<f32> {
        let kind = g.kind();
        let mut out = vec![0f32; self.width(kind)];
        match self {
            Self::OneHot => one_hot(&mut out, kind, &encode(g)),
            Self::Path => match &g.canonical() {
                Genotype::Nb201(c) => path(&mut out, c),
                Genotype::Seq(c) => path(&mut out, c),
                _ => {}
            },
        }
        out
    }
}

fn one_hot(out: &mut [f32], kind: SpaceKind, tokens: &[i64]) {
    let vocab = Vocabulary::of(kind).size;
    let max = slots(kind);
    let mut set = |slot: usize, token: i64| {
        if slot < max {
            out[slot * vocab + token as usize] = 1.0;
        }
    };
    match kind {
        SpaceKind::Nb201 | SpaceKind::Seq | SpaceKind::Pnas | SpaceKind::Darts => {
            for (slot, &t) in tokens.iter().enumerate() {
                set(slot, t);
            }
        }
        // A layer starts at its filter height (tokens 1..=4).
        SpaceKind::Macro => {
            let mut layer = 0;
            for (i, &t) in tokens.iter().enumerate() {
                if i > 0 && (1..=4).contains(&t) {
                    layer += 1;
                }
                set(layer, t);
            }
        }
        // The categorical encoding is slot 0; a layer starts at its width
        // (tokens 3..=8).
        SpaceKind::Mlp => {
            let mut layer = 0;
            for &t in tokens {
                if (3..=8).contains(&t) {
                    layer += 1;
                }
                set(layer, t);
            }
        }
    }
}

fn path<O: CellOp>(out: &mut [f32], cell: &Cell<O>) {
    let n = O::all().len();
    let k = n - 1;
    let op = |e: usize| cell.edges[e].position();
    let (lives, counts) = (k + k * k + k * k * k, k + k * k + k * k * k + 6 * n);
    for p in PATHS {
        if p.iter().any(|&e| op(e) == 0) {
            continue;
        }
        // Sequences of length 1 first, then 2, then 3; each in base k.
        let (offset, index) = match p.len() {
            1 => (0, op(p[0]) - 1),
            2 => (k, (op(p[0]) - 1) * k + op(p[1]) - 1),
            _ => (
                k + k * k,
                ((op(p[0]) - 1) * k + op(p[1]) - 1) * k + op(p[2]) - 1,
            ),
        };
        out[offset + index] += 1.0;
        for &e in p.iter() {
            out[lives + e * n + op(e)] = 1.0;
            out[counts + op(e)] += 1.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use space::Space;

    #[test]
    fn every_space_has_one_hot_features_of_its_width() {
        let spaces = [
            Space::Pnas { blocks: 5 },
            Space::Nb201,
            Space::Darts,
            Space::Macro { layers: 12 },
            Space::Seq,
            Space::Mlp {
                layers: 6,
                categorical: true,
            },
        ];
        for space in spaces {
            let kind = space.kind();
            for seed in 0..50 {
                let g = space.sample(&mut space::rng(seed)).unwrap();
                let f = Encoding::OneHot.features(&g);
                assert_eq!(f.len(), Encoding::OneHot.width(kind), "{space}");
                assert!(f.contains(&1.0), "{space}: {g}");
                assert!(f.iter().all(|&x| x == 0.0 || x == 1.0), "{space}");
            }
            assert_eq!(Encoding::Path.supports(kind), cell_ops(kind).is_some());
        }
    }

    #[test]
    fn the_path_encoding_counts_live_paths_and_ignores_dead_edges() {
        let parse = |s: &str| Space::Nb201.parse(s).unwrap();
        // Only 3<-0 is live: edge 1<-0 is none, so 1<-0 paths are dead, and
        // the conv on 2<-0 feeds node 2, whose output edge is none.
        let a = parse(
            "|none~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|nor_conv_1x1~1|none~2|",
        );
        let b = parse(
            "|none~0|+|avg_pool_3x3~0|nor_conv_3x3~1|+|skip_connect~0|avg_pool_3x3~1|none~2|",
        );
        let fa = Encoding::Path.features(&a);
        assert_eq!(fa, Encoding::Path.features(&b), "same live graph");
        assert_eq!(fa.len(), 4 + 16 + 64 + 30 + 5);
        // One path: skip_connect (op 1) alone.
        assert_eq!(fa[0], 1.0);
        assert_eq!(fa.iter().take(84).sum::<f32>(), 1.0);
        // Live edge 3<-0 with skip_connect.
        assert_eq!(fa[84 + 3 * 5 + 1], 1.0);
        assert_eq!(fa[84 + 30 + 1], 1.0);
        let full = parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
        let f = Encoding::Path.features(&full);
        assert_eq!(f.iter().take(84).sum::<f32>(), 4.0, "four live paths");
        // conv3x3 (op 3, index 2 among the k=4 live ops) twice on two
        // paths of length 2 share one feature.
        assert_eq!(f[4 + 2 * 4 + 2], 2.0);
        assert_ne!(
            Encoding::OneHot.features(&a),
            Encoding::OneHot.features(&b),
            "the one-hot encoding sees dead edges"
        );
    }
}
