//! The DARTS supernets (`trainer::darts_search`): parameter counts against
//! `scripts/reference_supernet.py` (PyTorch reimplementations of the
//! reference `cnn/model_search.py` and xautodl's `TinyNetworkDarts`),
//! forward-pass parity under deterministic weights and α, and shapes of
//! the forward and backward passes in both spaces.

use space::SpaceKind;
use tch::{nn, Device, Kind, Tensor};
use trainer::darts_search::{alpha_shape, Supernet, SupernetConfig};

/// Tiny networks run fastest on one libtorch thread.
fn one_thread() {
    tch::set_num_threads(1);
}

fn params(kind: SpaceKind, channels: i64, layers: i64, in_channels: i64) -> i64 {
    one_thread();
    let cfg = SupernetConfig {
        channels,
        layers,
        in_channels,
        ..SupernetConfig::for_space(kind)
    };
    Supernet::new(kind, &cfg, Device::Cpu)
        .expect("the supernet builds")
        .param_count()
}

#[test]
fn darts_supernet_parameters_match_the_reference() {
    // scripts/reference_supernet.py; the reference train_search.py logs
    // `param size = 1.930618MB` for C=16, L=8 on CIFAR-10.
    assert_eq!(params(SpaceKind::Darts, 16, 8, 3), 1_930_618);
    assert_eq!(params(SpaceKind::Darts, 8, 5, 1), 393_778);
}

#[test]
fn nb201_supernet_parameters_match_the_reference() {
    assert_eq!(params(SpaceKind::Nb201, 16, 5, 3), 1_686_106);
    assert_eq!(params(SpaceKind::Nb201, 8, 2, 1), 179_874);
}

#[test]
fn alpha_is_apart_from_the_weights() {
    one_thread();
    let cfg = SupernetConfig {
        channels: 4,
        layers: 3,
        input_size: 8,
        ..SupernetConfig::for_space(SpaceKind::Darts)
    };
    let net = Supernet::new(SpaceKind::Darts, &cfg, Device::Cpu).unwrap();
    assert_eq!(net.alpha_names(), ["normal", "reduce"]);
    for a in net.alphas() {
        assert_eq!(a.size(), [14, 8]);
        assert!(a.requires_grad());
        // 1e-3 · N(0, 1): 112 draws stay well inside 1e-2.
        let max = a.abs().max().double_value(&[]);
        assert!(max > 0.0 && max < 1e-2, "{max}");
    }
    assert_eq!(net.arch().trainable_variables().len(), 2);
    let names: Vec<String> = net.weights().variables().into_keys().collect();
    assert!(names
        .iter()
        .all(|n| !n.contains("normal") && !n.contains("reduce")));
    assert!(names.contains(&"cells.1.edges.0.max_pool_3x3.bn.running_mean".to_string()));
    assert!(names.contains(&"cells.1.edges.0.skip_connect.conv1.weight".to_string()));
    // Plain batch norms inside cells: no weight or bias under an edge.
    assert!(!names
        .iter()
        .any(|n| n.contains(".edges.") && n.contains("bn") && n.ends_with("weight")));
}

/// The rule of `fill()` in scripts/reference_supernet.py.
fn fill(vs: &nn::VarStore) {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    tch::no_grad(|| {
        for (j, name) in names.into_iter().enumerate() {
            let mut t = vars[name].shallow_clone();
            let n = t.numel() as i64;
            let s = (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.37 + 0.91 * j as f64)
                .sin()
                .reshape(t.size());
            let v = if name.ends_with("running_mean") {
                s * 0.1
            } else if name.ends_with("running_var") {
                &s * 0.5 * &s + 1.0
            } else if name.ends_with("bias") {
                s * 0.1
            } else if t.dim() == 1 {
                s * 0.2 + 1.0
            } else {
                s * (2.0 / (n / t.size()[0]) as f64).sqrt()
            };
            t.copy_(&v);
        }
    });
}

