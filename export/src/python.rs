//! `model.py`: a standalone PyTorch file that rebuilds the exported network
//! and loads its weights. Its classes are `python/nas_networks.py`, the one
//! Python copy of the networks (scripts/reference_params.py imports the same
//! file for its parity references), embedded verbatim; a generated tail
//! names the genotype and settings and adds `build()`, `load()` and a
//! `__main__` that prints the output shape for a random input.

use crate::network::NetSettings;
use space::SpaceKind;

/// The network classes, safetensors reader and weight loader.
pub const NETWORKS: &str = include_str!("../python/nas_networks.py");

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
        .expect("nas_networks.py opens with its docstring");
    let end = rest.find("\"\"\"").expect("the docstring closes");
    rest[end + 3..].trim_start_matches('\n')
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
    python model.py            # builds the network, loads weights.safetensors beside this
                               # file (if there), prints the output shape for a random input
    from model import load     # load() -> the trained network in eval mode;
    logits, aux = load()(x)    # x: [batch, {c}, {size}, {size}], normalized per channel as in training

The classes below are nas's export/python/nas_networks.py; the parameter names
are the tch builders' (trainer/src/model), mapped by torch_name().
"""
"#,
        search = m.search,
        space = m.space,
        hash = m.hash,
        genotype = m.genotype,
        c = s.in_channels,
        size = s.input_size,
    ));
    out.push_str("import os\n");
    out.push_str(template_body());
    out.push_str(&format!(
        r#"
# ------------------------------------------------------------------ this export

SEARCH = {search}
SPACE = {space}
GENOTYPE = {genotype}
HASH = {hash}
# The settings the weights were trained with.
CONFIG = dict(channels={channels}, layers={layers}, classes={classes}, in_channels={in_channels},
              auxiliary={auxiliary}, imagenet=False)
INPUT_SIZE = {input_size}
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.safetensors")


def build():
    """The network of GENOTYPE with CONFIG, freshly initialized."""
    return build_network(SPACE, GENOTYPE, **CONFIG)


def load(path=WEIGHTS):
    """The network with the trained weights at `path`, in evaluation mode."""
    return load_weights(build(), path).eval()


if __name__ == "__main__":
    torch.manual_seed(0)
    trained = os.path.exists(WEIGHTS)
    model = load() if trained else build().eval()
    x = torch.randn(2, CONFIG["in_channels"], INPUT_SIZE, INPUT_SIZE)
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
    }
}
