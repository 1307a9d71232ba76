//! A small layered (Sugiyama-style) layout of a DAG, left to right, and its
//! drawing: ranks by longest path, a dummy slot for every rank an edge
//! skips (so long edges route around nodes), barycenter sweeps that keep
//! the ordering with the fewest crossings, columns as wide as their widest
//! node, and smooth edges through their dummies with each op label placed
//! where it overlaps no node and no other label.

use crate::svg::{text_width, Anchor, Svg};

/// How a node is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A cell input (green).
    Input,
    /// An intermediate node (blue).
    Inner,
    /// A sum of two ops (orange, round).
    Sum,
    /// The cell output (yellow); always in the last column.
    Output,
}

/// A node: its label lines and style.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// One line each; the first is drawn bold.
    pub label: Vec<String>,
    /// How it is drawn.
    pub style: Style,
}

/// An edge with an optional op label.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Source node index.
    pub from: usize,
    /// Target node index.
    pub to: usize,
    /// The op on the edge, if any.
    pub label: Option<String>,
    /// Drawn dashed and grey (an edge that carries nothing, as `none`).
    pub dashed: bool,
}

/// A DAG to lay out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// The edges, from earlier to later ranks.
    pub edges: Vec<Edge>,
}

impl Graph {
    /// Add a node; returns its index.
    pub fn node(&mut self, style: Style, label: &[&str]) -> usize {
        self.nodes.push(Node {
            label: label.iter().map(|s| s.to_string()).collect(),
            style,
        });
        self.nodes.len() - 1
    }

    /// Add an edge.
    pub fn edge(&mut self, from: usize, to: usize, label: Option<&str>, dashed: bool) {
        self.edges.push(Edge {
            from,
            to,
            label: label.map(String::from),
            dashed,
        });
    }
}

/// A placed box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

impl Rect {
    fn overlaps(&self, o: &Rect) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }
}

/// A laid-out graph, in its own coordinates from (0, 0).
#[derive(Debug, Clone, PartialEq)]
pub struct Laid {
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
    /// Each node's box.
    pub boxes: Vec<Rect>,
    /// Each edge's curve: cubic Bezier segments (start, two controls, end).
    pub curves: Vec<Vec<[(f64, f64); 4]>>,
    /// Each edge's label box, if it has a label.
    pub labels: Vec<Option<Rect>>,
}

const NODE_FONT: f64 = 13.0;
const LABEL_FONT: f64 = 11.0;
const LINE: f64 = 16.0;
const PAD_X: f64 = 12.0;
const PAD_Y: f64 = 8.0;
const COLUMN_GAP: f64 = 150.0;
const SLOT_GAP: f64 = 22.0;
const DUMMY_H: f64 = 16.0;
const MARGIN: f64 = 10.0;
/// The part of a node's side kept free of edge ports at its ends.
const PORT_INSET: f64 = 12.0;
/// The largest gap between two ports on one side.
const PORT_STEP: f64 = 9.0;
/// How far apart parallel edges between the same two nodes bulge.
const TWIN_BULGE: f64 = 16.0;
/// Where along an edge segment a label may sit, in the order tried.
const LABEL_SPOTS: [f64; 7] = [0.5, 0.35, 0.65, 0.22, 0.78, 0.12, 0.88];
/// The room a label keeps from every node.
const LABEL_CLEARANCE: f64 = 2.0;

fn node_size(n: &Node) -> (f64, f64) {
    let text = n
        .label
        .iter()
        .map(|l| text_width(l, NODE_FONT))
        .fold(0.0, f64::max);
    let h = n.label.len() as f64 * LINE + 2.0 * PAD_Y;
    match n.style {
        Style::Sum => {
            let d = (text + 2.0 * PAD_X).max(h).max(40.0);
            (d, d)
        }
        _ => ((text + 2.0 * PAD_X).max(44.0), h),
    }
}

fn label_size(text: &str) -> (f64, f64) {
    (text_width(text, LABEL_FONT) + 6.0, LABEL_FONT + 4.0)
}

