"""PyTorch: whole nn.Modules saved with torch.save through cloudpickle."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import runstone.models
import runstone.pytorch
from runstone.errors import InvalidInput


class Gated(torch.nn.Module):
    """Data-dependent control flow: tracing or export would bake in one branch."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if out.mean() > 0:
            return out * 2
        return out


def test_a_module_round_trips_natively_and_as_pyfunc(tmp_path: Path, matrix) -> None:
    X, _ = matrix
    torch.manual_seed(0)
    module = Gated()

    runstone.pytorch.save_model(module, tmp_path / "pkg", input_example=X[:3])

    manifest = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    assert manifest["flavors"]["pytorch"]["pytorch_version"] == torch.__version__
    assert (tmp_path / "pkg" / "data" / "model.pth").is_file()
    assert (tmp_path / "pkg" / "data" / "pickle_module_info.txt").read_text() == "cloudpickle"
    native = runstone.pytorch.load_model(tmp_path / "pkg")
    assert type(native).__name__ == "Gated"
    with torch.no_grad():
        expected = module(torch.from_numpy(X)).numpy()
    np.testing.assert_array_equal(native(torch.from_numpy(X)).detach().numpy(), expected)
    loaded = runstone.models.load_model(tmp_path / "pkg")
    np.testing.assert_array_equal(loaded.predict(X), expected)
    with pytest.raises(InvalidInput, match="dtype float64 but the model's signature expects float32"):
        loaded.predict(X.astype(np.float64))


def test_a_module_defined_in_a_script_reloads_in_another_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import numpy as np, torch, runstone.pytorch

        class Doubler(torch.nn.Module):
            def forward(self, x):
                return x * 2

        runstone.pytorch.save_model(Doubler(), {str(tmp_path / "pkg")!r},
                                    input_example=np.ones((2, 3), dtype=np.float32))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)

    loaded = runstone.models.load_model(tmp_path / "pkg")

    np.testing.assert_array_equal(loaded.predict(np.full((1, 3), 2.0, dtype=np.float32)), [[4.0, 4.0, 4.0]])


def test_saving_something_else_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"torch\.nn\.Module"):
        runstone.pytorch.save_model(object(), tmp_path / "pkg")
