"""Model URIs, resolved to a local package folder.

    runs:/<run_id>/<path>          a model logged into a run (downloaded through the client); when
                                   the run has no such artifact, the model an MLflow 3 client logged
                                   in the run under that name (a logged model), as MLflow resolves it
    models:/<name>/<version>       a registered model version
    models:/<name>@<alias>         the version an alias points at
    models:/<name>/<stage>         the latest version in a stage (Staging, Production, ...)
    models:/<name>/latest          the newest version
    models:/m-<32 hex>             a model logged on its own by an MLflow 3 client
    file:///abs/path, /abs/path, relative/path

Registered versions are looked up with the client's MLflow-named methods
(``get_model_version``, ``get_model_version_by_alias``, ``get_latest_versions``); their
``source`` is a ``runs:/`` URI (or a package path), resolved in turn.

The package of a registered version is checked file by file against the manifest recorded when
it was registered (runstone.models.integrity) before it is handed to anyone: through a models:/
URI, and through a runs:/ or models:/m-<id> URI that some registered version was made from.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from runstone.errors import InvalidInput, ManifestMismatch, NotFound

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


def _client(client: object) -> Any:
    if client is None:
        from runstone.models.runs import default_client

        return default_client()
    return client


def version_path(
    version: Any, dst: str | os.PathLike[str] | None = None, client: Any = None, *, name: str | None = None
) -> Path:
    """A local folder holding the package of a registered version (an entity such as
    get_model_version returns, of model ``name``), checked against the manifest recorded at its
    registration."""
    client = _client(client)
    name = name or str(version.name)
    source = str(version.source)
    if source.startswith("models:/") and not _LOGGED.match(source):
        raise InvalidInput(f"Model version source {source!r} of {name!r} is itself a models:/ URI.")
    return _checked(source, dst, client, name, version)


def _checked(source: str, dst: str | os.PathLike[str] | None, client: Any, name: str, version: Any) -> Path:
    """The package ``source`` names, downloaded and checked against the manifest of ``version``.
    A client that is not runstone's (MLflow's own, against an MLflow server) has no manifests
    to offer, and gets the files unchecked."""
    from runstone.models.integrity import verify_package

    label = f"version {version.version} of registered model {name!r}"
    try:
        path = _fetch(source, dst, client)
    except (InvalidInput, NotFound) as exc:  # a file gone from storage, or not the bytes logged
        raise ManifestMismatch(
            f"The files of {label} are not the ones registered, so it was not loaded: {exc.message}",
            {"source": source},
        ) from None
    manifests = getattr(client, "get_model_version_manifest", None)
    if manifests is not None:
        verify_package(path, manifests(name, version.version), label, getattr(version, "manifest_digest", None))
    return path


def _registered_from(source: str, client: Any) -> Any:
    """The newest registered version made from the package ``source`` names (a runs:/ or a
    models:/m-<id> URI), else None."""
    if (logged := _LOGGED.match(source)) is not None:
        query = f"source_path = 'models:/{logged['id']}'"
        wanted = None
    else:
        run_id, wanted = parse_runs_uri(source)
        if not re.fullmatch(r"[0-9a-f]{32}", run_id):
            return None
        query = f"run_id = '{run_id}'"
    if not hasattr(client, "get_model_version_manifest"):
        return None
    matches = [
        v
        for v in client.search_model_versions(query)
        if wanted is None or (str(v.source).startswith("runs:/") and parse_runs_uri(str(v.source))[1] == wanted)
    ]
    # Registered files cannot change, so every version made from one source has one manifest;
    # should they differ (versions older than manifests), the newest one is the reference.
    return max(matches, key=lambda v: int(v.creation_timestamp), default=None)


def _fetch(text: str, dst: str | os.PathLike[str] | None, client: object) -> Path:
    logged = _LOGGED.match(text)
    if logged:
        from runstone.models.runs import download_logged_model

        return download_logged_model(logged.group("id"), dst, client)
    from runstone.models.runs import download_run_artifacts

    run_id, path = parse_runs_uri(text)
    return download_run_artifacts(run_id, path, dst, client)


def run_logged_model(run_id: str, path: str, client: Any) -> tuple[str, str] | None:
    """The logged model an MLflow 3 client logged in run ``run_id`` under the name the first part
    of ``path`` gives (``mlflow.<flavor>.log_model(..., name=...)`` inside a run), with the rest of
    the path inside it; None when the run has no such model. The newest ready one wins."""
    name, _, rest = path.partition("/")
    if not name or not re.fullmatch(r"[0-9a-f]{32}", run_id):
        return None
    experiment_id = str(client.get_run(run_id).info.experiment_id)
    found = [
        m
        for m in client.search_logged_models(
            experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        if m.name == name and m.source_run_id == run_id
    ]
    ready = [m for m in found if str(getattr(m.status, "name", m.status)).upper().endswith("READY")]
    newest = max(ready or found, key=lambda m: int(m.creation_timestamp), default=None)
    return None if newest is None else (str(newest.model_id), rest)


def _run_model(text: str, dst: str | os.PathLike[str] | None, client: Any) -> Path:
    """The package a runs:/ URI names: the run's artifact at the path or, when the run has none
    there, the logged model of the run with that name (checked like its models:/m-<id> URI)."""
    try:
        return _fetch(text, dst, client)
    except NotFound as missing:
        run_id, path = parse_runs_uri(text)
        logged = run_logged_model(run_id, path, client)
        if logged is None:
            raise NotFound(
                f"{missing.message} It has no logged model named {path.partition('/')[0]!r} either."
            ) from None
    model_id, rest = logged
    if not rest:
        return local_path(f"models:/{model_id}", dst, client)
    target = Path(dst) if dst is not None else Path(tempfile.mkdtemp(prefix="runstone-model-"))
    target.mkdir(parents=True, exist_ok=True)
    return Path(client.download_logged_model_artifacts(model_id, rest, target))


def local_path(uri: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None, client: object = None) -> Path:
    """A local folder holding the package ``uri`` names (downloaded when it lives in a run or a
    logged model; checked against its manifest when it is a registered version's)."""
    text = os.fspath(uri)
    if text.startswith("models:/") and not _LOGGED.match(text):
        client = _client(client)
        ref = parse_models_uri(text)
        return version_path(resolve_registered(ref, client), dst, client, name=ref.name)
    if text.startswith("runs:/") or _LOGGED.match(text):
        client = _client(client)
        version = _registered_from(text, client)
        if version is None:
            return _run_model(text, dst, client) if text.startswith("runs:/") else _fetch(text, dst, client)
        return _checked(text, dst, client, str(version.name), version)
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
