"""TensorFlow models, in MLflow's ``tensorflow`` flavor layout (loader ``mlflow.tensorflow``).

Two kinds, told apart by the flavor's ``model_type``:

* ``keras``: a Keras model, saved as ``data/model.keras`` (with ``data/keras_module.txt`` and
  ``data/save_format.txt``), loaded back as the Keras model;
* ``tf2-module``: any other ``tf.Module`` (a TensorFlow SavedModel in ``tf2model/``), loaded
  with ``tf.saved_model.load`` and called as the module was. Give its ``__call__`` an
  ``input_signature`` (``tf.function(input_signature=[...])``) so that it is saved, and the
  package's signature is read from it.

Packages MLflow wrote for TensorFlow 1 estimators (``tf1-estimator``: a SavedModel, its tags and
a signature key) and Keras models saved as SavedModel folders or HDF5 files by older versions
load too. A SavedModel runs the graph it holds: load only packages you trust.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput
from runstone.models.flavors import keras as keras_flavor
from runstone.models.manifest import Model, ModelInfo
from runstone.models.packaging import finish, new_package_dir, open_flavor, package_dir_of
from runstone.models.signature import ModelSignature, Schema

FLAVOR_NAME = "tensorflow"
KERAS = "keras"
TF2_MODULE = "tf2-module"
TF1_ESTIMATOR = "tf1-estimator"
SAVED_MODEL_DIR = "tf2model"
SAVE_FORMAT_FILE = "save_format.txt"


def _module_signature(module: object) -> ModelSignature | None:
    """The inputs of a module's ``__call__`` when it is a tf.function with an input signature."""
    call = next((vars(c)["__call__"] for c in type(module).__mro__ if "__call__" in vars(c)), None)
    specs = getattr(call, "input_signature", None)
    if not specs:
        return None
    named = len(specs) > 1
    return ModelSignature(
        inputs=Schema([keras_flavor._tensor(s.shape, s.dtype.name, s.name if named else None) for s in specs])
    )


