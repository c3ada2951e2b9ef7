"""What the pages print for values: durations, numbers, Markdown, previews of files."""

from __future__ import annotations

import math

import pytest

from runstone.ui import formatting, previews
from runstone.ui.runs_table import TableState, identifier
from runstone.ui.web import safe_next


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        (0, 250, "250 ms"),
        (0, 12_300, "12.3 s"),
        (0, 65_000, "1 min 5 s"),
        (0, 7_500_000, "2 h 5 min"),
        (0, 90_000_000, "1 d 1 h"),
        (0, None, ""),
    ],
)
def test_durations(start, end, shown):
    assert formatting.duration(start, end) == shown


def test_numbers_are_short_and_spell_out_nan_and_infinity():
    assert formatting.number(0.123456789) == "0.123457"
    assert formatting.number(1e-12) == "1e-12"
    assert formatting.number(math.nan) == "NaN"
    assert formatting.number(-math.inf) == "-Infinity"
    assert formatting.full_number(0.123456789) == "0.123456789"


def test_markdown_keeps_formatting_and_drops_raw_html():
    html = str(
        formatting.markdown("**bold** <b onclick=x>raw</b>\n\n[a](javascript:alert(1)) [b](https://example.org)")
    )
    assert "<strong>bold</strong>" in html
    assert "&lt;b onclick=x&gt;" in html
    assert 'href="javascript' not in html
    assert '<a href="https://example.org">b</a>' in html


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("a/b.PNG", "image"),
        ("r.html", "html"),
        ("x.csv", "csv"),
        ("x.tsv", "tsv"),
        ("c.json", "json"),
        ("model/MLmodel", "yaml"),
        ("c.yml", "yaml"),
        ("run.log", "text"),
        ("requirements.txt", "text"),
        ("weights.pt", "unknown"),
        ("noext", "unknown"),
    ],
)
def test_preview_kinds(path, kind):
    assert previews.kind_of(path) == kind


def test_ragged_csv_rows_are_padded_and_cut_lines_dropped():
    table = previews._table("a,b,c\n1,2\n3,4,5,6\n7,8", "csv", truncated=True)
    assert table.header == ["a", "b", "c", ""]
    assert table.rows == [["1", "2", "", ""], ["3", "4", "5", "6"]]
    assert table.truncated


def test_text_cut_inside_a_character_is_still_text():
    data = "héllo".encode()[:2]  # "h" and half of "é"
    assert previews._decode(data, truncated=True) == "h"
    assert previews._decode(b"\x00\x01", truncated=False) is None


def test_keys_that_need_quoting_in_the_grammar():
    assert identifier("metrics", "loss/val") == "metrics.loss/val"
    assert identifier("params", "my key") == "params.`my key`"
    assert identifier("tags", "a`b") is None


def test_table_state_round_trips_through_the_query_string():
    state = TableState.parse(
        {"filter": "metrics.a > 1", "order": "metrics.a ASC", "max": "25", "view": "all", "cols": "1"}, ["params.p"]
    )
    query = state.query()
    assert query == "filter=metrics.a+%3E+1&order=metrics.a+ASC&cols=1&col=params.p&max=25&view=all"
    assert state.nested is False
    assert TableState.parse({}, []).search_filter() == "tags.`runstone.parentRunId` IS NULL"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/ui/", "/api/v1/runs", "/ui\\..\\", None])
def test_redirect_targets_outside_the_ui_are_refused(target):
    assert safe_next(target, "/ui/") == "/ui/"


@pytest.mark.parametrize(
    ("size", "shown"), [(5, "5 bytes"), (2048, "2.0 KiB"), (5 * 1024**2, "5.0 MiB"), (5000 * 1024**3, "4.9 TiB")]
)
def test_file_sizes(size, shown):
    assert formatting.filesize(size) == shown
