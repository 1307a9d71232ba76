//! Data-driven tests over all six spaces: counts, round trips, published
//! genotypes, mutation, golden hashes and bad input.

use space::{
    darts::DartsCell, rng, DartsGenotype, Genotype, PnasBlock, PnasCell, PnasOp, Space, SpaceKind,
};
use std::collections::HashSet;

const NB201_EXAMPLE: &str =
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

fn spaces() -> Vec<Space> {
    vec![
        Space::Macro { layers: 1 },
        Space::Macro { layers: 6 },
        Space::Macro { layers: 15 },
        Space::Pnas { blocks: 1 },
        Space::Pnas { blocks: 3 },
        Space::Pnas { blocks: 5 },
        Space::Darts,
        Space::Nb201,
        Space::Mlp {
            layers: 1,
            categorical: false,
        },
        Space::Mlp {
            layers: 4,
            categorical: false,
        },
        Space::Mlp {
            layers: 8,
            categorical: true,
        },
        Space::Seq,
    ]
}

#[test]
fn seq_cells_are_11_ops_on_6_edges_and_count_exactly() {
    assert_eq!(
        Space::Seq.size().unwrap(),
        space::Size::Exact(11u128.pow(6))
    );
    let c: space::SeqCell =
        "|conv_5~0|+|sep_conv_3~0|skip_connect~1|+|none~0|max_pool_3~1|dil_conv_3~2|"
            .parse()
            .unwrap();
    assert_eq!(space::SeqCell::from_index(c.index()), Some(c));
    assert_eq!(c.neighbours().len(), 60);
    assert_eq!(space::SeqOp::DilConv5.conv(), Some((5, 2)));
    assert!(!space::SeqOp::MaxPool3.is_parametric());
    let first: Vec<_> = Space::Seq.enumerate().unwrap().take(2).collect();
    assert_eq!(
        first[1].to_string(),
        "|none~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|"
    );
}

#[test]
fn mlp_counts_follow_from_the_rules() {
    // 360 choices per layer; layer i may also read i earlier outputs.
    let one = |categorical| {
        Space::Mlp {
            layers: 1,
            categorical,
        }
        .size()
        .unwrap()
    };
    assert_eq!(one(false), space::Size::Exact(360));
    assert_eq!(one(true), space::Size::Exact(720));
    let three = 360 + 360u128.pow(2) * 2 + 360u128.pow(3) * 8;
    assert_eq!(
        Space::Mlp {
            layers: 3,
            categorical: false
        }
        .size()
        .unwrap(),
        space::Size::Exact(three)
    );
    assert!(matches!(
        Space::Mlp {
            layers: 16,
            categorical: true
        }
        .size()
        .unwrap(),
        space::Size::Huge { .. }
    ));
}

#[test]
fn pnas_one_block_cells_are_256_raw_and_136_canonical() {
    let mut raw = 0;
    let mut canonical = HashSet::new();
    for in1 in 0..2 {
        for in2 in 0..2 {
            for &op1 in PnasOp::ALL {
                for &op2 in PnasOp::ALL {
                    raw += 1;
                    let cell = PnasCell::new(vec![PnasBlock { in1, op1, in2, op2 }]).unwrap();
                    canonical.insert(cell);
                }
            }
        }
    }
    assert_eq!(raw, 256);
    assert_eq!(canonical.len(), 136);
    let listed: HashSet<PnasCell> = PnasCell::enumerate(1).unwrap().collect();
    assert_eq!(listed, canonical);
    assert_eq!(PnasCell::count(1).unwrap(), 136);
}

#[test]
fn pnas_expansion_lists_every_child_once() {
    // A 1-block cell's second block may read 3 inputs: n = 24 (input, op)
    // pairs, n (n + 1) / 2 = 300 unordered blocks.
    let parent: PnasCell = "(0,sep_3x3,1,identity)".parse().unwrap();
    let children = parent.expand();
    assert_eq!(children.len(), 300);
    let unique: HashSet<_> = children.iter().collect();
    assert_eq!(unique.len(), 300);
    for c in &children {
        assert_eq!(c.len(), 2);
        assert_eq!(c.blocks()[0], parent.blocks()[0]);
        // Every child is canonical: re-parsing its text gives it back.
        assert_eq!(&c.to_string().parse::<PnasCell>().unwrap(), c);
    }
    let two: Vec<PnasCell> = PnasCell::enumerate(2).unwrap().collect();
    assert_eq!(two.len() as u128, PnasCell::count(2).unwrap());
    assert_eq!(two.len(), 136 * 300);
    assert_eq!(two.iter().collect::<HashSet<_>>().len(), two.len());
    assert_eq!(PnasCell::count(5).unwrap(), 136 * 300 * 528 * 820 * 1176);
    let full: PnasCell = "(0,sep_3x3,1,identity)(0,sep_3x3,1,identity)(0,sep_3x3,1,identity)(0,sep_3x3,1,identity)(0,sep_3x3,1,identity)".parse().unwrap();
    assert!(full.expand().is_empty());
}

