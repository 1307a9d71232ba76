//! `nas export` (issue 7, "Export and pictures"): the tch parameter names
//! are the PyTorch module's for every family; weights saved from tch load
//! into the exported model.py and give the same outputs; the export of a
//! finished search (real trained weights, a FileStore written here) holds
//! every file, well formed; a winner without weights still exports; cell
//! pictures for every space are well-formed SVG with every op; and `nas
//! status --watch` stops once the searches it shows are finished.

mod common;

use queue::wire::{DataRef, EvaluatorSpec, TrainSettings};
use queue::{Outcome, Scores};
use scheduler::state::{Evaluation, Stage};
use scheduler::strategy::StrategySpec;
use scheduler::{FileStore, SearchSpec, SearchState, Status, Store};
use space::{Genotype, Space, SpaceKind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tch::{nn, Device, Kind, Tensor};
use trainer::model::{build, NetConfig};

#[path = "common/venv.rs"]
mod venv;

/// The venv's python, which has torch (scripts/setup.sh installs it).
fn python() -> PathBuf {
    venv::venv_bin("python")
}

fn run_python(args: &[&str], dir: &Path) -> Output {
    Command::new(python())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run python")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The networks of the tests: a genotype of each space with small settings.
struct Case {
    name: &'static str,
    genotype: Genotype,
    cfg: NetConfig,
}

fn cases() -> Vec<Case> {
    let parse = |kind, text: &str| Genotype::parse(kind, text).unwrap();
    vec![
        Case {
            name: "nb201",
            genotype: parse(
                SpaceKind::Nb201,
                "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
            ),
            cfg: NetConfig {
                channels: 4,
                layers: 1,
                in_channels: 1,
                input_size: 12,
                ..NetConfig::for_space(SpaceKind::Nb201)
            },
        },
        Case {
            name: "darts",
            genotype: parse(SpaceKind::Darts, "DARTS_V2"),
            cfg: NetConfig {
                channels: 4,
                layers: 3,
                input_size: 16,
                ..NetConfig::for_space(SpaceKind::Darts)
            },
        },
        Case {
            name: "darts_auxiliary",
            genotype: parse(SpaceKind::Darts, "DARTS_V1"),
            cfg: NetConfig {
                channels: 4,
                layers: 3,
                auxiliary: true,
                ..NetConfig::for_space(SpaceKind::Darts)
            },
        },
        Case {
            name: "pnas",
            genotype: parse(
                SpaceKind::Pnas,
                "(0,sep_3x3,1,conv_1x7_7x1)(0,identity,2,dil_conv_3x3)(1,avg_pool_3x3,3,sep_7x7)",
            ),
            cfg: NetConfig {
                channels: 4,
                layers: 1,
                input_size: 16,
                ..NetConfig::for_space(SpaceKind::Pnas)
            },
        },
                Case {
            name: "macro",
            genotype: parse(SpaceKind::Macro, "3x3:24 5x5:36<0 3x7:48<0,1 1x1:24 7x5:36<2,3"),
            cfg: NetConfig {
                classes: 7,
                in_channels: 1,
                input_size: 12,
                ..NetConfig::for_space(SpaceKind::Macro)
            },
        },
        Case {
            name: "seq",
            genotype: parse(
                SpaceKind::Seq,
                "|conv_5~0|+|sep_conv_3~0|skip_connect~1|+|sep_conv_5~0|max_pool_3~1|dil_conv_5~2|",
            ),
            cfg: NetConfig {
                channels: 4,
                layers: 1,
                classes: 3,
                in_channels: 2,
                input_size: 15,
                ..NetConfig::for_space(SpaceKind::Seq)
            },
        },
        Case {
            name: "mlp_onehot",
            genotype: parse(
                SpaceKind::Mlp,
                "onehot 32:relu:batch:0.1 16:gelu:layer:0<x 16:tanh:none:0.2<x,0",
            ),
            cfg: NetConfig {
                classes: 4,
                table: trainer::model::TableShape {
                    numeric: 3,
                    categorical: vec![3, 2],
                },
                ..NetConfig::for_space(SpaceKind::Mlp)
            },
        },
        Case {
            name: "mlp_embed",
            genotype: parse(SpaceKind::Mlp, "embed 16:silu:batch:0 32:relu:none:0"),
            cfg: NetConfig {
                classes: 1,
                table: trainer::model::TableShape {
                    numeric: 2,
                    categorical: vec![5],
                },
                ..NetConfig::for_space(SpaceKind::Mlp)
            },
        },
    ]
}

fn settings_of(cfg: &NetConfig) -> export::NetSettings {
    export::NetSettings {
        channels: cfg.channels,
        layers: cfg.layers,
        classes: cfg.classes,
        in_channels: cfg.in_channels,
        input_size: cfg.input_size,
        numeric: cfg.table.numeric,
        categorical: cfg.table.categorical.clone(),
        auxiliary: cfg.auxiliary,
        sources: Vec::new(),
    }
}

/// A tch network of `case`, seeded, with batch-norm statistics far from
/// their initial values so that evaluation mode is tested.
fn tch_net(case: &Case) -> (nn::VarStore, trainer::model::Network) {
    tch::manual_seed(7);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = build(&vs.root(), &case.genotype, &case.cfg).expect("the network builds");
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            if name.ends_with("running_mean") {
                t.copy_(&(Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.3));
            } else if name.ends_with("running_var") {
                t.copy_(&(Tensor::rand(t.size(), (Kind::Float, Device::Cpu)) + 0.5));
            }
        }
    });
    (vs, net)
}

