"""The project format: entry points, typed parameters, and commands built as argument lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstone.errors import InvalidInput
from runstone.projects.spec import load_project


def write(folder: Path, manifest: str, name: str = "runstone.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(manifest)
    return folder


TYPED = """
name: typed
environment: local
entry_points:
  main:
    parameters:
      rate: {type: float, default: 0.1}
      epochs: {type: int, default: 3}
      label: {type: str, default: "a b"}
      data: path
      source: {type: uri, default: "s3://bucket/key"}
    command: "python train.py --rate={rate} --epochs {epochs} --label {label} {data} {source}"
"""


def test_values_are_typed_and_each_fills_exactly_one_argument(tmp_path: Path) -> None:
    project = load_project(write(tmp_path / "p", TYPED))
    (tmp_path / "p" / "in.csv").write_text("x\n")
    entry = project.entry_point("main")

    values = entry.resolve({"data": "in.csv", "label": "x; rm -rf / && echo $HOME"}, project.path)

    assert entry.argv(values) == [
        "python", "train.py", "--rate=0.1", "--epochs", "3", "--label", "x; rm -rf / && echo $HOME", "in.csv",
        "s3://bucket/key",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"rate": "fast"}, "'rate' must be a float, got 'fast'"),
        ({"rate": "nan"}, "'rate' must be a finite float"),
        ({"epochs": "2.5"}, "'epochs' must be an integer"),
        ({"source": "bucket/key"}, "'source' must be a URI with a scheme"),
        ({"data": "missing.csv"}, "'data': no such file or folder"),
        ({"rate": "0.1", "lr": "1"}, "no parameter 'lr' \\(its parameters: data, epochs, label, rate, source\\)"),
    ],
)
def test_bad_values_are_refused_with_what_was_wrong(tmp_path: Path, given: dict[str, str], message: str) -> None:
    project = load_project(write(tmp_path / "p", TYPED))
    (tmp_path / "p" / "in.csv").write_text("x\n")
    given = {"data": "in.csv", **given}

    with pytest.raises(InvalidInput, match=message):
        project.entry_point("main").resolve(given, project.path)


def test_a_parameter_without_default_must_be_given(tmp_path: Path) -> None:
    project = load_project(write(tmp_path / "p", TYPED))

    with pytest.raises(InvalidInput, match=r"needs a value for parameter 'data' \(-P data=...\)"):
        project.entry_point("main").resolve({}, project.path)


def test_unknown_entry_points_and_undeclared_placeholders_are_refused(tmp_path: Path) -> None:
    project = load_project(write(tmp_path / "p", TYPED))
    with pytest.raises(InvalidInput, match=r"has no entry point 'train' \(entry points: main\)"):
        project.entry_point("train")

    bad = "entry_points:\n  main:\n    command: python x.py {nope}\n"
    with pytest.raises(InvalidInput, match="names undeclared parameter"):
        load_project(write(tmp_path / "q", bad))


def test_paths_inside_the_project_stay_relative_and_others_become_absolute(tmp_path: Path) -> None:
    project = load_project(write(tmp_path / "p", TYPED))
    (tmp_path / "p" / "in.csv").write_text("x\n")
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("y\n")
    entry = project.entry_point("main")

    inside = entry.resolve({"data": str(tmp_path / "p" / "in.csv")}, project.path)["data"]
    typed_here = entry.resolve({"data": "elsewhere.csv"}, project.path, given_base=tmp_path)["data"]

    assert inside == "in.csv"
    assert typed_here == str(outside)


def test_mlproject_files_are_read_as_mlflow_documents_them(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m", (Path(__file__).parent / "fixtures" / "mlproject" / "MLproject").read_text(), "MLproject"
    )
    (folder / "python_env.yaml").write_text("python: '3.11'\ndependencies: [mlflow]\n")

    project = load_project(folder)

    assert project.format == "mlproject"
    assert project.environment.kind == "python_env"
    assert project.entry_points["main"].parameters["regularization"].type == "float"
    assert project.entry_points["main"].parameters["data_file"].type == "path"
    assert set(project.entry_points) == {"main", "validate"}


def test_a_python_file_is_an_entry_point_with_loose_parameters(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "job.py").write_text("print('hi')\n")
    project = load_project(folder)

    entry = project.entry_point("job.py")

    assert entry.argv(entry.resolve({"n": "3"}, folder)) == ["python", "job.py", "--n", "3"]
    with pytest.raises(InvalidInput, match="outside the project folder"):
        project.entry_point("../x.py")


def test_declared_environment_files_must_exist_and_docker_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"declares the environment file .env\.yaml., which does not exist"):
        load_project(write(tmp_path / "a", "python_env: env.yaml\nentry_points: {}\n"))
    with pytest.raises(InvalidInput, match="docker_env projects are not supported"):
        load_project(write(tmp_path / "b", "docker_env: {image: x}\nentry_points: {}\n"))
