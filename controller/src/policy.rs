//! What the controller decides, per space, and in which order: one decision
//! program per space, written once against a [`Driver`] that makes each
//! decision. Sampling drives it with the network and a generator; teacher
//! forcing drives it with a genotype's own decisions, so both see the same
//! steps, heads and masks.
//!
//! - macro: per layer, filter height, filter width, filter count, then the
//!   anchor point (one sigmoid per earlier layer);
//! - PNAS: per block, input 1, op 1, input 2, op 2, inputs masked to the
//!   block's range (0 = h[c-2], 1 = h[c-1], k + 1 = block k);
//! - NAS-Bench-201 and `seq`: the 6 edges' ops in arch-string order;
//! - mlp: the depth, then per layer its width, activation, normalization,
//!   dropout and anchor point (one sigmoid per earlier output it may read:
//!   bit 0 the input features, bit k layer k-1), then, when the table has
//!   categorical columns, their encoding;
//! - DARTS: the normal then the reduction cell, per node input 1, op 1,
//!   input 2 (masked to differ from input 1), op 2, ops from the 7
//!   primitives other than `none`.
//!
//! A PNAS block's or DARTS node's two (input, op) pairs are summed, so both
//! of their orders give the same architecture, and the canonical genotype
//! keeps one. [`orderings`] lists every decision sequence that gives a
//! genotype, so its probability is the sum over them.

use crate::ControllerError;
use space::cell::{Cell, CellOp};
use space::darts::{DartsCell, Edge, CONCAT, NODES};
use space::macro_chain::{FILTER_COUNTS, FILTER_SIZES};
use space::mlp::{Activation, Anchor, Encoding, Norm, DROPOUT_TENTHS, WIDTHS};
use space::{
    DartsGenotype, DartsOp, Genotype, MacroGenotype, MacroLayer, MlpGenotype, MlpLayer, Nb201Op,
    PnasBlock, PnasCell, PnasOp, SeqOp, Space,
};

/// A kind of categorical decision: each has its own softmax classifier and
/// its own token embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadKind {
    /// Macro: filter height.
    Height,
    /// Macro: filter width.
    Width,
    /// Macro: filter count.
    Filters,
    /// PNAS and DARTS: which earlier state a pair reads.
    Input,
    /// PNAS, DARTS, NAS-Bench-201 and seq: an operation.
    Op,
    /// mlp: the number of layers.
    Depth,
    /// mlp: a layer's width.
    Units,
    /// mlp: a layer's activation.
    Activation,
    /// mlp: a layer's normalization.
    Norm,
    /// mlp: a layer's dropout.
    Dropout,
    /// mlp: the encoding of categorical columns.
    Encoding,
}

impl HeadKind {
    /// The name in parameter paths.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Height => "height",
            Self::Width => "width",
            Self::Filters => "filters",
            Self::Input => "input",
            Self::Op => "op",
            Self::Depth => "depth",
            Self::Units => "units",
            Self::Activation => "activation",
            Self::Norm => "norm",
            Self::Dropout => "dropout",
            Self::Encoding => "encoding",
        }
    }
}

/// The heads a space uses, with their number of choices.
pub(crate) fn heads(space: &Space) -> Vec<(HeadKind, usize)> {
    match *space {
        Space::Macro { .. } => vec![
            (HeadKind::Height, FILTER_SIZES.len()),
            (HeadKind::Width, FILTER_SIZES.len()),
            (HeadKind::Filters, FILTER_COUNTS.len()),
        ],
        Space::Pnas { blocks } => vec![
            (HeadKind::Input, space::pnas::CELL_INPUTS + blocks - 1),
            (HeadKind::Op, PnasOp::ALL.len()),
        ],
        Space::Nb201 => vec![(HeadKind::Op, Nb201Op::ALL.len())],
        Space::Seq => vec![(HeadKind::Op, SeqOp::ALL.len())],
        Space::Mlp {
            layers,
            categorical,
        } => {
            let mut heads = vec![
                (HeadKind::Depth, layers),
                (HeadKind::Units, WIDTHS.len()),
                (HeadKind::Activation, Activation::ALL.len()),
                (HeadKind::Norm, Norm::ALL.len()),
                (HeadKind::Dropout, DROPOUT_TENTHS.len()),
            ];
            if categorical {
                heads.push((HeadKind::Encoding, Encoding::ALL.len()));
            }
            heads
        }
        Space::Darts => vec![
            (HeadKind::Input, space::darts::CELL_INPUTS + NODES - 1),
            (HeadKind::Op, DartsOp::ALL.len() - 1),
        ],
    }
}

