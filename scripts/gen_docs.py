"""Generates the reference pages in docs/ from the code: CLI (--help), REST (OpenAPI),
settings and error codes. tests/test_docs.py fails when a page is out of date.

Usage: python scripts/gen_docs.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def cli_reference() -> str:
    from runstone.cli.main import cli

    lines = [
        "# CLI reference",
        "",
        "Generated from `runstone --help` by `python scripts/gen_docs.py`; do not edit by hand.",
        "",
    ]

    def walk(command: click.Command, path: list[str], parent: click.Context | None = None) -> None:
        # Contexts made as a real invocation makes them (context settings, inherited from the
        # parent: -h is a help option everywhere), so the text does not depend on whether the
        # CLI already ran in this process (click remembers each command's help option).
        ctx = command.make_context(path[-1], [], parent=parent, resilient_parsing=True)
        lines.extend([f"## `{' '.join(path)}`", "", "```text", command.get_help(ctx).rstrip(), "```", ""])
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, [*path, name], ctx)

    walk(cli, ["runstone"])
    return "\n".join(lines)


def rest_reference() -> str:
    from runstone.config import Settings
    from runstone.server.app import create_app

    class _NoBackend:
        pass

    app = create_app(Settings(), backend=_NoBackend())  # type: ignore[arg-type]
    spec = app.openapi()
    lines = [
        "# REST reference",
        "",
        "Generated from the server's OpenAPI document by `python scripts/gen_docs.py`; do not edit by",
        "hand. A running server serves the same document at `/openapi.json` and an explorer at `/docs`.",
        "",
        'Errors answer `{"error": {"code", "message", "details", "request_id"}}` (see errors.md).',
        "Writes may carry an `Idempotency-Key` header (8-64 characters): a batch retried with the same",
        "key is applied once. `X-Runstone-User` names the caller; `X-Request-Id` is echoed back.",
        "Metric values that JSON cannot carry travel as the strings `NaN`, `Infinity` and `-Infinity`.",
        "",
    ]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            lines.append(f"## `{method.upper()} {path}`")
            lines.append("")
            lines.append(op.get("summary", ""))
            params = [p for p in op.get("parameters", []) if p.get("in") in ("query", "path")]
            if params:
                lines.append("")
                lines.append("| parameter | in | required |")
                lines.append("|---|---|---|")
                for p in params:
                    lines.append(f"| `{p['name']}` | {p['in']} | {'yes' if p.get('required') else 'no'} |")
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                ref = body.get("$ref", "").rsplit("/", 1)[-1]
                schema = spec["components"]["schemas"].get(ref, {})
                fields = schema.get("properties", {})
                required = set(schema.get("required", []))
                if fields:
                    lines.append("")
                    lines.append(
                        f"Body (`{ref}`): " + ", ".join(f"`{name}`{'*' if name in required else ''}" for name in fields)
                    )
            lines.extend(_answer(spec, op))
            lines.append("")
    return "\n".join(lines)


def _answer(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    """The line naming a route's answer: its response model and that model's keys."""
    for status, response in op.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        for media_type, content in response.get("content", {}).items():
            ref = content.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
            if not ref:
                return ["", f"Answer ({status}): `{media_type}`"]
            fields = spec["components"]["schemas"][ref].get("properties", {})
            keys = ", ".join(f"`{name}`" for name in fields) or "`{}`"
            return ["", f"Answer ({status}, `{ref}`): {keys}"]
    return []


def settings_reference() -> str:
    from runstone.config import Settings

    lines = [
        "# Settings",
        "",
        "Generated from `runstone/config.py` by `python scripts/gen_docs.py`; do not edit by hand.",
        "Every setting is read from an environment variable `RUNSTONE_<NAME>`.",
        "",
        "The client (`pip install runstone`: the SDK and the command line) and the server",
        "(`pip install 'runstone[server]'`) read the same settings; those of the server (address,",
        "workers, auth, limits of requests, background rounds) matter only where `runstone server`",
        "runs. See [deployment](deployment.md#what-to-install-where) for what to install where.",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = "~/.runstone" if name == "home" else field.default
        shown = "unset" if default is None else f"`{default}`"
        lines.append(f"| `RUNSTONE_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines) + "\n"


def errors_reference() -> str:
    from runstone.errors import ERROR_CLASSES

    lines = [
        "# Errors",
        "",
        "Generated from `runstone/errors.py` by `python scripts/gen_docs.py`; do not edit by hand.",
        'The server answers errors as `{"error": {"code", "message", "details", "request_id"}}`;',
        "the SDK raises the exception class of the code; the CLI prints `Error: <message>` and exits 1.",
        "",
        "| code | HTTP status | exception | meaning |",
        "|---|---|---|---|",
    ]
    for code, cls in sorted(ERROR_CLASSES.items(), key=lambda item: (item[1].status, item[0])):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines.append(f"| `{code}` | {cls.status} | `runstone.errors.{cls.__name__}` | {doc} |")
    return "\n".join(lines) + "\n"


PAGES = {
    "cli.md": cli_reference,
    "rest.md": rest_reference,
    "configuration.md": settings_reference,
    "errors.md": errors_reference,
}


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for name, build in PAGES.items():
        text = build()
        target = DOCS / name
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(name)
        else:
            target.write_text(text)
    if stale:
        print("out of date: " + ", ".join(stale) + " — run: python scripts/gen_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
