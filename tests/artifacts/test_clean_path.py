"""clean_path: the one check every client-supplied artifact path goes through."""

from __future__ import annotations

import re

import pytest

from runstone.artifacts.base import MAX_PATH_LENGTH, MAX_SEGMENT_BYTES, clean_path, join_key
from runstone.errors import InvalidInput


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("model.pkl", "model.pkl"),
        ("plots/loss.png", "plots/loss.png"),
        ("plots/", "plots"),
        ("a/b/c/d.txt", "a/b/c/d.txt"),
        ("..hidden", "..hidden"),
        ("v1..v2/notes...txt", "v1..v2/notes...txt"),
        (".config/settings.json", ".config/settings.json"),
        ("été/图表 1.png", "été/图表 1.png"),
        ("100%.txt", "100%.txt"),
        # MLflow's log_image names, '%' and '+' separated: decoded again they stay inside the run,
        # whatever bytes a '%xx' becomes (a control character, a NUL, '\\').
        (
            "images/a#b%step%5%timestamp%1700000000000%00c05c2f-2e2e.png",
            "images/a#b%step%5%timestamp%1700000000000%00c05c2f-2e2e.png",
        ),
        ("images/a~b+step+5+timestamp+1700000000000+5c0e+compressed.webp",) * 2,
        ("a%00b", "a%00b"),
        ("a%5cb", "a%5cb"),
        ("%2e%2e.txt", "%2e%2e.txt"),
        ("a" * MAX_SEGMENT_BYTES, "a" * MAX_SEGMENT_BYTES),
    ],
)
def test_valid_paths_are_kept(path, expected):
    assert clean_path(path) == expected


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("..", "must not contain '.' or '..' segments"),
        ("../x", "must not contain '.' or '..' segments"),
        ("a/../../b", "must not contain '.' or '..' segments"),
        ("a/..", "must not contain '.' or '..' segments"),
        ("./a", "must not contain '.' or '..' segments"),
        ("a/./b", "must not contain '.' or '..' segments"),
        # Decoded once by the HTTP layer; a second decoding must not reveal a traversal either.
        ("%2e%2e/x", "must not contain '.' or '..' segments"),
        ("%2E%2E/x", "must not contain '.' or '..' segments"),
        ("a/..%2fb", "must not contain '.' or '..' segments"),
        ("%252e%252e/x", "must not contain '.' or '..' segments"),  # percent-encoded twice
        ("a/%2e%2E", "must not contain '.' or '..' segments"),
        ("%2e", "must not contain '.' or '..' segments"),
        # A decoder that takes '\\' for a separator, or ends the name at a NUL, sees '..' here.
        ("..%5cx", "must not contain '.' or '..' segments"),
        ("a%5c%2e%2e%5cx", "must not contain '.' or '..' segments"),
        ("..%00.txt", "must not contain '.' or '..' segments"),
        ("a/%2e%2e%2500/b", "must not contain '.' or '..' segments"),
        ("%2fetc/passwd", "must be relative"),
        ("%5cetc", "must be relative"),
        ("c%3a/x", "must be relative"),
        ("/etc/passwd", "must be relative"),
        ("C:/Windows/system.ini", "must be relative"),
        ("c:evil", "must be relative"),
        ("..\\x", "must use '/' as separator"),
        ("a\\b", "must use '/' as separator"),
        ("a\x00b", "must not contain control characters"),
        ("a\nb", "must not contain control characters"),
        ("a\x1b[31mred", "must not contain control characters"),
        ("a\x7f", "must not contain control characters"),
        ("a//b", "must not contain empty segments"),
        ("", "must not be empty"),
        ("/", "must not be empty"),
        ("///", "must not be empty"),
        ("a\udcff", "must be valid UTF-8"),
    ],
)
def test_invalid_paths_are_rejected_with_a_reason(path, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        clean_path(path)


def test_over_long_paths():
    longest = ("d" * 99 + "/") * 9 + "d" * 100
    assert len(longest) == MAX_PATH_LENGTH
    assert clean_path(longest) == longest
    with pytest.raises(InvalidInput, match=f"longer than {MAX_PATH_LENGTH} bytes"):
        clean_path(longest + "x")
    # Measured in bytes, so that multi-byte names cannot blow past filesystem and S3 limits.
    with pytest.raises(InvalidInput, match=f"longer than {MAX_PATH_LENGTH} bytes"):
        clean_path("/".join(["é" * 100] * 6))


def test_over_long_segment():
    with pytest.raises(InvalidInput, match=f"longer than {MAX_SEGMENT_BYTES} bytes; shorten"):
        clean_path("plots/" + "x" * (MAX_SEGMENT_BYTES + 1) + ".png")
    with pytest.raises(InvalidInput, match=f"longer than {MAX_SEGMENT_BYTES} bytes"):
        clean_path("图" * 86)  # 258 bytes of UTF-8 in 86 characters


def test_empty_allowed_for_the_run_root():
    assert clean_path("", allow_empty=True) == ""
    assert clean_path("/", allow_empty=True) == ""
    with pytest.raises(InvalidInput, match=r"must not contain '\.' or '\.\.' segments"):
        clean_path("..", allow_empty=True)


def test_non_string_is_rejected():
    with pytest.raises(InvalidInput, match="must be a string"):
        clean_path(b"bytes/path")  # type: ignore[arg-type]


def test_join_key_skips_empty_parts():
    assert join_key("0/abc/artifacts", "", "plots/a.png") == "0/abc/artifacts/plots/a.png"
    assert join_key("0/abc/artifacts/", "/x") == "0/abc/artifacts/x"
