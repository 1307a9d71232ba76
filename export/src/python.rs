//! `model.py`: a standalone PyTorch file that rebuilds the exported network
//! and loads its weights. Its classes are `python/nas_worker/networks.py`
//! (the `nas_worker.networks` module of the Python trainer package), the one
//! Python copy of the networks (scripts/reference_params.py imports the same
//! file for its parity references), embedded verbatim; a generated tail
//! names the genotype, settings and the preprocessing fitted in training,
//! and adds `build()`, `load()`, `prepare()` (raw data as the network reads
//! it), `predict()` (class names or values for a file or raw data) and a
//! `__main__` that predicts for a file (`python model.py predict FILE`) or
//! prints the output shape for a random input.

use crate::network::NetSettings;
use space::SpaceKind;
use trainer::preprocess::Preprocess;

/// The network classes, safetensors reader and weight loader.
pub const NETWORKS: &str = include_str!("../../python/nas_worker/networks.py");

/// What model.py is generated for.
#[derive(Debug, Clone, Copy)]
pub struct ModelPy<'a> {
    /// The search id, for the docstring.
    pub search: &'a str,
    /// The genotype's space.
    pub space: SpaceKind,
    /// The genotype's text form as the network was built from it (a DARTS
    /// node's parameter paths follow its edge order there).
    pub genotype: &'a str,
    /// The genotype's hash.
    pub hash: &'a str,
    /// The network's settings.
    pub settings: &'a NetSettings,
    /// The preprocessing fitted in training, if it was saved.
    pub preprocess: Option<&'a Preprocess>,
}

/// `text` as a Python string literal (a JSON string is one).
fn py_str(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The template without its module docstring, which model.py replaces.
fn template_body() -> &'static str {
    let rest = NETWORKS
        .strip_prefix("\"\"\"")
        .expect("networks.py opens with its docstring");
    let end = rest.find("\"\"\"").expect("the docstring closes");
    rest[end + 3..].trim_start_matches('\n')
}

/// The input shape line of the docstring: what `load()(x)` takes.
fn input_doc(m: &ModelPy<'_>) -> String {
    let s = m.settings;
    match m.space.input() {
        space::InputKind::Images => format!(
            "x: [batch, {c}, {n}, {n}], the images as prepare() normalizes them",
            c = s.in_channels,
            n = s.input_size
        ),
        space::InputKind::Series => format!(
            "x: [batch, {c}, {n}], the series as prepare() standardizes them",
            c = s.in_channels,
            n = s.input_size
        ),
        space::InputKind::Table => format!(
            "x: [batch, {}], the rows as prepare() encodes them",
            s.numeric + s.categorical.len() as i64
        ),
    }
}

