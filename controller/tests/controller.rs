//! The controller over every space: valid samples, probabilities that sum
//! to 1 and match sampling frequencies, REINFORCE that learns a toy reward,
//! exact resumption from JSON, and refused settings, rewards and states.

use controller::{Controller, ControllerConfig, ControllerError};
use space::{Genotype, Nb201Op, Space};
use std::collections::{HashMap, HashSet};

fn setup() {
    tch::set_num_threads(1);
}

fn config(lr: f64) -> ControllerConfig {
    ControllerConfig {
        lr,
        ..ControllerConfig::default()
    }
}

#[test]
fn samples_are_valid_canonical_genotypes_of_every_space() {
    setup();
    let spaces = [
        (Space::Nb201, 300),
        (Space::Darts, 100),
        (Space::Pnas { blocks: 1 }, 200),
        (Space::Pnas { blocks: 3 }, 150),
        (Space::Pnas { blocks: 5 }, 100),
        (Space::Macro { layers: 1 }, 100),
        (Space::Macro { layers: 6 }, 100),
        (Space::Macro { layers: 12 }, 30),
        (Space::Seq, 200),
        (
            Space::Mlp {
                layers: 1,
                categorical: false,
            },
            100,
        ),
        (
            Space::Mlp {
                layers: 5,
                categorical: true,
            },
            100,
        ),
    ];
    for (space, n) in spaces {
        let mut c = Controller::new(space, ControllerConfig::default(), 7).unwrap();
        let mut distinct = HashSet::new();
        for _ in 0..n {
            let g = c.sample();
            space
                .check(&g)
                .unwrap_or_else(|e| panic!("{space}: {g}: {e}"));
            assert_eq!(g, g.canonical(), "{space}: sample not canonical");
            assert_eq!(
                space.parse(&g.to_string()).unwrap(),
                g,
                "{space}: text form"
            );
            if let (Space::Pnas { blocks }, Genotype::Pnas(cell)) = (space, &g) {
                assert_eq!(cell.len(), blocks, "{space}: {g}");
            }
            distinct.insert(g.hash());
        }
        assert!(
            distinct.len() * 2 > n,
            "{space}: {} distinct of {n}",
            distinct.len()
        );
        // Every sample can be scored: the controller emits only what it can score.
        let g = c.sample();
        let lp = c.log_prob(&g).unwrap();
        assert!(lp.is_finite() && lp < 0.0, "{space}: log prob {lp}");
    }
}

#[test]
fn macro_anchors_use_every_earlier_layer() {
    setup();
    let mut c =
        Controller::new(Space::Macro { layers: 5 }, ControllerConfig::default(), 3).unwrap();
    let mut seen = HashSet::new();
    for _ in 0..200 {
        let Genotype::Macro(m) = c.sample() else {
            panic!("not a macro chain")
        };
        assert!(m.layers()[0].anchors.is_empty());
        for (i, l) in m.layers().iter().enumerate() {
            for &a in &l.anchors {
                assert!(a < i);
                seen.insert((i, a));
            }
        }
    }
    assert_eq!(
        seen.len(),
        10,
        "every (layer, earlier layer) pair appears: {seen:?}"
    );
}

/// The probabilities of all genotypes of a small space sum to 1: the
/// marginal over both orders of a PNAS block's pairs counts each cell once.
#[test]
fn probabilities_over_a_whole_space_sum_to_one() {
    setup();
    for space in [Space::Pnas { blocks: 1 }, Space::Macro { layers: 1 }] {
        let c = Controller::new(space, ControllerConfig::default(), 11).unwrap();
        let all: Vec<Genotype> = match space {
            Space::Pnas { .. } => space.enumerate().unwrap().collect(),
            _ => {
                let mut out = Vec::new();
                for h in [1, 3, 5, 7] {
                    for w in [1, 3, 5, 7] {
                        for f in [24, 36, 48, 64] {
                            out.push(space.parse(&format!("{h}x{w}:{f}")).unwrap());
                        }
                    }
                }
                out
            }
        };
        let total: f64 = all.iter().map(|g| c.log_prob(g).unwrap().exp()).sum();
        assert!(
            (total - 1.0).abs() < 1e-4,
            "{space}: total probability {total}"
        );
    }
}

