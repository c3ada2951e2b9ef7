"""A Docker build context that serves one model: ``runstone models build-docker``.

    <dir>/Dockerfile                 slim Python base, non-root user, HEALTHCHECK, serving command
    <dir>/model/                     the model package
    <dir>/requirements.txt           the package's pinned requirements
    <dir>/serving-requirements.txt   what the scoring server needs, pinned at the versions running here
    <dir>/wheels/runstone-*.whl      the running runstone, as a wheel

The image runs ``python -m runstone.serving`` (the scoring server alone: no tracking server,
database or CLI code is imported) on port 8080, and answers the same protocol as
``runstone models serve``. ``docker build -t fraud:4 <dir> && docker run -p 8080:8080 fraud:4``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from runstone.errors import AlreadyExists
from runstone.models.environment import check_requirements, pinned_closure, read_environment
from runstone.models.manifest import Model
from runstone.models.reproduce import build_runstone_wheel

SERVING_RUNTIME = (
    "uvicorn",
    "httptools",
    "uvloop",
    "starlette",
    "orjson",
    "pyyaml",
    "pydantic-settings",
    "packaging",
    "prometheus-client",
)
MODEL_DIR = "/opt/runstone/model"
PORT = 8080


def serving_command(model_dir: str = MODEL_DIR, host: str = "0.0.0.0", port: int = PORT) -> list[str]:
    return ["python", "-m", "runstone.serving", "--model", model_dir, "--host", host, "--port", str(port)]


def _serving_pins(model_requirements: list[str]) -> list[str]:
    """SERVING_RUNTIME and what it needs, at the versions running here, less what the model pins."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    pinned = set()
    for line in model_requirements:
        try:
            pinned.add(canonicalize_name(Requirement(line).name))
        except InvalidRequirement:
            continue
    available = []
    for name in SERVING_RUNTIME:
        try:
            pinned_closure([name])
        except Exception:  # an optional speed-up (uvloop, httptools) not installed here
            continue
        available.append(name)
    return [p for p in pinned_closure(available) if canonicalize_name(p.split("==")[0]) not in pinned]


def dockerfile(python_version: str, *, workers: int = 1) -> str:
    base = ".".join(python_version.split(".")[:2])
    command = serving_command()
    if workers > 1:
        command += ["--workers", str(workers)]
    probe = (
        "import sys, urllib.request; "
        f"sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:{PORT}/ping', timeout=2).status == 200 else 1)"
    )
    return f"""# A scoring server for one model, built by `runstone models build-docker`.
FROM python:{base}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 runstone \\
 && useradd --system --uid 10001 --gid runstone --home-dir /opt/runstone --create-home runstone

WORKDIR /opt/runstone

# Pinned requirements first: this layer is reused until they change.
COPY requirements.txt serving-requirements.txt ./
RUN pip install -r requirements.txt -r serving-requirements.txt

COPY wheels/ wheels/
RUN pip install --no-deps wheels/*.whl

COPY --chown=runstone:runstone model/ {MODEL_DIR}/

USER runstone
EXPOSE {PORT}
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \\
  CMD ["python", "-c", {json.dumps(probe)}]

CMD {json.dumps(command)}
"""


def build_context(
    model_path: Path,
    out: Path,
    *,
    workers: int = 1,
    trust_requirements: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write the build context for the package at ``model_path`` into ``out`` (new or empty).
    As for ``models verify``, a requirement line pip would not install by name from its
    configured index is refused unless ``trust_requirements``."""
    Model.load(model_path)  # a package, or a clear error
    if out.exists() and any(out.iterdir()):
        raise AlreadyExists(f"{out} already exists and is not empty; choose a new folder.")
    python_version, requirements = read_environment(model_path)
    if not trust_requirements:
        check_requirements(requirements, model_path / "requirements.txt")
    out.mkdir(parents=True, exist_ok=True)
    say(f"Copying the model package into {out / 'model'}")
    shutil.copytree(model_path, out / "model", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (out / "requirements.txt").write_text("".join(f"{line}\n" for line in requirements))
    serving = _serving_pins(requirements)
    (out / "serving-requirements.txt").write_text("".join(f"{line}\n" for line in serving))
    say("Building a wheel of the running runstone")
    build_runstone_wheel(out / "wheels")
    (out / "Dockerfile").write_text(dockerfile(python_version, workers=workers))
    (out / ".dockerignore").write_text("**/__pycache__\n**/*.pyc\n")
    say(f"Build context ready: docker build -t <image> {out}")
    return out
