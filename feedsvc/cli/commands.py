"""The ``feedsvc`` command and its subcommands: a thin layer over the library.

Each subcommand parses its options, calls the seeds and remote ingest, the
publisher, the daemon or the store, and prints the result; :func:`main` is
the entry point and ends the process.  Every
:class:`~feedsvc.errors.FeedsvcError` becomes one line on stderr and the
documented exit code; only a bug in feedsvc itself shows a traceback.  The
options and helpers the subcommands share are in :mod:`.options`; what
``status`` and ``entries`` print is in :mod:`.status` and :mod:`.entries`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from .. import __version__
from ..clock import system_clock
from ..config import Config
from ..daemon.heartbeat import pid_alive, read_heartbeat
from ..errors import EXIT_INTERNAL, EXIT_SKIPPED, ConfigError
from ..store import open_store
from ..store.lock import writer_lock
from .options import (
    _common,
    _config,
    _db,
    _errors,
    _lock_wait,
    _only,
    _out,
    _paths,
    _progress,
    _setup_logging,
    _store_batch,
    _subcommand_config,
    _wait,
)
from .status import (
    failures_json,
    heartbeat_json,
    render_failures,
    render_heartbeat,
    render_store_status,
    source_failures,
)

if TYPE_CHECKING:
    from ..publish.publisher import PublishReport
    from ..remote.ingest import SourcesReport
    from ..seeds.ingest import IngestReport

# Each command imports what it needs when it runs: the seeds pipeline, the
# publisher, and feedsvc.remote.ingest (HTTP client, feed parsers; a third of a
# second by itself).  A cron job or a status query should not pay for all of them.

EXIT_OK = 0
EXIT_REJECTED = 1  # --strict and at least one input file was rejected

log = logging.getLogger("feedsvc")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="feedsvc")
def cli() -> None:
    """Ingest seed articles into a SQLite store and publish Atom and RSS feeds."""


def _run_ingest(cfg: Config, quiet: int, only: str | None = None
                ) -> tuple[IngestReport | None, SourcesReport | None]:
    """The seeds folder and the remote sources (``only`` picks one of them)."""
    seeds = feeds = None
    with open_store(cfg) as store:
        if only in (None, "seeds"):
            from ..seeds.ingest import ingest_seeds

            with _progress("ingest", quiet == 0) as progress:
                seeds = ingest_seeds(store, cfg, progress=progress)
            log.info(_summary(seeds))
        if only in (None, "feeds") and cfg.sources:
            from ..remote.ingest import ingest_sources

            with _progress("feeds", quiet == 0) as progress:
                feeds = ingest_sources(store, cfg, progress=progress)
            log.info(_feeds_summary(feeds))
    return seeds, feeds


def _feeds_summary(report: SourcesReport) -> str:
    outcomes = ", ".join(f"{n} {k}" for k, n in sorted(report.outcomes.items()))
    counts = report.counts
    order = ("new", "revised", "duplicate", "unchanged", "filtered")
    entries = ", ".join(f"{counts.get(k, 0)} {k}" for k in order)
    return f"feeds: {outcomes or 'none'}; entries {entries} in {report.duration:.2f} s"


def _summary(report: IngestReport) -> str:
    order = ("new", "revised", "duplicate", "unchanged", "rejected")
    parts = [f"{report.counts.get(k, 0)} {k}" for k in order]
    return f"ingest: {', '.join(parts)} in {report.duration:.2f} s"


def _finish(report: IngestReport | None, strict: bool,
            feeds: SourcesReport | None = None) -> None:
    if strict and report is not None and report.rejected:
        click.echo(f"feedsvc: {len(report.rejected)} file(s) rejected (--strict)", err=True)
        sys.exit(EXIT_REJECTED)
    if strict and feeds is not None and feeds.failed:
        click.echo(f"feedsvc: {len(feeds.failed)} source(s) failed (--strict)", err=True)
        sys.exit(EXIT_REJECTED)


@cli.command()
@_common
@_paths
@click.option("--strict", is_flag=True,
              help="Exit 1 if any input file is rejected or any remote source fails.")
@_only
@_wait
def ingest(config_path: Path | None, verbose: int, quiet: int, seeds: Path | None,
           db: Path | None, strict: bool, only: str | None, wait: float | None) -> None:
    """Ingest new and changed seed files, and the remote feeds that are due."""
    _setup_logging(verbose, quiet)
    with _errors():
        cfg = _config(config_path, seeds=seeds, db=db)
        with writer_lock(cfg.data_dir, wait=_lock_wait(cfg, wait)):
            report, feeds = _run_ingest(cfg, quiet, only)
        _finish(report, strict, feeds)


@cli.command(name="publish")
@_common
@_paths
@_out
@click.option("--strict", is_flag=True,
              help="Exit 1 if any input file is rejected or any remote source fails.")
@_only
@_wait
def publish_cmd(config_path: Path | None, verbose: int, quiet: int, seeds: Path | None,
                db: Path | None, out: Path | None, strict: bool, only: str | None,
                wait: float | None) -> None:
    """Ingest the seeds folder and the due remote feeds, then write every
    section's feeds and pages."""
    _setup_logging(verbose, quiet)
    with _errors():
        cfg = _config(config_path, seeds=seeds, db=db, out=out)
        with writer_lock(cfg.data_dir, wait=_lock_wait(cfg, wait)):
            report, feeds = _run_ingest(cfg, quiet, only)
            from ..publish.publisher import publish

            with open_store(cfg) as store, _progress("publish", quiet == 0) as progress:
                result = publish(store, cfg, progress=progress)
        log.info(_publish_summary(result, cfg))
        if result.skipped:
            ids = sorted({s.entry_id for s in result.skipped})
            click.echo(f"feedsvc: entries left out because they could not be rendered: "
                       f"{len(ids)} (see the warnings; `feedsvc entries hide ID` takes one "
                       "out)", err=True)
            sys.exit(EXIT_SKIPPED)
        _finish(report, strict, feeds)


