"""Permissions, groups and team prefix grants, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from runstone.errors import InvalidInput, NotFound, PermissionDenied
from runstone.governance.audit import AuditService
from runstone.governance.context import Principal
from runstone.governance.identity import IdentityService
from runstone.governance.permissions import Permission, PermissionService


def _as(backend, clock, user: str, *, admin: bool = False, default: str = "NONE") -> Principal:
    return Principal(user, authenticated=True, is_admin=admin, default_permission=default)


@pytest.fixture
def people(backend, clock):
    identity = IdentityService(backend.context(Principal("root"), clock=clock))
    for name in ("admin", "alice", "bob", "carol"):
        identity.create_user(name, password="a long enough password", admin=name == "admin")
    return {name: _as(backend, clock, name, admin=name == "admin") for name in ("admin", "alice", "bob", "carol")}


def _perms(backend, clock, principal: Principal) -> PermissionService:
    return PermissionService(backend.context(principal, clock=clock))


def test_the_creator_manages_what_it_creates_and_others_see_nothing_by_default(backend, clock, people):
    alice = backend.tracking(backend.context(people["alice"], clock=clock))
    bob = backend.tracking(backend.context(people["bob"], clock=clock))
    mine = alice.create_experiment("alice-exp")
    theirs = bob.create_experiment("bob-exp")
    assert _perms(backend, clock, people["alice"]).standing("experiment", mine).level == Permission.MANAGE
    assert _perms(backend, clock, people["bob"]).standing("experiment", mine).level == Permission.NONE
    # Searches return only what the caller may read: counts and pages follow.
    assert [e.name for e in alice.search_experiments()] == ["alice-exp"]
    assert [e.name for e in bob.search_experiments(max_results=1)] == ["bob-exp"]
    assert bob.search_experiments(max_results=1).next_page_token is None
    # A configured default lets every signed-in user read everything.
    reader = backend.tracking(backend.context(_as(backend, clock, "carol", default="READ"), clock=clock))
    assert {e.name for e in reader.search_experiments()} >= {"alice-exp", "bob-exp"}
    admin = backend.tracking(backend.context(people["admin"], clock=clock))
    assert {e.name for e in admin.search_experiments()} >= {"alice-exp", "bob-exp"}
    assert theirs != mine


def test_grants_to_users_and_groups_and_who_may_give_them(backend, clock, people):
    alice = backend.tracking(backend.context(people["alice"], clock=clock))
    exp = alice.create_experiment("shared")
    owner = _perms(backend, clock, people["alice"])
    with pytest.raises(PermissionDenied, match="MANAGE permission on experiment"):
        _perms(backend, clock, people["bob"]).grant("experiment", exp, "user", "bob", "EDIT")
    owner.grant("experiment", exp, "user", "bob", "READ")
    assert _perms(backend, clock, people["bob"]).standing("experiment", exp).level == Permission.READ
    owner.grant("experiment", exp, "user", "bob", "EDIT")  # a level replaces the previous one
    assert [g for g in owner.grants(resource_id=exp) if g[3] == "bob"] == [("experiment", exp, "user", "bob", "EDIT")]
    # Groups: only admins make them; members hold what the group is granted.
    with pytest.raises(PermissionDenied, match="Only an admin"):
        owner.create_group("team")
    admin = _perms(backend, clock, people["admin"])
    admin.create_group("team")
    admin.add_member("team", "carol")
    assert admin.groups() == {"team": ["carol"]}
    owner.grant("experiment", exp, "group", "team", "READ")
    assert _perms(backend, clock, people["carol"]).standing("experiment", exp).level == Permission.READ
    admin.remove_member("team", "carol")
    assert _perms(backend, clock, people["carol"]).standing("experiment", exp).level == Permission.NONE
    assert owner.revoke("experiment", exp, "user", "bob") == 1
    assert _perms(backend, clock, people["bob"]).standing("experiment", exp).level == Permission.NONE
    # Bad grants are refused, naming what was wrong.
    with pytest.raises(InvalidInput, match="READ, EDIT, MANAGE, APPROVE"):
        owner.grant("experiment", exp, "user", "bob", "OWN")
    with pytest.raises(InvalidInput, match="APPROVE is a permission on a registered model"):
        owner.grant("experiment", exp, "user", "bob", "APPROVE")
    with pytest.raises(NotFound, match="nobody"):
        owner.grant("experiment", exp, "user", "nobody", "READ")
    with pytest.raises(NotFound):
        owner.grant("experiment", "987654", "user", "bob", "READ")
    actions = [e.action for e in AuditService(backend.db).events()]
    assert {"permission.grant", "permission.revoke", "group.create", "group.add_member"} <= set(actions)


def test_team_prefix_grants_reach_what_is_created_later_and_approve_is_a_model_right(backend, clock, people):
    admin = _perms(backend, clock, people["admin"])
    admin.create_group("vision")
    admin.add_member("vision", "bob")
    admin.set_prefix_grant("experiment", "vision/", "vision", "EDIT")
    admin.set_prefix_grant("model", "vision-", "vision", "APPROVE")
    alice_ctx = backend.context(people["alice"], clock=clock)
    exp = backend.tracking(alice_ctx).create_experiment("vision/detector")
    other = backend.tracking(alice_ctx).create_experiment("nlp/tagger")
    backend.registry(alice_ctx).create_registered_model("vision-detector")
    bob = _perms(backend, clock, people["bob"])
    assert bob.standing("experiment", exp).level == Permission.EDIT
    assert bob.standing("experiment", other).level == Permission.NONE
    model = bob.standing("model", "vision-detector")
    assert model.approve and model.level == Permission.NONE
    bob_registry = backend.registry(backend.context(people["bob"], clock=clock))
    assert [m.name for m in bob_registry.search_registered_models()] == ["vision-detector"]
    # Renaming a model keeps its grants; deleting it drops them.
    backend.registry(alice_ctx).rename_registered_model("vision-detector", "vision-detector-2")
    assert bob.standing("model", "vision-detector-2").approve
