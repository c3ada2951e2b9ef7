"""Custom python_function models: PythonModel, artifacts, code paths, params."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import runstone
import runstone.pyfunc
from runstone.errors import InvalidInput


class Scaled(runstone.pyfunc.PythonModel):
    def load_context(self, context):
        self.factor = float(Path(context.artifacts["factor"]).read_text())

    def predict(self, context, model_input, params=None):
        shift = (params or {}).get("shift", 0.0)
        return model_input[["v"]] * self.factor + shift


def test_artifacts_are_copied_and_read_at_load_time(tmp_path: Path) -> None:
    (tmp_path / "factor.txt").write_text("3")
    example = pd.DataFrame({"v": [1.0, 2.0]})

    runstone.pyfunc.save_model(
        tmp_path / "pkg", python_model=Scaled(), artifacts={"factor": tmp_path / "factor.txt"}, input_example=example
    )
    (tmp_path / "factor.txt").write_text("100")  # the package has its own copy

    loaded = runstone.pyfunc.load_model(tmp_path / "pkg")
    assert loaded.predict(example)["v"].tolist() == [3.0, 6.0]
    assert isinstance(loaded.unwrap_python_model(), Scaled)
    manifest = yaml.safe_load((tmp_path / "pkg" / "MLmodel").read_text())
    assert manifest["flavors"]["python_function"]["loader_module"] == "runstone.pyfunc"
    assert manifest["flavors"]["python_function"]["artifacts"] == {"factor": {"path": "artifacts/factor/factor.txt"}}


def test_params_follow_the_signature(tmp_path: Path) -> None:
    (tmp_path / "factor.txt").write_text("2")
    example = pd.DataFrame({"v": [1.0]})
    signature = runstone.models.infer_signature(example, params={"shift": 0.0})

    runstone.pyfunc.save_model(
        tmp_path / "pkg",
        python_model=Scaled(),
        artifacts={"factor": tmp_path / "factor.txt"},
        signature=signature,
        input_example=example,
    )
    loaded = runstone.pyfunc.load_model(tmp_path / "pkg")

    assert loaded.predict(example, params={"shift": 1}).v.tolist() == [3.0]
    with pytest.raises(InvalidInput, match="Param 'shift' must be of type double"):
        loaded.predict(example, params={"shift": "one"})


def test_code_paths_are_packaged_and_importable_in_a_new_process(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "shapes_helpers.py").write_text("def area(w, h):\n    return w * h\n")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(source)!r})
        import numpy as np, runstone.pyfunc
        import shapes_helpers

        class Area(runstone.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return shapes_helpers.area(model_input[:, 0], model_input[:, 1])

        runstone.pyfunc.save_model({str(tmp_path / "pkg")!r}, python_model=Area(),
                                   code_paths=[{str(source / "shapes_helpers.py")!r}],
                                   input_example=np.array([[2.0, 3.0]]))
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    (source / "shapes_helpers.py").unlink()  # only the packaged copy is left

    check = (
        "import numpy as np, runstone.models; "
        f"print(runstone.models.load_model({str(tmp_path / 'pkg')!r}).predict(np.array([[4.0, 5.0]])).tolist())"
    )
    done = subprocess.run([sys.executable, "-c", check], check=True, capture_output=True, text=True)

    assert done.stdout.strip() == "[20.0]"
    assert (tmp_path / "pkg" / "code" / "shapes_helpers.py").is_file()


def test_a_python_model_is_required(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="PythonModel subclass"):
        runstone.pyfunc.save_model(tmp_path / "pkg", python_model=lambda x: x)  # type: ignore[arg-type]


def test_log_model_and_models_without_pyfunc_flavor(tmp_path: Path) -> None:
    class Echo(runstone.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return np.asarray(model_input)

    with runstone.start_run():
        info = runstone.pyfunc.log_model("echo", python_model=Echo(), input_example=np.array([[1.0]]))

    assert runstone.pyfunc.load_model(info.model_uri).predict(np.array([[5.0]])).tolist() == [[5.0]]
    bare = runstone.models.Model()
    bare.add_flavor("custom", data="x")
    (tmp_path / "bare").mkdir()
    bare.save(tmp_path / "bare")
    with pytest.raises(InvalidInput, match="no python_function flavor"):
        runstone.pyfunc.load_model(tmp_path / "bare")
