"""The folders of a configuration must not overlap in harmful ways.

Publishing writes and removes files in the output folder: an output folder
that is ``/``, the seeds folder or a folder above it would mix feeds into the
seeds (and could remove what is not feedsvc's), and a store inside the output
folder would be served to the world, with its lock files and heartbeat.  The
check runs on the effective configuration, after the command-line options
(``--seeds``, ``--db``, ``--out``) that replace the file's paths, and names
the option when one of them is the cause; symbolic links are resolved, so
two names of one folder are one folder.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:
    from .configtypes import Config

#: The command-line option that replaces each path, by its key in the file.
OPTIONS = {"seeds.folder": "--seeds", "store.path": "--db", "publish.folder": "--out"}


@dataclass(frozen=True, slots=True)
class _Place:
    key: str  # the key in the file that names it
    path: Path  # with symbolic links resolved
    option: bool  # set by the command-line option rather than the file

    @property
    def name(self) -> str:
        return f"option {OPTIONS[self.key]}" if self.option else f"key '{self.key}'"


def check_layout(config: Config, options: Collection[str] = ()) -> None:
    """Raise :class:`ConfigError` if ``config`` would publish or destroy what
    it should not.  ``options``: the keys a command-line option set."""
    out, seeds, store = (_Place(key, path.resolve(), key in options) for key, path in (
        ("publish.folder", config.publish.folder), ("seeds.folder", config.seeds.folder),
        ("store.path", config.store.path)))

    def refuse(blamed: _Place, problem: str) -> ConfigError:
        return ConfigError(f"{blamed.name}: {problem}",
                           where=None if blamed.option else config.source)

    if out.path == Path(out.path.anchor):
        raise refuse(out, f"the output folder must not be the root folder {out.path}")
    if seeds.path.is_relative_to(out.path):
        what = "is" if seeds.path == out.path else "contains"
        raise refuse(_cause(out, seeds), f"the output folder {out.path} ({out.name}) {what} "
                     f"the seeds folder {seeds.path} ({seeds.name}); publishing would write "
                     "and remove files among the seeds")
    if store.path.is_relative_to(out.path):
        raise refuse(_cause(store, out), f"the store {store.path} ({store.name}) is inside "
                     f"the output folder {out.path} ({out.name}): it would be published, "
                     "with its lock files")


def _cause(first: _Place, second: _Place) -> _Place:
    """The one to name: the option that brought the clash, else ``first``."""
    return second if second.option and not first.option else first
