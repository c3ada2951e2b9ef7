"""Saved views of an experiment's page, named and listed, each with a stable URL.

A view's state is a JSON object: the runs table's query string (``query``: filter, order,
columns...) and the workspace's settings (``workspace``: grouping, panels, chart controls).
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from runstone.entities import SavedView
from runstone.errors import InvalidInput
from runstone.governance.context import Context
from runstone.store import experiments as experiment_store
from runstone.store import saved_views as view_store

MAX_NAME = 200
MAX_STATE_BYTES = 64 * 1024


def _name(name: str) -> str:
    clean = name.strip()
    if not clean:
        raise InvalidInput("Give the view a name.")
    if len(clean) > MAX_NAME:
        raise InvalidInput(f"A view name is at most {MAX_NAME} characters, not {len(clean)}.")
    if any(ord(c) < 32 for c in clean):
        raise InvalidInput("A view name cannot hold control characters.")
    return clean


def _state(state: object) -> bytes:
    if not isinstance(state, Mapping):
        raise InvalidInput("A view's state must be a JSON object.")
    query = state.get("query", "")
    if not isinstance(query, str):
        raise InvalidInput("A view's state.query must be a query string.")
    if "workspace" in state and not isinstance(state["workspace"], Mapping):
        raise InvalidInput("A view's state.workspace must be a JSON object.")
    try:
        encoded = orjson.dumps(dict(state))
    except TypeError as exc:
        raise InvalidInput(f"A view's state must be JSON: {exc}") from None
    if len(encoded) > MAX_STATE_BYTES:
        raise InvalidInput(f"A view's state is at most {MAX_STATE_BYTES:,} bytes of JSON, not {len(encoded):,}.")
    return encoded


def _audit(view: SavedView) -> dict[str, object]:
    return {"experiment_id": view.experiment_id, "name": view.name, "state": view.state}


class SavedViewService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_views(self, experiment_id: str) -> list[SavedView]:
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction() as s:
            experiment_store.get_row(s, exp_id)
            return view_store.list_for(s, exp_id)

    def get_view(self, experiment_id: str, view_id: str) -> SavedView:
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction() as s:
            return view_store.get(s, exp_id, view_store.parse_id(view_id))

    def create_view(self, experiment_id: str, name: str, state: object) -> SavedView:
        exp_id = experiment_store.parse_id(experiment_id)
        clean, encoded = _name(name), _state(state)
        with self.ctx.transaction(write=True) as s:
            experiment_store.get_row(s, exp_id)
            view = view_store.insert(s, exp_id, clean, encoded, self.ctx.principal.user, self.ctx.clock())
            self.ctx.audit.write(s, "view.create", "view", view.view_id, None, _audit(view))
        return view

    def update_view(
        self, experiment_id: str, view_id: str, *, name: str | None = None, state: object = None
    ) -> SavedView:
        exp_id = experiment_store.parse_id(experiment_id)
        internal = view_store.parse_id(view_id)
        clean = _name(name) if name is not None else None
        encoded = _state(state) if state is not None else None
        with self.ctx.transaction(write=True) as s:
            before, after = view_store.update(s, exp_id, internal, clean, encoded, self.ctx.clock())
            self.ctx.audit.write(s, "view.update", "view", after.view_id, _audit(before), _audit(after))
        return after

    def delete_view(self, experiment_id: str, view_id: str) -> None:
        exp_id = experiment_store.parse_id(experiment_id)
        internal = view_store.parse_id(view_id)
        with self.ctx.transaction(write=True) as s:
            before = view_store.remove(s, exp_id, internal)
            self.ctx.audit.write(s, "view.delete", "view", before.view_id, _audit(before), None)
