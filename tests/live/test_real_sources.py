"""The verified sources of examples/veille.toml, crawled for real (``pytest -m live``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.config import load_config
from storage.database import make_session_factory, open_database
from storage.repository import count_articles

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "veille.toml"


@pytest.mark.live
@pytest.mark.enable_socket
@pytest.mark.parametrize("source_id", ["cgtn-en", "chinanews-zh", "un-news-en", "un-news-fr"])
def test_verified_source_yields_articles(source_id: str, tmp_path: Path) -> None:
    assert source_id in {s.id for s in load_config(EXAMPLE, environ={}).sources}
    database_url = f"sqlite:///{tmp_path / 'live.db'}"
    result = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "crawl", "--config", str(EXAMPLE),
         "--source", source_id, "--timeout", "10m", "--quiet"],
        env={**os.environ, "VEILLE_DATABASE_URL": database_url},
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    engine = open_database(database_url)
    with make_session_factory(engine)() as session:
        assert count_articles(session) > 0
    engine.dispose()
