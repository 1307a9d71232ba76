//! The DARTS cell space (Liu, Simonyan & Yang 2019): a normal and a reduction
//! cell, each with 2 inputs (0 = h[c-2], 1 = h[c-1]) and 4 intermediate nodes
//! (2..=5); each node sums 2 edges from distinct earlier nodes, each edge one
//! of the 7 primitives other than `none`; the cell's output concatenates the
//! 4 intermediate nodes.
//!
//! The text form is the published notation,
//! `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`,
//! printed in the edge order it was given (the derivation orders a node's
//! edges by strength). A node's two edges are summed, so their order does not
//! change the network: [`DartsGenotype::canonical`] sorts them, and the hash
//! is taken over that canonical form.

use crate::ops::op_enum;
use crate::{Result, SpaceError};
use rand::Rng;
use std::fmt;
use std::str::FromStr;

op_enum! {
    /// The 8 DARTS primitives, in the reference `PRIMITIVES` order.
    DartsOp {
        /// Zero: only in the supernet; never in a derived cell.
        None => "none",
        /// 3x3 max pooling.
        MaxPool3x3 => "max_pool_3x3",
        /// 3x3 average pooling.
        AvgPool3x3 => "avg_pool_3x3",
        /// Identity (factorized reduce at stride 2).
        SkipConnect => "skip_connect",
        /// Two stacked ReLU-SepConv3x3-BN.
        SepConv3x3 => "sep_conv_3x3",
        /// Two stacked ReLU-SepConv5x5-BN.
        SepConv5x5 => "sep_conv_5x5",
        /// ReLU-DilConv3x3-BN, dilation 2.
        DilConv3x3 => "dil_conv_3x3",
        /// ReLU-DilConv5x5-BN, dilation 2.
        DilConv5x5 => "dil_conv_5x5",
    }
}

/// Intermediate nodes per cell.
pub const NODES: usize = 4;
/// Cell inputs before the intermediate nodes.
pub const CELL_INPUTS: usize = 2;
/// The only concatenation the DARTS cell uses: all intermediate nodes.
pub const CONCAT: [usize; NODES] = [2, 3, 4, 5];

/// One edge of a derived cell: an operation applied to an earlier node.
pub type Edge = (DartsOp, usize);

/// One derived cell: 2 edges for each of the 4 intermediate nodes, node by
/// node, as in the reference `Genotype.normal` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DartsCell {
    edges: [Edge; 2 * NODES],
}

impl DartsCell {
    /// Check a cell's edges and concatenation; `which` ("normal" or
    /// "reduce") names the cell in errors.
    pub fn new(which: &str, edges: &[Edge], concat: &[usize]) -> Result<Self> {
        if edges.len() != 2 * NODES {
            return Err(SpaceError::new(
                which,
                format!(
                    "expected {} edges (2 for each of {NODES} nodes), found {}",
                    2 * NODES,
                    edges.len()
                ),
            ));
        }
        for node in 0..NODES {
            let state = node + CELL_INPUTS;
            let pair = &edges[2 * node..2 * node + 2];
            for (k, &(op, input)) in pair.iter().enumerate() {
                let field = format!("{which} node {state} edge {}", k + 1);
                if op == DartsOp::None {
                    return Err(SpaceError::new(
                        field,
                        "op none is not allowed in a derived cell",
                    ));
                }
                if input >= state {
                    return Err(SpaceError::new(
                        field,
                        format!(
                            "input {input} is not an earlier node (node {state} may use 0..={})",
                            state - 1
                        ),
                    ));
                }
            }
            if pair[0].1 == pair[1].1 {
                return Err(SpaceError::new(
                    format!("{which} node {state}"),
                    format!(
                        "both edges come from node {}; a node takes its 2 edges from distinct earlier nodes",
                        pair[0].1
                    ),
                ));
            }
        }
        if concat != CONCAT {
            return Err(SpaceError::new(
                format!("{which}_concat"),
                format!("{concat:?} must be [2, 3, 4, 5]: the DARTS cell concatenates its 4 intermediate nodes"),
            ));
        }
        let mut out = [(DartsOp::None, 0); 2 * NODES];
        out.copy_from_slice(edges);
        Ok(Self { edges: out })
    }

