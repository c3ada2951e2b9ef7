"""The filter and order-by grammar, parsed without a database."""

from __future__ import annotations

import re

import pytest

from runstone.errors import InvalidInput
from runstone.tracking.search import Comparison, OrderKey, parse_experiment_filter, parse_filter, parse_order_by


def test_blank_filter_matches_everything():
    assert parse_filter(None) == []
    assert parse_filter("   ") == []


def test_metric_and_param_comparison():
    assert parse_filter("metrics.loss < 0.01 and params.C = '1.0'") == [
        Comparison("metric", "loss", "<", 0.01, 1),
        Comparison("param", "C", "=", "1.0", 25),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metric.acc >= 0.9", Comparison("metric", "acc", ">=", 0.9, 1)),
        ("parameters.lr != '0.1'", Comparison("param", "lr", "!=", "0.1", 1)),
        ("tag.team LIKE 'vis%'", Comparison("tag", "team", "LIKE", "vis%", 1)),
        ('tags.team ILIKE "VIS%"', Comparison("tag", "team", "ILIKE", "VIS%", 1)),
        ("attributes.status = 'FINISHED'", Comparison("attribute", "status", "=", "FINISHED", 1)),
        ("status = 'FAILED'", Comparison("attribute", "status", "=", "FAILED", 1)),
        ("attr.start_time > 5", Comparison("attribute", "start_time", ">", 5.0, 1)),
        ("run_name = 'x'", Comparison("attribute", "run_name", "=", "x", 1)),
        ("metrics.`my key` = 1", Comparison("metric", "my key", "=", 1.0, 1)),
        ("params.\"learning rate\" = '1'", Comparison("param", "learning rate", "=", "1", 1)),
        ("metrics.loss <> 1", Comparison("metric", "loss", "!=", 1.0, 1)),
        ("metrics.loss = -1e-3", Comparison("metric", "loss", "=", -0.001, 1)),
        ("params.path = 'it''s'", Comparison("param", "path", "=", "it's", 1)),
        ("tags.note IS NULL", Comparison("tag", "note", "IS NULL", None, 1)),
        ("metrics.acc IS NOT NULL", Comparison("metric", "acc", "IS NOT NULL", None, 1)),
        ("run_id IN ('a', 'b')", Comparison("attribute", "run_id", "IN", ("a", "b"), 1)),
        ("attributes.run_id NOT IN ('a')", Comparison("attribute", "run_id", "NOT IN", ("a",), 1)),
        ("datasets.context = 'training'", Comparison("dataset", "context", "=", "training", 1)),
        ("METRICS.loss < 1", Comparison("metric", "loss", "<", 1.0, 1)),
        ("metrics.loss < 1 AND params.a = 'b'", None),
    ],
)
def test_accepted_forms(text, expected):
    parsed = parse_filter(text)
    if expected is not None:
        assert parsed == [expected]
    else:
        assert parsed  # parses without error


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.loss <", 15, "expected a value"),
        ("metrics.loss < 'a'", 16, "is a number"),
        ("params.C > '1'", 10, "cannot compare the string"),
        ("params.C = 1", 12, "quote the value"),
        ("foo.bar = 1", 1, "unknown entity 'foo'"),
        ("metrics.loss < 1 or params.x = 'y'", 18, "OR is not supported"),
        ("metrics.loss < 1 params.x = 'y'", 18, "expected AND"),
        ("nonsense = 'x'", 1, "unknown attribute"),
        ("metrics. = 1", 10, "missing key"),
        ("metrics.loss ~ 1", 14, "unexpected character"),
        ("metrics.loss IN ('x')", 14, "IN applies to datasets, params, tags and the attributes artifact_uri,"),
        ("attributes.start_time NOT IN ('1')", 23, "NOT IN cannot compare the number 'start_time'"),
        ("run_id IN 'a'", 11, "expected '('"),
        ("run_id IN ('a' 'b')", 16, "expected ',' or ')'"),
        ("datasets.size = 'x'", 1, "unknown dataset field"),
        ("metrics.loss LIKE 1", 14, "cannot compare the number"),
        ("tags.t IS", 10, "expected NULL"),
        ("= 1", 1, "expected an identifier"),
    ],
)
def test_errors_name_the_position(text, position, fragment):
    with pytest.raises(InvalidInput, match=re.escape(fragment)) as info:
        parse_filter(text)
    assert info.value.details["position"] == position
    assert f"position {position}" in info.value.message


