"""Every error code the server answers is a class in runstone/errors.py and a row of docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

from runstone.errors import ERROR_CLASSES, from_code

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def _documented() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(), flags=re.MULTILINE))


def test_the_error_codes_of_errors_py_are_the_codes_of_the_docs():
    assert set(ERROR_CLASSES) == _documented()


def test_codes_of_the_http_layer_are_documented_and_rebuilt_by_the_sdk(http):
    answers = {
        http.get("/api/v1/no-such-route"): (404, "not_found"),
        http.delete("/api/v1/experiments/search"): (405, "method_not_allowed"),
    }
    for response, (status, code) in answers.items():
        error = response.json()["error"]
        assert response.status_code == status and error["code"] == code
        assert code in _documented()
        assert type(from_code(code, error["message"])) is ERROR_CLASSES[code]