#[test]
fn nb201_has_15625_distinct_cells_with_table_keys() {
    let all: Vec<_> = Space::Nb201.enumerate().unwrap().collect();
    assert_eq!(all.len(), 15_625);
    let texts: HashSet<String> = all.iter().map(|g| g.to_string()).collect();
    assert_eq!(texts.len(), 15_625);
    let c: space::Nb201Cell = NB201_EXAMPLE.parse().unwrap();
    assert_eq!(c.table_key(), "334131");
    assert_eq!(space::Nb201Cell::from_table_key("334131").unwrap(), c);
    assert_eq!(space::Nb201Cell::from_index(c.index()).unwrap(), c);
    assert_eq!(c.neighbours().len(), 24);
}

#[test]
fn darts_count_follows_from_the_rules() {
    // Brute force, node by node: all ordered pairs of (op, input) edges from
    // distinct predecessors, excluding none, deduplicated by sorting.
    let ops: Vec<space::DartsOp> = space::DartsOp::ALL[1..].to_vec();
    let mut per_cell: u128 = 1;
    for node in 0..4 {
        let preds = node + 2;
        let mut set = HashSet::new();
        for a in 0..preds {
            for b in 0..preds {
                if a == b {
                    continue;
                }
                for &x in &ops {
                    for &y in &ops {
                        let mut pair = [(a, x), (b, y)];
                        pair.sort();
                        set.insert(pair);
                    }
                }
            }
        }
        per_cell *= set.len() as u128;
    }
    // 49 * 147 * 294 * 490 derived cells, a normal and a reduction cell each.
    assert_eq!(per_cell, 49 * 147 * 294 * 490);
    assert_eq!(DartsCell::count(), per_cell);
    assert_eq!(DartsGenotype::count(), per_cell * per_cell);
    assert_eq!(
        Space::Darts.size().unwrap().to_string(),
        "1076746950455072400"
    );
}

#[test]
fn published_strings_print_back_identically() {
    let v2 = Genotype::parse(SpaceKind::Darts, DARTS_V2).unwrap();
    assert_eq!(v2.to_string(), DARTS_V2);
    assert_eq!(Genotype::parse(SpaceKind::Darts, "DARTS_V2").unwrap(), v2);
    assert_eq!(Genotype::parse(SpaceKind::Darts, "DARTS").unwrap(), v2);
    for (name, text) in space::darts::NAMED {
        let g = DartsGenotype::named(name).unwrap();
        assert_eq!(g.to_string(), text, "{name}");
    }
    // The reference code also writes concat as range(2, 6).
    let ranged = DARTS_V2.replace("[2, 3, 4, 5]", "range(2, 6)");
    assert_eq!(Genotype::parse(SpaceKind::Darts, &ranged).unwrap(), v2);
    let nb = Genotype::parse(SpaceKind::Nb201, NB201_EXAMPLE).unwrap();
    assert_eq!(nb.to_string(), NB201_EXAMPLE);
}

#[test]
fn ten_thousand_random_genotypes_round_trip_through_text_and_json() {
    for space in spaces() {
        let mut r = rng(7);
        for i in 0..10_000 {
            let g = space.sample(&mut r).unwrap();
            space.check(&g).unwrap();
            let text = g.to_string();
            let back = space
                .parse(&text)
                .unwrap_or_else(|e| panic!("{space} #{i} {text}: {e}"));
            assert_eq!(back, g, "{space} text {text}");
            let json = serde_json::to_string(&g).unwrap();
            let back: Genotype = serde_json::from_str(&json).unwrap();
            assert_eq!(back, g, "{space} json {json}");
            assert_eq!(back.hash(), g.hash());
        }
    }
}

