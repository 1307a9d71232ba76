//! Forward-pass parity with PyTorch: each network is given the same
//! deterministic weights and input as `scripts/reference_params.py --parity`
//! gives its PyTorch counterpart (whose modules carry the same parameter
//! paths), and its logits, in evaluation and in training mode (batch
//! statistics, no drop path), must equal the golden ones printed there.

use space::{Genotype, SpaceKind};
use tch::{nn, Device, Kind, Tensor};
use trainer::model::{build, NetConfig};

/// Entry j of the sorted variable names gets s = sin(0.37 t + 0.91 j) over
/// its flattened index t, shaped by role; the same rule as `fill()` in
/// `scripts/reference_params.py`.
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

/// sin(0.05 t + 0.3) over the flattened index t of a [2, c, size, size] batch.
fn parity_input(c: i64, size: i64) -> Tensor {
    let n = 2 * c * size * size;
    (Tensor::arange(n, (Kind::Double, Device::Cpu)) * 0.05 + 0.3)
        .sin()
        .reshape([2, c, size, size])
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

/// Tiny networks run fastest on one libtorch thread; test threads that each
/// spin up a full intra-op pool on a small, busy machine crawl.
fn one_thread() {
    tch::set_num_threads(1);
}

/// Build `g` in double precision, fill it, and compare its evaluation,
/// training and auxiliary logits with PyTorch's.
fn check(
    what: &str,
    g: &Genotype,
    cfg: &NetConfig,
    eval: &[f64],
    train: &[f64],
    aux: Option<&[f64]>,
) {
    one_thread();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = build(&vs.root(), g, cfg).expect("the network builds");
    vs.double();
    fill(&vs);
    let xs = parity_input(cfg.in_channels, cfg.input_size);
    tch::no_grad(|| {
        let out = net.forward_t(&xs, false);
        assert_close(&format!("{what} eval"), &out.logits, eval);
        let out = net.forward_t(&xs, true);
        assert_close(&format!("{what} train"), &out.logits, train);
        match (aux, out.aux_logits) {
            (Some(want), Some(got)) => assert_close(&format!("{what} aux"), &got, want),
            (None, None) => {}
            (want, got) => panic!("{what}: auxiliary logits {got:?}, PyTorch {want:?}"),
        }
    });
}

const DARTS_ALL_OPS: &str = "Genotype(normal=[('sep_conv_5x5', 0), ('dil_conv_5x5', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 2), ('max_pool_3x3', 3), ('skip_connect', 1), ('sep_conv_3x3', 4), ('sep_conv_5x5', 0)], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), ('sep_conv_5x5', 1), ('dil_conv_5x5', 0), ('dil_conv_3x3', 2), ('sep_conv_3x3', 1), ('skip_connect', 3), ('avg_pool_3x3', 4), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

#[test]
fn darts_cifar_matches_pytorch() {
    let g = Genotype::parse(SpaceKind::Darts, DARTS_ALL_OPS).unwrap();
    let cfg = NetConfig {
        channels: 4,
        layers: 5,
        auxiliary: true,
        ..NetConfig::default()
    };
    check(
        "darts cifar",
        &g,
        &cfg,
        &DARTS_ALL_OPS_CIFAR_EVAL,
        &DARTS_ALL_OPS_CIFAR_TRAIN,
        Some(&DARTS_ALL_OPS_CIFAR_AUX),
    );
}

#[test]
fn darts_imagenet_matches_pytorch() {
    let g = Genotype::parse(SpaceKind::Darts, "DARTS_V2").unwrap();
    let cfg = NetConfig {
        channels: 4,
        layers: 3,
        classes: 5,
        auxiliary: true,
        ..NetConfig::darts_imagenet()
    };
    check(
        "darts imagenet",
        &g,
        &cfg,
        &DARTS_V2_IMAGENET_EVAL,
        &DARTS_V2_IMAGENET_TRAIN,
        Some(&DARTS_V2_IMAGENET_AUX),
    );
}

#[test]
fn nb201_matches_pytorch() {
    let cell = space::Nb201Cell::from_table_key("342103").unwrap();
    let cfg = NetConfig {
        channels: 4,
        layers: 1,
        input_size: 16,
        ..NetConfig::for_space(SpaceKind::Nb201)
    };
    check(
        "nb201",
        &Genotype::Nb201(cell),
        &cfg,
        &NB201_342103_EVAL,
        &NB201_342103_TRAIN,
        None,
    );
}

#[test]
fn pnas_matches_pytorch() {
    let cell = "(0,sep_3x3,1,conv_1x7_7x1)(0,identity,2,dil_conv_3x3)(1,avg_pool_3x3,3,sep_7x7)(1,max_pool_3x3,2,sep_5x5)";
    let cfg = NetConfig {
        channels: 4,
        layers: 1,
        input_size: 16,
        ..NetConfig::for_space(SpaceKind::Pnas)
    };
    let g = Genotype::parse(SpaceKind::Pnas, cell).unwrap();
    check(
        "pnas",
        &g,
        &cfg,
        &PNAS_ALL_OPS_EVAL,
        &PNAS_ALL_OPS_TRAIN,
        None,
    );
}

#[test]
fn macro_matches_pytorch() {
    let g = Genotype::parse(
        SpaceKind::Macro,
        "3x3:24 5x5:36<0 3x7:48<0,1 1x1:64 7x5:36<2,3",
    )
    .unwrap();
    let cfg = NetConfig {
        classes: 7,
        in_channels: 1,
        input_size: 12,
        ..NetConfig::for_space(SpaceKind::Macro)
    };
    check("macro", &g, &cfg, &MACRO_EVAL, &MACRO_TRAIN, None);
}

// Golden logits: `$NAS_VENV/bin/python scripts/reference_params.py --parity`.
const DARTS_ALL_OPS_CIFAR_EVAL: [f64; 20] = [
    0.6456484898904097,
    -0.02322439960679204,
    -0.5190459994441,
    -0.010396125581553686,
    0.5498199384352532,
    0.11321501057390673,
    -0.6061559550212934,
    -0.38408053729057845,
    0.3598648116256955,
    0.30638557847964815,
    0.6092886675623256,
    -0.02871479327436087,
    -0.48397950596118633,
    0.003354606099360089,
    0.5179925966419863,
    0.09196696236185042,
    -0.5793338487940218,
    -0.3565142165151407,
    0.3395362867284294,
    0.2740306270118959,
];
const DARTS_ALL_OPS_CIFAR_TRAIN: [f64; 20] = [
    -0.8199996124160066,
    -1.0644546802950947,
    0.7013276766524525,
    1.3183079817115495,
    -0.35756136357891893,
    -1.429233771968192,
    -0.062117178779728194,
    1.286523179998878,
    0.20935701098296788,
    -1.3996720774124836,
    0.5719452249473309,
    0.019979462966991643,
    -0.4351655404648769,
    -0.03384092829324395,
    0.46041677171370227,
    0.11559981260592123,
    -0.5161910192455234,
    -0.3652730071260948,
    0.2743302177782,
    0.2674293369146724,
];
const DARTS_ALL_OPS_CIFAR_AUX: [f64; 20] = [
    -0.7579709797760567,
    -1.232703454641538,
    0.5319991035677027,
    1.5496731167852928,
    0.07774456981919407,
    -1.429715426492369,
    -0.47148764127399617,
    1.2732390530275144,
    0.7953576297051413,
    -1.1423981194559434,
    -0.22067414600150312,
    -0.7379143189587298,
    0.14662782783832223,
    0.936555299453136,
    0.27485733332982976,
    -0.7560739144496033,
    -0.461758024346599,
    0.6025850307549735,
    0.5797029444182215,
    -0.537961109733757,
];
const DARTS_V2_IMAGENET_EVAL: [f64; 10] = [
    0.5298579118810893,
    0.079461846586203,
    -0.42469122271220705,
    -0.1488365851620845,
    0.3603647781443471,
    0.5457531290258237,
    0.09910629579291458,
    -0.4359589514936558,
    -0.1711352845983723,
    0.36637977771603114,
];
const DARTS_V2_IMAGENET_TRAIN: [f64; 10] = [
    -3.529112365628065,
    0.6774699828673838,
    3.7751471271298893,
    0.24247815989949303,
    -3.747294635546319,
    -2.921197089833298,
    0.853049176791672,
    3.208591660824825,
    -0.06656004831912306,
    -3.2535368688506594,
];
const DARTS_V2_IMAGENET_AUX: [f64; 10] = [
    -0.05158327734466184,
    -0.07519940658225593,
    -0.09039881833704516,
    -0.0997925455895039,
    -0.09589279623337761,
    -0.33129559367597705,
    0.04760504669494235,
    0.2270207428569765,
    -0.12513296723975076,
    -0.4210931622645575,
];
const NB201_342103_EVAL: [f64; 20] = [
    -0.3388071623702761,
    -0.17541379778232413,
    0.011351063890071816,
    0.1970751814280028,
    0.35742252147859954,
    0.4713225469633418,
    0.5237396007897102,
    0.5076583135899949,
    0.42502279040978397,
    0.2865038069610951,
    -0.21831262324100048,
    -0.0036451673734036183,
    0.21198484182617963,
    0.40039941460951994,
    0.5369115207035483,
    0.6035601687936423,
    0.5914741187459663,
    0.5020530792145275,
    0.3468090628477499,
    0.14588535285740484,
];
const NB201_342103_TRAIN: [f64; 20] = [
    0.06961021702753982,
    0.028220684954269687,
    -0.016363514408356705,
    -0.058372812692854034,
    -0.09243313091333862,
    -0.1142525737363584,
    -0.12116082991677334,
    -0.1124336860365695,
    -0.08936354615741277,
    -0.055070000434282826,
    -0.2066077446824869,
    -0.1996644212678253,
    -0.16618586326696946,
    -0.11058657337800352,
    -0.040226493704518855,
    0.03556358097498722,
    0.10671981957586761,
    0.16378213778695283,
    0.19915232238766908,
    0.2081061187993718,
];
const PNAS_ALL_OPS_EVAL: [f64; 20] = [
    0.003570079055967592,
    -0.04887176293891943,
    -0.05733498991514113,
    -0.007462287255517397,
    0.0816764169223813,
    0.166384309370948,
    0.20022048364650574,
    0.15794214183579589,
    0.049352308428740194,
    -0.08408705888340495,
    -0.0023134738343383414,
    -0.03741566361673873,
    -0.03432251065083418,
    0.0154894037107777,
    0.09298083852147039,
    0.16033475933638902,
    0.1798708980501764,
    0.13356540595765515,
    0.03325429503413525,
    -0.08377974475599656,
];
const PNAS_ALL_OPS_TRAIN: [f64; 20] = [
    -0.3363233569197751,
    -0.11361649152043188,
    0.1857534465762054,
    0.4207433204551936,
    0.47883228358668245,
    0.3319980644099433,
    0.05068693037234913,
    -0.23125113642861367,
    -0.3830280010497035,
    -0.3413800128292524,
    -0.1975119254680262,
    0.35742252720767115,
    0.7512299620222096,
    0.7951932702582428,
    0.473225706463112,
    -0.05083472531608764,
    -0.516110282341565,
    -0.6958819948893917,
    -0.5109373845202437,
    -0.06799665933461271,
];
const MACRO_EVAL: [f64; 14] = [
    -0.030849165322709496,
    0.01922649479438554,
    0.07357953895036537,
    0.11547529210003996,
    0.13121833094666874,
    0.11635228878339583,
    0.07752251265493851,
    -0.06452672778223395,
    0.004009956721618413,
    0.08506499413997407,
    0.1474424506091183,
    0.16635442708203105,
    0.13562832440646666,
    0.07049897722426773,
];
const MACRO_TRAIN: [f64; 14] = [
    0.05281416479482961,
    0.20249035559168158,
    0.257191934629567,
    0.19999546742931001,
    0.0708718705550843,
    -0.05617838643523909,
    -0.11375325754845106,
    0.025623057367587382,
    0.18458307703975654,
    0.2582667043828799,
    0.21947021195423833,
    0.0981994625929141,
    -0.03579801733104346,
    -0.11135770656926039,
];
