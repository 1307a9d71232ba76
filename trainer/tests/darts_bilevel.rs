//! The bilevel steps of DARTS on a tiny supernet in float64: the
//! second-order α gradient (unrolled step with momentum and weight decay,
//! finite-difference Hessian-vector product) against central differences
//! of L_val(w − ξ(∇w L_train(w, α) + μ·m + λ·w), α) in α, the first-order one
//! against central differences of L_val(w, α), and the weights' SGD against
//! libtorch's own `torch.optim.SGD`.

use space::SpaceKind;
use std::sync::{Mutex, MutexGuard};
use tch::nn::OptimizerConfig;
use tch::{nn, Device, Kind, Tensor};
use trainer::darts_search::bilevel::{self, Batch, WeightSgd};
use trainer::darts_search::{Supernet, SupernetConfig};

/// libtorch's generator is global: tests that seed it and draw from it
/// hold this, so that a test running beside them cannot interleave draws
/// (these checks are exact enough to notice a different network).
static GENERATOR: Mutex<()> = Mutex::new(());

fn generator() -> MutexGuard<'static, ()> {
    GENERATOR.lock().unwrap_or_else(|e| e.into_inner())
}

const XI: f64 = 0.2;
const MOMENTUM: f64 = 0.9;
const WEIGHT_DECAY: f64 = 3e-4;

/// A DARTS supernet of 3 cells (one normal, two reduction) at C = 2 on
/// 1 x 8 x 8 inputs, in float64, and a training and a validation batch of 4.
fn setup(kind: SpaceKind) -> (Supernet, [(Tensor, Tensor); 2]) {
    tch::set_num_threads(1);
    tch::manual_seed(11);
    let cfg = SupernetConfig {
        channels: 2,
        layers: if kind == SpaceKind::Darts { 3 } else { 1 },
        classes: 3,
        in_channels: 1,
        input_size: 8,
    };
    let mut net = Supernet::new(kind, &cfg, Device::Cpu).unwrap();
    net.set_kind(Kind::Double);
    // α away from its near-uniform start, so that the ops differ in weight.
    tch::no_grad(|| {
        for a in net.alphas() {
            let r = Tensor::randn(a.size(), (Kind::Double, Device::Cpu)) * 0.5;
            a.shallow_clone().copy_(&r);
        }
    });
    let batch = |_| {
        let xs = Tensor::randn([4, 1, 8, 8], (Kind::Double, Device::Cpu));
        let ys = Tensor::from_slice(&[0i64, 1, 2, 1]);
        (xs, ys)
    };
    (net, [batch(0), batch(1)])
}

/// Copies of the tensors' values.
fn values(ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter().map(|t| t.detach().copy()).collect()
}

fn set(ts: &[Tensor], vs: &[Tensor]) {
    tch::no_grad(|| {
        for (t, v) in ts.iter().zip(vs) {
            t.shallow_clone().copy_(v);
        }
    });
}

/// All α entries as one flat f64 vector.
fn flat(ts: &[Tensor]) -> Vec<f64> {
    let cat = Tensor::cat(&ts.iter().map(|t| t.flatten(0, -1)).collect::<Vec<_>>(), 0);
    Vec::<f64>::try_from(cat).unwrap()
}

/// Perturb α by `h` along the flat direction `dir`.
fn shift_alphas(net: &Supernet, base: &[Tensor], dir: &[f64], h: f64) {
    let mut at = 0;
    let shifted: Vec<Tensor> = base
        .iter()
        .map(|b| {
            let n = b.numel();
            let d = Tensor::from_slice(&dir[at..at + n]).view(b.size().as_slice());
            at += n;
            b + d * h
        })
        .collect();
    set(net.alphas(), &shifted);
}

