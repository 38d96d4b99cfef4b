"""Arrow arrays and scalars made straight from buffers.

pyarrow converts Python objects (pa.array, pa.scalar, fill_null with a Python value, pa.table of
an object that is not a list or dict) only after asking pandas whether they are its objects, which
imports pandas: about 0.2 s of interpreter time and 40 MB on a scan that never uses it, a
fifteenth of the scan of a small lake. The scan's common paths make their arrays here instead,
from numpy's buffers or from bytes; rarer ones (wide decimals, values of unknown types) still
convert. tests/test_arrays.py checks that a scan leaves pandas unimported.
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_DAY = dt.date(1970, 1, 1)
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def numpy_array(values: np.ndarray, dtype: pa.DataType | None = None, valid: np.ndarray | None = None) -> pa.Array:
    """A 1-D numpy array of numbers (or of the storage of `dtype`: int32 days for date32, int64
    counts for timestamps) as an Arrow array sharing its memory; NULL where `valid` is false."""
    values = np.ascontiguousarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise TypeError(f"not a 1-D array of numbers: {values.dtype}, {values.ndim} dimensions")
    if dtype is None:
        dtype = pa.from_numpy_dtype(values.dtype)
    if dtype.bit_width != values.dtype.itemsize * 8:
        raise TypeError(f"{values.dtype} does not hold {dtype}")
    validity = None if valid is None or np.all(valid) else _bitmap(valid)
    return pa.Array.from_buffers(dtype, len(values), [validity, pa.py_buffer(values)])


def _bitmap(bits: np.ndarray) -> pa.Buffer:
    return pa.py_buffer(np.packbits(bits.astype(bool), bitorder="little"))


def bool_array(values: np.ndarray) -> pa.Array:
    """A 1-D numpy array of truth values as an Arrow boolean array without NULLs."""
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, _bitmap(np.asarray(values))])


def text_array(texts: list[str | None], dtype: pa.DataType | None = None) -> pa.Array:
    """Python strings (None for NULL) as a large_string array, or one of `dtype` (string or
    large_string)."""
    dtype = pa.large_string() if dtype is None else dtype
    data = [t.encode("utf-8") for t in texts if t is not None]
    lengths = np.zeros(len(texts) + 1, np.int64)
    lengths[1:][[t is not None for t in texts]] = [len(d) for d in data]
    offsets = np.cumsum(lengths).astype(np.int64 if dtype in (pa.large_string(), pa.large_binary()) else np.int32)
    valid = np.array([t is not None for t in texts], bool)
    validity = None if valid.all() else _bitmap(valid)
    return pa.Array.from_buffers(dtype, len(texts), [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def constant_array(value: Any, dtype: pa.DataType, n: int) -> pa.Array:
    """`n` times a Python value of `dtype` (what pa.array([value] * n, dtype) gives): a partition
    key's value in its column. Types beyond partition keys' (and values they hold that Arrow would
    refuse) go through pa.array."""
    if value is None:
        return pa.nulls(n, dtype)
    storage = _storage(value, dtype)
    if storage is None:
        return pa.array([value] * n, dtype)
    if isinstance(storage, bytes):  # a string or binary value
        wide = dtype in (pa.large_string(), pa.large_binary())
        if not wide and len(storage) * n >= 2**31:
            return pa.array([value] * n, dtype)
        offsets = np.arange(n + 1, dtype=np.int64 if wide else np.int32) * len(storage)
        return pa.Array.from_buffers(dtype, n, [None, pa.py_buffer(offsets), pa.py_buffer(storage * n)])
    if dtype == pa.bool_():
        return pa.Array.from_buffers(dtype, n, [None, _bitmap(np.full(n, bool(storage)))])
    if isinstance(storage, tuple):  # a decimal128's 16 bytes
        return pa.Array.from_buffers(dtype, n, [None, pa.py_buffer(storage[0] * n)])
    return pa.Array.from_buffers(dtype, n, [None, pa.py_buffer(np.full(n, storage, _numpy_type(dtype)))])


def _numpy_type(dtype: pa.DataType) -> np.dtype:
    if pa.types.is_date32(dtype):
        return np.dtype(np.int32)
    if pa.types.is_timestamp(dtype) or pa.types.is_date64(dtype):
        return np.dtype(np.int64)
    return np.dtype(dtype.to_pandas_dtype())


def _storage(value: Any, dtype: pa.DataType) -> Any:
    """The value as the array's storage holds it, or None to leave it to pa.array."""
    if (pa.types.is_string(dtype) or pa.types.is_large_string(dtype)) and isinstance(value, str):
        return value.encode("utf-8")
    if (pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype)) and isinstance(value, bytes):
        return value
    if pa.types.is_boolean(dtype) and isinstance(value, bool):
        return value
    if pa.types.is_integer(dtype) and isinstance(value, int) and not isinstance(value, bool):
        info = np.iinfo(_numpy_type(dtype))
        return value if info.min <= value <= info.max else None
    if pa.types.is_floating(dtype) and not pa.types.is_float16(dtype) and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        exact = isinstance(value, float) or (abs(value) <= 2**53 or (abs(value) < 2**1000 and float(value) == value))
        return float(value) if exact else None  # Arrow refuses an integer no double holds exactly
    if pa.types.is_date32(dtype) and type(value) is dt.date:
        return (value - _EPOCH_DAY).days
    if pa.types.is_timestamp(dtype) and isinstance(value, dt.datetime) and value.tzinfo is not None:
        delta = value - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        per_second = _PER_SECOND[dtype.unit]
        if per_second >= 1_000_000:
            count = micros * (per_second // 1_000_000)
        elif micros % (1_000_000 // per_second):
            return None  # pa.array refuses (or truncates) what the unit cannot hold
        else:
            count = micros // (1_000_000 // per_second)
        return count if -2**63 <= count < 2**63 else None
    if pa.types.is_decimal128(dtype) and isinstance(value, (int, Decimal)):
        unscaled = Decimal(value).scaleb(dtype.scale)
        if unscaled != unscaled.to_integral_value() or abs(unscaled) >= Decimal(10) ** dtype.precision:
            return None
        return (int(unscaled).to_bytes(16, "little", signed=True),)
    return None


def cast_value(value: Any, dtype: pa.DataType) -> Any:
    """A Python value (a Delta log's partition value: text, or already of a type) cast by Arrow to
    `dtype`, as a Python value (pa.scalar(value).cast(dtype).as_py())."""
    inferred = {str: pa.string(), bool: pa.bool_(), int: pa.int64(), float: pa.float64()}.get(type(value))
    if inferred is not None and (inferred != pa.int64() or -2**63 <= value < 2**63):
        return constant_array(value, inferred, 1).cast(dtype)[0].as_py()
    return pa.scalar(value).cast(dtype).as_py()


def imported_table(data: Any) -> pa.Table:
    """Another library's Arrow table (through its C stream), as pa.table(data) gives it."""
    if hasattr(data, "__arrow_c_stream__"):
        return pa.RecordBatchReader.from_stream(data).read_all()
    return pa.table(data)


@functools.cache
def zero(dtype: pa.DataType) -> pa.Scalar:
    """A zero (false, "0") of a fixed-width or string type, as a scalar made from bytes: what
    fill_null(0) fills with, without converting a Python 0."""
    if pa.types.is_boolean(dtype):
        return pa.Array.from_buffers(dtype, 1, [None, pa.py_buffer(b"\x00")])[0]
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return text_scalar("0", dtype)
    return pa.Array.from_buffers(dtype, 1, [None, pa.py_buffer(bytes(dtype.bit_width // 8))])[0]


@functools.cache
def text_scalar(text: str, dtype: pa.DataType) -> pa.Scalar:
    """A string scalar (pa.scalar(text, dtype), without converting a Python object)."""
    return text_array([text], dtype)[0]


def zero_filled(array: pa.Array) -> pa.Array:
    """`array` with its NULLs as zeros (fill_null(0), without converting a Python 0)."""
    return array.fill_null(zero(array.type)) if array.null_count else array


def numpy_values(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The values of an array of numbers, booleans, dates or timestamps (their counts) as a numpy
    array, NULLs as zeros: what fill_null(0).to_numpy(zero_copy_only=False) gives, read from the
    buffers (read-only where they are shared, as to_numpy's are)."""
    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 1:
            return numpy_values(array.chunk(0))
        return np.concatenate([numpy_values(c) for c in array.chunks] or [np.zeros(0, _numpy_type(array.type))])
    array = zero_filled(array)
    data = array.buffers()[1]
    if pa.types.is_boolean(array.type):
        if data is None:
            return np.zeros(len(array), bool)
        bits = np.unpackbits(np.frombuffer(data, np.uint8), count=array.offset + len(array), bitorder="little")
        return bits[array.offset:].astype(bool)
    dtype = _numpy_type(array.type)
    if data is None:
        return np.zeros(len(array), dtype)
    return np.frombuffer(data, dtype, count=array.offset + len(array))[array.offset:]
