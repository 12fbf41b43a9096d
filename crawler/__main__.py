"""``python -m crawler``: one crawl, in this process, then exit.

The scheduler launches this as a child process (Twisted's reactor cannot be
restarted, and a hung or crashed crawl must not take the service down).

Exit status: 0 the crawl ran; 1 it could not run (database, unexpected error);
2 bad configuration or arguments; 3 the crawl ran but not a single feed could be polled.

With ``--check REPORT`` nothing is fetched beyond the sources' own feeds, sitemaps and
pages, nothing is stored, and what a crawl would fetch is written to REPORT as JSON.

Distributed mode (``[distributed] redis_url``): ``--enqueue`` pushes the sources' polls to
the shared Redis frontier and fetches nothing; ``--worker`` takes requests from it until
stopped (SIGTERM, Ctrl-C: what is in flight is finished first), or with ``--until-idle``
until the frontier is empty with nothing in flight on any worker.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import ScrapyDeprecationWarning

from crawler.config import Config, ConfigError, SourceConfig, load_config
from crawler.distributed.frontier import redis_problem
from crawler.settings import CrawlMode, build_settings
from crawler.spiders.sources import SourceSpider
from storage.database import make_session_factory, open_database
from storage.models import RunStatus
from storage.repository import finish_crawl_run, get_crawl_run, start_crawl_run, upsert_source

logger = logging.getLogger("crawler")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_NOTHING_POLLED = 3


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m crawler", description=__doc__)
    parser.add_argument("--config", type=Path, help="veille.toml (default: $VEILLE_CONFIG)")
    parser.add_argument("--source", action="append", default=[], help="source id (repeatable)")
    parser.add_argument("--run-id", type=int, help="crawl-run row created by the launcher")
    parser.add_argument("--trigger", default="manual", help="who asked for this crawl")
    parser.add_argument(
        "--due-only", action="store_true", help="poll only the targets whose next poll is due"
    )
    parser.add_argument(
        "--check", type=Path, metavar="REPORT", help="dry run: write what would be fetched"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--enqueue", action="store_true", help="push the polls to the shared frontier only"
    )
    mode.add_argument("--worker", action="store_true", help="take requests from the frontier")
    parser.add_argument(
        "--until-idle", action="store_true", help="worker: exit once the frontier is empty"
    )
    return parser.parse_args(argv)


def _mode(arguments: argparse.Namespace) -> CrawlMode:
    if arguments.worker:
        return CrawlMode.WORKER
    if arguments.enqueue:
        return CrawlMode.ENQUEUE
    return CrawlMode.LOCAL


class _LibraryChatter(logging.Filter):
    """Below WARNING, only Veille's own messages: Scrapy's INFO lines drown them."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.startswith(_OUR_LOGGERS)


_OUR_LOGGERS = ("crawler", "pipelines", "storage")


def configure_crawl_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s", "%H:%M:%S")
    )
    if level != "DEBUG":
        handler.addFilter(_LibraryChatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # scrapy-redis 0.9 still calls APIs Scrapy 2.13 deprecated: one warning per call site,
    # in every worker's log, about code that is not ours.
    warnings.filterwarnings("ignore", category=ScrapyDeprecationWarning, module="scrapy_redis")


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        config = load_config(arguments.config)
        sources = config.select_sources(arguments.source)
    except ConfigError as error:
        print(f"veille: {error}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    mode = _mode(arguments)
    if not sources and mode is not CrawlMode.WORKER:
        print("veille: no enabled source to crawl in the configuration", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if mode is not CrawlMode.LOCAL:
        problem = config.distributed_problem()
        if problem:
            print(f"veille: {problem}", file=sys.stderr)
            return EXIT_BAD_CONFIG
        assert config.distributed.redis_url is not None
        problem = redis_problem(config.distributed.redis_url)
        if problem:
            print(f"veille: {problem}", file=sys.stderr)
            return EXIT_FAILED

    # A crawl run created by the launcher (`veille crawl`, the service) comes after it opened
    # the database, schema upgrade included.
    engine = open_database(config.database.url, upgrade=arguments.run_id is None)
    if arguments.check is not None:
        engine.dispose()
        return check_sources(config, sources, arguments.check)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        for source in sources:
            upsert_source(session, source_id=source.id, name=source.name, language=source.language)
        if arguments.run_id is None:
            trigger = "worker" if mode is CrawlMode.WORKER else arguments.trigger
            run_id = start_crawl_run(
                session, trigger=trigger, source_ids=[s.id for s in sources]
            ).id
        else:
            run_id = arguments.run_id

    configure_crawl_logging(config.crawl.log_level)
    settings = build_settings(
        config, crawl_run_id=run_id, mode=mode, until_idle=arguments.until_idle
    )
    process = CrawlerProcess(settings)
    process.crawl(
        SourceSpider,
        sources=sources,
        crawl_config=config.crawl,
        due_only=arguments.due_only,
        worker=mode is CrawlMode.WORKER,
        round_id=str(run_id) if mode is CrawlMode.ENQUEUE else None,
    )
    process.start()

    with sessions.begin() as session:
        run = get_crawl_run(session, run_id)
        requested = (run.stats or {}).get("veille/feeds/requested", 0) if run else 0
        nothing_polled = (
            mode is CrawlMode.LOCAL and run is not None and run.feeds_polled == 0 and requested > 0
        )
        exit_code = EXIT_NOTHING_POLLED if nothing_polled else EXIT_OK
        finish_crawl_run(session, run_id, status=RunStatus.FINISHED, exit_code=exit_code)
    engine.dispose()
    return exit_code


def check_sources(config: Config, sources: list[SourceConfig], report: Path) -> int:
    """Poll the sources once, store nothing, and write what a crawl would fetch to ``report``."""
    configure_crawl_logging(config.crawl.log_level)
    settings = build_settings(config, crawl_run_id=None)
    settings["ITEM_PIPELINES"] = {}
    settings["VEILLE_CHECK_REPORT"] = str(report)
    process = CrawlerProcess(settings)
    process.crawl(SourceSpider, sources=sources, crawl_config=config.crawl, dry_run=True)
    process.start()
    return EXIT_OK if report.is_file() else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
