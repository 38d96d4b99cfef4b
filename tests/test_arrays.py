"""r2d2.arrays builds what pyarrow's conversions would (checked against them here), without
importing pandas; a scan, through the numpy code, the C loops and numba's, leaves pandas unimported."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from r2d2.arrays import (
    bool_array,
    cast_value,
    constant_array,
    numpy_array,
    numpy_values,
    text_array,
    text_scalar,
    zero,
    zero_filled,
)
from tests.conftest import write_table

UTC = dt.timezone.utc
CONSTANTS = [
    ("text", pa.string()), ("tëxt", pa.large_string()), ("", pa.string()), (b"\x00b", pa.binary()),
    (True, pa.bool_()), (False, pa.bool_()), (7, pa.int8()), (-2**63, pa.int64()), (2**64 - 1, pa.uint64()),
    (300, pa.int16()), (2.5, pa.float64()), (-0.0, pa.float64()), (3, pa.float32()), (float("nan"), pa.float64()),
    (dt.date(1969, 12, 31), pa.date32()), (dt.date(2024, 2, 29), pa.date32()),
    (dt.datetime(2024, 5, 1, 12, 30, 1, 250_001, tzinfo=UTC), pa.timestamp("us", "UTC")),
    (dt.datetime(1960, 1, 1, tzinfo=UTC), pa.timestamp("ns", "UTC")), (2**53, pa.float64()),
    (dt.datetime(2024, 5, 1, 12, 30, 1, tzinfo=UTC), pa.timestamp("s", "UTC")),
    (dt.datetime(2024, 5, 1, 12, 30, 1, 5000, tzinfo=UTC), pa.timestamp("ms", "UTC")),
    (dt.datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC), pa.timestamp("s", "UTC")),  # what the unit cannot hold
    (Decimal("12345678901234567890"), pa.decimal128(38, 0)), (-5, pa.decimal128(20, 0)),
    (Decimal("-1.25"), pa.decimal128(10, 2)), (Decimal("1.5"), pa.decimal128(10, 3)),
    (None, pa.int32()), (None, pa.string()),
]


@pytest.mark.parametrize("value,dtype", CONSTANTS, ids=[f"{v!r}-{t}" for v, t in CONSTANTS])
def test_constant_arrays_are_what_pyarrow_converts(value: object, dtype: pa.DataType) -> None:
    for n in (1, 3):
        made = constant_array(value, dtype, n)
        made.validate(full=True)
        assert made.type == dtype
        assert made.equals(pa.array([value] * n, dtype)) or (value != value and made.is_nan().to_pylist() == [True] * n)


def test_values_arrow_refuses_are_still_refused() -> None:
    for value, dtype in ((Decimal("1.234"), pa.decimal128(10, 2)), (300, pa.int8()), (2**53 + 1, pa.float64()),
                         (dt.datetime(2900, 1, 1, tzinfo=UTC), pa.timestamp("ns", "UTC"))):
        with pytest.raises(pa.ArrowInvalid):  # pa.array's error: the value does not fit
            constant_array(value, dtype, 2)


def test_numpy_values_are_fill_null_then_to_numpy() -> None:
    arrays = [
        pa.array([1, None, 3, -4], pa.int64()), pa.array([1.5, None, float("nan")], pa.float64()),
        pa.array([True, None, False, True, True, False, True, True, False, True], pa.bool_()),
        pa.array([5, 6], pa.uint16()), pa.array([], pa.int32()), pa.array([None, None], pa.int32()),
        pa.array([dt.date(2020, 1, 1), None], pa.date32()).cast(pa.int32()),
    ]
    arrays += [a.slice(1) for a in arrays if len(a) > 1]  # offsets into the buffers
    for array in arrays:
        got = numpy_values(array)
        want = array.fill_null(False if array.type == pa.bool_() else 0).to_numpy(zero_copy_only=False)
        assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=array.type == pa.float64())
    chunked = pa.chunked_array([pa.array([1, None], pa.int64()), pa.array([3], pa.int64())])
    assert numpy_values(chunked).tolist() == [1, 0, 3]
    assert numpy_values(pa.chunked_array([], pa.int64())).tolist() == []


def test_numpy_arrays_texts_and_scalars() -> None:
    assert numpy_array(np.array([1, 2], np.uint64)).equals(pa.array([1, 2], pa.uint64()))
    assert numpy_array(np.array([1, 2], np.int64), valid=np.array([True, False])).equals(pa.array([1, None]))
    assert numpy_array(np.array([3], np.int32), pa.date32()).equals(pa.array([dt.date(1970, 1, 4)]))
    with pytest.raises(TypeError):
        numpy_array(np.array([1], np.int32), pa.int64())
    assert bool_array(np.array([True, False] * 5)).equals(pa.array([True, False] * 5))
    for dtype in (pa.string(), pa.large_string()):
        assert text_array(["a", None, "", "ü"], dtype).equals(pa.array(["a", None, "", "ü"], dtype))
        assert text_scalar("-0", dtype).equals(pa.scalar("-0", dtype))
    for dtype in (pa.int8(), pa.uint64(), pa.float32(), pa.bool_(), pa.date32(), pa.string(), pa.decimal128(5, 2)):
        assert zero(dtype).equals(pa.array([False if dtype == pa.bool_() else "0" if dtype == pa.string() else 0],
                                           dtype)[0])
    assert zero_filled(pa.array(["x", None])).to_pylist() == ["x", "0"]
    assert cast_value("2024-01-02", pa.date32()) == dt.date(2024, 1, 2)
    for value, dtype in (("2024-01-02", pa.date32()), (7, pa.int16()), (True, pa.bool_()), (2.5, pa.float32()),
                         ("-3", pa.int64()), (2**62, pa.decimal128(38, 0)), (dt.date(2024, 1, 2), pa.timestamp("us"))):
        assert cast_value(value, dtype) == pa.scalar(value).cast(dtype).as_py()


SCAN = """
import sys
import r2d2.engines.local as local
local.JIT_MIN_BYTES = {jit_min}
from r2d2.config import ScanConfig
from r2d2.pipeline import run_scan
result = run_scan(sys.argv[1], None, ScanConfig(workers=2), full=True)
import r2d2.engines.kernels as kernels
print(sorted((e.parent, e.child) for e in result.edges if e.status == "contained"))
print("numba" in sys.modules, "pandas" in sys.modules, kernels.JIT and kernels.LOOPS)
"""


@pytest.mark.parametrize("loops, jit_min", [("c", 0), ("numba", 0), ("numba", 10**12)], ids=["c", "numba", "numpy"])
def test_a_scan_leaves_pandas_unimported(lake: Path, loops: str, jit_min: int) -> None:
    """Partitioned Parquet (keys of several types), Delta with a partition, and columns of the
    common types: a scan of them converts nothing through pandas, whichever code hashes (the C
    loops, which load no numba; numba's; numpy's, for reads too small to pay for numba)."""
    from deltalake import write_deltalake

    from r2d2.engines import kernels

    if loops not in kernels.INSTALLED:
        pytest.skip(f"{loops}'s loops are not installed here")

    n = 600
    base = pa.table({
        "id": pa.array(range(n), pa.int64()),
        "name": pa.array([f"n{i % 13}" if i % 7 else None for i in range(n)]),
        "price": pa.array([i / 4 if i % 5 else None for i in range(n)], pa.float64()),
        "cost": pa.array([Decimal(i) / 100 for i in range(n)], pa.decimal128(10, 2)),
        "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i % 40) for i in range(n)]),
        "at": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=i) for i in range(n)],
                       pa.timestamp("us", "UTC")),
        "ok": pa.array([i % 3 == 0 for i in range(n)]),
    })
    write_table(lake, "all", base, row_group_size=200)
    write_table(lake, "copy", base.slice(0, 300))
    cols = ["id", "name", "price", "cost", "at", "ok"]
    for region in ("east", "west"):
        for day in ("2024-01-01", "2024-01-02"):
            write_table(lake, f"by/region={region}/day={day}/level=3", base.select(cols).slice(10, 20))
    write_deltalake(str(lake / "delta"), base.slice(0, 100), partition_by=["ok"])
    write_table(lake, "floats", pa.table({"id": pa.array(range(50), pa.float64())}))  # ints against doubles
    done = subprocess.run([sys.executable, "-c", SCAN.format(jit_min=jit_min), str(lake)], capture_output=True,
                          text=True, check=True, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, "R2D2_KERNELS": loops})
    edges, modules = done.stdout.strip().splitlines()
    assert "('all', 'copy')" in edges and "('all', 'delta')" in edges and "('all', 'floats')" in edges
    hashing = loops if jit_min == 0 else False
    assert modules == f"{hashing == 'numba'} False {hashing}"