    /// The edges, node by node.
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The two edges into intermediate node `node` (0-based, state node + 2).
    pub fn node(&self, node: usize) -> [Edge; 2] {
        [self.edges[2 * node], self.edges[2 * node + 1]]
    }

    /// The same cell with each node's edges sorted by (input, op).
    pub fn canonical(&self) -> Self {
        let mut edges = self.edges;
        for pair in edges.chunks_mut(2) {
            pair.sort_by_key(|&(op, input)| (input, op));
        }
        Self { edges }
    }

    /// Number of canonical cells: the product over nodes of
    /// C(predecessors, 2) x 7^2.
    pub fn count() -> u128 {
        let ops = (DartsOp::ALL.len() - 1) as u128;
        (0..NODES)
            .map(|n| {
                let preds = (n + CELL_INPUTS) as u128;
                preds * (preds - 1) / 2 * ops * ops
            })
            .product()
    }

    fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let mut edges = [(DartsOp::None, 0); 2 * NODES];
        for node in 0..NODES {
            let preds = node + CELL_INPUTS;
            let a = rng.random_range(0..preds);
            let b = (a + rng.random_range(1..preds)) % preds;
            edges[2 * node] = (random_op(rng), a);
            edges[2 * node + 1] = (random_op(rng), b);
        }
        Self { edges }.canonical()
    }

    fn mutate<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let mut edges = self.edges;
        let node = rng.random_range(0..NODES);
        let k = rng.random_range(0..2);
        let preds = node + CELL_INPUTS;
        let other = edges[2 * node + 1 - k].1;
        let free: Vec<usize> = (0..preds)
            .filter(|&p| p != other && p != edges[2 * node + k].1)
            .collect();
        let edge = &mut edges[2 * node + k];
        if free.is_empty() || rng.random_bool(0.5) {
            let n = DartsOp::ALL.len() - 1;
            let shift = rng.random_range(1..n);
            edge.0 = DartsOp::ALL[1 + (edge.0.index() - 1 + shift) % n];
        } else {
            edge.1 = free[rng.random_range(0..free.len())];
        }
        Self { edges }.canonical()
    }
}

fn random_op<R: Rng + ?Sized>(rng: &mut R) -> DartsOp {
    DartsOp::ALL[rng.random_range(1..DartsOp::ALL.len())]
}

/// A DARTS genotype: the normal and the reduction cell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawGenotype", into = "RawGenotype")]
pub struct DartsGenotype {
    /// The normal cell (stride 1).
    pub normal: DartsCell,
    /// The reduction cell (stride 2 on the cell inputs).
    pub reduce: DartsCell,
}

/// The serialized shape, field for field the reference namedtuple.
#[derive(serde::Serialize, serde::Deserialize)]
struct RawGenotype {
    normal: Vec<Edge>,
    normal_concat: Vec<usize>,
    reduce: Vec<Edge>,
    reduce_concat: Vec<usize>,
}

impl TryFrom<RawGenotype> for DartsGenotype {
    type Error = SpaceError;
    fn try_from(raw: RawGenotype) -> Result<Self> {
        Ok(Self {
            normal: DartsCell::new("normal", &raw.normal, &raw.normal_concat)?,
            reduce: DartsCell::new("reduce", &raw.reduce, &raw.reduce_concat)?,
        })
    }
}

impl From<DartsGenotype> for RawGenotype {
    fn from(g: DartsGenotype) -> Self {
        Self {
            normal: g.normal.edges.to_vec(),
            normal_concat: CONCAT.to_vec(),
            reduce: g.reduce.edges.to_vec(),
            reduce_concat: CONCAT.to_vec(),
        }
    }
}

/// The published genotypes, by the names the reference code gives them.
pub const NAMED: [(&str, &str); 3] = [
    (
        "DARTS_V1",
        "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
    ),
    (
        "DARTS_V2",
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    ),
    // The reference code's `DARTS = DARTS_V2`.
    (
        "DARTS",
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
    ),
];