/// L_val(w − ξ(∇w L_train(w, α) + μ·m + λ·w), α) at the current α; the
/// weights are left at w.
fn unrolled_val_loss(net: &Supernet, sgd: &WeightSgd, train: Batch<'_>, val: Batch<'_>) -> f64 {
    let params = net.params();
    let w = values(&params);
    let g = bilevel::grads(&bilevel::loss(net, train.xs, train.ys).unwrap(), &params).unwrap();
    let dir = sgd.direction(&params, &g).unwrap();
    let stepped: Vec<Tensor> = w.iter().zip(&dir).map(|(w, d)| w - d * XI).collect();
    set(&params, &stepped);
    let l = tch::no_grad(|| {
        bilevel::loss(net, val.xs, val.ys)
            .unwrap()
            .double_value(&[])
    });
    set(&params, &w);
    l
}

/// The central difference of `f` along `dir` at α.
fn directional(net: &Supernet, dir: &[f64], f: &mut dyn FnMut() -> f64) -> f64 {
    let h = 1e-7;
    let base = values(net.alphas());
    shift_alphas(net, &base, dir, h);
    let plus = f();
    shift_alphas(net, &base, dir, -h);
    let minus = f();
    set(net.alphas(), &base);
    (plus - minus) / (2.0 * h)
}

