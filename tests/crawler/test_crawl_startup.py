"""What a crawl process loads before its first page: it starts on every poll of the service,
and a poll that finds nothing new should cost little more than its requests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from storage.database import open_database
from tests.conftest import run_python

LOADED_ON_DEMAND = ("alembic", "datasketch", "scipy", "trafilatura", "py3langid")
"""The schema migrations (the launcher checked the schema), and what preparing pages needs
(the CPU pool's workers load it, or the crawl process for its first page in-process)."""


def test_a_crawl_process_loads_the_heavy_libraries_only_when_a_page_needs_them(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    open_database(url).dispose()  # as the launcher does, before the crawl process starts
    script = textwrap.dedent(
        f"""
        import sys
        from scrapy.utils.misc import load_object
        from scrapy.utils.test import get_crawler

        import crawler.__main__
        from crawler.settings import ITEM_PIPELINES
        from crawler.spiders.sources import SourceSpider
        from storage.database import open_database

        open_database("{url}", upgrade=False).dispose()  # the launcher upgraded it
        crawler = get_crawler(settings_dict={{"VEILLE_DATABASE_URL": "{url}"}})
        stages = [load_object(path).from_crawler(crawler) for path in ITEM_PIPELINES]
        print(*sorted({{name.split(".")[0] for name in sys.modules}}))
        """
    )
    loaded = set(run_python(script).split())
    assert "scrapy" in loaded and "sqlalchemy" in loaded
    assert loaded.isdisjoint(LOADED_ON_DEMAND), sorted(loaded & set(LOADED_ON_DEMAND))
