"""The configuration file: typed values, and one clear message per mistake."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import ConfigError, load_config, parse_duration, parse_size

GOOD = """
[database]
url = "sqlite:///veille.db"

[crawl]
user_agent = "Veille/0.1 (+https://example.org/contact)"

[[sources]]
id = "cgtn-world"
name = "CGTN World"
language = "en"
feeds = ["https://www.cgtn.com/subscribe/rss/section/world.xml"]
allowed_domains = ["cgtn.com"]
interval = "30m"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "veille.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={})
    [source] = config.sources
    assert source.id == "cgtn-world"
    assert source.interval == timedelta(minutes=30)
    assert config.crawl.user_agent == "Veille/0.1 (+https://example.org/contact)"
    assert config.database.url == "sqlite:///veille.db"
    assert config.path == tmp_path / "veille.toml"


def test_environment_overrides_the_database_url(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={"VEILLE_DATABASE_URL": "sqlite:///x.db"})
    assert config.database.url == "sqlite:///x.db"


def test_no_file_means_defaults_with_a_database_in_the_data_directory() -> None:
    config = load_config(None, environ={})
    assert config.sources == []
    assert config.database.url.startswith("sqlite:///") and "veille" in config.database.url


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('interval = "30m"', 'interval = "30m"\nfeed = "x"'),
            "source 'cgtn-world': feed: unknown key",
        ),
        (('language = "en"', "language = 3"), "source 'cgtn-world': language: Input should be"),
        (
            ('feeds = ["https://www.cgtn.com', 'feeds = ["file:///www.cgtn.com'),
            "source 'cgtn-world': feeds.0: not an http(s) URL",
        ),
        (
            ('interval = "30m"', 'interval = "soon"'),
            "source 'cgtn-world': interval: expected a duration",
        ),
        (('id = "cgtn-world"', 'id = "CGTN World"'), "id: must be a slug"),
        (('user_agent = "', 'useragent = "'), "[crawl]: useragent: unknown key"),
        (
            ('allowed_domains = ["cgtn.com"]', 'allowed_domains = ["https://cgtn.com"]'),
            "not a domain name",
        ),
    ],
)
def test_each_mistake_names_file_source_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    message = str(raised.value)
    assert message.startswith(str(path))
    assert expected in message


def test_duplicate_source_ids_are_refused(tmp_path: Path) -> None:
    second = GOOD.split("[[sources]]")[1]
    path = write(tmp_path, GOOD + "\n[[sources]]" + second)
    with pytest.raises(ConfigError, match="duplicate source id 'cgtn-world'"):
        load_config(path, environ={})


def test_toml_syntax_errors_give_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "\n[[sources]\n")
    with pytest.raises(ConfigError, match=r"not valid TOML.*line"):
        load_config(path, environ={})


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml", environ={})


def test_a_source_with_nothing_to_poll_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, '[[sources]]\nid = "empty"\n')
    with pytest.raises(ConfigError, match=r"source 'empty': .*needs something to poll: 'feeds'"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('pages = ["https://a.example/world/"]\nlink_pattern = "(unclosed"',
         r"source 'q': link_pattern: not a regular expression"),
        ('feeds = ["https://a.example/rss"]\nlink_pattern = "/20\\\\d+/"',
         r"'link_pattern' applies to 'pages'"),
        ('sitemaps = ["ftp://a.example/sitemap.xml"]', r"source 'q': sitemaps.0: not an http"),
        ('[sources.query]\nengine = "google_news"\nterms = ["WAICO"]',
         r"source 'q': query: .*language"),
        ('language = "en"\n[sources.query]\nengine = "bing"\nterms = ["WAICO"]',
         r"source 'q': query.engine: Input should be 'google_news' or 'gdelt'"),
        ('language = "en"\n[sources.query]\nengine = "gdelt"\nterms = []',
         r"source 'q': query.terms: List should have at least 1 item"),
    ],
)  # fmt: skip
def test_bad_discovery_settings_are_named(tmp_path: Path, lines: str, message: str) -> None:
    path = write(tmp_path, f'[[sources]]\nid = "q"\n{lines}\n')
    with pytest.raises(ConfigError, match=message):
        load_config(path, environ={})


def test_every_kind_of_source_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[crawl]\nsitemap_max_age_days = 2\n"
        '[[sources]]\nid = "s"\nsitemaps = ["https://a.example/robots.txt"]\n'
        "sitemap_max_age_days = 1\n"
        '[[sources]]\nid = "p"\npages = ["https://a.example/world/"]\npagination_depth = 0\n'
        '[[sources]]\nid = "h"\nhomepage = "https://a.example/"\n'
        '[[sources]]\nid = "q"\nlanguage = "fr"\n[sources.query]\nengine = "google_news"\n'
        'terms = ["Organisation mondiale de coopération en IA"]\n',
    )
    config = load_config(path, environ={})
    assert [s.id for s in config.sources] == ["s", "p", "h", "q"]
    assert config.crawl.sitemap_max_age_days == 2 and config.sources[0].sitemap_max_age_days == 1
    assert config.sources[3].query_spec().language == "fr"


def test_unknown_source_selection_is_an_error(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD), environ={})
    with pytest.raises(ConfigError, match=r"unknown source id.*nope.*configured: cgtn-world"):
        config.select_sources(["nope"])


def test_durations_and_sizes() -> None:
    assert parse_duration("45s") == timedelta(seconds=45)
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("0.5s") == timedelta(milliseconds=500)
    assert parse_size("10MB") == 10_000_000
    assert parse_size("512KiB") == 524_288
    for bad in ("0s", "-1m", "5 parsecs", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_the_example_configs_are_valid() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    real = load_config(examples / "veille.toml", environ={})
    assert len(real.select_sources()) >= 5
    demo = load_config(examples / "demo.toml", environ={})
    assert {s.id for s in demo.sources} == {"demo-world", "demo-chinese"}