/// Directions to check: a few random ones and a few coordinate axes
/// (among them the `none` op of an edge, and an edge of the normal cell).
fn directions(n: usize) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for k in 0..6 {
        tch::manual_seed(100 + k);
        out.push(
            Vec::<f64>::try_from(Tensor::randn([n as i64], (Kind::Double, Device::Cpu))).unwrap(),
        );
    }
    for i in [0, 3, 9, n / 2 + 1, n - 2, n - 1] {
        let mut e = vec![0.0; n];
        e[i] = 1.0;
        out.push(e);
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A momentum buffer that is not zero: one SGD step on the training batch.
fn warm_sgd(net: &Supernet, train: Batch<'_>) -> WeightSgd {
    let params = net.params();
    let mut sgd = WeightSgd::new(&params, MOMENTUM, WEIGHT_DECAY);
    let g = bilevel::grads(&bilevel::loss(net, train.xs, train.ys).unwrap(), &params).unwrap();
    sgd.step(&params, &g, 0.05).unwrap();
    sgd
}

fn check_second_order(kind: SpaceKind) {
    let _g = generator();
    let (net, [(tx, ty), (vx, vy)]) = setup(kind);
    let train = Batch { xs: &tx, ys: &ty };
    let val = Batch { xs: &vx, ys: &vy };
    let sgd = warm_sgd(&net, train);
    let params = net.params();
    let w_before = values(&params);

    // In float64 a radius of 1e-5 makes the finite-difference product
    // agree with the exact one to ~1e-8 on this net; the paper's 0.01 does
    // not (see the `bilevel` docs), so it is checked for its wiring only.
    let second = flat(
        &bilevel::second_order_at(&net, &sgd, XI, 1e-5, train, val)
            .unwrap()
            .grads,
    );
    for (p, w) in params.iter().zip(&w_before) {
        assert!(p.equal(w), "the second-order step must restore the weights");
    }
    // ∇α L_val(w', α) alone, the first term: the Hessian term must matter
    // in this setup, or the check below could not fail.
    let unrolled_only = {
        let g = bilevel::grads(&bilevel::loss(&net, train.xs, train.ys).unwrap(), &params).unwrap();
        let dir = sgd.direction(&params, &g).unwrap();
        set(
            &params,
            &w_before
                .iter()
                .zip(&dir)
                .map(|(w, d)| w - d * XI)
                .collect::<Vec<_>>(),
        );
        let l = bilevel::loss(&net, val.xs, val.ys).unwrap();
        let ga = flat(&bilevel::grads(&l, net.alphas()).unwrap());
        set(&params, &w_before);
        ga
    };

    let mut worst: f64 = 0.0;
    let mut hessian_share: f64 = 0.0;
    for dir in directions(second.len()) {
        let numeric = directional(&net, &dir, &mut || {
            unrolled_val_loss(&net, &sgd, train, val)
        });
        let analytic = dot(&second, &dir);
        let scale = numeric.abs().max(1e-3);
        worst = worst.max((analytic - numeric).abs() / scale);
        hessian_share = hessian_share.max((dot(&unrolled_only, &dir) - numeric).abs() / scale);
    }
    eprintln!(
        "{kind}: worst relative error {worst:.2e}, without the Hessian term {hessian_share:.2e}"
    );
    assert!(
        worst < 1e-5,
        "{kind}: second-order gradient off by {worst} (relative)"
    );
    assert!(
        hessian_share > 20.0 * worst.max(1e-6),
        "{kind}: the Hessian term is too small to test ({hessian_share})"
    );
    let paper = bilevel::second_order(&net, &sgd, XI, train, val)
        .unwrap()
        .grads;
    let at = bilevel::second_order_at(&net, &sgd, XI, bilevel::FD_RADIUS, train, val).unwrap();
    for (a, b) in paper.iter().zip(&at.grads) {
        assert!(a.equal(b), "second_order uses the radius FD_RADIUS");
    }
    assert!(at.val_loss.is_finite());
}

#[test]
fn darts_second_order_gradient_matches_central_differences() {
    check_second_order(SpaceKind::Darts);
}

#[test]
fn nb201_second_order_gradient_matches_central_differences() {
    check_second_order(SpaceKind::Nb201);
}

#[test]
fn first_order_gradient_matches_central_differences() {
    let _g = generator();
    let (net, [_, (vx, vy)]) = setup(SpaceKind::Darts);
    let val = Batch { xs: &vx, ys: &vy };
    let arch = bilevel::first_order(&net, val).unwrap();
    let first = flat(&arch.grads);
    assert!(arch.val_loss.is_finite());
    for dir in directions(first.len()).into_iter().take(4) {
        let numeric = directional(&net, &dir, &mut || {
            tch::no_grad(|| {
                bilevel::loss(&net, val.xs, val.ys)
                    .unwrap()
                    .double_value(&[])
            })
        });
        let analytic = dot(&first, &dir);
        assert!(
            (analytic - numeric).abs() <= 1e-6 * numeric.abs().max(1e-3),
            "{analytic} vs {numeric}"
        );
    }
}

#[test]
fn weight_sgd_steps_as_torch_sgd() {
    let _g = generator();
    tch::set_num_threads(1);
    tch::manual_seed(5);
    let vs = nn::VarStore::new(Device::Cpu);
    let root = vs.root();
    let a = root.randn("a", &[3, 4], 0.0, 1.0);
    let b = root.randn("b", &[4], 0.0, 1.0);
    let params = vec![a.shallow_clone(), b.shallow_clone()];
    let start = values(&params);
    let loss_of = |p: &[Tensor]| (p[0].matmul(&p[1]).sin() * 3.0).sum(Kind::Float);

    let mut ours = WeightSgd::new(&params, MOMENTUM, WEIGHT_DECAY);
    for lr in [0.1, 0.05, 0.02] {
        let g = bilevel::grads(&loss_of(&params), &params).unwrap();
        ours.step(&params, &g, lr).unwrap();
    }
    let after_ours = values(&params);

    set(&params, &start);
    let mut opt = nn::Sgd {
        momentum: MOMENTUM,
        dampening: 0.0,
        wd: WEIGHT_DECAY,
        nesterov: false,
    }
    .build(&vs, 0.1)
    .unwrap();
    for lr in [0.1, 0.05, 0.02] {
        opt.set_lr(lr);
        opt.zero_grad();
        loss_of(&params).backward();
        opt.step();
    }
    for (o, t) in after_ours.iter().zip(&params) {
        let diff = (o - t).abs().max().double_value(&[]);
        assert!(diff < 1e-6, "differs from torch.optim.SGD by {diff}");
    }
}

#[test]
fn gradient_clipping_scales_to_the_bound() {
    let mut g = vec![
        Tensor::from_slice(&[3.0f64, 0.0]),
        Tensor::from_slice(&[0.0f64, 4.0]),
    ];
    let norm = bilevel::clip_grad_norm(&mut g, 1.0).unwrap();
    assert!((norm - 5.0).abs() < 1e-12);
    let after = bilevel::global_norm(&g).unwrap();
    assert!((after - 1.0).abs() < 1e-5, "{after}");
    let before = values(&g);
    bilevel::clip_grad_norm(&mut g, 10.0).unwrap();
    assert!(g[0].equal(&before[0]) && g[1].equal(&before[1]));
}