#[test]
fn tch_parameter_names_are_the_pytorch_module_names_for_every_family() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let mut doc = Vec::new();
    for case in cases() {
        let (vs, _) = tch_net(&case);
        let names: serde_json::Map<String, serde_json::Value> = vs
            .variables()
            .into_iter()
            .map(|(n, t)| (n, serde_json::json!(t.size())))
            .collect();
        let c = &case.cfg;
        doc.push(serde_json::json!({
            "name": case.name, "space": case.genotype.kind().name(),
            "genotype": case.genotype.to_string(),
            "config": {"channels": c.channels, "layers": c.layers, "classes": c.classes,
                       "in_channels": c.in_channels, "auxiliary": c.auxiliary,
                       "table": {"numeric": c.table.numeric, "categorical": c.table.categorical}},
            "tch": names,
        }));
    }
    std::fs::write(
        dir.path().join("cases.json"),
        serde_json::to_vec(&doc).unwrap(),
    )
    .unwrap();
    // The mapping under test is model.py's own: the networks file as
    // embedded, torch_name() and TORCH_ONLY.
    std::fs::write(dir.path().join("networks.py"), export::python::NETWORKS).unwrap();
    let script = r#"
import json, sys
from networks import build_network, torch_name, TORCH_ONLY
bad = 0
for case in json.load(open("cases.json")):
    model = build_network(case["space"], case["genotype"], **case["config"])
    torch = {k: list(v.shape) for k, v in model.state_dict().items() if not k.endswith(TORCH_ONLY)}
    mapped = {torch_name(k): v for k, v in case["tch"].items()}
    missing = sorted(set(torch) - set(mapped))
    extra = sorted(set(mapped) - set(torch))
    shapes = [k for k in mapped if k in torch and mapped[k] != torch[k]]
    print(case["name"], len(mapped), "variables", "missing", missing[:3], "extra", extra[:3], "shapes", shapes[:3])
    bad += bool(missing or extra or shapes)
sys.exit(bad)
"#;
    let out = run_python(&["-c", script], dir.path());
    assert!(
        out.status.success(),
        "names differ:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), cases().len());
}

/// sin(0.05 t + 0.3) over the flattened index t of a [2, c, size, size] batch.
/// A fixed batch of 2 inputs of `genotype`'s network: images, sequences,
/// or table rows whose category codes run through every code (the last
/// one meaning missing or unseen).
fn fixed_input(genotype: &Genotype, cfg: &NetConfig) -> Tensor {
    let wave = |shape: &[i64]| {
        let n: i64 = shape.iter().product();
        (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 0.05 + 0.3)
            .sin()
            .reshape(shape)
    };
    let (c, size) = (cfg.in_channels, cfg.input_size);
    match genotype.kind().input() {
        space::InputKind::Images => wave(&[2, c, size, size]),
        space::InputKind::Series => wave(&[2, c, size]),
        space::InputKind::Table => {
            let numeric = wave(&[2, cfg.table.numeric]);
            let codes: Vec<f32> = (0..2)
                .flat_map(|row| {
                    cfg.table
                        .categorical
                        .iter()
                        .map(move |&card| (row * card) as f32)
                })
                .collect();
            let codes = Tensor::from_slice(&codes).reshape([2, cfg.table.categorical.len() as i64]);
            Tensor::cat(&[numeric, codes], 1)
        }
    }
}

