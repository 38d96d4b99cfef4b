"""Where things are, decided in one place: how a lake URI is recorded (absolute, credentials
removed), which secrets a URI carries (so no output or message repeats them), what lies inside a
lake root (r2d2 never writes there), and how a relative name from an untrusted document (a table
id, a selection file) is confined to the folder it must stay in.

A location is compared as (kind, path): local paths resolved through symbolic links, object stores
as `bucket/prefix` (S3, GCS) or `account/container/prefix` (ADLS); a path is inside a root when
it is the root or below it, segment by segment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from r2d2.errors import UsageError

# Query parameters that carry credentials (pyarrow's S3/GCS/Azure URIs, SAS tokens, deltalake options).
_SECRET_PARAM = re.compile(r"key|secret|token|passw|sig|credential|auth", re.IGNORECASE)
_AZURE = ("abfs", "abfss", "az", "wasb", "wasbs")
REDACTED = "***"


def is_uri(text: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def uri_secrets(text: str) -> list[str]:
    """The credential strings a lake or output URI carries (user info, secret query values), each
    also percent-decoded, so they can be scrubbed from any text r2d2 writes."""
    if not is_uri(text):
        return []
    parts = urlsplit(text)
    found: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if userinfo and (parts.scheme not in _AZURE or ":" in userinfo):
        found += [p for p in re.split(r"[:]", userinfo) if p] + [userinfo]
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if _SECRET_PARAM.search(unquote(key)) and value:
            found += [value, unquote(value.replace("+", " "))]
    decoded = [unquote(s) for s in found]
    return sorted({s for s in found + decoded if len(s) >= 3}, key=len, reverse=True)


def redact_uri(text: str) -> str:
    """The URI as outputs record it: credentials in user info and secret query parameters removed
    (the file system then takes them from the environment, as it should)."""
    if not is_uri(text):
        return text
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if parts.scheme in _AZURE and ":" not in userinfo:
            netloc = f"{userinfo}@{host}"  # abfss://container@account...: the container, no secret
        else:
            netloc = host if parts.scheme not in _AZURE else f"{userinfo.split(':')[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _SECRET_PARAM.search(k)], safe=":/")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def lake_uri(text: str) -> str:
    """The lake root as outputs record it: local paths absolute, URIs without credentials."""
    return redact_uri(text) if is_uri(text) else os.path.abspath(text)


def location(text: str) -> tuple[str, str]:
    """(kind, normalised path) of a local path or a URI, for inside/outside questions."""
    if not is_uri(text) or text.startswith("file://"):
        raw = unquote(urlsplit(text).path) if text.startswith("file://") else text
        return "local", os.path.realpath(raw)
    parts = urlsplit(text)
    host = parts.netloc.rpartition("@")[2]
    path = unquote(parts.path).strip("/")
    if parts.scheme in _AZURE:
        container = parts.netloc.rpartition("@")[0].split(":")[0]
        account = host.split(".")[0]
        key = "/".join(p for p in (account, container, path) if p)
        return "azure", _normalise(key)
    kind = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}.get(parts.scheme, parts.scheme)
    return kind, _normalise("/".join(p for p in (host, path) if p))


def _normalise(path: str) -> str:
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/".join(parts)


def is_inside(root: str, target: str) -> bool:
    """Whether `target` is the lake root `root` or anything below it."""
    root_kind, root_path = location(root)
    kind, path = location(target)
    if kind != root_kind:
        return False
    if kind == "local":
        return path == root_path or path.startswith(root_path.rstrip(os.sep) + os.sep)
    return path == root_path or path.startswith(root_path + "/")


def refuse_inside_lake(lake: str, target: str | Path, what: str) -> None:
    """UsageError when `target` (an output folder or file) lies inside the lake root."""
    if is_inside(lake, str(target)):
        raise UsageError(f"{what} {redact_uri(str(target))} is inside the lake {redact_uri(lake)}; r2d2 never "
                         "writes inside a lake: choose a folder outside it")


_BAD_SEGMENT = re.compile(r"[\x00-\x1f\x7f\\]")


def unsafe_name(name: str) -> bool:
    """A name holding a control character or a backslash: a terminal would act on it, and a table
    id holding one could not be planned or rebuilt safely (see `check_relative`)."""
    return bool(_BAD_SEGMENT.search(name))


def check_relative(name: str, what: str) -> str:
    """A relative, `/`-separated name from an untrusted document: no absolute path, no `..` or `.`
    segment, no empty segment, no backslash or control character."""
    if not isinstance(name, str) or not name or name.startswith("/") or _BAD_SEGMENT.search(name) \
            or re.match(r"^[A-Za-z]:", name) or is_uri(name):
        raise UsageError(f"{what} {name!r} is not a relative name")
    if any(seg in ("", ".", "..") for seg in name.split("/")):
        raise UsageError(f"{what} {name!r} has an empty, '.' or '..' segment")
    return name


def confine(base: Path, name: str, what: str) -> Path:
    """`base/name` for a checked relative `name`, refused if it resolves (links included) outside `base`."""
    check_relative(name, what)
    target = Path(base) / PurePosixPath(name)
    real_base = os.path.realpath(base)
    real = os.path.realpath(target)
    if real != real_base and not real.startswith(real_base.rstrip(os.sep) + os.sep):
        raise UsageError(f"{what} {name!r} leads outside {base}")
    return target
