"""PyTorch autologging for hand-written training loops, through torch's global hooks.

A PyTorch loop has no ``fit`` to wrap, so autologging watches the calls every loop makes:

* each ``optimizer.step()`` (torch's global optimizer step hook) is a training step: the first
  one logs the optimizer's name and hyperparameters (``lr``, ``momentum``, ``weight_decay`` ...)
  as params; every ``log_every_n_steps`` steps, ``train_loss`` (the last scalar that
  ``backward()`` was called on) and ``lr`` are logged at step = number of optimizer steps;
* the first ``TensorDataset`` iterated through a DataLoader before a step is logged as the
  training dataset (content digest);
* the top-level module called in training mode, and the first rows of its first input batch,
  are remembered: ``runstone.pytorch.log_model(model)`` then gets its input example and
  signature without being given one.

A loop has no natural end either: when no run is active, the first step starts one, which stays
active until ``runstone.end_run()`` (or the end of the process). Log the model with
``runstone.pytorch.log_model(model, "model")`` when training is done.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from runstone.models import runs
from runstone.models.autolog import patching
from runstone.models.autolog.patching import Config

FLAVOR = "pytorch"
log = logging.getLogger("runstone.autolog")


@dataclass
class _State:
    run_id: str | None = None
    steps: int = 0
    optimizers: set[int] = field(default_factory=set)
    datasets: set[int] = field(default_factory=set)
    loss: float | None = None
    loader: Any = None
    depth: int = 0
    examples: dict[int, tuple[Any, Any]] = field(default_factory=dict)


_state = _State()
_lock = threading.Lock()


def autolog(
    *,
    disable: bool = False,
    log_models: bool = True,
    log_input_examples: bool = True,
    log_datasets: bool = True,
    silent: bool = False,
    log_every_n_steps: int = 1,
) -> None:
    """Log PyTorch training loops (see the module docs); ``disable=True`` removes the hooks."""
    global _state
    if disable:
        patching.disable(FLAVOR)
        _state = _State()
        return
    try:
        import torch
        import torch.utils.data
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
        from torch.optim.optimizer import register_optimizer_step_post_hook
    except ImportError:
        log.warning("torch is not installed; nothing to autolog.")
        return
    config = Config(log_models, log_input_examples, log_datasets, silent, max(1, log_every_n_steps))
    if not patching.enable(FLAVOR, config):
        return
    for handle in (
        register_optimizer_step_post_hook(_after_step),
        register_module_forward_pre_hook(_before_forward),
        register_module_forward_hook(_after_forward, always_call=True),
    ):
        patching.add_undo(FLAVOR, handle.remove)
    patching.patch(FLAVOR, torch.Tensor, "backward", _make_backward)
    patching.patch(FLAVOR, torch.utils.data.DataLoader, "__iter__", _make_iter)


def _make_backward(original: Any) -> Any:
    def backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.numel() == 1:
            _state.loss = float(self.detach())
        return original(self, *args, **kwargs)

    return backward


def _make_iter(original: Any) -> Any:
    def iterate(self: Any) -> Any:
        _state.loader = weakref.ref(self)
        return original(self)

    return iterate


def _before_forward(module: Any, inputs: Any) -> None:
    import torch

    if (
        _state.depth == 0
        and module.training
        and torch.is_grad_enabled()
        and id(module) not in _state.examples
        and inputs
        and isinstance(inputs[0], torch.Tensor)
    ):
        _state.examples[id(module)] = (weakref.ref(module), inputs[0][:5].detach().cpu().numpy().copy())
    _state.depth += 1


def _after_forward(module: object, inputs: object, output: object) -> None:
    _state.depth = max(0, _state.depth - 1)


def remembered_example(module: object) -> Any:
    """The first rows of the first batch ``module`` was trained on while autologging, or None."""
    config = patching.configs.get(FLAVOR)
    if config is None or not config.log_input_examples:
        return None
    found = _state.examples.get(id(module))
    if found is None or found[0]() is not module:
        return None
    return found[1]


def _after_step(optimizer: object, args: object, kwargs: object) -> None:
    config = patching.configs.get(FLAVOR)
    if config is None:
        return
    patching.safely(FLAVOR, "log the step", lambda: _log_step(optimizer, config))


def _log_step(optimizer: Any, config: Config) -> None:
    with _lock:
        run_id = runs.active_run_id() or runs.start_run()
        if run_id != _state.run_id:
            _state.run_id, _state.steps = run_id, 0
            _state.optimizers.clear()
            _state.datasets.clear()
        _state.steps += 1
        step = _state.steps
        first = id(optimizer) not in _state.optimizers
        _state.optimizers.add(id(optimizer))
        loss, _state.loss = _state.loss, None
    group = optimizer.param_groups[0] if optimizer.param_groups else {}
    if first:
        params = {"optimizer_name": type(optimizer).__name__}
        params.update({k: v for k, v in group.items() if k != "params" and not callable(v)})
        patching.safely(FLAVOR, "log params", lambda: runs.log_params(run_id, patching.params_text(params)))
    if config.log_datasets:
        _log_dataset(run_id)
    if step % config.log_every_n_steps == 0:
        metrics = {}
        if loss is not None:
            metrics["train_loss"] = loss
        if isinstance(group.get("lr"), (int, float)):
            metrics["lr"] = float(group["lr"])
        if metrics:
            runs.log_metrics(run_id, metrics, step=step)


def _log_dataset(run_id: str) -> None:
    loader = _state.loader() if _state.loader is not None else None
    dataset = getattr(loader, "dataset", None)
    tensors = getattr(dataset, "tensors", None)
    if not tensors or id(dataset) in _state.datasets:
        return
    _state.datasets.add(id(dataset))
    features = tensors[0].detach().cpu().numpy()
    targets = tensors[1].detach().cpu().numpy() if len(tensors) > 1 else None
    patching.safely(
        FLAVOR,
        "log the dataset",
        lambda: runs.log_input(run_id, patching.dataset_of(features, targets), "training"),
    )
