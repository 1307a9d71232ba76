//! The derivation rules on hand-made α: DARTS keeps, per node, the two
//! edges from distinct predecessors whose strongest non-`none` softmax
//! weight is largest, each with its strongest non-`none` op; NAS-Bench-201
//! takes the argmax of every edge over all ops, `none` included.

use space::darts::NODES;
use space::{DartsOp, Genotype, Nb201Cell, Nb201Op, SpaceKind};
use tch::{Device, Tensor};
use trainer::darts_search::derive::{derive_darts, derive_darts_cell, derive_nb201, softmax};
use trainer::darts_search::{darts_edges, Supernet, SupernetConfig};

/// α of zeros, `[14, 8]`.
fn zeros() -> Vec<Vec<f64>> {
    vec![vec![0.0; DartsOp::ALL.len()]; darts_edges().len()]
}

/// The row of edge `input -> node`.
fn edge(input: usize, node: usize) -> usize {
    darts_edges()
        .iter()
        .position(|&e| e == (input, node))
        .expect("an edge of the cell")
}

fn set(alpha: &mut [Vec<f64>], input: usize, node: usize, op: DartsOp, v: f64) {
    alpha[edge(input, node)][op.index()] = v;
}

#[test]
fn the_two_strongest_edges_with_their_strongest_ops() {
    let mut a = zeros();
    // Node 2: both inputs, the stronger listed first.
    set(&mut a, 1, 2, DartsOp::SepConv3x3, 3.0);
    set(&mut a, 0, 2, DartsOp::SkipConnect, 2.0);
    // Node 3: `none` dominates the edge from 0, which makes it weak (its
    // other ops' softmax weights are tiny), and is never chosen as an op.
    set(&mut a, 0, 3, DartsOp::None, 8.0);
    set(&mut a, 0, 3, DartsOp::SepConv5x5, 2.5);
    set(&mut a, 1, 3, DartsOp::DilConv5x5, 1.0);
    set(&mut a, 2, 3, DartsOp::MaxPool3x3, 0.5);
    // Node 4: an op's weight beats `none` on the edge from 3 alone.
    set(&mut a, 3, 4, DartsOp::None, 4.0);
    set(&mut a, 3, 4, DartsOp::AvgPool3x3, 3.9);
    set(&mut a, 2, 4, DartsOp::DilConv3x3, 0.2);
    // Node 5: edge strength is the softmax weight, not raw α: the edge
    // from 4 has larger raw values, spread over 7 ops.
    for op in &DartsOp::ALL[1..] {
        set(&mut a, 4, 5, *op, 2.0);
    }
    set(&mut a, 1, 5, DartsOp::SepConv5x5, 1.0);
    set(&mut a, 0, 5, DartsOp::SkipConnect, 0.9);
    let cell = derive_darts_cell("normal", &a).unwrap();
    let want = [
        (DartsOp::SepConv3x3, 1),
        (DartsOp::SkipConnect, 0),
        (DartsOp::DilConv5x5, 1),
        (DartsOp::MaxPool3x3, 2),
        // The edge from 3: none 4.0, avg 3.9 → stronger than dil_conv at 0.2.
        (DartsOp::AvgPool3x3, 3),
        (DartsOp::DilConv3x3, 2),
        (DartsOp::SepConv5x5, 1),
        (DartsOp::SkipConnect, 0),
    ];
    assert_eq!(cell.edges(), want);
    // The edge from 0 to 3 really is weaker by the rule than 2 → 3.
    let w03 = softmax(&a[edge(0, 3)]);
    let w23 = softmax(&a[edge(2, 3)]);
    assert!(w03[5] < w23[1], "{} vs {}", w03[5], w23[1]);
}

#[test]
fn ties_go_to_the_earlier_predecessor_and_op() {
    // Uniform α, as at initialization up to noise: every node takes inputs
    // 0 and 1 with the first op other than none.
    let cell = derive_darts_cell("reduce", &zeros()).unwrap();
    for n in 0..NODES {
        assert_eq!(
            cell.node(n),
            [(DartsOp::MaxPool3x3, 0), (DartsOp::MaxPool3x3, 1)]
        );
    }
    let mut a = zeros();
    set(&mut a, 2, 4, DartsOp::SepConv3x3, 1.0);
    set(&mut a, 2, 4, DartsOp::DilConv3x3, 1.0);
    // Equal strength (identical rows): the earlier predecessor is listed
    // first; within an edge, the earlier of two equal ops wins.
    set(&mut a, 3, 4, DartsOp::SepConv3x3, 1.0);
    set(&mut a, 3, 4, DartsOp::DilConv3x3, 1.0);
    let cell = derive_darts_cell("normal", &a).unwrap();
    assert_eq!(
        cell.node(2),
        [(DartsOp::SepConv3x3, 2), (DartsOp::SepConv3x3, 3)]
    );
}

