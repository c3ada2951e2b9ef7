"""Users, service accounts and API tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from runstone.errors import AlreadyExists, InvalidInput, NotFound, Unauthenticated
from runstone.governance.audit import AuditService
from runstone.governance.context import Principal
from runstone.governance.identity import IdentityService


@pytest.fixture
def identity(backend, clock) -> IdentityService:
    return IdentityService(backend.context(Principal("root"), clock=clock))


def test_a_password_signs_in_and_is_never_stored_in_clear(identity, backend):
    identity.create_user("alice", password="correct horse battery")
    assert identity.authenticate_password("alice", "correct horse battery").user.name == "alice"
    with pytest.raises(Unauthenticated, match="Wrong user name or password"):
        identity.authenticate_password("alice", "wrong horse battery!")
    with pytest.raises(Unauthenticated, match="Wrong user name or password"):
        identity.authenticate_password("nobody", "correct horse battery")
    with backend.db.transaction() as s:
        from sqlalchemy import text

        stored = s.execute(text("SELECT password_hash FROM users WHERE name = 'alice'")).scalar_one()
    assert stored.startswith("$argon2id$") and "correct horse" not in stored


def test_bad_users_are_refused(identity):
    identity.create_user("alice", password="correct horse battery")
    with pytest.raises(AlreadyExists, match="alice"):
        identity.create_user("alice", password="another long password")
    with pytest.raises(InvalidInput, match="at least 12"):
        identity.create_user("bob", password="short")
    with pytest.raises(InvalidInput, match="user name"):
        identity.create_user("bob smith", password="correct horse battery")
    with pytest.raises(InvalidInput, match="service account"):
        identity.create_user("ci", password="correct horse battery", kind="service")
    assert [u.name for u in identity.users()] == ["alice"]


def test_a_token_is_shown_once_and_stored_hashed(identity, backend):
    identity.create_user("ci", kind="service")
    made = identity.create_token("ci", "nightly", read_only=True, resources=["experiment:3", "model:churn"])
    assert made.secret.startswith(f"rst_{made.token.token_id}_")
    who = identity.authenticate_token(made.secret)
    assert who.user.name == "ci" and who.token is not None and who.token.read_only
    assert who.token.resources == ["experiment:3", "model:churn"]
    listed = identity.tokens("ci")
    assert [t.token_id for t in listed] == [made.token.token_id] and listed[0].last_used_time is not None
    with backend.db.transaction() as s:
        from sqlalchemy import text

        stored = s.execute(text("SELECT secret_hash FROM api_tokens")).scalar_one()
    assert made.secret.split("_", 2)[2] not in stored


def test_revoked_expired_forged_and_disabled_tokens_are_refused(identity, clock):
    identity.create_user("ci", kind="service")
    revoked = identity.create_token("ci", "a")
    identity.revoke_token(revoked.token.token_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        identity.authenticate_token(revoked.secret)
    expiring = identity.create_token("ci", "b", expiry_time=clock.now + 1000)
    identity.authenticate_token(expiring.secret)
    clock.now += 1000
    with pytest.raises(Unauthenticated, match="expired"):
        identity.authenticate_token(expiring.secret)
    good = identity.create_token("ci", "c")
    forged = good.secret[:-4] + ("AAAA" if not good.secret.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthenticated, match="not valid"):
        identity.authenticate_token(forged)
    with pytest.raises(Unauthenticated, match="not a runstone token"):
        identity.authenticate_token("hello")
    identity.set_disabled("ci", True)
    with pytest.raises(Unauthenticated, match="disabled"):
        identity.authenticate_token(good.secret)
    with pytest.raises(NotFound):
        identity.revoke_token("0000000000000000")
    with pytest.raises(InvalidInput, match="future"):
        identity.create_token("ci", "d", expiry_time=clock.now - 1)
    with pytest.raises(InvalidInput, match="resource"):
        identity.create_token("ci", "d", resources=["run:1"])


def test_the_first_admin_is_made_once_with_a_made_up_password(identity):
    password = identity.ensure_admin()
    assert password is not None and len(password) >= 20
    assert identity.authenticate_password("admin", password).user.is_admin
    assert identity.ensure_admin() is None  # an admin exists: nothing happens
    assert [u.name for u in identity.users()] == ["admin"]


def test_identity_changes_and_failed_sign_ins_are_audited_without_secrets(identity, backend):
    identity.create_user("alice", password="correct horse battery")
    made = identity.create_token("alice", "laptop")
    identity.revoke_token(made.token.token_id)
    with pytest.raises(Unauthenticated):
        identity.authenticate_password("alice", "wrong password!!")
    events = AuditService(backend.db).events()
    assert [e.action for e in events] == ["user.create", "token.create", "token.revoke", "login.failed"]
    assert all(e.actor == "root" for e in events)
    assert events[1].target_id == made.token.token_id
    text = repr(events)
    assert made.secret not in text and "correct horse" not in text and "wrong password" not in text
