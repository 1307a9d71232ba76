//! `cell.svg`: a picture of the winner's cell, nodes and edges labelled
//! with their ops, in the manner of the DARTS paper's figures: DARTS' normal
//! and reduction cells (inputs c_{k-2}, c_{k-1}, nodes 0-3, output c_{k});
//! NAS-Bench-201's 4-node DAG (`none` edges dashed); PNAS' blocks, each a
//! sum of two ops on its two inputs, concatenated into h[c]; the macro
//! chain of layers with its anchor skip connections as arcs; a `seq` cell
//! as NAS-Bench-201's DAG; an mlp's layers from the encoded input to the
//! head, with its skip connections.

use crate::layout::{self, Graph, Laid, Node, Rect, Style};
use crate::svg::{text_width, Anchor, Svg};
use space::cell::{Cell, CellOp, EDGES};
use space::darts::DartsCell;
use space::mlp::Anchor as MlpAnchor;
use space::{Genotype, MacroGenotype, MlpGenotype, Nb201Cell, PnasCell};

const MARGIN: f64 = 16.0;
const TITLE_FONT: f64 = 15.0;
const SUBTITLE_FONT: f64 = 13.0;

/// The graph of a DARTS cell.
pub fn darts_graph(cell: &DartsCell) -> Graph {
    let mut g = Graph::default();
    let c0 = g.node(Style::Input, &["c_{k-2}"]);
    let c1 = g.node(Style::Input, &["c_{k-1}"]);
    let inner: Vec<usize> = (0..space::darts::NODES)
        .map(|n| g.node(Style::Inner, &[&n.to_string()]))
        .collect();
    let out = g.node(Style::Output, &["c_{k}"]);
    let state = |i: usize| match i {
        0 => c0,
        1 => c1,
        i => inner[i - 2],
    };
    for (n, &to) in inner.iter().enumerate() {
        for (op, input) in cell.node(n) {
            g.edge(state(input), to, Some(op.name()), false);
        }
    }
    for &n in &inner {
        g.edge(n, out, None, false);
    }
    g
}

/// The graph of a NAS-Bench-201 cell.
pub fn nb201_graph(cell: &Nb201Cell) -> Graph {
    cell_graph(cell)
}

/// The graph of a cell of the NAS-Bench-201 shape (NAS-Bench-201, `seq`):
/// 4 nodes, an op on every edge, `none` dashed.
pub fn cell_graph<O: CellOp>(cell: &Cell<O>) -> Graph {
    let mut g = Graph::default();
    let nodes = [
        g.node(Style::Input, &["0", "input"]),
        g.node(Style::Inner, &["1"]),
        g.node(Style::Inner, &["2"]),
        g.node(Style::Output, &["3", "output"]),
    ];
    for (&(to, from), op) in EDGES.iter().zip(&cell.edges) {
        let name = op.to_string();
        g.edge(nodes[from], nodes[to], Some(&name), name == "none");
    }
    g
}