/// Makes the decisions of a decision program.
pub(crate) trait Driver {
    /// A choice of `head`, one of the indices where `mask` is true.
    fn choose(&mut self, head: HeadKind, mask: &[bool]) -> Result<usize, ControllerError>;

    /// The anchor point of macro or mlp layer `layer`: for each earlier
    /// layer (macro) or output (mlp), whether it feeds this one (`layer`
    /// bits; none for layer 0).
    fn anchors(&mut self, layer: usize) -> Result<Vec<bool>, ControllerError>;
}

/// Run the space's decision program and build the genotype it decided,
/// through the space's constructors, in canonical form.
pub(crate) fn decide<D: Driver>(space: &Space, d: &mut D) -> Result<Genotype, ControllerError> {
    let genotype = match *space {
        Space::Macro { layers } => Genotype::Macro(macro_chain(layers, d)?),
        Space::Pnas { blocks } => Genotype::Pnas(pnas(blocks, d)?),
        Space::Nb201 => Genotype::Nb201(cell::<Nb201Op, D>(d)?),
        Space::Seq => Genotype::Seq(cell::<SeqOp, D>(d)?),
        Space::Mlp {
            layers,
            categorical,
        } => Genotype::Mlp(mlp(layers, categorical, d)?),
        Space::Darts => Genotype::Darts(darts(d)?),
    };
    Ok(genotype.canonical())
}

fn all(n: usize) -> Vec<bool> {
    vec![true; n]
}

fn macro_chain<D: Driver>(n: usize, d: &mut D) -> Result<MacroGenotype, ControllerError> {
    let mut layers = Vec::with_capacity(n);
    for i in 0..n {
        let height = FILTER_SIZES[d.choose(HeadKind::Height, &all(FILTER_SIZES.len()))?];
        let width = FILTER_SIZES[d.choose(HeadKind::Width, &all(FILTER_SIZES.len()))?];
        let filters = FILTER_COUNTS[d.choose(HeadKind::Filters, &all(FILTER_COUNTS.len()))?];
        let bits = d.anchors(i)?;
        let anchors = (0..i).filter(|&j| bits.get(j) == Some(&true)).collect();
        layers.push(MacroLayer {
            height,
            width,
            filters,
            anchors,
        });
    }
    Ok(MacroGenotype::new(layers)?)
}

fn pnas<D: Driver>(n: usize, d: &mut D) -> Result<PnasCell, ControllerError> {
    let width = space::pnas::CELL_INPUTS + n - 1;
    let mut blocks = Vec::with_capacity(n);
    for b in 0..n {
        let inputs: Vec<bool> = (0..width)
            .map(|k| k < space::pnas::CELL_INPUTS + b)
            .collect();
        let ops = all(PnasOp::ALL.len());
        let in1 = d.choose(HeadKind::Input, &inputs)?;
        let op1 = PnasOp::ALL[d.choose(HeadKind::Op, &ops)?];
        let in2 = d.choose(HeadKind::Input, &inputs)?;
        let op2 = PnasOp::ALL[d.choose(HeadKind::Op, &ops)?];
        blocks.push(PnasBlock { in1, op1, in2, op2 });
    }
    Ok(PnasCell::new(blocks)?)
}

fn cell<O: CellOp, D: Driver>(d: &mut D) -> Result<Cell<O>, ControllerError> {
    let ops = O::all();
    let mut edges = [ops[0]; 6];
    for edge in edges.iter_mut() {
        *edge = ops[d.choose(HeadKind::Op, &all(ops.len()))?];
    }
    Ok(Cell { edges })
}