def _publish_summary(r: PublishReport, cfg: Config) -> str:
    return (
        f"publish: {r.feeds_written} feed file(s) written, {r.feeds_unchanged} unchanged, "
        f"{r.pages_written} page(s) written, {r.files_removed} removed "
        f"in {r.duration:.2f} s → {cfg.publish.folder}"
    )


@cli.command()
@_common
@_paths
@_out
@click.option("--once", is_flag=True,
              help="Run every due job once, publish if anything changed, then exit (cron).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as plain text or as one JSON object each.")
def run(config_path: Path | None, verbose: int, quiet: int, seeds: Path | None,
        db: Path | None, out: Path | None, once: bool, log_format: str) -> None:
    """Keep the feeds fresh: scan, ingest and publish on a schedule until stopped.

    SIGTERM or SIGINT stop it cleanly (exit 0); SIGHUP reloads the configuration.
    """
    _setup_logging(verbose, quiet)
    # Imported here: the scheduler's libraries are not needed by other commands.
    from ..daemon.logs import use_log_format
    from ..daemon.scheduler import Daemon

    use_log_format(log_format)
    with _errors():
        def load() -> Config:
            return _config(config_path, seeds=seeds, db=db, out=out)

        daemon = Daemon(load(), load=load)
        sys.exit(daemon.run_once() if once else daemon.serve())


@cli.command()
@_common
@_db
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config_path: Path | None, verbose: int, quiet: int, db: Path | None,
           as_json: bool) -> None:
    """Show entries per section, the last run, rejected files and failing
    remote sources (read-only)."""
    _setup_logging(verbose, quiet)
    with _errors():
        cfg = _config(config_path, db=db)
        with open_store(cfg, readonly=True) as store:
            st = store.status()
            failing = source_failures(store.source_states(), {s.name for s in cfg.sources})
        beat, now = read_heartbeat(cfg.data_dir), system_clock()
        alive = beat is not None and pid_alive(beat.pid)
        if as_json:
            doc = {**asdict(st), "failing_sources": failures_json(failing),
                   "daemon": heartbeat_json(beat, now, alive)}
            click.echo(json.dumps(doc, indent=2, default=str, ensure_ascii=False))
        else:
            click.echo(render_store_status(st))
            if cfg.sources:
                click.echo(render_failures(failing))
            click.echo(render_heartbeat(beat, now, alive))


@cli.group(invoke_without_command=True)
@_common
@_db
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def sources(ctx: click.Context, config_path: Path | None, verbose: int, quiet: int,
            db: Path | None, as_json: bool) -> None:
    """List the remote feeds with their state (read-only): last fetch, HTTP
    status, entries, consecutive errors, next due time, disabled and why."""
    _setup_logging(verbose, quiet)
    ctx.obj = (config_path, db)
    if ctx.invoked_subcommand is not None:
        return
    from ..remote.ingest import read_store
    from .sources import render_sources, source_lines, sources_json

    with _errors():
        cfg = _config(config_path, db=db)
        store = read_store(cfg)
        try:
            lines = source_lines(cfg, store)
        finally:
            if store is not None:
                store.close()
        if as_json:
            click.echo(json.dumps(sources_json(lines), indent=2, ensure_ascii=False))
        else:
            click.echo(render_sources(lines, system_clock()))


@sources.command(name="enable")
@click.argument("name")
@_common
@_db
@_wait
@click.pass_context
def sources_enable(ctx: click.Context, name: str, config_path: Path | None, verbose: int,
                   quiet: int, db: Path | None, wait: float | None) -> None:
    """Fetch a source disabled by HTTP 410 again (at the next run)."""
    _setup_logging(verbose, quiet)
    with _errors():
        cfg = _subcommand_config(ctx, config_path, db)
        if name not in {s.name for s in cfg.sources}:
            known = ", ".join(s.name for s in cfg.sources) or "none"
            raise ConfigError(f"no source named {name!r} (configured: {known})",
                              where=cfg.source)
        with _store_batch(cfg, wait) as store:
            done = store.enable_source(name)
        click.echo(f"{name}: enabled; fetched at the next run" if done
                   else f"{name}: was not disabled")


