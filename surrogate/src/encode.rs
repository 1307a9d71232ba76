//! Genotypes as token sequences: one shared vocabulary per space, token 0
//! reserved for padding, tokens grouped in fixed-width groups (a PNAS block,
//! a DARTS node) that the MLP predictor embeds together.
//!
//! The encodings, each of the canonical genotype so that equal architectures
//! encode equally:
//!
//! - **PNAS** (group 4): per block `in1, op1, in2, op2`. Input `i` (0..=5) is
//!   token `1 + i`; op `o` (index in [`PnasOp::ALL`]) is token `7 + o`.
//!   Vocabulary 15; 4 to 20 tokens.
//! - **NAS-Bench-201** (group 1): one token per edge in arch-string order,
//!   `1 + 5 * edge + op`, so the same op on two edges is two tokens.
//!   Vocabulary 31; always 6 tokens.
//! - **DARTS** (group 4): the normal cell then the reduction cell; per node
//!   its two edges as `in1, op1, in2, op2`. Cell `c` (0 normal, 1 reduce)
//!   owns tokens `1 + 13 c ..`: input `i` (0..=4) is `1 + 13 c + i`, op `o`
//!   (index in [`DartsOp::ALL`]) is `6 + 13 c + o`. Vocabulary 27; always 32
//!   tokens.
//! - **Macro** (group 1): per layer its filter height `1 + h`, width
//!   `5 + w`, count `9 + f` (indices into the choice lists), then either the
//!   image token 13 (no anchors) or, for each anchor `a` of layer `i` in
//!   ascending order, the distance token `13 + (i - a)`. Vocabulary
//!   `13 + MAX_LAYERS` = 77; 4 to about 2,100 tokens for 64 layers.
//! - **seq** (group 1): as NAS-Bench-201, `1 + 11 * edge + op`.
//!   Vocabulary 67; always 6 tokens.
//! - **mlp** (group 1): the categorical encoding (1 one-hot, 2 embedding),
//!   then per layer its width `3 + w`, activation `9 + a`, normalization
//!   `13 + n` and dropout `16 + d` (indices into the choice lists), then for
//!   each anchor the input token 21 or, for layer `k` read by layer `i`, the
//!   distance token `20 + (i - k)`. Vocabulary `20 + MAX_LAYERS` = 36.

use space::cell::{CellOp, EDGES};
use space::darts::{self, DartsCell};
use space::macro_chain::{FILTER_COUNTS, FILTER_SIZES, MAX_LAYERS};
use space::mlp::{Anchor, MlpGenotype, DROPOUT_TENTHS, WIDTHS};
use space::pnas::{self, MAX_BLOCKS};
use space::{DartsOp, Genotype, Nb201Op, PnasOp, SeqOp, SpaceKind};

/// The padding token, never produced by an encoding.
pub const PAD: i64 = 0;

/// The number of distinct input numbers a PNAS block may use.
const PNAS_INPUTS: usize = pnas::CELL_INPUTS + MAX_BLOCKS - 1;
/// Tokens per DARTS cell: its input numbers, then its ops.
const DARTS_INPUTS: usize = darts::CELL_INPUTS + darts::NODES - 1;
const DARTS_CELL_TOKENS: usize = DARTS_INPUTS + 8;
/// Where the macro space's image and anchor-distance tokens start.
const MACRO_IMAGE: usize = 1 + 3 * 4;
/// The mlp space's input-anchor token; layer distances follow it.
const MLP_INPUT: usize = 21;

/// How one space's genotypes become tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vocabulary {
    /// The space.
    pub kind: SpaceKind,
    /// Number of token ids, padding included; every token is below it.
    pub size: usize,
    /// Tokens come in groups of this many (a PNAS block, a DARTS node);
    /// every encoding's length is a multiple of it.
    pub group: usize,
}

impl Vocabulary {
    /// The vocabulary of `kind`.
    pub fn of(kind: SpaceKind) -> Self {
        let (size, group) = match kind {
            SpaceKind::Pnas => (1 + PNAS_INPUTS + PnasOp::ALL.len(), 4),
            SpaceKind::Nb201 => (1 + EDGES.len() * Nb201Op::ALL.len(), 1),
            SpaceKind::Darts => (1 + 2 * DARTS_CELL_TOKENS, 4),
            SpaceKind::Macro => (MACRO_IMAGE + MAX_LAYERS, 1),
            SpaceKind::Seq => (1 + EDGES.len() * SeqOp::ALL.len(), 1),
            SpaceKind::Mlp => (MLP_INPUT + space::mlp::MAX_LAYERS - 1, 1),
        };
        Self { kind, size, group }
    }
}

