"""Keras 3 models, in MLflow's ``keras`` flavor layout (loader ``mlflow.keras``).

The model is saved with ``model.save`` as ``data/model.keras`` (architecture, weights and
optimizer in Keras's own zip format, any backend), with ``data/keras_module.txt``; or, with
``save_exported_model=True``, exported as a TensorFlow SavedModel (``data/model/``, a ``serve``
endpoint taking the signature's tensors) that runs without the model's Python classes.

``.keras`` files are loaded in Keras's safe mode: a ``Lambda`` layer's Python bytecode is not
run. Layers of your own classes load when their module is importable: pass their files as
``code_paths``. An exported SavedModel runs the graph it holds; load only packages you trust.

Without an input example or a signature, the signature is the model's own inputs and outputs
(tensors, ``-1`` for the batch dimension); with a DataFrame example, it is named columns, and
the model gets the frame's values in the dtype of its input.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature, Schema, TensorSpec

FLAVOR_NAME = "keras"
DATA_DIR = "data"
MODEL_NAME = "model"  # data/model.keras, or the folder data/model/ of an exported SavedModel
KERAS_MODULE_FILE = "keras_module.txt"
# Rows above which prediction goes through Model.predict in batches of this many (bounded memory).
PREDICT_BATCH = 8192


def _is_keras_model(model: object) -> bool:
    try:
        import keras
    except ImportError:
        return False
    return isinstance(model, keras.Model)


def requirements(*, tensorflow: bool = False) -> list[str]:
    """What loading a Keras package needs: keras, the backend it was saved with, and TensorFlow
    when ``tensorflow`` (a SavedModel)."""
    import keras

    from runstone.models.environment import distribution_of

    modules = {"tensorflow"} if tensorflow else set()
    backend = keras.backend.backend()
    if backend in ("tensorflow", "torch", "jax"):
        modules.add(backend)
    return ["keras", *(distribution_of(m) for m in sorted(modules))]


def _tensor(shape: Any, dtype: Any, name: str | None) -> TensorSpec:
    import numpy as np

    dims = tuple(-1 if d is None else int(d) for d in (shape or ()))
    return TensorSpec(str(np.dtype(str(dtype))), dims, name)


def model_signature(model: Any) -> ModelSignature | None:
    """The signature a built Keras model declares (its inputs and outputs), else None."""
    try:
        inputs = list(model.inputs or [])
        outputs = list(model.outputs or [])
    except (AttributeError, ValueError):  # a subclassed model that was never called
        return None
    if not inputs:
        return None
    named = len(inputs) > 1
    in_schema = Schema([_tensor(t.shape, t.dtype, t.name if named else None) for t in inputs])
    out_named = len(outputs) > 1
    out_schema = (
        Schema([_tensor(t.shape, t.dtype, t.name if out_named else None) for t in outputs]) if outputs else None
    )
    return ModelSignature(inputs=in_schema, outputs=out_schema)


def _export(model: Any, target: Path, signature: ModelSignature | None) -> None:
    """A SavedModel with one ``serve`` endpoint taking the signature's tensors."""
    import keras
    import tensorflow as tf

    if signature is None or signature.inputs is None or not signature.inputs.is_tensor:
        raise InvalidInput(
            "save_exported_model=True needs a signature of tensors (the model's own inputs, or one you give)."
        )
    specs = [
        tf.TensorSpec([None if d == -1 else d for d in s.shape], s.dtype, name=s.name)
        for s in signature.inputs.specs
        if isinstance(s, TensorSpec)
    ]
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serve", fn=model.call, input_signature=specs)
    archive.write_out(str(target), verbose=False)


