"""Read models for browsing: what the web UI shows beside plain search results.

Each method is one read transaction; none writes or audits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from runstone import limits
from runstone.entities import MetricHistory, Run, ViewType
from runstone.errors import InvalidInput, NotFound
from runstone.governance.context import Context
from runstone.store import browse as browse_store
from runstone.store import experiments as experiment_store
from runstone.store import metrics as metric_store
from runstone.store import runs as run_store
from runstone.store import search as search_store
from runstone.tracking import grouping, importance
from runstone.tracking import search as grammar
from runstone.tracking import tags as system_tags

MAX_COMPARED_RUNS = limits.MAX_COMPARED_RUNS
SPREAD_SAMPLE = 200  # recent runs whose keys say which metrics and params vary
MAX_GRID_KEYS = 100  # metric keys of one history-grid read (a batch of workspace panels)
MAX_GRID_POINTS = 2_000_000  # runs x keys x max_points of one history-grid read


@dataclass(frozen=True)
class ExperimentActivity:
    active_runs: int
    last_run_time: int | None


@dataclass(frozen=True)
class ExperimentKeys:
    """The metric, param and tag keys that an experiment's runs use, sorted."""

    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeySpread:
    """How one metric or param key is used by a sample of an experiment's runs."""

    key: str
    runs: int  # runs of the sample that have the key
    values: int  # distinct values among them

    @property
    def varies(self) -> bool:
        return self.values > 1


@dataclass(frozen=True)
class ExperimentSpread:
    """The metric and param keys of an experiment's most recent runs, and how their values vary."""

    sampled: int
    metrics: list[KeySpread] = field(default_factory=list)
    params: list[KeySpread] = field(default_factory=list)


@dataclass(frozen=True)
class RunRef:
    run_id: str
    name: str
    experiment_id: str


