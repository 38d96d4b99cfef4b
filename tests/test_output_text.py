"""The fast paths that write r2d2's documents give the same text as the slow ones they replaced."""

from __future__ import annotations

import gzip
import json
import math

import pytest

from r2d2.output import _DUMP_COMPACT, _DUMP_SPACED, json_pieces
from r2d2.state import _BLOCK, _gzipped

VALUES = [
    {"id": "sales/2024", "rows": 3, "ratio": 0.1, "ok": True, "none": None},
    ["é", "日本", "\u2028", "tab\there", "quote\"back\\slash", "\x00ctl"],
    [1.5e300, -0.0, 12345678901234567890, math.inf, -math.inf],
    {"nested": [{"a": [1, {"b": "c"}]}], "": ""},
    "plain",
    7,
]


@pytest.mark.parametrize("value", VALUES)
def test_dumpers_match_json(value: object) -> None:
    assert _DUMP_SPACED(value) == json.dumps(value, ensure_ascii=False)
    assert _DUMP_COMPACT(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_dumpers_refuse_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        _DUMP_SPACED({"when": object()})
    with pytest.raises(TypeError):
        _DUMP_COMPACT([{1, 2}])


def test_json_pieces_read_back() -> None:
    doc = {"version": 1, "tables": [{"id": f"t{i}", "name": "ü" * i} for i in range(5)], "empty": [], "x": {"k": 1}}
    for compact in (False, True):
        assert json.loads("".join(json_pieces(doc, compact=compact))) == doc


@pytest.mark.parametrize("pieces", [
    [],
    [""],
    ["a", "", "b", ""],
    ["x" * (_BLOCK - 1), "yz", "", "é" * _BLOCK, "w" * (3 * _BLOCK), "end"],
    [f"{i}," for i in range(50_000)],
])
def test_gzipped_round_trip(pieces: list[str]) -> None:
    assert gzip.decompress(_gzipped(iter(pieces))).decode("utf-8") == "".join(pieces)


def test_gzipped_passes_on_a_failing_source() -> None:
    def pieces():
        yield "x" * (_BLOCK + 1)
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        _gzipped(pieces())