#[test]
fn a_darts_genotype_round_trips_through_its_text() {
    let mut normal = zeros();
    let mut reduce = zeros();
    for n in 0..NODES {
        let node = n + 2;
        set(&mut normal, node - 1, node, DartsOp::SepConv3x3, 2.0);
        set(&mut normal, 0, node, DartsOp::SkipConnect, 1.0);
        set(&mut reduce, 0, node, DartsOp::MaxPool3x3, 2.0);
        set(&mut reduce, 1, node, DartsOp::DilConv5x5, 1.0);
    }
    let g = derive_darts(&normal, &reduce).unwrap();
    let text = g.to_string();
    assert!(
        text.starts_with("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 2), ('skip_connect', 0)"),
        "{text}"
    );
    let back = Genotype::parse(SpaceKind::Darts, &text).unwrap();
    assert_eq!(back, Genotype::Darts(g.clone()));
    assert_eq!(
        g.reduce.node(3),
        [(DartsOp::MaxPool3x3, 0), (DartsOp::DilConv5x5, 1)]
    );
}

#[test]
fn bad_alpha_is_refused_by_name() {
    let mut short = zeros();
    short.pop();
    let err = derive_darts(&zeros(), &short).unwrap_err().to_string();
    assert_eq!(err, "alpha reduce: expected 14 edges, found 13");
    let mut nan = zeros();
    nan[5][2] = f64::NAN;
    let err = derive_darts_cell("normal", &nan).unwrap_err().to_string();
    assert_eq!(err, "alpha normal: edge 5: weight NaN is not finite");
    let err = derive_nb201(&vec![vec![0.0; 4]; 6])
        .unwrap_err()
        .to_string();
    assert_eq!(err, "alpha cell: edge 0: expected 5 op weights, found 4");
}

#[test]
fn nb201_takes_the_argmax_of_every_edge_none_included() {
    let mut a = vec![vec![0.0; 5]; 6];
    a[0][Nb201Op::NorConv3x3.index()] = 1.0;
    a[1][Nb201Op::None.index()] = 0.7; // none wins here
    a[1][Nb201Op::SkipConnect.index()] = 0.6;
    a[2][Nb201Op::AvgPool3x3.index()] = 0.1;
    a[3][Nb201Op::NorConv1x1.index()] = 0.3;
    a[3][Nb201Op::NorConv3x3.index()] = 0.3; // a tie: the earlier op
    a[4][Nb201Op::SkipConnect.index()] = 2.0;
    // Edge 5 all equal: the first op, none.
    let cell = derive_nb201(&a).unwrap();
    let want: Nb201Cell =
        "|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|none~2|"
            .parse()
            .unwrap();
    assert_eq!(cell, want);
}

#[test]
fn supernets_derive_from_their_own_alpha() {
    tch::set_num_threads(1);
    for kind in [SpaceKind::Darts, SpaceKind::Nb201] {
        tch::manual_seed(1);
        let cfg = SupernetConfig {
            channels: 2,
            layers: 3,
            input_size: 8,
            ..SupernetConfig::for_space(kind)
        };
        let net = Supernet::new(kind, &cfg, Device::Cpu).unwrap();
        tch::no_grad(|| {
            for a in net.alphas() {
                a.shallow_clone()
                    .copy_(&(Tensor::randn(a.size(), (tch::Kind::Float, Device::Cpu))));
            }
        });
        let raw = net.raw_alphas();
        let want = match kind {
            SpaceKind::Darts => Genotype::Darts(derive_darts(&raw[0], &raw[1]).unwrap()),
            _ => Genotype::Nb201(derive_nb201(&raw[0]).unwrap()),
        };
        assert_eq!(net.derive().unwrap(), want);
        for (soft, raw) in net.softmax_alphas().iter().zip(&raw) {
            for (s, r) in soft.iter().zip(raw) {
                let exact = softmax(r);
                assert!(s.iter().zip(&exact).all(|(a, b)| (a - b).abs() < 1e-6));
            }
        }
    }
}