/// The text of model.py.
pub fn model_py(m: &ModelPy<'_>) -> String {
    let s = m.settings;
    let mut out = String::new();
    out.push_str(&format!(
        r#""""The best architecture of the nas search {search}, in PyTorch.

Space {space}, genotype hash {hash}:
{genotype}

Written by `nas export`. Needs only torch:
    python model.py                  # builds the network, loads weights.safetensors beside this
                                     # file (if there), prints the output shape for a random input
    python model.py predict FILE     # a prediction per sample of FILE (as nas reads it), one per line
    from model import load, prepare, predict
    predict("new.csv")               # class names, or the target's values
    logits, aux = load()(prepare(data))   # {input}

prepare() applies the preprocessing fitted on the training data (PREPROCESS,
also in preprocess.json). The classes below are nas's python/nas_worker/networks.py;
the parameter names are the tch builders' (trainer/src/model), mapped by torch_name().
"""
"#,
        search = py_doc(m.search),
        space = m.space,
        hash = py_doc(m.hash),
        genotype = py_doc(m.genotype),
        input = input_doc(m),
    ));
    out.push_str("import os\nimport sys\n");
    out.push_str(template_body());
    let preprocess = match m.preprocess {
        Some(p) => format!(
            "json.loads({})",
            py_str(&serde_json::to_string(p).expect("preprocessing serializes"))
        ),
        None => "None".into(),
    };
    let table = if m.space == SpaceKind::Mlp {
        format!(
            ",\n              table=dict(numeric={}, categorical={:?})",
            s.numeric, s.categorical
        )
    } else {
        String::new()
    };
    out.push_str(&format!(
        r#"
# ------------------------------------------------------------------ this export

SEARCH = {search}
SPACE = {space}
GENOTYPE = {genotype}
HASH = {hash}
# The settings the weights were trained with.
CONFIG = dict(channels={channels}, layers={layers}, classes={classes}, in_channels={in_channels},
              auxiliary={auxiliary}, imagenet=False{table})
INPUT_SIZE = {input_size}
# The preprocessing fitted on the training part of the run that trained the
# weights (trainer/src/preprocess.rs); None when it was not saved.
PREPROCESS = {preprocess}
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.safetensors")


def build():
    """The network of GENOTYPE with CONFIG, freshly initialized."""
    return build_network(SPACE, GENOTYPE, **CONFIG)


def load(path=WEIGHTS):
    """The network with the trained weights at `path`, in evaluation mode."""
    return load_weights(build(), path).eval()


def prepare(data):
    """Raw data as the network reads it: images (u8 [N, C, H, W], or floats in
    [0, 1]) normalized per channel with the training split's statistics; series
    [N, C, L] standardized per channel; table rows (dicts of column -> value, as
    csv.DictReader gives) standardized and encoded."""
    if PREPROCESS is None:
        raise ValueError("this export has no preprocessing (preprocess.json was not saved with the weights)")
    kind = PREPROCESS["input"]
    if kind == "images":
        return prepare_images(PREPROCESS, data)
    if kind == "series":
        return prepare_series(PREPROCESS, data)
    return prepare_rows(PREPROCESS, data)


def read(path):
    """The samples of a file, as nas reads it: a .ts file or a CSV of one series
    per row (series [N, C, L]), or a table (rows); a target column is left out."""
    if PREPROCESS is None or PREPROCESS["input"] == "images":
        raise ValueError("predict() reads tables and series; prepare() takes images")
    if path.endswith(".ts"):
        return read_ts(path)[0]
    rows = read_csv_rows(path)
    if PREPROCESS["input"] == "series":
        target = PREPROCESS["target"].get("column")
        nan = float("nan")
        return [[[float(v) if _text(v) is not None else nan for k, v in row.items() if k != target]]
                for row in rows]
    return rows


def predict(data, path=WEIGHTS):
    """Predictions for a file (see read()) or raw data (see prepare()): class
    names, or the target's values in its own units."""
    samples = read(data) if isinstance(data, str) else data
    model = load(path)
    with torch.no_grad():
        logits, _ = model(prepare(samples))
    return predictions(PREPROCESS, logits)


def random_input(n=2):
    """A random batch of the network's input shape (category codes 0)."""
    if SPACE == "mlp":
        return torch.cat([torch.randn(n, CONFIG["table"]["numeric"]),
                          torch.zeros(n, len(CONFIG["table"]["categorical"]))], dim=1)
    if SPACE == "seq":
        return torch.randn(n, CONFIG["in_channels"], INPUT_SIZE)
    return torch.randn(n, CONFIG["in_channels"], INPUT_SIZE, INPUT_SIZE)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "predict":
        for p in predict(sys.argv[2]):
            print(p)
        sys.exit(0)
    torch.manual_seed(0)
    trained = os.path.exists(WEIGHTS)
    model = load() if trained else build().eval()
    x = random_input()
    with torch.no_grad():
        logits, _ = model(x)
    print(f"{{SPACE}} network {{HASH}}, {{'trained weights' if trained else 'untrained (no weights.safetensors)'}}")
    print(f"input shape {{tuple(x.shape)}} -> output shape {{tuple(logits.shape)}}")
"#,
        search = py_str(m.search),
        space = py_str(m.space.name()),
        genotype = py_str(m.genotype),
        hash = py_str(m.hash),
        channels = s.channels,
        layers = s.layers,
        classes = s.classes,
        in_channels = s.in_channels,
        auxiliary = py_bool(s.auxiliary),
        input_size = s.input_size,
    ));
    out
}

