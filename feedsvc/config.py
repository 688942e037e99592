"""Configuration: ``config.toml`` → a frozen, fully validated :class:`Config`.

Validation is strict and happens before anything is touched: an unknown key,
a wrong type or an impossible value is refused with the key and the file
named.  Relative paths in the file are relative to the file's own folder, so
``feedsvc --config /etc/feedsvc/config.toml`` works from any working folder.
The checks are written out key by key here; the types they build live in
:mod:`feedsvc.configtypes` and are imported from this module.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .configtypes import (
    Config,
    DaemonConfig,
    DedupConfig,
    FetchConfig,
    PublishConfig,
    SeedsConfig,
    SiteConfig,
    SourceConfig,
    StoreConfig,
)
from .errors import ConfigError
from .models import SectionPath
from .siteurl import base_url_problem
from .urls import masked

__all__ = [
    "Config",
    "DaemonConfig",
    "DedupConfig",
    "FetchConfig",
    "PublishConfig",
    "SeedsConfig",
    "SiteConfig",
    "SourceConfig",
    "StoreConfig",
    "load_config",
    "parse_config",
    "usable_cores",
]


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_config(path: Path | None, *, seeds: Path | None = None, db: Path | None = None,
                out: Path | None = None) -> Config:
    """Read and validate a config file (``None``: the built-in defaults), with
    the command-line overrides applied (see :meth:`Config.with_overrides`)."""
    return _read_config(path).with_overrides(seeds=seeds, db=db, out=out)


def _read_config(path: Path | None) -> Config:
    if path is None:
        return Config(
            seeds=replace(SeedsConfig(), folder=SeedsConfig().folder.absolute()),
            store=StoreConfig(path=StoreConfig().path.absolute()),
            publish=replace(PublishConfig(), folder=PublishConfig().folder.absolute()),
        )
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("config file not found", where=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", where=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=path) from None
    except UnicodeDecodeError:
        raise ConfigError("not valid UTF-8", where=path) from None
    return parse_config(raw, source=path)


def parse_config(raw: dict[str, Any], *, source: Path) -> Config:
    """Validate a decoded TOML document (pure apart from path resolution)."""
    v = _Validator(source)
    v.only_keys(raw, "", {"site", "seeds", "store", "publish", "dedup", "daemon", "fetch",
                          "sources"})
    base = source.parent.absolute()
    fetch = _fetch(v, v.table(raw, "fetch"))
    return Config(
        site=_site(v, v.table(raw, "site")),
        seeds=_seeds(v, v.table(raw, "seeds"), base),
        store=_store(v, v.table(raw, "store"), base),
        publish=_publish(v, v.table(raw, "publish"), base),
        dedup=_dedup(v, v.table(raw, "dedup")),
        daemon=_daemon(v, v.table(raw, "daemon")),
        source=source,
        fetch=fetch,
        sources=_sources(v, raw.get("sources", []), fetch, base),
    )


class _Validator:
    def __init__(self, source: Path) -> None:
        self.source = source
        self.prefix = ""  # the table being validated, e.g. "site."

    def fail(self, key: str, problem: str) -> ConfigError:
        if not key.startswith(self.prefix):
            key = self.prefix + key
        return ConfigError(f"key '{key}': {problem}", where=self.source)

    def only_keys(self, table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
        for key in table:
            if key not in allowed:
                allowed_here = ", ".join(sorted(allowed))
                raise self.fail(f"{prefix}{key}", f"unknown key (allowed here: {allowed_here})")

    def table(self, raw: dict[str, Any], name: str) -> dict[str, Any]:
        self.prefix = ""
        value = raw.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        self.prefix = f"{name}."
        return value

    def get(
        self, table: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any
    ) -> Any:
        if key not in table:
            return default
        value = table[key]
        # bool is an int in Python; a boolean is never a valid number here.
        if isinstance(value, bool) and kind is not bool:
            raise self.fail(key, f"must be {_kind_name(kind)}, not a boolean")
        if not isinstance(value, kind):
            raise self.fail(key, f"must be {_kind_name(kind)}, not {type(value).__name__}")
        return value

    def text(self, table: dict[str, Any], key: str, default: str, *, empty: bool = False) -> str:
        value: str = self.get(table, key, str, default)
        if not empty and not value.strip():
            raise self.fail(key, "must not be empty")
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise self.fail(key, "must not contain control characters")
        return value

    def path(self, table: dict[str, Any], key: str, default: Path, base: Path) -> Path:
        value = self.text(table, key, str(default))
        return (base / Path(value).expanduser()).absolute()

    def integer(self, table: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
        value: int = self.get(table, key, int, default)
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low} and {high}, got {value}")
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def _site(v: _Validator, t: dict[str, Any]) -> SiteConfig:
    d = SiteConfig()
    v.only_keys(t, "site.", {"title", "base_url", "language", "author", "description"})
    base_url = v.text(t, "base_url", d.base_url)
    problem = base_url_problem(base_url)
    if problem is not None:
        raise v.fail("site.base_url", f"{problem}, got {base_url!r}")
    if not base_url.endswith("/"):
        base_url += "/"
    language = v.text(t, "language", d.language)
    if not _LANG.fullmatch(language):
        raise v.fail(
            "site.language", f"must be a language tag such as 'en' or 'en-GB', got {language!r}"
        )
    return SiteConfig(
        title=v.text(t, "title", d.title),
        base_url=base_url,
        language=language,
        author=v.text(t, "author", d.author),
        description=v.text(t, "description", d.description),
    )


def _seeds(v: _Validator, t: dict[str, Any], base: Path) -> SeedsConfig:
    d = SeedsConfig()
    v.only_keys(t, "seeds.", {"folder", "pattern", "default_section", "boilerplate", "max_bytes",
                              "max_paragraph_chars"})
    pattern = v.text(t, "pattern", d.pattern)
    if "/" in pattern or "\\" in pattern:
        raise v.fail("seeds.pattern", "is matched against file names and must not contain '/'")
    default_section = v.text(t, "default_section", "", empty=True)
    section = (
        tuple(s.strip() for s in default_section.split("/")) if default_section.strip() else ()
    )
    if any(not s for s in section):
        raise v.fail("seeds.default_section", "has an empty segment")
    patterns = v.get(t, "boilerplate", list, list(d.boilerplate))
    for i, p in enumerate(patterns):
        if not isinstance(p, str) or not p.strip():
            raise v.fail(f"seeds.boilerplate[{i}]", "must be a non-empty string")
        try:
            re.compile(p)
        except re.error as exc:
            problem = f"is not a valid regular expression: {exc}"
            raise v.fail(f"seeds.boilerplate[{i}]", problem) from None
    return SeedsConfig(
        folder=v.path(t, "folder", d.folder, base),
        pattern=pattern,
        default_section=section,
        boilerplate=tuple(patterns),
        max_bytes=v.integer(t, "max_bytes", d.max_bytes, 1024, 1024**3),
        max_paragraph_chars=v.integer(t, "max_paragraph_chars", d.max_paragraph_chars, 1000,
                                      1024**3),
    )


def _store(v: _Validator, t: dict[str, Any], base: Path) -> StoreConfig:
    d = StoreConfig()
    v.only_keys(t, "store.", {"path", "batch_files"})
    return StoreConfig(path=v.path(t, "path", d.path, base),
                       batch_files=v.integer(t, "batch_files", d.batch_files, 1, 1_000_000))


def _publish(v: _Validator, t: dict[str, Any], base: Path) -> PublishConfig:
    d = PublishConfig()
    v.only_keys(t, "publish.", {"folder", "entries_per_feed", "summary_chars"})
    return PublishConfig(
        folder=v.path(t, "folder", d.folder, base),
        entries_per_feed=v.integer(t, "entries_per_feed", d.entries_per_feed, 1, 10_000),
        summary_chars=v.integer(t, "summary_chars", d.summary_chars, 40, 10_000),
    )


def _dedup(v: _Validator, t: dict[str, Any]) -> DedupConfig:
    v.only_keys(t, "dedup.", {"threshold"})
    threshold = float(v.get(t, "threshold", (int, float), DedupConfig().threshold))
    if not 0.5 <= threshold <= 1.0:
        raise v.fail("dedup.threshold", f"must be between 0.5 and 1.0, got {threshold}")
    return DedupConfig(threshold=threshold)


def _daemon(v: _Validator, t: dict[str, Any]) -> DaemonConfig:
    d = DaemonConfig()
    v.only_keys(t, "daemon.", {"scan_interval", "publish_delay", "lock_wait", "watch",
                               "stop_timeout"})

    def seconds(key: str, default: float, low: float, high: float) -> float:
        value = float(v.get(t, key, (int, float), default))
        if not low <= value <= high:
            raise v.fail(f"daemon.{key}", f"must be between {low:g} and {high:g} seconds, "
                         f"got {value:g}")
        return value

    return DaemonConfig(
        scan_interval=v.integer(t, "scan_interval", d.scan_interval, 1, 86_400),
        publish_delay=seconds("publish_delay", d.publish_delay, 0.1, 3_600),
        lock_wait=seconds("lock_wait", d.lock_wait, 0, 86_400),
        watch=v.get(t, "watch", bool, d.watch),
        stop_timeout=seconds("stop_timeout", d.stop_timeout, 1, 3_600),
    )


def _fetch(v: _Validator, t: dict[str, Any]) -> FetchConfig:
    d = FetchConfig()
    v.only_keys(t, "fetch.", {"connect_timeout", "read_timeout", "total_timeout", "max_bytes",
                              "concurrency", "per_host", "interval", "min_interval",
                              "max_interval", "backoff_cap"})

    def seconds(key: str, default: float) -> float:
        value = float(v.get(t, key, (int, float), default))
        if not 0.01 <= value <= 3_600:
            raise v.fail(f"fetch.{key}", f"must be between 0.01 and 3600 seconds, got {value:g}")
        return value

    month = 30 * 86_400
    cfg = FetchConfig(
        connect_timeout=seconds("connect_timeout", d.connect_timeout),
        read_timeout=seconds("read_timeout", d.read_timeout),
        total_timeout=seconds("total_timeout", d.total_timeout),
        max_bytes=v.integer(t, "max_bytes", d.max_bytes, 1024, 1024**3),
        concurrency=v.integer(t, "concurrency", d.concurrency, 1, 64),
        per_host=v.integer(t, "per_host", d.per_host, 1, 64),
        interval=v.integer(t, "interval", d.interval, 1, month),
        min_interval=v.integer(t, "min_interval", d.min_interval, 1, month),
        max_interval=v.integer(t, "max_interval", d.max_interval, 1, month),
        backoff_cap=v.integer(t, "backoff_cap", d.backoff_cap, 1, month),
    )
    if cfg.min_interval > cfg.max_interval:
        raise v.fail("fetch.min_interval", f"must not exceed fetch.max_interval "
                     f"({cfg.min_interval} > {cfg.max_interval})")
    if not cfg.min_interval <= cfg.interval <= cfg.max_interval:
        raise v.fail("fetch.interval", f"must lie between fetch.min_interval and "
                     f"fetch.max_interval ({cfg.min_interval} to {cfg.max_interval}), "
                     f"got {cfg.interval}")
    return cfg


_SOURCE_KEYS = {"url", "name", "section", "category_map", "default_section", "interval",
                "include", "exclude"}


def _sources(v: _Validator, raw: Any, fetch: FetchConfig, base: Path
             ) -> tuple[SourceConfig, ...]:
    v.prefix = ""
    if not isinstance(raw, list):
        raise v.fail("sources", "must be an array of tables ([[sources]])")
    out: list[SourceConfig] = []
    names: dict[str, int] = {}
    urls: dict[str, int] = {}
    for i, t in enumerate(raw):
        key = f"sources[{i}]"
        if not isinstance(t, dict):
            raise v.fail(key, "must be a table")
        v.prefix = f"{key}."
        source = _source(v, t, key, fetch, base)
        for seen, value, what in ((names, source.name, "name"), (urls, source.url, "url")):
            if value in seen:
                raise v.fail(f"{key}.{what}", f"{masked(value)!r} is already used by "
                             f"sources[{seen[value]}]")
            seen[value] = i
        out.append(source)
    return tuple(out)


def _section_path(v: _Validator, key: str, text: str) -> SectionPath:
    section = tuple(s.strip() for s in text.split("/")) if text.strip() else ()
    if any(not s for s in section):
        raise v.fail(key, "has an empty segment")
    return section


def _patterns(v: _Validator, t: dict[str, Any], key: str, full: str) -> tuple[str, ...]:
    value = v.get(t, key, (str, list), [])
    patterns = [value] if isinstance(value, str) else value
    for i, p in enumerate(patterns):
        where = full if isinstance(value, str) else f"{full}[{i}]"
        if not isinstance(p, str) or not p:
            raise v.fail(where, "must be a non-empty string")
        try:
            re.compile(p)
        except re.error as exc:
            raise v.fail(where, f"is not a valid regular expression: {exc}") from None
    return tuple(patterns)


def _source(v: _Validator, t: dict[str, Any], key: str, fetch: FetchConfig, base: Path
            ) -> SourceConfig:
    v.only_keys(t, f"{key}.", _SOURCE_KEYS)
    if "url" not in t:
        raise v.fail(f"{key}.url", "is required")
    if "section" not in t:
        raise v.fail(f"{key}.section", 'is required (a section path, or "*" for each '
                     "entry's own category)")
    raw_url = v.text(t, "url", "")
    try:
        parts = urlsplit(raw_url)
        _ = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError as exc:
        raise v.fail(f"{key}.url", f"is not a valid URL ({exc}): {masked(raw_url)!r}"
                     ) from None
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise v.fail(f"{key}.url", f"has no host: {masked(raw_url)!r}")
        if any(c.isspace() for c in raw_url):
            raise v.fail(f"{key}.url", f"must not contain spaces (write %20): "
                                            f"{masked(raw_url)!r}")
        url = raw_url
    elif parts.scheme == "file":
        from urllib.request import url2pathname  # a tenth of a second to import

        url = Path(url2pathname(parts.path)).absolute().as_uri()
    elif parts.scheme and len(parts.scheme) > 1:
        raise v.fail(f"{key}.url", f"must be an http(s) or file URL or a path, got "
                     f"{masked(raw_url)!r}")
    else:
        url = (base / Path(raw_url).expanduser()).absolute().as_uri()
    section_text = v.text(t, "section", "", empty=True)
    section = None if section_text.strip() == "*" else \
        _section_path(v, f"{key}.section", section_text)
    mapping = v.get(t, "category_map", dict, {})
    if mapping and section is not None:
        raise v.fail(f"{key}.category_map", 'only applies with section = "*"')
    category_map = []
    for category, target in mapping.items():
        where = f"{key}.category_map.{category}"
        if not isinstance(target, str):
            raise v.fail(where, "must be a section path (a string)")
        category_map.append((category.strip().lower(), _section_path(v, where, target)))
    default_section = _section_path(v, f"{key}.default_section",
                                    v.text(t, "default_section", "", empty=True))
    if "default_section" in t and section is not None:
        raise v.fail(f"{key}.default_section", 'only applies with section = "*"')
    interval = None
    if "interval" in t:
        interval = v.integer(t, "interval", fetch.interval, fetch.min_interval,
                             fetch.max_interval)
    host = parts.hostname or ""
    name = v.text(t, "name", (host + parts.path.rstrip("/")) if host else Path(
        urlsplit(url).path).name)
    return SourceConfig(
        name=name,
        url=url,
        section=section,
        category_map=tuple(category_map),
        default_section=default_section,
        interval=interval,
        include=_patterns(v, t, "include", f"{key}.include"),
        exclude=_patterns(v, t, "exclude", f"{key}.exclude"),
    )