/// The graph of an mlp: the encoded input, one node per layer (width,
/// activation, normalization, dropout), the head; the previous layer feeds
/// each layer, anchors add skip connections.
pub fn mlp_graph(m: &MlpGenotype) -> Graph {
    let mut g = Graph::default();
    let encoding = format!("{} categories", m.encoding());
    let input = g.node(Style::Input, &["x", &encoding]);
    let mut layers = Vec::with_capacity(m.layers().len());
    for (i, l) in m.layers().iter().enumerate() {
        let shape = format!("{} {}", l.width, l.activation);
        let extra = match (l.norm.name(), l.dropout_tenths) {
            ("none", 0) => String::new(),
            (norm, 0) => format!("{norm} norm"),
            ("none", _) => format!("dropout {}", l.dropout()),
            (norm, _) => format!("{norm} norm, dropout {}", l.dropout()),
        };
        let name = format!("layer {i}");
        let label: Vec<&str> = [name.as_str(), shape.as_str(), extra.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect();
        let node = g.node(Style::Inner, &label);
        let prev = layers.last().copied().unwrap_or(input);
        g.edge(prev, node, None, false);
        for a in &l.anchors {
            let from = match a {
                MlpAnchor::Input => input,
                MlpAnchor::Layer(k) => layers[*k],
            };
            g.edge(from, node, Some("skip"), false);
        }
        layers.push(node);
    }
    let head = g.node(Style::Output, &["head"]);
    g.edge(*layers.last().unwrap_or(&input), head, None, false);
    g
}

/// The graph of a PNAS cell.
pub fn pnas_graph(cell: &PnasCell) -> Graph {
    let mut g = Graph::default();
    let h0 = g.node(Style::Input, &["h[c-2]"]);
    let h1 = g.node(Style::Input, &["h[c-1]"]);
    let blocks: Vec<usize> = (1..=cell.len())
        .map(|k| g.node(Style::Sum, &["+", &format!("block {k}")]))
        .collect();
    let out = g.node(Style::Output, &["h[c]", "concat"]);
    let input = |i: usize| match i {
        0 => h0,
        1 => h1,
        i => blocks[i - 2],
    };
    for (b, block) in cell.blocks().iter().enumerate() {
        g.edge(input(block.in1), blocks[b], Some(block.op1.name()), false);
        g.edge(input(block.in2), blocks[b], Some(block.op2.name()), false);
    }
    let used: Vec<usize> = cell.blocks().iter().flat_map(|b| [b.in1, b.in2]).collect();
    for (b, &node) in blocks.iter().enumerate() {
        if !used.contains(&(b + 2)) {
            g.edge(node, out, None, false);
        }
    }
    g
}

/// One picture in the figure.
enum Panel {
    /// A layered graph.
    Graph(Graph, Laid),
    /// The macro chain, drawn as a row with arcs.
    Chain(Chain),
}

impl Panel {
    fn graph(g: Graph) -> Self {
        let laid = layout::layout(&g);
        Panel::Graph(g, laid)
    }

    fn size(&self) -> (f64, f64) {
        match self {
            Panel::Graph(_, l) => (l.width, l.height),
            Panel::Chain(c) => (c.width, c.height),
        }
    }

    fn draw(&self, svg: &mut Svg, x: f64, y: f64) {
        match self {
            Panel::Graph(g, l) => layout::draw(svg, g, l, x, y),
            Panel::Chain(c) => c.draw(svg, x, y),
        }
    }
}

/// A macro chain laid out in a row: the image, the layers, the output;
/// anchors to the next layer as straight arrows, skip connections as arcs
/// above, reads of the image and of unread layers by the output as arcs
/// below.
struct Chain {
    nodes: Vec<Node>,
    boxes: Vec<Rect>,
    /// (from, to, above): straight when `to == from + 1`.
    edges: Vec<(usize, usize, bool)>,
    width: f64,
    height: f64,
    /// The row's vertical middle.
    mid: f64,
}

const ARC_BASE: f64 = 18.0;
const ARC_STEP: f64 = 14.0;

impl Chain {
    fn new(m: &MacroGenotype) -> Self {
        let layers = m.layers();
        let n = layers.len();
        let mut nodes = vec![Node {
            label: vec!["image".into()],
            style: Style::Input,
        }];
        for (i, l) in layers.iter().enumerate() {
            nodes.push(Node {
                label: vec![
                    format!("{}x{} conv, {}", l.height, l.width, l.filters),
                    format!("layer {i}"),
                ],
                style: Style::Inner,
            });
        }
        nodes.push(Node {
            label: vec!["output".into(), "concat, pool, fc".into()],
            style: Style::Output,
        });
        // Node k: 0 the image, i + 1 layer i, n + 1 the output.
        let mut edges = Vec::new();
        for (i, l) in layers.iter().enumerate() {
            if l.anchors.is_empty() {
                edges.push((0, i + 1, false));
            }
            for &a in &l.anchors {
                edges.push((a + 1, i + 1, true));
            }
        }
        for i in 0..n {
            if !layers.iter().any(|l| l.anchors.contains(&i)) {
                edges.push((i + 1, n + 1, false));
            }
        }
        let arc = |(from, to, _): &(usize, usize, bool)| {
            if to - from > 1 {
                ARC_BASE + ARC_STEP * (to - from - 1) as f64
            } else {
                0.0
            }
        };
        let above = edges.iter().filter(|e| e.2).map(arc).fold(0.0, f64::max);
        let below = edges.iter().filter(|e| !e.2).map(arc).fold(0.0, f64::max);
        let sizes: Vec<(f64, f64)> = nodes
            .iter()
            .map(|node| {
                let w = node
                    .label
                    .iter()
                    .map(|l| text_width(l, 13.0))
                    .fold(0.0, f64::max);
                (w + 24.0, node.label.len() as f64 * 16.0 + 16.0)
            })
            .collect();
        let tallest = sizes.iter().map(|s| s.1).fold(0.0, f64::max);
        let mid = 10.0 + above + tallest / 2.0;
        let mut x = 10.0;
        let boxes = sizes
            .iter()
            .map(|&(w, h)| {
                let r = Rect {
                    x,
                    y: mid - h / 2.0,
                    w,
                    h,
                };
                x += w + 36.0;
                r
            })
            .collect();
        Self {
            nodes,
            boxes,
            edges,
            width: x - 36.0 + 10.0,
            height: mid + tallest / 2.0 + below + 10.0,
            mid,
        }
    }

    fn draw(&self, svg: &mut Svg, x: f64, y: f64) {
        for &(from, to, above) in &self.edges {
            let (a, b) = (self.boxes[from], self.boxes[to]);
            let d = if to == from + 1 {
                let m = y + self.mid;
                format!("M{:.1},{m:.1} L{:.1},{m:.1}", x + a.x + a.w, x + b.x)
            } else {
                let h = ARC_BASE + ARC_STEP * (to - from - 1) as f64;
                let (y0, y1, dy) = if above {
                    (y + a.y, y + b.y, -h)
                } else {
                    (y + a.y + a.h, y + b.y + b.h, h)
                };
                let (x0, x1) = (x + a.x + a.w * 0.6, x + b.x + b.w * 0.4);
                format!(
                    "M{x0:.1},{y0:.1} C{x0:.1},{:.1} {x1:.1},{:.1} {x1:.1},{y1:.1}",
                    y0 + dy * 1.3,
                    y1 + dy * 1.3
                )
            };
            svg.path(&d, "#444", false, true);
        }
        for (node, r) in self.nodes.iter().zip(&self.boxes) {
            layout::draw_node(
                svg,
                node,
                Rect {
                    x: r.x + x,
                    y: r.y + y,
                    ..*r
                },
            );
        }
    }
}

/// The cell picture of `genotype` as an SVG document under `title`.
pub fn cell_svg(genotype: &Genotype, title: &str) -> String {
    let panels: Vec<(String, Panel)> = match genotype {
        Genotype::Darts(d) => vec![
            ("normal cell".into(), Panel::graph(darts_graph(&d.normal))),
            (
                "reduction cell".into(),
                Panel::graph(darts_graph(&d.reduce)),
            ),
        ],
        Genotype::Nb201(c) => vec![("NAS-Bench-201 cell".into(), Panel::graph(nb201_graph(c)))],
        Genotype::Pnas(c) => vec![(
            format!("PNAS cell, {} blocks", c.len()),
            Panel::graph(pnas_graph(c)),
        )],
        Genotype::Macro(m) => vec![(
            format!("macro chain, {} layers", m.layers().len()),
            Panel::Chain(Chain::new(m)),
        )],
        Genotype::Seq(c) => vec![("seq cell (1-D ops)".into(), Panel::graph(cell_graph(c)))],
        Genotype::Mlp(m) => vec![(
            format!("dense network, {} layers", m.layers().len()),
            Panel::graph(mlp_graph(m)),
        )],
    };
    let mut svg = Svg::default();
    let mut y = MARGIN + TITLE_FONT;
    svg.text(MARGIN, y, TITLE_FONT, Anchor::Start, "#111", title);
    let mut width = text_width(title, TITLE_FONT);
    y += 10.0;
    for (name, panel) in &panels {
        y += SUBTITLE_FONT + 8.0;
        svg.text(MARGIN, y, SUBTITLE_FONT, Anchor::Start, "#444", name);
        y += 4.0;
        panel.draw(&mut svg, MARGIN, y);
        let (w, h) = panel.size();
        width = width.max(w);
        y += h + 6.0;
    }
    svg.finish(width + 2.0 * MARGIN, y + MARGIN, title)
}
