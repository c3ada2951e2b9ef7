"""The search grammar shared with MLflow: filters and order-by clauses.

    filter      := comparison ( AND comparison )*
    comparison  := identifier operator value | identifier IS [NOT] NULL
    identifier  := [ entity "." ] key         entity: metrics, params, tags, attributes, datasets
    key         := name | `quoted key` | "quoted key"
    operator    := = | != | <> | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN
    value       := number | 'string' | "string" | ( value, ... )

Parse errors carry the 1-based character position of the problem. A filter is bounded before
it reaches the database: at most ``MAX_FILTER_LENGTH`` characters, ``MAX_COMPARISONS``
comparisons and ``MAX_SET_VALUES`` values in one IN list; ``order_by`` takes at most
``MAX_ORDER_KEYS`` clauses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from runstone.errors import InvalidInput
from runstone.tracking.tags import FROM_MLFLOW, MLFLOW_RUN_NAME

Entity = Literal["metric", "param", "tag", "attribute", "dataset"]

MAX_FILTER_LENGTH = 20_000
MAX_COMPARISONS = 100
MAX_SET_VALUES = 1_000
MAX_ORDER_KEYS = 20

_ENTITY_ALIASES: dict[str, Entity] = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}

# Attribute name -> canonical name. Numeric attributes compare as numbers.
RUN_ATTRIBUTES: dict[str, str] = {
    "run_id": "run_id",
    "run_uuid": "run_id",
    "run_name": "run_name",
    "run name": "run_name",
    "status": "status",
    "user_id": "user_id",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
    "artifact_uri": "artifact_uri",
    "experiment_id": "experiment_id",
    "duration": "duration",
}
NUMERIC_ATTRIBUTES = {"start_time", "end_time", "duration"}
DATASET_FIELDS = {"name", "digest", "context"}

_NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE"}
_SET_OPS = {"IN", "NOT IN"}
_NULL_OPS = {"IS NULL", "IS NOT NULL"}


@dataclass(frozen=True)
class Grammar:
    """What one kind of search understands: its entities and its attributes."""

    subject: str
    entities: frozenset[str]
    attributes: dict[str, str]
    numeric: frozenset[str]
    set_attributes: frozenset[str]
    # Entities whose every key takes IN / NOT IN.
    set_entities: frozenset[str] = frozenset({"dataset"})  # only where the grammar has datasets
    # Entity prefixes of this grammar alone (traces: ``trace.`` and ``metadata.``).
    prefixes: tuple[tuple[str, Entity], ...] = ()


RUNS = Grammar(
    "runs",
    frozenset({"metric", "param", "tag", "attribute", "dataset"}),
    RUN_ATTRIBUTES,
    frozenset(NUMERIC_ATTRIBUTES),
    frozenset(set(RUN_ATTRIBUTES.values()) - NUMERIC_ATTRIBUTES),
    # Params and tags are strings too: `params.optimizer IN ('adam', 'sgd')` reads better than one
    # search per value. A run without the key matches neither IN nor NOT IN.
    frozenset({"dataset", "param", "tag"}),
)
EXPERIMENTS = Grammar(
    "experiments",
    frozenset({"attribute", "tag"}),
    {"name": "name", "creation_time": "creation_time", "last_update_time": "last_update_time"},
    frozenset({"creation_time", "last_update_time"}),
    frozenset(),
)
REGISTERED_MODELS = Grammar(
    "registered models", frozenset({"attribute", "tag"}), {"name": "name"}, frozenset(), frozenset()
)
MODEL_VERSIONS = Grammar(
    "model versions",
    frozenset({"attribute", "tag"}),
    {
        "name": "name",
        "version_number": "version_number",
        "version": "version_number",
        "run_id": "run_id",
        "source_path": "source_path",
        "source": "source_path",
        "current_stage": "current_stage",
        "stage": "current_stage",
    },
    frozenset({"version_number"}),
    frozenset({"run_id", "name", "current_stage"}),
)


def native_tag(key: str, grammar: Grammar) -> tuple[Entity, str]:
    """Where runstone keeps what an MLflow system tag holds (``mlflow.parentRunId`` is
    ``runstone.parentRunId``; ``mlflow.runName`` is the run's name), so that filters and orderings
    may name either."""
    if grammar is RUNS and key == MLFLOW_RUN_NAME:
        return "attribute", "run_name"
    if grammar is RUNS or grammar is EXPERIMENTS:
        return "tag", FROM_MLFLOW.get(key, key)
    return "tag", key


# MLflow's trace filters: ``metadata.<key>`` (request metadata) parses as the ``param`` entity.
TRACES = Grammar(
    "traces",
    frozenset({"attribute", "tag", "param"}),
    {
        "trace_id": "trace_id",
        "request_id": "trace_id",
        "timestamp_ms": "timestamp_ms",
        "timestamp": "timestamp_ms",
        "execution_time_ms": "execution_time_ms",
        "execution_time": "execution_time_ms",
        "status": "state",
        "state": "state",
        "run_id": "run_id",
        "name": "name",
        "client_request_id": "client_request_id",
    },
    frozenset({"timestamp_ms", "execution_time_ms"}),
    frozenset({"trace_id", "state", "run_id", "name", "client_request_id"}),
    frozenset({"tag", "param"}),
    (("trace", "attribute"), ("metadata", "param"), ("request_metadata", "param")),
)


@dataclass(frozen=True)
class Comparison:
    entity: Entity
    key: str
    op: str
    value: float | str | tuple[str, ...] | None
    position: int

    def number(self) -> float:
        """The value of a comparison with a number (TypeError for a list or nothing)."""
        if isinstance(self.value, tuple) or self.value is None:
            raise TypeError(f"{self.key} is compared with {self.value!r}, not a number")
        return float(self.value)


@dataclass(frozen=True)
class OrderKey:
    entity: Entity
    key: str
    ascending: bool


@dataclass(frozen=True)
class _Token:
    kind: str  # word, quoted_id, string, number, op, lparen, rparen, comma, end
    text: str
    position: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<quoted_id>`[^`]*`)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<word>[\w][\w.\-/:]*)
    """,
    re.VERBOSE,
)


