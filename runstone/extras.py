"""What the optional parts of runstone need, and the one message when it is missing.

``pip install runstone`` is the client: the SDK, the fluent API and the command line's client
commands, logging to a server or to the embedded SQLite store. The tracking server and its web
UI come with ``pip install 'runstone[server]'``, the scoring server with ``'runstone[serving]'``.
Code that needs either checks here first, before importing anything of it, so a training box
without the extra gets a sentence naming the command to run instead of an ImportError.
"""

from __future__ import annotations

import importlib.util

from runstone.errors import InvalidState

# The modules each extra brings that its code imports (distribution names differ: argon2-cffi,
# opentelemetry-proto, uvicorn[standard]'s httptools).
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": (
        "fastapi",
        "uvicorn",
        "httptools",
        "jinja2",
        "plotly",
        "fastapi_offline",
        "opentelemetry.proto",
        "argon2",
        "prometheus_client",
    ),
    "serving": ("starlette", "uvicorn", "httptools", "prometheus_client", "numpy", "pandas", "pyarrow"),
}


def install_command(extra: str) -> str:
    return f"pip install 'runstone[{extra}]'"


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    absent = []
    for name in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # the parent package of a dotted name is absent
            found = False
        if not found:
            absent.append(name)
    return absent


def require(extra: str, what: str) -> None:
    """Raise InvalidState naming the install command when ``extra`` is not installed."""
    absent = missing(extra)
    if absent:
        raise InvalidState(
            f"{what} needs the {extra} extra, which is not installed here (no {', '.join(absent)}): "
            f"{install_command(extra)}"
        )