#[test]
fn weights_saved_by_tch_load_into_model_py_and_give_the_same_outputs() {
    tch::set_num_threads(1);
    let dir = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for case in cases() {
        let (vs, net) = tch_net(&case);
        let folder = dir.path().join(case.name);
        std::fs::create_dir_all(&folder).unwrap();
        vs.save(folder.join("weights.safetensors")).unwrap();
        let x = fixed_input(&case.genotype, &case.cfg);
        let y = tch::no_grad(|| net.forward_t(&x, false).logits);
        Tensor::write_safetensors(&[("x", &x), ("y", &y)], folder.join("io.safetensors")).unwrap();
        // Paths follow the genotype's text as built (a DARTS node's edge0 is
        // its first edge there), so model.py gets that text.
        let text = case.genotype.to_string();
        let py = export::python::model_py(&export::python::ModelPy {
            search: "round-trip",
            space: case.genotype.kind(),
            genotype: &text,
            hash: &case.genotype.hash().to_string(),
            settings: &settings_of(&case.cfg),
            preprocess: None,
        });
        std::fs::write(folder.join("model.py"), py).unwrap();
        names.push(case.name);
    }
    let script = r#"
import importlib.util, sys, torch
worst = 0.0
for name in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("model_" + name, f"{name}/model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    net = model.load(f"{name}/weights.safetensors")
    io = model.read_safetensors(f"{name}/io.safetensors")
    with torch.no_grad():
        y, aux = net(io["x"])
    assert aux is None, name
    # Outputs that vary, so that agreeing means something.
    assert io["y"].std().item() > 1e-3, f"{name}: degenerate outputs {io['y']}"
    d = (y - io["y"]).abs().max().item()
    print(name, tuple(y.shape), "output std", round(io["y"].std().item(), 4), "largest difference", d)
    worst = max(worst, d)
sys.exit(0 if worst < 1e-4 else 1)
"#;
    let mut args = vec!["-c", script];
    args.extend(&names);
    let out = run_python(&args, dir.path());
    assert!(
        out.status.success(),
        "outputs differ by 1e-4 or more:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).lines().count(), names.len());
    println!("largest differences from tch:\n{}", text(&out.stdout));
    // model.py on its own: builds, loads the weights beside it, prints the
    // output shape.
    let out = run_python(&["model.py"], &dir.path().join("nb201"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("trained weights"), "{stdout}");
    assert!(
        stdout.contains("input shape (2, 1, 12, 12) -> output shape (2, 10)"),
        "{stdout}"
    );
}

fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run nas")
}

const CELL: &str =
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|";

fn train_settings() -> TrainSettings {
    TrainSettings {
        epochs: 1.0,
        batch_size: 32,
        lr: 0.05,
        channels: 4,
        layers: 1,
        val_fraction: 0.2,
        ..TrainSettings::default()
    }
}

fn evaluation(index: u64, stage: Stage, genotype: &Genotype, scores: Scores) -> Evaluation {
    Evaluation {
        index,
        stage,
        job_id: format!("job-{index}"),
        hash: genotype.hash().to_string(),
        genotype: genotype.canonical_text(),
        outcome: Outcome::Ok(scores),
        attempt: 1,
        worker: "local".into(),
        finished_ms: 1_000 + index * 1_000,
        elapsed_ms: 1_000 + index * 1_500,
        queued_ms: 0,
        consumed_ms: 0,
        rung: None,
    }
}

/// A finished torch search in a FileStore under `results`: three search
/// evaluations (one diverged) and the winner's final retraining, trained
/// here for real on `data`, its weights where `nas search` puts them.
fn finished_search(results: &Path, data: &Path, with_final: bool) -> SearchState {
    let spec = SearchSpec {
        name: Some("export test".into()),
        space: Space::Nb201,
        strategy: StrategySpec::Random,
        evaluator: EvaluatorSpec::Torch {
            data: DataRef::new(data.display().to_string()),
            settings: Box::new(train_settings()),
        },
        budget: 3,
        seed: 1,
        parallel: 1,
        final_stage: Some(scheduler::spec::FinalSpec {
            top_k: 1,
            settings: TrainSettings {
                test: true,
                ..train_settings()
            },
        }),
        fidelity: None,
    };
    let mut state = SearchState::new(format!("export-{}", std::process::id()), spec).unwrap();
    let g = |t: &str| Space::Nb201.parse(t).unwrap();
    let winner = g(CELL);
    let other =
        g("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|");
    let m = |acc: f64| Scores {
        val_acc: acc,
        train_seconds: 0.5,
        params: Some(1000),
        ..Scores::default()
    };
    let mut evals = vec![
        evaluation(0, Stage::Search, &other, m(41.0)),
        evaluation(1, Stage::Search, &winner, m(63.5)),
        Evaluation {
            outcome: Outcome::Diverged {
                reason: "loss became NaN".into(),
            },
            ..evaluation(2, Stage::Search, &other, m(0.0))
        },
    ];
    state.best = Some(evals[1].clone());
    if with_final {
        let dir = results.join(&state.id);
        let weights = dir.join(format!("{}.safetensors", winner.hash()));
        let ds = data::Dataset::load(data, None).unwrap();
        let settings = state.spec.final_stage.as_ref().unwrap().settings.clone();
        let run = trainer::train::TrainRun {
            genotype: &winner,
            dataset: &ds,
            settings: &settings,
            seed: 1,
            device: Device::Cpu,
            checkpoint_dir: None,
            weights_out: Some(&weights),
            rung: None,
        };
        tch::set_num_threads(1);
        let r = trainer::train::train(&run, &trainer::Cancel::default(), &mut |_| {}).unwrap();
        assert!(weights.is_file());
        let final_eval = evaluation(
            3,
            Stage::Final,
            &winner,
            Scores {
                val_acc: r.val_acc,
                test_acc: r.test_acc,
                params: Some(r.params as u64),
                train_seconds: r.train_seconds,
                weights: Some(weights.display().to_string()),
                ..Scores::default()
            },
        );
        state.finals.push(final_eval.clone());
        state.final_started = true;
        evals.push(final_eval);
    }
    state.evaluated = 2;
    state.failed = 1;
    state.status = Status::Done;
    state.finished_ms = Some(state.created_ms + 9_000);
    let store = FileStore::new(results);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(store.submit(&state)).unwrap();
    let lines: String = evals
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(
        store
            .search_dir(&state.id)
            .unwrap()
            .join("evaluations.jsonl"),
        lines,
    )
    .unwrap();
    state
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    (be(16), be(20))
}

fn svg_texts(path: &Path) -> Vec<String> {
    let svg = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|e| panic!("{} is not well-formed XML: {e}", path.display()));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(String::from))
        .collect()
}

