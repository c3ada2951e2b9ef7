"""The runs table's state, all of it in the query string, and its columns.

A link to the table reproduces it exactly: ``filter``, ``order``, ``col`` (repeated; one
``metrics.<key>``, ``params.<key>`` or ``tags.<key>`` each), ``cols`` (set once the columns are
chosen, so that choosing none is remembered), ``max``, ``view``, ``flat`` and the keyset
``page_token`` with the page number it stands for. What lives in the browser alone: the runs
ticked for an action (kept across pages), the nested runs unfolded, and the direction each
column was last sorted in.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from runstone.entities import Run
from runstone.errors import InvalidInput
from runstone.tracking import tags as system_tags
from runstone.tracking.browse import ExperimentKeys, ExperimentSpread, KeySpread

PAGE_SIZES = (25, 50, 100, 250, 500, 1000)
DEFAULT_PAGE_SIZE = 100
DEFAULT_ORDER = "attributes.start_time DESC"
MAX_DEFAULT_METRICS = 8
MAX_DEFAULT_PARAMS = 8
EXPORT_PAGE = 1000
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
# Metrics whose name says lower is better: sorted ascending first, and their minimum is the best.
_LOWER_WORDS = frozenset({"err", "mse", "mae", "rmse", "mape", "perplexity", "ppl", "wer", "cer", "regret"})


def lower_is_better(metric_key: str) -> bool:
    """True for losses and errors (``val/loss``, ``train_error``, ``rmse``), by their name."""
    key = metric_key.lower()
    if "loss" in key or "error" in key:
        return True
    return any(part in _LOWER_WORDS for part in re.split(r"[^a-z0-9]+", key))


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
        return self.query(order=f"{column.sort} {first_direction(column)}")


def first_direction(column: Column) -> str:
    """The direction of a column's first sort: what a person looks for first in it."""
    if column.kind == "metric":
        return "ASC" if lower_is_better(column.key) else "DESC"
    if column.kind in ("param", "tag") or column.key in ("run_name", "status", "user_id"):
        return "ASC"
    return "DESC"


def default_columns(spread: ExperimentSpread) -> tuple[str, ...]:
    """Without a choice in the URL: the metrics and params whose values vary across the
    experiment's runs, those most runs have first (all of them when nothing varies, as in an
    experiment of one run), shown in name order."""

    def pick(keys: Sequence[KeySpread], most: int) -> list[str]:
        chosen = [k for k in keys if k.varies] or list(keys)
        chosen.sort(key=lambda k: (-k.runs, k.key))
        return sorted(k.key for k in chosen[:most])

    metrics = [f"metrics.{k}" for k in pick(spread.metrics, MAX_DEFAULT_METRICS)]
    params = [f"params.{k}" for k in pick(spread.params, MAX_DEFAULT_PARAMS)]
    return tuple(metrics + params)


def has_choice(state: TableState) -> bool:
    return state.picked or bool(state.columns)


def projection(columns: Sequence[Column]) -> dict[str, list[str] | None]:
    """The keys to load: those of the visible columns, and the tags of the fixed ones."""
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
    children: int = 0  # runs nested directly under this one, folded until asked for


def nested_filter(run_id: str) -> str:
    """The filter that lists the runs nested under a run (the folded rows, for a browser without
    JavaScript)."""
    return f"{identifier('tags', system_tags.PARENT_RUN_ID)} = '{run_id}'"


# The CSV export: the runs of the current view, all pages, with the chosen columns.
EXPORT_FIXED = (
    "run_id",
    "run_name",
    "status",
    "start_time",
    "end_time",
    "duration_s",
    "user",
    "source",
    "git_commit",
    "parent_run_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> Any:
    """A text cell that a spreadsheet would run as a formula is written as text."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def _iso(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def export_header(columns: Sequence[Column]) -> list[str]:
    return [*EXPORT_FIXED, *(c.id for c in columns)]


def export_row(run: Run, columns: Sequence[Column]) -> list[Any]:
    info, tags = run.info, run.data.tags
    duration = (info.end_time - info.start_time) / 1000 if info.end_time is not None and info.start_time else ""
    fixed = [
        info.run_id,
        info.run_name,
        info.status,
        _iso(info.start_time),
        _iso(info.end_time),
        duration,
        info.user_id,
        tags.get(system_tags.SOURCE_NAME, ""),
        tags.get(system_tags.GIT_COMMIT, ""),
        tags.get(system_tags.PARENT_RUN_ID, ""),
    ]
    values = [c.value(run) for c in columns]
    return [_cell(v) for v in fixed] + [("" if v is None else _cell(v)) for v in values]
