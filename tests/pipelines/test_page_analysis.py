"""The item pipelines with their CPU work in worker processes, and without: the same records."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import zlib
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from pipelines.cpu_pool import PreparedArticle
from pipelines.dedup import DedupPipeline
from pipelines.extraction import EmptyExtraction, ExtractionPipeline
from pipelines.page_analysis import PageJob, prepare_page
from pipelines.seed_compare import SeedComparePipeline
from pipelines.store import StoragePipeline
from pipelines.tagging import TaggingPipeline
from storage.database import make_session_factory, open_database
from storage.records import ArticleRecord, CopyKind, FetchedPage
from storage.repository import upsert_source
from storage.seeds import upsert_seed
from tests.conftest import shared_dir
from tests.fixture_site import ARTICLES, EMPTY_PAGE, article_html

STAGES = (
    ExtractionPipeline,
    TaggingPipeline,
    DedupPipeline,
    SeedComparePipeline,
    StoragePipeline,
)
DEDUP = Path(__file__).resolve().parents[1] / "data" / "dedup" / "en"
FETCHED_AT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
WAICO = "/news/2026/11/20/waico-founded.html"


def page(path: str, html: str | bytes, charset: str | None = "utf-8") -> FetchedPage:
    url = f"https://news.example{path}"
    body = html.encode(charset or "utf-8") if isinstance(html, str) else html
    content_type = f"text/html; charset={charset}" if charset else "text/html"
    return FetchedPage(url, url, "fixture", body, content_type, charset, FETCHED_AT)


def crawl_pages() -> list[FetchedPage]:
    """Articles in three languages (one in GBK), a near-copy, an exact copy on another site, a
    page without an article, and real pages of the extraction benchmark when present."""
    pages = [
        page(path, article_html(path, language, title, paragraphs, charset), charset)
        for path, (language, title, paragraphs) in ARTICLES.items()
        for charset in ["gbk" if language == "zh" else "utf-8"]
    ]
    for name in ("original", "near_copy", "original"):
        paragraphs = (DEDUP / f"{name}.txt").read_text(encoding="utf-8").split("\n\n")
        html = article_html(f"/wire/{name}.html", "en", f"Forum ({name})", paragraphs, "utf-8")
        pages.append(page(f"/wire/{len(pages)}/{name}.html", html))
    pages.append(page("/news/empty.html", EMPTY_PAGE))
    found = shared_dir()
    if found is not None:
        benchmark = sorted((found / "corpora" / "extraction-benchmark" / "html").glob("*.gz"))
        pages += [
            page(f"/benchmark/{n}.html", gzip.decompress(path.read_bytes()), None)
            for n, path in enumerate(benchmark[:12])
        ]
    return pages


def prepare_database(url: str) -> None:
    """A source, and a seed corpus with one seed telling the WAICO story."""
    engine = open_database(url)
    language, title, paragraphs = ARTICLES[WAICO]
    with make_session_factory(engine).begin() as session:
        upsert_source(session, source_id="fixture", name="Fixture News", language=None)
        upsert_seed(
            session, seed_id="waico-charter", path=None, title=title,
            text="\n\n".join(paragraphs[:2]), language=language, tags=["waico"],
            fingerprint=None,
        )  # fmt: skip
    engine.dispose()


async def run_stages(
    database_url: str, pages: list[FetchedPage], workers: int
) -> tuple[list[Any], dict[str, Any], float]:
    """Each page through the five stages, one after the other, as Scrapy would; the records or
    drop reasons, the crawl's stats, and the CPU time spent preparing pages in-process."""
    crawler = get_crawler(
        settings_dict={"VEILLE_DATABASE_URL": database_url, "VEILLE_CPU_WORKERS": workers}
    )
    stages = [stage.from_crawler(crawler) for stage in STAGES]
    for stage in stages:
        if hasattr(stage, "open_spider"):
            stage.open_spider()
    extraction = stages[0]
    assert isinstance(extraction, ExtractionPipeline)
    if workers:
        await extraction.pool.wait_started()
    outcomes: list[Any] = []
    try:
        for item in pages:
            try:
                for stage in stages:
                    result = stage.process_item(item)
                    item = await result if inspect.isawaitable(result) else result
            except DropItem as drop:
                crawler.signals.send_catch_log(
                    signals.item_dropped, item=item, exception=drop, response=None, spider=None
                )
                outcomes.append(type(drop))
            else:
                crawler.signals.send_catch_log(
                    signals.item_scraped, item=item, response=None, spider=None
                )
                outcomes.append(item)
    finally:
        for stage in stages:
            if hasattr(stage, "close_spider"):
                stage.close_spider()
    assert crawler.stats is not None
    return outcomes, crawler.stats.get_stats(), extraction.pool.inline_seconds


def as_stored(outcome: Any) -> Any:
    """What the stages decided about a page: the record's fields, or why it was dropped."""
    if not isinstance(outcome, ArticleRecord):
        return outcome
    return {field.name: getattr(outcome, field.name) for field in fields(ArticleRecord)}