/// α k, entry (e, o): 0.8 sin(1.3 e + 0.7 o + 0.4 k), as `fill_alphas()`.
fn fill_alphas(net: &Supernet) {
    tch::no_grad(|| {
        for (k, a) in net.alphas().iter().enumerate() {
            let (edges, ops) = (a.size()[0], a.size()[1]);
            let e = Tensor::arange(edges, (Kind::Double, Device::Cpu)).view([-1, 1]);
            let o = Tensor::arange(ops, (Kind::Double, Device::Cpu)).view([1, -1]);
            let v = (e * 1.3 + o * 0.7 + 0.4 * k as f64).sin() * 0.8;
            a.shallow_clone().copy_(&v);
        }
    });
}

fn assert_close(what: &str, got: &Tensor, want: &[f64]) {
    let got: Vec<f64> = Vec::try_from(got.flatten(0, -1)).expect("f64 logits");
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-9 * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, PyTorch {w}"
        );
    }
}

fn check_parity(kind: SpaceKind, cfg: &SupernetConfig, eval: &[f64], train: &[f64]) {
    one_thread();
    let mut net = Supernet::new(kind, cfg, Device::Cpu).unwrap();
    net.set_kind(Kind::Double);
    fill(net.weights());
    fill_alphas(&net);
    let n = 2 * cfg.in_channels * cfg.input_size * cfg.input_size;
    let xs = (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.05 + 0.3)
        .sin()
        .reshape([2, cfg.in_channels, cfg.input_size, cfg.input_size]);
    tch::no_grad(|| {
        assert_close(&format!("{kind} eval"), &net.forward_t(&xs, false), eval);
        assert_close(&format!("{kind} train"), &net.forward_t(&xs, true), train);
    });
}

#[test]
fn darts_supernet_matches_pytorch() {
    let cfg = SupernetConfig {
        channels: 4,
        layers: 5,
        input_size: 16,
        ..SupernetConfig::for_space(SpaceKind::Darts)
    };
    check_parity(
        SpaceKind::Darts,
        &cfg,
        &DARTS_SUPERNET_EVAL,
        &DARTS_SUPERNET_TRAIN,
    );
}

#[test]
fn nb201_supernet_matches_pytorch() {
    let cfg = SupernetConfig {
        channels: 4,
        layers: 1,
        input_size: 16,
        ..SupernetConfig::for_space(SpaceKind::Nb201)
    };
    check_parity(
        SpaceKind::Nb201,
        &cfg,
        &NB201_SUPERNET_EVAL,
        &NB201_SUPERNET_TRAIN,
    );
}

/// Logits of the right shape, and a backward pass that reaches every
/// weight and every α.
fn check_shapes(kind: SpaceKind, cfg: &SupernetConfig) {
    one_thread();
    tch::manual_seed(3);
    let net = Supernet::new(kind, cfg, Device::Cpu).unwrap();
    let xs = Tensor::randn(
        [3, cfg.in_channels, cfg.input_size, cfg.input_size],
        (Kind::Float, Device::Cpu),
    );
    net.check_input(&xs).unwrap();
    let logits = net.forward_t(&xs, true);
    assert_eq!(logits.size(), [3, cfg.classes]);
    logits.sum(Kind::Float).backward();
    let (edges, ops) = alpha_shape(kind);
    for a in net.alphas() {
        let g = a.grad();
        assert_eq!(g.size(), [edges as i64, ops as i64]);
        assert!(g.abs().sum(Kind::Double).double_value(&[]) > 0.0);
    }
    for (name, p) in net.weights().variables() {
        if p.requires_grad() {
            assert!(p.grad().defined(), "{name} got no gradient");
        }
    }
    let eval = tch::no_grad(|| net.forward_t(&xs, false));
    assert_eq!(eval.size(), [3, cfg.classes]);
    let bad = Tensor::zeros([3, cfg.in_channels, 4, 4], (Kind::Float, Device::Cpu));
    assert!(net.check_input(&bad).is_err());
}

