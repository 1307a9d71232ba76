//! Parameter counts of built networks against references: golden figures
//! from `scripts/reference_params.py` (PyTorch) for DARTS, the real
//! NAS-Bench-201 table's model sizes, and independent per-layer formulas
//! for PNAS and the macro chain.

use space::{Genotype, MacroGenotype, Nb201Cell, PnasCell, PnasOp, SpaceKind};
use std::collections::HashSet;
use tch::{nn, Device};
use trainer::model::{build, count_params, NetConfig};

/// Tiny networks run fastest on one libtorch thread; test threads that each
/// spin up a full intra-op pool on a small, busy machine crawl.
fn one_thread() {
    tch::set_num_threads(1);
}

/// Build `g` with `cfg` in a fresh store and count its parameters.
fn params(g: &Genotype, cfg: &NetConfig, include_auxiliary: bool) -> i64 {
    one_thread();
    let vs = nn::VarStore::new(Device::Cpu);
    build(&vs.root(), g, cfg).expect("the network builds");
    count_params(&vs, include_auxiliary)
}

fn darts(text: &str) -> Genotype {
    Genotype::parse(SpaceKind::Darts, text).expect("a DARTS genotype")
}

/// Every DARTS primitive at least once, in both cells, with stride-2 ops on
/// both inputs of the reduction cell.
const DARTS_ALL_OPS: &str = "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 2), ('max_pool_3x3', 3), ('skip_connect', 1), ('sep_conv_3x3', 4), ('sep_conv_5x5', 0)], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('dil_conv_3x3', 2), ('sep_conv_3x3', 1), ('skip_connect', 3), ('avg_pool_3x3', 4), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

#[test]
fn darts_v2_cifar_matches_the_reference() {
    // scripts/reference_params.py; the paper's 3.3M, the reference's
    // `param size = 3.349342MB`.
    let cfg = NetConfig::for_space(SpaceKind::Darts);
    assert_eq!(params(&darts("DARTS_V2"), &cfg, false), 3_349_342);
    let aux = NetConfig {
        auxiliary: true,
        ..cfg.clone()
    };
    let g = darts("DARTS_V2");
    assert_eq!(params(&g, &aux, false), 3_349_342);
    assert_eq!(params(&g, &aux, true), 3_825_768);
    assert_eq!(params(&darts("DARTS_V1"), &cfg, false), 3_169_414);
    assert_eq!(params(&darts("DARTS"), &cfg, false), 3_349_342);
}

#[test]
fn darts_v2_imagenet_matches_the_reference() {
    // The paper's 4.7M, the reference's 4.718752MB.
    let cfg = NetConfig::darts_imagenet();
    let g = darts("DARTS_V2");
    assert_eq!(params(&g, &cfg, false), 4_718_752);
    let aux = NetConfig {
        auxiliary: true,
        ..cfg
    };
    assert_eq!(params(&g, &aux, false), 4_718_752);
    assert_eq!(params(&g, &aux, true), 5_979_528);
}

#[test]
fn darts_every_primitive_matches_the_reference() {
    let g = darts(DARTS_ALL_OPS);
    let cifar = NetConfig {
        channels: 16,
        layers: 8,
        auxiliary: true,
        ..NetConfig::default()
    };
    assert_eq!(params(&g, &cifar, true), 706_820);
    let imagenet = NetConfig {
        channels: 24,
        layers: 5,
        classes: 100,
        auxiliary: true,
        ..NetConfig::darts_imagenet()
    };
    assert_eq!(params(&g, &imagenet, true), 902_724);
}

/// The converted NAS-Bench-201 CIFAR-10 table's per-seed model sizes, to
/// pick the cells whose seeds agree (about 200 cells list different sizes
/// for different seeds).
fn seeds_agree() -> HashSet<String> {
    let path = nb201::default_dir().join("cifar10.json");
    let text = std::fs::read_to_string(&path).expect("the NAS-Bench-201 table (scripts/setup.sh)");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("table JSON");
    doc["cells"]
        .as_object()
        .expect("cells")
        .iter()
        .filter(|(_, e)| {
            let sizes = e["model_size"].as_array().expect("model_size");
            sizes.iter().all(|s| s == &sizes[0])
        })
        .map(|(k, _)| k.clone())
        .collect()
}