fn mlp<D: Driver>(
    max_layers: usize,
    categorical: bool,
    d: &mut D,
) -> Result<MlpGenotype, ControllerError> {
    let depth = 1 + d.choose(HeadKind::Depth, &all(max_layers))?;
    let mut layers = Vec::with_capacity(depth);
    for i in 0..depth {
        let width = WIDTHS[d.choose(HeadKind::Units, &all(WIDTHS.len()))?];
        let activation =
            Activation::ALL[d.choose(HeadKind::Activation, &all(Activation::ALL.len()))?];
        let norm = Norm::ALL[d.choose(HeadKind::Norm, &all(Norm::ALL.len()))?];
        let dropout_tenths =
            DROPOUT_TENTHS[d.choose(HeadKind::Dropout, &all(DROPOUT_TENTHS.len()))?];
        let bits = d.anchors(i)?;
        let anchors = (0..i)
            .filter(|&j| bits.get(j) == Some(&true))
            .map(|j| {
                if j == 0 {
                    Anchor::Input
                } else {
                    Anchor::Layer(j - 1)
                }
            })
            .collect();
        layers.push(MlpLayer {
            width,
            activation,
            norm,
            dropout_tenths,
            anchors,
        });
    }
    let encoding = if categorical {
        Encoding::ALL[d.choose(HeadKind::Encoding, &all(Encoding::ALL.len()))?]
    } else {
        Encoding::OneHot
    };
    Ok(MlpGenotype::new(encoding, layers)?)
}

/// DARTS ops exclude `none`: token t is `DartsOp::ALL[t + 1]`.
fn darts_op(token: usize) -> DartsOp {
    DartsOp::ALL[token + 1]
}

fn darts<D: Driver>(d: &mut D) -> Result<DartsGenotype, ControllerError> {
    let width = space::darts::CELL_INPUTS + NODES - 1;
    let ops = all(DartsOp::ALL.len() - 1);
    let cell = |which: &str, d: &mut D| -> Result<DartsCell, ControllerError> {
        let mut edges: Vec<Edge> = Vec::with_capacity(2 * NODES);
        for node in 0..NODES {
            let preds = space::darts::CELL_INPUTS + node;
            let first: Vec<bool> = (0..width).map(|k| k < preds).collect();
            let in1 = d.choose(HeadKind::Input, &first)?;
            let op1 = darts_op(d.choose(HeadKind::Op, &ops)?);
            let second: Vec<bool> = (0..width).map(|k| k < preds && k != in1).collect();
            let in2 = d.choose(HeadKind::Input, &second)?;
            let op2 = darts_op(d.choose(HeadKind::Op, &ops)?);
            edges.push((op1, in1));
            edges.push((op2, in2));
        }
        Ok(DartsCell::new(which, &edges, &CONCAT)?)
    };
    let normal = cell("normal", d)?;
    let reduce = cell("reduce", d)?;
    Ok(DartsGenotype { normal, reduce })
}

/// One decision's outcome, as a genotype spells it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Token {
    /// A categorical choice.
    Choice(usize),
    /// A macro layer's anchor bits.
    Bits(Vec<bool>),
}

/// A decision as taken: which head, which choices were allowed, and what
/// was chosen; or a macro layer's anchor bits.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// A categorical choice.
    Choice {
        /// Its classifier.
        head: HeadKind,
        /// The allowed choices.
        mask: Vec<bool>,
        /// The choice.
        token: usize,
    },
    /// The anchor bits of a macro layer.
    Anchors(Vec<bool>),
}