class BrowseService:
    def __init__(self, ctx: Context, artifact_root_uri: str) -> None:
        self.ctx = ctx
        self.root = artifact_root_uri

    def activity(self, experiment_ids: Sequence[str]) -> dict[str, ExperimentActivity]:
        """Active run count and last run start/end time per experiment."""
        ids = [experiment_store.parse_id(e) for e in experiment_ids]
        with self.ctx.transaction() as s:
            found = browse_store.activity(s, ids)
        return {str(i): ExperimentActivity(*found.get(i, (0, None))) for i in ids}

    def experiment_keys(self, experiment_id: str, view: str | ViewType | None = None) -> ExperimentKeys:
        exp_id = experiment_store.parse_id(experiment_id)
        stages = ViewType.parse(view).stages()
        with self.ctx.transaction() as s:
            experiment_store.get_row(s, exp_id)
            return ExperimentKeys(
                metrics=browse_store.metric_keys(s, exp_id, stages),
                params=browse_store.param_keys(s, exp_id, stages),
                tags=browse_store.tag_keys(s, exp_id, stages),
            )

    def key_spread(self, experiment_id: str, view: str | ViewType | None = None) -> ExperimentSpread:
        """Which metrics and params vary across the experiment's runs (its most recent
        ``SPREAD_SAMPLE``), whatever a filter or a page shows of them."""
        exp_id = experiment_store.parse_id(experiment_id)
        stages = ViewType.parse(view).stages()
        with self.ctx.transaction() as s:
            experiment_store.get_row(s, exp_id)
            sampled, metrics, params = browse_store.key_spread(s, exp_id, stages, SPREAD_SAMPLE)
        return ExperimentSpread(sampled, [KeySpread(*m) for m in metrics], [KeySpread(*p) for p in params])

    def count_runs(self, experiment_id: str, filter_string: str | None, view: str | ViewType | None = None) -> int:
        """How many of the experiment's runs match a filter (all its pages)."""
        comparisons = grammar.parse_filter(filter_string)
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction() as s:
            return search_store.count_runs(
                s, experiment_ids=[exp_id], comparisons=comparisons, stages=ViewType.parse(view).stages()
            )

    def previous_page_token(
        self,
        experiment_id: str,
        filter_string: str | None,
        view: str | ViewType | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str,
    ) -> str | None:
        """The token of the page of a run search before the page ``page_token`` opens; None when
        that is the first page."""
        if max_results < 1:
            raise InvalidInput("max_results must be at least 1.")
        with self.ctx.transaction() as s:
            return search_store.previous_page_token(
                s,
                experiment_ids=[experiment_store.parse_id(experiment_id)],
                comparisons=grammar.parse_filter(filter_string),
                order_by=grammar.parse_order_by(list(order_by)),
                stages=ViewType.parse(view).stages(),
                max_results=max_results,
                page_token=page_token,
            )

    def child_counts(
        self, experiment_id: str, parent_run_ids: Sequence[str], view: str | ViewType | None = None
    ) -> dict[str, int]:
        """How many runs are nested directly under each given run (parents without any are left out)."""
        exp_id = experiment_store.parse_id(experiment_id)
        stages = ViewType.parse(view).stages()
        with self.ctx.transaction() as s:
            return browse_store.child_counts(s, exp_id, list(parent_run_ids), system_tags.PARENT_RUN_ID, stages)

    def single_point_metrics(self, run_id: str) -> list[str]:
        """The run's metrics logged once: shown as a value rather than drawn as a chart."""
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, [run_id])
            if run_id not in found:
                raise NotFound(f"No run with id {run_id!r}.", {"run_id": run_id})
            return browse_store.single_point_metrics(s, found[run_id])

    def children(
        self,
        experiment_id: str,
        parent_run_ids: Sequence[str],
        view: str | ViewType | None = None,
        *,
        params: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        limit: int = 1000,
    ) -> dict[str, list[Run]]:
        """The experiment's runs nested under each given parent, oldest first, at most ``limit``
        in all; ``params``/``metrics``/``tags`` choose the keys loaded, as in search_runs."""
        exp_id = experiment_store.parse_id(experiment_id)
        stages = ViewType.parse(view).stages()
        out: dict[str, list[Run]] = {p: [] for p in parent_run_ids}
        with self.ctx.transaction() as s:
            pairs = browse_store.children(s, exp_id, list(parent_run_ids), system_tags.PARENT_RUN_ID, stages)[:limit]
            runs = run_store.load(s, [c for _, c in pairs], self.root, params=params, metrics=metrics, tags=tags)
        for (parent, _), run in zip(pairs, runs, strict=True):
            out[parent].append(run)
        return out

    def runs(
        self,
        run_ids: Sequence[str],
        *,
        params: Sequence[str] | None = None,
        metrics: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
    ) -> list[Run]:
        """Runs by id, in the order given; an unknown id is NotFound."""
        wanted = list(dict.fromkeys(run_ids))
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, wanted)
            missing = [r for r in wanted if r not in found]
            if missing:
                raise NotFound(f"No run with id {missing[0]!r}.", {"run_id": missing[0]})
            return run_store.load(s, [found[r] for r in wanted], self.root, params=params, metrics=metrics, tags=tags)

    def run_refs(self, run_ids: Sequence[str]) -> dict[str, RunRef]:
        """Names and experiments of the runs that exist among ``run_ids``."""
        with self.ctx.transaction() as s:
            found = browse_store.names(s, list(run_ids))
        return {r: RunRef(r, name, exp) for r, (name, exp) in found.items()}

    def histories(
        self,
        run_ids: Sequence[str],
        key: str,
        *,
        max_points: int | None = None,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> dict[str, MetricHistory]:
        """One metric's (downsampled) history for each of several runs, in one transaction and, for
        runs that need no downsampling, one query."""
        if len(run_ids) > MAX_COMPARED_RUNS:
            raise InvalidInput(f"Ask for the histories of at most {MAX_COMPARED_RUNS} runs at once.")
        if max_points is not None and max_points < 2:
            raise InvalidInput("max_points must be at least 2.")
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidInput(f"start_step {start_step} is after end_step {end_step}.")
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, list(run_ids))
            read = metric_store.histories(
                s, [found[r] for r in run_ids if r in found], key,
                max_points=max_points, start_step=start_step, end_step=end_step,
            )  # fmt: skip
            return {run_id: read[found[run_id]] for run_id in run_ids if run_id in found}

    def metric_keys_of_runs(self, run_ids: Sequence[str]) -> list[str]:
        """The metric keys that any of the given runs logged, sorted (unknown ids are skipped)."""
        if len(run_ids) > MAX_COMPARED_RUNS:
            raise InvalidInput(f"Ask for the metric keys of at most {MAX_COMPARED_RUNS} runs at once.")
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, list(dict.fromkeys(run_ids)))
            return metric_store.keys_for_runs(s, list(found.values())) if found else []

    def history_grid(
        self,
        run_ids: Sequence[str],
        keys: Sequence[str],
        *,
        max_points: int,
        start_step: int | None = None,
        end_step: int | None = None,
    ) -> dict[str, dict[str, MetricHistory]]:
        """Many metrics' downsampled histories for many runs, in one read transaction: what a
        workspace draws for a batch of panels. Keyed by metric key, then run id; runs that do not
        exist are left out."""
        runs = list(dict.fromkeys(run_ids))
        wanted = list(dict.fromkeys(keys))
        if not runs or not wanted:
            raise InvalidInput("Name at least one run and one metric key.")
        if len(runs) > MAX_COMPARED_RUNS:
            raise InvalidInput(f"Ask for the histories of at most {MAX_COMPARED_RUNS} runs at once, not {len(runs)}.")
        if len(wanted) > MAX_GRID_KEYS:
            raise InvalidInput(f"Ask for at most {MAX_GRID_KEYS} metric keys at once, not {len(wanted)}.")
        if max_points < 2:
            raise InvalidInput("max_points must be at least 2.")
        if len(runs) * len(wanted) * max_points > MAX_GRID_POINTS:
            raise InvalidInput(
                f"{len(runs)} runs x {len(wanted)} keys x {max_points} points is more than the "
                f"{MAX_GRID_POINTS:,} points one request may ask for: ask for fewer keys or points."
            )
        if start_step is not None and end_step is not None and start_step > end_step:
            raise InvalidInput(f"start_step {start_step} is after end_step {end_step}.")
        out: dict[str, dict[str, MetricHistory]] = {}
        with self.ctx.transaction() as s:
            found = run_store.ids_for_uuids(s, runs)
            internal = [found[r] for r in runs if r in found]
            if start_step is None and end_step is None:
                grid = metric_store.histories_grid(s, internal, wanted, max_points=max_points)
                return {key: {r: grid[key][found[r]] for r in runs if r in found} for key in wanted}
            for key in wanted:  # a zoomed range: one key or two
                read = metric_store.histories(
                    s, internal, key, max_points=max_points, start_step=start_step, end_step=end_step
                )
                out[key] = {r: read[found[r]] for r in runs if r in found}
        return out

    def group_runs(
        self,
        experiment_id: str,
        filter_string: str | None,
        view: str | ViewType | None,
        order_by: Sequence[str],
        group_by: Sequence[str],
        metrics: Sequence[str],
    ) -> tuple[list[grouping.RunGroup], int]:
        """The experiment's runs that match a filter (the first ``MAX_GROUPED_RUNS`` in the given
        order) grouped by params or tags, with aggregates of ``metrics``; and how many runs match."""
        keys = grouping.parse_keys(group_by)
        comparisons = grammar.parse_filter(filter_string)
        exp_id = experiment_store.parse_id(experiment_id)
        stages = ViewType.parse(view).stages()
        with self.ctx.transaction() as s:
            experiment_store.get_row(s, exp_id)
            page = search_store.search_run_ids(
                s,
                experiment_ids=[exp_id],
                comparisons=comparisons,
                order_by=grammar.parse_order_by(list(order_by)),
                stages=stages,
                max_results=grouping.MAX_GROUPED_RUNS,
                page_token=None,
            )
            runs = run_store.load(
                s,
                page.run_ids,
                self.root,
                params=[k.key for k in keys if k.kind == "param"],
                tags=[k.key for k in keys if k.kind == "tag"],
                metrics=list(metrics),
            )
            matching = (
                len(runs)
                if page.next_page_token is None
                else search_store.count_runs(s, experiment_ids=[exp_id], comparisons=comparisons, stages=stages)
            )
        return grouping.group(runs, keys, list(metrics)), matching

    def parameter_importance(
        self, experiment_id: str, filter_string: str | None, view: str | ViewType | None, metric: str
    ) -> importance.Importance:
        """Each param's correlation with ``metric`` and its model-based importance, over the
        experiment's runs that match the filter (the ``MAX_GROUPED_RUNS`` most recent)."""
        if not metric:
            raise InvalidInput("Name the metric whose parameter importance to compute.")
        comparisons = grammar.parse_filter(filter_string)
        exp_id = experiment_store.parse_id(experiment_id)
        with self.ctx.transaction() as s:
            experiment_store.get_row(s, exp_id)
            page = search_store.search_run_ids(
                s,
                experiment_ids=[exp_id],
                comparisons=comparisons,
                order_by=grammar.parse_order_by(["attributes.start_time DESC"]),
                stages=ViewType.parse(view).stages(),
                max_results=grouping.MAX_GROUPED_RUNS,
                page_token=None,
            )
            runs = run_store.load(s, page.run_ids, self.root, metrics=[metric], tags=[])
        return importance.importance(runs, metric)