/// The tokens of `g`'s canonical form (see the module docs); never empty,
/// never [`PAD`], always a whole number of groups.
pub fn encode(g: &Genotype) -> Vec<i64> {
    let mut out = Vec::new();
    match &g.canonical() {
        Genotype::Pnas(cell) => {
            for b in cell.blocks() {
                out.extend([
                    pnas_input(b.in1),
                    pnas_op(b.op1),
                    pnas_input(b.in2),
                    pnas_op(b.op2),
                ]);
            }
        }
        Genotype::Nb201(cell) => cell_tokens(&mut out, &cell.edges),
        Genotype::Seq(cell) => cell_tokens(&mut out, &cell.edges),
        Genotype::Mlp(m) => mlp_tokens(&mut out, m),
        Genotype::Darts(d) => {
            darts_cell(&mut out, 0, &d.normal);
            darts_cell(&mut out, 1, &d.reduce);
        }
        Genotype::Macro(m) => {
            for (i, layer) in m.layers().iter().enumerate() {
                let at = |v: usize, from: &[usize]| from.iter().position(|&x| x == v).unwrap_or(0);
                out.push((1 + at(layer.height, &FILTER_SIZES)) as i64);
                out.push((5 + at(layer.width, &FILTER_SIZES)) as i64);
                out.push((9 + at(layer.filters, &FILTER_COUNTS)) as i64);
                if layer.anchors.is_empty() {
                    out.push(MACRO_IMAGE as i64);
                }
                for &a in &layer.anchors {
                    out.push((MACRO_IMAGE + i - a) as i64);
                }
            }
        }
    }
    out
}

/// One token per edge, specific to the edge: `1 + ops * edge + op`.
fn cell_tokens<O: CellOp>(out: &mut Vec<i64>, edges: &[O; 6]) {
    for (edge, op) in edges.iter().enumerate() {
        out.push((1 + edge * O::all().len() + op.position()) as i64);
    }
}

fn mlp_tokens(out: &mut Vec<i64>, m: &MlpGenotype) {
    out.push(1 + m.encoding().index() as i64);
    let at = |v: usize, from: &[usize]| from.iter().position(|&x| x == v).unwrap_or(0);
    for (i, layer) in m.layers().iter().enumerate() {
        let dropout = (DROPOUT_TENTHS.iter())
            .position(|&t| t == layer.dropout_tenths)
            .unwrap_or(0);
        out.push((3 + at(layer.width, &WIDTHS)) as i64);
        out.push((9 + layer.activation.index()) as i64);
        out.push((13 + layer.norm.index()) as i64);
        out.push((16 + dropout) as i64);
        for a in &layer.anchors {
            out.push(match a {
                Anchor::Input => MLP_INPUT as i64,
                Anchor::Layer(k) => (MLP_INPUT - 1 + i - k) as i64,
            });
        }
    }
}

fn pnas_input(input: usize) -> i64 {
    (1 + input) as i64
}

fn pnas_op(op: PnasOp) -> i64 {
    (1 + PNAS_INPUTS + op.index()) as i64
}

fn darts_cell(out: &mut Vec<i64>, which: usize, cell: &DartsCell) {
    let base = 1 + which * DARTS_CELL_TOKENS;
    for &(op, input) in cell.edges() {
        out.push((base + input) as i64);
        out.push(darts_op(base, op));
    }
}

