"""Experiments on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from runstone.errors import AlreadyExists, InvalidInput, InvalidState, NotFound


def test_create_get_and_get_by_name(tracking, clock):
    experiment_id = tracking.create_experiment("iris", {"team": "vision"})
    experiment = tracking.get_experiment(experiment_id)
    assert experiment.name == "iris"
    assert experiment.tags == {"team": "vision"}
    assert experiment.lifecycle_stage == "active"
    assert experiment.creation_time == clock.now
    assert experiment.artifact_location.endswith(f"/{experiment_id}")
    assert tracking.get_experiment_by_name("iris").experiment_id == experiment_id


def test_duplicate_name_is_rejected(tracking):
    tracking.create_experiment("iris")
    with pytest.raises(AlreadyExists, match="'iris' already exists"):
        tracking.create_experiment("iris")


@pytest.mark.parametrize("name", ["", "   ", "x" * 501])
def test_invalid_names(tracking, name):
    with pytest.raises(InvalidInput, match="Experiment name"):
        tracking.create_experiment(name)


def test_unknown_experiment(tracking):
    with pytest.raises(NotFound, match="No experiment with id 42"):
        tracking.get_experiment("42")
    with pytest.raises(NotFound, match="No experiment named 'nope'"):
        tracking.get_experiment_by_name("nope")
    with pytest.raises(InvalidInput, match="decimal number"):
        tracking.get_experiment("abc")


def test_rename(tracking, clock):
    experiment_id = tracking.create_experiment("old")
    tracking.create_experiment("taken")
    clock.advance(1000)
    tracking.rename_experiment(experiment_id, "new")
    experiment = tracking.get_experiment(experiment_id)
    assert experiment.name == "new"
    assert experiment.last_update_time == clock.now
    with pytest.raises(AlreadyExists):
        tracking.rename_experiment(experiment_id, "taken")


def test_tags_set_overwrite_delete(tracking):
    experiment_id = tracking.create_experiment("e")
    tracking.set_experiment_tag(experiment_id, "k", "v1")
    tracking.set_experiment_tag(experiment_id, "k", "v2")
    assert tracking.get_experiment(experiment_id).tags == {"k": "v2"}
    tracking.delete_experiment_tag(experiment_id, "k")
    assert tracking.get_experiment(experiment_id).tags == {}
    with pytest.raises(NotFound, match="no tag 'k'"):
        tracking.delete_experiment_tag(experiment_id, "k")


def test_soft_delete_cascades_to_runs_and_restore_brings_them_back(tracking, clock):
    experiment_id = tracking.create_experiment("e")
    kept = tracking.create_run(experiment_id).info.run_id
    deleted_earlier = tracking.create_run(experiment_id).info.run_id
    tracking.delete_run(deleted_earlier)
    clock.advance(10)
    tracking.delete_experiment(experiment_id)
    assert tracking.get_experiment(experiment_id).lifecycle_stage == "deleted"
    assert tracking.get_run(kept).info.lifecycle_stage == "deleted"
    with pytest.raises(InvalidState, match="is deleted"):
        tracking.create_run(experiment_id)

    tracking.restore_experiment(experiment_id)
    assert tracking.get_experiment(experiment_id).lifecycle_stage == "active"
    assert tracking.get_run(kept).info.lifecycle_stage == "active"
    # A run deleted on its own before the experiment stays deleted.
    assert tracking.get_run(deleted_earlier).info.lifecycle_stage == "deleted"


def test_delete_twice_and_restore_active_are_errors(tracking):
    experiment_id = tracking.create_experiment("e")
    with pytest.raises(InvalidState, match="not deleted"):
        tracking.restore_experiment(experiment_id)
    tracking.delete_experiment(experiment_id)
    with pytest.raises(InvalidState, match="already deleted"):
        tracking.delete_experiment(experiment_id)
    with pytest.raises(InvalidInput, match="Default experiment cannot be deleted"):
        tracking.delete_experiment("0")


def test_search_by_name_view_type_and_paging(tracking, clock):
    ids = []
    for name in ["iris-a", "iris-b", "mnist", "Iris-c"]:
        clock.advance(1)
        ids.append(tracking.create_experiment(name, {"team": "vision" if "iris" in name.lower() else "nlp"}))
    tracking.delete_experiment(ids[1])

    names = [e.name for e in tracking.search_experiments(filter_string="name LIKE 'iris%'")]
    assert names == ["iris-a"]
    names = {e.name for e in tracking.search_experiments(filter_string="name ILIKE 'iris%'", view_type="all")}
    assert names == {"iris-a", "iris-b", "Iris-c"}
    deleted = [e.name for e in tracking.search_experiments(view_type="deleted_only")]
    assert deleted == ["iris-b"]
    tagged = {e.name for e in tracking.search_experiments(filter_string="tags.team = 'nlp'")}
    assert tagged == {"mnist", "Default"} - {"Default"}

    seen = []
    token = None
    while True:
        page = tracking.search_experiments(max_results=1, page_token=token, order_by=["name ASC"], view_type="all")
        seen += [e.name for e in page]
        token = page.next_page_token
        if token is None:
            break
    assert seen == sorted(["Default", "iris-a", "iris-b", "mnist", "Iris-c"])


def test_search_rejects_bad_input(tracking):
    with pytest.raises(InvalidInput, match="Cannot order experiments by 'size'"):
        tracking.search_experiments(order_by=["size"])
    with pytest.raises(InvalidInput, match="Invalid page token"):
        tracking.search_experiments(page_token="garbage!")
    with pytest.raises(InvalidInput, match="max_results must be between 1 and"):
        tracking.search_experiments(max_results=0)


def test_run_counts(tracking):
    experiment_id = tracking.create_experiment("e")
    for _ in range(3):
        tracking.create_run(experiment_id)
    assert tracking.experiment_run_counts([experiment_id, "0"]) == {experiment_id: 3, "0": 0}
