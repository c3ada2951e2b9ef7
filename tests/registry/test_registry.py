"""Registered models, versions, tags, aliases, stages and their history (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from runstone.errors import AlreadyExists, InvalidInput, InvalidState, NotFound


def test_create_get_rename_describe_delete(registry):
    model = registry.create_registered_model("fraud", "Catches **fraud**.", {"team": "risk"})
    assert (model.name, model.description, model.tags, model.user_id) == (
        "fraud",
        "Catches **fraud**.",
        {"team": "risk"},
        "alice",
    )
    with pytest.raises(AlreadyExists, match="'fraud' already exists"):
        registry.create_registered_model("fraud")
    registry.update_registered_model("fraud", "new text")
    renamed = registry.rename_registered_model("fraud", "fraud-v2")
    assert renamed.name == "fraud-v2" and renamed.description == "new text"
    with pytest.raises(NotFound, match="Registered model 'fraud' not found"):
        registry.get_registered_model("fraud")
    registry.delete_registered_model("fraud-v2")
    with pytest.raises(NotFound):
        registry.get_registered_model("fraud-v2")


@pytest.mark.parametrize("name", ["", "a/b", "a@b", "models:x", "x" * 257])
def test_invalid_model_names(registry, name):
    with pytest.raises(InvalidInput):
        registry.create_registered_model(name)


def test_versions_number_up_and_link_to_their_run(registry, logged_model):
    registry.create_registered_model("fraud")
    first = registry.create_model_version("fraud", logged_model(0.9))
    second = registry.create_model_version("fraud", logged_model(0.95), description="better", tags={"k": "v"})
    assert (first.version, second.version) == ("1", "2")
    assert second.run_id == second.source.split("/")[1]
    assert second.current_stage == "None" and second.status == "READY"
    assert registry.get_model_version("fraud", 2).tags == {"k": "v"}
    registry.update_model_version("fraud", "2", "best so far")
    assert registry.get_model_version("fraud", "2").description == "best so far"
    registry.delete_model_version("fraud", "1")
    with pytest.raises(NotFound, match="Model version 1 of registered model 'fraud' not found"):
        registry.get_model_version("fraud", "1")
    assert registry.create_model_version("fraud", logged_model()).version == "3"


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("/etc/passwd", "must be a runs:/"),
        ("file:///etc/passwd", "must be a runs:/"),
        ("s3://bucket/model", "must be a runs:/"),
        ("https://evil.example/model", "must be a runs:/"),
        ("runs:/", "must be a runs:/"),
    ],
)
def test_versions_come_only_from_models_logged_in_runs(registry, source, fragment):
    registry.create_registered_model("m")
    with pytest.raises(InvalidInput, match=fragment):
        registry.create_model_version("m", source)


def test_source_must_hold_a_model(registry, logged_model):
    registry.create_registered_model("m")
    uri = logged_model()
    run_id = uri.split("/")[1]
    with pytest.raises(InvalidInput, match="has no model at 'elsewhere'"):
        registry.create_model_version("m", f"runs:/{run_id}/elsewhere")
    with pytest.raises(InvalidInput, match=r"'\.\.' segments"):
        registry.create_model_version("m", f"runs:/{run_id}/../x")
    with pytest.raises(NotFound, match="No run with id 'nope'"):
        registry.create_model_version("m", "runs:/nope/model")
    with pytest.raises(InvalidInput, match="does not match"):
        registry.create_model_version("m", uri, run_id="other")


def test_tags(registry, logged_model):
    registry.create_registered_model("m")
    registry.create_model_version("m", logged_model())
    registry.set_registered_model_tag("m", "owner", "risk")
    registry.set_model_version_tag("m", "1", "validated", "yes")
    assert registry.get_registered_model("m").tags == {"owner": "risk"}
    assert registry.get_model_version("m", "1").tags == {"validated": "yes"}
    registry.delete_registered_model_tag("m", "owner")
    registry.delete_model_version_tag("m", "1", "validated")
    assert registry.get_registered_model("m").tags == {}
    with pytest.raises(NotFound):
        registry.delete_model_version_tag("m", "1", "validated")


def test_aliases(registry, logged_model):
    registry.create_registered_model("m")
    for _ in range(2):
        registry.create_model_version("m", logged_model())
    registry.set_registered_model_alias("m", "champion", "1")
    registry.set_registered_model_alias("m", "challenger", "2")
    assert registry.get_model_version_by_alias("m", "champion").version == "1"
    assert registry.get_registered_model("m").aliases == {"challenger": "2", "champion": "1"}
    assert registry.get_model_version("m", "2").aliases == ["challenger"]
    registry.set_registered_model_alias("m", "champion", "2")
    assert registry.get_model_version("m", "2").aliases == ["challenger", "champion"]
    registry.delete_registered_model_alias("m", "challenger")
    with pytest.raises(NotFound, match="no alias 'challenger'"):
        registry.get_model_version_by_alias("m", "challenger")
    for bad in ("latest", "v3", "has space", ""):
        with pytest.raises(InvalidInput):
            registry.set_registered_model_alias("m", bad, "1")
    registry.delete_model_version("m", "2")
    with pytest.raises(NotFound):
        registry.get_model_version_by_alias("m", "champion")


def test_stages_with_archiving_and_latest_versions(registry, logged_model):
    registry.create_registered_model("m")
    for _ in range(3):
        registry.create_model_version("m", logged_model())
    registry.transition_model_version_stage("m", "1", "production")
    registry.transition_model_version_stage("m", "2", "Staging")
    moved = registry.transition_model_version_stage("m", "3", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert registry.get_model_version("m", "1").current_stage == "Archived"
    latest = {v.current_stage: v.version for v in registry.get_latest_versions("m")}
    assert latest == {"Staging": "2", "Production": "3", "Archived": "1"}
    assert [v.version for v in registry.get_latest_versions("m", ["Production"])] == ["3"]
    assert {v.current_stage for v in registry.get_registered_model("m").latest_versions} == {
        "Staging",
        "Production",
        "Archived",
    }
    with pytest.raises(InvalidInput, match="Unknown stage 'Live'"):
        registry.transition_model_version_stage("m", "1", "Live")


def test_history_answers_who_held_production_when(registry, logged_model, clock):
    registry.create_registered_model("m")
    for _ in range(3):
        registry.create_model_version("m", logged_model())
    clock.advance(1000)
    registry.transition_model_version_stage("m", "1", "Production", reason="first release")
    t1 = clock.now
    clock.advance(1000)
    registry.transition_model_version_stage("m", "2", "Production", archive_existing_versions=True)
    t2 = clock.now
    clock.advance(1000)
    registry.set_registered_model_alias("m", "champion", "2")
    registry.set_registered_model_alias("m", "champion", "3")
    assert registry.holders_at("m", time=t1 - 1, stage="Production") == []
    assert registry.holders_at("m", time=t1, stage="Production") == ["1"]
    assert registry.holders_at("m", time=t2, stage="Production") == ["2"]
    assert registry.holders_at("m", time=t2, stage="Archived") == ["1"]
    assert registry.holders_at("m", time=clock.now, alias="champion") == ["3"]
    history = registry.get_model_history("m")
    first = history[0]
    assert (first.kind, first.target, first.version, first.actor, first.reason) == (
        "stage",
        "Production",
        "1",
        "alice",
        "first release",
    )
    aliases = registry.get_model_history("m", kind="alias")
    assert [(a.version, a.previous_version) for a in aliases] == [("2", None), ("3", "2")]


def test_search_models_and_versions(registry, logged_model):
    for name in ("fraud-a", "fraud-b", "churn"):
        registry.create_registered_model(name, tags={"team": "risk" if "fraud" in name else "growth"})
    uri = logged_model()
    registry.create_model_version("fraud-a", uri)
    registry.create_model_version("fraud-a", logged_model())
    registry.create_model_version("churn", logged_model())
    names = [m.name for m in registry.search_registered_models("name LIKE 'fraud%'")]
    assert names == ["fraud-a", "fraud-b"]
    assert [m.name for m in registry.search_registered_models("tags.team = 'growth'")] == ["churn"]
    seen, token = [], None
    while True:
        page = registry.search_registered_models(max_results=1, page_token=token, order_by=["name DESC"])
        seen += [m.name for m in page]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["fraud-b", "fraud-a", "churn"]
    versions = registry.search_model_versions("name = 'fraud-a' and version_number >= 2")
    assert [v.version for v in versions] == ["2"]
    run_id = uri.split("/")[1]
    assert [v.version for v in registry.search_model_versions(f"run_id = '{run_id}'")] == ["1"]
    with pytest.raises(InvalidInput, match="model versions cannot be filtered by metrics"):
        registry.search_model_versions("metrics.x > 1")


def test_deleted_run_cannot_be_registered(registry, logged_model):
    registry.create_registered_model("m")
    uri = logged_model()
    registry.tracking.delete_run(uri.split("/")[1])
    with pytest.raises(InvalidState, match="is deleted"):
        registry.create_model_version("m", uri)


def test_registry_changes_are_audited(registry, logged_model):
    from runstone.governance.audit import AuditService

    registry.create_registered_model("m")
    registry.create_model_version("m", logged_model())
    registry.set_registered_model_alias("m", "champion", "1")
    actions = [e.action for e in AuditService(registry.ctx.db).events(target_type="registered_model", target_id="m")]
    assert actions == ["registry.create_model", "registry.create_version", "registry.set_alias"]
