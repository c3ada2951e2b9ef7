"""Writing a model package: the steps every flavor shares.

A flavor writes its own files, then ``finish`` adds the rest: copied code, the environment
files, the input example, the signature (inferred when not given), the output recorded on the
example, and the MLmodel manifest. The recorded output comes from the package as written,
reloaded through the same path ``load_model`` takes, so a package that cannot reload or cannot
predict its own example is refused at save time rather than discovered later.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import AlreadyExists, InvalidInput
from runstone.models import environment
from runstone.models.example import load_input_example, save_input_example, save_output_example
from runstone.models.manifest import PYFUNC, Model
from runstone.models.signature import ModelSignature, infer_schema

CODE_DIR = "code"


def new_package_dir(path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExists(f"{target} already exists and is not empty; save a model into a new folder.")
    target.mkdir(parents=True, exist_ok=True)
    return target


def copy_code(path: Path, code_paths: Sequence[str | os.PathLike[str]] | None) -> str | None:
    """Copy files and folders into code/, which load_model puts on sys.path."""
    if not code_paths:
        return None
    target = path / CODE_DIR
    target.mkdir()
    for item in code_paths:
        source = Path(item)
        if not source.exists():
            raise InvalidInput(f"code path {source} does not exist.")
        if source.is_dir():
            shutil.copytree(source, target / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target / source.name)
    return CODE_DIR


def add_code_to_path(path: Path, conf: Mapping[str, Any]) -> None:
    code = conf.get("code")
    if code:
        folder = str((path / code).resolve())
        if folder not in sys.path:
            sys.path.insert(0, folder)


def flavor_conf(path: Path, model: Model, flavor: str) -> dict[str, object]:
    conf = model.flavors.get(flavor)
    if conf is None:
        raise InvalidInput(
            f"The model at {path} has no {flavor!r} flavor (it has: {', '.join(sorted(model.flavors)) or 'none'})."
        )
    return conf


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def finish(
    path: Path,
    model: Model,
    *,
    flavor: str | None,
    conf: Mapping[str, object],
    pyfunc: Mapping[str, object] | None,
    packages: Sequence[str],
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Model:
    """Complete a package whose flavor files are written; returns its manifest. ``flavor`` None:
    a custom model whose only flavor is python_function (``pyfunc``)."""
    import platform

    from runstone.version import VERSION

    code = copy_code(path, code_paths)
    if flavor is not None:
        model.add_flavor(flavor, **conf, code=code)
    requirements = environment.requirements_for(packages, pip_requirements, extra_pip_requirements)
    env = environment.write_environment(path, requirements)
    if pyfunc is not None:
        pyfunc_conf = dict(pyfunc)
        if code:
            pyfunc_conf["code"] = code
        model.add_flavor(PYFUNC, **pyfunc_conf, env=env, python_version=platform.python_version())
    model.runstone_version = VERSION
    model.metadata = dict(metadata) if metadata else None
    if isinstance(signature, ModelSignature):
        model.signature = signature
    example = None
    if input_example is not None:
        example, model.saved_input_example_info = save_input_example(path, input_example)
        if signature is None:
            model.signature = ModelSignature(inputs=infer_schema(example))
    model.model_size_bytes = _size(path)
    model.save(path)
    if example is not None and pyfunc is not None:
        _record_output(path, model, infer_outputs=signature is None)
        model.model_size_bytes = _size(path)
        model.save(path)
    return model


def _record_output(path: Path, model: Model, *, infer_outputs: bool) -> None:
    from runstone.models.pyfunc_model import load_package

    assert model.saved_input_example_info is not None
    loaded = load_package(path)
    example = load_input_example(path, model.saved_input_example_info, model.get_input_schema())
    try:
        output = loaded.predict(example)
    except InvalidInput as exc:
        raise InvalidInput(f"The input example does not fit the model's signature: {exc.message}") from None
    if infer_outputs and model.signature is not None and model.signature.outputs is None:
        try:
            model.signature.outputs = infer_schema(output)
        except InvalidInput:
            pass
    model.saved_output_example_info = save_output_example(path, output)


def open_flavor(
    model_uri: str | os.PathLike[str], flavor: str, dst_path: str | os.PathLike[str] | None = None
) -> tuple[Path, Model, dict[str, Any]]:
    """The local folder, manifest and flavor settings of the package a URI names; the package's
    code folder is put on sys.path."""
    from runstone.models.uri import local_path

    path = local_path(model_uri, dst_path)
    model = Model.load(path)
    conf = flavor_conf(path, model, flavor)
    add_code_to_path(path, conf)
    return path, model, conf


def package_dir_of(data_path: str | os.PathLike[str]) -> Path:
    """The package folder holding ``data_path`` (what MLflow passes to ``_load_pyfunc``)."""
    path = Path(data_path).resolve()
    for candidate in (path, *path.parents):
        if (candidate / "MLmodel").is_file():
            return candidate
    raise InvalidInput(f"{data_path} is not inside a model package (no MLmodel file above it).")


class NativePredictor:
    """A native model whose ``predict`` (or another method) is the pyfunc prediction."""

    def __init__(self, model: object, method: str = "predict") -> None:
        self.model = model
        self._fn = getattr(model, method)

    def predict(self, data: object, params: Mapping[str, object] | None = None) -> Any:
        return self._fn(data)
