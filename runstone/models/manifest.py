"""The MLmodel file: a YAML manifest at the root of every model package.

Keys are MLflow's (artifact_path, run_id, utc_time_created, flavors, signature,
saved_input_example_info, model_uuid, model_size_bytes, metadata) plus runstone_version and
saved_output_example_info (the model's output on its input example, recorded at save time for
``runstone models verify``). Keys this version does not know are kept and written back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runstone.errors import InvalidInput, NotFound
from runstone.models.signature import ModelSignature, ParamSchema, Schema

MLMODEL = "MLmodel"
PYFUNC = "python_function"

_ORDER = (
    "artifact_path",
    "run_id",
    "utc_time_created",
    "flavors",
    "signature",
    "saved_input_example_info",
    "saved_output_example_info",
    "model_uuid",
    "model_size_bytes",
    "runstone_version",
    "metadata",
)


def _utc_now() -> str:
    return str(dt.datetime.now(dt.UTC).replace(tzinfo=None))


class Model:
    """An MLmodel manifest in memory."""

    def __init__(
        self,
        artifact_path: str | None = None,
        run_id: str | None = None,
        utc_time_created: str | None = None,
        flavors: Mapping[str, Mapping[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: Mapping[str, object] | None = None,
        saved_output_example_info: Mapping[str, object] | None = None,
        model_uuid: str | None = None,
        model_size_bytes: int | None = None,
        runstone_version: str | None = None,
        metadata: Mapping[str, object] | None = None,
        **extra: object,
    ) -> None:
        self.artifact_path = artifact_path
        self.run_id = run_id
        self.utc_time_created = utc_time_created or _utc_now()
        self.flavors: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (flavors or {}).items()}
        self.signature = signature
        self.saved_input_example_info = dict(saved_input_example_info) if saved_input_example_info else None
        self.saved_output_example_info = dict(saved_output_example_info) if saved_output_example_info else None
        self.model_uuid = model_uuid or uuid.uuid4().hex
        self.model_size_bytes = model_size_bytes
        self.runstone_version = runstone_version
        self.metadata = dict(metadata) if metadata else None
        self.extra = dict(extra)

    def add_flavor(self, name: str, **params: object) -> Model:
        self.flavors[name] = params
        return self

    @property
    def pyfunc_conf(self) -> dict[str, Any] | None:
        return self.flavors.get(PYFUNC)

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature else None

    def get_params_schema(self) -> ParamSchema | None:
        return self.signature.params if self.signature else None

    def to_dict(self) -> dict[str, object]:
        values: dict[str, object] = {
            "artifact_path": self.artifact_path,
            "run_id": self.run_id,
            "utc_time_created": self.utc_time_created,
            "flavors": self.flavors,
            "signature": self.signature.to_dict() if self.signature else None,
            "saved_input_example_info": self.saved_input_example_info,
            "saved_output_example_info": self.saved_output_example_info,
            "model_uuid": self.model_uuid,
            "model_size_bytes": self.model_size_bytes,
            "runstone_version": self.runstone_version,
            "metadata": self.metadata,
        }
        out = {k: values[k] for k in _ORDER if values[k] is not None}
        out.update(self.extra)
        return out

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=False)

    def save(self, path: str | Path) -> None:
        """Write the manifest to ``path`` (a package folder or the MLmodel file itself)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL
        target.write_text(self.to_yaml())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Model:
        values = dict(data)
        signature = values.pop("signature", None)
        known = {k: values.pop(k) for k in list(values) if k in _ORDER}
        return cls(
            signature=ModelSignature.from_dict(signature) if signature else None,
            **known,
            **values,
        )

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read the manifest of a package folder (or of the MLmodel file given)."""
        import yaml

        source = Path(path)
        if source.is_dir():
            source = source / MLMODEL
        if not source.is_file():
            raise NotFound(f"No MLmodel file at {source}; is {Path(path)} a model package?")
        try:
            data = yaml.safe_load(source.read_text())
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{source} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidInput(f"{source} is not an MLmodel manifest.")
        return cls.from_dict(data)

    def __repr__(self) -> str:
        return f"Model(flavors={sorted(self.flavors)}, run_id={self.run_id!r}, artifact_path={self.artifact_path!r})"


@dataclass
class ModelInfo:
    """What ``log_model`` returns: where the model went and what it holds."""

    model_uri: str
    run_id: str | None
    artifact_path: str | None
    flavors: dict[str, dict[str, Any]]
    signature: ModelSignature | None
    saved_input_example_info: dict[str, Any] | None
    model_uuid: str
    utc_time_created: str
    runstone_version: str | None
    metadata: dict[str, Any] | None = None
    registered_model_version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return self.artifact_path

    @classmethod
    def of(cls, model: Model, model_uri: str) -> ModelInfo:
        return cls(
            model_uri=model_uri,
            run_id=model.run_id,
            artifact_path=model.artifact_path,
            flavors=model.flavors,
            signature=model.signature,
            saved_input_example_info=model.saved_input_example_info,
            model_uuid=model.model_uuid,
            utc_time_created=model.utc_time_created,
            runstone_version=model.runstone_version,
            metadata=model.metadata,
        )
