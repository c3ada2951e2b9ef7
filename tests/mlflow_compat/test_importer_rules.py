"""The importer's rules on SQLite and PostgreSQL, reading a small MLflow store given as MLflow's
REST shapes (the shapes both real sources hand out; the real ones are in test_import_mlflow.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from runstone.backend import Backend
from runstone.entities import Policy
from runstone.migration.importer import MlflowImporter

RUN = "ab" * 16
MODEL = "m-" + "c" * 32


class Store:
    """An MLflow store's content, as its REST API answers."""

    description = "test store"
    base_url = None

    def __init__(self) -> None:
        self.history = [{"key": "loss", "value": v, "timestamp": i, "step": i} for i, v in enumerate([1.0, "NaN", 0.5])]
        self.versions = [
            {"name": "clf", "version": "1", "source": f"models:/{MODEL}", "current_stage": "Production", "run_id": RUN},
            {"name": "clf", "version": "2", "source": "s3://elsewhere/model", "current_stage": "None"},
        ]

    def experiments(self) -> list[dict[str, Any]]:
        return [{"experiment_id": "7", "name": "exp", "lifecycle_stage": "active", "creation_time": 5}]

    def runs(self, experiment_id: str) -> Iterator[dict[str, Any]]:
        yield {
            "info": {"run_id": RUN, "experiment_id": "7", "status": "FINISHED", "start_time": 10, "end_time": 20},
            "data": {
                "metrics": [{"key": "loss", "value": 0.5}],
                "params": [{"key": "lr", "value": "0.1"}],
                "tags": [{"key": "mlflow.runName", "value": "first"}, {"key": "mlflow.user", "value": "ann"}],
            },
            "outputs": {"model_outputs": [{"model_id": MODEL, "step": 2}]},
        }

    def metric_history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        return self.history

    def logged_models(self, experiment_id: str) -> list[dict[str, Any]]:
        info = {"model_id": MODEL, "experiment_id": "7", "name": "model", "status": "LOGGED_MODEL_READY"}
        return [{"info": {**info, "source_run_id": RUN, "creation_timestamp_ms": 11}, "data": {}}]

    def registered_models(self) -> list[dict[str, Any]]:
        prompt = {"name": "greeting", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}
        return [{"name": "clf", "aliases": [{"alias": "champion", "version": "1"}]}, prompt]

    def model_versions(self, name: str) -> list[dict[str, Any]]:
        return self.versions if name == "clf" else []

    def close(self) -> None:
        pass


def test_import_keeps_ids_and_values_and_reports_what_it_left(backend: Backend):
    store = Store()
    report = MlflowImporter(backend, store, None, user="migrator").run()
    run = backend.tracking().get_run(RUN)
    assert (run.info.run_name, run.info.user_id, run.info.status, run.info.end_time) == ("first", "ann", "FINISHED", 20)
    assert run.data.tags == {"runstone.user": "ann"}
    values = backend.tracking().get_metric_history(RUN, "loss").values
    assert values[0] == 1.0 and math.isnan(values[1]) and values[2] == 0.5
    version = backend.registry().get_model_version("clf", 1)
    assert (version.source, version.current_stage, version.aliases) == (f"models:/{MODEL}", "Production", ["champion"])
    assert backend.logged_models().links_for_runs([RUN])[RUN].outputs == ((MODEL, 2),)
    # Left behind, and said so: the version stored elsewhere and the prompt.
    assert report.counts["model versions"].source == 2 and report.counts["model versions"].runstone == 1
    assert not report.complete
    assert any("s3://elsewhere/model" in note for note in report.notes)
    assert any("'greeting' is an MLflow prompt" in note for note in report.notes)
    assert report.counts["metric points"].source == report.counts["metric points"].runstone == 3

    again = MlflowImporter(backend, store, None, user="migrator").run()
    assert again.written == 0

    # A changed history is replaced; a governed alias is left to its approval workflow.
    store.history = [*store.history, {"key": "loss", "value": 0.25, "timestamp": 3, "step": 3}]
    backend.registry().delete_registered_model_alias("clf", "champion")
    backend.registry().set_policy("clf", Policy(protected_aliases=["champion"]))
    third = MlflowImporter(backend, store, None, user="migrator").run()
    assert len(backend.tracking().get_metric_history(RUN, "loss")) == 4
    assert backend.registry().get_registered_model("clf").aliases == {}
    assert any("Alias 'champion' of 'clf' is protected" in note for note in third.notes)


class Recorded:
    """A progress display that remembers what it was told."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done: list[str] = []

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, what: str) -> None:
        self.done.append(what)


def test_progress_counts_every_piece_it_announced(backend: Backend):
    progress = Recorded()
    MlflowImporter(backend, Store(), None, progress=progress).run()
    # One logged model, one run, the registered model and its two versions (the prompt is skipped).
    assert progress.total == len(progress.done) == 5
    assert sorted(set(progress.done)) == ["logged model", "model version", "registered model", "run"]


class Files:
    """Source artifacts of the run: one of them fails with an I/O error when read."""

    def files(self, uri: str) -> list[tuple[str, int]] | None:
        return [("a.txt", 1), ("broken.bin", 3), ("c.txt", 1)] if uri == "runs-uri" else []

    def read(self, uri: str, path: str) -> Iterator[bytes]:
        if path == "broken.bin":
            raise OSError(5, "Input/output error")
        yield path[0].encode()

    def remarks(self) -> list[str]:
        return []


def test_an_artifact_that_fails_to_read_is_named_and_the_rest_is_imported(backend: Backend):
    store = Store()
    original = store.runs

    def runs(experiment_id: str) -> Iterator[dict[str, Any]]:
        for run in original(experiment_id):
            run["info"]["artifact_uri"] = "runs-uri"
            yield run

    store.runs = runs  # type: ignore[method-assign]
    report = MlflowImporter(backend, store, Files()).run()  # type: ignore[arg-type]

    assert not report.complete
    assert report.counts["artifacts"].source == 3 and report.counts["artifacts"].runstone == 2
    assert any("'broken.bin'" in n and "Input/output error" in n for n in report.notes), report.notes
    assert [f.path for f in backend.artifacts().list_artifacts(RUN)] == ["a.txt", "c.txt"]
    assert report.counts["runs"].runstone == 1 and report.counts["logged models"].runstone == 1