/// Sampling frequencies match `exp(log_prob)`, on a policy made peaked by
/// training, so that sampling and scoring agree on masks, orders and heads.
#[test]
fn sampling_frequencies_match_probabilities() {
    setup();
    let space = Space::Pnas { blocks: 1 };
    let mut c = Controller::new(space, config(0.05), 5).unwrap();
    let target = space.parse("(0,sep_3x3,1,max_pool_3x3)").unwrap();
    for _ in 0..40 {
        let g = c.sample();
        let reward = if g == target { 1.0 } else { 0.2 };
        c.update(&g, reward).unwrap();
        c.update(&target, 1.0).unwrap();
    }
    let n = 3000;
    let mut counts: HashMap<Genotype, usize> = HashMap::new();
    for _ in 0..n {
        *counts.entry(c.sample()).or_default() += 1;
    }
    let mut top: Vec<(Genotype, usize)> = counts.into_iter().collect();
    top.sort_by_key(|(_, k)| std::cmp::Reverse(*k));
    assert!(top[0].1 > n / 10, "the policy is not peaked: {}", top[0].1);
    for (g, k) in top.iter().take(3) {
        let p = c.log_prob(g).unwrap().exp();
        let freq = *k as f64 / n as f64;
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (freq - p).abs() < 4.0 * sd + 1e-3,
            "{g}: sampled {freq:.4}, probability {p:.4}"
        );
    }
}

fn edge0_conv3x3_share(c: &Controller, n: usize) -> f64 {
    let mut c = c.clone();
    let hits = (0..n)
        .filter(
            |_| matches!(c.sample(), Genotype::Nb201(cell) if cell.edges[0] == Nb201Op::NorConv3x3),
        )
        .count();
    hits as f64 / n as f64
}

#[test]
fn reinforce_raises_the_probability_of_a_rewarded_choice() {
    setup();
    let mut c = Controller::new(Space::Nb201, config(0.02), 1).unwrap();
    let before = edge0_conv3x3_share(&c, 400);
    for _ in 0..60 {
        let g = c.sample();
        let Genotype::Nb201(cell) = &g else {
            panic!("not an nb201 cell")
        };
        let reward = if cell.edges[0] == Nb201Op::NorConv3x3 {
            1.0
        } else {
            0.0
        };
        let u = c.update(&g, reward).unwrap();
        assert!(u.log_prob < 0.0 && u.entropy > 0.0 && u.grad_norm.is_finite());
    }
    let after = edge0_conv3x3_share(&c, 400);
    println!("edge 0 = nor_conv_3x3: {before:.3} before, {after:.3} after 60 updates");
    assert!(before < 0.3, "{before}");
    assert!(after > 0.6, "{before} -> {after}");
    assert_eq!(c.updates(), 60);
    assert!(c.baseline().is_some_and(|b| (0.0..=1.0).contains(&b)));
}

#[test]
fn reinforce_learns_an_anchor_point_through_the_attention() {
    setup();
    let space = Space::Macro { layers: 3 };
    let mut c = Controller::new(space, config(0.02), 2).unwrap();
    let reads_layer0 =
        |g: &Genotype| matches!(g, Genotype::Macro(m) if m.layers()[2].anchors.contains(&0));
    let share = |c: &Controller| {
        let mut c = c.clone();
        (0..300).filter(|_| reads_layer0(&c.sample())).count() as f64 / 300.0
    };
    let before = share(&c);
    for _ in 0..60 {
        let g = c.sample();
        let reward = if reads_layer0(&g) { 1.0 } else { 0.0 };
        c.update(&g, reward).unwrap();
    }
    let after = share(&c);
    println!("layer 2 reads layer 0: {before:.3} before, {after:.3} after 60 updates");
    assert!(after > before + 0.25 && after > 0.8, "{before} -> {after}");
}

/// Drive a controller: samples and updates with a reward from the hash.
fn drive(c: &mut Controller, steps: usize) -> Vec<Genotype> {
    let mut out = Vec::new();
    for _ in 0..steps {
        let g = c.sample();
        let reward = (g.hash().0 % 1000) as f64 / 1000.0;
        c.update(&g, reward).unwrap();
        out.push(g);
    }
    out
}

#[test]
fn a_controller_read_back_continues_identically() {
    setup();
    for space in [
        Space::Nb201,
        Space::Darts,
        Space::Pnas { blocks: 3 },
        Space::Macro { layers: 4 },
        Space::Seq,
        Space::Mlp {
            layers: 4,
            categorical: true,
        },
    ] {
        let mut a = Controller::new(space, config(0.01), 9).unwrap();
        for warmup in [0, 3] {
            drive(&mut a, warmup);
            let json = serde_json::to_string(&a).unwrap();
            let mut b: Controller = serde_json::from_str(&json).unwrap();
            assert_eq!(a, b, "{space}: read back differs");
            assert_eq!(serde_json::to_string(&b).unwrap(), json);
            let (xs, ys) = (drive(&mut a, 4), drive(&mut b, 4));
            assert_eq!(xs, ys, "{space}: samples differ after reading back");
            assert_eq!(a, b, "{space}: updates differ after reading back");
        }
    }
}