impl DartsGenotype {
    /// A published genotype by name (`DARTS_V1`, `DARTS_V2`, `DARTS`).
    pub fn named(name: &str) -> Option<Self> {
        NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| parse(text).expect("published genotypes parse"))
    }

    /// Both cells with each node's edges sorted (see the module docs).
    pub fn canonical(&self) -> Self {
        Self {
            normal: self.normal.canonical(),
            reduce: self.reduce.canonical(),
        }
    }

    /// Number of canonical genotypes: a normal and a reduction cell.
    pub fn count() -> u128 {
        DartsCell::count() * DartsCell::count()
    }

    /// A uniformly random canonical genotype.
    pub fn sample<R: Rng + ?Sized>(rng: &mut R) -> Self {
        let normal = DartsCell::sample(rng);
        let reduce = DartsCell::sample(rng);
        Self { normal, reduce }
    }

    /// The canonical genotype with one edge's op or input changed in one
    /// cell; always differs from `self.canonical()`.
    pub fn mutate<R: Rng + ?Sized>(&self, rng: &mut R) -> Self {
        let mut out = self.canonical();
        if rng.random_bool(0.5) {
            out.normal = out.normal.mutate(rng);
        } else {
            out.reduce = out.reduce.mutate(rng);
        }
        out
    }
}

fn write_cell(f: &mut fmt::Formatter<'_>, name: &str, cell: &DartsCell) -> fmt::Result {
    write!(f, "{name}=[")?;
    for (i, (op, input)) in cell.edges.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "('{op}', {input})")?;
    }
    write!(f, "], {name}_concat=[2, 3, 4, 5]")
}

impl fmt::Display for DartsGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(")?;
        write_cell(f, "normal", &self.normal)?;
        f.write_str(", ")?;
        write_cell(f, "reduce", &self.reduce)?;
        f.write_str(")")
    }
}

impl FromStr for DartsGenotype {
    type Err = SpaceError;

    /// The published notation, or a published genotype's name.
    fn from_str(s: &str) -> Result<Self> {
        match Self::named(s.trim()) {
            Some(g) => Ok(g),
            None => parse(s),
        }
    }
}

/// A token of the published notation, with its byte offset.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(usize),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => f.write_str(s),
            Tok::Str(s) => write!(f, "'{s}'"),
            Tok::Num(n) => write!(f, "{n}"),
            Tok::Punct(c) => write!(f, "'{c}'"),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<(usize, Tok)>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if "()[],=".contains(c) {
            out.push((start, Tok::Punct(c)));
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = s[i + 1..].find(c).ok_or_else(|| {
                SpaceError::new(format!("text at byte {start}"), "unterminated string")
            })?;
            out.push((start, Tok::Str(s[i + 1..i + 1 + end].to_string())));
            i += end + 2;
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let n = s[start..i].parse().map_err(|_| {
                SpaceError::new(format!("text at byte {start}"), "number out of range")
            })?;
            out.push((start, Tok::Num(n)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((start, Tok::Ident(s[start..i].to_string())));
        } else {
            let ch = s[i..].chars().next().unwrap_or(c);
            return Err(SpaceError::new(
                format!("text at byte {start}"),
                format!("unexpected character {ch:?}"),
            ));
        }
    }
    Ok(out)
}

/// A recursive-descent reader over the tokens of the published notation.
struct Reader {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Reader {
    fn here(&self) -> String {
        match self.toks.get(self.pos) {
            Some((at, _)) => format!("text at byte {at}"),
            None => format!("text at byte {}", self.len),
        }
    }

    fn next(&mut self, what: &str) -> Result<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        match t {
            Some(t) => {
                self.pos += 1;
                Ok(t)
            }
            None => Err(SpaceError::new(
                self.here(),
                format!("expected {what}, found the end"),
            )),
        }
    }

    fn punct(&mut self, c: char) -> Result<()> {
        let here = self.here();
        match self.next(&format!("'{c}'"))? {
            Tok::Punct(p) if p == c => Ok(()),
            t => Err(SpaceError::new(here, format!("expected '{c}', found {t}"))),
        }
    }

    /// The separator between list items: a ',' (the list's `close` may
    /// follow, as Python allows a trailing comma).
    fn separator(&mut self, close: char) -> Result<()> {
        let here = self.here();
        match self.next(&format!("',' or '{close}'"))? {
            Tok::Punct(',') => Ok(()),
            t => Err(SpaceError::new(
                here,
                format!("expected ',' or '{close}', found {t}"),
            )),
        }
    }

    fn peek_punct(&self, c: char) -> bool {
        matches!(self.toks.get(self.pos), Some((_, Tok::Punct(p))) if *p == c)
    }