def _save(
    tf_model: Any,
    path: str | os.PathLike[str],
    manifest: Model,
    *,
    saved_model_kwargs: Mapping[str, Any] | None = None,
    keras_model_kwargs: Mapping[str, Any] | None = None,
    input_example: Any = None,
    signature: ModelSignature | bool | None = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Model:
    import tensorflow as tf

    from runstone.models.environment import distribution_of

    pyfunc: dict[str, Any] = {"loader_module": "mlflow.tensorflow"}
    if keras_flavor._is_keras_model(tf_model):
        import keras

        if signature is None and input_example is None:
            signature = keras_flavor.model_signature(tf_model)
        target = new_package_dir(path)
        data = target / keras_flavor.DATA_DIR
        data.mkdir()
        (data / keras_flavor.KERAS_MODULE_FILE).write_text("keras")
        (data / SAVE_FORMAT_FILE).write_text("keras")
        tf_model.save(data / f"{keras_flavor.MODEL_NAME}.keras", **dict(keras_model_kwargs or {}))
        conf: dict[str, Any] = {
            "data": keras_flavor.DATA_DIR,
            "model_type": KERAS,
            "keras_version": keras.__version__,
            "save_format": "keras",
        }
        pyfunc["data"] = keras_flavor.DATA_DIR
    elif isinstance(tf_model, tf.Module):
        if signature is None and input_example is None:
            signature = _module_signature(tf_model)
        target = new_package_dir(path)
        tf.saved_model.save(tf_model, str(target / SAVED_MODEL_DIR), **dict(saved_model_kwargs or {}))
        conf = {"saved_model_dir": SAVED_MODEL_DIR, "model_type": TF2_MODULE}
    else:
        raise InvalidInput(f"Expected a keras.Model or a tf.Module; got {type(tf_model).__name__}.")
    conf["tensorflow_version"] = tf.__version__
    return finish(
        target,
        manifest,
        flavor=FLAVOR_NAME,
        conf=conf,
        pyfunc=pyfunc,
        packages=[distribution_of("tensorflow")],
        input_example=input_example,
        signature=signature,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
    )


def save_model(tf_model: Any, path: str | os.PathLike[str], **kwargs: Any) -> Model:
    """Save a Keras model or a tf.Module as a package in a new folder.

    Keyword arguments: keras_model_kwargs (for ``model.save``), saved_model_kwargs (for
    ``tf.saved_model.save``), input_example, signature (the model's own inputs when neither is
    given; False for none), pip_requirements, extra_pip_requirements, code_paths, metadata.
    """
    return _save(tf_model, path, Model(), **kwargs)


def log_model(
    tf_model: Any,
    name: str = "model",
    *,
    registered_model_name: str | None = None,
    artifact_path: str | None = None,
    **kwargs: Any,
) -> ModelInfo:
    """Log a Keras model or a tf.Module into the active run (one is started when none is)."""
    from runstone.models.runs import log_model as log

    return log(
        lambda path, manifest: _save(tf_model, path, manifest, **kwargs),
        artifact_path or name,
        registered_model_name=registered_model_name,
    )


def _model_type(conf: Mapping[str, object]) -> str:
    kind = conf.get("model_type")
    if kind is None:  # written by MLflow before it recorded the type
        kind = TF1_ESTIMATOR if "signature_def_key" in conf else KERAS
    if kind not in (KERAS, TF2_MODULE, TF1_ESTIMATOR):
        raise InvalidInput(f"Unknown TensorFlow model_type {kind!r}.")
    return str(kind)


def _saved_model_dir(path: Path, conf: Mapping[str, object]) -> Path:
    name = conf.get("saved_model_dir")
    if not isinstance(name, str) or not name:
        raise InvalidInput("The tensorflow flavor names no saved_model_dir.")
    folder = (path / name).resolve()
    if path.resolve() not in folder.parents:
        raise InvalidInput(f"saved_model_dir {name!r} is outside the package.")
    return folder


def _read(path: Path, model: Model, conf: Mapping[str, Any], **load_kwargs: Any) -> tuple[str, Any]:
    import tensorflow as tf

    kind = _model_type(conf)
    if kind == KERAS:
        data = keras_flavor.data_dir(path, conf)
        if (data / keras_flavor.MODEL_NAME / "saved_model.pb").is_file():  # a Keras 2 SavedModel folder
            return TF1_ESTIMATOR, tf.saved_model.load(str(data / keras_flavor.MODEL_NAME))
        return KERAS, keras_flavor.read(data, **load_kwargs)
    folder = _saved_model_dir(path, conf)
    if kind == TF1_ESTIMATOR:
        return kind, tf.saved_model.load(str(folder), tags=conf.get("meta_graph_tags"))
    return kind, tf.saved_model.load(str(folder), **load_kwargs)


def load_model(
    model_uri: str | os.PathLike[str], dst_path: str | os.PathLike[str] | None = None, **load_kwargs: object
) -> Any:
    """The model of a package: a Keras model, or the loaded SavedModel of a tf.Module."""
    path, model, conf = open_flavor(model_uri, FLAVOR_NAME, dst_path)
    return _read(path, model, conf, **load_kwargs)[1]


class SignaturePredictor:
    """Calls one signature of a SavedModel with its inputs by name (a single array feeds its only
    input); one output comes back as an array, several as a dict."""

    def __init__(self, model: object, key: str) -> None:
        self.model = model
        signatures = getattr(model, "signatures", {})
        if key not in signatures:
            raise InvalidInput(f"The SavedModel has no signature {key!r} (it has: {', '.join(signatures) or 'none'}).")
        self._fn = signatures[key]
        self._inputs = sorted(self._fn.structured_input_signature[1])

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        import tensorflow as tf

        if hasattr(data, "columns") and not set(self._inputs) - {str(c) for c in data.columns}:
            data = {name: data[name].to_numpy() for name in self._inputs}
        if not isinstance(data, Mapping):
            if len(self._inputs) != 1:
                raise InvalidInput(f"The model takes named inputs ({', '.join(self._inputs)}); pass a dict of arrays.")
            data = {self._inputs[0]: data.to_numpy() if hasattr(data, "to_numpy") else data}
        output = self._fn(**{str(k): tf.convert_to_tensor(keras_flavor._numpy(v)) for k, v in data.items()})
        return keras_flavor.outputs(output, [])


def load_pyfunc(path: Path, model: Model) -> Any:
    conf = model.flavors.get(FLAVOR_NAME)
    if conf is None:
        raise InvalidInput(f"The model at {path} has no {FLAVOR_NAME!r} flavor.")
    kind, loaded = _read(path, model, conf)
    if kind == KERAS:
        return keras_flavor.KerasPredictor(loaded)
    if kind == TF1_ESTIMATOR:
        return SignaturePredictor(loaded, str(conf.get("signature_def_key", "serving_default")))
    return keras_flavor.SavedModelPredictor(loaded, loaded)


def _load_pyfunc(data_path: str) -> Any:
    """MLflow's loader entry point."""
    path = package_dir_of(data_path)
    return load_pyfunc(path, Model.load(path))