#[test]
fn the_same_seed_samples_the_same_genotypes() {
    setup();
    let run = |seed| {
        let mut c = Controller::new(Space::Darts, ControllerConfig::default(), seed).unwrap();
        drive(&mut c, 3)
    };
    assert_eq!(run(4), run(4));
    assert_ne!(run(4), run(5));
}

#[test]
fn bad_rewards_and_foreign_genotypes_change_nothing() {
    setup();
    let mut c = Controller::new(Space::Pnas { blocks: 2 }, ControllerConfig::default(), 1).unwrap();
    let before = c.clone();
    let g = c.clone().sample();
    let err = c.update(&g, f64::NAN).unwrap_err();
    assert!(matches!(err, ControllerError::Reward(_)), "{err}");
    let short = Space::Pnas { blocks: 2 }
        .parse("(0,sep_3x3,1,identity)")
        .unwrap();
    let err = c.update(&short, 0.5).unwrap_err().to_string();
    assert!(err.contains("exactly 2 blocks"), "{err}");
    let nb = Space::Nb201.sample(&mut space::rng(0)).unwrap();
    let err = c.log_prob(&nb).unwrap_err().to_string();
    assert!(err.contains("not in the pnas space"), "{err}");
    assert_eq!(c, before);
}

#[test]
fn bad_settings_are_refused_by_name() {
    let bad = [
        (
            ControllerConfig {
                layers: 0,
                ..Default::default()
            },
            "layers",
        ),
        (
            ControllerConfig {
                hidden: 0,
                ..Default::default()
            },
            "hidden",
        ),
        (
            ControllerConfig {
                lr: -1.0,
                ..Default::default()
            },
            "lr",
        ),
        (
            ControllerConfig {
                entropy_weight: f64::NAN,
                ..Default::default()
            },
            "entropy_weight",
        ),
        (
            ControllerConfig {
                baseline_decay: 1.0,
                ..Default::default()
            },
            "baseline_decay",
        ),
        (
            ControllerConfig {
                grad_clip: 0.0,
                ..Default::default()
            },
            "grad_clip",
        ),
        (
            ControllerConfig {
                temperature: 0.0,
                ..Default::default()
            },
            "temperature",
        ),
    ];
    for (config, field) in bad {
        let err = Controller::new(Space::Nb201, config, 0)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with(&format!("controller {field}:")), "{err}");
    }
    let err = Controller::new(Space::Pnas { blocks: 9 }, ControllerConfig::default(), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("blocks"), "{err}");
}

#[test]
fn inconsistent_persisted_states_are_refused_by_name() {
    let c = Controller::new(Space::Nb201, ControllerConfig::default(), 0).unwrap();
    let json: serde_json::Value = serde_json::to_value(&c).unwrap();
    let read = |v: &serde_json::Value| {
        serde_json::from_value::<Controller>(v.clone())
            .unwrap_err()
            .to_string()
    };
    let mut v = json.clone();
    v["config"]["hidden"] = 20.into();
    assert!(
        read(&v).contains("embed.go: shape [1, 35], expected [1, 20]"),
        "{}",
        read(&v)
    );
    let mut v = json.clone();
    v["space"] = serde_json::json!({"kind": "darts"});
    assert!(
        read(&v).contains("head.input.weight: missing"),
        "{}",
        read(&v)
    );
    let mut v = json.clone();
    v["params"]["head.op.bias"]["values"] = "AAAAAA==".into();
    assert!(read(&v).contains("head.op.bias: 1 values"), "{}", read(&v));
    let mut v = json.clone();
    v["adam"]["m"] = serde_json::json!({"lstm.0.b_ih": "AAAAAA=="});
    assert!(
        read(&v).contains("adam.m.lstm.0.b_ih: not the parameter's size"),
        "{}",
        read(&v)
    );
    let mut v = json;
    v["params"]["bogus"] = serde_json::json!({"shape": [1], "values": "AAAAAA=="});
    assert!(read(&v).contains("bogus: not a parameter"), "{}", read(&v));
}
