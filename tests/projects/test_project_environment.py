"""What a project's environment declaration means, read without building anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstone.errors import InvalidInput
from runstone.projects.environment import declaration, is_pinned, lock_differences, lock_hash
from runstone.projects.spec import load_project


def project(folder: Path, environment: str, files: dict[str, str]) -> Path:
    folder.mkdir()
    (folder / "runstone.yaml").write_text(f"environment: {environment}\nentry_points: {{}}\n")
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_conda_yaml_gives_its_python_and_its_pip_part(tmp_path: Path) -> None:
    conda = "name: t\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - numpy\n  - pip\n  - pip:\n    - scikit-learn==1.5.0\n    - runstone\n"
    found = declaration(load_project(project(tmp_path / "p", "conda.yaml", {"conda.yaml": conda})))

    assert found.python == "3.11"
    assert found.requirements == ["scikit-learn==1.5.0"]
    assert found.needs_runstone  # the running runstone, installed from its own code
    assert found.notes == ["conda.yaml: conda packages are not installed, only its pip part: numpy"]


def test_python_env_reads_included_requirement_files_inside_the_project(tmp_path: Path) -> None:
    files = {"python_env.yaml": "python: '3.12'\ndependencies: ['-r requirements.txt', 'pandas']\n",
             "requirements.txt": "# pinned\nnumpy==2.0.0  # comment\n"}  # fmt: skip
    found = declaration(load_project(project(tmp_path / "p", "python_env.yaml", files)))
    assert (found.python, found.requirements, found.needs_runstone) == ("3.12", ["numpy==2.0.0", "pandas"], False)

    escaping = {"python_env.yaml": "dependencies: ['-r ../../etc/passwd']\n"}
    with pytest.raises(InvalidInput, match="not a file of the project"):
        declaration(load_project(project(tmp_path / "q", "python_env.yaml", escaping)))


def test_locks_hash_alike_in_any_order_and_list_their_differences() -> None:
    assert lock_hash("3.11.7", ["b==1", "a==2"]) == lock_hash("3.11.9", ["a==2", "b==1"])
    assert lock_hash("3.11.7", ["a==2"]) != lock_hash("3.12.1", ["a==2"])
    assert is_pinned(["a==1", "b==2"]) and not is_pinned(["a>=1"]) and not is_pinned(["-e ."])
    assert lock_differences(["numpy==2.0.0", "Pandas==2.1.0", "six==1"], ["numpy==2.1.0", "pandas==2.1.0", "tqdm==4"]) == [
        ("numpy", "2.0.0", "2.1.0"), ("six", "1", None), ("tqdm", None, "4"),
    ]  # fmt: skip