/// Every decision sequence whose program run in `space` gives `g`, as
/// tokens: one for NAS-Bench-201, seq, mlp and macro genotypes, one per
/// order of each block's (PNAS, at most 2^5) or node's (DARTS, 2^8) two
/// pairs.
fn orderings(space: &Space, g: &Genotype) -> Vec<Vec<Token>> {
    // Each unit is a list of alternative token runs; a sequence picks one
    // alternative per unit.
    let mut units: Vec<Vec<Vec<Token>>> = Vec::new();
    let pair = |a: (usize, usize), b: (usize, usize)| -> Vec<Vec<Token>> {
        let run = |x: (usize, usize), y: (usize, usize)| {
            vec![
                Token::Choice(x.0),
                Token::Choice(x.1),
                Token::Choice(y.0),
                Token::Choice(y.1),
            ]
        };
        if a == b {
            vec![run(a, b)]
        } else {
            vec![run(a, b), run(b, a)]
        }
    };
    match g {
        Genotype::Nb201(c) => {
            units.push(vec![c
                .edges
                .iter()
                .map(|op| Token::Choice(op.index()))
                .collect()]);
        }
        Genotype::Seq(c) => {
            units.push(vec![c
                .edges
                .iter()
                .map(|op| Token::Choice(op.index()))
                .collect()]);
        }
        Genotype::Mlp(m) => {
            let pos = |v: usize, from: &[usize]| from.iter().position(|&x| x == v).unwrap_or(0);
            let mut run = vec![Token::Choice(m.layers().len() - 1)];
            for (i, l) in m.layers().iter().enumerate() {
                let dropout = DROPOUT_TENTHS
                    .iter()
                    .position(|&t| t == l.dropout_tenths)
                    .unwrap_or(0);
                run.extend([
                    Token::Choice(pos(l.width, &WIDTHS)),
                    Token::Choice(l.activation.index()),
                    Token::Choice(l.norm.index()),
                    Token::Choice(dropout),
                ]);
                let bit = |j: usize| {
                    let a = if j == 0 {
                        Anchor::Input
                    } else {
                        Anchor::Layer(j - 1)
                    };
                    l.anchors.contains(&a)
                };
                run.push(Token::Bits((0..i).map(bit).collect()));
            }
            if matches!(
                space,
                Space::Mlp {
                    categorical: true,
                    ..
                }
            ) {
                run.push(Token::Choice(m.encoding().index()));
            }
            units.push(vec![run]);
        }
        Genotype::Macro(m) => {
            let pos = |v: usize, from: &[usize]| from.iter().position(|&x| x == v).unwrap_or(0);
            for (i, l) in m.layers().iter().enumerate() {
                units.push(vec![vec![
                    Token::Choice(pos(l.height, &FILTER_SIZES)),
                    Token::Choice(pos(l.width, &FILTER_SIZES)),
                    Token::Choice(pos(l.filters, &FILTER_COUNTS)),
                    Token::Bits((0..i).map(|j| l.anchors.contains(&j)).collect()),
                ]]);
            }
        }
        Genotype::Pnas(c) => {
            for b in c.blocks() {
                units.push(pair((b.in1, b.op1.index()), (b.in2, b.op2.index())));
            }
        }
        Genotype::Darts(d) => {
            for cell in [&d.normal, &d.reduce] {
                for node in 0..NODES {
                    let [(op1, in1), (op2, in2)] = cell.node(node);
                    // `none` never appears in a valid cell; saturate rather
                    // than underflow, and let the replay refuse it.
                    let t = |op: DartsOp| op.index().saturating_sub(1);
                    units.push(pair((in1, t(op1)), (in2, t(op2))));
                }
            }
        }
    }
    let mut seqs: Vec<Vec<Token>> = vec![Vec::new()];
    for unit in units {
        seqs = seqs
            .into_iter()
            .flat_map(|s| {
                unit.iter().map(move |alt| {
                    let mut s = s.clone();
                    s.extend(alt.iter().cloned());
                    s
                })
            })
            .collect();
    }
    seqs
}

/// A driver that replays given tokens and records the decisions.
struct Replay<'a> {
    genotype: &'a Genotype,
    tokens: std::slice::Iter<'a, Token>,
    taken: Vec<Decision>,
}

impl Replay<'_> {
    fn unreachable(&self, reason: String) -> ControllerError {
        ControllerError::Unreachable {
            genotype: self.genotype.to_string(),
            reason,
        }
    }
}