def _error(message: str, position: int, text: str) -> InvalidInput:
    return InvalidInput(
        f"Invalid filter at position {position}: {message}",
        {"position": position, "filter": text},
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise _error(f"unexpected character {text[pos]!r}", pos + 1, text)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), pos + 1))
        pos = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _unquote(raw: str) -> str:
    quote = raw[0]
    body = raw[1:-1]
    body = body.replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str, grammar: Grammar = RUNS) -> None:
        self.grammar = grammar
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def is_word(self, *words: str) -> bool:
        return self.current.kind == "word" and self.current.text.upper() in words

    def parse_filter(self) -> list[Comparison]:
        comparisons = [self.parse_comparison()]
        while self.current.kind != "end":
            if not self.is_word("AND"):
                if self.is_word("OR"):
                    raise _error("OR is not supported; combine comparisons with AND", self.current.position, self.text)
                raise _error(f"expected AND, found {self.current.text!r}", self.current.position, self.text)
            if len(comparisons) == MAX_COMPARISONS:
                raise _error(
                    f"a filter may hold at most {MAX_COMPARISONS} comparisons", self.current.position, self.text
                )
            self.advance()
            comparisons.append(self.parse_comparison())
        return comparisons

    def parse_identifier(self) -> tuple[Entity, str, int]:
        token = self.current
        if token.kind == "quoted_id":
            self.advance()
            return "attribute", _unquote(token.text), token.position
        if token.kind == "string" and token.text.startswith('"'):
            self.advance()
            return "attribute", _unquote(token.text), token.position
        if token.kind != "word":
            shown = token.text or "end of filter"
            raise _error(f"expected an identifier such as metrics.loss, found {shown!r}", token.position, self.text)
        self.advance()
        word = token.text
        head, dot, rest = word.partition(".")
        entity = (dict(self.grammar.prefixes).get(head.lower()) or _ENTITY_ALIASES.get(head.lower())) if dot else None
        if entity is None:
            if dot and not rest:
                raise _error(f"missing key after {head!r}.", token.position, self.text)
            if dot and head.lower() not in _ENTITY_ALIASES and head.lower() not in dict(self.grammar.prefixes):
                raise _error(
                    f"unknown entity {head!r}; use metrics., params., tags., attributes. or datasets.",
                    token.position,
                    self.text,
                )
            return "attribute", word, token.position
        if rest:
            return entity, rest, token.position
        # Key given as `quoted` or "quoted" right after "entity."
        key_token = self.current
        if key_token.kind == "quoted_id" or (key_token.kind == "string" and key_token.text.startswith('"')):
            self.advance()
            return entity, _unquote(key_token.text), token.position
        raise _error(f"missing key after {head!r}.", key_token.position, self.text)

    def parse_operator(self) -> tuple[str, int]:
        token = self.current
        if token.kind == "op":
            self.advance()
            return ("!=" if token.text == "<>" else token.text), token.position
        if self.is_word("LIKE", "ILIKE", "IN"):
            self.advance()
            return token.text.upper(), token.position
        if self.is_word("NOT"):
            self.advance()
            if self.is_word("IN"):
                self.advance()
                return "NOT IN", token.position
            if self.is_word("LIKE", "ILIKE"):
                raise _error("NOT LIKE is not supported; use !=", token.position, self.text)
            raise _error("expected IN after NOT", self.current.position, self.text)
        if self.is_word("IS"):
            self.advance()
            if self.is_word("NOT"):
                self.advance()
                if not self.is_word("NULL"):
                    raise _error("expected NULL after IS NOT", self.current.position, self.text)
                self.advance()
                return "IS NOT NULL", token.position
            if not self.is_word("NULL"):
                raise _error("expected NULL after IS", self.current.position, self.text)
            self.advance()
            return "IS NULL", token.position
        shown = token.text or "end of filter"
        raise _error(f"expected a comparison operator, found {shown!r}", token.position, self.text)

    def parse_value(self) -> tuple[float | str, str]:
        token = self.current
        if token.kind == "number":
            self.advance()
            return float(token.text), "number"
        if token.kind == "string":
            self.advance()
            return _unquote(token.text), "string"
        shown = token.text or "end of filter"
        raise _error(f"expected a value (a number or a quoted string), found {shown!r}", token.position, self.text)

    def parse_comparison(self) -> Comparison:
        g = self.grammar
        entity, key, position = self.parse_identifier()
        op, op_position = self.parse_operator()
        if entity not in g.entities:
            allowed = ", ".join(sorted(f"{e}s" for e in g.entities))
            raise _error(f"{g.subject} cannot be filtered by {entity}s; use {allowed}", position, self.text)
        if entity == "attribute":
            canonical = g.attributes.get(key.lower())
            if canonical is None:
                raise _error(
                    f"unknown attribute {key!r}; attributes of {g.subject} are "
                    + ", ".join(sorted(set(g.attributes.values()))),
                    position,
                    self.text,
                )
            key = canonical
        if entity == "dataset" and key not in DATASET_FIELDS:
            raise _error(f"unknown dataset field {key!r}; use name, digest or context", position, self.text)
        if entity == "tag":
            entity, key = native_tag(key, g)

        if op in _NULL_OPS:
            return Comparison(entity, key, op, None, position)
        if op in _SET_OPS:
            value_position = self.current.position
            if self.current.kind != "lparen":
                raise _error(f"expected '(' after {op}", value_position, self.text)
            self.advance()
            values: list[str] = []
            while True:
                value, kind = self.parse_value()
                if kind != "string":
                    raise _error(f"{op} takes quoted strings", value_position, self.text)
                values.append(str(value))
                if len(values) > MAX_SET_VALUES:
                    raise _error(f"{op} takes at most {MAX_SET_VALUES} values", value_position, self.text)
                if self.current.kind == "comma":
                    self.advance()
                    continue
                if self.current.kind == "rparen":
                    self.advance()
                    break
                raise _error("expected ',' or ')'", self.current.position, self.text)
            comparison = Comparison(entity, key, op, tuple(values), position)
            self._check_set(comparison, op_position)
            return comparison
        value_position = self.current.position
        value, kind = self.parse_value()
        comparison = Comparison(entity, key, op, value, position)
        self._check_types(comparison, kind, op_position, value_position)
        return comparison

    def _check_types(self, c: Comparison, kind: str, op_position: int, value_position: int) -> None:
        numeric = c.entity == "metric" or (c.entity == "attribute" and c.key in self.grammar.numeric)
        if numeric:
            if c.op not in _NUMERIC_OPS:
                raise _error(f"{c.op} cannot compare the number {c.key!r}", op_position, self.text)
            if kind != "number":
                raise _error(
                    f"{c.key!r} is a number; compare it with a number, not a string", value_position, self.text
                )
            return
        if kind != "string":
            raise _error(f"{c.key!r} is a string; quote the value", value_position, self.text)
        if c.op not in _STRING_OPS:
            raise _error(
                f"{c.op} cannot compare the string {c.key!r}; use =, !=, LIKE or ILIKE", op_position, self.text
            )

    def _check_set(self, c: Comparison, op_position: int) -> None:
        g = self.grammar
        if c.entity in g.set_entities or (c.entity == "attribute" and c.key in g.set_attributes):
            return
        if c.entity == "attribute" and c.key in g.numeric:
            raise _error(f"{c.op} cannot compare the number {c.key!r}", op_position, self.text)
        allowed = [f"{e}s" for e in sorted(g.set_entities & g.entities)]
        allowed += ["the attributes " + ", ".join(sorted(g.set_attributes))] if g.set_attributes else []
        if not allowed:
            raise _error(f"{g.subject} cannot be searched with {c.op}", op_position, self.text)
        listed = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " and " + allowed[-1]
        raise _error(f"{c.op} applies to {listed} only", op_position, self.text)


