"""Tests of nas_worker.networks: every space's network builds and runs a
forward pass, the six genotype text forms round-trip through the parser,
parameter counts match the Rust networks' golden numbers, and the file still
works as model.py vendors it (without its docstring, without the package).

The module is loaded from its file rather than through the nas_worker package,
which is how model.py and scripts/reference_params.py use it, so these tests
need torch and pytest only.
"""
import hashlib
import importlib.util
import pathlib
import types
from typing import Any, Dict, Tuple

import pytest
import torch

NETWORKS_PY = pathlib.Path(__file__).resolve().parents[1] / "nas_worker" / "networks.py"


def load_networks() -> types.ModuleType:
    """networks.py as a standalone module."""
    spec = importlib.util.spec_from_file_location("networks_under_test", NETWORKS_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nw = load_networks()

# One canonical genotype per space, with the first 16 hex digits of
# sha256("<space>\n<canonical text>") that space/tests/spaces.rs pins
# (hashes_are_stable_golden_values): a text whose hash matches is the
# canonical text nas puts in a job.
GENOTYPES: Dict[str, Tuple[Dict[str, Any], str, str]] = {
    "nb201": ({"kind": "nb201"},
              "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
              "cf605f704531ed31"),
    "darts": ({"kind": "darts"},
              "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
              "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), "
              "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
              "('max_pool_3x3', 1), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
              "('skip_connect', 2), ('max_pool_3x3', 1), ('skip_connect', 2)], reduce_concat=[2, 3, 4, 5])",
              "2194af0ba9a5fc52"),
    "pnas": ({"kind": "pnas", "blocks": 2},
             "(0,max_pool_3x3,1,sep_3x3)(1,avg_pool_3x3,2,identity)",
             "4edd56e6c8e50540"),
    "macro": ({"kind": "macro", "layers": 3}, "3x3:24 5x5:36<0 3x7:48<0,1", "1e18bbbaaa7ee731"),
    "mlp": ({"kind": "mlp", "layers": 4, "categorical": True},
            "onehot 256:relu:batch:0.1 128:gelu:none:0<x 64:silu:layer:0.2<x,0",
            "d72289f070996972"),
    "seq": ({"kind": "seq"},
            "|conv_5~0|+|sep_conv_3~0|skip_connect~1|+|none~0|max_pool_3~1|dil_conv_3~2|",
            "f839b6aa38db495a"),
}

# An mlp's input columns: 3 numeric, then categorical columns of 4 and 2 categories.
TABLE = {"numeric": 3, "categorical": [4, 2]}


def genotype_hash(kind: str, text: str) -> str:
    """nas's genotype hash (space::GenotypeHash) of a canonical text."""
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()[:16]


def tiny_batch(kind: str, in_channels: int) -> torch.Tensor:
    """Two random samples of the input a `kind` network reads."""
    if kind == "mlp":
        codes = torch.tensor([[0.0, 3.0], [4.0, 1.0]])  # code 4 is column 0's "missing"
        return torch.cat([torch.randn(2, TABLE["numeric"]), codes], dim=1)
    if kind == "seq":
        return torch.randn(2, in_channels, 24)
    return torch.randn(2, in_channels, 16, 16)


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_text_forms_round_trip_through_the_parser(name: str) -> None:
    space, text, golden = GENOTYPES[name]
    assert genotype_hash(name, text) == golden, "the fixture is not nas's canonical text"
    parsed = nw.parse_genotype(space, text)
    assert nw.format_genotype(space, parsed) == text
    assert nw.parse_genotype(name, text) == parsed, "a kind's name works as well as its JSON"


def test_parsed_structures_are_what_the_space_parsers_return() -> None:
    assert nw.parse_genotype({"kind": "nb201"}, GENOTYPES["nb201"][1]) == "334131"
    assert nw.parse_genotype({"kind": "pnas"}, GENOTYPES["pnas"][1]) == [
        (0, "max_pool_3x3", 1, "sep_3x3"), (1, "avg_pool_3x3", 2, "identity")]
    assert nw.parse_genotype("macro", GENOTYPES["macro"][1])[2] == (3, 7, 48, [0, 1])
    encoding, layers = nw.parse_genotype("mlp", "128:gelu:none:0<x")
    assert (encoding, layers) == ("onehot", [(128, "gelu", "none", 0.0, ["x"])])
    assert nw.format_genotype("mlp", (encoding, layers)) == "onehot 128:gelu:none:0<x"


@pytest.mark.parametrize("space, text", [
    ({"kind": "nope"}, "x"),
    ({}, "x"),
    ("nb201", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"),
    ("pnas", "(0,sep_3x3,1)"),
    ("macro", "3x3"),
    ("mlp", "64:relu:group:0"),
    ("seq", "|conv_9~0|+|none~0|none~1|+|none~0|none~1|none~2|"),
    ("darts", "DARTS_V2"),
])
def test_bad_spaces_and_texts_are_value_errors(space: Any, text: str) -> None:
    with pytest.raises(ValueError):
        nw.parse_genotype(space, text)


@pytest.mark.parametrize("name", sorted(GENOTYPES))
def test_every_space_builds_and_runs_a_forward_pass(name: str) -> None:
    torch.manual_seed(0)
    space, text, _ = GENOTYPES[name]
    in_channels = 2 if name == "seq" else 1
    model = nw.build_for_job(space, text, classes=5, in_channels=in_channels, channels=8,
                             table=TABLE if name == "mlp" else None)
    x = tiny_batch(name, in_channels)
    model.train()
    logits, aux = model(x)
    assert logits.shape == (2, 5) and aux is None
    assert torch.isfinite(logits).all()
    logits.sum().backward()
    model.eval()
    with torch.no_grad():
        assert model(x)[0].shape == (2, 5)
    assert nw.count_params(model) == sum(p.numel() for p in model.parameters())


def test_defaults_are_the_torch_evaluators_proxy_settings() -> None:
    space, text, _ = GENOTYPES["nb201"]
    default = nw.build_for_job(space, text, classes=10)
    explicit = nw.build_network("nb201", text, 16, 2, 10, 3)
    assert (nw.PROXY_CHANNELS, nw.PROXY_LAYERS) == (16, 2)
    assert nw.count_params(default) == nw.count_params(explicit)
    assert sum(1 for c in default.cells if isinstance(c, nw.InferCell)) == 3 * 2


# The golden counts of trainer/tests/model_params.rs (the Rust networks),
# built through build_for_job.
PARAM_COUNTS = [
    ({"kind": "nb201"}, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
     dict(channels=16, layers=5), 73_306),
    ({"kind": "nb201"}, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|"
     "nor_conv_3x3~2|", dict(channels=16, layers=5), 1_531_546),
    ({"kind": "darts"}, GENOTYPES["darts"][1], dict(channels=36, layers=20), 3_349_342),
    ({"kind": "pnas", "blocks": 5},
     "(1,sep_5x5,1,max_pool_3x3)(0,sep_7x7,0,max_pool_3x3)(0,sep_5x5,0,sep_3x3)(4,sep_3x3,0,max_pool_3x3)"
     "(1,sep_3x3,0,identity)", dict(channels=48, layers=3), 3_962_650),
    ({"kind": "macro", "layers": 5}, "3x3:24 5x5:36<0 3x7:48<0,1 1x1:64 7x5:36<2,3", {}, 224_826),
    ({"kind": "seq"}, GENOTYPES["seq"][1], dict(channels=8, layers=1, classes=3, in_channels=2), 19_419),
    ({"kind": "mlp", "layers": 4, "categorical": True}, "embed 256:relu:batch:0.1 128:gelu:none:0<x 64:silu:layer:0.2<x,0",
     dict(classes=5, table=TABLE), 63_266),
]


@pytest.mark.parametrize("space, text, settings, expected", PARAM_COUNTS,
                         ids=[f"{s['kind']}-{n}" for s, _, _, n in PARAM_COUNTS])
def test_parameter_counts_match_the_rust_networks(space: Dict[str, Any], text: str,
                                                  settings: Dict[str, Any], expected: int) -> None:
    settings = {"classes": 10, **settings}
    assert nw.count_params(nw.build_for_job(space, text, **settings)) == expected


def test_the_darts_auxiliary_head_is_left_out_of_the_count() -> None:
    model = nw.build_for_job("darts", GENOTYPES["darts"][1], classes=10, channels=36, layers=20, auxiliary=True)
    assert nw.count_params(model) == 3_349_342
    assert nw.count_params(model, include_auxiliary=True) == 3_825_768


def test_the_file_works_as_model_py_vendors_it() -> None:
    """model.py is its own docstring, `import os` and `import sys`, then this file
    after its docstring (template_body() in export/src/python.rs)."""
    source = NETWORKS_PY.read_text(encoding="utf-8")
    assert source.startswith('"""'), "networks.py must open with its docstring"
    body = source[3:].split('"""', 1)[1].lstrip("\n")
    model_py = '"""An export."""\nimport os\nimport sys\n' + body
    scope: Dict[str, Any] = {"__name__": "model"}
    exec(compile(model_py, "model.py", "exec"), scope)
    net = scope["build_network"]("macro", "3x3:8 1x1:8<0", 0, 0, 4)
    assert net(torch.randn(1, 3, 8, 8))[0].shape == (1, 4)
