"""Computing a reference profile where the data and the model are: on the client, never on the
tracking server (which loads no model)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runstone.entities import StoredProfile
from runstone.errors import InvalidState
from runstone.monitoring.reference import file_digest

if TYPE_CHECKING:
    from runstone.sdk.protocols import MonitoringBackend


def model_uri(name: str, ref: str) -> str:
    return f"models:/{name}/{ref}" if str(ref).isdigit() else f"models:/{name}@{ref}"


def _local_file(source: str) -> Path | None:
    path = Path(source.removeprefix("file://")).expanduser() if source else None
    return path if path is not None and path.is_file() else None


def predictions_of(model: Any, frame: Any) -> list[Any]:
    """The model's answer per row, as plain scalars (several outputs: JSON text)."""
    import json

    import numpy as np

    raw = model.predict(frame)
    array = np.asarray(raw.to_numpy() if hasattr(raw, "to_numpy") else raw)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim > 1:
        return [json.dumps(row) for row in array.tolist()]
    return [v.item() if hasattr(v, "item") else v for v in array]


def compute_profile(
    api: MonitoringBackend, name: str, ref: str, *, data: Path | None, target: str | None, holdout: Path | None, outputs: bool,
    tracking_uri: str | None,
) -> tuple[StoredProfile, str]:  # fmt: skip
    import json

    from runstone.cli.monitor import read_table
    from runstone.monitoring.profile import build_profile, infer_task
    from runstone.monitoring.quality import quality

    notes = []
    if data is not None:
        frame, source, dataset_digest = read_table(data), str(data), file_digest(data)
    else:
        recorded: Mapping[str, Any] = api.training_dataset(name, ref)
        dataset = recorded["dataset"]
        path = _local_file(dataset["source"])
        if path is None:
            where = dataset["source"] or "it was logged from memory"
            raise InvalidState(
                f"The dataset {dataset['name']!r} (digest {dataset['digest'][:12]}) recorded on run "
                f"{recorded['run_id']} has no readable source ({where}); give the reference data with --data."
            )
        frame, source, dataset_digest = read_table(path), f"{path} (run {recorded['run_id']})", dataset["digest"]
        schema = json.loads(dataset["schema"]) if dataset.get("schema") else {}
        target = target or (schema.get("targets") if isinstance(schema, dict) else None)
        if holdout is None and recorded.get("holdout"):
            holdout = _local_file(recorded["holdout"]["source"])
    if target and target in frame.columns:
        frame = frame.drop(columns=[target])
    predictions = None
    measured = None
    task = None
    if outputs:
        try:
            from runstone.models.pyfunc_model import load_model
            from runstone.sdk.client import RunstoneClient

            model = load_model(model_uri(name, ref), client=RunstoneClient(tracking_uri))
            schema = model.metadata.get_input_schema()
            if schema is not None and schema.has_names:
                # The model's inputs only: a label or id column of the data is not a feature.
                extra = [c for c in frame.columns if str(c) not in schema.names()]
                if extra:
                    notes.append(f"Columns not in the model's signature left out: {', '.join(map(str, extra))}.")
                    frame = frame.drop(columns=extra)
            predictions = predictions_of(model, frame)
            task = infer_task(predictions)
            if holdout is not None and target:
                held = read_table(holdout)
                if target not in held.columns:
                    raise InvalidState(f"The holdout {holdout} has no target column {target!r}.")
                labels = [v.item() if hasattr(v, "item") else v for v in held[target].tolist()]
                measured = quality(task, predictions_of(model, held.drop(columns=[target])), labels)
        except InvalidState:
            raise
        except Exception as exc:  # the profile of the inputs is still worth storing
            notes.append(f"Outputs not profiled: the model did not load or predict here ({type(exc).__name__}: {exc}).")
    profile = build_profile(frame, outputs=predictions, quality=measured, task=task)
    stored = api.set_profile(name, ref, profile, source=source[:2000], dataset_digest=dataset_digest)
    return stored, " ".join(notes)
