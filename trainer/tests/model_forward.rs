//! Forward and backward passes of built networks on the CPU at tiny sizes:
//! output shapes, finite losses, gradients reaching the stem, drop path,
//! stable parameter paths, and named errors for bad configurations.

use space::{DartsGenotype, Genotype, MacroGenotype, Nb201Cell, Nb201Op, PnasCell, SpaceKind};
use tch::nn::{self, ModuleT};
use tch::{Device, Kind, Tensor};
use trainer::model::{build, count_params, ModelError, NetConfig, Network};

const BATCH: i64 = 2;

fn input(cfg: &NetConfig) -> Tensor {
    Tensor::randn(
        [BATCH, cfg.in_channels, cfg.input_size, cfg.input_size],
        (Kind::Float, Device::Cpu),
    )
}

/// Tiny networks run fastest on one libtorch thread; test threads that each
/// spin up a full intra-op pool on a small, busy machine crawl.
fn one_thread() {
    tch::set_num_threads(1);
}

fn built(g: &Genotype, cfg: &NetConfig) -> (nn::VarStore, Network) {
    one_thread();
    let vs = nn::VarStore::new(Device::Cpu);
    let net = build(&vs.root(), g, cfg).unwrap_or_else(|e| panic!("{g}: {e}"));
    (vs, net)
}

/// One training step and one evaluation pass: shapes, a finite loss and,
/// when `stem` is given, a non-zero gradient on that stem weight.
fn train_step(g: &Genotype, cfg: &NetConfig, stem: Option<&str>) {
    let (vs, net) = built(g, cfg);
    let xs = input(cfg);
    net.check_input(&xs).unwrap();
    let ys = Tensor::from_slice(&[0i64, cfg.classes - 1]);
    let out = net.forward_t(&xs, true);
    assert_eq!(out.logits.size(), [BATCH, cfg.classes], "{g}");
    let mut loss = out.logits.cross_entropy_for_logits(&ys);
    match (cfg.auxiliary, out.aux_logits) {
        (true, Some(aux)) => {
            assert_eq!(aux.size(), [BATCH, cfg.classes], "{g}");
            loss += 0.4 * aux.cross_entropy_for_logits(&ys);
        }
        (false, None) => {}
        (want, got) => panic!("{g}: auxiliary {want} but aux logits {got:?}"),
    }
    let value = loss.double_value(&[]);
    assert!(value.is_finite(), "{g}: loss {value}");
    loss.backward();
    if let Some(stem) = stem {
        let grad = vs.variables()[stem].grad();
        assert!(grad.defined(), "{g}: no gradient at {stem}");
        let norm = grad.abs().sum(Kind::Double).double_value(&[]);
        assert!(
            norm > 0.0 && norm.is_finite(),
            "{g}: gradient {norm} at {stem}"
        );
    }
    let eval = tch::no_grad(|| net.forward_t(&xs, false));
    assert_eq!(eval.logits.size(), [BATCH, cfg.classes]);
    assert!(
        eval.aux_logits.is_none(),
        "{g}: aux logits outside training"
    );
}

fn tiny_darts() -> NetConfig {
    NetConfig {
        channels: 4,
        layers: 3,
        auxiliary: true,
        drop_path: 0.2,
        ..NetConfig::default()
    }
}

#[test]
fn darts_cifar_trains() {
    tch::manual_seed(0);
    let cfg = tiny_darts();
    let mut rng = space::rng(1);
    let mut genotypes = vec![DartsGenotype::named("DARTS_V2").unwrap()];
    genotypes.extend((0..4).map(|_| DartsGenotype::sample(&mut rng)));
    for g in genotypes {
        train_step(&Genotype::Darts(g), &cfg, Some("stem.conv.weight"));
    }
    let five = NetConfig {
        layers: 5,
        input_size: 16,
        auxiliary: false,
        ..cfg
    };
    train_step(&darts_v2(), &five, Some("stem.conv.weight"));
}

fn darts_v2() -> Genotype {
    Genotype::Darts(DartsGenotype::named("DARTS_V2").unwrap())
}

#[test]
fn darts_imagenet_trains() {
    tch::manual_seed(0);
    // 224 leaves the auxiliary head the reference's 7x7 feature map.
    let cfg = NetConfig {
        channels: 4,
        layers: 3,
        classes: 5,
        auxiliary: true,
        drop_path: 0.1,
        ..NetConfig::darts_imagenet()
    };
    train_step(&darts_v2(), &cfg, Some("stem0.conv1.weight"));
    let small = NetConfig {
        input_size: 64,
        auxiliary: false,
        ..cfg
    };
    let mut rng = space::rng(2);
    for _ in 0..2 {
        let g = Genotype::Darts(DartsGenotype::sample(&mut rng));
        train_step(&g, &small, Some("stem0.conv1.weight"));
    }
}

/// Is there a path of non-`none` edges from the cell's input to its output?
fn connected(cell: &Nb201Cell) -> bool {
    let mut reach = [true, false, false, false];
    for j in 1..4 {
        reach[j] = (0..j).any(|i| reach[i] && cell.op(j, i) != Some(Nb201Op::None));
    }
    reach[3]
}

