"""config.toml validation: every refusal names the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsvc.config import Config, load_config
from feedsvc.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_equals_the_built_in_defaults() -> None:
    shipped = load_config(REPO / "config.toml")
    defaults = Config()
    assert shipped.site == defaults.site
    assert shipped.dedup == defaults.dedup
    assert shipped.seeds.boilerplate == defaults.seeds.boilerplate
    assert shipped.seeds.folder == REPO / "seeds"
    assert shipped.store.path == REPO / "data" / "feedsvc.db"
    assert shipped.publish.folder == REPO / "data" / "feeds"
    assert shipped.publish.entries_per_feed == 50
    assert shipped.store.batch_files == 5000


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, '[seeds]\nfolder = "in"\n[store]\npath = "db/x.db"\n'))
    assert cfg.seeds.folder == tmp_path / "in"
    assert cfg.store.path == tmp_path / "db" / "x.db"
    assert cfg.data_dir == tmp_path / "db"


def test_overrides_are_relative_to_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = Config().with_overrides(seeds=Path("s"), db=Path("d.db"), out=Path("o"))
    assert (cfg.seeds.folder, cfg.store.path, cfg.publish.folder) == (
        tmp_path / "s",
        tmp_path / "d.db",
        tmp_path / "o",
    )


def test_values_are_read(tmp_path: Path) -> None:
    cfg = load_config(
        write(
            tmp_path,
            """
[site]
title = "Daily"
base_url = "https://news.example.org/feeds"
language = "en-GB"
author = "Desk"
[seeds]
pattern = "*.seed"
default_section = "General / Misc"
boilerplate = ["Coronavirus banner", "Advertisement"]
[publish]
entries_per_feed = 20
[dedup]
threshold = 0.9
""",
        )
    )
    assert cfg.site.base_url == "https://news.example.org/feeds/"
    assert cfg.site.tag_authority == "news.example.org"
    assert cfg.seeds.default_section == ("General", "Misc")
    assert cfg.seeds.boilerplate == ("Coronavirus banner", "Advertisement")
    assert cfg.publish.entries_per_feed == 20
    assert cfg.dedup.threshold == 0.9


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("titel = 1\n", "titel"),
        ("[site]\ntitel = 'x'\n", "site.titel"),
        ("[seeds]\nfolders = 'x'\n", "seeds.folders"),
        ("site = 3\n", "site"),
        ("[site]\ntitle = 3\n", "site.title"),
        ("[site]\ntitle = ''\n", "site.title"),
        ("[site]\nbase_url = 'ftp://x/'\n", "site.base_url"),
        ("[site]\nbase_url = 'localhost'\n", "site.base_url"),
        ("[site]\nlanguage = 'english language'\n", "site.language"),
        ("[publish]\nentries_per_feed = 0\n", "publish.entries_per_feed"),
        ("[store]\nbatch_files = 0\n", "store.batch_files"),
        ("[store]\nbatch_files = 1.5\n", "store.batch_files"),
        ("[publish]\nentries_per_feed = '50'\n", "publish.entries_per_feed"),
        ("[publish]\nentries_per_feed = true\n", "publish.entries_per_feed"),
        ("[dedup]\nthreshold = 1.5\n", "dedup.threshold"),
        ("[dedup]\nthreshold = 'high'\n", "dedup.threshold"),
        ("[seeds]\nboilerplate = ['(unclosed']\n", "seeds.boilerplate[0]"),
        ("[seeds]\nboilerplate = 'Coronavirus banner'\n", "seeds.boilerplate"),
        ("[seeds]\npattern = 'a/*.txt'\n", "seeds.pattern"),
        ("[seeds]\ndefault_section = 'A //B'\n", "seeds.default_section"),
        ("[seeds]\nmax_bytes = 10\n", "seeds.max_bytes"),
    ],
)
def test_invalid_values_name_the_key_and_the_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert f"'{key}'" in message
    assert str(path) in message
    assert err.value.exit_code == 2


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[site\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("url", [
    "http://reader:s3cr3t@[::1/feed",  # does not parse
    "http://reader:s3cr3t@/feed",  # no host
    "http://reader:s3cr3t@news.example.org/a feed",  # a space
    "gopher://reader:s3cr3t@news.example.org/feed",  # a scheme we do not fetch
])
def test_a_refused_source_url_never_shows_its_password(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, f'[[sources]]\nurl = "{url}"\nsection = "World"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "sources[0].url" in str(info.value)
    assert "s3cr3t" not in str(info.value)
    assert "reader:***@" in str(info.value)


def test_a_repeated_source_url_never_shows_its_password(tmp_path: Path) -> None:
    source = '[[sources]]\nurl = "https://reader:s3cr3t@news.example.org/feed"\nsection = "W"\n'
    path = write(tmp_path, source + source.replace("section", 'name = "b"\nsection'))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "already used" in str(info.value)
    assert "s3cr3t" not in str(info.value)