fn darts_op(base: usize, op: DartsOp) -> i64 {
    (base + DARTS_INPUTS + op.index()) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use space::Space;

    fn samples(space: Space, n: u64) -> Vec<Genotype> {
        (0..n)
            .map(|seed| space.sample(&mut space::rng(seed)).unwrap())
            .collect()
    }

    #[test]
    fn every_space_encodes_inside_its_vocabulary_in_whole_groups() {
        let spaces = [
            (Space::Pnas { blocks: 5 }, 20, 20),
            (Space::Pnas { blocks: 1 }, 4, 4),
            (Space::Nb201, 6, 6),
            (Space::Darts, 32, 32),
            (Space::Macro { layers: 6 }, 24, 6 * 3 + 15),
            (Space::Seq, 6, 6),
            (
                Space::Mlp {
                    layers: 6,
                    categorical: true,
                },
                5,
                1 + 6 * 4 + 15,
            ),
        ];
        for (space, min, max) in spaces {
            let vocab = Vocabulary::of(space.kind());
            for g in samples(space, 200) {
                let t = encode(&g);
                assert!(
                    t.len() >= min && t.len() <= max,
                    "{space}: {} tokens",
                    t.len()
                );
                assert_eq!(t.len() % vocab.group, 0, "{space}");
                assert!(
                    t.iter().all(|&x| x > PAD && (x as usize) < vocab.size),
                    "{space}: {t:?}"
                );
            }
        }
    }

    #[test]
    fn pnas_tokens_spell_the_blocks() {
        let g = Space::Pnas { blocks: 5 }
            .parse("(0,sep_3x3,1,identity)(2,max_pool_3x3,0,dil_conv_3x3)")
            .unwrap();
        // Block 2 is canonicalised to (0, dil_conv_3x3, 2, max_pool_3x3).
        assert_eq!(encode(&g), vec![1, 7, 2, 11, 1, 14, 3, 13]);
        assert_eq!(Vocabulary::of(SpaceKind::Pnas).size, 15);
    }

    #[test]
    fn nb201_tokens_are_edge_specific() {
        let g = Space::Nb201
            .parse("|none~0|+|none~0|none~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|")
            .unwrap();
        assert_eq!(encode(&g), vec![1, 6, 11, 20, 25, 30]);
        assert_eq!(Vocabulary::of(SpaceKind::Nb201).size, 31);
    }

    #[test]
    fn darts_encodes_the_canonical_form_and_tells_the_cells_apart() {
        let v2 = Genotype::Darts(space::DartsGenotype::named("DARTS_V2").unwrap());
        let t = encode(&v2);
        assert_eq!(encode(&v2.canonical()), t);
        // Normal node 2: ('sep_conv_3x3', 0), ('sep_conv_3x3', 1).
        assert_eq!(&t[..4], &[1, 6 + 4, 2, 6 + 4]);
        // Reduce node 2: ('max_pool_3x3', 0), ('max_pool_3x3', 1).
        assert_eq!(&t[16..20], &[14, 19 + 1, 15, 19 + 1]);
        assert_eq!(Vocabulary::of(SpaceKind::Darts).size, 27);
    }

    #[test]
    fn mlp_tokens_spell_the_layers_and_anchors() {
        let g = Genotype::parse(
            SpaceKind::Mlp,
            "embed 16:relu:none:0 512:silu:layer:0.5<x 32:gelu:batch:0.1<x,0",
        )
        .unwrap();
        assert_eq!(
            encode(&g),
            vec![2, 3, 9, 13, 16, 8, 12, 15, 20, 21, 4, 10, 14, 17, 21, 22]
        );
        let mut long = String::from("16:relu:none:0 16:relu:none:0");
        for _ in 2..space::mlp::MAX_LAYERS {
            long.push_str(" 16:relu:none:0<0");
        }
        let g = Genotype::parse(SpaceKind::Mlp, &long).unwrap();
        let max = encode(&g).into_iter().max().unwrap();
        assert_eq!(max as usize, Vocabulary::of(SpaceKind::Mlp).size - 1);
    }

    #[test]
    fn macro_tokens_carry_shape_filters_and_anchor_distances() {
        let g = Space::Macro { layers: 3 }
            .parse("3x3:24 5x1:36<0 7x7:64<0,1")
            .unwrap();
        assert_eq!(
            encode(&g),
            vec![2, 6, 9, 13, 3, 5, 10, 14, 4, 8, 12, 15, 14]
        );
        let mut long = String::from("1x1:24");
        for _ in 1..MAX_LAYERS {
            long.push_str(" 1x1:24<0");
        }
        let g = Genotype::parse(SpaceKind::Macro, &long).unwrap();
        let max = encode(&g).into_iter().max().unwrap();
        assert_eq!(max as usize, Vocabulary::of(SpaceKind::Macro).size - 1);
    }
}