impl Driver for Replay<'_> {
    fn choose(&mut self, head: HeadKind, mask: &[bool]) -> Result<usize, ControllerError> {
        let step = self.taken.len();
        match self.tokens.next() {
            Some(&Token::Choice(token)) if mask.get(token) == Some(&true) => {
                self.taken.push(Decision::Choice {
                    head,
                    mask: mask.to_vec(),
                    token,
                });
                Ok(token)
            }
            Some(Token::Choice(token)) => Err(self.unreachable(format!(
                "decision {step} ({}) cannot be {token}",
                head.name()
            ))),
            Some(Token::Bits(_)) | None => Err(self.unreachable(format!(
                "decision {step} ({}) has no choice in the genotype",
                head.name()
            ))),
        }
    }

    fn anchors(&mut self, layer: usize) -> Result<Vec<bool>, ControllerError> {
        let step = self.taken.len();
        match self.tokens.next() {
            Some(Token::Bits(bits)) if bits.len() == layer => {
                self.taken.push(Decision::Anchors(bits.clone()));
                Ok(bits.clone())
            }
            _ => Err(self.unreachable(format!(
                "decision {step} (layer {layer}'s anchor point) does not match the genotype"
            ))),
        }
    }
}

/// Every decision path of `space`'s program that gives `g`, each with its
/// heads and masks: what teacher forcing scores. Fails for a genotype the
/// controller cannot emit (another space, a PNAS cell with fewer blocks).
pub(crate) fn paths(space: &Space, g: &Genotype) -> Result<Vec<Vec<Decision>>, ControllerError> {
    let unreachable = |reason: String| ControllerError::Unreachable {
        genotype: g.to_string(),
        reason,
    };
    space.check(g).map_err(|e| unreachable(e.to_string()))?;
    if let (Space::Pnas { blocks }, Genotype::Pnas(c)) = (space, g) {
        if c.len() != *blocks {
            return Err(unreachable(format!(
                "the controller emits cells of exactly {blocks} blocks, this one has {}",
                c.len()
            )));
        }
    }
    let canonical = g.canonical();
    let mut out = Vec::new();
    for seq in orderings(space, &canonical) {
        let mut replay = Replay {
            genotype: g,
            tokens: seq.iter(),
            taken: Vec::with_capacity(seq.len()),
        };
        let got = decide(space, &mut replay)?;
        if replay.tokens.next().is_some() {
            return Err(unreachable("more decisions than the program takes".into()));
        }
        if got != canonical {
            return Err(unreachable(format!("its decisions give {got}")));
        }
        out.push(replay.taken);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(space: Space, text: &str) -> usize {
        paths(&space, &space.parse(text).unwrap()).unwrap().len()
    }

    #[test]
    fn every_order_of_summed_pairs_is_a_path() {
        assert_eq!(
            count(
                Space::Nb201,
                "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
            ),
            1
        );
        assert_eq!(
            count(Space::Macro { layers: 3 }, "3x3:24 5x5:36<0 3x7:48<0,1"),
            1
        );
        assert_eq!(
            count(
                Space::Pnas { blocks: 2 },
                "(0,sep_3x3,1,identity)(2,max_pool_3x3,2,max_pool_3x3)"
            ),
            2
        );
        assert_eq!(count(Space::Darts, "DARTS_V2"), 256);
    }

    #[test]
    fn genotypes_the_controller_cannot_emit_are_refused() {
        let space = Space::Pnas { blocks: 2 };
        let one = space.parse("(0,sep_3x3,1,identity)").unwrap();
        let err = paths(&space, &one).unwrap_err().to_string();
        assert!(err.contains("exactly 2 blocks"), "{err}");
        let nb =
            Space::Nb201.parse("|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|");
        let err = paths(&space, &nb.unwrap()).unwrap_err().to_string();
        assert!(err.contains("not in the pnas space"), "{err}");
    }

    #[test]
    fn paths_carry_the_masks_of_the_program() {
        let g = Space::Darts.parse("DARTS_V2").unwrap();
        let p = &paths(&Space::Darts, &g).unwrap()[0];
        assert_eq!(p.len(), 32);
        // Node 2's second input may not repeat the first.
        let Decision::Choice { head, mask, .. } = &p[2] else {
            panic!("not a choice")
        };
        assert_eq!(*head, HeadKind::Input);
        let Decision::Choice { token: first, .. } = &p[0] else {
            panic!("not a choice")
        };
        assert!(!mask[*first]);
        assert_eq!(mask.iter().filter(|&&m| m).count(), 1);
    }
}