def parse_filter(text: str | None, grammar: Grammar = RUNS) -> list[Comparison]:
    """Parse a filter; an empty or blank filter matches everything."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidInput(
            f"The filter is {len(text)} characters long; a filter may be at most {MAX_FILTER_LENGTH}.",
            {"limit": MAX_FILTER_LENGTH},
        )
    return _Parser(text, grammar).parse_filter()


def parse_order_by(clauses: list[str] | None) -> list[OrderKey]:
    if clauses is not None and len(clauses) > MAX_ORDER_KEYS:
        raise InvalidInput(f"order_by takes at most {MAX_ORDER_KEYS} clauses; got {len(clauses)}.")
    keys: list[OrderKey] = []
    for clause in clauses or []:
        if not clause or not clause.strip():
            continue
        if len(clause) > MAX_FILTER_LENGTH:
            raise InvalidInput(f"An order_by clause may be at most {MAX_FILTER_LENGTH} characters.")
        parser = _Parser(clause)
        try:
            entity, key, position = parser.parse_identifier()
        except InvalidInput as exc:
            raise InvalidInput(f"Invalid order_by clause {clause!r}: {exc.message}") from None
        ascending = True
        if parser.is_word("ASC", "DESC"):
            ascending = parser.advance().text.upper() == "ASC"
        if parser.current.kind != "end":
            raise InvalidInput(
                f"Invalid order_by clause {clause!r}: expected ASC or DESC at position "
                f"{parser.current.position}, found {parser.current.text!r}"
            )
        if entity == "attribute":
            canonical = RUN_ATTRIBUTES.get(key.lower())
            if canonical is None:
                raise InvalidInput(f"Invalid order_by clause {clause!r}: unknown attribute {key!r}")
            key = canonical
        if entity == "dataset":
            raise InvalidInput(f"Invalid order_by clause {clause!r}: cannot order by datasets")
        if entity == "tag":
            entity, key = native_tag(key, RUNS)
        del position
        keys.append(OrderKey(entity, key, ascending))
    return keys


def parse_experiment_filter(text: str | None) -> list[Comparison]:
    """Experiment filters: attributes name, creation_time, last_update_time, and tags."""
    return parse_filter(text, EXPERIMENTS)