@cli.group(invoke_without_command=True)
@_common
@_db
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--section", metavar="S", help="Only this section and those below it "
              "(its label, 'National / Politics', or its folder, 'national/politics').")
@click.option("--source", metavar="NAME", help="Only entries from this source ('seeds', or "
              "the name of a [[sources]] feed).")
@click.option("--search", metavar="TEXT", help="Only entries whose title contains TEXT "
              "(any case), or whose id or page is TEXT.")
@click.option("--hidden", is_flag=True, help="Only hidden entries.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True,
              metavar="N", help="At most N entries, the newest (0: all).")
@click.pass_context
def entries(ctx: click.Context, config_path: Path | None, verbose: int, quiet: int,
            db: Path | None, as_json: bool, section: str | None, source: str | None,
            search: str | None, hidden: bool, limit: int) -> None:
    """List entries, newest first: id, updated, section, source, title, and
    whether hidden (read-only).  `entries hide ID` takes one out of every feed
    and page, `entries unhide ID` puts it back."""
    _setup_logging(verbose, quiet)
    ctx.obj = (config_path, db)
    if ctx.invoked_subcommand is not None:
        return
    from ..store.admin import list_entries
    from .entries import entry_json, render_entries

    with _errors():
        cfg = _config(config_path, db=db)
        with open_store(cfg, readonly=True) as store:
            found = list_entries(store, section=section, source=source, search=search,
                                 hidden=True if hidden else None, limit=limit or None)
        if as_json:
            click.echo(json.dumps([entry_json(i) for i in found], indent=2, ensure_ascii=False))
        else:
            click.echo(render_entries(found))


def _visibility_command(name: str, hide: bool, doc: str) -> None:
    """``entries hide`` and ``entries unhide``: the same but for the direction."""

    @entries.command(name=name, help=doc)
    @click.argument("ref", metavar="ID")
    @_common
    @_db
    @_wait
    @click.pass_context
    def command(ctx: click.Context, ref: str, config_path: Path | None, verbose: int,
                quiet: int, db: Path | None, wait: float | None) -> None:
        from ..store.admin import hide_entry, unhide_entry
        from .entries import describe

        _setup_logging(verbose, quiet)
        with _errors():
            cfg = _subcommand_config(ctx, config_path, db)
            with _store_batch(cfg, wait) as store:
                done = (hide_entry if hide else unhide_entry)(store, ref)
            click.echo(describe(done))


_visibility_command("hide", True, "Take entry ID (or the entry whose page path is ID) out of "
                    "every feed, section index and article page from the next publish on; it "
                    "stays in the store.")
_visibility_command("unhide", False, "Publish a hidden entry again from the next publish on.")


#: mallopt(3) parameters of glibc.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


def _keep_freed_memory() -> None:
    """Let the C heap keep what Python frees, for its next use.

    glibc hands the top of the heap back to the kernel once 128 KiB of it are
    free, and serves blocks from 128 KiB up (a feed's body, a parsed feed on
    its way back from a worker) with mmap, unmapped again on free: every
    feed of a run had its memory zeroed and faulted in anew.  A run of 500
    feeds took 180,000 page faults, 80,000 with these settings, and about 3 %
    less CPU.  Pages the process once needed now stay with it until it ends
    (a daemon keeps its high-water mark).  Elsewhere than glibc, nothing
    changes.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the process runs on
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    mallopt(_M_TOP_PAD, 16 << 20)


def _one_blas_thread() -> None:
    """numpy's OpenBLAS starts a thread per core at import, which spins for
    about 0.07 s of CPU; feedsvc does no linear algebra."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    # Exit codes are part of the interface (README); click's own usage errors exit 2.
    _keep_freed_memory()
    _one_blas_thread()
    status: object = EXIT_OK
    try:
        cli.main(prog_name="feedsvc", standalone_mode=True)
    except SystemExit as exc:
        status = exc.code
    except Exception:  # a bug, not a user error: keep the traceback for the report
        logging.getLogger("feedsvc").exception("internal error")
        status = EXIT_INTERNAL
    _exit(status)


def _exit(status: object) -> NoReturn:
    """End the process once the command is done, without tearing the interpreter down.

    By now every command has closed its store, written and renamed its files
    and joined its threads and processes; what is left of a normal exit is
    Python freeing objects one by one and collecting the cycles of every
    module (lxml, numpy, the HTTP client), a sixth of a second of CPU after a
    feed run.  mypy's command leaves the same way.  Anything still running is
    waited for as usual instead.
    """
    if status is None:
        code = EXIT_OK
    elif isinstance(status, int):
        code = status
    else:  # SystemExit("message"), as sys.exit prints it
        print(status, file=sys.stderr)
        code = 1
    running = [t for t in threading.enumerate()
               if t.is_alive() and not t.daemon and t is not threading.main_thread()]
    mp = sys.modules.get("multiprocessing")
    if running or (mp is not None and mp.active_children()):
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe (feedsvc sources | head) leaves nothing to add.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
