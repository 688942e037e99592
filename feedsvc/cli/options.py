"""The options and helpers every ``feedsvc`` command shares.

The options (``--config``, ``-v``/``-q``, ``--db``, ``--seeds``, ``--out``,
``--wait``, ``--only``), the log handler on stderr, the configuration a
command runs with, the mapping of a :class:`~feedsvc.errors.FeedsvcError`
to one line on stderr and its exit code, the store under the writer lock,
and the progress bar.  They are the command line's own (hence the leading
underscores): the library never needs them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..config import Config, load_config
from ..errors import FeedsvcError
from ..store import open_store
from ..store.lock import writer_lock

if TYPE_CHECKING:
    from ..store import Store

F = TypeVar("F", bound=Callable[..., Any])


def _setup_logging(verbose: int, quiet: int) -> None:
    level = logging.INFO + 10 * (quiet - verbose)
    level = max(logging.DEBUG, min(logging.ERROR, level))
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("feedsvc: %(levelname)s: %(message)s"))
    root = logging.getLogger("feedsvc")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _common(f: F) -> F:
    """Options every command accepts, before or after the command name."""
    f = click.option("-q", "--quiet", count=True, help="Less output (repeatable).")(f)
    f = click.option("-v", "--verbose", count=True, help="More output (repeatable).")(f)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="FEEDSVC_CONFIG",
        help="Configuration file (default: ./config.toml if present, else built-in defaults).",
    )(f)


def _db(f: F) -> F:
    return click.option("--db", type=click.Path(path_type=Path, dir_okay=False),
                        help="SQLite store (overrides store.path).")(f)


def _paths(f: F) -> F:
    f = _db(f)
    return click.option("--seeds", type=click.Path(path_type=Path, file_okay=False),
                        help="Seeds folder (overrides seeds.folder).")(f)


def _out(f: F) -> F:
    return click.option("--out", type=click.Path(path_type=Path, file_okay=False),
                        help="Output folder (overrides publish.folder).")(f)


def _wait(f: F) -> F:
    return click.option(
        "--wait", type=click.FloatRange(min=0), metavar="SECONDS",
        help="Wait up to SECONDS for another writer (feedsvc run, a cron job) to finish, "
             "then exit 5 (default: daemon.lock_wait, 30 s).")(f)


def _lock_wait(cfg: Config, wait: float | None) -> float:
    return cfg.daemon.lock_wait if wait is None else wait


def _config(config_path: Path | None, **overrides: Path | None) -> Config:
    if config_path is None and Path("config.toml").is_file():
        config_path = Path("config.toml")
    return load_config(config_path, **overrides)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except FeedsvcError as exc:
        click.echo(f"feedsvc: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("feedsvc: interrupted", err=True)
        sys.exit(130)


def _subcommand_config(ctx: click.Context, config_path: Path | None,
                       db: Path | None) -> Config:
    """A subcommand's configuration: its own --config/--db, else its group's."""
    group_config, group_db = ctx.obj
    return _config(config_path or group_config, db=db or group_db)


@contextmanager
def _store_batch(cfg: Config, wait: float | None) -> Iterator[Store]:
    """The store, under the writer lock, in one transaction."""
    with writer_lock(cfg.data_dir, wait=_lock_wait(cfg, wait)), open_store(cfg) as store, \
            store.batch():
        yield store


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    # A bar only for a person watching a terminal; cron and logs get none.
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=0, label=label, file=sys.stderr) as bar:
        def step(n: int) -> None:
            bar.update(n)
        yield step


def _only(f: F) -> F:
    return click.option("--only", type=click.Choice(["seeds", "feeds"]),
                        help="Only the seeds folder, or only the remote feeds ([[sources]]).")(f)

