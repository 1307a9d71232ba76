//! The architecture's layering, checked (ARCHITECTURE.md, "Layers"):
//!
//! - which workspace crates each crate may depend on, read from
//!   `cargo metadata` (normal dependencies; tests may use more): the pure
//!   `space` crate depends on nothing of ours and on no tokio, redis or
//!   tch; `metrics` depends on `queue` alone; no service depends on
//!   another service;
//! - no cycle between the modules of the binary (`src/`) or of the trainer
//!   (`trainer/src/`), read from their `crate::` and `super::` paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Each crate's normal dependencies: (workspace crates, other crates).
fn dependencies() -> BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .current_dir(root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    let ours: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let (mut ws, mut other) = (BTreeSet::new(), BTreeSet::new());
            for d in p["dependencies"].as_array().unwrap() {
                if !d["kind"].is_null() {
                    continue; // dev and build dependencies
                }
                let name = d["name"].as_str().unwrap().to_string();
                if ours.contains(&name) {
                    ws.insert(name);
                } else {
                    other.insert(name);
                }
            }
            (p["name"].as_str().unwrap().to_string(), (ws, other))
        })
        .collect()
}

#[test]
fn crates_depend_only_on_the_layers_below_them() {
    // crate -> the workspace crates it may depend on.
    let allowed: &[(&str, &[&str])] = &[
        ("space", &[]),
        ("nb201", &["space"]),
        ("data", &["space"]),
        ("controller", &["space"]),
        ("queue", &["space"]),
        ("metrics", &["queue"]),
        ("scheduler", &["space", "queue", "nb201", "controller"]),
        ("trainer", &["space", "queue", "nb201", "data"]),
        ("surrogate", &["space", "queue", "nb201", "metrics"]),
        (
            "export",
            &["space", "queue", "data", "scheduler", "trainer"],
        ),
        // The dashboard reads the scheduler's records and draws the cell
        // as export does.
        ("dashboard", &["space", "queue", "scheduler", "export"]),
        (
            "bench",
            &[
                "space",
                "queue",
                "nb201",
                "data",
                "scheduler",
                "trainer",
                "dashboard",
                "export",
            ],
        ),
    ];
    // crate -> crates it must never depend on, ours or not.
    let forbidden: &[(&str, &[&str])] = &[
        ("space", &["tokio", "redis", "tch", "torch-sys"]),
        ("nb201", &["tokio", "redis", "tch"]),
        ("data", &["tokio", "redis"]),
        ("controller", &["tokio", "redis"]),
        ("queue", &["tch"]),
        ("metrics", &["tch"]),
    ];
    let deps = dependencies();
    let mut wrong = Vec::new();
    for (name, (ws, _)) in &deps {
        if name == "nas" {
            continue; // the binary wires everything
        }
        let Some((_, ok)) = allowed.iter().find(|(n, _)| n == name) else {
            wrong.push(format!(
                "{name}: a new crate; give it its place in this table"
            ));
            continue;
        };
        for d in ws {
            if !ok.contains(&d.as_str()) {
                wrong.push(format!("{name} depends on {d}, which is not below it"));
            }
        }
    }
    for (name, never) in forbidden {
        let (ws, other) = &deps[*name];
        for d in *never {
            if ws.contains(*d) || other.contains(*d) {
                wrong.push(format!("{name} depends on {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken:\n{}", wrong.join("\n"));
}

/// Every `.rs` file under `dir`, with the module path it defines
/// (`cmd::search` for `cmd/search.rs`, `darts_search` for
/// `darts_search/mod.rs`).
fn modules(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|p| p == "mod") {
                    parts.pop();
                }
                out.push((parts.join("::"), path));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// The module graph of a crate at the granularity of `units` (each module
/// is counted as the unit that is its longest prefix); the crate root
/// (`main`, `lib`) is left out, since it declares every module.
fn module_graph(dir: &Path, units: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let unit_of = |path: &str| -> Option<String> {
        units
            .iter()
            .filter(|u| path == **u || path.starts_with(&format!("{u}::")))
            .max_by_key(|u| u.len())
            .map(|u| u.to_string())
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in modules(dir) {
        let Some(from) = unit_of(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Inline test modules are not part of the layering, and their
        // `super::` means the file's own module.
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        let own: Vec<&str> = module.split("::").collect();
        for (i, _) in text
            .match_indices("crate::")
            .chain(text.match_indices("super::"))
        {
            if i > 0 && text[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue; // the middle of a longer path
            }
            let path: String = text[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // `use crate::cmd::{a, b}` names crate::cmd::a and crate::cmd::b.
            let after = &text[i + path.len()..];
            let mut paths = vec![path.clone()];
            if path.ends_with("::") && after.starts_with('{') {
                let inner = &after[1..after.find('}').unwrap_or(after.len())];
                paths = inner
                    .split(',')
                    .map(|item| format!("{path}{}", item.trim().split("::").next().unwrap_or("")))
                    .collect();
            }
            for path in paths {
                let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
                let target = if segs.first() == Some(&"crate") {
                    segs.remove(0);
                    segs.join("::")
                } else {
                    // Each super:: goes up from the file's module.
                    let mut base = own.clone();
                    while segs.first() == Some(&"super") {
                        segs.remove(0);
                        base.pop();
                    }
                    base.extend(segs.iter().copied());
                    base.join("::")
                };
                if let Some(to) = unit_of(&target) {
                    if to != from {
                        graph.entry(from.clone()).or_default().insert(to);
                    }
                }
            }
        }
        graph.entry(from).or_default();
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_binary_has_no_module_cycle() {
    let units = [
        "args",
        "cli",
        "metered",
        "runtime",
        "cmd::arch",
        "cmd::bench",
        "cmd::client",
        "cmd::daemon",
        "cmd::darts",
        "cmd::data",
        "cmd::export",
        "cmd::ranker",
        "cmd::search",
        "cmd::space",
        "cmd::surrogate",
        "cmd::train",
    ];
    let graph = module_graph(&root().join("src"), &units);
    assert!(graph.contains_key("cmd::search"), "{graph:?}");
    assert!(graph["cli"].contains("cmd::search"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle in src/: {}", cycle.join(" -> "));
    }
    for leaf in ["args", "runtime"] {
        assert!(
            graph[leaf].is_empty(),
            "{leaf} is a leaf, yet uses {:?}",
            graph[leaf]
        );
    }
}

#[test]
fn the_trainer_has_no_module_cycle() {
    let units = [
        "cancel",
        "checkpoint",
        "darts_search",
        "device",
        "evaluator",
        "model",
        "progress",
        "schedule",
        "threads",
        "train",
    ];
    let graph = module_graph(&root().join("trainer/src"), &units);
    assert!(graph["evaluator"].contains("train"), "{graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("module cycle in trainer/src/: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec![]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