#[test]
fn sampling_is_deterministic_given_a_seed() {
    for space in spaces() {
        let a: Vec<_> = (0..50)
            .map({
                let mut r = rng(99);
                move |_| space.sample(&mut r).unwrap()
            })
            .collect();
        let b: Vec<_> = (0..50)
            .map({
                let mut r = rng(99);
                move |_| space.sample(&mut r).unwrap()
            })
            .collect();
        assert_eq!(a, b);
        let distinct: HashSet<_> = a.iter().collect();
        if space.size().unwrap() != space::Size::Exact(64) {
            assert!(
                distinct.len() > 40,
                "{space}: only {} distinct of 50",
                distinct.len()
            );
        }
    }
}

#[test]
fn mutation_stays_in_the_space_and_changes_the_architecture() {
    for space in spaces() {
        let mut r = rng(3);
        let mut g = space.sample(&mut r).unwrap();
        for _ in 0..2_000 {
            let m = space.mutate(&g, &mut r).unwrap();
            space.check(&m).unwrap();
            assert_ne!(m.hash(), g.hash(), "{space}: {g} -> {m}");
            assert_eq!(space.parse(&m.to_string()).unwrap(), m);
            g = m;
        }
    }
    // A DARTS genotype's canonical form is a fixed point and ignores edge
    // order within a node.
    let v2 = Genotype::parse(SpaceKind::Darts, DARTS_V2).unwrap();
    assert_ne!(v2.canonical(), v2);
    assert_eq!(v2.canonical().canonical(), v2.canonical());
    assert_eq!(v2.canonical().hash(), v2.hash());
}

