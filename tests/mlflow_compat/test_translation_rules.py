"""The translation rules on their own: filters naming MLflow's tags, version sources, artifact keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from runstone.errors import InvalidInput
from runstone.migration.artifacts import FolderReader, key_of
from runstone.migration.translate import version_source
from runstone.server.mlflow_compat import translate
from runstone.tracking import search as grammar

RUN = "0123456789abcdef0123456789abcdef"
MODEL = "m-" + "a" * 32


def test_run_filters_and_orderings_name_runstone_tags():
    # The search grammar itself reads MLflow's system tags as runstone's, for every client.
    parsed = grammar.parse_filter(
        "tags.mlflow.parentRunId = 'abc' and tags.`mlflow.runName` LIKE 'C=%' and attributes.run_id IN ('a') "
        'and tags.team = "it\'s"'
    )
    assert [(c.entity, c.key, c.op, c.value) for c in parsed] == [
        ("tag", "runstone.parentRunId", "=", "abc"),
        ("attribute", "run_name", "LIKE", "C=%"),
        ("attribute", "run_id", "IN", ("a",)),
        ("tag", "team", "=", "it's"),
    ]
    assert [
        (k.entity, k.key, k.ascending) for k in grammar.parse_order_by(["tags.mlflow.runName DESC", "metrics.m"])
    ] == [
        ("attribute", "run_name", False),
        ("metric", "m", True),
    ]
    # Experiments keep their description under runstone's name; registry tags are left as they are.
    assert grammar.parse_experiment_filter("tags.mlflow.note.content = 'x'")[0].key == "runstone.note.content"
    assert grammar.parse_filter("tags.mlflow.user = 'x'", grammar.REGISTERED_MODELS)[0].key == "mlflow.user"
    assert translate.run_order_by(["tags.mlflow.runName DESC", "metrics.m ASC", ""]) == [
        "tags.mlflow.runName DESC",
        "metrics.m ASC",
    ]
    with pytest.raises(InvalidInput, match="position"):
        translate.run_filter("tags.mlflow.user = ")


def test_registered_model_filter_drops_the_clients_prompt_clause():
    clause = "tag.`mlflow.prompt.is_prompt` != 'true'"
    assert translate.registered_model_filter(clause) == (None, False)
    assert translate.registered_model_filter(f"name LIKE 'a%' AND {clause}") == ("attributes.name LIKE 'a%'", False)
    assert translate.registered_model_filter("tags.`mlflow.prompt.is_prompt` = 'true'") == (None, True)
    assert translate.registered_model_filter("name = 'x'") == ("name = 'x'", False)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"models:/{MODEL}", f"models:/{MODEL}"),
        (f"mlflow-artifacts:/3/models/{MODEL}/artifacts", f"models:/{MODEL}"),
        (f"runs:/{RUN}/model", f"runs:/{RUN}/model"),
        (f"mlflow-artifacts:/1/{RUN}/artifacts/model", f"runs:/{RUN}/model"),
        (f"file:///srv/mlruns/1/{RUN}/artifacts/sub/model/", f"runs:/{RUN}/sub/model"),
        (f"s3://bucket/prefix/1/{RUN}/artifacts/model", f"runs:/{RUN}/model"),
        (f"/srv/mlruns/1/{RUN}/artifacts", None),  # a whole run is not a model
        ("s3://bucket/elsewhere/model", None),
        ("/etc/passwd", None),
    ],
)
def test_imported_version_sources(source, expected):
    assert version_source(source) == expected


def test_artifact_keys_and_the_folder_reader_stays_in_its_root(tmp_path: Path):
    assert key_of(f"mlflow-artifacts:/1/{RUN}/artifacts") == f"1/{RUN}/artifacts"
    assert key_of(f"file:///old/place/mlruns/2/models/{MODEL}/artifacts/") == f"2/models/{MODEL}/artifacts"
    assert key_of("s3://bucket/other") is None
    root = tmp_path / "mlruns"
    folder = root / "1" / RUN / "artifacts"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "leak.txt").symlink_to(tmp_path / "secret.txt")
    reader = FolderReader(root)
    # A store copied elsewhere is still found by its keys; a link out of the root is no artifact.
    assert reader.files(f"file:///old/place/1/{RUN}/artifacts") == [("sub/a.txt", 1)]
    assert b"".join(reader.read(f"mlflow-artifacts:/1/{RUN}/artifacts", "sub/a.txt")) == b"a"
    with pytest.raises(InvalidInput):
        list(reader.read(f"mlflow-artifacts:/1/{RUN}/artifacts", "../../../secret.txt"))
    assert reader.files(f"file://{tmp_path}") is None
    # MLflow makes no folder for a run that logged no file: it has none, it is not out of reach.
    assert reader.files(f"mlflow-artifacts:/1/{'9' * 32}/artifacts") == []
    assert reader.remarks() == []
    # A root where not one run has its folder is most likely the wrong one, and the report says so.
    (tmp_path / "elsewhere").mkdir()
    wrong = FolderReader(tmp_path / "elsewhere")
    assert wrong.files(f"mlflow-artifacts:/1/{RUN}/artifacts") == []
    assert "None of the 1 runs and logged models has an artifact folder" in wrong.remarks()[0]
