"""The runs table's state, all of it in the query string, and its columns.

A link to the table reproduces it exactly: ``filter``, ``order``, ``col`` (repeated; one
``metrics.<key>``, ``params.<key>`` or ``tags.<key>`` each), ``cols`` (set when the picker chose
the columns, so that choosing none is remembered), ``max``, ``view``, ``flat`` and the keyset
``page_token`` with the page number it stands for.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from runstone.entities import Run
from runstone.errors import InvalidInput
from runstone.tracking import tags as system_tags
from runstone.tracking.browse import ExperimentKeys

PAGE_SIZES = (25, 50, 100, 250, 500, 1000)
DEFAULT_PAGE_SIZE = 100
DEFAULT_ORDER = "attributes.start_time DESC"
DEFAULT_COLUMNS_SAMPLE = 20  # runs whose metric keys choose the default columns
VIEWS = {"active": "ACTIVE_ONLY", "deleted": "DELETED_ONLY", "all": "ALL"}
TOP_LEVEL_FILTER = f"tags.`{system_tags.PARENT_RUN_ID}` IS NULL"
# Tags that are shown in their own columns (or not at all) rather than offered in the picker.
SHOWN_TAGS = (
    system_tags.SOURCE_NAME,
    system_tags.GIT_COMMIT,
    system_tags.GIT_DIRTY,
    system_tags.PARENT_RUN_ID,
)
HIDDEN_TAGS = frozenset({system_tags.NOTE, system_tags.PARENT_RUN_ID})
ENTITIES = {"metrics": "metric", "params": "param", "tags": "tag"}
_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w.\-/:]*$")


def identifier(prefix: str, key: str) -> str | None:
    """The filter-grammar name of a key (``metrics.loss``, ``params.`my key```), or None when
    the key cannot be written in the grammar."""
    if _PLAIN_KEY.match(key):
        return f"{prefix}.{key}"
    if "`" in key:
        return None
    return f"{prefix}.`{key}`"


@dataclass(frozen=True)
class Column:
    """One column of the table: a fixed attribute or a chosen metric, param or tag."""

    id: str  # the value of ``col`` for chosen columns, the attribute name for fixed ones
    label: str
    kind: str  # attribute, metric, param, tag
    key: str
    sort: str | None  # the order_by field, None when the column cannot be sorted
    numeric: bool = False

    def value(self, run: Run) -> Any:
        if self.kind == "metric":
            return run.data.metrics.get(self.key)
        if self.kind == "param":
            return run.data.params.get(self.key)
        if self.kind == "tag":
            return run.data.tags.get(self.key)
        return None


FIXED_COLUMNS = (
    Column("run_name", "Run", "attribute", "run_name", "attributes.run_name"),
    Column("status", "Status", "attribute", "status", "attributes.status"),
    Column("start_time", "Started (UTC)", "attribute", "start_time", "attributes.start_time"),
    Column("duration", "Duration", "attribute", "duration", "attributes.duration", numeric=True),
    Column("user_id", "User", "attribute", "user_id", "attributes.user_id"),
    Column("source", "Source", "tag", system_tags.SOURCE_NAME, identifier("tags", system_tags.SOURCE_NAME)),
    Column("commit", "Git commit", "tag", system_tags.GIT_COMMIT, identifier("tags", system_tags.GIT_COMMIT)),
)


def chosen_column(col: str) -> Column:
    prefix, dot, key = col.partition(".")
    if not dot or prefix not in ENTITIES or not key:
        raise InvalidInput(f"Unknown column {col!r}; use metrics.<key>, params.<key> or tags.<key>.")
    kind = ENTITIES[prefix]
    return Column(col, key, kind, key, identifier(prefix, key), numeric=kind == "metric")


@dataclass(frozen=True)
class TableState:
    filter: str = ""
    order: str = DEFAULT_ORDER
    columns: tuple[str, ...] = ()
    picked: bool = False
    max: int = DEFAULT_PAGE_SIZE
    view: str = "active"
    flat: bool = False
    page_token: str | None = None
    page: int = 1
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, query: Mapping[str, Any], cols: Sequence[str]) -> TableState:
        size_text = query.get("max") or str(DEFAULT_PAGE_SIZE)
        try:
            size = int(size_text)
        except ValueError:
            raise InvalidInput(f"Page size must be a number, got {size_text!r}.") from None
        if not 1 <= size <= max(PAGE_SIZES):
            raise InvalidInput(f"Page size must be between 1 and {max(PAGE_SIZES)}.")
        view = query.get("view") or "active"
        if view not in VIEWS:
            raise InvalidInput(f"Unknown view {view!r}; use active, deleted or all.")
        page_text = query.get("page") or "1"
        page = int(page_text) if page_text.isdigit() and 0 < int(page_text) < 10**9 else 1
        for col in cols:
            chosen_column(col)
        return cls(
            filter=(query.get("filter") or "").strip(),
            order=(query.get("order") or DEFAULT_ORDER).strip(),
            columns=tuple(dict.fromkeys(cols)),
            picked=bool(query.get("cols")),
            max=size,
            view=view,
            flat=query.get("flat") == "1",
            page_token=query.get("page_token") or None,
            page=page if query.get("page_token") else 1,
        )

    @property
    def nested(self) -> bool:
        """Nested runs are shown under their parents unless a filter is set or ``flat`` is asked."""
        return not self.filter and not self.flat

    @property
    def view_type(self) -> str:
        return VIEWS[self.view]

    def search_filter(self) -> str:
        if self.nested:
            return TOP_LEVEL_FILTER
        return self.filter

    def query(self, **changes: Any) -> str:
        """The query string of this state with ``changes`` (page position resets unless given)."""
        state = replace(self, **{"page_token": None, "page": 1, **changes})
        pairs: list[tuple[str, str]] = []
        if state.filter:
            pairs.append(("filter", state.filter))
        if state.order != DEFAULT_ORDER:
            pairs.append(("order", state.order))
        if state.picked:
            pairs.append(("cols", "1"))
        pairs += [("col", c) for c in state.columns]
        if state.max != DEFAULT_PAGE_SIZE:
            pairs.append(("max", str(state.max)))
        if state.view != "active":
            pairs.append(("view", state.view))
        if state.flat:
            pairs.append(("flat", "1"))
        if state.page_token:
            pairs += [("page_token", state.page_token), ("page", str(state.page))]
        return urllib.parse.urlencode(pairs)

    def sort_state(self, column: Column) -> str | None:
        """'ascending' / 'descending' when the table is sorted by this column."""
        if column.sort is None:
            return None
        parts = self.order.rsplit(None, 1)
        field_name, direction = (parts[0], parts[1].upper()) if len(parts) == 2 else (self.order, "ASC")
        if direction not in ("ASC", "DESC"):
            field_name, direction = self.order, "ASC"
        if field_name != column.sort:
            return None
        return "ascending" if direction == "ASC" else "descending"

    def sort_query(self, column: Column) -> str | None:
        if column.sort is None:
            return None
        current = self.sort_state(column)
        if current == "ascending":
            return self.query(order=f"{column.sort} DESC")
        if current == "descending":
            return self.query(order=f"{column.sort} ASC")
        first = "ASC" if column.kind in ("param", "tag") or column.key in ("run_name", "status", "user_id") else "DESC"
        return self.query(order=f"{column.sort} {first}")


def default_columns(metric_keys: Sequence[str], runs: Sequence[Run]) -> tuple[str, ...]:
    """Without a choice in the URL, from the keys of the runs on the page: every metric and param
    when there are few, else the first five of each."""
    param_keys = sorted({k for r in runs for k in r.data.params})
    metrics = [f"metrics.{k}" for k in sorted(metric_keys)]
    params = [f"params.{k}" for k in param_keys]
    if len(metrics) + len(params) <= 10:
        return tuple(metrics + params)
    return tuple(metrics[:5] + params[:5])


def has_choice(state: TableState) -> bool:
    return state.picked or bool(state.columns)


def projection(columns: Sequence[Column] | None) -> dict[str, list[str] | None]:
    """The keys to load: those of the visible columns; while columns are unchosen, all params
    and no metrics (enough to choose the default columns)."""
    if columns is None:
        return {"params": None, "metrics": [], "tags": list(SHOWN_TAGS)}
    return {
        "params": [c.key for c in columns if c.kind == "param"],
        "metrics": [c.key for c in columns if c.kind == "metric"],
        "tags": list(dict.fromkeys([*SHOWN_TAGS, *(c.key for c in columns if c.kind == "tag")])),
    }


def picker_groups(keys: ExperimentKeys) -> list[tuple[str, str, list[str]]]:
    """(label, col prefix, keys) for the column picker."""
    return [
        ("Metrics", "metrics", keys.metrics),
        ("Params", "params", keys.params),
        ("Tags", "tags", [k for k in keys.tags if k not in HIDDEN_TAGS]),
    ]


@dataclass
class Row:
    run: Run
    depth: int = 0
    parent: tuple[str, str] | None = None  # (run id, name) shown for a nested run listed flat
    children: int = 0


def tree_rows(top: Sequence[Run], children: Mapping[str, Sequence[Run]]) -> list[Row]:
    """Top-level runs, each followed by its nested runs (and theirs), indented."""
    rows: list[Row] = []

    def visit(run: Run, depth: int, seen: frozenset[str]) -> None:
        kids = children.get(run.info.run_id, ())
        rows.append(Row(run, depth, None, len(kids)))
        for kid in kids:
            if kid.info.run_id not in seen:  # a cycle of parent tags must not loop forever
                visit(kid, depth + 1, seen | {kid.info.run_id})

    for run in top:
        visit(run, 0, frozenset({run.info.run_id}))
    return rows