#[test]
fn export_of_a_finished_search_writes_every_file_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::write_dataset(&data);
    let results = dir.path().join("results");
    let state = finished_search(&results, &data, true);
    let out = dir.path().join("out");
    let o = nas(&[
        "export",
        &state.id,
        "--out",
        out.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("exported to"),
        "{}",
        text(&o.stdout)
    );
    assert!(!text(&o.stderr).contains("warning"), "{}", text(&o.stderr));
    for name in export::FILES {
        assert!(out.join(name).is_file(), "{name} is missing");
    }

    let winner = Space::Nb201.parse(CELL).unwrap();
    let g = std::fs::read_to_string(out.join("genotype.txt")).unwrap();
    assert_eq!(Space::Nb201.parse(g.trim()).unwrap(), winner);
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("genotype.json")).unwrap()).unwrap();
    assert_eq!(j["space"], "nb201");
    assert_eq!(j["hash"], winner.hash().to_string());
    assert_eq!(j["stage"], "final");
    assert!(j["metrics"]["test_acc"].is_number(), "{j}");
    assert_eq!(j["network"]["channels"], 4);
    assert_eq!(j["network"]["classes"], 10);
    assert_eq!(j["network"]["input_size"], 12);
    let back: Genotype =
        serde_json::from_value(serde_json::json!({"space": j["space"], "genotype": j["genotype"]}))
            .unwrap();
    assert_eq!(back, winner);

    let src = results
        .join(&state.id)
        .join(format!("{}.safetensors", winner.hash()));
    assert_eq!(
        std::fs::read(out.join("weights.safetensors")).unwrap(),
        std::fs::read(src).unwrap()
    );

    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 4, "a header and one line per evaluation");
    assert_eq!(lines[0], export::results::HEADER);
    let columns = lines[0].split(',').count();
    for l in &lines[1..] {
        // The genotype, quoted last, holds no commas in NAS-Bench-201.
        assert_eq!(l.split(',').count(), columns, "{l}");
    }
    assert!(lines[3].contains(",diverged,"), "{}", lines[3]);
    assert!(lines[4].starts_with("3,final,,,job-3,"), "{}", lines[4]);

    let texts = svg_texts(&out.join("cell.svg"));
    for op in ["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "none"] {
        assert!(
            texts.iter().any(|t| t == op),
            "cell.svg lacks {op}: {texts:?}"
        );
    }
    let png = std::fs::read(out.join("progress.png")).unwrap();
    assert_eq!(png_size(&png), export::progress::SIZE);
    assert!(png.len() > 5_000, "a near-empty PNG: {} bytes", png.len());
    let texts = svg_texts(&out.join("progress.svg"));
    assert!(texts.iter().any(|t| t.contains("best so far")), "{texts:?}");

    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(readme.contains("Weights: copied from"), "{readme}");
    assert!(readme.contains(CELL), "{readme}");

    // The exported model.py runs on its own with the trained weights.
    let o = run_python(&["model.py"], &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("trained weights")
            && text(&o.stdout).contains("input shape (2, 1, 12, 12) -> output shape (2, 10)"),
        "{}",
        text(&o.stdout)
    );

    // The export carries the exact normalization of the training part, and
    // plain PyTorch with it reproduces the recorded test accuracy.
    let pre: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("preprocess.json")).unwrap()).unwrap();
    assert_eq!(pre["input"], "images");
    assert_eq!(pre["mean"].as_array().unwrap().len(), 1);
    let script = r#"
