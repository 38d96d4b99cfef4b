"""Hive partition folders as Spark reads them: `key=value` names unescaped like Spark's
`ExternalCatalogUtils.unescapePathName`, and value types inferred like Spark's
`PartitioningUtils.inferPartitionColumnValue` and `findWiderTypeForPartitionColumn`.

The rules below were checked against Spark 4 itself (`spark.read.parquet` on folders named with
each case), because Spark's inference leans on Java parsers whose corners differ from Python's:
- integer if `Integer.parseInt` accepts it (sign, any Unicode decimal digits, no spaces), then long;
- decimal(p, 0) if `new BigDecimal(raw)` has no fractional digits and at most 38 digits
  (`1e5` is decimal(6,0), `12.` decimal(2,0));
- double if `Double.parseDouble` accepts it: surrounding whitespace and control characters are
  trimmed, a d/f suffix, NaN, Infinity and hex floats are allowed (so ` 1` and 39-digit integers are
  doubles);
- timestamp `yyyy-MM-dd HH:mm:ss[.S]` (one fractional digit at most; `T` as separator is a string),
  date `yyyy-MM-dd`, both strictly valid;
- else string. Values of one key widen: int < long < decimal, int/long < double, date < timestamp;
  a double beside a decimal, and anything else mixed, is a string.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pyarrow as pa

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
MAX_DECIMAL_DIGITS = 38

_INT = re.compile(r"[+-]?\d+")  # \d: Unicode decimal digits, as Java's Character.digit
_BIG_DECIMAL = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")
_JAVA_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?[dDfF]?)", re.ASCII)
_JAVA_HEX_DOUBLE = re.compile(r"[+-]?0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?\d+[dDfF]?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d))?", re.ASCII)
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")


def unescape_path_name(name: str) -> str:
    """Spark's unescapePathName: each `%XX` (two hex digits) becomes the one character with that
    code; a `%` not followed by two hex digits stays. Not UTF-8 percent-decoding."""
    out = []
    i = 0
    while i < len(name):
        ch = name[i]
        code = name[i + 1:i + 3]
        if ch == "%" and len(code) == 2 and re.fullmatch(r"\+?[0-9a-fA-F]{1,2}", code):
            out.append(chr(int(code, 16)))
            i += 3
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def parse_partition_folder(name: str) -> tuple[str, str | None] | None:
    """`key=value` → (key, value), unescaped and split at the first '=' as Spark splits it (`a=b=c`
    is a = 'b=c'); Spark writes NULL as __HIVE_DEFAULT_PARTITION__. An empty key or value is
    returned as it is; Spark refuses to read such a folder (see `partition_folder_problem`)."""
    if "=" not in name:
        return None
    key, _, value = name.partition("=")
    return unescape_path_name(key), (None if value == NULL_PARTITION else unescape_path_name(value))


def partition_folder_problem(name: str) -> str | None:
    """Why Spark refuses to read partition folder `name` (an empty column name or value), if it does."""
    key, _, value = name.partition("=")
    if not key:
        return f"partition folder {name} has an empty column name, which Spark refuses to read"
    if not value:
        return f"partition folder {name} has an empty value, which Spark refuses to read"
    return None


def _java_int(raw: str, bits: int) -> int | None:
    if not _INT.fullmatch(raw):
        return None
    value = int(raw)
    return value if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1) else None


def _big_decimal_integer(raw: str) -> int | None:
    """The value when `new BigDecimal(raw)` parses with scale <= 0 and Spark's DecimalType can hold
    it (at most 38 digits), else None."""
    match = _BIG_DECIMAL.fullmatch(raw)
    if not match:
        return None
    sign, whole, frac, exp = match.group(1), match.group(2), match.group(3) or "", match.group(4)
    if not whole and not frac:
        return None
    exponent = int(exp) if exp else 0
    scale = len(frac) - exponent
    if scale > 0 or -scale > MAX_DECIMAL_DIGITS + 1:
        return None
    digits = int((whole + frac) or "0") * 10 ** (-scale)
    if len(str(digits)) > MAX_DECIMAL_DIGITS:
        return None
    return -digits if sign == "-" else digits


def _java_double(raw: str) -> float | None:
    """Double.parseDouble: trims characters up to U+0020 first, as Java does."""
    text = raw.strip("".join(chr(c) for c in range(33)))
    if _JAVA_DOUBLE.fullmatch(text):
        body = text.rstrip("dDfF") if not text.endswith("Infinity") else text
        return float(body.replace("Infinity", "inf"))
    if _JAVA_HEX_DOUBLE.fullmatch(text):
        return float.fromhex(text.rstrip("dDfF"))
    return None


def _date(raw: str) -> dt.date | None:
    if not _DATE.fullmatch(raw):
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        return None


def _timestamp(raw: str) -> dt.datetime | None:
    match = _TIMESTAMP.fullmatch(raw)
    if not match:
        return None
    day = _date(match.group(1))
    hour, minute, second = int(match.group(2)), int(match.group(3)), int(match.group(4))
    if day is None or hour > 23 or minute > 59 or second > 59:
        return None
    tenths = int(match.group(5) or 0)
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tenths * 100_000, tzinfo=dt.timezone.utc)


def _infer_one(raw: str) -> pa.DataType:
    if _java_int(raw, 32) is not None:
        return pa.int32()
    if _java_int(raw, 64) is not None:
        return pa.int64()
    value = _big_decimal_integer(raw)
    if value is not None:
        return pa.decimal128(max(1, len(str(abs(value)))), 0)
    if _java_double(raw) is not None:
        return pa.float64()
    if _timestamp(raw) is not None:
        return TIMESTAMP_TYPE
    if _date(raw) is not None:
        return pa.date32()
    return pa.string()


def _decimal_digits(dtype: pa.DataType) -> int:
    """An integral type's digits as Spark's DecimalType.forType sees it."""
    if pa.types.is_int32(dtype):
        return 10
    if pa.types.is_int64(dtype):
        return 20
    return int(dtype.precision)


def _wider(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    if a == b:
        return a
    integral = (pa.types.is_int32, pa.types.is_int64, pa.types.is_decimal)
    a_int, b_int = any(f(a) for f in integral), any(f(b) for f in integral)
    if a_int and b_int:
        if pa.types.is_decimal(a) or pa.types.is_decimal(b):
            return pa.decimal128(min(MAX_DECIMAL_DIGITS, max(_decimal_digits(a), _decimal_digits(b))), 0)
        return pa.int64()
    if {a, b} <= {pa.int32(), pa.int64(), pa.float64()}:
        return pa.float64()
    if {a, b} == {pa.date32(), TIMESTAMP_TYPE}:
        return TIMESTAMP_TYPE
    return pa.string()  # includes double beside decimal, as Spark decides


def infer_partition_type(values: Iterable[str | None]) -> pa.DataType:
    """Spark's type for a partition key from its unescaped folder values (all NULL → string)."""
    result: pa.DataType | None = None
    for kind in {_infer_one(v) for v in values if v is not None}:
        result = kind if result is None else _wider(result, kind)
    return pa.string() if result is None else result


def parse_partition_value(raw: str | None, dtype: pa.DataType) -> Any:
    """A folder value as a Python value of `dtype`, the type inferred for all of the key's values."""
    if raw is None:
        return None
    if pa.types.is_integer(dtype):
        return int(raw)
    if pa.types.is_decimal(dtype):
        integral = _big_decimal_integer(raw)
        return Decimal(integral if integral is not None else int(raw))
    if pa.types.is_floating(dtype):
        number = _java_double(raw)
        return float(int(raw)) if number is None else number  # None: an int/long widened to double
    if pa.types.is_timestamp(dtype):
        moment = _timestamp(raw)
        if moment is None:
            day = _date(raw)
            if day is None:
                raise ValueError(f"partition value {raw!r} is not a timestamp")
            moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        return moment
    if pa.types.is_date(dtype):
        return _date(raw)
    return raw
