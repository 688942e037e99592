"""The configuration's frozen types: one dataclass per table of ``config.toml``.

Each table (``[site]``, ``[seeds]``, ``[fetch]``, each ``[[sources]]`` ...)
is a frozen dataclass whose defaults are the built-in ones, and
:class:`Config` holds them all.  Programs may build them directly;
:mod:`feedsvc.config` reads, checks and builds them from a file, and is where
the rest of the package imports them from.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError
from .layout import check_layout
from .models import SectionPath
from .siteurl import base_url_problem


@dataclass(frozen=True, slots=True)
class SiteConfig:
    title: str = "feedsvc"
    base_url: str = "http://localhost:8000/"
    language: str = "en"
    author: str = "feedsvc"
    description: str = "Articles published by feedsvc"

    def __post_init__(self) -> None:
        # Also for a SiteConfig built by a program rather than read from a file.
        problem = base_url_problem(self.base_url)
        if problem is not None:
            raise ConfigError(f"key 'site.base_url': {problem}, got {self.base_url!r}")

    @property
    def tag_authority(self) -> str:
        """The host used in minted ``tag:`` URIs (lower case, no port)."""
        host = urlsplit(self.base_url).hostname
        assert host  # validated in _site()
        return host.lower()


@dataclass(frozen=True, slots=True)
class SeedsConfig:
    folder: Path = Path("seeds")
    pattern: str = "*.txt"
    default_section: SectionPath = ()
    boilerplate: tuple[str, ...] = (r"Coronavirus banner",)
    max_bytes: int = 16 * 1024 * 1024
    max_paragraph_chars: int = 100_000


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: Path = Path("data/feedsvc.db")
    #: seed files per transaction: a crash loses at most this many files' work
    #: (the next run redoes it); large batches write the hash indexes far less
    batch_files: int = 5000


@dataclass(frozen=True, slots=True)
class PublishConfig:
    folder: Path = Path("data/feeds")
    entries_per_feed: int = 50
    summary_chars: int = 300


@dataclass(frozen=True, slots=True)
class DedupConfig:
    threshold: float = 0.8


@dataclass(frozen=True, slots=True)
class DaemonConfig:
    scan_interval: int = 60  # seconds between two scans of the seeds folder
    publish_delay: float = 0.5  # seconds from a changing ingest to its publish (coalescing)
    lock_wait: float = 30.0  # seconds a writer waits for the writer lock, then exit 5
    watch: bool = True  # watch the seeds folder for new files (inotify)
    stop_timeout: float = 20.0  # seconds a stop may take before feedsvc exits regardless


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """How remote feeds are fetched (the ``[fetch]`` table): defaults for every source."""

    connect_timeout: float = 10.0  # seconds to open a connection
    read_timeout: float = 30.0  # seconds without a byte arriving
    total_timeout: float = 60.0  # seconds for a whole fetch, redirects included
    max_bytes: int = 15 * 1024 * 1024  # a longer body is cut off and the fetch fails
    concurrency: int = 8  # fetches in flight at once
    per_host: int = 2  # of which at most this many to one host
    interval: int = 3600  # seconds between two fetches of a source (its default)
    min_interval: int = 300  # bounds of every interval, also after cache hints
    max_interval: int = 86_400
    backoff_cap: int = 86_400  # longest wait after repeated failures


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """One remote feed (a ``[[sources]]`` table)."""

    name: str
    url: str  # http(s):// or file:// (a local path in the file becomes a file:// URL)
    #: The section of its entries; None: each entry's own category (``section = "*"``).
    section: SectionPath | None
    #: Category (lower case) -> section, for ``section = "*"``.
    category_map: tuple[tuple[str, SectionPath], ...] = ()
    #: Section of entries without a (mapped) category when ``section = "*"``.
    default_section: SectionPath = ()
    interval: int | None = None  # None: fetch.interval
    include: tuple[str, ...] = ()  # regexes; an entry is kept if one matches title or a category
    exclude: tuple[str, ...] = ()  # regexes; an entry is dropped if one matches

    def section_for(self, categories: tuple[str, ...]) -> SectionPath:
        """The section an entry with these categories goes to."""
        if self.section is not None:
            return self.section
        mapped = dict(self.category_map)
        for category in categories:
            found = mapped.get(category.strip().lower())
            if found is not None:
                return found
        for category in categories:
            name = " ".join(category.split())
            if name:
                return (name,)
        return self.default_section


@dataclass(frozen=True, slots=True)
class Config:
    site: SiteConfig = SiteConfig()
    seeds: SeedsConfig = SeedsConfig()
    store: StoreConfig = StoreConfig()
    publish: PublishConfig = PublishConfig()
    dedup: DedupConfig = DedupConfig()
    daemon: DaemonConfig = DaemonConfig()
    source: Path | None = None  # the file this came from, for messages
    fetch: FetchConfig = FetchConfig()
    sources: tuple[SourceConfig, ...] = ()  # remote feeds

    def with_overrides(
        self,
        *,
        seeds: Path | None = None,
        db: Path | None = None,
        out: Path | None = None,
    ) -> Config:
        """Apply command-line overrides (paths relative to the working folder),
        then check the folders of the result (:func:`~feedsvc.layout.check_layout`)."""
        cfg = self
        if seeds is not None:
            cfg = replace(cfg, seeds=replace(cfg.seeds, folder=seeds.absolute()))
        if db is not None:
            cfg = replace(cfg, store=replace(cfg.store, path=db.absolute()))
        if out is not None:
            cfg = replace(cfg, publish=replace(cfg.publish, folder=out.absolute()))
        given = {"seeds.folder": seeds, "store.path": db, "publish.folder": out}
        check_layout(cfg, [key for key, value in given.items() if value is not None])
        return cfg

    @property
    def data_dir(self) -> Path:
        """The folder holding the store (and the writer lock)."""
        return self.store.path.parent
