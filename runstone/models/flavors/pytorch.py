"""PyTorch ``nn.Module`` models.

The whole module is saved with ``torch.save`` through cloudpickle (``data/model.pth``, MLflow's
pytorch layout, loader ``mlflow.pytorch``). This reloads any module as the same class with its
own methods, including modules with data-dependent control flow and classes defined in a
notebook or ``__main__`` (cloudpickle stores those by value). TorchScript and ``torch.export``
need example inputs, reject data-dependent Python control flow and hand back a graph rather
than the user's class; TorchScript is also deprecated. Classes defined in your own modules are
stored by reference: pass their files as ``code_paths`` so the package carries them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature

FLAVOR_NAME = "pytorch"
DATA_DIR = "data"
MODEL_FILE = "model.pth"
PICKLE_INFO = "pickle_module_info.txt"
# MLflow's pickle module is a re-export of cloudpickle: read its files without MLflow.
_PICKLE_MODULES = {"mlflow.pytorch.pickle_module": "cloudpickle"}


def _save(
    pytorch_model: object,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    input_example: object = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, object] | None = None,
) -> Model:
    import cloudpickle
    import torch

    if not isinstance(pytorch_model, torch.nn.Module):
        raise InvalidInput(f"Expected a torch.nn.Module; got {type(pytorch_model).__name__}.")
    if input_example is None:
        from runstone.models.autolog.pytorch import remembered_example

        input_example = remembered_example(pytorch_model)
    target = new_package_dir(path)
    data = target / DATA_DIR
    data.mkdir()
    (data / PICKLE_INFO).write_text("cloudpickle")
    torch.save(pytorch_model, data / MODEL_FILE, pickle_module=cloudpickle)
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf={"model_data": DATA_DIR, "pytorch_version": str(torch.__version__)},
        pyfunc={"loader_module": "mlflow.pytorch", "data": DATA_DIR},
        packages=["torch", "cloudpickle"],
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(pytorch_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save an nn.Module as a package in a new folder (input_example, signature,
    pip_requirements, extra_pip_requirements, code_paths, metadata)."""
    return _save(pytorch_model, path, Model(), **kwargs)


def log_model(
    pytorch_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log an nn.Module into the active run (one is started when none is). With autolog on and
    no input_example given, the first rows of the batch the module was trained on are used."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(pytorch_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def _read(data: Path) -> Any:
    import torch

    if data.is_dir():
        info = data / PICKLE_INFO
        name = info.read_text().strip() if info.is_file() else "pickle"
        file = data / MODEL_FILE
        if not file.is_file() and (data / "model.pt2").is_file():  # MLflow's torch.export packages
            return torch.export.load(str(data / "model.pt2")).module()
    else:
        name, file = "pickle", data
    pickle_module = importlib.import_module(_PICKLE_MODULES.get(name, name))
    if not hasattr(pickle_module, "Unpickler"):  # cloudpickle writes plain pickle streams
        pickle_module = importlib.import_module("pickle")
    return torch.load(file, pickle_module=pickle_module, weights_only=False)


def load_model(model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None) -> Any:
    """The nn.Module of a package."""
    path, _, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _read(path / conf.get("model_data", DATA_DIR))


class _Predictor:
    def __init__(self, model: Any) -> None:
        self.model = model
        if hasattr(model, "eval"):
            model.eval()

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        import numpy as np
        import torch

        def tensor(value: Any) -> Any:
            if hasattr(value, "to_numpy"):
                value = value.to_numpy(dtype=np.float32)
            return torch.from_numpy(np.ascontiguousarray(value))

        with torch.no_grad():
            if isinstance(data, Mapping):
                output = self.model(**{k: tensor(v) for k, v in data.items()})
            else:
                output = self.model(tensor(data))
        if isinstance(output, torch.Tensor):
            return output.detach().cpu().numpy()
        if isinstance(output, Mapping):
            return {k: v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v for k, v in output.items()}
        return output


def load_pyfunc(path: Path, model: Model) -> _Predictor:
    conf = model.flavors.get(FLAVOR_NAME) or {}
    return _Predictor(_read(path / conf.get("model_data", DATA_DIR)))


def _load_pyfunc(data_path: str) -> _Predictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