/// Rank of each node: the longest path from a source; outputs last.
fn ranks(g: &Graph) -> Vec<usize> {
    let n = g.nodes.len();
    let mut indeg = vec![0usize; n];
    for e in &g.edges {
        indeg[e.to] += 1;
    }
    let mut order: Vec<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut i = 0;
    while i < order.len() {
        let v = order[i];
        for e in g.edges.iter().filter(|e| e.from == v) {
            indeg[e.to] -= 1;
            if indeg[e.to] == 0 {
                order.push(e.to);
            }
        }
        i += 1;
    }
    // A cycle (never built here) leaves nodes out: give them the end.
    let missing: Vec<usize> = (0..n).filter(|v| !order.contains(v)).collect();
    order.extend(missing);
    let mut rank = vec![0usize; n];
    for &v in &order {
        for e in g.edges.iter().filter(|e| e.from == v) {
            rank[e.to] = rank[e.to].max(rank[v] + 1);
        }
    }
    let last = (0..n)
        .filter(|&v| g.nodes[v].style != Style::Output)
        .map(|v| rank[v] + 1)
        .max()
        .unwrap_or(0);
    for (r, node) in rank.iter_mut().zip(&g.nodes) {
        if node.style == Style::Output {
            *r = (*r).max(last);
        }
    }
    rank
}

/// Slots (nodes and dummies) by column, and each edge's chain of slots.
struct Slots {
    /// Node index, or `None` for a dummy.
    node: Vec<Option<usize>>,
    /// Column of each slot.
    column: Vec<usize>,
    /// Slot ids by column, in order.
    columns: Vec<Vec<usize>>,
    /// Each edge's slots from source to target.
    chains: Vec<Vec<usize>>,
}

impl Slots {
    fn new(g: &Graph, rank: &[usize]) -> Self {
        let columns_n = rank.iter().copied().max().map_or(0, |r| r + 1);
        let mut s = Slots {
            node: (0..g.nodes.len()).map(Some).collect(),
            column: rank.to_vec(),
            columns: vec![Vec::new(); columns_n],
            chains: Vec::new(),
        };
        for (v, &r) in rank.iter().enumerate() {
            s.columns[r].push(v);
        }
        for e in &g.edges {
            let mut chain = vec![e.from];
            for r in rank[e.from] + 1..rank[e.to] {
                let id = s.node.len();
                s.node.push(None);
                s.column.push(r);
                s.columns[r].push(id);
                chain.push(id);
            }
            chain.push(e.to);
            s.chains.push(chain);
        }
        s
    }

    /// Position of every slot within its column.
    fn positions(&self) -> Vec<usize> {
        let mut pos = vec![0; self.node.len()];
        for col in &self.columns {
            for (i, &id) in col.iter().enumerate() {
                pos[id] = i;
            }
        }
        pos
    }

    /// Segments between adjacent columns, as (upper slot, lower slot).
    fn segments(&self) -> Vec<(usize, usize)> {
        self.chains
            .iter()
            .flat_map(|c| c.windows(2).map(|w| (w[0], w[1])))
            .filter(|(a, b)| self.column[*b] == self.column[*a] + 1)
            .collect()
    }

