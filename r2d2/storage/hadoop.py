"""A lake read through the JVM's Hadoop FileSystem of a Spark session: listings, footers and Delta
logs come from the driver with the session's own credentials (S3A providers, ABFS OAuth, instance
profiles, Databricks' credential scoping), never from credentials r2d2 holds.

`HadoopHandler` is a read-only pyarrow file system handler, so every stage that reads through a
`Lake` (discover, profile, the sample stage) works unchanged on it. Paths inside it are absolute
POSIX paths (`/bucket-prefix/lake/t1`); `Lake.spark_uri` turns one back into the URI Spark's
readers take (`s3a://bucket/lake/t1`). Writing is refused: r2d2 never writes inside a lake.

This reaches the JVM through py4j (`spark._jvm`): classic sessions (spark-submit, Databricks
dedicated access mode), not Spark Connect.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from r2d2.errors import LakeNotFoundError, UsageError
from r2d2.storage import PositionedFile
from r2d2.storage.paths import is_uri, redact_uri, scrub, uri_secrets

READ_CHUNK = 8 << 20  # bytes fetched from the JVM per call


def hadoop_root(uri: str) -> tuple[str, str]:
    """(scheme://authority, absolute path) of a lake root as Hadoop names it: local paths become
    `file://`, `s3://` becomes `s3a://` (Hadoop's S3 connector), other schemes stay."""
    if not is_uri(uri):
        return "file://", os.path.abspath(uri)
    parts = urlsplit(uri)
    scheme = {"s3": "s3a"}.get(parts.scheme, parts.scheme)
    if parts.query:
        raise UsageError(f"lake root {redact_uri(uri)}: the Spark readers take storage settings from the Spark "
                         "session (spark.hadoop.fs.*), not from the URI's query; drop the query")
    host = parts.netloc.rpartition("@")[2] if scheme not in ("abfs", "abfss", "wasb", "wasbs") else parts.netloc
    if scheme in ("s3a", "gs") and "@" in parts.netloc:
        raise UsageError(f"lake root {redact_uri(uri)}: credentials in the URI are not used by Spark's readers; "
                         "configure the session's credential provider instead")
    path = "/" + parts.path.strip("/") if parts.path.strip("/") else "/"
    return f"{scheme}://{host}", path


class _JvmFile(PositionedFile):
    """A read-only, seekable file over a Hadoop FSDataInputStream."""

    def __init__(self, jvm: Any, stream: Any, size: int) -> None:
        super().__init__(size)
        self._jvm, self._stream = jvm, stream

    def read(self, size: int = -1) -> bytes:
        end = self._end(size)
        parts = []
        while self._pos < end:
            n = min(READ_CHUNK, end - self._pos)
            self._stream.seek(self._pos)
            parts.append(bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(self._stream, n)))
            self._pos += n
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


def _java_class(exc: Exception) -> str:
    java = getattr(exc, "java_exception", None)
    return java.getClass().getName() if java is not None else ""


def java_message(exc: Exception) -> str:
    """The Java exception's own message (one line), not py4j's stack trace."""
    java = getattr(exc, "java_exception", None)
    if java is None:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = java.getMessage() or java.getClass().getSimpleName()
    return f"{java.getClass().getSimpleName()}: {text}".splitlines()[0]


class HadoopHandler(pafs.FileSystemHandler):
    """pyarrow file system handler over `org.apache.hadoop.fs.FileSystem` (read-only)."""

    def __init__(self, spark: Any, base: str, secrets: list[str] | None = None) -> None:
        self.spark = spark
        self._jvm = spark._jvm
        self._conf = spark._jsc.hadoopConfiguration()
        self.base = base  # scheme://authority
        self.links: list[str] = []  # symbolic links met (and not followed)
        self._secrets = secrets or []
        scheme, _, authority = base.partition("://")
        self._fs = self._path("/").getFileSystem(self._conf)
        self._scheme, self._authority = scheme, authority

    def __reduce__(self) -> Any:  # holds JVM objects: never shipped to executors
        raise TypeError("a Hadoop-backed lake lives on the Spark driver and cannot be pickled")

    def _path(self, path: str) -> Any:
        scheme, _, authority = self.base.partition("://")
        return self._jvm.org.apache.hadoop.fs.Path(scheme, authority or None, path or "/")

    def uri(self, path: str) -> str:
        return self.base + path

    def _info(self, path: str, status: Any) -> pafs.FileInfo:
        if status.isDirectory():
            return pafs.FileInfo(path, pafs.FileType.Directory)
        return pafs.FileInfo(path, pafs.FileType.File, size=int(status.getLen()),
                             mtime_ns=int(status.getModificationTime()) * 1_000_000)

    def _error(self, exc: Exception, path: str) -> OSError:
        kind = _java_class(exc)
        message = scrub(java_message(exc), self._secrets)
        if kind.endswith("FileNotFoundException"):
            return FileNotFoundError(f"{self.uri(path)}: not found")
        if kind.endswith("AccessDeniedException") or "AccessControlException" in kind or "403" in message:
            return PermissionError(f"{self.uri(path)}: permission denied ({message})")
        return OSError(f"{self.uri(path)}: {message}")

    # -- pyarrow's FileSystemHandler --------------------------------------------------------------
    def get_type_name(self) -> str:
        return f"hadoop:{self._scheme}"

    def normalize_path(self, path: str) -> str:
        return path

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        infos = []
        for path in paths:
            try:
                infos.append(self._info(path, self._fs.getFileStatus(self._path(path))))
            except Exception as exc:
                error = self._error(exc, path)
                if isinstance(error, FileNotFoundError):
                    infos.append(pafs.FileInfo(path, pafs.FileType.NotFound))
                else:
                    raise error from None
        return infos

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        found: list[pafs.FileInfo] = []
        pending = [selector.base_dir]
        while pending:
            folder = pending.pop()
            try:
                statuses = self._fs.listStatus(self._path(folder))
            except Exception as exc:
                error = self._error(exc, folder)
                if isinstance(error, FileNotFoundError) and selector.allow_not_found:
                    continue
                raise error from None
            for status in statuses:
                path = folder.rstrip("/") + "/" + status.getPath().getName()
                # A scan never follows a link out of the lake root (Hadoop's local file system
                # reports the target's status, so a local link is asked about directly).
                if status.isSymlink() or (self._scheme == "file" and os.path.islink(path)):
                    self.links.append(self.uri(path))
                    continue
                info = self._info(path, status)
                found.append(info)
                if selector.recursive and info.type == pafs.FileType.Directory:
                    pending.append(path)
        return found

    def open_input_file(self, path: str) -> pa.NativeFile:
        try:
            size = int(self._fs.getFileStatus(self._path(path)).getLen())
            stream = self._fs.open(self._path(path))
        except Exception as exc:
            raise self._error(exc, path) from None
        return pa.PythonFile(_JvmFile(self._jvm, stream, size), mode="r")

    def open_input_stream(self, path: str) -> pa.NativeFile:
        return self.open_input_file(path)

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("r2d2 reads lakes through Spark's file systems and never writes to them")

    create_dir = delete_dir = delete_dir_contents = delete_root_dir_contents = delete_file = _read_only
    move = copy_file = open_output_stream = open_append_stream = _read_only


def open_hadoop_lake(uri: str, spark: Any) -> Any:
    """A Lake whose file system is the Spark session's Hadoop FileSystem for `uri`."""
    from r2d2.storage import Lake
    from r2d2.storage.paths import lake_uri

    secrets = uri_secrets(uri)
    base, path = hadoop_root(uri)
    shown = redact_uri(uri) if is_uri(uri) else uri
    try:
        handler = HadoopHandler(spark, base, secrets)
    except Exception as exc:
        message = java_message(exc)
        if "No FileSystem for scheme" in message or "ClassNotFoundException" in message:
            from r2d2.engines.spark import missing_jars_hint

            raise UsageError(f"cannot open lake root {shown}: {missing_jars_hint(base)}") from None
        raise LakeNotFoundError(f"cannot open lake root {shown}: {scrub(message, secrets)}") from None
    fs = pafs.PyFileSystem(handler)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise LakeNotFoundError(f"cannot open lake root {shown}: {scrub(str(exc), secrets)}") from None
    if info.type == pafs.FileType.NotFound:
        raise LakeNotFoundError(f"lake root {shown} does not exist")
    if info.type != pafs.FileType.Directory:
        raise LakeNotFoundError(f"lake root {shown} is not a folder; point r2d2 at the folder holding the tables")
    return Lake(uri=lake_uri(uri), fs=fs, path=path, secrets=secrets, hadoop=handler)


def lake_at(spark: Any, location: str) -> Any:
    """A Lake rooted at a folder Hadoop names (a catalog table's location: `file:/…`, `s3a://…`)."""
    from r2d2.storage import Lake

    uri = spark._jvm.org.apache.hadoop.fs.Path(location).toUri()
    handler = HadoopHandler(spark, f"{uri.getScheme() or 'file'}://{uri.getAuthority() or ''}")
    path = "/" + str(uri.getPath()).strip("/")
    return Lake(uri=handler.uri(path), fs=pafs.PyFileSystem(handler), path=path, hadoop=handler)


def path_in(lake: Any, file_uri: str) -> str | None:
    """A file URI Spark named as a path of `lake`, or None when it lies outside it."""
    uri = lake.hadoop.spark._jvm.org.apache.hadoop.fs.Path(file_uri).toUri()
    if f"{uri.getScheme() or 'file'}://{uri.getAuthority() or ''}" != lake.hadoop.base:
        return None
    path = str(uri.getPath())
    return path if path.startswith(lake.path.rstrip("/") + "/") else None