#[test]
fn nb201_trains() {
    tch::manual_seed(0);
    let cfg = NetConfig {
        channels: 4,
        layers: 1,
        input_size: 16,
        ..NetConfig::for_space(SpaceKind::Nb201)
    };
    let mut cells: Vec<Nb201Cell> = ["333333", "000000", "124124"]
        .iter()
        .map(|k| Nb201Cell::from_table_key(k).unwrap())
        .collect();
    let mut rng = space::rng(3);
    cells.extend((0..5).map(|_| Nb201Cell::sample(&mut rng)));
    for cell in cells {
        // A cell with no path to its output passes nothing on: the stem
        // then gets no gradient, as in the reference.
        let stem = connected(&cell).then_some("stem.conv.weight");
        train_step(&Genotype::Nb201(cell), &cfg, stem);
    }
}

#[test]
fn pnas_trains() {
    tch::manual_seed(0);
    let cfg = NetConfig {
        channels: 4,
        layers: 1,
        input_size: 16,
        drop_path: 0.2,
        ..NetConfig::for_space(SpaceKind::Pnas)
    };
    let mut cells: Vec<PnasCell> = vec![
        "(1,sep_5x5,1,max_pool_3x3)(0,sep_7x7,0,max_pool_3x3)(0,sep_5x5,0,sep_3x3)(4,sep_3x3,0,max_pool_3x3)(1,sep_3x3,0,identity)".parse().unwrap(),
        "(0,identity,1,identity)".parse().unwrap(),
    ];
    let mut rng = space::rng(4);
    cells.extend((1..=5).map(|b| PnasCell::sample(b, &mut rng).unwrap()));
    for cell in cells {
        train_step(&Genotype::Pnas(cell), &cfg, Some("stem.conv.weight"));
    }
}

#[test]
fn macro_trains() {
    tch::manual_seed(0);
    let cfg = NetConfig {
        input_size: 12,
        classes: 7,
        ..NetConfig::for_space(SpaceKind::Macro)
    };
    let mut nets: Vec<MacroGenotype> = vec!["3x3:24 5x5:36<0 3x7:48<0,1 1x1:64 7x5:36<2,3"
        .parse()
        .unwrap()];
    let mut rng = space::rng(5);
    nets.extend([1, 3, 6].map(|n| MacroGenotype::sample(n, &mut rng).unwrap()));
    for g in nets {
        train_step(&Genotype::Macro(g), &cfg, Some("layers.0.conv.weight"));
    }
}

#[test]
fn drop_path_changes_training_outputs_only() {
    tch::manual_seed(0);
    let pnas: PnasCell = "(0,sep_3x3,1,sep_5x5)(2,identity,0,dil_conv_3x3)"
        .parse()
        .unwrap();
    let cases = [
        (
            darts_v2(),
            NetConfig {
                input_size: 16,
                auxiliary: false,
                drop_path: 0.0,
                ..tiny_darts()
            },
        ),
        (
            Genotype::Pnas(pnas),
            NetConfig {
                channels: 4,
                layers: 1,
                input_size: 16,
                ..NetConfig::for_space(SpaceKind::Pnas)
            },
        ),
    ];
    for (g, cfg) in cases {
        let (_vs, net) = built(&g, &cfg);
        let xs = input(&cfg);
        let run = |train| tch::no_grad(|| net.forward_t(&xs, train).logits);
        let train = run(true);
        assert!(
            run(true).equal(&train),
            "{g}: training without drop path is deterministic"
        );
        net.set_drop_path(0.5).unwrap();
        assert_eq!(net.drop_path(), 0.5);
        assert!(
            !run(true).allclose(&train, 1e-6, 1e-6, false),
            "{g}: drop path changed nothing"
        );
        net.set_drop_path(0.0).unwrap();
        let eval = run(false);
        net.set_drop_path(0.5).unwrap();
        assert!(
            run(false).equal(&eval),
            "{g}: drop path acted in evaluation"
        );
    }
}

#[test]
fn parameter_paths_are_stable() {
    let (vs, _net) = built(&darts_v2(), &tiny_darts());
    let names = vs.variables();
    for name in [
        "stem.conv.weight",
        "stem.bn.weight",
        "cells.0.preprocess0.conv.weight",
        "cells.0.preprocess1.bn.bias",
        "cells.0.node2.edge0.dw1.weight",
        "cells.0.node2.edge1.pw2.weight",
        "cells.0.node5.edge1.dw.weight",
        "cells.2.preprocess0.conv1.weight",
        "auxiliary_head.conv2.weight",
        "auxiliary_head.classifier.bias",
        "classifier.weight",
    ] {
        assert!(names.contains_key(name), "no parameter {name}");
    }
    let aux: i64 = names
        .iter()
        .filter(|(n, _)| n.starts_with("auxiliary_head.") && !n.contains("running_"))
        .map(|(_, t)| t.numel() as i64)
        .sum();
    assert!(aux > 0);
    assert_eq!(count_params(&vs, true) - count_params(&vs, false), aux);

    let cell = Nb201Cell::from_table_key("300003").unwrap();
    let cfg = NetConfig {
        layers: 2,
        ..NetConfig::for_space(SpaceKind::Nb201)
    };
    let (vs, _net) = built(&Genotype::Nb201(cell), &cfg);
    let names = vs.variables();
    for name in [
        "cells.0.node1.from0.conv.weight",
        "cells.1.node3.from2.bn.weight",
        "cells.2.conv_a.conv.weight",
        "cells.2.downsample.conv.weight",
        "cells.5.conv_b.bn.bias",
        "lastact.bn.weight",
    ] {
        assert!(names.contains_key(name), "no parameter {name}");
    }
}

