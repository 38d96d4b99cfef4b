"""Storage behind one small interface, chosen by URI scheme (local folders today; `s3://` and
`abfss://` through pyarrow's file systems). Every byte the stages fetch goes through `Lake.open`,
which counts it, so each stage can report `bytes_read` honestly."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from r2d2.errors import LakeNotFoundError, TableReadError
from r2d2.storage.paths import is_inside, is_uri, lake_uri, redact_uri, scrub, uri_secrets

# Bytes of footers a scan keeps after profiling, as fetched: parsed footers take 10-20 times more
# memory (2,400 small footers: 4.4 MB fetched, about 60 MB parsed), and parsing one again costs
# tens of microseconds, far less than fetching it again.
FOOTER_CACHE_BYTES = 64_000_000
# Bytes fetched from the end of a file on remote storage to read its footer: enough for the footer
# of most files (on the benchmark lakes, 172 of 3,449 footers were longer and took a second read),
# so that an object store answers one ranged GET a file, where a first read of the 8-byte trailer
# made it two (profile of 150 tables of the real-shaped lake over moto's S3: 1.30-1.46 s, 0.96-1.21 s
# with this). On a local disk the two reads cost microseconds, and fetch fewer bytes.
FOOTER_GUESS_BYTES = 8192
RACY_NS = 2_000_000_000  # files younger than this, on a store with whole-second times, leave a version unsettled


class ByteCounter:
    """A thread-safe running total of bytes fetched from storage, and of the seconds spent waiting
    for footers and listings (which tells profile whether more threads would help, see
    parallel.each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.waited = 0.0

    def add(self, n: int, seconds: float = 0.0) -> None:
        with self._lock:
            self.total += n
            self.waited += seconds

    def __getstate__(self) -> dict[str, float]:  # shipped to Spark executors, which count their own reads
        return {"total": 0, "waited": 0.0}

    def __setstate__(self, state: dict[str, float]) -> None:
        self._lock = threading.Lock()
        self.total = int(state["total"])
        self.waited = float(state.get("waited", 0.0))


class CountingFile(io.RawIOBase):
    """A read-only file that adds every byte it returns to a ByteCounter."""

    def __init__(self, inner: pa.NativeFile, counter: ByteCounter) -> None:
        super().__init__()
        self._inner = inner
        self._counter = counter

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read() if size is None or size < 0 else self._inner.read(size)
        self._counter.add(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def size(self) -> int:
        return self._inner.size()

    def close(self) -> None:
        self._inner.close()
        super().close()


class PositionedFile(io.RawIOBase):
    """A read-only file of known size whose subclasses say how to read `read(size)` bytes at the
    position; seeking is bookkeeping."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _end(self, size: int | None) -> int:
        """Where a read of `size` bytes from the position ends."""
        return self._size if size is None or size < 0 else min(self._size, self._pos + size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size


@dataclass
class Entry:
    """One item of a folder listing."""

    name: str
    path: str
    is_dir: bool
    size: int
    mtime_ns: int = 0  # last modification, as the file system reports it (0 when it does not)


@dataclass
class Lake:
    """A lake root on some file system. `path` is the root as the file system names it."""

    uri: str  # as outputs record it: absolute, without credentials
    fs: pafs.FileSystem
    path: str
    counter: ByteCounter = field(default_factory=ByteCounter)
    secrets: list[str] = field(default_factory=list)  # credentials the given URI carried, never to be shown
    options: dict[str, str] = field(default_factory=dict)  # deltalake storage options from the given URI
    hadoop: Any = None  # a storage.hadoop.HadoopHandler when the lake is read through a Spark session
    # Footers as profile fetched them, kept for the stages that read rows (FOOTER_CACHE_BYTES at most).
    _footers: dict[str, bytes] = field(default_factory=dict, repr=False)
    _footer_bytes: int = field(default=0, repr=False)
    _footer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __getstate__(self) -> dict[str, Any]:  # shipped to Spark executors without its cache
        state = dict(self.__dict__)
        state.update(_footers={}, _footer_bytes=0, _footer_lock=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _footer_lock=threading.Lock())

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def relative(self, path: str) -> str:
        root = self.path.rstrip("/")
        return path[len(root) :].strip("/") if path.startswith(root) else path

    def list_dir(self, path: str, links: list[str] | None = None) -> list[Entry]:
        """The folder's direct entries. Symbolic links are left out, and added to `links` when
        given: a scan never follows a path out of the lake root (DESIGN §3, discover)."""
        started = time.perf_counter()
        infos = self.fs.get_file_info(pafs.FileSelector(path, recursive=False))
        self.counter.add(0, time.perf_counter() - started)  # waiting on storage (see parallel.each)
        if self.hadoop is not None:  # the handler left links out; say which
            if links is not None:
                links.extend(self.hadoop.links)
            self.hadoop.links.clear()
        entries = []
        for info in infos:
            if self.is_local and os.path.islink(info.path):
                if links is not None:
                    links.append(info.path)
                continue
            if info.type == pafs.FileType.Directory:
                entries.append(Entry(info.base_name, info.path, True, 0))
            elif info.type == pafs.FileType.File:
                entries.append(Entry(info.base_name, info.path, False, info.size or 0, info.mtime_ns or 0))
        return sorted(entries, key=lambda e: e.name)

    def walk(self, path: str) -> list[Entry]:
        """Every file under a folder (hidden ones and Delta logs included, links left out), each
        named by its path relative to the folder."""
        found, stack = [], [path]
        while stack:
            folder = stack.pop()
            for e in self.list_dir(folder):
                if e.is_dir:
                    stack.append(e.path)
                else:
                    rel = e.path[len(path.rstrip("/")) :].lstrip("/")
                    found.append(Entry(rel, e.path, False, e.size, e.mtime_ns))
        return sorted(found, key=lambda e: e.name)

    def version(self, path: str) -> str:
        """A table folder's version: its files' relative paths, sizes and modification times, hashed.
        Any write to the table (a new file, a rewrite, a Delta commit) changes it; reading does not.
        `FILES:BYTES:DIGEST`, so a person sees at a glance what changed in size."""
        return self.listing(path)[0]

    def listing(self, path: str) -> tuple[str, list[Entry]]:
        """The folder's version (see `version`) and the files it was computed from."""
        listed = time.time_ns()
        files = self.walk(path)
        return self.folder_version(files, listed), files

    @staticmethod
    def folder_version(files: list[Entry], listed: int) -> str:
        """The version of a folder whose files (named relative to it) were listed at `listed`
        (nanoseconds since the epoch)."""
        digest = hashlib.sha256()
        for e in files:
            digest.update(f"{e.name}\0{e.size}\0{e.mtime_ns}\n".encode("utf-8", "surrogateescape"))
        version = f"{len(files)}:{sum(e.size for e in files)}:{digest.hexdigest()[:32]}"
        # Object stores keep whole seconds: a file rewritten with the same size within the second
        # it was listed in would keep its version. A version with such a fresh file never equals
        # another, so the table counts as changed next time (as git treats "racily clean" files).
        coarse = bool(files) and all(e.mtime_ns % 1_000_000_000 == 0 for e in files)
        if coarse and any(listed - e.mtime_ns < RACY_NS for e in files):
            version += f":unsettled@{listed}"
        return version

    def open(self, path: str) -> CountingFile:
        """Open a file for reading; what is read is counted."""
        return CountingFile(self.fs.open_input_file(path), self.counter)

    def open_native(self, path: str) -> pa.NativeFile:
        """Open a file for pyarrow's own readers (no Python in their read path). Its reads are not
        counted here: the caller adds what it fetches (see reader.chunk_bytes)."""
        return self.fs.open_input_file(path)

    def read_whole(self, path: str, size: int) -> pa.Buffer:
        """A whole file in one read (small files: one request, no per-chunk reads).

        Raises TableReadError naming the file when it is no longer the `size` bytes it was listed with."""
        with self.fs.open_input_file(path) as raw:
            now = raw.size()
            # never more than the listed size (plus one byte, to see a file that grew meanwhile): a
            # log that understates a file's size cannot make this read a huge file into memory
            data = raw.read_buffer(size + 1) if now == size else None
        if data is not None:
            self.counter.add(data.size)
            now = data.size
        if data is None or now != size:
            raise TableReadError(f"{path} is {now} bytes, not the {size} bytes it was listed with: it changed "
                                 "during the scan (scan again once writers are done), or its Delta log records "
                                 "another size", path=path)
        return data

    def read_footer(self, path: str) -> pq.FileMetaData:
        """A Parquet file's footer, fetched (8 + footer-length bytes) once per scan: later calls parse
        the fetched bytes again while the cache holds them (FOOTER_CACHE_BYTES of footers).

        Raises TableReadError naming the file when it is not Parquet or is truncated."""
        cached = self._footers.get(path)
        if cached is not None:
            return pq.read_metadata(pa.BufferReader(cached))
        meta, tail = self._fetch_footer(path)
        with self._footer_lock:
            if self._footer_bytes + len(tail) <= FOOTER_CACHE_BYTES:
                self._footers[path] = tail
                self._footer_bytes += len(tail)
        return meta

    def _fetch_footer(self, path: str) -> tuple[pq.FileMetaData, bytes]:
        started = time.perf_counter()
        with self.fs.open_input_file(path) as raw:
            size = raw.size()
            if size < 12:
                raise TableReadError(f"{path} is not a Parquet file: only {size} bytes", path=path)
            # Remote: the last FOOTER_GUESS_BYTES in one request, the footer and its 8-byte trailer for
            # most files. Local: the trailer, then the footer (reads cost microseconds; fewer bytes).
            guess = min(size, 8 if self.is_local else FOOTER_GUESS_BYTES)
            raw.seek(size - guess)
            tail = raw.read(guess)
            self.counter.add(len(tail))
            trailer = tail[-8:]
            if trailer[4:] == b"PARE":
                raise TableReadError(f"{path} is an encrypted Parquet file; r2d2 cannot read it", path=path)
            if trailer[4:] != b"PAR1":
                raw.seek(0)
                head = raw.read(4)
                self.counter.add(len(head))
                if head == b"PAR1":
                    raise TableReadError(f"{path} is a truncated Parquet file (it starts like one but its footer "
                                         "is missing); rewrite or remove it", path=path)
                raise TableReadError(f"{path} is not a Parquet file (no PAR1 magic at its end)", path=path)
            length = int.from_bytes(trailer[:4], "little")
            if length + 12 > size:
                raise TableReadError(f"{path} is truncated or corrupt: footer of {length} bytes in a "
                                     f"{size}-byte file", path=path)
            missing = length + 8 - len(tail)  # footer bytes before the tail fetched
            if missing > 0:
                raw.seek(size - 8 - length)
                tail = raw.read(missing) + tail
                self.counter.add(missing)
            fetched = tail[len(tail) - 8 - length:]  # the footer and its trailer
            self.counter.add(0, time.perf_counter() - started)
        try:
            # parsed from the fetched bytes alone (a reader of the file would fetch its last 64 KiB:
            # for small files, the whole file)
            return pq.read_metadata(pa.BufferReader(fetched)), fetched
        except (OSError, pa.ArrowException) as exc:
            raise TableReadError(f"{path} has a corrupt Parquet footer: {exc}", path=path) from exc

    def is_parquet(self, path: str, size: int) -> bool:
        """Whether a file ends with Parquet's magic (4 bytes read): how an extensionless file
        (Hive writes `000000_0`) is told from junk beside the data."""
        if size < 12:
            return False
        with self.fs.open_input_file(path) as raw:
            raw.seek(size - 4)
            tail = raw.read(4)
        self.counter.add(len(tail))
        return tail in (b"PAR1", b"PARE")

    def size(self, path: str) -> int:
        return self.fs.get_file_info(path).size or 0

    def storage_options(self) -> dict[str, str]:
        """Options for deltalake, which reads the log itself: the same endpoint and credentials as pyarrow's."""
        return dict(self.options)

    def contains(self, path: str) -> bool:
        """Whether a file system path lies inside the lake root (nothing outside it is read)."""
        if self.is_local:
            return is_inside(self.path, path)
        root = self.path.strip("/")
        target = "/".join(p for p in path.strip("/").split("/") if p not in ("", "."))
        return ".." not in target.split("/") and (target == root or target.startswith(root + "/"))

    def spark_uri(self, path: str) -> str:
        """A file system path of this lake as the URI Spark's readers take."""
        if self.hadoop is not None:
            return str(self.hadoop.uri(path))
        if self.is_local:
            return "file://" + path
        return self.table_uri(path)

    @property
    def deltalake_reachable(self) -> bool:
        """Whether deltalake can open this lake's tables itself (not so through a Spark session:
        their logs are then copied out first)."""
        return self.hadoop is None

    def table_uri(self, location: str) -> str:
        """A table folder as a URI other libraries (deltalake) understand."""
        if self.is_local:
            return location
        return f"{urlsplit(self.uri).scheme}://{location}"


def _delta_options(uri: str) -> dict[str, str]:
    """deltalake storage options matching what pyarrow takes from an s3:// URI (endpoint, region,
    and credentials given in it)."""
    if not uri.startswith("s3://"):
        return {}
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    options = {"AWS_REGION": query.get("region", ["us-east-1"])[0]} if parts.query else {}
    if "endpoint_override" in query:
        scheme = query.get("scheme", ["https"])[0]
        options["AWS_ENDPOINT_URL"] = f"{scheme}://{query['endpoint_override'][0]}"
        options["AWS_ALLOW_HTTP"] = "true" if scheme == "http" else "false"
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        key, _, secret = userinfo.partition(":")
        options.update(AWS_ACCESS_KEY_ID=unquote(key), AWS_SECRET_ACCESS_KEY=unquote(secret))
    return options


AZURE_SCHEMES = ("abfs", "abfss")
AZURE_KEY_VARIABLES = ("AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY")


def _azure_lake(uri: str) -> tuple[pafs.FileSystem, str, dict[str, str]]:
    """pyarrow's AzureFileSystem and deltalake's options for `abfs[s]://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH`.

    Credentials: an account key from $AZURE_STORAGE_KEY (or $AZURE_STORAGE_ACCOUNT_KEY), else
    Azure's default chain (service principal variables, managed identity, the az CLI). An emulator
    or private endpoint is named in the query as for S3: `?endpoint_override=127.0.0.1:10000&scheme=http`
    (Azurite: account devstoreaccount1)."""
    parts = urlsplit(uri)
    container, _, host = parts.netloc.rpartition("@")
    if not container or ":" in container or not host:
        raise LakeNotFoundError(f"cannot open lake root {redact_uri(uri)}: write it as "
                                f"{parts.scheme}://CONTAINER@ACCOUNT.dfs.core.windows.net/PATH (keys go in "
                                "$AZURE_STORAGE_KEY, never in the URI)")
    account = host.split(".", 1)[0]
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    unknown = sorted(set(query) - {"endpoint_override", "scheme"})
    if unknown:
        raise LakeNotFoundError(f"cannot open lake root {redact_uri(uri)}: unknown URI option(s) {', '.join(unknown)} "
                                "(known: endpoint_override, scheme)")
    key = next((os.environ[v] for v in AZURE_KEY_VARIABLES if os.environ.get(v)), None)
    kwargs: dict[str, Any] = {"account_name": account}
    options = {"account_name": account}
    if key:
        kwargs["account_key"] = options["account_key"] = key
    if "endpoint_override" in query:
        scheme = query.get("scheme", "https")
        endpoint = query["endpoint_override"]
        kwargs.update(blob_storage_authority=endpoint, dfs_storage_authority=endpoint,
                      blob_storage_scheme=scheme, dfs_storage_scheme=scheme)
        options["azure_storage_endpoint"] = f"{scheme}://{query['endpoint_override']}/{account}"
        options["allow_http"] = "true" if scheme == "http" else "false"
    try:
        fs = pafs.AzureFileSystem(**kwargs)
    except (pa.ArrowException, OSError, TypeError) as exc:
        raise LakeNotFoundError(f"cannot open lake root {redact_uri(uri)}: {exc}") from exc
    return fs, f"{container}/{unquote(parts.path).strip('/')}".rstrip("/"), options


def open_lake(uri: str) -> Lake:
    """Resolve a lake root URI to a file system and check that it is a folder we can list.
    Messages and the recorded URI never carry the credentials a URI may hold."""
    original, secrets, shown = uri, uri_secrets(uri), redact_uri(uri)
    options = _delta_options(original)
    if urlsplit(uri).scheme in AZURE_SCHEMES:
        fs, path, options = _azure_lake(uri)
    elif is_uri(uri):
        try:
            fs, path = pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise LakeNotFoundError(f"cannot open lake root {shown}: {scrub(str(exc), secrets)}") from exc
    else:
        fs, path = pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise LakeNotFoundError(f"cannot open lake root {shown}: {scrub(str(exc), secrets)}") from exc
    uri = shown
    if info.type == pafs.FileType.NotFound:
        raise LakeNotFoundError(f"lake root {uri} does not exist")
    if info.type != pafs.FileType.Directory:
        raise LakeNotFoundError(f"lake root {uri} is not a folder; point r2d2 at the folder holding the tables")
    if isinstance(fs, pafs.LocalFileSystem) and not os.access(path, os.R_OK | os.X_OK):
        raise LakeNotFoundError(f"lake root {uri} cannot be listed: permission denied")
    # An unlistable root is found by discover's first listing (LakeNotFoundError), not listed twice here.
    return Lake(uri=lake_uri(uri), fs=fs, path=path, secrets=secrets, options=options)
