"""docs/ARCHITECTURE.md names real modules and functions: the path of a metric it tells is the code's."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()


def test_every_module_the_page_names_exists():
    paths = set(re.findall(r"`([a-z_/]+\.(?:py|js))`", DOC)) | set(re.findall(r"\b([a-z_]+/[a-z_/]+\.py)\b", DOC))
    assert paths
    missing = [p for p in sorted(paths) if not (ROOT / "runstone" / p.removeprefix("runstone/")).exists()]
    assert missing == []


def test_each_step_names_a_function_of_the_module_it_names():
    steps = re.findall(r"`(\w+(?:\.\w+)?)` \(`([a-z_/]+\.py)`\)|\(`([a-z_/]+\.py)`\) `(\w+)`", DOC)
    pairs = [(a or d, b or c) for a, b, c, d in steps]
    assert len(pairs) >= 3
    for name, module in pairs:
        source = (ROOT / "runstone" / module).read_text()
        assert re.search(rf"\b(def|class) {name.split('.')[-1]}\b", source), f"{name} is not in {module}"


def test_every_top_level_module_sits_in_a_layer():
    """The layers contract in pyproject.toml places each part of the package: a new module that
    no layer names would be free of it."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers" and c.get("containers") == ["runstone"]]
    placed = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    modules = {p.stem for p in (ROOT / "runstone").iterdir() if (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert modules - {"__init__"} == placed