#[test]
fn network_is_a_tch_module() {
    let cfg = NetConfig {
        input_size: 16,
        auxiliary: false,
        ..tiny_darts()
    };
    let (_vs, net) = built(&darts_v2(), &cfg);
    let xs = input(&cfg);
    let logits = tch::no_grad(|| ModuleT::forward_t(&net, &xs, false));
    assert_eq!(logits.size(), [BATCH, 10]);
    assert_eq!(net.space(), SpaceKind::Darts);
    assert_eq!(net.config(), &cfg);
}

fn error(g: &Genotype, cfg: &NetConfig) -> ModelError {
    one_thread();
    let vs = nn::VarStore::new(Device::Cpu);
    match build(&vs.root(), g, cfg) {
        Ok(_) => panic!("{g} built with {cfg:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_configs_are_named_errors() {
    let nb201 = Genotype::Nb201(Nb201Cell::from_table_key("333333").unwrap());
    let cases: Vec<(Genotype, NetConfig, &str)> = vec![
        (
            darts_v2(),
            NetConfig {
                input_size: 16,
                ..tiny_darts()
            },
            "input size 16: the auxiliary head after cell 2 gets a 4x4 feature map; it needs at least 8x8",
        ),
        (
            darts_v2(),
            NetConfig {
                input_size: 30,
                auxiliary: false,
                ..tiny_darts()
            },
            "input size 30: the feature map at reduction cell 2 is 15x15; a stride-2 reduction needs an even size of at least 2",
        ),
        (
            darts_v2(),
            NetConfig {
                channels: 5,
                layers: 3,
                ..NetConfig::darts_imagenet()
            },
            "cells.0.preprocess0: factorized reduce needs an even output channel count, got 5",
        ),
        (
            darts_v2(),
            NetConfig {
                channels: 0,
                ..tiny_darts()
            },
            "channels: 0 is not between 1 and 4096",
        ),
        (
            darts_v2(),
            NetConfig {
                drop_path: 1.0,
                ..tiny_darts()
            },
            "drop_path: 1 is not a probability in [0, 1)",
        ),
        (
            nb201.clone(),
            NetConfig {
                input_size: 6,
                ..NetConfig::for_space(SpaceKind::Nb201)
            },
            "input size 6: the feature map at residual block cells.11 is 3x3; a stride-2 reduction needs an even size of at least 2",
        ),
        (
            nb201.clone(),
            NetConfig {
                auxiliary: true,
                ..NetConfig::for_space(SpaceKind::Nb201)
            },
            "the nb201 network has no auxiliary head",
        ),
        (
            Genotype::Pnas("(0,identity,1,identity)".parse().unwrap()),
            NetConfig {
                imagenet: true,
                ..NetConfig::for_space(SpaceKind::Pnas)
            },
            "the pnas network has no ImageNet variant",
        ),
        (
            Genotype::Pnas("(0,identity,1,identity)".parse().unwrap()),
            NetConfig {
                input_size: 2,
                ..NetConfig::for_space(SpaceKind::Pnas)
            },
            "input size 2: the feature map at reduction cell cells.7 is 1x1; a stride-2 reduction needs an even size of at least 2",
        ),
        (
            Genotype::Macro("3x3:24".parse().unwrap()),
            NetConfig {
                drop_path: 0.1,
                ..NetConfig::for_space(SpaceKind::Macro)
            },
            "the macro network has no drop path",
        ),
    ];
    for (g, cfg, message) in cases {
        assert_eq!(error(&g, &cfg).to_string(), message);
    }

    let (_vs, net) = built(&nb201, &NetConfig::for_space(SpaceKind::Nb201));
    assert!(matches!(
        net.set_drop_path(0.1),
        Err(ModelError::Unsupported { .. })
    ));
    assert!(net.set_drop_path(0.0).is_ok());
    let wrong = Tensor::zeros([2, 3, 16, 16], (Kind::Float, Device::Cpu));
    assert_eq!(
        net.check_input(&wrong).unwrap_err().to_string(),
        "expected an input of shape [batch, 3, 32, 32], got [2, 3, 16, 16]"
    );
    let (_vs, darts) = built(&darts_v2(), &tiny_darts());
    assert!(darts.set_drop_path(f64::NAN).is_err());
    assert!(darts.set_drop_path(-0.1).is_err());
}
