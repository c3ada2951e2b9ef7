"""runstone users and runstone tokens, on the embedded store."""

from __future__ import annotations

from cli_support import Cli
from click.testing import CliRunner

from runstone.backend import open_backend
from runstone.cli.main import cli as runstone_cli
from runstone.config import Settings
from runstone.governance.identity import IdentityService


def _sign_in(name: str, password: str) -> str:
    backend = open_backend(Settings())
    try:
        return IdentityService(backend.context()).authenticate_password(name, password).user.name
    finally:
        backend.close()


def test_users_get_passwords_from_stdin_or_made_up_and_can_be_disabled(cli: Cli) -> None:
    typed = CliRunner().invoke(runstone_cli, ["users", "create", "alice", "--password-stdin"], input="alice long pw!\n")
    assert typed.exit_code == 0, typed.output
    assert _sign_in("alice", "alice long pw!") == "alice"
    made = cli("users", "create", "bob", "--admin").stdout
    password = made.strip().splitlines()[-1].removeprefix("Password (shown once): ")
    assert _sign_in("bob", password) == "bob"
    listed = {u["name"]: u for u in cli.json("users", "list")}
    assert listed["bob"]["is_admin"] and not listed["alice"]["is_admin"]
    assert "at least 12" in cli.fails("users", "create", "carol", "--password-stdin")  # empty input
    assert "already exists" in cli.fails("users", "create", "alice")
    cli("users", "disable", "alice")
    assert cli.json("users", "list")[0]["disabled_time"] is not None


def test_tokens_are_printed_once_listed_without_secret_and_revoked(cli: Cli) -> None:
    cli("users", "create", "ci", "--service")
    out = cli("tokens", "create", "--user", "ci", "--name", "nightly", "--read-only", "--resource", "experiment:0")
    secret = out.stdout.strip().splitlines()[-1]
    listed = cli.json("tokens", "list")
    assert len(listed) == 1 and listed[0]["read_only"] and listed[0]["resources"] == ["experiment:0"]
    assert secret.split("_", 2)[2] not in cli("tokens", "list").stdout
    cli("tokens", "revoke", listed[0]["token_id"])
    assert cli.json("tokens", "list")[0]["revoked_time"] is not None
    assert "No API token" in cli.fails("tokens", "revoke", "0123456789abcdef")
    assert "resource" in cli.fails("tokens", "create", "--user", "ci", "--name", "x", "--resource", "run:1")