#[test]
fn nb201_matches_the_benchmark_table() {
    let table = nb201::Table::load_dataset(&nb201::default_dir(), nb201::Dataset::Cifar10)
        .expect("the NAS-Bench-201 table (scripts/setup.sh)");
    let agree = seeds_agree();
    let cfg = NetConfig::for_space(SpaceKind::Nb201);
    let mut cells: Vec<Nb201Cell> = ["000000", "333333"]
        .iter()
        .map(|k| Nb201Cell::from_table_key(k).unwrap())
        .collect();
    let mut rng = space::rng(201);
    while cells.len() < 2 + 200 {
        let cell = Nb201Cell::sample(&mut rng);
        if agree.contains(&cell.table_key()) && !cells.contains(&cell) {
            cells.push(cell);
        }
    }
    for cell in &cells {
        let expected = (table.get(cell).model_size_m * 1e6).round() as i64;
        let got = params(&Genotype::Nb201(*cell), &cfg, false);
        assert_eq!(got, expected, "cell {cell} ({})", cell.table_key());
    }
    // scripts/reference_params.py, and the table: 0.073306 and 1.531546.
    assert_eq!(params(&Genotype::Nb201(cells[0]), &cfg, false), 73_306);
    assert_eq!(params(&Genotype::Nb201(cells[1]), &cfg, false), 1_531_546);
    let k100 = NetConfig {
        classes: 100,
        ..cfg
    };
    assert_eq!(params(&Genotype::Nb201(cells[1]), &k100, false), 1_537_396);
}

/// Parameters of a PNAS network, summed layer by layer from the
/// construction in the `pnas` module docs (independent of the builder).
fn pnas_formula(cell: &PnasCell, f: i64, n: i64, in_ch: i64, classes: i64) -> i64 {
    let bn = |c: i64| 2 * c;
    let sep = |c: i64, k: i64| 2 * (c * k * k + c * c + bn(c));
    let op = |op: PnasOp, c: i64, stride: i64| match op {
        PnasOp::Sep3x3 => sep(c, 3),
        PnasOp::Sep5x5 => sep(c, 5),
        PnasOp::Sep7x7 => sep(c, 7),
        PnasOp::Conv1x7_7x1 => 2 * 7 * c * c + bn(c),
        PnasOp::Identity if stride == 2 => 2 * c * (c / 2) + bn(c),
        PnasOp::DilConv3x3 => 9 * c + c * c + bn(c),
        PnasOp::Identity | PnasOp::AvgPool3x3 | PnasOp::MaxPool3x3 => 0,
    };
    let blocks = cell.blocks();
    let read: HashSet<usize> = blocks.iter().flat_map(|b| [b.in1, b.in2]).collect();
    let unread = (2..blocks.len() + 2).filter(|s| !read.contains(s)).count() as i64;
    let mut total = in_ch * 3 * f * 9 + bn(3 * f);
    let (mut c_pp, mut c_p) = (3 * f, 3 * f);
    for stage in 0..3 {
        let fc = f << stage;
        let reductions = if stage > 0 { 1 } else { 0 };
        for r in 0..reductions + n {
            let stride = if r < reductions { 2 } else { 1 };
            // A 1x1 conv or a factorized reduce (two 1x1 convs to half the
            // channels) has c_in x fc weights either way, plus batch norm.
            total += c_pp * fc + bn(fc) + c_p * fc + bn(fc);
            for b in blocks {
                total += op(b.op1, fc, if b.in1 < 2 { stride } else { 1 });
                total += op(b.op2, fc, if b.in2 < 2 { stride } else { 1 });
            }
            (c_pp, c_p) = (c_p, unread * fc);
        }
    }
    total + c_p * classes + classes
}

const PNASNET_5: &str = "(1,sep_5x5,1,max_pool_3x3)(0,sep_7x7,0,max_pool_3x3)(0,sep_5x5,0,sep_3x3)(4,sep_3x3,0,max_pool_3x3)(1,sep_3x3,0,identity)";
const PNAS_ALL_OPS: &str = "(0,sep_3x3,1,conv_1x7_7x1)(0,identity,2,dil_conv_3x3)(1,avg_pool_3x3,3,sep_7x7)(1,max_pool_3x3,2,sep_5x5)";