/// `text` inside the module docstring (a plain, not raw, `"""` string):
/// backslashes and every quote escaped, so nothing ends the string early or
/// escapes what follows; control characters but the newline (a NUL, which
/// Python refuses in source, a carriage return, which it would turn into a
/// newline, terminal escapes) written as `\xNN`. Python reads the text back
/// exactly.
fn py_doc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push('\n'),
            // Control characters are U+0000..U+001F and U+007F..U+009F.
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NetSettings {
        NetSettings {
            channels: 4,
            layers: 1,
            classes: 10,
            in_channels: 1,
            input_size: 12,
            numeric: 0,
            categorical: Vec::new(),
            auxiliary: false,
            sources: Vec::new(),
        }
    }

    #[test]
    fn model_py_embeds_the_networks_once_with_its_own_docstring() {
        let genotype = "Genotype(normal=[('sep_conv_3x3', 0)], \"q\")";
        let text = model_py(&ModelPy {
            search: "s-1",
            space: SpaceKind::Darts,
            genotype,
            hash: "0123",
            settings: &settings(),
            preprocess: None,
        });
        assert!(text.starts_with("\"\"\"The best architecture of the nas search s-1"));
        assert_eq!(text.matches("class DartsNetwork(").count(), 1);
        assert_eq!(text.matches("def torch_name(").count(), 1);
        assert!(!text.contains("The one Python copy of these structures"));
        assert!(text.contains(&format!("GENOTYPE = {}", py_str(genotype))));
        assert!(text.contains("in_channels=1,"));
        assert!(text.contains("INPUT_SIZE = 12"));
        assert!(text.contains("auxiliary=False"));
    }

    #[test]
    fn python_string_literals_escape_quotes_and_backslashes() {
        assert_eq!(py_str(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(py_doc("a\"\"\"b\\\r\0\n"), "a\\\"\\\"\\\"b\\\\\\x0d\\x00\n");
    }

    /// Issue 15, defect 9: stored strings are interpolated into model.py.
    /// Whatever they hold, Python parses the file and reads them back
    /// exactly, in the docstring and in the constants.
    #[test]
    fn stored_strings_round_trip_through_model_py() {
        let search = "s\"\"\" + __import__('os').system('x') + \"\"\"\r\n\\ \0end\"";
        let genotype = "g\"\"\"\n'''\\x41\r\t\u{2028}\"";
        let text = model_py(&ModelPy {
            search,
            space: SpaceKind::Darts,
            genotype,
            hash: "h\"\\\n",
            settings: &settings(),
            preprocess: None,
        });
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.py");
        std::fs::write(&path, &text).unwrap();
        // The module is parsed, not run: it needs torch to run.
        let read = r#"
import ast, json, sys
tree = ast.parse(open(sys.argv[1], encoding="utf-8", newline="").read())
found = {"doc": ast.get_docstring(tree, clean=False)}
for node in tree.body:
    if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
        name = node.targets[0].id
        if name in ("SEARCH", "GENOTYPE", "HASH"):
            found[name] = ast.literal_eval(node.value)
print(json.dumps(found))
"#;
        let out = std::process::Command::new("python3")
            .args(["-c", read])
            .arg(&path)
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "python cannot parse model.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(found["SEARCH"], search);
        assert_eq!(found["GENOTYPE"], genotype);
        assert_eq!(found["HASH"], "h\"\\\n");
        let doc = found["doc"].as_str().unwrap();
        let head = format!("The best architecture of the nas search {search}, in PyTorch.");
        assert!(doc.starts_with(&head), "{doc}");
        assert!(doc.contains(&format!("\n{genotype}\n")), "{doc}");
    }
}