def test_order_by():
    assert parse_order_by(["metrics.loss ASC", "params.C desc", "start_time"]) == [
        OrderKey("metric", "loss", True),
        OrderKey("param", "C", False),
        OrderKey("attribute", "start_time", True),
    ]


@pytest.mark.parametrize(
    ("clause", "fragment"),
    [
        ("metrics.loss UP", "expected ASC or DESC"),
        ("bogus", "unknown attribute"),
        ("datasets.name", "cannot order by datasets"),
    ],
)
def test_order_by_errors(clause, fragment):
    with pytest.raises(InvalidInput, match=fragment):
        parse_order_by([clause])


def test_experiment_filter():
    assert parse_experiment_filter("name LIKE 'iris%' and tags.team = 'a'") == [
        Comparison("attribute", "name", "LIKE", "iris%", 1),
        Comparison("tag", "team", "=", "a", 23),
    ]
    with pytest.raises(InvalidInput, match="attributes of experiments are creation_time, last_update_time, name"):
        parse_experiment_filter("status = 'x'")
    with pytest.raises(InvalidInput, match="is a number"):
        parse_experiment_filter("creation_time > 'x'")
    with pytest.raises(InvalidInput, match="position 11: experiments cannot be searched with IN"):
        parse_experiment_filter("tags.team IN ('a')")


def test_params_and_tags_take_in_and_not_in():
    assert parse_filter("params.optimizer IN ('adam', 'sgd') and tags.team NOT IN ('nlp')") == [
        Comparison("param", "optimizer", "IN", ("adam", "sgd"), 1),
        Comparison("tag", "team", "NOT IN", ("nlp",), 41),
    ]
    with pytest.raises(InvalidInput, match="IN takes quoted strings"):
        parse_filter("params.C IN (1, 2)")


def test_registry_grammars():
    from runstone.tracking.search import MODEL_VERSIONS, REGISTERED_MODELS

    assert parse_filter("name LIKE 'fraud%' and tags.team = 'risk'", REGISTERED_MODELS)[0].key == "name"
    with pytest.raises(InvalidInput, match="registered models cannot be filtered by metrics"):
        parse_filter("metrics.acc > 1", REGISTERED_MODELS)
    parsed = parse_filter("name = 'm' and version_number >= 2 and run_id IN ('a', 'b')", MODEL_VERSIONS)
    assert [(c.key, c.op) for c in parsed] == [("name", "="), ("version_number", ">="), ("run_id", "IN")]
    with pytest.raises(InvalidInput, match="'version_number' is a number"):
        parse_filter("version_number = '2'", MODEL_VERSIONS)


def test_filters_are_bounded_before_they_reach_the_database():
    from runstone.tracking.search import MAX_COMPARISONS, MAX_FILTER_LENGTH, MAX_ORDER_KEYS, MAX_SET_VALUES

    at_limit = " and ".join(f"metrics.m{i} > 0" for i in range(MAX_COMPARISONS))
    assert len(parse_filter(at_limit)) == MAX_COMPARISONS
    with pytest.raises(InvalidInput, match=f"at most {MAX_COMPARISONS} comparisons"):
        parse_filter(at_limit + " and metrics.one_more > 0")
    with pytest.raises(InvalidInput, match=f"at most {MAX_FILTER_LENGTH}"):
        parse_filter("params.p = '" + "x" * MAX_FILTER_LENGTH + "'")
    values = ", ".join(f"'v{i}'" for i in range(MAX_SET_VALUES + 1))
    with pytest.raises(InvalidInput, match=f"IN takes at most {MAX_SET_VALUES} values"):
        parse_filter(f"params.p IN ({values})")
    with pytest.raises(InvalidInput, match=f"at most {MAX_ORDER_KEYS} clauses"):
        parse_order_by([f"metrics.m{i}" for i in range(MAX_ORDER_KEYS + 1)])
