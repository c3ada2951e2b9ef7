"""TensorFlow models (Keras models and tf.Modules): ``save_model``, ``log_model``, ``load_model`` and ``autolog``."""

from runstone.models.autolog import keras as _autolog
from runstone.models.flavors.tensorflow import FLAVOR_NAME, _load_pyfunc, load_model, log_model, save_model


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
) -> None:
    """Log ``keras.Model.fit``: its arguments and the optimizer as params, each epoch's metrics
    at step = epoch, the training data, and the fitted model (``tensorflow`` flavor) at the end."""
    _autolog.autolog(
        disable=disable,
        log_models=log_models,
        log_input_examples=log_input_examples,
        log_datasets=log_datasets,
        silent=silent,
        flavor="tensorflow",
    )


__all__ = ["FLAVOR_NAME", "_load_pyfunc", "autolog", "load_model", "log_model", "save_model"]
