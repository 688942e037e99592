"""The one exception tree of feedsvc.

Every error a caller can act on derives from :class:`FeedsvcError`.  Domain
branches carry the file or URL at fault so that the CLI can print one clear
line.  Foreign exceptions (``OSError``, ``sqlite3.Error``, ``tomllib`` …) are
translated where they cross into our code, never left to leak upwards.
"""

from __future__ import annotations

from pathlib import Path


class FeedsvcError(Exception):
    """Root of every error feedsvc raises on purpose."""

    #: process exit code the CLI uses for this kind of error (see README).
    exit_code = 1

    def __init__(self, message: str, *, where: str | Path | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = str(where) if where is not None else None

    def __str__(self) -> str:
        if self.where:
            return f"{self.where}: {self.message}"
        return self.message


class ConfigError(FeedsvcError):
    """The configuration file or a command-line override is invalid."""

    exit_code = 2


class SeedError(FeedsvcError):
    """A seed file cannot be turned into an article (the file is rejected)."""

    exit_code = 1


class EntryError(FeedsvcError):
    """An entry or section named on the command line does not exist."""

    exit_code = 2


class InputError(FeedsvcError):
    """An input folder or file cannot be read at all (not a per-file rejection)."""

    exit_code = 3


class StoreError(FeedsvcError):
    """The SQLite store is unusable: corrupt, locked for too long, newer schema."""

    exit_code = 4


class PublishError(FeedsvcError):
    """Feeds or pages could not be written to the output folder."""

    exit_code = 3


class LockError(FeedsvcError):
    """Another feedsvc writer holds the data folder's lock."""

    exit_code = 5


class FetchError(FeedsvcError):
    """A remote feed could not be fetched or parsed."""

    exit_code = 1


class DataFolderError(FeedsvcError):
    """The data folder (the store's folder, which holds the locks) cannot be
    created or written: an I/O problem, not another writer."""

    exit_code = 3


#: Exit codes that are not an exception's: the run went on to the end.
EXIT_SKIPPED = 6  # published, but some entries could not be rendered and were left out
EXIT_INTERNAL = 70  # a bug in feedsvc (EX_SOFTWARE)