    fn ident(&mut self) -> Result<String> {
        let here = self.here();
        match self.next("a name")? {
            Tok::Ident(s) => Ok(s),
            t => Err(SpaceError::new(here, format!("expected a name, found {t}"))),
        }
    }

    fn num(&mut self) -> Result<usize> {
        let here = self.here();
        match self.next("a number")? {
            Tok::Num(n) => Ok(n),
            t => Err(SpaceError::new(
                here,
                format!("expected a number, found {t}"),
            )),
        }
    }

    /// `[('op', 0), ...]`
    fn edges(&mut self, which: &str) -> Result<Vec<Edge>> {
        self.punct('[')?;
        let mut out = Vec::new();
        while !self.peek_punct(']') {
            if !out.is_empty() {
                self.separator(']')?;
                if self.peek_punct(']') {
                    break;
                }
            }
            let field = format!("{which} edge {}", out.len() + 1);
            self.punct('(')?;
            let here = self.here();
            let op = match self.next("an op name")? {
                Tok::Str(s) => s
                    .parse::<DartsOp>()
                    .map_err(|e| SpaceError::new(&field, e.reason))?,
                t => {
                    return Err(SpaceError::new(
                        here,
                        format!("expected a quoted op name, found {t}"),
                    ))
                }
            };
            self.punct(',')?;
            let input = self.num()?;
            self.punct(')')?;
            out.push((op, input));
        }
        self.punct(']')?;
        Ok(out)
    }

    /// `[2, 3, 4, 5]` or `range(2, 6)`
    fn concat(&mut self) -> Result<Vec<usize>> {
        if !self.peek_punct('[') {
            let name = self.ident()?;
            if name != "range" {
                return Err(SpaceError::new(
                    self.here(),
                    format!("expected a list or range(...), found {name}"),
                ));
            }
            self.punct('(')?;
            let a = self.num()?;
            self.punct(',')?;
            let b = self.num()?;
            self.punct(')')?;
            return Ok((a..b).collect());
        }
        self.punct('[')?;
        let mut out = Vec::new();
        while !self.peek_punct(']') {
            if !out.is_empty() {
                self.separator(']')?;
            }
            out.push(self.num()?);
        }
        self.punct(']')?;
        Ok(out)
    }
}

fn parse(s: &str) -> Result<DartsGenotype> {
    let mut r = Reader {
        toks: tokenize(s)?,
        pos: 0,
        len: s.len(),
    };
    let head = r.ident()?;
    if head != "Genotype" {
        return Err(SpaceError::new(
            "genotype",
            format!("expected Genotype(...) or a published name, found {head:?}"),
        ));
    }
    r.punct('(')?;
    let (mut normal, mut normal_concat, mut reduce, mut reduce_concat) = (None, None, None, None);
    while !r.peek_punct(')') {
        if normal.is_some()
            || normal_concat.is_some()
            || reduce.is_some()
            || reduce_concat.is_some()
        {
            r.punct(',')?;
        }
        let here = r.here();
        let key = r.ident()?;
        r.punct('=')?;
        let dup = match key.as_str() {
            "normal" => normal.replace(r.edges("normal")?).is_some(),
            "reduce" => reduce.replace(r.edges("reduce")?).is_some(),
            "normal_concat" => normal_concat.replace(r.concat()?).is_some(),
            "reduce_concat" => reduce_concat.replace(r.concat()?).is_some(),
            _ => {
                return Err(SpaceError::new(
                    here,
                    format!(
                    "unknown field {key:?}; expected normal, normal_concat, reduce, reduce_concat"
                ),
                ))
            }
        };
        if dup {
            return Err(SpaceError::new(key, "given twice"));
        }
    }
    r.punct(')')?;
    if r.pos != r.toks.len() {
        return Err(SpaceError::new(
            r.here(),
            "unexpected text after the genotype",
        ));
    }
    let missing = |name: &str| SpaceError::new(name, "missing");
    DartsGenotype::try_from(RawGenotype {
        normal: normal.ok_or_else(|| missing("normal"))?,
        normal_concat: normal_concat.ok_or_else(|| missing("normal_concat"))?,
        reduce: reduce.ok_or_else(|| missing("reduce"))?,
        reduce_concat: reduce_concat.ok_or_else(|| missing("reduce_concat"))?,
    })
}
