"""Reports: a page of Markdown with live panels and tables of experiments embedded by one-line
directives, kept with the history of its edits.

A line ``@panel experiment=<id> metric=<key> [runs=<n>]`` embeds a chart of the metric for the
experiment's ``n`` most recent runs (10 unless given); ``@table experiment=<id>
[columns=metrics.loss,params.lr] [runs=<n>]`` embeds a table of those runs. The page reads them
live; its HTML export holds them as they were when exported. ``@run id=<run id>`` and
``@model name=<model> version=<n>`` attach a run page and a model version page (a card linking
to it, with its name and status read when the report is opened).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from runstone.entities import Report
from runstone.errors import InvalidInput
from runstone.governance import permissions
from runstone.governance.context import Context
from runstone.governance.permissions import Permission
from runstone.store import experiments as experiment_store
from runstone.store import reports as report_store

MAX_TITLE = 300
MAX_BODY = 200_000
MAX_EMBEDS = 30
MAX_RUNS = 100
MAX_LISTED = 500
_DIRECTIVE = re.compile(r"^@(panel|table|run|model)\b(.*)$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_COLUMN = re.compile(r"^(metrics|params|tags)\.[^,\s]+$")


@dataclass(frozen=True)
class Text:
    markdown: str


@dataclass(frozen=True)
class Panel:
    experiment_id: str
    key: str
    runs: int


@dataclass(frozen=True)
class RunsTable:
    experiment_id: str
    columns: tuple[str, ...]
    runs: int


@dataclass(frozen=True)
class Attachment:
    kind: str  # run or model
    run_id: str = ""
    model: str = ""
    version: str = ""


Block = Text | Panel | RunsTable | Attachment


def _options(number: int, text: str) -> dict[str, str]:
    out = {}
    for token in text.split():
        name, eq, value = token.partition("=")
        if not eq or not value:
            raise InvalidInput(f"Line {number}: write options as name=value, not {token[:100]!r}.")
        out[name] = value
    return out


def blocks(body: str) -> list[Block]:
    """The report's Markdown between its embedded panels and tables; bad directives are refused
    with their line number."""
    out: list[Block] = []
    text: list[str] = []
    embeds = 0
    for number, line in enumerate(body.split("\n"), start=1):
        found = _DIRECTIVE.match(line.strip())
        if not found:
            text.append(line)
            continue
        embeds += 1
        if embeds > MAX_EMBEDS:
            raise InvalidInput(f"A report embeds at most {MAX_EMBEDS} panels and tables.")
        if text:
            out.append(Text("\n".join(text)))
            text = []
        kind, options = found[1], _options(number, found[2])
        allowed = {
            "panel": {"experiment", "metric", "runs"},
            "table": {"experiment", "columns", "runs"},
            "run": {"id"},
            "model": {"name", "version"},
        }[kind]
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise InvalidInput(f"Line {number}: @{kind} takes {', '.join(sorted(allowed))}, not {unknown[0]!r}.")
        if kind == "run":
            if not _RUN_ID.match(options.get("id", "")):
                raise InvalidInput(f"Line {number}: @run needs id=<run id> (32 hex characters).")
            out.append(Attachment("run", run_id=options["id"]))
            continue
        if kind == "model":
            if not options.get("name") or not options.get("version", "").isdigit():
                raise InvalidInput(f"Line {number}: @model needs name=<registered model> and version=<number>.")
            out.append(Attachment("model", model=options["name"], version=options["version"]))
            continue
        experiment = options.get("experiment", "")
        if not experiment.isdigit():
            raise InvalidInput(f"Line {number}: @{kind} needs experiment=<experiment id>.")
        runs_text = options.get("runs", "10")
        if not runs_text.isdigit() or not 1 <= int(runs_text) <= MAX_RUNS:
            raise InvalidInput(f"Line {number}: runs= is a number from 1 to {MAX_RUNS}.")
        if kind == "panel":
            if not options.get("metric"):
                raise InvalidInput(f"Line {number}: @panel needs metric=<metric key>.")
            out.append(Panel(experiment, options["metric"], int(runs_text)))
        else:
            columns = tuple(c for c in options.get("columns", "").split(",") if c)
            bad = [c for c in columns if not _COLUMN.match(c)]
            if bad:
                raise InvalidInput(
                    f"Line {number}: a column is metrics.<key>, params.<key> or tags.<key>, not {bad[0]!r}."
                )
            out.append(RunsTable(experiment, columns, int(runs_text)))
    if text:
        out.append(Text("\n".join(text)))
    return out


def _checked(title: str, body: str) -> tuple[str, str]:
    clean = title.strip()
    if not clean:
        raise InvalidInput("Give the report a title.")
    if len(clean) > MAX_TITLE:
        raise InvalidInput(f"A report title is at most {MAX_TITLE} characters, not {len(clean)}.")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"A report is at most {MAX_BODY:,} characters of Markdown, not {len(body):,}.")
    text = body.replace("\r\n", "\n")
    blocks(text)
    return clean, text


class ReportService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_reports(self) -> list[Report]:
        with self.ctx.transaction() as s:
            return report_store.list_all(s, MAX_LISTED)

    def get_report(self, report_id: str, revision: int | None = None) -> Report:
        with self.ctx.transaction() as s:
            return report_store.get(s, report_store.parse_id(report_id), revision)

    def revisions(self, report_id: str) -> list[Report]:
        with self.ctx.transaction() as s:
            return report_store.revisions(s, report_store.parse_id(report_id))

    def create_report(self, title: str, body: str) -> Report:
        clean, text = _checked(title, body)
        with self.ctx.transaction(write=True) as s:
            report = report_store.insert(s, clean, text, self.ctx.principal.user, self.ctx.clock())
            self.ctx.audit.write(s, "report.create", "report", report.report_id, None, {"title": clean, "revision": 1})
        return report

    def update_report(self, report_id: str, title: str, body: str) -> Report:
        internal = report_store.parse_id(report_id)
        clean, text = _checked(title, body)
        with self.ctx.transaction(write=True) as s:
            report = report_store.add_revision(s, internal, clean, text, self.ctx.principal.user, self.ctx.clock())
            self.ctx.audit.write(
                s, "report.update", "report", report.report_id, {"revision": report.revision - 1},
                {"title": clean, "revision": report.revision},
            )  # fmt: skip
        return report

    def require_readable(self, report: Report) -> list[Block]:
        """The report's blocks, once the caller is known to read every experiment it embeds."""
        parsed = blocks(report.body)
        wanted = sorted({b.experiment_id for b in parsed if isinstance(b, (Panel, RunsTable))}, key=int)
        with self.ctx.transaction() as s:
            for experiment_id in wanted:
                internal = experiment_store.parse_id(experiment_id)
                experiment_store.get_row(s, internal)
                permissions.require(s, self.ctx.principal, Permission.READ, "experiment", str(internal))
        return parsed
