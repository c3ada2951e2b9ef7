"""A downloaded package checked against the manifest recorded when its version was registered.

Every file is hashed as it is on this machine, after the download: a file whose bytes differ,
a file the manifest lists that is not there, and a file that is there but not listed are each a
refusal naming the file, before any of the package is loaded (a pickle runs code when loaded).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from runstone.entities import PackageManifest
from runstone.errors import ManifestMismatch

_CHUNK = 1024 * 1024
_SHOWN = 5  # problems named in the message; the details list them all


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def problems(folder: Path, manifest: PackageManifest) -> list[str]:
    """What differs between the files in ``folder`` and ``manifest``, one line per file."""
    expected = {f.path: f for f in manifest.files}
    present = {}
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        relative = path.relative_to(folder).as_posix()
        present[relative] = path
    found = []
    for relative, entry in expected.items():
        local = present.get(relative)
        if local is None or not local.is_file():
            found.append(f"{relative}: missing")
        elif _sha256(local) != entry.sha256:
            found.append(f"{relative}: its content differs (SHA-256 recorded at registration {entry.sha256})")
    found.extend(f"{relative}: not in the manifest" for relative in present if relative not in expected)
    return found


def verify_package(folder: Path, manifest: PackageManifest, label: str, expected_digest: str | None = None) -> None:
    """Raise ManifestMismatch, naming the files, unless ``folder`` holds exactly the files of
    ``manifest`` with their recorded SHA-256 (and ``manifest`` is the one ``expected_digest`` names)."""
    if expected_digest is not None and manifest.digest != expected_digest:
        raise ManifestMismatch(
            f"The manifest served for {label} does not have the version's digest {expected_digest}; refusing to load it.",
            {"expected_digest": expected_digest, "digest": manifest.digest},
        )
    found = problems(folder, manifest)
    if found:
        shown = "; ".join(found[:_SHOWN]) + (f"; and {len(found) - _SHOWN} more" if len(found) > _SHOWN else "")
        raise ManifestMismatch(
            f"The files of {label} do not match the manifest recorded when it was registered, so it was not loaded: "
            f"{shown}.",
            {"files": found, "manifest_digest": manifest.digest},
        )