def _save(
    keras_model: Any,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    save_exported_model: bool = False,
    save_model_kwargs: Mapping[str, Any] | None = None,
    input_example: Any = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Model:
    import keras

    if not _is_keras_model(keras_model):
        raise InvalidInput(f"Expected a keras.Model; got {type(keras_model).__name__}.")
    if signature is None and input_example is None:
        signature = model_signature(keras_model)
    target = new_package_dir(path)
    data = target / DATA_DIR
    data.mkdir()
    (data / KERAS_MODULE_FILE).write_text("keras")
    if save_exported_model:
        given = signature if isinstance(signature, ModelSignature) else None
        _export(keras_model, data / MODEL_NAME, given or model_signature(keras_model))
    else:
        keras_model.save(data / f"{MODEL_NAME}.keras", **dict(save_model_kwargs or {}))
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf={
            "data": DATA_DIR,
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
            "save_exported_model": bool(save_exported_model),
        },
        pyfunc={"loader_module": "mlflow.keras"},
        packages=requirements(tensorflow=bool(save_exported_model)),
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(keras_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save a Keras 3 model as a package in a new folder.

    Keyword arguments: save_exported_model (a SavedModel instead of a .keras file),
    save_model_kwargs (for ``model.save``), input_example, signature (the model's own inputs
    and outputs when neither is given; False for none), pip_requirements,
    extra_pip_requirements, code_paths, metadata.
    """
    return _save(keras_model, path, Model(), **kwargs)


def log_model(
    keras_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a Keras 3 model into the active run (one is started when none is) as ``name``."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(keras_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def read(data: Path, *, exported: bool = False, **load_kwargs: object) -> Any:
    """The model saved under ``data``: a Keras model from ``model.keras`` (or an older
    ``model.h5``), or the loaded SavedModel of an exported one."""
    folder = data / MODEL_NAME
    if exported or (folder / "saved_model.pb").is_file():
        import tensorflow as tf

        if not (folder / "saved_model.pb").is_file():
            raise InvalidInput(f"No SavedModel at {folder}.")
        return tf.saved_model.load(str(folder))
    import keras

    for suffix in (".keras", ".h5"):
        file = data / f"{MODEL_NAME}{suffix}"
        if file.is_file():
            return keras.saving.load_model(file, **load_kwargs)
    raise InvalidInput(f"No Keras model in {data} (looked for {MODEL_NAME}.keras, {MODEL_NAME}.h5, {MODEL_NAME}/).")


def load_model(
    model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None, **load_kwargs: object
) -> Any:
    """The Keras model of a package (the loaded SavedModel when it was exported). Keyword
    arguments go to ``keras.saving.load_model`` (custom_objects, compile, safe_mode)."""
    path, _, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return read(data_dir(path, conf), exported=bool(conf.get("save_exported_model")), **load_kwargs)


def _numpy(value: object) -> Any:
    import numpy as np

    if hasattr(value, "numpy"):
        return value.numpy()
    return np.asarray(value)


class KerasPredictor:
    """Predicts with a Keras model: a DataFrame's values (or an array) feed its only input, a
    dict of arrays its inputs by name; several outputs come back as a dict keyed by name."""

    def __init__(self, model: Any) -> None:
        self.model = model
        try:
            inputs = list(model.inputs or [])
        except (AttributeError, ValueError):  # a subclassed model that was never called
            inputs = []
        self._dtype = str(inputs[0].dtype) if inputs else "float32"
        self._several_inputs = len(inputs) > 1
        self._output_names = list(getattr(model, "output_names", None) or [])

    def _feed(self, data: object) -> Any:
        import numpy as np

        if isinstance(data, Mapping):
            fed = {str(k): _numpy(v) for k, v in data.items()}
            return next(iter(fed.values())) if len(fed) == 1 and not self._several_inputs else fed
        if hasattr(data, "to_numpy"):  # a DataFrame or Series: its values, as the model's input dtype
            array = data.to_numpy()
            return array.astype(self._dtype) if array.dtype.kind in "biuf" else array
        if isinstance(data, list):
            return np.asarray(data, dtype=self._dtype)
        return _numpy(data)

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        fed = self._feed(data)
        rows = len(next(iter(fed.values())) if isinstance(fed, dict) else fed)
        if rows <= PREDICT_BATCH:
            output = self.model.predict_on_batch(fed)
        else:
            output = self.model.predict(fed, batch_size=PREDICT_BATCH, verbose=0)
        return outputs(output, self._output_names)


class SavedModelPredictor:
    """Predicts with a loaded SavedModel through one of its functions (``serve`` of an exported
    Keras model, ``__call__`` of a tf.Module)."""

    def __init__(self, model: Any, fn: Any) -> None:
        self.model = model  # the functions hold only weak references to the model's variables
        self._fn = fn

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        import tensorflow as tf

        if isinstance(data, Mapping):
            output = self._fn(*[tf.convert_to_tensor(_numpy(v)) for v in data.values()])
        else:
            value = data.to_numpy() if hasattr(data, "to_numpy") else data
            output = self._fn(tf.convert_to_tensor(_numpy(value)))
        return outputs(output, [])


def outputs(output: object, names: Sequence[str]) -> Any:
    """Arrays out of what a model returned: one output as an array, several as a dict."""
    if isinstance(output, Mapping):
        converted = {str(k): _numpy(v) for k, v in output.items()}
        return next(iter(converted.values())) if len(converted) == 1 else converted
    if isinstance(output, (list, tuple)):
        if len(output) == 1:
            return _numpy(output[0])
        keys = list(names) if len(names) == len(output) else [f"output_{i}" for i in range(len(output))]
        return {k: _numpy(v) for k, v in zip(keys, output, strict=True)}
    return _numpy(output)


def data_dir(path: Path, conf: Mapping[str, object]) -> Path:
    """The package's data folder as its flavor names it, refused when outside the package."""
    name = conf.get("data", DATA_DIR)
    folder = (path / str(name)).resolve()
    if not isinstance(name, str) or (folder != path.resolve() and path.resolve() not in folder.parents):
        raise InvalidInput(f"The flavor's data folder {name!r} is outside the package.")
    return folder


def load_pyfunc(path: Path, model: Model) -> KerasPredictor | SavedModelPredictor:
    conf = model.flavors.get(FLAVOR_NAME) or {}
    loaded = read(data_dir(path, conf), exported=bool(conf.get("save_exported_model")))
    if _is_keras_model(loaded):
        return KerasPredictor(loaded)
    serve = getattr(loaded, "serve", None)
    if serve is None:
        raise InvalidInput(f"The SavedModel of {path} has no serve function to predict with.")
    return SavedModelPredictor(loaded, serve)


def _load_pyfunc(data_path: str) -> KerasPredictor | SavedModelPredictor:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