#[test]
fn hashes_are_stable_golden_values() {
    // Persisted state (queue idempotency keys, result tables) depends on these:
    // a change here is a breaking change. The values were computed outside
    // Rust, as the first 16 hex digits of sha256("<space>\n<canonical text>").
    let cases = [
        (SpaceKind::Nb201, NB201_EXAMPLE, "cf605f704531ed31"),
        (SpaceKind::Darts, "DARTS_V2", "2194af0ba9a5fc52"),
        (
            SpaceKind::Pnas,
            "(1,sep_3x3,0,max_pool_3x3)(2,identity,1,avg_pool_3x3)",
            "4edd56e6c8e50540",
        ),
        (
            SpaceKind::Macro,
            "3x3:24 5x5:36<0 3x7:48<0,1",
            "1e18bbbaaa7ee731",
        ),
        (
            SpaceKind::Mlp,
            "256:relu:batch:0.1 128:gelu:none:0<x 64:silu:layer:0.2<0,x",
            "d72289f070996972",
        ),
        (SpaceKind::Mlp, "embed 32:tanh:none:0.0", "5464791f48774030"),
        (
            SpaceKind::Seq,
            "|conv_5~0|+|sep_conv_3~0|skip_connect~1|+|none~0|max_pool_3~1|dil_conv_3~2|",
            "f839b6aa38db495a",
        ),
    ];
    for (kind, text, golden) in cases {
        let g = Genotype::parse(kind, text).unwrap();
        assert_eq!(g.hash().to_string(), golden, "{kind} {text}");
    }
    // Samples from a fixed seed are golden too: the generator and the
    // sampling code must not drift.
    let golden_samples = [
        (Space::Nb201, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|skip_connect~2|"),
        (Space::Pnas { blocks: 2 }, "(1,sep_3x3,1,sep_7x7)(0,sep_7x7,0,avg_pool_3x3)"),
        (Space::Macro { layers: 3 }, "7x1:64 7x5:48 3x5:24"),
    ];
    for (space, golden) in golden_samples {
        let g = space.sample(&mut rng(2024)).unwrap();
        assert_eq!(g.to_string(), golden, "{space}");
    }
}

#[test]
fn bad_input_gives_precise_errors() {
    let cases: &[(SpaceKind, &str, &str)] = &[
        // PNAS
        (SpaceKind::Pnas, "(0,sep_3x3,1,identity)(2,sep_3x3,1,identity)(5,identity,0,sep_3x3)", "block 3: input 5 refers to a block that does not exist"),
        (SpaceKind::Pnas, "(0,sep_3x3,2,identity)", "block 1: input 2 refers to the block itself"),
        (SpaceKind::Pnas, "(0,sep_3x3,3,identity)(0,sep_3x3,1,identity)", "block 1: input 3 refers to a later block"),
        (SpaceKind::Pnas, "(0,sep_9x9,1,identity)", "block 1 op 1: unknown op \"sep_9x9\""),
        (SpaceKind::Pnas, "(0,sep_3x3,1)", "block 1: expected 4 fields"),
        (SpaceKind::Pnas, "(x,sep_3x3,1,identity)", "block 1 input 1: \"x\" is not an input number"),
        (SpaceKind::Pnas, "", "cell:"),
        (SpaceKind::Pnas, &"(0,sep_3x3,1,identity)".repeat(6), "blocks: 6 blocks is more than the 5"),
        // NB201
        (SpaceKind::Nb201, "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "expected 3 nodes"),
        (SpaceKind::Nb201, "|conv~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "node 1 edge 1: unknown op \"conv\""),
        (SpaceKind::Nb201, "|none~0|+|none~0|none~1|+|none~0|none~1|", "node 3: expected 3 incoming edges, found 2"),
        (SpaceKind::Nb201, "|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "node 2 edge 2: input \"2\" should be 1"),
        (SpaceKind::Nb201, "|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 edge 1: \"none0\" is not op~input"),
        // DARTS
        (SpaceKind::Darts, "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])", "normal: expected 8 edges (2 for each of 4 nodes), found 1"),
        (SpaceKind::Darts, &DARTS_V2.replacen("('sep_conv_3x3', 1)", "('sep_conv_3x3', 0)", 1), "normal node 2: both edges come from node 0"),
        (SpaceKind::Darts, &DARTS_V2.replacen("('dil_conv_3x3', 2)", "('dil_conv_3x3', 5)", 1), "normal node 5 edge 2: input 5 is not an earlier node"),
        (SpaceKind::Darts, &DARTS_V2.replacen("dil_conv_3x3", "conv_9x9", 1), "normal edge 8: unknown op \"conv_9x9\""),
        (SpaceKind::Darts, &DARTS_V2.replacen("dil_conv_3x3", "none", 1), "normal node 5 edge 2: op none is not allowed"),
        (SpaceKind::Darts, &DARTS_V2.replacen("normal_concat=[2, 3, 4, 5]", "normal_concat=[2, 3]", 1), "normal_concat: [2, 3] must be [2, 3, 4, 5]"),
        (SpaceKind::Darts, "Genotype(normal=[('sep_conv_3x3', 0)", "expected ',' or ']', found the end"),
        (SpaceKind::Darts, "DARTS_V9", "expected Genotype(...) or a published name"),
        (SpaceKind::Darts, "Genotype(normal=[('sep_conv_3x3' 0)])", "text at byte 33: expected ',', found 0"),
        // mlp
        (SpaceKind::Mlp, "100:relu:none:0", "layer 0 width: 100 is not one of 16, 32"),
        (SpaceKind::Mlp, "64:swish:none:0", "layer 0 activation: unknown op \"swish\""),
        (SpaceKind::Mlp, "64:relu:group:0", "layer 0 norm: unknown op \"group\""),
        (SpaceKind::Mlp, "64:relu:none:0.4", "layer 0 dropout: 0.4 is not one of 0, 0.1"),
        (SpaceKind::Mlp, "64:relu:none:0.15", "layer 0 dropout: \"0.15\" is not one of 0, 0.1"),
        (SpaceKind::Mlp, "64:relu:none", "layer 0: \"64:relu:none\" is not WIDTH:ACTIVATION:NORM:DROPOUT"),
        (SpaceKind::Mlp, "64:relu:none:0<x", "layer 0 anchors: x is not an earlier output it may read: layer 0 reads the input features"),
        (SpaceKind::Mlp, "64:relu:none:0 64:relu:none:0<0", "layer 1 anchors: 0 is not an earlier output it may read: layer 1 may also read x"),
        (SpaceKind::Mlp, "64:relu:none:0 64:relu:none:0 64:relu:none:0<x,x", "layer 2 anchors: x is listed twice"),
        (SpaceKind::Mlp, "64:relu:none:0 64:relu:none:0<y", "layer 1 anchors: \"y\" is not x or a layer number"),
        (SpaceKind::Mlp, "sparse 64:relu:none:0", "encoding: unknown op \"sparse\""),
        (SpaceKind::Mlp, "onehot", "layers: 0 is not a layer count between 1 and 16"),
        // seq
        (SpaceKind::Seq, "|conv_9~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 edge 1: unknown op \"conv_9\""),
        (SpaceKind::Seq, "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 edge 1: unknown op \"nor_conv_3x3\"; expected one of none, skip_connect, conv_3"),
        // Macro
        (SpaceKind::Macro, "3x3:24 5x4:36", "layer 1 filter width: 4 is not one of 1, 3, 5, 7"),
        (SpaceKind::Macro, "3x3:25", "layer 0 filters: 25 is not one of 24, 36, 48, 64"),
        (SpaceKind::Macro, "3x3:24 3x3:24<1", "layer 1 anchors: 1 is not an earlier layer (layer 1 may connect layers 0..=0)"),
        (SpaceKind::Macro, "3x3:24 3x3:24 3x3:24<1,1", "layer 2 anchors: layer 1 is listed twice"),
        (SpaceKind::Macro, "3x3:24 3x3", "layer 1: \"3x3\" is not HxW:F[<a,b,...]: missing ':'"),
        (SpaceKind::Macro, "", "layers: 0 is not a layer count"),
    ];
    for (kind, text, want) in cases {
        let err = Genotype::parse(*kind, text).expect_err(text).to_string();
        assert!(
            err.contains(want),
            "{kind} {text:?}\n  got:  {err}\n  want: {want}"
        );
    }
    // JSON goes through the same checks.
    let bad = r#"{"space":"pnas","genotype":{"blocks":[{"in1":0,"op1":"sep_3x3","in2":7,"op2":"identity"}]}}"#;
    let err = serde_json::from_str::<Genotype>(bad)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("block 1: input 7 refers to a block that does not exist"),
        "{err}"
    );
    // Settings are checked too.
    assert!(Space::Pnas { blocks: 6 }.validate().is_err());
    assert!(Space::Macro { layers: 0 }.validate().is_err());
    assert!(Space::Mlp {
        layers: 17,
        categorical: false
    }
    .validate()
    .is_err());
    let embed = Genotype::parse(SpaceKind::Mlp, "embed 64:relu:none:0").unwrap();
    let numeric = Space::Mlp {
        layers: 4,
        categorical: false,
    };
    assert!(numeric
        .check(&embed)
        .unwrap_err()
        .to_string()
        .starts_with("encoding: the space's data has no categorical columns"));
    let deep = Genotype::parse(
        SpaceKind::Mlp,
        "64:relu:none:0 64:relu:none:0 64:relu:none:0",
    )
    .unwrap();
    assert_eq!(
        Space::Mlp {
            layers: 2,
            categorical: false
        }
        .check(&deep)
        .unwrap_err()
        .to_string(),
        "layers: the network has 3 layers, the space at most 2"
    );
    let two = Genotype::parse(
        SpaceKind::Pnas,
        "(0,sep_3x3,1,identity)(0,sep_3x3,1,identity)",
    )
    .unwrap();
    assert_eq!(
        Space::Pnas { blocks: 1 }
            .check(&two)
            .unwrap_err()
            .to_string(),
        "blocks: the cell has 2 blocks, the space at most 1"
    );
}

#[test]
fn cell_crossover_takes_each_edge_from_a_parent_and_distance_counts_edits() {
    let mut rng = space::rng(5);
    for kind in [SpaceKind::Nb201, SpaceKind::Seq] {
        let space = kind.default_space();
        for _ in 0..50 {
            let a = space.sample(&mut rng).unwrap();
            let b = space.sample(&mut rng).unwrap();
            let d = a.cell_distance(&b).unwrap();
            assert_eq!(d, b.cell_distance(&a).unwrap());
            assert_eq!(a.cell_distance(&a), Some(0));
            let child = a.cell_crossover(&b, &mut rng).unwrap();
            assert_eq!(
                child.cell_distance(&a).unwrap() + child.cell_distance(&b).unwrap(),
                d,
                "every edge of the child is one of its parents'"
            );
            let m = space.mutate(&a, &mut rng).unwrap();
            assert_eq!(a.cell_distance(&m), Some(1));
            let near = a.cell_neighbours().unwrap();
            assert!(near.contains(&m), "a mutant is a neighbour");
            assert!(near.iter().all(|n| a.cell_distance(n) == Some(1)));
        }
    }
    let pnas = Space::Pnas { blocks: 2 };
    let a = pnas.sample(&mut rng).unwrap();
    assert_eq!(a.cell_distance(&a), None, "no edges to compare");
    assert!(a.cell_crossover(&a, &mut rng).is_none());
    assert!(a.cell_neighbours().is_none());
}