import sys, torch
sys.path.insert(0, ".")
from model import load, prepare
def idx(path):
    data = open(path, "rb").read()
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(data[3])]
    return torch.frombuffer(bytearray(data[4 + 4 * len(dims):]), dtype=torch.uint8).reshape(dims)
images = idx(sys.argv[1] + "/t10k-images-idx3-ubyte").unsqueeze(1)
labels = idx(sys.argv[1] + "/t10k-labels-idx1-ubyte").long()
with torch.no_grad():
    logits, _ = load()(prepare(images))
print(f"{100.0 * (logits.argmax(1) == labels).double().mean().item():.10f}")
"#;
    let o = run_python(&["-c", script, data.to_str().unwrap()], &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let pytorch: f64 = text(&o.stdout).trim().parse().unwrap();
    let recorded = j["metrics"]["test_acc"].as_f64().unwrap();
    assert!(
        (pytorch - recorded).abs() < 1e-6,
        "plain PyTorch scores {pytorch}% on the test set, the search recorded {recorded}%"
    );

    // Exporting again into the same folder replaces the files.
    let o = nas(&[
        "export",
        &state.id,
        "--out",
        out.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // An unknown search names the folder it looked in.
    let o = nas(&[
        "export",
        "nope",
        "--out",
        out.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("no search nope in"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_winner_without_weights_exports_with_a_readme_that_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    // No final stage ran, and the dataset is not on this machine.
    let state = finished_search(&results, &dir.path().join("elsewhere"), false);
    let store_dir = results.join(&state.id);
    let evaluations: Vec<Evaluation> = std::fs::read_to_string(store_dir.join("evaluations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let out = dir.path().join("out");
    let report = export::export(
        &export::Search {
            state: &state,
            evaluations: &evaluations,
            dir: Some(&store_dir),
        },
        &out,
    )
    .unwrap();
    assert!(matches!(report.weights, export::Weights::Absent(_)));
    assert!(!out.join("weights.safetensors").exists());
    assert_eq!(report.winner.index, 1);
    let readme = std::fs::read_to_string(out.join("README.txt")).unwrap();
    assert!(readme.contains("Weights: none exported"), "{readme}");
    assert!(readme.contains("cannot be read here"), "{readme}");
    for name in [
        "genotype.txt",
        "genotype.json",
        "model.py",
        "results.csv",
        "cell.svg",
    ] {
        assert!(out.join(name).is_file(), "{name} is missing");
    }
    // model.py still builds the network, untrained, with the settings
    // assumed: 10 classes of 3 x 32 x 32 images.
    let o = run_python(&["model.py"], &out);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains("untrained") && text(&o.stdout).contains("output shape (2, 10)"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn cell_pictures_of_every_space_are_svg_with_every_op() {
    let spaces = [
        Space::Nb201,
        Space::Darts,
        Space::Pnas { blocks: 5 },
        Space::Macro { layers: 6 },
        Space::Seq,
        Space::Mlp {
            layers: 5,
            categorical: true,
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    for space in spaces {
        for seed in 0..5 {
            let g = space.sample(&mut space::rng(seed)).unwrap();
            let path = dir.path().join(format!("{}-{seed}.svg", space.kind()));
            std::fs::write(&path, export::cell::cell_svg(&g, &format!("{g}"))).unwrap();
            let texts = svg_texts(&path);
            // Every op of the genotype labels an edge (or, in the macro
            // chain, a layer), as often as it occurs.
            let ops: Vec<String> = match &g {
                Genotype::Nb201(c) => c.edges.iter().map(|o| o.name().into()).collect(),
                Genotype::Darts(d) => [&d.normal, &d.reduce]
                    .iter()
                    .flat_map(|c| c.edges().iter().map(|(o, _)| o.name().to_string()))
                    .collect(),
                Genotype::Pnas(c) => c
                    .blocks()
                    .iter()
                    .flat_map(|b| [b.op1.name().to_string(), b.op2.name().to_string()])
                    .collect(),
                Genotype::Macro(m) => m
                    .layers()
                    .iter()
                    .map(|l| format!("{}x{} conv, {}", l.height, l.width, l.filters))
                    .collect(),
                Genotype::Seq(c) => c.edges.iter().map(|o| o.name().into()).collect(),
                // Each layer's width and activation; each anchor a skip edge.
                Genotype::Mlp(m) => m
                    .layers()
                    .iter()
                    .flat_map(|l| {
                        std::iter::once(format!("{} {}", l.width, l.activation))
                            .chain(l.anchors.iter().map(|_| "skip".to_string()))
                    })
                    .collect(),
            };
            for op in &ops {
                let want = ops.iter().filter(|o| *o == op).count();
                let got = texts.iter().filter(|t| *t == op).count();
                assert_eq!(
                    got, want,
                    "{space} seed {seed}: {op} {got} times in {texts:?}"
                );
            }
        }
    }
}

#[test]
fn status_watch_redraws_until_the_search_is_finished() {
    let url = std::env::var("REDIS_URL").expect("REDIS_URL: run through scripts/test.sh");
    let prefix = format!("exportwatch-{}", std::process::id());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let q = rt
        .block_on(queue::RedisQueue::connect(
            &url.parse().unwrap(),
            queue::QueueConfig {
                prefix: prefix.clone(),
                ..Default::default()
            },
        ))
        .unwrap();
    let store = scheduler::RedisStore::new(&q, "test");
    let spec = SearchSpec {
        name: Some("watch".into()),
        space: Space::Nb201,
        strategy: StrategySpec::Random,
        evaluator: EvaluatorSpec::Nb201 {
            dataset: "cifar10".into(),
            time_scale: 0.0,
        },
        budget: 5,
        seed: 1,
        parallel: 1,
        final_stage: None,
        fidelity: None,
    };
    let mut state = SearchState::new(format!("watch-{}", std::process::id()), spec).unwrap();
    rt.block_on(store.submit(&state)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(["status", "--watch", "--interval", "0.2", &state.id])
        .env("REDIS_URL", &url)
        .env("NAS_PREFIX", &prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read frames as they come; cancel once two were drawn while the
    // search ran (however slowly this machine starts the process).
    let frames = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let frames = frames.clone();
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                frames
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while frames.lock().unwrap().matches("SEARCH").count() < 2 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "--watch exited while the search was running"
        );
        assert!(std::time::Instant::now() < end, "--watch drew no frames");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    state.status = Status::Cancelled;
    state.finished_ms = Some(state.created_ms + 1);
    assert!(rt
        .block_on(store.lead(std::time::Duration::from_secs(30)))
        .unwrap());
    rt.block_on(store.checkpoint(&state, &[])).unwrap();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < end, "--watch did not stop");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    reader.join().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = frames.lock().unwrap().clone();
    // Several frames (stdout is not a terminal: one after another), the
    // last one showing the search finished.
    assert!(stdout.matches("SEARCH").count() >= 3, "{stdout}");
    let last = stdout.rsplit("SEARCH").next().unwrap();
    assert!(last.contains("cancelled"), "{stdout}");
    assert!(!last.contains("Ctrl-C"), "{stdout}");
}
