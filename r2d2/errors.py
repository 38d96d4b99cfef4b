"""The one exception tree of r2d2. Messages are meant for data engineers: they name the table,
the file and what to do."""

import re


class R2D2Error(Exception):
    """Root of every error r2d2 raises on purpose."""


class UsageError(R2D2Error):
    """Bad arguments or configuration; the CLI exits with code 2."""


class LakeNotFoundError(UsageError):
    """The lake root does not exist or cannot be listed; the CLI exits with code 2."""


class EngineError(R2D2Error):
    """An engine could not compare a table's values (an odd type, say); its pairs become unknown."""


class TableReadError(R2D2Error):
    """A table (or one of its files) cannot be read. Carried as the table's `error`, never fatal."""

    def __init__(self, message: str, *, table: str = "", path: str = "") -> None:
        super().__init__(message)
        self.table = table
        self.path = path


MESSAGE_CHARS = 400  # longer library messages are cut: a table error is read in a table row

# Where libraries start what a data engineer cannot act on: DuckDB's generic advice, Rust backtraces.
_TRAILERS = ("\n\nPossible solutions", "\nStack backtrace:", "\nstack backtrace:", "\nBacktrace:")
_FIRST_FRAME = re.compile(r"\n\s*0: \S")


def concise(message: str) -> str:
    """A library's message as one readable line: advice blocks and backtraces dropped, lines
    joined, whitespace collapsed, and cut to MESSAGE_CHARS (the cut is marked)."""
    if len(message) <= MESSAGE_CHARS and message.isprintable() and "  " not in message \
            and message[:1] != " " and message[-1:] != " ":
        return message  # one line, single spaces (most reasons a scan writes): nothing to change
    for trailer in _TRAILERS:
        message = message.split(trailer, 1)[0]
    frame = _FIRST_FRAME.search(message)  # a bare Rust backtrace: "\n   0: <unknown>\n   1: ..."
    if frame:
        message = message[:frame.start()]
    lines = [" ".join(line.split()) for line in message.splitlines()]
    text = "; ".join(line for line in lines if line)
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1].rstrip() + "…"
