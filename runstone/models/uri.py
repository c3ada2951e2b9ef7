"""Model URIs, resolved to a local package folder.

    runs:/<run_id>/<path>          a model logged into a run (downloaded through the client)
    models:/<name>/<version>       a registered model version
    models:/<name>@<alias>         the version an alias points at
    models:/<name>/<stage>         the latest version in a stage (Staging, Production, ...)
    models:/<name>/latest          the newest version
    models:/m-<32 hex>             a model logged on its own by an MLflow 3 client
    file:///abs/path, /abs/path, relative/path

Registered versions are looked up with the client's MLflow-named methods
(``get_model_version``, ``get_model_version_by_alias``, ``get_latest_versions``); their
``source`` is a ``runs:/`` URI (or a package path), resolved in turn.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from runstone.errors import InvalidInput, NotFound

# MLflow 3 names a model logged on its own (a LoggedModel) models:/m-<32 hex>.
_LOGGED = re.compile(r"^models:/(?P<id>m-[0-9a-f]{32})/?$")
_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<ref>[^/]+))/?$")
_RUNS = re.compile(r"^runs:/(?P<run_id>[^/]+)(?:/(?P<path>.*))?$")


@dataclass(frozen=True)
class RegistryRef:
    name: str
    version: str | None = None
    alias: str | None = None
    stage: str | None = None
    latest: bool = False


def logged_model_id(uri: str) -> str | None:
    """The id of the model a models:/m-<id> URI names (an MLflow 3 logged model), else None."""
    match = _LOGGED.match(uri)
    return match["id"] if match else None


def is_registered(uri: str) -> bool:
    """Whether ``uri`` names a registered model version (models:/<name>/..., models:/<name>@...)."""
    return uri.startswith("models:/") and logged_model_id(uri) is None


def parse_models_uri(uri: str) -> RegistryRef:
    if logged_model_id(uri) is not None:
        raise InvalidInput(
            f"{uri!r} names a logged model, not a registered model version; register it to give it a name, "
            "a version and aliases."
        )
    match = _MODELS.match(uri)
    if not match:
        raise InvalidInput(
            f"Bad model URI {uri!r}: use models:/<name>/<version>, models:/<name>@<alias> or models:/<name>/<stage>."
        )
    name, alias, ref = unquote(match["name"]), match["alias"], match["ref"]
    if alias:
        return RegistryRef(name, alias=unquote(alias))
    if ref.isdigit():
        return RegistryRef(name, version=ref)
    if ref.lower() == "latest":
        return RegistryRef(name, latest=True)
    return RegistryRef(name, stage=unquote(ref))


def parse_runs_uri(uri: str) -> tuple[str, str]:
    match = _RUNS.match(uri)
    if not match or not match["run_id"]:
        raise InvalidInput(f"Bad model URI {uri!r}: use runs:/<run_id>/<path inside the run's artifacts>.")
    return match["run_id"], (match["path"] or "").strip("/")


def _version_number(mv: Any) -> int:
    return int(mv.version)


def resolve_registered(ref: RegistryRef, client: Any) -> Any:
    """The model version entity a models:/ reference names."""
    if ref.version is not None:
        return client.get_model_version(ref.name, ref.version)
    if ref.alias is not None:
        return client.get_model_version_by_alias(ref.name, ref.alias)
    stages = None if ref.latest else [ref.stage]
    versions = list(client.get_latest_versions(ref.name, stages=stages))
    if not versions:
        where = "any version" if ref.latest else f"a version in stage {ref.stage!r}"
        raise NotFound(f"Registered model {ref.name!r} has no {where}.")
    return max(versions, key=_version_number)


def source_of(uri: str, client: Any = None) -> str:
    """The URI a models:/ URI points at (unchanged for any other URI)."""
    if not uri.startswith("models:/") or _LOGGED.match(uri):
        return uri
    if client is None:
        from runstone.models.runs import default_client

        client = default_client()
    version = resolve_registered(parse_models_uri(uri), client)
    source = str(version.source)
    if source.startswith("models:/") and not _LOGGED.match(source):
        raise InvalidInput(f"Model version source {source!r} of {uri!r} is itself a models:/ URI.")
    return source


def local_path(uri: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None, client: Any = None) -> Path:
    """A local folder holding the package ``uri`` names (downloaded when it lives in a run)."""
    text = os.fspath(uri)
    if text.startswith("models:/"):
        text = source_of(text, client)
    logged = _LOGGED.match(text)
    if logged:
        from runstone.models.runs import download_logged_model

        return download_logged_model(logged.group("id"), dst, client)
    if text.startswith("runs:/"):
        from runstone.models.runs import download_run_artifacts

        run_id, path = parse_runs_uri(text)
        return download_run_artifacts(run_id, path, dst, client)
    if text.startswith("file:"):
        parsed = urlparse(text)
        if parsed.netloc not in ("", "localhost"):
            raise InvalidInput(f"file URIs must name a local path; got host {parsed.netloc!r} in {text!r}.")
        text = unquote(parsed.path)
    elif re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]+:/", text):
        raise InvalidInput(
            f"Unsupported model URI {text!r}: use runs:/, models:/, file:// or a local path "
            "(download other locations first)."
        )
    folder = Path(text).expanduser()
    if not folder.exists():
        raise NotFound(f"No model at {folder}.")
    return folder.resolve()
