"""Copies of a model version into another registered model (promotion from dev to prod).

A copy is registered with a ``models:/<name>/<version>`` (or ``models:/<name>@<alias>``) source,
which is how MLflow's ``copy_model_version`` sends it. No bytes move: the copy refers to the
same package as the version it copies (the same ``runs:/`` or ``models:/<model id>`` source),
and two tags say where it came from and what the package held when it was copied: the SHA-256
of its file list (each file's path and SHA-256), so ``runstone.packageDigest`` of the copy and
of the original match as long as nobody changed the package.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from runstone.entities import FileInfo, ModelVersion
from runstone.errors import InvalidInput

if TYPE_CHECKING:
    from runstone.registry.service import RegistryService

COPIED_FROM = "runstone.copiedFrom"
PACKAGE_DIGEST = "runstone.packageDigest"

_REGISTERED = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<alias>[^/@]+))/?$")
_LOGGED_MODEL_ID = re.compile(r"^m-[0-9a-f]{32}$")
_RUNS_URI = re.compile(r"^runs:/(?P<run_id>[^/]+)/(?P<path>.+)$")
_LOGGED_MODEL_URI = re.compile(r"^models:/(?P<model_id>m-[0-9a-f]{32})/?$")


def is_copy(source: str) -> bool:
    """Whether ``source`` names a registered version (not a logged model)."""
    match = _REGISTERED.match(source or "")
    return match is not None and not _LOGGED_MODEL_ID.match(match["name"])


def package_digest(files: Sequence[FileInfo], prefix: str) -> str:
    """``sha256:<hex>`` of a package's files: each path below ``prefix`` with its SHA-256."""
    digest = hashlib.sha256()
    cut = len(prefix.strip("/")) + 1 if prefix.strip("/") else 0
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path[cut:]}\0{f.sha256 or ''}\n".encode())
    return "sha256:" + digest.hexdigest()


def source_digest(registry: RegistryService, source: str) -> str:
    """The package digest of a version source (``runs:/`` or ``models:/<model id>``)."""
    if match := _LOGGED_MODEL_URI.match(source):
        from runstone.tracking.logged_models import LoggedModelService

        models = LoggedModelService(registry.ctx, registry.artifacts.store)
        return package_digest(models.files(match["model_id"]), "")
    if match := _RUNS_URI.match(source):
        path = match["path"].strip("/")
        return package_digest(registry.artifacts.files(match["run_id"], path), path)
    raise InvalidInput(f"Model version source {source!r} names no package this server holds.")


def resolve(registry: RegistryService, source: str) -> tuple[ModelVersion, dict[str, str]]:
    """The version a ``models:/<name>/<version>`` source names, and the tags of its copy."""
    match = _REGISTERED.match(source)
    if match is None:
        raise InvalidInput(f"Model version source {source!r} is not a models:/<name>/<version> URI.")
    name = match["name"]
    if match["alias"]:
        original = registry.get_model_version_by_alias(name, match["alias"])
    elif match["version"].isdigit():
        original = registry.get_model_version(name, match["version"])
    else:
        raise InvalidInput(
            f"Model version source {source!r} must name a version number or an alias "
            f"(models:/{name}/<version> or models:/{name}@<alias>)."
        )
    tags = {
        COPIED_FROM: f"models:/{original.name}/{original.version}",
        PACKAGE_DIGEST: source_digest(registry, original.source),
    }
    return original, tags
