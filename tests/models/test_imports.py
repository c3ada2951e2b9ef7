"""Model packaging stays out of the way: importing it loads no model library, no numpy or
pandas, and no tracking code; a missing library only matters when it is used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "numpy",
    "pandas",
    "torch",
    "sklearn",
    "xgboost",
    "lightgbm",
    "onnx",
    "onnxruntime",
    "keras",
    "tensorflow",
    "mlflow",
    "yaml",
]


def loaded_after(code: str, modules: list[str]) -> list[str]:
    probe = f"{code}; import json, sys; print(json.dumps([m for m in {modules!r} if m in sys.modules]))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_importing_runstone_and_its_flavor_modules_loads_nothing_heavy() -> None:
    code = (
        "import runstone, runstone.models, runstone.pyfunc, runstone.sklearn, runstone.xgboost, "
        "runstone.lightgbm, runstone.pytorch, runstone.onnx, runstone.keras, runstone.tensorflow; runstone.autolog"
    )

    assert loaded_after(code, HEAVY) == []


def test_loading_a_package_from_a_folder_needs_no_tracking_code(tmp_path) -> None:
    import numpy as np
    from sklearn.linear_model import LinearRegression

    import runstone.sklearn

    runstone.sklearn.save_model(LinearRegression().fit(np.ones((3, 1)), [1.0, 2.0, 3.0]), tmp_path / "pkg")
    code = f"import runstone.models as m; m.load_model({str(tmp_path / 'pkg')!r}).predict([[1.0]])"

    assert (
        loaded_after(code, ["sqlalchemy", "httpx", "runstone.store", "runstone.backend", "runstone.tracking.service"])
        == []
    )


def test_the_lazy_attributes_resolve_to_the_flavor_modules() -> None:
    import runstone

    assert runstone.sklearn.FLAVOR_NAME == "sklearn"
    assert runstone.pyfunc.PythonModel.__name__ == "PythonModel"
    assert callable(runstone.models.load_model)


def test_the_tracking_server_imports_no_model_library(tmp_path) -> None:
    code = (
        "from fastapi.testclient import TestClient; from runstone.config import Settings; "
        "from runstone.server.app import create_app; "
        f"app = create_app(Settings(home={str(tmp_path / 'home')!r})); "
        "client = TestClient(app); client.__enter__(); "
        "assert client.get('/health').status_code == 200; "
        "assert client.get('/api/2.0/mlflow/experiments/search', params={'max_results': 5}).status_code == 200"
    )

    assert loaded_after(code, ["keras", "tensorflow", "torch", "sklearn", "xgboost", "lightgbm", "onnxruntime"]) == []