#[test]
fn darts_supernet_forward_and_backward() {
    let cfg = SupernetConfig {
        channels: 2,
        layers: 3,
        classes: 5,
        in_channels: 1,
        input_size: 8,
    };
    check_shapes(SpaceKind::Darts, &cfg);
}

#[test]
fn nb201_supernet_forward_and_backward() {
    let cfg = SupernetConfig {
        channels: 2,
        layers: 1,
        classes: 4,
        in_channels: 3,
        input_size: 8,
    };
    check_shapes(SpaceKind::Nb201, &cfg);
}

#[test]
fn bad_supernets_are_refused_by_name() {
    let odd = SupernetConfig {
        input_size: 6,
        layers: 3,
        ..SupernetConfig::for_space(SpaceKind::Darts)
    };
    let err = Supernet::new(SpaceKind::Darts, &odd, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("reduction cell 2"), "{err}");
    let zero = SupernetConfig {
        channels: 0,
        ..SupernetConfig::for_space(SpaceKind::Nb201)
    };
    let err = Supernet::new(SpaceKind::Nb201, &zero, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("channels:"), "{err}");
    let cfg = SupernetConfig::for_space(SpaceKind::Pnas);
    let err = Supernet::new(SpaceKind::Pnas, &cfg, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pnas") && err.contains("DARTS supernet"),
        "{err}"
    );
}

const DARTS_SUPERNET_EVAL: [f64; 20] = [
    -0.06867480796465543,
    -0.5519524526164937,
    -0.20339703064483908,
    0.40043985513715546,
    0.24660008895615515,
    -0.3340814853836171,
    -0.2587533080570158,
    0.3889413525630307,
    0.49977947330967,
    -0.10843340429325884,
    -0.058766337894848614,
    -0.5548790366550271,
    -0.21399489309414133,
    0.40086998408836105,
    0.2572992734988117,
    -0.3319912915990302,
    -0.26896012209269554,
    0.3844468198896655,
    0.5089275456404769,
    -0.10178393218576387,
];
const DARTS_SUPERNET_TRAIN: [f64; 20] = [
    -0.6489500004058761,
    0.9231171499587686,
    0.724348704193809,
    -0.8560879829488484,
    -0.9771360240144102,
    0.6341804632943728,
    1.1930686551693912,
    -0.2373263172376417,
    -1.0995674382525045,
    0.14108869508020522,
    0.45095099685858,
    -1.097512080051242,
    -0.8515360251670214,
    0.793322478325894,
    0.9872873523461771,
    -0.5524862366755978,
    -1.0508884605914783,
    0.4207490574359874,
    1.2994073166604245,
    0.04812093148602381,
];
const NB201_SUPERNET_EVAL: [f64; 20] = [
    -0.034212598945567343,
    0.03333257840722459,
    0.09684781670220688,
    0.14789144118922445,
    0.17962674191861436,
    0.18773792265475378,
    0.17101690749507964,
    0.13154123353699937,
    0.07441707595291196,
    0.007119027389480434,
    -0.03765737576984082,
    -0.0007694917909386173,
    0.03653741084201448,
    0.06924079810495105,
    0.09289662827513251,
    0.10424315323317121,
    0.10165021391431397,
    0.08535219796490343,
    0.057431522183108555,
    0.0215528915805433,
];
const NB201_SUPERNET_TRAIN: [f64; 20] = [
    0.0967832414258332,
    0.12655128228987428,
    0.14012806752152832,
    0.13558689534980484,
    0.11334265106016903,
    0.07612171244629809,
    0.028630034067853277,
    -0.02304050478000888,
    -0.0721927862671378,
    -0.11239222908442613,
    -0.2531148565296271,
    -0.15222802859849188,
    -0.03116289404511733,
    0.09413091015728592,
    0.20712999205612537,
    0.2929168786311095,
    0.34014991767455155,
    0.34256319730853224,
    0.29979805781296365,
    0.21745581364672278,
];
