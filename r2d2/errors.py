"""The one exception tree of r2d2. Messages are meant for data engineers: they name the table,
the file and what to do."""


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
