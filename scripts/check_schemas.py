"""Validate JSON documents against the protocol's schemas (docs/schemas).

    python scripts/check_schemas.py FILE...      # each named <schema>.<anything>.json

Every schema is checked against the 2020-12 metaschema first; a file is
checked against the schema its name starts with (envelope, eval-job,
darts-job, result, progress). Prints one line per failure and exits 1 if
any. tests/schemas.rs runs it on the Rust types' JSON, python/tests on the
examples and on what the Python worker writes.
"""
import json
import pathlib
import sys

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "schemas"


def validators():
    """A validator per schema name, resolving $refs between the schemas."""
    schemas = {p.name.removesuffix(".schema.json"): json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("*.schema.json"))}
    for s in schemas.values():
        Draft202012Validator.check_schema(s)
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    return {name: Draft202012Validator(s, registry=registry) for name, s in schemas.items()}


def errors(validator, doc):
    """The document's errors, as one line each."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}" for e in validator.iter_errors(doc)]


def main(paths):
    by_name = validators()
    bad = 0
    for path in map(pathlib.Path, paths):
        name = path.name.split(".")[0]
        if name not in by_name:
            print(f"{path}: no schema named {name} (expected one of {sorted(by_name)})")
            bad += 1
            continue
        for line in errors(by_name[name], json.loads(path.read_text())):
            print(f"{path}: {line}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
