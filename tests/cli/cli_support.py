"""Helpers of the CLI tests."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from runstone.cli.main import cli as runstone_cli


class Cli:
    """Runs ``runstone ARGS`` and checks the exit code."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0) -> Result:
        result = self.runner.invoke(runstone_cli, list(args), catch_exceptions=False)
        assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def fails(self, *args: str) -> str:
        """Run a command that must fail with ``Error: ...`` and exit 1; return the message."""
        result = self(*args, code=1)
        assert result.stderr.startswith("Error: "), result.stderr
        assert "Traceback" not in result.output
        return result.stderr.removeprefix("Error: ").strip()


def sql(home: Path, statement: str, *params: Any) -> None:
    """Change the embedded SQLite file directly, as someone with file access could."""
    with sqlite3.connect(home / "runstone.db") as conn:
        conn.execute(statement, params)
    conn.close()


@dataclass
class Logged:
    iris: str
    wine: str
    runs: list[str]  # in iris, with loss 1, 1/2, 1/3
    other: str  # in wine