    fn crossings(&self) -> usize {
        let pos = self.positions();
        let segs = self.segments();
        let mut n = 0;
        for (i, a) in segs.iter().enumerate() {
            for b in &segs[i + 1..] {
                if self.column[a.0] == self.column[b.0] {
                    let du = pos[a.0] as i64 - pos[b.0] as i64;
                    let dv = pos[a.1] as i64 - pos[b.1] as i64;
                    if du * dv < 0 {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Barycenter sweeps, down and up, keeping the best order seen.
    fn order(&mut self) {
        let segs = self.segments();
        let mut best = (self.crossings(), self.columns.clone());
        for sweep in 0..8 {
            let down = sweep % 2 == 0;
            let cols: Vec<usize> = if down {
                (1..self.columns.len()).collect()
            } else {
                (0..self.columns.len().saturating_sub(1)).rev().collect()
            };
            for c in cols {
                let pos = self.positions();
                let mut keyed: Vec<(f64, usize)> = self.columns[c]
                    .iter()
                    .map(|&id| {
                        let near: Vec<f64> = segs
                            .iter()
                            .filter_map(|&(a, b)| match down {
                                true if b == id => Some(pos[a] as f64),
                                false if a == id => Some(pos[b] as f64),
                                _ => None,
                            })
                            .collect();
                        let key = if near.is_empty() {
                            pos[id] as f64
                        } else {
                            near.iter().sum::<f64>() / near.len() as f64
                        };
                        (key, id)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                self.columns[c] = keyed.into_iter().map(|(_, id)| id).collect();
            }
            let c = self.crossings();
            if c < best.0 {
                best = (c, self.columns.clone());
            }
        }
        self.columns = best.1;
    }
}

/// Point at `t` of the cubic Bezier p0, c1, c2, p1.
fn bezier(p: [(f64, f64); 4], t: f64) -> (f64, f64) {
    let u = 1.0 - t;
    let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    (
        a * p[0].0 + b * p[1].0 + c * p[2].0 + d * p[3].0,
        a * p[0].1 + b * p[1].1 + c * p[2].1 + d * p[3].1,
    )
}

/// Lay `g` out.
pub fn layout(g: &Graph) -> Laid {
    let rank = ranks(g);
    let mut slots = Slots::new(g, &rank);
    slots.order();
    let placed = place_nodes(g, &slots);
    let curves = route_edges(g, &slots, &placed);
    let labels = place_labels(g, &curves, &placed.boxes);
    Laid {
        width: placed.width,
        height: placed.height,
        boxes: placed.boxes,
        curves,
        labels,
    }
}

/// Where every slot's center is, the nodes' boxes, and the picture's size.
struct Placed {
    centers: Vec<(f64, f64)>,
    boxes: Vec<Rect>,
    width: f64,
    height: f64,
}

/// Columns side by side, as wide as their widest node; each column's
/// slots stacked and centered vertically.
fn place_nodes(g: &Graph, slots: &Slots) -> Placed {
    let size = |id: usize| match slots.node[id] {
        Some(v) => node_size(&g.nodes[v]),
        None => (0.0, DUMMY_H),
    };
    let widths: Vec<f64> = (slots.columns.iter())
        .map(|c| c.iter().map(|&id| size(id).0).fold(0.0, f64::max))
        .collect();
    let heights: Vec<f64> = (slots.columns.iter())
        .map(|c| {
            c.iter().map(|&id| size(id).1).sum::<f64>()
                + SLOT_GAP * c.len().saturating_sub(1) as f64
        })
        .collect();
    let tallest = heights.iter().copied().fold(0.0, f64::max);
    let mut centers = vec![(0.0, 0.0); slots.node.len()];
    let mut x = MARGIN;
    for (c, col) in slots.columns.iter().enumerate() {
        let mut y = MARGIN + (tallest - heights[c]) / 2.0;
        for &id in col {
            let (_, h) = size(id);
            centers[id] = (x + widths[c] / 2.0, y + h / 2.0);
            y += h + SLOT_GAP;
        }
        x += widths[c] + COLUMN_GAP;
    }
    let boxes: Vec<Rect> = (0..g.nodes.len())
        .map(|v| {
            let (w, h) = node_size(&g.nodes[v]);
            Rect {
                x: centers[v].0 - w / 2.0,
                y: centers[v].1 - h / 2.0,
                w,
                h,
            }
        })
        .collect();
    Placed {
        centers,
        boxes,
        width: x - COLUMN_GAP + MARGIN,
        height: tallest + 2.0 * MARGIN,
    }
}

/// Each edge's port on the side it leaves (`out`) or enters, as an offset
/// from the side's middle: a side's edges are spread along it in the order
/// of where they go (come from), so that fans stay apart.
fn ports(g: &Graph, slots: &Slots, placed: &Placed, out: bool) -> Vec<f64> {
    let mut dy = vec![0.0; g.edges.len()];
    for (v, b) in placed.boxes.iter().enumerate() {
        let mut mine: Vec<(f64, usize)> = (0..g.edges.len())
            .filter(|&i| {
                if out {
                    g.edges[i].from == v
                } else {
                    g.edges[i].to == v
                }
            })
            .map(|i| {
                let c = &slots.chains[i];
                let other = if out { c[1] } else { c[c.len() - 2] };
                (placed.centers[other].1, i)
            })
            .collect();
        mine.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let n = mine.len() as f64;
        let step = if n > 1.0 {
            ((b.h - PORT_INSET) / (n - 1.0)).min(PORT_STEP)
        } else {
            0.0
        };
        for (k, &(_, i)) in mine.iter().enumerate() {
            dy[i] = (k as f64 - (n - 1.0) / 2.0) * step;
        }
    }
    dy
}

/// Edges as cubic segments from the source's right side to the target's
/// left, through their dummies; parallel edges between the same nodes
/// bulge apart.
fn route_edges(g: &Graph, slots: &Slots, placed: &Placed) -> Vec<Vec<[(f64, f64); 4]>> {
    let (out_dy, in_dy) = (
        ports(g, slots, placed, true),
        ports(g, slots, placed, false),
    );
    // x of a port `dy` off the middle of the side of node `v`.
    let side = |v: usize, dy: f64, right: bool| {
        let b = placed.boxes[v];
        let inset = if g.nodes[v].style == Style::Sum {
            let r = b.w / 2.0;
            r - (r * r - dy * dy).max(0.0).sqrt()
        } else {
            0.0
        };
        if right {
            b.x + b.w - inset
        } else {
            b.x + inset
        }
    };
    let mut curves: Vec<Vec<[(f64, f64); 4]>> = Vec::new();
    for (i, (e, chain)) in g.edges.iter().zip(&slots.chains).enumerate() {
        let twins: Vec<usize> = (0..g.edges.len())
            .filter(|&j| g.edges[j].from == e.from && g.edges[j].to == e.to)
            .collect();
        let k = twins.iter().position(|&j| j == i).unwrap_or(0) as f64;
        let bulge = (k - (twins.len() as f64 - 1.0) / 2.0) * TWIN_BULGE;
        let mut points: Vec<(f64, f64)> = chain.iter().map(|&id| placed.centers[id]).collect();
        let last = points.len() - 1;
        points[0] = (side(e.from, out_dy[i], true), points[0].1 + out_dy[i]);
        points[last] = (side(e.to, in_dy[i], false), points[last].1 + in_dy[i]);
        let segs = points
            .windows(2)
            .map(|w| {
                let (p, q) = (w[0], w[1]);
                let dx = (q.0 - p.0) / 2.0;
                [
                    (p.0, p.1),
                    (p.0 + dx, p.1 + bulge),
                    (q.0 - dx, q.1 + bulge),
                    (q.0, q.1),
                ]
            })
            .collect();
        curves.push(segs);
    }
    curves
}

/// Each op label at the first spot along its edge, from the edge's middle
/// segment outwards, that overlaps no node and no label placed before.
fn place_labels(g: &Graph, curves: &[Vec<[(f64, f64); 4]>], boxes: &[Rect]) -> Vec<Option<Rect>> {
    let mut placed: Vec<Rect> = Vec::new();
    let mut labels = Vec::with_capacity(g.edges.len());
    for (e, segs) in g.edges.iter().zip(curves) {
        let Some(text) = &e.label else {
            labels.push(None);
            continue;
        };
        let (w, h) = label_size(text);
        let mid = (segs.len() - 1) / 2;
        let mut order: Vec<usize> = vec![mid];
        order.extend((0..segs.len()).filter(|&s| s != mid));
        let spots = order
            .iter()
            .flat_map(|&s| LABEL_SPOTS.into_iter().map(move |t| (s, t)));
        let rect_at = |(s, t): (usize, f64)| {
            let (cx, cy) = bezier(segs[s], t);
            Rect {
                x: cx - w / 2.0,
                y: cy - h / 2.0,
                w,
                h,
            }
        };
        let free = |r: &Rect| {
            !placed.iter().any(|p| p.overlaps(r))
                && !boxes.iter().any(|b| {
                    b.overlaps(&Rect {
                        x: r.x - LABEL_CLEARANCE,
                        y: r.y - LABEL_CLEARANCE,
                        w: r.w + 2.0 * LABEL_CLEARANCE,
                        h: r.h + 2.0 * LABEL_CLEARANCE,
                    })
                })
        };
        let rect = spots
            .map(rect_at)
            .find(free)
            .unwrap_or_else(|| rect_at((mid, 0.5)));
        placed.push(rect);
        labels.push(Some(rect));
    }
    labels
}

fn colors(style: Style) -> (&'static str, &'static str) {
    match style {
        Style::Input => ("#d9ead3", "#6aa84f"),
        Style::Inner => ("#cfe2f3", "#3d85c6"),
        Style::Sum => ("#fce5cd", "#e69138"),
        Style::Output => ("#fff2cc", "#bf9000"),
    }
}

/// Draw a node's box and label at `r`.
pub fn draw_node(svg: &mut Svg, node: &Node, r: Rect) {
    let (fill, stroke) = colors(node.style);
    if node.style == Style::Sum {
        svg.circle(r.x + r.w / 2.0, r.y + r.h / 2.0, r.w / 2.0, fill, stroke);
    } else {
        svg.rect(r.x, r.y, r.w, r.h, 6.0, fill, stroke);
    }
    let lines = node.label.len() as f64;
    let top = r.y + r.h / 2.0 - lines * LINE / 2.0;
    for (i, line) in node.label.iter().enumerate() {
        let (size, color) = if i == 0 {
            (NODE_FONT, "#111")
        } else {
            (NODE_FONT - 2.0, "#555")
        };
        svg.text(
            r.x + r.w / 2.0,
            top + (i as f64 + 1.0) * LINE - 4.0,
            size,
            Anchor::Middle,
            color,
            line,
        );
    }
}

/// Draw a laid-out graph with its origin at (`x`, `y`).
pub fn draw(svg: &mut Svg, g: &Graph, laid: &Laid, x: f64, y: f64) {
    let shift = |r: Rect| Rect {
        x: r.x + x,
        y: r.y + y,
        ..r
    };
    for (e, segs) in g.edges.iter().zip(&laid.curves) {
        let d = path_data(segs, x, y);
        let color = if e.dashed { "#999" } else { "#444" };
        svg.path(&d, color, e.dashed, true);
    }
    for (v, node) in g.nodes.iter().enumerate() {
        draw_node(svg, node, shift(laid.boxes[v]));
    }
    for (e, r) in g.edges.iter().zip(&laid.labels) {
        if let (Some(text), Some(r)) = (&e.label, r) {
            let r = shift(*r);
            svg.rect(r.x, r.y, r.w, r.h, 3.0, "white", "#ddd");
            svg.text(
                r.x + r.w / 2.0,
                r.y + r.h - 4.0,
                LABEL_FONT,
                Anchor::Middle,
                if e.dashed { "#888" } else { "#222" },
                text,
            );
        }
    }
}

/// SVG path data of Bezier segments moved by (`x`, `y`).
pub fn path_data(segs: &[[(f64, f64); 4]], x: f64, y: f64) -> String {
    let Some(first) = segs.first() else {
        return String::new();
    };
    let mut d = format!("M{:.1},{:.1}", first[0].0 + x, first[0].1 + y);
    for s in segs {
        d.push_str(&format!(
            " C{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}",
            s[1].0 + x,
            s[1].1 + y,
            s[2].0 + x,
            s[2].1 + y,
            s[3].0 + x,
            s[3].1 + y
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diamond() -> Graph {
        let mut g = Graph::default();
        let a = g.node(Style::Input, &["a"]);
        let b = g.node(Style::Inner, &["b"]);
        let c = g.node(Style::Inner, &["c"]);
        let d = g.node(Style::Output, &["d"]);
        g.edge(a, b, Some("x"), false);
        g.edge(a, c, Some("y"), false);
        g.edge(b, d, None, false);
        g.edge(c, d, None, false);
        g.edge(a, d, Some("long"), false);
        g
    }

    #[test]
    fn ranks_follow_the_longest_path_and_outputs_come_last() {
        let mut g = diamond();
        let e = g.node(Style::Output, &["e"]);
        g.edge(0, e, None, false);
        assert_eq!(ranks(&g), vec![0, 1, 1, 2, 2]);
    }

    #[test]
    fn long_edges_get_dummies_and_nothing_overlaps() {
        let g = diamond();
        let laid = layout(&g);
        let s = Slots::new(&g, &ranks(&g));
        assert_eq!(s.chains[4].len(), 3, "a -> d skips one rank");
        for (i, a) in laid.boxes.iter().enumerate() {
            for b in &laid.boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} overlaps {b:?}");
            }
            for l in laid.labels.iter().flatten() {
                assert!(!a.overlaps(l), "label {l:?} overlaps node {a:?}");
            }
        }
        assert!(laid
            .boxes
            .iter()
            .all(|b| b.x >= 0.0 && b.x + b.w <= laid.width));
        assert!(laid
            .boxes
            .iter()
            .all(|b| b.y >= 0.0 && b.y + b.h <= laid.height));
    }

    #[test]
    fn sweeps_remove_avoidable_crossings() {
        // a -> d and b -> c drawn in index order would cross.
        let mut g = Graph::default();
        let a = g.node(Style::Input, &["a"]);
        let b = g.node(Style::Input, &["b"]);
        let c = g.node(Style::Inner, &["c"]);
        let d = g.node(Style::Inner, &["d"]);
        g.edge(a, d, None, false);
        g.edge(b, c, None, false);
        let mut s = Slots::new(&g, &ranks(&g));
        assert_eq!(s.crossings(), 1);
        s.order();
        assert_eq!(s.crossings(), 0);
    }

    #[test]
    fn paths_shift_by_the_origin() {
        let segs = [[(1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0)]];
        assert_eq!(
            path_data(&segs, 10.0, 20.0),
            "M11.0,22.0 C13.0,24.0 15.0,26.0 17.0,28.0"
        );
    }
}