#[test]
fn pnas_matches_the_formula() {
    let mut cells: Vec<PnasCell> = [PNASNET_5, PNAS_ALL_OPS]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    let mut rng = space::rng(7);
    for blocks in 1..=5 {
        cells.push(PnasCell::sample(blocks, &mut rng).unwrap());
    }
    for (i, cell) in cells.iter().enumerate() {
        let (f, n, classes) = [(48, 3, 10), (8, 2, 10), (6, 1, 7)][i.min(2)];
        let cfg = NetConfig {
            channels: f,
            layers: n,
            classes,
            ..NetConfig::for_space(SpaceKind::Pnas)
        };
        let expected = pnas_formula(cell, f, n, 3, classes);
        assert_eq!(
            params(&Genotype::Pnas(cell.clone()), &cfg, false),
            expected,
            "cell {cell}"
        );
    }
    // And scripts/reference_params.py.
    assert_eq!(pnas_formula(&cells[0], 48, 3, 3, 10), 3_962_650);
    assert_eq!(pnas_formula(&cells[1], 8, 2, 3, 10), 129_474);
}

/// Parameters of a macro network, layer by layer.
fn macro_formula(g: &MacroGenotype, in_ch: i64, classes: i64) -> i64 {
    let layers = g.layers();
    let filters: Vec<i64> = layers.iter().map(|l| l.filters as i64).collect();
    let mut total = 0;
    for l in layers {
        let c_in: i64 = if l.anchors.is_empty() {
            in_ch
        } else {
            l.anchors.iter().map(|&a| filters[a]).sum()
        };
        let f = l.filters as i64;
        total += c_in * f * (l.height * l.width) as i64 + 2 * f;
    }
    let read: HashSet<usize> = layers
        .iter()
        .flat_map(|l| l.anchors.iter().copied())
        .collect();
    let c_out: i64 = (0..layers.len())
        .filter(|i| !read.contains(i))
        .map(|i| filters[i])
        .sum();
    total + c_out * classes + classes
}

#[test]
fn macro_matches_the_formula() {
    let mut nets: Vec<MacroGenotype> = vec!["3x3:24 5x5:36<0 3x7:48<0,1 1x1:64 7x5:36<2,3"
        .parse()
        .unwrap()];
    let mut rng = space::rng(11);
    for layers in [1, 4, 8, 12] {
        nets.push(MacroGenotype::sample(layers, &mut rng).unwrap());
    }
    for g in &nets {
        for (in_ch, classes) in [(3, 10), (1, 7)] {
            let cfg = NetConfig {
                in_channels: in_ch,
                classes,
                ..NetConfig::for_space(SpaceKind::Macro)
            };
            let expected = macro_formula(g, in_ch, classes);
            assert_eq!(
                params(&Genotype::Macro(g.clone()), &cfg, false),
                expected,
                "net {g}"
            );
        }
    }
    // And scripts/reference_params.py.
    assert_eq!(macro_formula(&nets[0], 3, 10), 224_826);
}

/// The PyTorch networks of python/nas_worker/networks.py (`SeqNetwork`,
/// `MlpNetwork`) count 19,419 and 63,266 parameters for these genotypes and
/// settings (`sum(p.numel() for p in net.parameters())`).
#[test]
fn seq_and_mlp_networks_match_their_pytorch_counterparts() {
    let seq = Genotype::parse(
        SpaceKind::Seq,
        "|conv_5~0|+|sep_conv_3~0|skip_connect~1|+|none~0|max_pool_3~1|dil_conv_3~2|",
    )
    .unwrap();
    let cfg = NetConfig {
        channels: 8,
        layers: 1,
        classes: 3,
        in_channels: 2,
        input_size: 75,
        ..NetConfig::for_space(SpaceKind::Seq)
    };
    assert_eq!(params(&seq, &cfg, false), 19_419);
    let mlp = Genotype::parse(
        SpaceKind::Mlp,
        "embed 256:relu:batch:0.1 128:gelu:none:0<x 64:silu:layer:0.2<x,0",
    )
    .unwrap();
    let cfg = NetConfig {
        classes: 5,
        table: trainer::model::TableShape {
            numeric: 3,
            categorical: vec![4, 2],
        },
        ..NetConfig::for_space(SpaceKind::Mlp)
    };
    assert_eq!(params(&mlp, &cfg, false), 63_266);
}