def test_records_are_the_same_whichever_process_prepares_them(tmp_path: Path) -> None:
    pages = crawl_pages()
    urls = {workers: f"sqlite:///{tmp_path / f'workers-{workers}.db'}" for workers in (0, 2)}
    for url in urls.values():
        prepare_database(url)

    in_process, stats, _ = asyncio.run(run_stages(urls[0], pages, workers=0))
    in_pool, pool_stats, inline_seconds = asyncio.run(run_stages(urls[2], pages, workers=2))

    assert inline_seconds == 0  # every page was prepared in a worker
    assert pool_stats["veille/cpu_pool/workers"] == 2
    assert [as_stored(o) for o in in_pool] == [as_stored(o) for o in in_process]
    assert {
        k: v for k, v in pool_stats.items() if k.startswith("veille/") and "cpu_pool" not in k
    } == {k: v for k, v in stats.items() if k.startswith("veille/") and "cpu_pool" not in k}
    # And they are what the stages are for: each page's own record, tagged, checked for
    # copies, compared with the seeds when relevant.
    paired = list(zip(pages, in_pool, strict=True))
    outcomes = {fetched.url.removeprefix("https://news.example"): o for fetched, o in paired}
    assert outcomes["/news/empty.html"] is EmptyExtraction
    assert all(o.page is fetched for fetched, o in paired if o is not EmptyExtraction)
    waico = outcomes[WAICO]
    assert isinstance(waico, PreparedArticle) and waico.text_facts
    assert waico.relevant and waico.comparison is not None
    assert waico.comparison.status_seed_id == "waico-charter"
    wire = [(path.rsplit("/", 1)[1], o) for path, o in outcomes.items() if "/wire/" in path]
    assert [(name, o.copy_check.kind) for name, o in wire] == [
        ("original.html", None),
        ("near_copy.html", CopyKind.NEAR),
        ("original.html", CopyKind.EXACT),  # the same text on another site
    ]


@pytest.mark.parametrize(("waiting", "pool_started"), [(250, True), (20, False)])
def test_a_large_crawl_starts_the_pool_with_its_first_page(
    tmp_path: Path, waiting: int, pool_started: bool
) -> None:
    # With hundreds of requests waiting, the first page starts the workers and goes to one of
    # them; with a few, pages are prepared in-process until they have cost 5 s of CPU.
    url = f"sqlite:///{tmp_path / 'veille.db'}"
    prepare_database(url)
    crawler = get_crawler(settings_dict={"VEILLE_DATABASE_URL": url, "VEILLE_CPU_WORKERS": 1})
    assert crawler.stats is not None
    crawler.stats.set_value("scheduler/enqueued", waiting + 10)
    crawler.stats.set_value("scheduler/dequeued", 10)
    extraction = ExtractionPipeline.from_crawler(crawler)
    extraction.open_spider()
    language, title, paragraphs = ARTICLES[WAICO]
    try:
        record = asyncio.run(
            extraction.process_item(
                page(WAICO, article_html(WAICO, language, title, paragraphs, "utf-8"))
            )
        )
        assert record.extracted.title == title
        assert extraction.pool.started is pool_started
        assert (extraction.pool.inline_seconds == 0) is pool_started
    finally:
        extraction.close_spider()


def test_a_prepared_page_travels_back_without_its_body_but_compressed_for_storage() -> None:
    path = WAICO
    language, title, paragraphs = ARTICLES[path]
    fetched = page(path, article_html(path, language, title, paragraphs, "utf-8"))
    prepared = prepare_page(fetched, PageJob(None, facts=False))
    assert prepared is not None
    assert prepared.page.body == b"" and prepared.page.url == fetched.url
    assert prepared.compressed_body is not None
    assert zlib.decompress(prepared.compressed_body) == fetched.body
    assert prepared.tags and prepared.fingerprints and prepared.fingerprints.fingerprint
    assert prepared.text_facts is None  # no seed corpus: no facts to compare


@pytest.mark.parametrize("facts", [False, True])
def test_facts_are_extracted_for_relevant_articles_when_there_are_seeds(facts: bool) -> None:
    job = PageJob(None, facts=facts)
    language, title, paragraphs = ARTICLES[WAICO]
    relevant = prepare_page(
        page(WAICO, article_html(WAICO, language, title, paragraphs, "utf-8")), job
    )
    markets = [
        "Stock markets closed higher on Friday as investors weighed the latest figures on retail "
        "sales and industrial output across the region, analysts said.",
        "Bond yields were little changed, while the currency held steady against the dollar.",
    ]
    off_topic = prepare_page(
        page("/m.html", article_html("/m.html", "en", "Markets", markets, "utf-8")), job
    )
    assert relevant is not None and off_topic is not None
    assert relevant.relevant and not off_topic.relevant
    assert (relevant.text_facts is not None) is facts
    assert off_topic.text_facts is None
