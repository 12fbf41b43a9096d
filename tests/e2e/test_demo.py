"""``veille demo``: the newcomer's first command, offline, twice."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from tests.e2e.test_crawl_cli import veille


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_demo_crawls_the_bundled_site_and_fetches_nothing_twice(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'demo.db'}"
    port = str(free_port())
    first = veille("demo", "--port", port, "--database", database)
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"articles new\s+7\b", first.stdout)
    assert "robots_txt 1" in first.stdout and "bad_url 1" in first.stdout
    for title in ("WAICO", "Conférence mondiale", "数字丝绸之路", "copy of 1", "wic, dsr"):
        assert title in first.stdout

    second = veille("demo", "--port", port, "--database", database, "--quiet")
    assert second.returncode == 0, second.stdout + second.stderr
    assert re.search(r"articles new\s+0\b", second.stdout)
    assert re.search(r"unchanged\s+2\b", second.stdout)  # both feeds: nothing parsed again
    assert "7 articles stored, in 6 stories" in second.stdout  # the French copy joins its story


def test_demo_into_the_database_of_a_config_file(tmp_path: Path) -> None:
    database = tmp_path / "mine.db"
    config = tmp_path / "veille.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{database}"\n'
        '[crawl]\nuser_agent = "Me/1 (+mailto:me@x.org)"\n',
        encoding="utf-8",
    )
    result = veille("demo", "--config", str(config), "--port", str(free_port()), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert database.exists()
